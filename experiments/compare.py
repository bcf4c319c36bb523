"""One table across runs: every point of every results.json under the given paths.

    python -m experiments.compare multirun/tabular/2026-11-21_10-00-00
    python -m experiments.compare outputs/tabular/a outputs/tabular/b --csv t.csv

Prints the table (one row per run and tau) and a summary (one row per run: tau*,
bound, best SP, best Other-Play value, annealed XP), writes both as CSV and a grid
figure of SP/XP against tau: beside the single directory given (comparison.csv,
comparison_summary.csv, comparison.png), else only where --csv and --figure say.
A `settings` column names, per run, the config settings that differ between runs
of the same game (what a sweep swept).
"""

from __future__ import annotations

import csv
import io
import json
import pathlib
import sys
import textwrap
from typing import Any

from experiments import plots
from experiments.config import ArgumentParser, as_program, interruptible
from experiments.results import (
    CROSSPLAY_KINDS,
    TRAINING_KINDS,
    find_results,
    read_results,
)
from marl.files import OutputDirError, atomic_write_bytes, check_writable

COLUMNS = (
    "run",
    "settings",
    "game",
    "horizon",
    "num_seeds",
    "tau",
    "ent_coef",
    "group",
    "sp",
    "sp_se",
    "xp",
    "xp_se",
    "sp_greedy",
    "xp_greedy",
    "sp_greedy_ties",
    "xp_greedy_ties",
    "num_conventions",
    "certified",
    "uncertified",
    "uniqueness_bound",
    "best_sp_greedy",
    "optimum",
    "gap_to_optimum",
)


def load_all(
    paths: list[str],
) -> tuple[list[tuple[pathlib.Path, dict[str, Any]]], list[str]]:
    """Readable results under `paths` (tabular runs and IPPO cross-play
    evaluations), and one warning line per file left out."""
    loaded, warnings = [], []
    for path in find_results(paths):
        try:
            results = read_results(path)
            if results.get("kind") in TRAINING_KINDS:
                if (path.parent / "crossplay" / path.name).is_file():
                    continue  # its cross-play is found and compared instead
                warnings.append(
                    f"{path.parent} is an IPPO training run: its SP and XP come "
                    f"from `python -m experiments.crossplay {path.parent}`"
                )
                continue
            check_results(results)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            warnings.append(f"skipping {path}: not a complete results file ({reason})")
            continue
        loaded.append((path.parent, results))
    return loaded, warnings


def check_results(results: Any) -> None:
    """Refuses (TypeError) a results file, hand-edited or from elsewhere, that
    lacks what the table reads: a game, a number of seeds, and points that each
    have a tau or an entropy coefficient."""
    if not isinstance(results, dict):
        raise TypeError("not a JSON object")
    if not isinstance(results.get("game"), str):
        raise TypeError("no 'game' name")
    if not isinstance(results.get("num_seeds"), int):
        raise TypeError("no integer 'num_seeds'")
    points = results.get("points")
    if not isinstance(points, list) or not all(
        isinstance(p, dict) and isinstance(p.get("tau", p.get("ent_coef")), int | float)
        for p in points
    ):
        raise TypeError("'points' is not a list of points with a tau or ent_coef")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: value}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(
            flatten(
                value,
                f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}",
            )
        )
    return flat


def distinguishing_settings(
    runs: list[tuple[pathlib.Path, dict[str, Any]]],
) -> dict[pathlib.Path, str | None]:
    """Per run, the settings of its config (as `key=value` overrides) that tell it
    apart from the runs of the same game and horizon compared with it: what a
    sweep swept, whatever the parameter. Settings that change only with the game
    (a preset's per-game defaults) are left to the game column; None where
    nothing else differs."""
    flats = [flatten(results.get("config") or {}) for _, results in runs]
    same: dict[tuple[Any, Any], list[int]] = {}
    for k, (_, results) in enumerate(runs):
        same.setdefault((results.get("game"), results.get("horizon")), []).append(k)

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))

    shown = {"game", "game_file", "horizon"}
    differing = sorted(
        {
            key
            for members in same.values()
            for key in set().union(*(flats[k] for k in members)) - shown
            if len({text(flats[k].get(key)) for k in members}) > 1
        }
    )
    return {
        run_dir: " ".join(f"{k}={text(flat.get(k))}" for k in differing) or None
        for (run_dir, _), flat in zip(runs, flats, strict=True)
    }


def table_rows(runs: list[tuple[pathlib.Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    settings = distinguishing_settings(runs)
    for run_dir, results in runs:
        for point in sorted(results["points"], key=plots.point_x):
            rows.append(
                {
                    "run": str(run_dir),
                    "settings": settings[run_dir],
                    "game": results["game"],
                    "num_seeds": results["num_seeds"],
                    "horizon": results.get("horizon"),
                    "uniqueness_bound": results.get("uniqueness_bound"),
                    "optimum": results.get("optimum"),
                    "gap_to_optimum": gap(results.get("optimum"), point),
                    **{key: point.get(key) for key in COLUMNS if key in point},
                    "uncertified": uncertified(results["num_seeds"], point),
                }
            )
    return rows


def uncertified(num_seeds: int, point: dict[str, Any]) -> int | None:
    """Seeds not certified at a fixed point (None for runs without certificates:
    annealing, the sampled learner, Hanabi)."""
    if point.get("certified") is None:
        return None
    return num_seeds - point["certified"]


def gap(optimum: float | None, point: dict[str, Any]) -> float | None:
    """optimum - best_sp_greedy: how far the best greedified seed is from the
    published optimum (negative only through float error, or a bug)."""
    if optimum is None or point.get("best_sp_greedy") is None:
        return None
    return optimum - point["best_sp_greedy"]


SUMMARY_COLUMNS = (
    "run",
    "settings",
    "game",
    "horizon",
    "num_seeds",
    "symmetry_order",
    "tau_star_lower",
    "tau_star",
    "tau_star_certified",
    "uniqueness_bound",
    "tau_star_over_bound",
    "best_sp",
    "best_other_play",
    "annealed_xp",
    "order_with_agent_swaps",
    "optimum",
    "best_equivariant",
    "recipe",
    "annealed",
    "other_play_xp",
)


def tau_star_columns(search: dict[str, Any] | None) -> dict[str, Any]:
    """The tau* bracket (lower, tau_star], the seeds certified to agree at its
    upper end, and tau*/bound (2-player matrix games)."""
    if not search:
        return {}
    verdict = search.get("upper_verdict") or {}
    return {
        "tau_star_lower": search.get("lower"),
        "tau_star": search.get("tau_star"),
        "tau_star_certified": (
            f"{verdict['certified']}/{verdict['seeds']}" if verdict else None
        ),
        "tau_star_over_bound": search.get("tau_star_over_bound"),
    }


def summary_rows(
    runs: list[tuple[pathlib.Path, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per run: what the phase diagram says in a few numbers."""
    rows = []
    settings = distinguishing_settings(runs)
    for run_dir, results in runs:
        if results.get("kind") in CROSSPLAY_KINDS:
            continue
        op = results.get("other_play", {}).get("points", [])
        annealed = [
            r["xp"] for r in results.get("annealing", []) if r["grad_noise"] == 0
        ]
        rows.append(
            {
                "run": str(run_dir),
                "settings": settings[run_dir],
                "game": results["game"],
                "horizon": results.get("horizon"),
                "num_seeds": results["num_seeds"],
                "symmetry_order": results.get("symmetry", {}).get("order"),
                **tau_star_columns(results.get("critical_tau")),
                "uniqueness_bound": results.get("uniqueness_bound"),
                "best_sp": max(p["best_sp"] for p in results["points"]),
                "best_other_play": max(
                    (p["other_play_value_best"] for p in op), default=None
                ),
                "annealed_xp": annealed[0] if annealed else None,
                **price_columns(results),
            }
        )
    return rows


def price_columns(results: dict[str, Any]) -> dict[str, Any]:
    """The price of equivariance: the published optimum, the best value of an
    equivariant policy (ascent inside them), the recipe's value (tie-aware
    greedy SP at the smallest grid tau where every seed is certified at one
    convention: there SP = XP), the annealed value (the noise-free run's
    tie-aware greedy SP) and Other-Play's best tie-aware greedy XP."""
    agreeing = [
        p
        for p in results["points"]
        if p.get("num_conventions") == 1
        and p.get("certified") in (None, results["num_seeds"])
    ]
    recipe = min(agreeing, key=lambda p: p["tau"]) if agreeing else None
    annealed = [r for r in results.get("annealing", []) if r.get("grad_noise") == 0]
    op = results.get("other_play", {})
    op_points = [] if op.get("same_as_self_play") else op.get("points", [])
    ascent = results.get("equivariant_ascent") or {}
    return {
        "order_with_agent_swaps": results.get("symmetry", {}).get(
            "order_with_agent_swaps"
        ),
        "optimum": results.get("optimum"),
        "best_equivariant": ascent.get("best_value"),
        "recipe": recipe["sp_greedy_ties"] if recipe else None,
        "annealed": annealed[0]["sp_greedy_ties"] if annealed else None,
        "other_play_xp": max((p["xp_greedy_ties"] for p in op_points), default=None),
    }


SCREEN_COLUMNS = (
    ("game", "game"),
    ("h", "horizon"),
    ("seeds", "num_seeds"),
    ("tau", "tau"),
    ("coef", "ent_coef"),
    ("SP", "sp"),
    ("XP", "xp"),
    ("SPg", "sp_greedy"),
    ("XPg", "xp_greedy"),
    ("SPt", "sp_greedy_ties"),
    ("XPt", "xp_greedy_ties"),
    ("conv", "num_conventions"),
    ("uncert", "uncertified"),
    ("gap", "gap_to_optimum"),
)
"""The printed table's columns: (header, row key); the CSV has every column."""
LEGEND = (
    "SP, XP: self-play and cross-play means +- jackknife standard errors over seeds "
    "(n/a: too few seeds, or a degenerate jackknife); g: argmax-greedy policies; "
    "t: tie-aware greedy; conv: conventions found; uncert: seeds not certified at a "
    "fixed point; gap: the published optimum minus the best greedy seed's SP; "
    "[a], [b]: the settings that differ between runs (below). Every column is in "
    "the CSV."
)
SUMMARY_SCREEN = (
    ("game", "game"),
    ("h", "horizon"),
    ("seeds", "num_seeds"),
    ("|G|", "symmetry_order"),
    ("tau* in (", "tau_star_lower"),
    ("tau*]", "tau_star"),
    ("cert", "tau_star_certified"),
    ("bound", "uniqueness_bound"),
    ("best SP", "best_sp"),
    ("best OP", "best_other_play"),
    ("annealed XP", "annealed_xp"),
)
PRICE_SCREEN = (
    ("game", "game"),
    ("h", "horizon"),
    ("|G|", "symmetry_order"),
    ("|G| swaps", "order_with_agent_swaps"),
    ("optimum", "optimum"),
    ("best equivariant", "best_equivariant"),
    ("recipe", "recipe"),
    ("annealed", "annealed"),
    ("OP XP", "other_play_xp"),
)
PRICE_LEGEND = (
    "The price of equivariance: |G| the symmetry group (seats kept; swaps: agents "
    "may be relabelled too); best equivariant: the best J of ascent inside the "
    "equivariant policies; recipe: greedy SP (= XP) at the first tau where every "
    "seed is certified at one convention; annealed: greedy SP of the noise-free "
    "annealing run; OP XP: Other-Play's best greedy XP (all tie-aware)."
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _with_se(value: Any, se: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (" n/a" if se is None else f"+-{se:.2g}")


def format_table(
    rows: list[dict[str, Any]],
    columns: tuple[tuple[str, str], ...] = SCREEN_COLUMNS,
    legend: str | None = LEGEND,
) -> str:
    """The printed table: short headers, columns empty in every row left out, SP
    and XP with their errors in one cell, each run's distinguishing settings as a
    tag ([a], [b], ...) spelt out below, and a legend. About 120 characters wide
    for a tabular sweep; the CSV holds every column in full."""
    tags: dict[str, str] = {}
    for row in rows:
        if row.get("settings"):
            tags.setdefault(row["settings"], f"[{chr(ord('a') + len(tags) % 26)}]")
    shown = [(h, k) for h, k in columns if any(row.get(k) is not None for row in rows)]

    def text(row: dict[str, Any], key: str) -> str:
        if key in ("sp", "xp"):
            return _with_se(row.get(key), row.get(f"{key}_se"))
        if key == "game" and row.get("settings"):
            return f"{row['game']} {tags[row['settings']]}"
        return _cell(row.get(key))

    cells = [[text(row, k) for _, k in shown] for row in rows]
    headers = [h for h, _ in shown]
    widths = [max(len(h), *(len(r[n]) for r in cells)) for n, h in enumerate(headers)]
    left = {0}  # the game column reads left-aligned

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if n in left else v.rjust(w)
            for n, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [line(headers)] + [line(r) for r in cells]
    lines += [f"{tag} {settings}" for settings, tag in tags.items()]
    if legend:
        lines += ["", *textwrap.wrap(legend, 100)]
    return "\n".join(lines)


@interruptible
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.compare", __doc__)
    parser.add_argument("paths", nargs="+", help="run directories or sweep directories")
    parser.add_argument("--csv", type=pathlib.Path, help="where to write the table")
    parser.add_argument(
        "--figure", type=pathlib.Path, help="where to write the grid figure"
    )
    args = parser.parse_args(argv)
    missing = [path for path in args.paths if not pathlib.Path(path).exists()]
    if missing:
        print(f"error: {missing[0]} does not exist", file=sys.stderr)
        return 2
    runs, warnings = load_all(args.paths)
    if not runs:
        why = f" ({'; '.join(warnings)})" if warnings else ""
        print(
            f"error: no readable results.json under {' '.join(args.paths)}{why}",
            file=sys.stderr,
        )
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # Written beside a single directory compared, or where asked; never into the
    # working directory unasked.
    single = pathlib.Path(args.paths[0])
    out_dir = single if len(args.paths) == 1 and single.is_dir() else None
    csv_path = args.csv or (out_dir / "comparison.csv" if out_dir else None)
    figure_path = args.figure or (out_dir / "comparison.png" if out_dir else None)
    try:
        for path in (csv_path, figure_path):
            if path is not None:
                check_writable(path.parent)
    except OutputDirError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = table_rows(runs)
    summary = summary_rows(runs)
    print(format_table(rows))
    if summary:
        print()
        print(format_table(summary, SUMMARY_SCREEN, legend=None))
        priced = [r for r in summary if r.get("best_equivariant") is not None]
        if priced:
            print()
            print(format_table(priced, PRICE_SCREEN, legend=PRICE_LEGEND))
    written = []
    if csv_path is not None:
        summary_path = csv_path.with_name(csv_path.stem + "_summary.csv")
        write_csv(csv_path, rows, COLUMNS)
        write_csv(summary_path, summary, SUMMARY_COLUMNS)
        written += [csv_path, summary_path]
    if figure_path is not None:
        written += plots.save_grid_figure([r for _, r in runs], figure_path)
    if written:
        print(f"wrote {', '.join(map(str, written))}")
    else:
        print("(several paths: pass --csv and --figure to write the table and figure)")
    return 0


def write_csv(
    path: pathlib.Path, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


cli = as_program(main)
"""The program: `python -m experiments.compare`, the console script."""

if __name__ == "__main__":
    cli()
