"""Cross-play results (an evaluation's results.json) as tables: the tidy table
of every ordered pair and policy kind (`pair_rows`, written to crossplay.csv)
and the means between groups with 95% half-widths (`group_table`, the heatmaps'
and docs' cells)."""

from __future__ import annotations

from typing import Any

import numpy as np

from marl.deep.kinds import KIND_NAMES, KINDS

PAIR_COLUMNS = (
    "policy",
    "seat1_agent",
    "seat1_group",
    "seat1_run",
    "seat1_seed",
    "seat2_agent",
    "seat2_group",
    "seat2_run",
    "seat2_seed",
    "games",
    "mean",
    "se",
    "ci95_low",
    "ci95_high",
)
"""The tidy cross-play table (`pair_rows`): one row per ordered pair and policy
kind (seat 2: every seat but the first with 3+ players)."""

Z95 = 1.959964
"""The normal quantile of a two-sided 95% interval."""


def pair_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the tidy cross-play table (`PAIR_COLUMNS`) of an evaluation's
    results: the mean score of every ordered pair of agents, its standard error
    over games and a normal 95% interval."""
    agents = results["agents"]
    rows = []
    for kind in KINDS:
        means = np.asarray(results[f"matrix{kind}"])
        # null cells (one game a pair) read as NaN, written as empty cells
        errors = np.asarray(results[f"matrix{kind}_se"], dtype=float)
        games = results["games"][KIND_NAMES[kind]]["num_games"]
        for i, first in enumerate(agents):
            for j, second in enumerate(agents):
                mean, se = float(means[i, j]), float(errors[i, j])
                spread = not np.isnan(se)
                rows.append(
                    {
                        "policy": KIND_NAMES[kind],
                        **{
                            f"seat{seat}_{field}": value
                            for seat, k, agent in ((1, i, first), (2, j, second))
                            for field, value in (
                                ("agent", k),
                                ("group", agent["group"]),
                                ("run", agent["run"]),
                                ("seed", agent["seed"]),
                            )
                        },
                        "games": games,
                        "mean": round(mean, 6),
                        "se": round(se, 6) if spread else None,
                        "ci95_low": round(mean - Z95 * se, 6) if spread else None,
                        "ci95_high": round(mean + Z95 * se, 6) if spread else None,
                    }
                )
    return rows


def group_table(
    results: dict[str, Any], kind: str = ""
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Cross-play between groups with 95% half-widths: (groups, mean float[G, G],
    half-width float[G, G]). Cell (a, b): the mean over the pairs of distinct
    agents of group a in seat 1 and group b in seat 2 (a group with itself: its
    XP; a group of one agent with itself: its SP), its interval over those
    pairs (the seeds) where there are several, else over the pair's games."""
    groups = results["groups"]
    of = [agent["group"] for agent in results["agents"]]
    means = np.asarray(results[f"matrix{kind}"])
    errors = np.asarray(results[f"matrix{kind}_se"], dtype=float)  # null: NaN
    mean = np.full((len(groups), len(groups)), np.nan)
    half = np.full_like(mean, np.nan)
    for a, row_group in enumerate(groups):
        rows = [k for k, g in enumerate(of) if g == row_group]
        for b, col_group in enumerate(groups):
            cols = [k for k, g in enumerate(of) if g == col_group]
            cells = [(i, j) for i in rows for j in cols if i != j or len(rows) == 1]
            values = np.asarray([means[i, j] for i, j in cells])
            mean[a, b] = values.mean()
            half[a, b] = Z95 * (
                values.std(ddof=1) / np.sqrt(values.size)
                if values.size > 1
                else errors[cells[0]]
            )
    return groups, mean, half
