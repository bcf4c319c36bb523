"""One table across runs: every point of every results.json under the given paths.

    python -m experiments.compare multirun/tabular/2026-11-21_10-00-00
    python -m experiments.compare outputs/tabular/a outputs/tabular/b --csv t.csv

Prints the table (one row per run and tau) and a summary (one row per run: tau*,
bound, best SP, best Other-Play value, annealed XP), writes both as CSV and a grid
figure of SP/XP against tau: beside the single directory given (comparison.csv,
comparison_summary.csv, comparison.png), else only where --csv and --figure say.
A `settings` column names, per run, the config settings that differ between runs
of the same game (what a sweep swept). `--markdown FILE` writes the tabular runs'
tau_agree and tau_unique brackets, what their ends rest on, the folds and branch
points met and the uniqueness search, as the markdown table of the main job's
study page (docs/studies/).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from experiments.harness.results import (
    TRAINING_KINDS,
    find_results,
    read_results,
    write_csv,
)
from experiments.reports import plots
from experiments.reports.study_tables import markdown_rows, markdown_table
from experiments.reports.tables import (
    COLUMNS,
    PRICE_LEGEND,
    PRICE_SCREEN,
    SUMMARY_COLUMNS,
    SUMMARY_SCREEN,
    format_table,
    summary_rows,
    table_rows,
)
from marl.files import OutputDirError, atomic_write_bytes, check_writable


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
    have a tau or an entropy coefficient, or are a rule-based partner's (group
    `bot=<name>`, from `crossplay --bots`)."""
    if not isinstance(results, dict):
        raise TypeError("not a JSON object")
    if not isinstance(results.get("game"), str):
        raise TypeError("no 'game' name")
    if not isinstance(results.get("num_seeds"), int):
        raise TypeError("no integer 'num_seeds'")
    points = results.get("points")
    if not isinstance(points, list) or not all(
        isinstance(p, dict)
        and (
            isinstance(p.get("tau", p.get("ent_coef")), int | float)
            or str(p.get("group")).startswith("bot=")
        )
        for p in points
    ):
        raise TypeError(
            "'points' is not a list of points with a tau, an ent_coef or a bot"
        )


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.compare", __doc__)
    parser.add_argument("paths", nargs="+", help="run directories or sweep directories")
    parser.add_argument("--csv", type=pathlib.Path, help="where to write the table")
    parser.add_argument(
        "--figure", type=pathlib.Path, help="where to write the grid figure"
    )
    parser.add_argument(
        "--markdown",
        type=pathlib.Path,
        help="write the tabular runs' tau_agree / tau_unique table as markdown "
        "(the main job's study page, docs/studies/)",
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
        for path in (csv_path, figure_path, args.markdown):
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
    if args.markdown is not None:
        table = markdown_table(markdown_rows(runs))
        atomic_write_bytes(args.markdown, f"{table}\n".encode() if table else b"")
        written.append(args.markdown)
    if written:
        print(f"wrote {', '.join(map(str, written))}")
    else:
        print("(several paths: pass --csv and --figure to write the table and figure)")
    return 0


cli = main.cli
"""The program: `python -m experiments.compare`, the console script."""

if __name__ == "__main__":
    cli()
