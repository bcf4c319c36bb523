"""Lockstep check of the JAX Hanabi against hanabi-learning-environment (HLE).

`verify` (the command line is `python -m experiments.hanabi_verify`)
plays random games in HLE's C++ game (through `pyhanabi`) on decks shuffled from
the seed, records every state, then replays the same decks and moves in the JAX
game (all games of a batch at once: one jitted `vmap` over games of a `scan` over
moves) and compares, at every state of every game: the legal-move mask (at
non-terminal states), every player's canonical observation vector, the reward
(score change), the current player, termination and how the game ended, and
returns a `Report` of the mismatches.

HLE is driven through the bridge `games.envs.hanabi.hle` (its game parameters, its
canonical encoder, legal move ids, and dealing chosen cards), which
`experiments.hle_check` shares.

The moves come from a biased random policy, so that games are long and reach
every ending: with a per-game probability it plays a card that is truly
playable, with a small per-game probability it plays a random card (losing
lives), and otherwise it picks uniformly among the legal hints and discards.

This module needs `hanabi_learning_environment`; it is a test tool, not part of
the game.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical, canonical_sections, canonical_size
from games.envs.hanabi.hle import (
    HleDealer,
    canonical_encoder,
    encode_bits,
    hle_config,
    legal_uids,
)
from games.envs.hanabi.params import HanabiParams, game_title, make_params
from games.envs.hanabi.rules import (
    HanabiState,
    describe_action,
    legal_actions,
    reset,
    step,
)

# HLE's end-of-game types (hanabi_state.h, EndOfGameType).
NOT_FINISHED, OUT_OF_LIFE_TOKENS, OUT_OF_CARDS, COMPLETED_FIREWORKS = 0, 1, 2, 3
END_NAMES = {
    OUT_OF_LIFE_TOKENS: "out_of_lives",
    OUT_OF_CARDS: "out_of_cards",
    COMPLETED_FIREWORKS: "completed_fireworks",
}
_MAX_BATCH_BYTES = 48 * 2**20  # observations held per replayed batch


@dataclasses.dataclass
class Trajectories:
    """Recorded games (N games, T = params.max_game_length moves at most).

    Index t of the per-state arrays is the state before move t; index
    `lengths[i]` is game i's terminal state. Entries after it are padding.
    """

    decks: np.ndarray
    """int32[N, D]: card ids in deal order."""
    actions: np.ndarray
    """int32[N, T]: move uids, -1 after the game ended."""
    lengths: np.ndarray
    """int32[N]: moves per game."""
    legal: np.ndarray
    """bool[N, T + 1, A]: legal-move masks (all False at terminal states)."""
    observations: np.ndarray
    """uint8[N, T + 1, P, O]: every player's canonical vector."""
    rewards: np.ndarray
    """int32[N, T]: score change of each move."""
    current_player: np.ndarray
    """int32[N, T + 1]."""
    terminal: np.ndarray
    """bool[N, T + 1]."""
    end: np.ndarray
    """int32[N]: how each game ended (HLE's end-of-game type)."""
    scores: np.ndarray
    """int32[N]: final scores."""


@dataclasses.dataclass
class Report:
    """What one verification compared and found."""

    preset: str
    """The game: its preset's name, or its sizes (`game_title`)."""
    num_players: int
    games: int = 0
    moves: int = 0
    states: int = 0
    observations: int = 0
    legal_masks: int = 0
    mismatches: int = 0
    """Checks that disagreed: (state, player) observation vectors, and legal
    masks, rewards, current players, terminal flags, rejected moves and endings
    per state or move."""
    examples: list[str] = dataclasses.field(default_factory=list)
    endings: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(END_NAMES.values(), 0)
    )
    max_score: int = 0
    total_score: int = 0
    max_length: int = 0

    @property
    def ok(self) -> bool:
        """True when every comparison agreed."""
        return self.games > 0 and self.mismatches == 0

    def summary(self) -> str:
        """One line: counts compared, endings, scores, mismatches."""
        mean = self.total_score / max(self.games, 1)
        endings = ", ".join(f"{k} {v}" for k, v in self.endings.items())
        return (
            f"{self.preset} {self.num_players}p: {self.games} games, {self.moves} "
            f"moves, {self.states} states, {self.observations} observation "
            f"vectors, {self.legal_masks} legal masks; endings: {endings}; score "
            f"max {self.max_score} mean {mean:.2f}; longest game {self.max_length} "
            f"moves; mismatches {self.mismatches}"
        )


def _choose(
    rng: np.random.Generator,
    legal: np.ndarray,
    playable: list[int],
    params: HanabiParams,
    good_play: float,
    bomb: float,
) -> int:
    """The biased random policy of the module docstring."""
    hand_size = params.hand_size
    plays = np.flatnonzero(legal[hand_size : 2 * hand_size]) + hand_size
    u = rng.random()
    if playable and u < good_play:
        return hand_size + int(rng.choice(playable))
    if plays.size and rng.random() < bomb:
        return int(rng.choice(plays))
    others = np.flatnonzero(legal)
    others = others[(others < hand_size) | (others >= 2 * hand_size)]
    if others.size == 0:
        others = np.flatnonzero(legal)
    return int(rng.choice(others))


def record_hle_games(
    params: HanabiParams, num_games: int, rng: np.random.Generator
) -> Trajectories:
    """Plays `num_games` games in HLE on decks shuffled by `rng`; records them."""
    from hanabi_learning_environment import pyhanabi

    num_players = params.num_players
    horizon = params.max_game_length
    size = canonical_size(params)
    game = pyhanabi.HanabiGame(hle_config(params))
    encoder = canonical_encoder(pyhanabi, game, params)
    dealer = HleDealer(pyhanabi, params)

    out = Trajectories(
        decks=np.zeros((num_games, params.deck_size), np.int32),
        actions=np.full((num_games, horizon), -1, np.int32),
        lengths=np.zeros(num_games, np.int32),
        legal=np.zeros((num_games, horizon + 1, params.num_actions), bool),
        observations=np.zeros((num_games, horizon + 1, num_players, size), np.uint8),
        rewards=np.zeros((num_games, horizon), np.int32),
        current_player=np.zeros((num_games, horizon + 1), np.int32),
        terminal=np.zeros((num_games, horizon + 1), bool),
        end=np.zeros(num_games, np.int32),
        scores=np.zeros(num_games, np.int32),
    )
    for i in range(num_games):
        deck = rng.permutation(params.sorted_deck())
        out.decks[i] = deck
        good_play = rng.uniform(0.3, 1.0)
        bomb = rng.uniform(0.0, 0.12)
        state = game.new_initial_state()
        position = 0
        t = 0
        while True:
            while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
                dealer.deal(state, int(deck[position]))
                position += 1
            for p in range(num_players):
                out.observations[i, t, p] = encode_bits(
                    pyhanabi, encoder, state.observation(p)
                )
            out.current_player[i, t] = state.cur_player()
            if state.is_terminal():
                out.terminal[i, t] = True
                break
            out.legal[i, t, legal_uids(pyhanabi, game, state)] = True
            if t >= horizon:
                raise RuntimeError(f"an HLE game ran past max_game_length={horizon}")
            hand = state.player_hands()[state.cur_player()]
            fireworks = state.fireworks()
            playable = [
                k for k, c in enumerate(hand) if fireworks[c.color()] == c.rank()
            ]
            action = _choose(rng, out.legal[i, t], playable, params, good_play, bomb)
            score = state.score()
            state.apply_move(game.get_move(action))
            out.actions[i, t] = action
            out.rewards[i, t] = state.score() - score
            t += 1
        out.lengths[i] = t
        out.end[i] = int(state.end_of_game_status())
        out.scores[i] = state.score()
    return out


@functools.cache
def _replay_fn(params: HanabiParams) -> Callable[..., tuple[jax.Array, ...]]:
    """jit(vmap over games (scan over moves)): the JAX side of the comparison."""

    def observe(state: HanabiState) -> tuple[jax.Array, ...]:
        return (
            legal_actions(state, params),
            canonical(state, params),
            state.current_player,
            state.terminal,
            state.life_tokens,
            state.score,
        )

    def one_game(deck: jax.Array, actions: jax.Array) -> tuple[jax.Array, ...]:
        first = reset(jax.random.key(0), params, deck)

        def move(
            state: HanabiState, action: jax.Array
        ) -> tuple[HanabiState, tuple[jax.Array, ...]]:
            seen = observe(state)
            state, reward, _ = step(state, action, params)
            return state, (*seen, reward, state.illegal)

        last, (*seen, rewards, illegal) = jax.lax.scan(move, first, actions)
        final = observe(last)
        seen = [
            jnp.concatenate([s, f[None]], axis=0)
            for s, f in zip(seen, final, strict=True)
        ]
        return (*seen, rewards, illegal)

    return jax.jit(jax.vmap(one_game))


def replay_jax(
    params: HanabiParams, decks: np.ndarray, actions: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Replays recorded decks and moves in the JAX game, all games at once.

    Returns numpy arrays (legal, observations, current_player, terminal,
    life_tokens, score, rewards, illegal), per state ([N, T + 1, ...]) or per
    move ([N, T]). Moves of -1 (padding) are illegal and leave the state as is.
    """
    result = _replay_fn(params)(jnp.asarray(decks), jnp.asarray(actions))
    return tuple(np.asarray(x) for x in result)


def _section_of(index: int, params: HanabiParams) -> str:
    start = 0
    for name, size in canonical_sections(params).items():
        if index < start + size:
            return f"{name}[{index - start}]"
        start += size
    return f"out of range {index}"


def compare(
    params: HanabiParams,
    hle: Trajectories,
    report: Report,
    count: int | None = None,
    max_examples: int = 5,
) -> None:
    """Replays `hle` in JAX and adds the comparison of its first `count` games
    (all by default) to `report`."""
    replayed = replay_jax(params, hle.decks, hle.actions)
    count = hle.decks.shape[0] if count is None else count
    legal, obs, player, terminal, lives, score, rewards, illegal = (
        x[:count] for x in replayed
    )
    hle = Trajectories(
        **{f.name: getattr(hle, f.name)[:count] for f in dataclasses.fields(hle)}
    )
    num_games, horizon = hle.actions.shape
    steps = np.arange(horizon + 1)
    is_state = steps[None, :] <= hle.lengths[:, None]  # [N, T + 1]
    is_move = steps[None, :-1] < hle.lengths[:, None]  # [N, T]

    # (game, step, message maker): messages are made for the first few only.
    problems: list[tuple[int, int, Callable[[], str]]] = []

    def flag(bad: np.ndarray, describe: Callable[[int, int], str]) -> None:
        for game, t in zip(*np.nonzero(bad), strict=True):
            g, s = int(game), int(t)
            problems.append((g, s, functools.partial(describe, g, s)))

    def observation_text(game: int, t: int, p: int) -> str:
        where = np.flatnonzero(obs[game, t, p] != hle.observations[game, t, p])
        bits = ", ".join(
            f"{_section_of(int(k), params)} jax={obs[game, t, p, k]} "
            f"hle={hle.observations[game, t, p, k]}"
            for k in where[:6]
        )
        return f"player {p}'s observation ({action_at(game, t)}): {bits}"

    def action_at(game: int, t: int) -> str:
        if t >= hle.lengths[game]:
            return "terminal state"
        return f"before {describe_action(int(hle.actions[game, t]), params)}"

    obs_bad = np.any(obs != hle.observations, axis=-1) & is_state[..., None]
    for game, t, p in zip(*np.nonzero(obs_bad), strict=True):
        g, s = int(game), int(t)
        problems.append((g, s, functools.partial(observation_text, g, s, int(p))))
    live = is_move  # non-terminal states are exactly the states before a move
    flag(
        np.any(legal[:, :-1] != hle.legal[:, :-1], axis=-1) & live,
        lambda g, t: (
            f"legal moves ({action_at(g, t)}): jax "
            f"{np.flatnonzero(legal[g, t]).tolist()} hle "
            f"{np.flatnonzero(hle.legal[g, t]).tolist()}"
        ),
    )
    flag(
        (player != hle.current_player) & is_state,
        lambda g, t: (
            f"current player: jax {player[g, t]} hle {hle.current_player[g, t]}"
        ),
    )
    flag(
        (terminal != hle.terminal) & is_state,
        lambda g, t: f"terminal: jax {terminal[g, t]} hle {hle.terminal[g, t]}",
    )
    flag(
        (rewards != hle.rewards) & is_move,
        lambda g, t: (
            f"reward of {describe_action(int(hle.actions[g, t]), params)}: "
            f"jax {rewards[g, t]} hle {hle.rewards[g, t]}"
        ),
    )
    flag(
        illegal & is_move,
        lambda g, t: (
            f"JAX rejected HLE's move {describe_action(int(hle.actions[g, t]), params)}"
        ),
    )
    # How the game ended (HanabiState::EndOfGameStatus) and the final score.
    last = hle.lengths
    rows = np.arange(num_games)
    jax_end = np.where(
        lives[rows, last] < 1,
        OUT_OF_LIFE_TOKENS,
        np.where(
            score[rows, last] >= params.max_score, COMPLETED_FIREWORKS, OUT_OF_CARDS
        ),
    )
    flag(
        ((jax_end != hle.end) | (score[rows, last] != hle.scores))[:, None]
        & (steps[None, :] == last[:, None]),
        lambda g, t: (
            f"end: jax {END_NAMES.get(int(jax_end[g]))} score {score[g, t]}, "
            f"hle {END_NAMES.get(int(hle.end[g]))} score {hle.scores[g]}"
        ),
    )

    tally(report, params, hle, is_state, is_move, problems, max_examples)


def tally(
    report: Report,
    params: HanabiParams,
    hle: Trajectories,
    is_state: np.ndarray,
    is_move: np.ndarray,
    problems: list[tuple[int, int, Callable[[], str]]],
    max_examples: int,
) -> None:
    """Adds a batch of compared games to `report`: what was compared, the
    mismatches (the first `max_examples` spelt out, in game and step order),
    how the games ended and their scores."""
    offset = report.games
    report.games += hle.actions.shape[0]
    report.moves += int(is_move.sum())
    report.states += int(is_state.sum())
    report.observations += int(is_state.sum()) * params.num_players
    report.legal_masks += int(is_move.sum())
    report.mismatches += len(problems)
    problems.sort(key=lambda problem: problem[:2])
    for game, t, text in problems[: max(0, max_examples - len(report.examples))]:
        report.examples.append(f"game {offset + game}, step {t}: {text()}")
    for code, name in END_NAMES.items():
        report.endings[name] += int(np.sum(hle.end == code))
    report.max_score = max(report.max_score, int(hle.scores.max()))
    report.total_score += int(hle.scores.sum())
    report.max_length = max(report.max_length, int(hle.lengths.max()))


def verify(
    preset: str,
    num_players: int,
    num_games: int,
    seed: int = 0,
    batch_size: int | None = None,
    **sizes: int | None,
) -> Report:
    """Plays `num_games` HLE games of `preset` for `num_players` players, with any
    of the sizes `games.envs.hanabi.params.SIZES` set over the preset's, and checks
    the JAX game against them.

    Games are recorded and replayed in batches of `batch_size` (by default as
    many as fit in about 48 MiB of observations); the last batch is padded with
    repeats so that the replay compiles once.
    """
    params = make_params(preset, num_players, **sizes)
    if num_games < 1:
        raise ValueError(f"num_games must be >= 1, got {num_games}")
    per_game = (params.max_game_length + 1) * num_players * canonical_size(params)
    if batch_size is None:
        batch_size = max(1, _MAX_BATCH_BYTES // per_game)
    batch_size = min(batch_size, num_games)
    rng = np.random.default_rng(seed)
    report = Report(preset=game_title(params, preset), num_players=num_players)
    done = 0
    while done < num_games:
        count = min(batch_size, num_games - done)
        hle = record_hle_games(params, count, rng)
        compare(params, _pad(hle, batch_size), report, count=count)
        done += count
    return report


def _pad(hle: Trajectories, size: int) -> Trajectories:
    """Repeats games up to `size`, so that every batch has the same shape."""
    index = np.arange(size) % hle.decks.shape[0]
    fields = {f.name: getattr(hle, f.name)[index] for f in dataclasses.fields(hle)}
    return Trajectories(**fields)
