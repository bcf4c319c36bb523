"""The pre-registered 3c x 3r test from one cross-play (docs/studies/
hanabi_3c3r_preregistered.md): the seed units read off the evaluation's
agents, the test (`marl.xp_stats.seed_permutation_test` on the greedy matrix),
and what is reported beside it, as the study page's tables.

    python -m experiments.crossplay <root_0> <root_1> <root_2> --games 2000
    from experiments.reports.preregistered import report, markdown
    print(markdown(report(results)))   # results: that cross-play's results.json

A seed unit is (run directory, seed index): its two agents, one per
coefficient, started from one set of parameters and one key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.harness.results import value_se
from experiments.reports.study_tables import markdown_grid
from marl.xp_stats import group_gap, matrix_summary, seed_permutation_test

LOW, HIGH = 0.01, 0.1
"""The coefficients compared (H1: the low one leaves the larger gap)."""

DRAWS, SEED, ALPHA = 100_000, 0, 0.05
"""The test's relabelings, their seed and the level, as pre-registered."""

TOLERANCES = (0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3)
"""Where the convention count is read off its curve (descriptive)."""


def seed_units(agents: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """int[U] indices of the low and the high coefficient's agent of every seed
    unit, units ordered by (run, seed); ValueError for a unit that lacks one of
    them or an agent at another coefficient."""
    by_unit: dict[tuple[str, int], dict[float, int]] = {}
    for index, agent in enumerate(agents):
        coef = agent.get("ent_coef")
        if coef not in (LOW, HIGH):
            raise ValueError(f"agent {index} has ent_coef {coef}, not {LOW} or {HIGH}")
        unit = by_unit.setdefault((agent["run"], int(agent["seed"])), {})
        if coef in unit:
            raise ValueError(
                f"two agents at {coef} in {agent['run']} seed {agent['seed']}"
            )
        unit[coef] = index
    incomplete = [u for u, found in by_unit.items() if len(found) != 2]
    if incomplete:
        run, seed = incomplete[0]
        raise ValueError(f"{run} seed {seed} lacks an agent at one coefficient")
    units = sorted(by_unit)
    low = np.array([by_unit[u][LOW] for u in units])
    high = np.array([by_unit[u][HIGH] for u in units])
    return low, high


def cross_root_xp(matrix: np.ndarray, members: np.ndarray, runs: list[str]) -> float:
    """XP over the ordered pairs of members from different runs (root seeds)."""
    sub = np.asarray(matrix, np.float64)[np.ix_(members, members)]
    roots = np.array([runs[m] for m in members])
    other = roots[:, None] != roots[None, :]
    return float(sub[other].mean()) if other.any() else float("nan")


def convention_curve(point: dict[str, Any], kind: str = "") -> dict[str, Any]:
    """One group's convention count over `TOLERANCES` from a cross-play point's
    merge heights (`clusters(between, t)` finds K - #{heights < t}), with the
    group's noise floor, the count that holds over the widest range above
    it and the tolerance above which all are one convention; `kind` "" for
    the sampled matrices, "_greedy" for the greedy ones."""
    heights = np.asarray(point[f"convention_heights{kind}"], np.float64)
    size = len(heights) + 1
    return {
        "counts": {t: int(size - np.sum(heights < t)) for t in TOLERANCES},
        "one_above": float(heights.max()) if size > 1 else None,
        "noise_floor": point.get(f"convention_noise_floor{kind}"),
        "stable": point.get(f"convention_stable{kind}"),
    }


def report(results: dict[str, Any]) -> dict[str, Any]:
    """The test on the greedy matrix and the descriptive figures beside it
    (per coefficient: SP, XP and gap with their jackknife errors, greedy and
    sampled; XP over cross-root pairs; the sampled gap; the permuted-copy
    drop)."""
    agents = results["agents"]
    low, high = seed_units(agents)
    greedy = np.asarray(results["matrix_greedy"], np.float64)
    sampled = np.asarray(results["matrix"], np.float64)
    runs = [a["run"] for a in agents]
    test = seed_permutation_test(greedy, low, high, draws=DRAWS, seed=SEED)
    groups = {}
    for coef, members in ((LOW, low), (HIGH, high)):
        block = np.ix_(members, members)
        groups[coef] = {
            "greedy": matrix_summary(greedy[block]),
            "sampled": matrix_summary(sampled[block]),
            "xp_cross_root_greedy": cross_root_xp(greedy, members, runs),
            "gap_sampled": group_gap(sampled, members),
        }
    drops = (results.get("symmetry") or {}).get("permuted_copy_scores")
    if drops is not None:
        copies = np.asarray(drops, np.float64)  # [K, G], column 0 the identity
        for coef, members in ((LOW, low), (HIGH, high)):
            drop = copies[members, 0] - copies[members, 1:].mean(-1)
            groups[coef]["permuted_copy_drop"] = float(drop.mean())
    for point in results.get("points", []):
        if point.get("ent_coef") in groups and "convention_heights" in point:
            groups[point["ent_coef"]]["conventions"] = {
                kind: convention_curve(point, suffix)
                for kind, suffix in (("sampled", ""), ("greedy", "_greedy"))
            }
    return {
        "units": len(low),
        "test": test,
        "reject": bool(test["p_value"] < ALPHA),
        "groups": groups,
    }


def _cell(value: float | None, se: float | None = None) -> str:
    return value_se(value, se, digits=3, pm="+-")


def markdown(found: dict[str, Any]) -> str:
    """The study page's result tables."""
    test = found["test"]
    lines = [
        f"T = gap(0.01) - gap(0.1) = {test['statistic']:.4f} on the greedy "
        f"matrix over {found['units']} seed units; one-sided p = "
        f"{test['p_value']:.5f} over {test['relabelings']:,} relabelings "
        f"({'exact' if test['exact'] else f'seed {SEED}'}): H0 "
        f"{'rejected' if found['reject'] else 'not rejected'} at alpha {ALPHA}.",
        "",
    ]
    header = [
        "ent_coef",
        "SP greedy",
        "XP greedy",
        "gap greedy",
        "XP greedy, cross-root pairs",
        "SP sampled",
        "XP sampled",
        "gap sampled",
        "permuted-copy drop",
    ]
    rows = []
    for coef, g in found["groups"].items():
        gr, sa = g["greedy"], g["sampled"]
        rows.append(
            [
                str(coef),
                _cell(gr["sp"], gr["sp_se"]),
                _cell(gr["xp"], gr["xp_se"]),
                _cell(gr["xp_gap"], gr["xp_gap_se"]),
                _cell(g["xp_cross_root_greedy"]),
                _cell(sa["sp"], sa["sp_se"]),
                _cell(sa["xp"], sa["xp_se"]),
                _cell(sa["xp_gap"], sa["xp_gap_se"]),
                _cell(g.get("permuted_copy_drop")),
            ]
        )
    lines.append(markdown_grid(header, rows, "r---r---r"))
    curves = [
        (c, g["conventions"]) for c, g in found["groups"].items() if "conventions" in g
    ]
    if curves:
        lines += [
            "",
            "Conventions per coefficient (descriptive), the count at each tolerance "
            "of the matrix distance, the group's noise floor (median split-half "
            "distance of its agents), the tolerance above which the group is one "
            "convention, and the count other than one that holds over the widest "
            "range of tolerances above the floor (`conventions.stable_count`):",
            "",
            curves_grid(
                ["ent_coef", "matrices"],
                "r-",
                [
                    ([str(coef), kind], curve)
                    for coef, by_kind in curves
                    for kind, curve in by_kind.items()
                ],
            ),
        ]
    return "\n".join(lines) + "\n"


def curve_cells(curve: dict[str, Any]) -> list[str]:
    """The cells of one group's `convention_curve`: the count at each of
    `TOLERANCES`, the noise floor, the tolerance above which the group is one
    convention, and the stable count with the range of tolerances over which
    it holds."""
    stable = curve["stable"]
    span = "-"
    if stable:
        top = stable["up_to"]
        span = (
            f"{stable['count']} ({stable['above']:.3f}, "
            f"{'above' if top is None else f'{top:.3f}'}]"
        )
    counts = [str(curve["counts"][t]) for t in TOLERANCES]
    return [*counts, _cell(curve["noise_floor"]), _cell(curve["one_above"]), span]


def curves_grid(
    lead: list[str], align: str, rows: list[tuple[list[str], dict[str, Any]]]
) -> str:
    """The table of convention curves: the leading columns `lead` (aligned by
    `align`), then `curve_cells`' of each row's curve."""
    header = [
        *lead,
        *(f"tol {t}" for t in TOLERANCES),
        "noise floor",
        "one convention above",
        "stable count (over tolerances)",
    ]
    align = align + "r" * (len(TOLERANCES) + 2) + "-"
    return markdown_grid(
        header, [[*cells, *curve_cells(curve)] for cells, curve in rows], align
    )
