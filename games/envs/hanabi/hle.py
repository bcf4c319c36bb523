"""The bridge to hanabi-learning-environment (HLE): the pieces that drive HLE's
C++ game in step with the JAX one, shared by the lockstep verifier
(`games.envs.hanabi.verify`) and the agent check (`experiments.hle_check`).

HLE's Python API (0.0.4) has no call to deal a chosen card, so `HleDealer` builds
HLE's C++ `HanabiMove(kDeal, card_index=-1, target_offset=-1, color, rank)` (an
int enum and four int8s, hanabi_move.h) in cffi memory and applies it with
`StateApplyMove`, reading back every dealt card to check it.

Every function takes HLE's `pyhanabi` module (or its objects) as an argument:
nothing here imports HLE, which is a test dependency.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from games.envs.hanabi.encoding import canonical_size
from games.envs.hanabi.params import HanabiParams

_HLE_DEAL_MOVE = 5  # HanabiMove::kDeal
_CARD_KNOWLEDGE_OBSERVATION = 1  # HanabiGame::kCardKnowledge, rl_env's presets


def hle_config(params: HanabiParams, seed: int = 0) -> dict[str, int | bool]:
    """The pyhanabi.HanabiGame parameters of `params` (card-knowledge observations,
    start player 0, as rl_env's presets)."""
    return {
        "players": params.num_players,
        "colors": params.num_colors,
        "ranks": params.num_ranks,
        "hand_size": params.hand_size,
        "max_information_tokens": params.max_information_tokens,
        "max_life_tokens": params.max_life_tokens,
        "observation_type": _CARD_KNOWLEDGE_OBSERVATION,
        "random_start_player": False,
        "seed": seed,
    }


def canonical_encoder(pyhanabi: Any, game: Any, params: HanabiParams) -> Any:
    """HLE's CANONICAL ObservationEncoder for `game`, checked to be as wide as
    `games.envs.hanabi.canonical`."""
    size = canonical_size(params)
    encoder = pyhanabi.ObservationEncoder(
        game, pyhanabi.ObservationEncoderType.CANONICAL
    )
    if encoder.shape() != [size]:
        raise RuntimeError(f"HLE's canonical shape {encoder.shape()} is not [{size}]")
    return encoder


def encode_bits(pyhanabi: Any, encoder: Any, observation: Any) -> np.ndarray:
    """`encoder.encode(observation)` as uint8[size]: the same call of HLE's C++
    encoder, whose text ("0,1,0,...") is read at once rather than bit by bit
    into a Python list (which was most of the lockstep verifier's time).
    Checked to be bits and commas."""
    text = pyhanabi.lib.EncodeObservation(encoder._encoder, observation.observation())
    try:
        raw = np.frombuffer(pyhanabi.ffi.string(text), np.uint8)
    finally:
        pyhanabi.lib.DeleteString(text)
    bits = raw[::2] - np.uint8(ord("0"))
    if raw.size % 2 != 1 or (raw[1::2] != ord(",")).any() or (bits > 1).any():
        raise RuntimeError("HLE's encoding is not a comma-separated bit string")
    return bits


def legal_uids(pyhanabi: Any, game: Any, state: Any) -> list[int]:
    """The move uids (= our action ids) of the acting player's legal moves in an
    HLE state: `game.get_move_uid` of each of `state.legal_moves()`, read from
    HLE's C++ move list without a Python move object per move."""
    lib = pyhanabi.lib
    moves = lib.StateLegalMoves(state._state)
    move = pyhanabi.ffi.new("pyhanabi_move_t*")
    uids = []
    try:
        for i in range(lib.NumMoves(moves)):
            lib.GetMove(moves, i, move)
            uids.append(lib.GetMoveUid(game._game, move))
            lib.DeleteMove(move)
    finally:
        lib.DeleteMoveList(moves)
    return uids


class HleDealer:
    """Deals chosen cards in HLE through a hand-built kDeal move (see module doc)."""

    def __init__(self, pyhanabi: Any, params: HanabiParams):
        self.ffi, self.lib = pyhanabi.ffi, pyhanabi.lib
        self.params = params
        self.card = self.ffi.new("pyhanabi_card_t*")
        self.moves: list[tuple[Any, Any]] = []
        for card in range(params.num_card_types):
            color, rank = divmod(card, params.num_ranks)
            raw = self.ffi.new(
                "char[8]", struct.pack("<ibbbb", _HLE_DEAL_MOVE, -1, -1, color, rank)
            )
            move = self.ffi.new("pyhanabi_move_t*")
            move.move = raw
            if (
                self.lib.MoveType(move) != _HLE_DEAL_MOVE
                or self.lib.MoveColor(move) != color
                or self.lib.MoveRank(move) != rank
            ):
                raise RuntimeError("this HLE build lays out HanabiMove differently")
            self.moves.append((raw, move))

    def deal(self, state: Any, card: int) -> None:
        """Deals `card` to the player HLE deals to next, and checks it arrived."""
        c_state = state._state
        sizes = [
            self.lib.StateGetHandSize(c_state, p)
            for p in range(self.params.num_players)
        ]
        player = next(p for p, n in enumerate(sizes) if n < self.params.hand_size)
        self.lib.StateApplyMove(c_state, self.moves[card][1])
        self.lib.StateGetHandCard(c_state, player, sizes[player], self.card)
        dealt = self.card.color * self.params.num_ranks + self.card.rank
        if dealt != card:
            raise RuntimeError(f"HLE dealt card {dealt} instead of {card}")
