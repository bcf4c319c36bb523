"""Cross-play's output directory (`python -m experiments.crossplay`): where an
evaluation goes, its lock (one writer), the rule that keeps a larger earlier
evaluation, the partial games an interrupted one leaves and the next goes on
from, and the files written and the summary printed at the end."""

from __future__ import annotations

import contextlib
import datetime
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from experiments.deep.agents import CrossPlayError
from experiments.deep.crossplay_options import CrossplayOptions
from experiments.deep.evaluation import (
    PARTIAL,
    EvaluationReporter,
    load_partial,
    observed_target,
    save_partial,
    say,
)
from experiments.harness.results import (
    RESULTS_FILE,
    format_estimate,
    read_results,
    write_csv,
    write_json,
    write_npz,
)
from experiments.reports.pairs import PAIR_COLUMNS, pair_rows
from experiments.reports.plots import save_crossplay_figures
from marl.deep.evaluate import KIND_NAMES, KINDS
from marl.deep.rounds import Games, Interrupted
from marl.files import check_writable, locked


def default_out(paths: Sequence[str], step: int | None = None) -> pathlib.Path:
    if len(paths) == 1:
        name = "crossplay" if step is None else f"crossplay_update{step}"
        return pathlib.Path(paths[0]) / name
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return pathlib.Path("outputs") / "crossplay" / stamp


def open_output(
    args: CrossplayOptions, stack: contextlib.ExitStack
) -> tuple[pathlib.Path, bool]:
    """The output directory, checked writable; its lock taken at once when it
    exists (another evaluation writing there is refused before the agents load,
    about 11 s), else later (`take_lock`), so that a bad path makes none.
    Returns (out, whether the lock is held)."""
    out = args.out or default_out(args.paths, args.step)
    check_writable(out)  # before the work, not after it
    held = out.is_dir()
    if held:
        stack.enter_context(locked(out))
    return out, held


def refuse_smaller(out: pathlib.Path, games: int, symmetry_games: int) -> None:
    """Refuses to replace an evaluation in `out` that played more games per pair
    (or per permutation) than this one would, unless the user says --force."""
    try:
        previous = read_results(out / RESULTS_FILE)
    except (OSError, ValueError):
        return  # nothing (readable) to keep
    if not isinstance(previous, dict):
        return
    before = previous.get("num_games") or 0
    symmetry = previous.get("symmetry") or {}
    before_symmetry = symmetry.get("num_games") or 0
    if before > games or before_symmetry > symmetry_games:
        raise CrossPlayError(
            f"{out / RESULTS_FILE} holds a larger evaluation ({before} games per "
            f"pair, {before_symmetry} per permutation) than --games {games} "
            f"--symmetry-games {symmetry_games}; add --force to replace it, or "
            "--out elsewhere"
        )


def resume_partial(
    out: pathlib.Path, key: str, args: CrossplayOptions, progress: EvaluationReporter
) -> dict[str, Games] | None:
    """The games an interrupted run of the same evaluation left, said in a line
    (and its SE target, as the interrupted run set it, on `progress`)."""
    resume, why_not = load_partial(out, key)
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
        f"going on from {out / PARTIAL}: "
        + ", ".join(
            f"{g.score.shape[-1]:,} {KIND_NAMES[k]} games per pair"
            for k, g in resume.items()
        )
    )
    return resume


def keep_interrupted(out: pathlib.Path, interrupted: Interrupted, key: str) -> int:
    """Saves the rounds an interrupt left (for the same command to go on) and
    says so; the exit status, 130."""
    out.mkdir(parents=True, exist_ok=True)
    kept = save_partial(out, interrupted.played, key)
    greedy = interrupted.played.get("_greedy")
    print(
        f"interrupted: kept {kept:,} sampled games per pair (and "
        + ("no greedy" if greedy is None else f"{greedy.score.shape[-1]:,} greedy")
        + f") in {out / PARTIAL}; run the same command to go on",
        file=sys.stderr,
    )
    return 130


def write_evaluation(
    out: pathlib.Path,
    results: dict[str, Any],
    arrays: dict[str, Any],
    force: bool,
    symmetry_games: int,
) -> pathlib.Path:
    """Writes the evaluation's files, beside a larger earlier one in `out`
    (kept) unless `force`; returns where they went."""
    (out / PARTIAL).unlink(missing_ok=True)  # the evaluation is whole now
    if not force:
        # An evaluation sized by its SE may stop below an earlier, larger one in
        # `out`: both are kept, this one beside it.
        try:
            refuse_smaller(out, results["num_games"], symmetry_games)
        except CrossPlayError:
            out = out / f"smaller_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
            print(
                f"{out.parent / RESULTS_FILE} holds a larger evaluation: kept; "
                f"this one ({results['num_games']:,} games per pair) goes to {out}",
                file=sys.stderr,
            )
    write_json(out / RESULTS_FILE, results)
    write_npz(out / "scores.npz", arrays)
    write_csv(out / "crossplay.csv", pair_rows(results), PAIR_COLUMNS)
    save_crossplay_figures(results, out / "crossplay.png")
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
