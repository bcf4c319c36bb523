"""Games in rounds: every assignment row of a cross-play plays rounds of games
on common deals until a cap or a target standard error (`Sizing`); a Ctrl-C
hands back the whole rounds played (`Interrupted`), and a loop resumed from
them ends with the same games (`play_rounds`). `marl.deep.evaluate` plays its
policy kinds this way.

Shapes: M assignment rows, n games so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

MIN_GAMES_FOR_SE = 30
"""A kind stops at its target standard error only once every row has played at
least this many games (fewer give too noisy an estimate of the SE itself)."""

ROUND_WORK = {"cpu": 2_000_000, "gpu": 64_000_000}
"""Upper bound of (assignment rows x games x the game's max_steps) in one round:
rounds short enough for a progress line every few seconds, long enough to keep
the device busy."""


class Sizing(NamedTuple):
    """How many games every assignment row plays: rounds of `round_games` games,
    every row on the same deals in a round (`round_key`), until `max_games`, or,
    with `target_se`, until every row's standard error of its mean score is at
    most `target_se` (after `MIN_GAMES_FOR_SE` games)."""

    round_games: int
    max_games: int
    target_se: float | None = None


class Games(NamedTuple):
    """The games every assignment row has played so far, leaves [M, n]."""

    score: np.ndarray  # float32
    failed: np.ndarray  # bool


class Interrupted(Exception):
    """Ctrl-C during play: the games played so far, per kind (complete kinds and
    the one in play), for the caller to keep and `evaluate(resume=...)` to go on
    from."""

    def __init__(self, played: dict[str, Games]) -> None:
        super().__init__("interrupted")
        self.played = played


def round_size(rows: int, max_steps: int, cap: int, backend: str) -> int:
    """Games per round for `rows` assignment rows of games up to `max_steps`
    long: as many as `ROUND_WORK` allows, at least 8 and at most `cap`."""
    work = ROUND_WORK.get(backend, ROUND_WORK["gpu"])
    return int(max(1, min(cap, max(8, work // max(1, rows * max_steps)))))


def round_key(key: jax.Array, index: int) -> jax.Array:
    """The key round `index` deals from: `key` itself for round 0 (one round is
    the one program of an evaluation without rounds), else
    `fold_in(fold_in(key, 2), index)` (`fold_in(key, 1)` is the symmetry
    measures')."""
    if index == 0:
        return key
    return jax.random.fold_in(jax.random.fold_in(key, 2), index)


def worst_se(score: np.ndarray) -> float:
    """The largest standard error of a row's mean score, score float[M, n]
    (infinite below 2 games)."""
    if score.shape[-1] < 2:
        return float("inf")
    return float((score.std(-1, ddof=1) / np.sqrt(score.shape[-1])).max())


Report = Callable[[str, Games, int], None]
"""(kind, the games so far, the most games a row will play) after every round."""


def play_rounds(
    run_round: Callable[[int], Games],
    sizing: Sizing,
    *,
    start: Games | None = None,
    report: Report | None = None,
    kind: str = "",
) -> tuple[Games, str]:
    """Rounds of `run_round(index)` (games [M, round_games]) appended to `start`
    until `sizing` says stop; returns the games (at most `max_games` per row)
    and why play stopped: "games" (the cap) or "target_se". A Ctrl-C raises
    `Interrupted` with the rounds completed (kind `kind`)."""
    games = start
    try:
        while True:
            reason = stop_reason(games, sizing)
            if reason is not None:
                return first_games(games, sizing.max_games), reason
            done = 0 if games is None else games.score.shape[-1]
            new = run_round(done // sizing.round_games)
            if games is not None:
                new = Games(
                    *(np.concatenate(pair, -1) for pair in zip(games, new, strict=True))
                )
            games = new  # the round counts once it is whole
            if report is not None:
                report(kind, first_games(games, sizing.max_games), sizing.max_games)
    except KeyboardInterrupt:
        raise Interrupted({kind: games} if games is not None else {}) from None


def stop_reason(games: Games | None, sizing: Sizing) -> str | None:
    """Why a kind that has played `games` is done ("games": the cap,
    "target_se"), or None while it plays on."""
    if games is None:
        return None
    done = games.score.shape[-1]
    if done >= sizing.max_games:
        return "games"
    if (
        sizing.target_se is not None
        and done >= MIN_GAMES_FOR_SE
        and worst_se(games.score) <= sizing.target_se
    ):
        return "target_se"
    return None


def first_games(games: Games | None, n: int) -> Games:
    assert games is not None
    return Games(games.score[..., :n], games.failed[..., :n])
