"""A trained agent played inside hanabi-learning-environment (HLE), HLE's C++
game stepped in lockstep from Python, beside the same agent in the JAX game:
the check that an agent's score does not depend on our reimplementation of the
game or of its observations (`python -m experiments.hle_check`, docs/ippo.md).

At each step every seat's observation is HLE's canonical vector
(`pyhanabi.ObservationEncoder`, CANONICAL), the N games' observations go through
one jitted call of the policy (vmapped over games, as `marl.deep.play.decide`
does, so every seat's recurrent memory advances at every step), the acting
seat's legal moves are HLE's (move uids are our action ids), and the chosen move
is applied in HLE. Nothing of the JAX game is used on the HLE side but, when
asked, the decks.

Needs hanabi-learning-environment (the dev extra); without it `play_hle` raises
a one-line HleCheckError.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from games.envs import hanabi
from games.envs.hanabi.environment import environment
from games.envs.hanabi.hle import (
    HleDealer,
    canonical_encoder,
    encode_bits,
    hle_config,
    legal_uids,
)
from marl.deep.networks import Network
from marl.deep.play import Seats, choose, deal, decide_from, play

AGREEMENT_SES = 2.0
"""The agreement bound in combined standard errors."""


class HleCheckError(ValueError):
    """A check that cannot run; the one-line message says why."""


def import_pyhanabi() -> Any:
    """HLE's `pyhanabi`, or a one-line HleCheckError when it is not installed."""
    try:
        from hanabi_learning_environment import pyhanabi
    except ImportError as error:
        raise HleCheckError(
            "hanabi-learning-environment is not installed "
            f"(pip install -e '.[dev]'): {error}"
        ) from None
    return pyhanabi


def jax_decks(
    params: hanabi.HanabiParams, *, key: jax.Array, num_games: int
) -> np.ndarray:
    """int32[N, D]: the decks `marl.deep.play.play(..., key=key)` deals."""
    return np.asarray(_deal(key, params, num_games))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _deal(key: jax.Array, params: hanabi.HanabiParams, num_games: int) -> jax.Array:
    return deal(environment(params), key=key, num_games=num_games)[0].deck


@functools.cache
def _decide(
    policy: Network, greedy: bool
) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """jit: (seats, carry [N, P, H], obs uint8[N, P, O], actor int32[N], first
    bool[N], legal bool[N, A], act_key, t) -> (carry, action int32[N]).

    The step of `marl.deep.play.play` with HLE's observations and legal moves
    in place of the JAX game's: the same gathers as `decide`, the same `choose`
    and the same per-step key `fold_in(act_key, t)`.
    """

    def decide(
        seats: Seats,
        carry: jax.Array,
        obs: jax.Array,
        actor: jax.Array,
        first: jax.Array,
        legal: jax.Array,
        act_key: jax.Array,
        t: jax.Array,
    ) -> tuple[jax.Array, jax.Array]:
        # One deciding seat per step: the contract's [D] axis is 1.
        decision = decide_from(
            policy, seats, obs, legal[:, None], actor[:, None], carry, first
        )
        step_key = jax.random.fold_in(act_key, t)
        action = choose(decision.logits, decision.legal, greedy=greedy, key=step_key)
        return decision.carry, action[:, 0]

    return jax.jit(decide)


def play_hle(
    policy: Network,
    seats: Seats,
    params: hanabi.HanabiParams,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool = False,
    decks: np.ndarray | None = None,
    hle_seed: int = 0,
) -> np.ndarray:
    """Plays N games in HLE's C++ game, stepped in lockstep; int32[N] scores.

    policy, seats: as `marl.deep.play.play` (a per-seat `Network`, seat
    parameters with leading [P]). Moves are sampled with keys derived from `key`
    as `play` derives them (or taken greedily, the argmax over legal moves).
    decks: int32[N, D] card ids to deal in order (e.g. `jax_decks`), dealt with
    `games.envs.hanabi.verify.HleDealer`; None: HLE deals from its own random deck,
    seeded with `hle_seed`. With `decks=jax_decks(params, key=key, ...)` and the
    same `key` this plays the games `play` plays, move for move.
    """
    pyhanabi = import_pyhanabi()
    num_players, num_actions = params.num_players, params.num_actions
    game = pyhanabi.HanabiGame(hle_config(params, seed=hle_seed))
    encoder = canonical_encoder(pyhanabi, game, params)
    if decks is not None:
        decks = hanabi.validate_deck(np.asarray(decks), params)
        if decks.shape[0] != num_games:
            raise ValueError(f"{decks.shape[0]} decks for {num_games} games")
        dealer = HleDealer(pyhanabi, params)
    moves = [game.get_move(a) for a in range(num_actions)]
    decide = _decide(policy, greedy)
    _, act_key = jax.random.split(key)

    states = [game.new_initial_state() for _ in range(num_games)]
    dealt = np.zeros(num_games, np.int64)
    obs = np.zeros((num_games, num_players, hanabi.canonical_size(params)), np.uint8)
    legal = np.zeros((num_games, num_actions), bool)
    actor = np.zeros(num_games, np.int32)
    finished = np.zeros(num_games, bool)
    carry = policy.initial_carry(num_games)
    first = jnp.ones(num_games, bool)
    for t in range(params.max_game_length + 1):
        for i, state in enumerate(states):
            if finished[i]:
                continue  # the terminal state's observations, as `play` keeps them
            while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
                if decks is None:
                    state.deal_random_card()
                else:
                    dealer.deal(state, int(decks[i, dealt[i]]))
                    dealt[i] += 1
            for p in range(num_players):
                obs[i, p] = encode_bits(pyhanabi, encoder, state.observation(p))
            actor[i] = state.cur_player()
            legal[i] = False
            if state.is_terminal():
                finished[i] = True
            else:
                legal[i, legal_uids(pyhanabi, game, state)] = True
        if finished.all():
            return np.array([state.score() for state in states], np.int32)
        carry, chosen = decide(
            seats, carry, obs, actor, first, legal, act_key, jnp.int32(t)
        )
        first = jnp.zeros_like(first)
        actions = np.asarray(chosen)
        for i in map(int, np.flatnonzero(~finished)):
            a = int(actions[i])
            if not legal[i, a]:
                raise RuntimeError(f"game {i}, step {t}: the policy chose illegal {a}")
            states[i].apply_move(moves[a])
    raise RuntimeError(f"HLE games ran past {params.max_game_length} moves")


@functools.cache
def _jax_play(
    policy: Network, params: hanabi.HanabiParams, num_games: int, greedy: bool
) -> Callable[[Seats, jax.Array], jax.Array]:
    """jit(`marl.deep.play.play`) over (seats, key), compiled once per policy."""

    def run(seats: Seats, key: jax.Array) -> jax.Array:
        return play(
            policy,
            seats,
            environment(params),
            key=key,
            num_games=num_games,
            greedy=greedy,
        )

    return jax.jit(run)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """Two samples of an agent's score and whether their means agree."""

    jax_scores: np.ndarray
    """float[N]: the JAX game's per-game scores."""
    hle_scores: np.ndarray
    """float[N]: HLE's."""

    @staticmethod
    def mean_and_se(scores: np.ndarray) -> tuple[float, float]:
        """The mean and its standard error, std (ddof 1) / sqrt(N)."""
        scores = np.asarray(scores, np.float64)
        se = scores.std(ddof=1) / math.sqrt(scores.size) if scores.size > 1 else 0.0
        return float(scores.mean()), float(se)

    @property
    def difference(self) -> float:
        """mean_hle - mean_jax."""
        return (
            self.mean_and_se(self.hle_scores)[0] - self.mean_and_se(self.jax_scores)[0]
        )

    @property
    def bound(self) -> float:
        """AGREEMENT_SES sqrt(se_jax^2 + se_hle^2)."""
        se_jax = self.mean_and_se(self.jax_scores)[1]
        se_hle = self.mean_and_se(self.hle_scores)[1]
        return AGREEMENT_SES * math.hypot(se_jax, se_hle)

    @property
    def agree(self) -> bool:
        """|mean_hle - mean_jax| <= the bound (with a float tolerance)."""
        return abs(self.difference) <= self.bound + 1e-9

    @property
    def identical(self) -> int:
        """Games that scored the same on both sides (meaningful on common decks)."""
        return int(np.sum(np.asarray(self.jax_scores) == np.asarray(self.hle_scores)))


def check(
    policy: Network,
    seats: Seats,
    params: hanabi.HanabiParams,
    *,
    seed: int,
    num_games: int,
    greedy: bool,
    matched_decks: bool = False,
) -> Agreement:
    """N games in the JAX game and N in HLE, from one seed.

    The JAX side plays with key `fold_in(key(seed), 0)`. HLE plays with key
    `fold_in(key(seed), 1)` on its own deck (seeded with `seed`), or, with
    `matched_decks`, on the JAX side's decks with the JAX side's key.
    """
    root = jax.random.key(seed)
    jax_key = jax.random.fold_in(root, 0)
    jax_scores = np.asarray(
        _jax_play(policy, params, num_games, greedy)(seats, jax_key)
    )
    if matched_decks:
        decks = jax_decks(params, key=jax_key, num_games=num_games)
        hle_key = jax_key
    else:
        decks, hle_key = None, jax.random.fold_in(root, 1)
    hle_scores = play_hle(
        policy,
        seats,
        params,
        key=hle_key,
        num_games=num_games,
        greedy=greedy,
        decks=decks,
        hle_seed=seed,
    )
    return Agreement(jax_scores, hle_scores)
