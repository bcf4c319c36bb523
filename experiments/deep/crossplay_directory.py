"""Cross-play's output directory as one object (`CrossplayDirectory`, a
`RunDirectory`): its lock (one writer), the rule that keeps a larger earlier
evaluation, the partial games an interrupted evaluation leaves and the same
command goes on from, and the files written at the end; then the summary
printed (`print_summary`).

    with Job(out) as job:                         # the lock, until the end
        directory = CrossplayDirectory(job)       # taken now if `out` exists
        directory.refuse_smaller(games, symmetry_games)   # unless --force
        directory.accept()                        # the lock, if not yet
        resume = directory.resume(key, args, progress)
        ...                                       # the evaluation
        directory.keep_interrupted(interrupted, key)   # on Ctrl-C: exit 130
        out = directory.write(results, arrays, force, symmetry_games)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import pathlib
import sys
import time
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments.deep.agents import CrossPlayError
from experiments.deep.crossplay_options import CrossplayOptions
from experiments.deep.evaluation import EvaluationReporter, observed_target, say
from experiments.harness.results import (
    RESULTS_FILE,
    format_estimate,
    read_results,
    write_csv,
    write_json,
    write_npz,
)
from experiments.harness.rundir import Job, RunDirectory
from experiments.reports.pairs import PAIR_COLUMNS, pair_rows
from experiments.reports.plots import save_crossplay_figures
from marl.deep.kinds import KIND_NAMES, KINDS
from marl.deep.rounds import Games, Interrupted, Sizing
from marl.files import check_writable

PARTIAL = "partial.npz"
"""The games an interrupted evaluation played, beside its results."""


def default_out(paths: Sequence[str], step: int | None = None) -> pathlib.Path:
    if len(paths) == 1:
        name = "crossplay" if step is None else f"crossplay_update{step}"
        return pathlib.Path(paths[0]) / name
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return pathlib.Path("outputs") / "crossplay" / stamp


def partial_key(agents: list[Any], args: CrossplayOptions, sizing: Sizing) -> str:
    """What an interrupted evaluation must share with this one to be resumed:
    the agents (runs, seeds, coefficients, checkpoints), the seed and the
    round size."""
    payload = {
        "agents": [dataclasses.asdict(a) for a in agents],
        "seed": args.seed,
        "round_games": sizing.round_games,
        "pairs_per_batch": args.pairs_per_batch,
        "max_assignments": args.max_assignments,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_partial(out: pathlib.Path, played: dict[str, Games], key: str) -> int:
    """The games of an interrupted evaluation, for a rerun; returns the sampled
    kind's games per pair."""
    arrays: dict[str, np.ndarray] = {"key": np.asarray(key)}
    for kind, games in played.items():
        arrays[f"score{kind}"] = games.score
        arrays[f"failed{kind}"] = games.failed
    write_npz(out / PARTIAL, arrays)
    first = played.get(KINDS[0])
    return 0 if first is None else first.score.shape[-1]


def load_partial(out: pathlib.Path, key: str) -> tuple[dict[str, Games] | None, str]:
    """The games an interrupted evaluation of the same agents and sizes left in
    `out`, or None, with a line that says why none ('' when there is no
    partial file): another evaluation's, or unreadable (truncated, not an npz);
    either is started over, and replaced at the next save."""
    path = out / PARTIAL
    if not path.exists():
        return None, ""
    try:
        with np.load(path) as data:
            if str(data["key"]) != key:
                return None, f"{path} holds another evaluation's games: starting over"
            return {
                kind: Games(data[f"score{kind}"], data[f"failed{kind}"])
                for kind in KINDS
                if f"score{kind}" in data
            }, ""
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        why = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"{path} is unreadable ({why}): starting over"


class CrossplayDirectory(RunDirectory):
    """One cross-play evaluation's output directory. Made, it is checked
    writable (before the work, not after it) and, when it exists, locked at
    once, so that another evaluation writing there is refused before the agents
    load (about 11 s); `accept` takes the lock of a directory made later, so
    that a bad path makes none. An evaluation is never found finished: it is
    redone, and a larger earlier one is kept (`refuse_smaller`, `write`).
    Unlike a training run's, its results.json is not written last: the
    evaluation's games and results go first, the table and figures made from
    them after."""

    def __init__(self, where: pathlib.Path | Job) -> None:
        super().__init__(where)
        check_writable(self.path)
        if self.path.is_dir():
            self.job.lock()

    def finished(self) -> dict[str, Any] | None:
        return None  # redone; a larger earlier evaluation is kept beside

    def accept(self) -> None:
        self.job.lock()

    def refuse_smaller(self, games: int, symmetry_games: int) -> None:
        """Refuses to replace an evaluation here that played more games per
        pair (or per permutation) than this one would, unless --force."""
        try:
            previous = read_results(self.path / RESULTS_FILE)
        except (OSError, ValueError):
            return  # nothing (readable) to keep
        if not isinstance(previous, dict):
            return
        before = previous.get("num_games") or 0
        symmetry = previous.get("symmetry") or {}
        before_symmetry = symmetry.get("num_games") or 0
        if before > games or before_symmetry > symmetry_games:
            raise CrossPlayError(
                f"{self.path / RESULTS_FILE} holds a larger evaluation ({before} "
                f"games per pair, {before_symmetry} per permutation) than --games "
                f"{games} --symmetry-games {symmetry_games}; add --force to "
                "replace it, or --out elsewhere"
            )

    def resume(
        self, key: str, args: CrossplayOptions, progress: EvaluationReporter
    ) -> dict[str, Games] | None:
        """The games an interrupted run of the same evaluation left, said in a
        line (and its SE target, as the interrupted run set it, on
        `progress`)."""
        resume, why_not = load_partial(self.path, key)
        if why_not:
            say(why_not)
        if not resume:
            return None
        if progress.sizing.target_se is None and args.games is None:
            first = resume[KINDS[0]]
            progress.sizing = progress.sizing._replace(
                target_se=observed_target(
                    Games(*(x[:, : progress.sizing.round_games] for x in first))
                )
            )
        say(
            f"going on from {self.path / PARTIAL}: "
            + ", ".join(
                f"{g.score.shape[-1]:,} {KIND_NAMES[k]} games per pair"
                for k, g in resume.items()
            )
        )
        return resume

    def keep_rounds(self, played: dict[str, Games], key: str) -> int:
        """Saves the rounds played so far, for the same command to go on from
        (`resume`); the sampled kind's games per pair."""
        self.path.mkdir(parents=True, exist_ok=True)
        return save_partial(self.path, played, key)

    def keep_interrupted(self, interrupted: Interrupted, key: str) -> int:
        """Saves the rounds an interrupt left (for the same command to go on)
        and says so; the exit status, 130."""
        kept = self.keep_rounds(interrupted.played, key)
        greedy = interrupted.played.get("_greedy")
        print(
            f"interrupted: kept {kept:,} sampled games per pair (and "
            + ("no greedy" if greedy is None else f"{greedy.score.shape[-1]:,} greedy")
            + f") in {self.path / PARTIAL}; run the same command to go on",
            file=sys.stderr,
        )
        return 130

    def write(
        self,
        results: dict[str, Any],
        arrays: dict[str, Any],
        force: bool,
        symmetry_games: int,
    ) -> pathlib.Path:
        """Writes the evaluation's files beside a larger earlier one here
        (kept) unless `force`; returns where they went. The games and the
        results first, then the table and the figures made from them (a figure
        that fails loses no game), then the partial games go."""
        out = self.path
        if not force:
            # An evaluation sized by its SE may stop below an earlier, larger
            # one here: both are kept, this one beside it.
            try:
                self.refuse_smaller(results["num_games"], symmetry_games)
            except CrossPlayError:
                out = out / f"smaller_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
                print(
                    f"{self.path / RESULTS_FILE} holds a larger evaluation: kept; "
                    f"this one ({results['num_games']:,} games per pair) goes to "
                    f"{out}",
                    file=sys.stderr,
                )
        write_npz(out / "scores.npz", arrays)
        write_json(out / RESULTS_FILE, results)
        write_csv(out / "crossplay.csv", pair_rows(results), PAIR_COLUMNS)
        save_crossplay_figures(results, out / "crossplay.png")
        (self.path / PARTIAL).unlink(missing_ok=True)  # the evaluation is whole
        return out


def format_points(points: list[dict[str, Any]], failure: str | None) -> str:
    cell = format_estimate

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def drop(point: dict[str, Any]) -> str:
        if point.get("permuted_copy_drop") is None:
            return "-"
        return cell(point["permuted_copy_drop"], point.get("permuted_copy_drop_se"))

    lines = [
        f"{'group':<28} {'seeds':>5}  {'SP':>20}  {'XP':>20}  "
        f"{'SP argmax-greedy':>20}  {'XP argmax-greedy':>20}  "
        f"{'SP perfect':>10}  {'SP lost outright':>16}  {'permuted-copy drop':>20}"
        f"  {'conventions':>11}"
    ]
    for p in points:
        lines.append(
            f"{p['group']:<28} {p['num_seeds']:>5}  {cell(p['sp'], p['sp_se']):>20}  "
            f"{cell(p['xp'], p['xp_se']):>20}  "
            f"{cell(p['sp_greedy'], p['sp_greedy_se']):>20}  "
            f"{cell(p['xp_greedy'], p['xp_greedy_se']):>20}  "
            f"{percent(p.get('sp_perfect')):>10}  "
            f"{percent(p.get(f'sp_{failure}')):>16}  "
            f"{drop(p):>20}  {p.get('num_conventions', '-'):>11}"
        )
    return "\n".join(lines)


def print_summary(out: pathlib.Path, results: dict[str, Any]) -> None:
    print(format_points(results["points"], results["failure"]))
    print(
        "games per pair: "
        + "; ".join(
            f"{name} {g['num_games']:,} (largest pair SE "
            + ("n/a" if g["max_se"] is None else f"{g['max_se']:.3g}")
            + f", stopped by {g['stopped_by'].replace('_', ' ')})"
            for name, g in results["games"].items()
        )
    )
    print(
        f"wrote {out / RESULTS_FILE}, {out / 'scores.npz'}, {out / 'crossplay.csv'}, "
        f"{out / 'crossplay.png'}, {out / 'crossplay_groups.png'}"
    )
