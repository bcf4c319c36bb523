"""The cross-play entry point's side of an evaluation in rounds
(`marl.deep.evaluate.evaluate`): its progress lines (phases, a predicted time
after the first round, the cap that fits `--max-minutes`, a line with an ETA at
least every 10 seconds) and the default target standard error. The files are
`experiments.deep.crossplay_directory.CrossplayDirectory`'s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from marl.deep.kinds import KIND_NAMES
from marl.deep.rounds import Games, Sizing, worst_se

if TYPE_CHECKING:  # the options import this module
    from experiments.deep.crossplay_options import CrossplayOptions

PROGRESS_SECONDS = 10.0
"""At most this long between two progress lines while games are played."""

KEEP_SECONDS = 300.0
"""At most this long between two saves of the rounds played (`keep_rounds`;
also when a kind's games are all played): an evaluation killed without the
chance to save them (SIGKILL, a lost machine) goes on from at most this much
before its end."""

TARGET_SE_SHARE = 0.005
"""The default target standard error per pair, as a share of the game's
maximum score (Hanabi-Full: 0.125 points)."""


def say(message: str) -> None:
    """A progress line on stdout, at once."""
    print(f"[crossplay {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class EvaluationReporter:
    """The entry point's side of `evaluate`: phase lines, a predicted time after
    the first round (and the cap that fits --max-minutes), a progress line with
    an ETA at least every PROGRESS_SECONDS."""

    def __init__(
        self, args: CrossplayOptions, sizing: Sizing, rows: int, symmetry_rows: int
    ):
        self.args = args
        self.sizing = sizing
        self.rows = rows
        self.symmetry_rows = symmetry_rows
        self.started = time.time()
        self.last = 0.0
        self.round_seconds: float | None = None
        self.previous: float | None = None  # when the last round ended
        self.chosen_by = "games" if args.games else "target_se"
        self.keep: Callable[[dict[str, Games]], object] | None = None
        self.played: dict[str, Games] = {}
        self.kept = time.time()

    def keep_rounds(
        self, keep: Callable[[dict[str, Games]], object], played: dict[str, Games]
    ) -> None:
        """From now on, `keep` the whole rounds of every kind played so far
        (from `played`, a resumed evaluation's, on) at most every KEEP_SECONDS
        and when a kind's games are all played."""
        self.keep, self.played, self.kept = keep, dict(played), time.time()

    def phase(self, name: str) -> None:
        self.previous = None
        say(f"{name} ({_minutes(time.time() - self.started)} so far)")

    def first_round(
        self, compile_seconds: float, round_seconds: float, games: Games
    ) -> Sizing:
        """The prediction; with --max-minutes, the cap that fits; the default
        target of a game without a maximum score, from these games."""
        self.round_seconds = round_seconds
        if self.sizing.target_se is None and self.args.games is None:
            self.sizing = self.sizing._replace(target_se=observed_target(games))
        per_game = round_seconds / self.sizing.round_games  # all rows, one game
        symmetry = per_game * self.symmetry_rows / max(1, self.rows)
        elapsed = time.time() - self.started

        def total(games: int) -> float:
            # both kinds, the second's compilation, the symmetry measures
            return 2 * per_game * games + compile_seconds + symmetry

        cap = self.sizing.max_games
        if self.args.max_minutes is not None:
            budget = 60 * self.args.max_minutes - elapsed - compile_seconds - symmetry
            rounds = max(1, int(budget // (2 * round_seconds)))
            fit = min(cap, rounds * self.sizing.round_games)
            if fit < cap:
                cap, self.chosen_by = fit, "max_minutes"
        rounds_tenth = max(1, -(-cap // 10) // self.sizing.round_games)
        smaller = rounds_tenth * self.sizing.round_games
        stop = (
            f"; stops earlier once every pair's SE is at most "
            f"{self.sizing.target_se:.3g}"
            if self.sizing.target_se is not None
            else ""
        )
        say(
            f"first round: {self.sizing.round_games} games x {self.rows} pairs in "
            f"{round_seconds:.1f} s (compiled in {compile_seconds:.0f} s); "
            f"{cap:,} games per pair would take about {_minutes(total(cap))} more"
            + (
                f" (--max-games {smaller:,} about {_minutes(total(smaller))})"
                if smaller < cap
                else ""
            )
            + stop
            + (
                f"; --max-minutes {self.args.max_minutes:g}: {cap:,} games"
                if self.chosen_by == "max_minutes"
                else ""
            )
        )
        self.sizing = self.sizing._replace(max_games=cap)
        return self.sizing

    def report(self, kind: str, games: Games, cap: int) -> None:
        now = time.time()
        if self.previous is not None and self.round_seconds is None:
            self.round_seconds = now - self.previous  # a resumed evaluation
        self.previous = now
        done = games.score.shape[-1]
        self.played[kind] = games
        if self.keep is not None and (now - self.kept >= KEEP_SECONDS or done >= cap):
            self.keep(self.played)
            self.kept = now
        if now - self.last < PROGRESS_SECONDS and done < cap:
            return
        self.last = now
        left = ""
        if self.round_seconds is not None and done < cap:
            rounds = -(-(cap - done) // self.sizing.round_games)
            left = f", ETA {_minutes(rounds * self.round_seconds)} at most"
        se = worst_se(games.score)
        target = self.sizing.target_se
        aim = "" if target is None else f" (target {target:.3g})"
        say(
            f"{KIND_NAMES[kind]} games: {done:,}/{cap:,} per pair, largest pair SE "
            f"{se:.3g}{aim}{left}"
        )


def target_se(args: CrossplayOptions, env: Any) -> float | None:
    """--target-se, or the default share of the game's maximum score; None
    with --games (exactly that many) and for a game without a maximum score
    (`observed_target` sets it after the first round)."""
    if args.games is not None:
        return None
    if args.target_se is not None:
        return float(args.target_se)
    if env.max_score is None:
        return None
    return TARGET_SE_SHARE * float(env.max_score)


def observed_target(first: Games) -> float:
    """The default target of a game without a maximum score (Overcooked): the
    share of the largest score of the first round (of 1 if none scored)."""
    return TARGET_SE_SHARE * max(1.0, float(np.abs(first.score).max()))
