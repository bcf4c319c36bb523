"""Cross-play across implementations from one cross-play of two runs, ours
and another implementation's agents kept as a zoo
(benchmarks/jaxmarl_crossplay.py, issue 58, item 3): the four pairings per
coefficient, and the tests registered in
docs/studies/jaxmarl_crossplay_preregistered.md on the greedy matrix (the
boundary gap, `marl.xp_stats.boundary_gap`: XP within each implementation less
XP across, compared between the two coefficients by a permutation test within
seed units, and tested at each).

A seed unit is (side, seed index): its two agents, one per coefficient,
started from one set of parameters and one key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.reports.study_tables import markdown_grid
from marl.xp_stats import (
    boundary_gap,
    boundary_permutation_test,
    seed_permutation_test,
)


def _distinct_pairs(matrix: np.ndarray, members: np.ndarray) -> float:
    """The mean over ordered pairs of distinct `members`."""
    block = matrix[np.ix_(members, members)]
    return float(block[~np.eye(len(members), dtype=bool)].mean())


def pairings(results: dict[str, Any], ours: str, theirs: str) -> list[dict[str, Any]]:
    """Per coefficient and matrix (greedy, sampled), the mean score of each
    pairing: SP (an agent with itself), ours with ours and theirs with theirs
    (distinct agents), ours in seat 0 with theirs in seat 1, and the reverse."""
    agents = results["agents"]
    side = np.array(
        [
            "ours" if a["run"] == ours else "theirs" if a["run"] == theirs else "?"
            for a in agents
        ]
    )
    coefs = np.array([a["ent_coef"] for a in agents])
    rows = []
    for kind, key in (("greedy", "matrix_greedy"), ("sampled", "matrix")):
        matrix = np.asarray(results[key], np.float64)
        for coef in sorted(set(coefs.tolist())):
            a = np.flatnonzero((side == "ours") & (coefs == coef))
            b = np.flatnonzero((side == "theirs") & (coefs == coef))

            rows.append(
                {
                    "ent_coef": coef,
                    "matrix": kind,
                    "sp_ours": float(np.diag(matrix)[a].mean()),
                    "sp_theirs": float(np.diag(matrix)[b].mean()),
                    "ours_ours": _distinct_pairs(matrix, a),
                    "theirs_theirs": _distinct_pairs(matrix, b),
                    "ours_theirs": float(matrix[np.ix_(a, b)].mean()),
                    "theirs_ours": float(matrix[np.ix_(b, a)].mean()),
                }
            )
    return rows


ALPHA = 0.05
"""The primary test's level; each coefficient's boundary test is at ALPHA / 2
(Bonferroni over the two). docs/studies/jaxmarl_crossplay_preregistered.md."""


def seed_units(
    agents: list[dict[str, Any]], ours: str, ent_coefs: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(side int[K]: 0 ours, 1 theirs; low int[U], high int[U]): the agents of
    each seed unit (a side and a seed index, trained at both coefficients from
    one start) at the lower and the higher coefficient."""
    if len(ent_coefs) != 2:
        raise ValueError(f"the registered tests compare two coefficients: {ent_coefs}")
    side = np.array([0 if a["run"] == ours else 1 for a in agents])
    at = {
        (int(s), a["seed"], a["ent_coef"]): k
        for k, (s, a) in enumerate(zip(side, agents, strict=True))
    }
    low_coef, high_coef = sorted(ent_coefs)
    units = sorted({(s, seed) for (s, seed, _) in at})
    missing = [
        u for u in units if (*u, low_coef) not in at or (*u, high_coef) not in at
    ]
    if missing:
        raise ValueError(f"seed units without an agent at both coefficients: {missing}")
    low = np.array([at[(*u, low_coef)] for u in units])
    high = np.array([at[(*u, high_coef)] for u in units])
    return side, low, high


def registered_tests(
    results: dict[str, Any], ours: str, ent_coefs: list[float]
) -> dict[str, Any]:
    """The pre-registered tests on the greedy matrix: the primary, whether the
    boundary between the implementations costs the lower coefficient's agents
    more cross-play than the higher's (`seed_permutation_test` of
    `boundary_gap`, units swapped within their side); and at each coefficient
    whether it costs any (`boundary_permutation_test`). The answer: "yes"
    when the primary rejects, the lower coefficient's boundary test rejects
    and the higher's does not."""
    side, low, high = seed_units(results["agents"], ours, ent_coefs)
    greedy = np.asarray(results["matrix_greedy"], np.float64)
    sampled = np.asarray(results["matrix"], np.float64)
    primary = seed_permutation_test(
        greedy, low, high, statistic=lambda members: boundary_gap(greedy, members, side)
    )
    low_coef, high_coef = sorted(ent_coefs)
    per_coef = {}
    for coef, members in ((low_coef, low), (high_coef, high)):
        test = boundary_permutation_test(greedy, members, side)
        per_coef[str(coef)] = {
            **test,
            "reject": bool(test["p_value"] < ALPHA / 2),
            "gap_sampled": boundary_gap(sampled, members, side),
        }
    reject = bool(primary["p_value"] < ALPHA)
    yes = (
        reject
        and per_coef[str(low_coef)]["reject"]
        and not per_coef[str(high_coef)]["reject"]
    )
    return {
        "primary": {**primary, "reject": reject},
        "per_coef": per_coef,
        "answer": "yes" if yes else "no",
    }


def registered_markdown(tests: dict[str, Any]) -> str:
    """The registered tests under the pairings' table."""
    cells = [
        [
            coef,
            f"{t['gap']:.3f}",
            f"{t['gap_sampled']:.3f}",
            f"{t['p_value']:.4f} ({t['relabelings']:,})",
            "yes" if t["reject"] else "no",
        ]
        for coef, t in tests["per_coef"].items()
    ]
    header = ["ent_coef", "within - across, greedy", "sampled", "p (relabelings)"]
    table = markdown_grid([*header, f"p < {ALPHA / 2}"], cells, "lrrrl")
    primary = tests["primary"]
    how = "exact" if primary["exact"] else "drawn"
    return (
        "\nThe registered tests, on the greedy matrix "
        "(docs/studies/jaxmarl_crossplay_preregistered.md):\n\n"
        f"{table}\n\n"
        f"Primary: T = gap(low) - gap(high) = {primary['statistic']:.3f}, "
        f"p = {primary['p_value']:.4f} ({how}, {primary['relabelings']:,} "
        f"relabelings of {primary['units']} seed units); p < {ALPHA}: "
        f"{'yes' if primary['reject'] else 'no'}. Answer: {tests['answer']}."
    )


def summary(
    results: dict[str, Any], theirs: str, ent_coefs: list[float]
) -> tuple[dict[str, Any], str]:
    """(summary.json's contents, summary.md's text) of a cross-play's results
    (results.json of experiments.crossplay) of two runs, `theirs` the other
    implementation's: the pairings and the registered tests."""
    ours = next(a["run"] for a in results["agents"] if a["run"] != theirs)
    rows = pairings(results, ours, theirs)
    tests = registered_tests(results, ours, ent_coefs)
    return (
        {"pairings": rows, "registered": tests},
        markdown(rows) + "\n" + registered_markdown(tests),
    )


def markdown(rows: list[dict[str, Any]]) -> str:
    header = [
        "ent_coef",
        "matrix",
        "SP ours",
        "SP theirs",
        "ours-ours",
        "theirs-theirs",
        "ours-theirs",
        "theirs-ours",
    ]
    keys = (
        "sp_ours",
        "sp_theirs",
        "ours_ours",
        "theirs_theirs",
        "ours_theirs",
        "theirs_ours",
    )
    cells = [
        [str(r["ent_coef"]), r["matrix"], *(f"{r[k]:.3f}" for k in keys)] for r in rows
    ]
    return markdown_grid(header, cells, "r-rrrrrr")
