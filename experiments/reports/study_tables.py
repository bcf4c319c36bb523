"""The main job's study table (`python -m experiments.compare --markdown`): one
markdown row per tabular run with its tau_agree and tau_unique brackets, what
their ends rest on, the folds and branch points met and the uniqueness search
(docs/studies/tabular_main_job.md)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

from experiments.harness.results import CROSSPLAY_KINDS
from experiments.reports.tables import (
    cell,
    ends_rest_on,
    summary_rows,
    tau_unique_columns,
)
from marl.tabular.intervals import bracket_text


def _bracket(search: dict[str, Any] | None) -> str:
    if not search or search.get("upper") is None or search.get("lower") is None:
        return "-"
    return bracket_text(search["lower"], search["upper"])


def _unique_cell(unique: dict[str, Any] | None) -> str:
    """tau_unique's bracket and what its ends rest on, or why there is none."""
    if not unique:
        return "-"
    if "skipped" in unique:
        return f"not traced: {unique['skipped']}"
    if unique.get("upper") is None:
        notes = unique.get("notes") or ["-"]
        return "not bracketed: " + notes[0].split(";")[0]
    ends = tau_unique_columns(unique)["tau_unique_ends"]
    return f"{bracket_text(unique['lower'], unique['upper'])} ({ends})"


def _events(unique: dict[str, Any] | None) -> str:
    """The folds and branch points the tracer met, by tau, largest first."""
    if not unique or "skipped" in unique:
        return "-"
    parts = []
    for kind in ("folds", "branch_points"):
        taus = sorted((e["tau"] for e in unique.get(kind) or []), reverse=True)
        if taus:
            name = kind.replace("_", " ")
            parts.append(f"{name} {', '.join(f'{t:.4g}' for t in taus)}")
    return "; ".join(parts) or "none"


def _search(found: dict[str, Any] | None) -> str:
    """The uniqueness search at a tau: fixed points proven (starts settled)."""
    if not found:
        return "-"
    second = "; a second, stable one" if found.get("second_stable") else ""
    return (
        f"{found.get('proven_fixed_points', 0)}{second} "
        f"({found.get('settled', 0)} of {found.get('starts', 0)})"
    )


def markdown_rows(
    runs: list[tuple[pathlib.Path, dict[str, Any]]],
) -> list[dict[str, str]]:
    """One row per tabular run for the main job's study page: the tau*
    (tau_agree) bracket and what its ends rest on, the seeds converged at its
    upper end (steps), tau_unique's bracket, the folds and branch points met,
    the uniqueness search at tau_agree's upper end, the other weighting's
    bracket, and the best SP, Other-Play and annealed XP."""
    rows = []
    for _, results in runs:
        if results.get("kind") in CROSSPLAY_KINDS:
            continue
        search = results.get("critical_tau") or {}
        verdict = search.get("upper_verdict") or {}
        unique = search.get("uniqueness")
        found = ((search.get("proven_ends") or {}).get("uniqueness_search")) or []
        other = (results.get("other_weighting") or {}).get("critical_tau")
        summary = summary_rows([(pathlib.Path("."), results)])[0]
        horizon = results.get("horizon")
        rows.append(
            {
                "game": results["game"]
                + (f" (h {horizon})" if horizon and horizon > 1 else ""),
                "symmetry order": f"{results.get('symmetry', {}).get('order', '-'):,}",
                "tau_agree in": f"{_bracket(search)} ({ends_rest_on(search) or '-'})",
                "converged at its upper end (steps)": (
                    f"{verdict['converged']}/{verdict['seeds']} ({verdict['steps']:,})"
                    if verdict
                    else "-"
                ),
                "tau_unique in": _unique_cell(unique),
                "folds, branch points": _events(unique),
                "search at tau_agree's upper end": _search(found[0] if found else None),
                "tau* with the other weighting": _bracket(other),
                "best SP": cell(summary.get("best_sp")),
                "best Other-Play": cell(summary.get("best_other_play")),
                "annealed XP": cell(summary.get("annealed_xp")),
            }
        )
    return rows


def markdown_grid(
    header: Sequence[str], rows: Iterable[Sequence[str]], align: str = ""
) -> str:
    """A markdown table of `header` and `rows` (cells as text), its last line
    without a newline. `align` has a letter a column: "r" aligns it right ("---:"), any
    other the default ("---"), as do the columns past its end."""
    marks = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "".join(f"{m}|" for m in marks)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def phases_table(phases: list[dict[str, Any]]) -> str:
    """The phases of a GPU script's run (`experiments.harness.deadlines`): each
    one's status and seconds."""
    rows = [[p["phase"], p["status"], str(p.get("seconds", "-"))] for p in phases]
    return markdown_grid(["phase", "status", "seconds"], rows, "--r")


def markdown_table(rows: list[dict[str, str]]) -> str:
    """`rows` as a markdown table (the keys of the first row as its header)."""
    if not rows:
        return ""
    header = list(rows[0])
    return markdown_grid(header, [[row[k] for k in header] for row in rows])
