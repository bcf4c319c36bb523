"""The pre-registered analysis of docs/studies/hanabi_1life_grid.md, written
before the grid's cross-plays were read: at matched greedy self-play, do the
seeds trained at entropy 0.01 lose more to their own color-permuted copies
than those trained at 0.1 and at 0.3?

`report(evaluations)` takes the grid's cross-play results by milestone
(update -> the results.json of `python -m experiments.crossplay` over every
coefficient's agents at that update) and gives, for each high coefficient, the
matched pair of milestones, the paired sign-flip test of the permuted-copy
drop and Holm's decision; beside it, every group's drop and greedy SP.
`markdown(found)` is the page's table. `page(directory)` is the whole result
section's tables from a grid's files (scripts/gpu_grid.py's layout: a
directory per run, `crossplay/<evaluation>/results.json`), the descriptive
ones beside the test included; `save_stages_figure` draws the drop and the gap
against greedy SP and against entropy.
"""

from __future__ import annotations

import itertools
import json
import pathlib
from typing import Any

import numpy as np
from scipy import special

from experiments.harness.results import matched_stages, value_se
from experiments.reports.preregistered import convention_curve, curves_grid
from experiments.reports.study_tables import markdown_grid
from marl.xp_stats import standard_error

LOW = 0.01
HIGH = (0.1, 0.3)
MATCH_SHARE = 0.1
"""Two groups' greedy SP are matched when they differ by at most this share
of the larger."""
ALPHA = 0.05
DRAWS = 100_000
CRITERION = (1.0, 0.1)
"""The screen's criterion of a game that breaks the symmetry: a drop of at
least this many points, or of at least this share of greedy SP."""


def agent_drops(results: dict[str, Any]) -> dict[float, dict[int, float]]:
    """Per entropy coefficient, per seed: the agent's permuted-copy drop, its
    score with itself (the identity's row of `permuted_copy_scores`) minus its
    mean score with its permuted copies."""
    scores = np.asarray(results["symmetry"]["permuted_copy_scores"], float)
    drops = scores[:, 0] - scores[:, 1:].mean(-1)
    groups: dict[float, dict[int, float]] = {}
    for agent, drop in zip(results["agents"], drops, strict=True):
        seeds = groups.setdefault(float(agent["ent_coef"]), {})
        if agent["seed"] in seeds:
            raise ValueError(
                f"two agents of seed {agent['seed']} at {agent['ent_coef']}"
            )
        seeds[int(agent["seed"])] = float(drop)
    return groups


def greedy_sp(results: dict[str, Any]) -> dict[float, float]:
    """Per entropy coefficient: the group's mean greedy self-play."""
    return {float(p["ent_coef"]): float(p["sp_greedy"]) for p in results["points"]}


def matched_pair(
    sp: dict[int, dict[float, float]], low: float, high: float
) -> dict[str, Any]:
    """The milestones (m at `low`, m' at `high`) whose greedy SP differ least,
    and whether they are matched (at most MATCH_SHARE of the larger apart).
    `sp`: milestone -> coefficient -> greedy SP."""
    pairs = [
        (abs(sp[m][low] - sp[n][high]), m, n)
        for m, n in itertools.product(sorted(sp), repeat=2)
        if low in sp[m] and high in sp[n]
    ]
    if not pairs:
        raise ValueError(f"no milestone has both {low} and {high}")
    difference, m, n = min(pairs)
    larger = max(sp[m][low], sp[n][high])
    return {
        "low_step": m,
        "high_step": n,
        "sp_low": sp[m][low],
        "sp_high": sp[n][high],
        "difference": difference,
        "matched": bool(difference <= MATCH_SHARE * larger),
    }


def sign_flip_test(
    differences: np.ndarray, draws: int = DRAWS, seed: int = 0
) -> dict[str, Any]:
    """One-sided paired permutation test of mean(differences) > 0: every
    relabeling flips the sign of any subset of the pairs' differences; p is
    the share of relabelings whose mean is at least the observed one, the
    observed included: exact over all 2**n when that is at most `draws`,
    else (1 + #) / (1 + draws) over `draws` random ones (seeded)."""
    d = np.asarray(differences, float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"need >= 2 paired differences, got shape {d.shape}")
    observed = float(d.mean())
    exact = 2 ** len(d) <= draws
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    else:
        signs = np.where(
            np.random.default_rng(seed).random((draws, len(d))) < 0.5, -1.0, 1.0
        )
    means = (signs * d).mean(-1)
    at_least = int((means >= observed - 1e-12).sum())
    p = at_least / len(signs) if exact else (1 + at_least) / (1 + draws)
    return {
        "statistic": observed,
        "p_value": float(p),
        "relabelings": len(signs),
        "exact": bool(exact),
        "pairs": len(d),
    }


def holm(p_values: dict[float, float], alpha: float = ALPHA) -> dict[float, bool]:
    """Holm's step-down decisions: the k-th smallest p (from 0) is compared
    with alpha / (m - k), until the first that is not rejected."""
    order = sorted(p_values, key=lambda c: p_values[c])
    rejected, going = {}, True
    for k, c in enumerate(order):
        going = going and p_values[c] <= alpha / (len(order) - k)
        rejected[c] = going
    return rejected


def report(evaluations: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The registered analysis of the grid's cross-plays by milestone."""
    drops = {m: agent_drops(r) for m, r in evaluations.items()}
    sp = {m: greedy_sp(r) for m, r in evaluations.items()}
    groups = [
        {
            "step": m,
            "ent_coef": c,
            "sp_greedy": sp[m][c],
            "drop": float(np.mean(list(seeds.values()))),
            "drop_se": standard_error(np.array(list(seeds.values()))),
            "agents": len(seeds),
        }
        for m in sorted(drops)
        for c, seeds in sorted(drops[m].items())
    ]
    tests: dict[float, dict[str, Any]] = {}
    for high in HIGH:
        pair = matched_pair(sp, LOW, high)
        tests[high] = {"pair": pair}
        if not pair["matched"]:
            continue
        low_drops = drops[pair["low_step"]][LOW]
        high_drops = drops[pair["high_step"]][high]
        if sorted(low_drops) != sorted(high_drops):
            raise ValueError(f"the seeds at {LOW} and {high} differ: cannot pair them")
        differences = np.array(
            [low_drops[k] - high_drops[k] for k in sorted(low_drops)]
        )
        tests[high]["test"] = sign_flip_test(differences)
    tested = {c: t["test"]["p_value"] for c, t in tests.items() if "test" in t}
    for c, rejected in holm(tested).items():
        tests[c]["rejected"] = rejected
    return {"groups": groups, "tests": tests, "alpha": ALPHA}


def markdown(found: dict[str, Any]) -> str:
    """The groups' table and the tests', as on the study's page."""
    groups = markdown_grid(
        ["update", "entropy", "greedy SP", "permuted-copy drop", "agents"],
        [
            [
                str(g["step"]),
                f"{g['ent_coef']:g}",
                f"{g['sp_greedy']:.2f}",
                value_se(g["drop"], g["drop_se"], 3),
                str(g["agents"]),
            ]
            for g in found["groups"]
        ],
        "rrr-r",
    )
    rows = []
    for c, t in found["tests"].items():
        pair = t["pair"]
        where = f"{pair['low_step']}, {pair['high_step']}"
        sps = f"{pair['sp_low']:.2f}, {pair['sp_high']:.2f}"
        if "test" not in t:
            rows.append(
                [f"{c:g}", f"{where} (not matched)", sps, "-", "-", "not tested"]
            )
            continue
        test = t["test"]
        verdict = "rejected" if t["rejected"] else "kept"
        rows.append(
            [
                f"{c:g}",
                where,
                sps,
                f"{test['statistic']:.3f}",
                p_cell(test),
                f"{verdict} (Holm, alpha {found['alpha']:g})",
            ]
        )
    header = [
        "high entropy c",
        "matched pair (0.01 at m, c at m')",
        "greedy SP",
        "T",
        "p",
        "H0",
    ]
    return groups + "\n\n" + markdown_grid(header, rows, "r--rr-")


def p_cell(test: dict[str, Any]) -> str:
    """A p-value to four decimals, or where it is smaller as a count of
    relabelings: 1/65,536 is not 0.0000."""
    p = test["p_value"]
    if p >= 1e-3:
        return f"{p:.4f}"
    count = round(p * test["relabelings"]) if test["exact"] else None
    share = f"{count:,}/{test['relabelings']:,} = " if count else ""
    return f"{share}{p:.1e}"


def low_course(found: dict[str, Any], level: float = 0.95) -> list[dict[str, Any]]:
    """The 0.01 group's mean drop at each milestone with its `level`
    t-interval (agents - 1 degrees of freedom) and whether it meets
    `CRITERION` (reported beside the test: does the drop hold as the seeds
    learn?)."""
    rows = []
    for g in found["groups"]:
        if g["ent_coef"] != LOW:
            continue
        # scipy.stats.t.ppf, without importing scipy.stats (most of a second)
        half = float(special.stdtrit(g["agents"] - 1, 0.5 + level / 2)) * g["drop_se"]
        points, share = CRITERION
        rows.append(
            {
                **g,
                "low": g["drop"] - half,
                "high": g["drop"] + half,
                "share": g["drop"] / g["sp_greedy"],
                "meets": bool(
                    g["drop"] >= points or g["drop"] >= share * g["sp_greedy"]
                ),
            }
        )
    return rows


def low_course_markdown(rows: list[dict[str, Any]]) -> str:
    header = [
        "update",
        "greedy SP",
        "mean drop at 0.01",
        "95% t-interval",
        "drop / SP",
        "meets the criterion",
    ]
    cells = [
        [
            str(r["step"]),
            f"{r['sp_greedy']:.2f}",
            f"{r['drop']:.3f}",
            f"[{r['low']:.3f}, {r['high']:.3f}]",
            f"{r['share']:.1%}",
            "yes" if r["meets"] else "no",
        ]
        for r in rows
    ]
    return markdown_grid(header, cells, "rrr-r-")


def stages_markdown(rows: list[dict[str, Any]]) -> str:
    """Every group at every milestone (`matched_stages` rows)."""
    header = [
        "run",
        "entropy coef",
        "update",
        "policy entropy",
        "greedy SP",
        "greedy XP",
        "gap, greedy",
        "SP",
        "XP",
        "permuted-copy drop",
        "conventions",
    ]
    cells = [
        [
            r["run"],
            f"{r['ent_coef']:g}",
            str(r["update"]),
            value_se(r["entropy"]),
            value_se(r["sp_greedy"], r["sp_greedy_se"]),
            value_se(r["xp_greedy"], r["xp_greedy_se"]),
            value_se(r["xp_greedy_gap"], r["xp_greedy_gap_se"]),
            value_se(r["sp"]),
            value_se(r["xp"]),
            value_se(r["permuted_copy_drop"], r["permuted_copy_drop_se"], 3),
            str(r["num_conventions"]),
        ]
        for r in rows
    ]
    return markdown_grid(header, cells, "-rrr------r")


def curves_markdown(evaluations: list[dict[str, Any]]) -> str:
    """Every group's convention count over `TOLERANCES`, sampled and greedy
    matrices, with its noise floor (`preregistered.convention_curve`)."""
    rows = []
    for results in evaluations:
        for point in results["points"]:
            agent = results["agents"][point["agents"][0]]
            run = pathlib.PurePath(agent["run"]).name
            for kind, suffix in (("sampled", ""), ("greedy", "_greedy")):
                cells = [run, f"{point['ent_coef']:g}", str(agent["step"]), kind]
                rows.append((cells, convention_curve(point, suffix)))
    lead = ["run", "entropy coef", "update", "matrices"]
    return curves_grid(lead, "-rr-", rows)


def read_grid(
    directory: pathlib.Path,
) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """A grid's cross-plays: those of the test by milestone (the evaluations
    with agents at 0.01 and at a high coefficient, keyed by their agents'
    update) and all of them, in the order of their agents' run and update."""
    found = [
        json.loads(path.read_text())
        for path in sorted((directory / "crossplay").glob("*/results.json"))
    ]
    if not found:
        raise FileNotFoundError(f"no crossplay/*/results.json under {directory}")
    found.sort(key=lambda r: (r["agents"][0]["run"], r["agents"][0]["step"]))
    tested = {}
    for results in found:
        coefs = {float(a["ent_coef"]) for a in results["agents"]}
        if LOW in coefs and coefs & set(HIGH):
            tested[int(results["agents"][0]["step"])] = results
    return tested, found


def stage_rows(
    directory: pathlib.Path, every: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`matched_stages` of the grid's cross-plays (`read_grid`'s second)."""
    runs = sorted(path.parent for path in directory.glob("*/metrics.jsonl"))
    return matched_stages(every, runs)


def page(directory: pathlib.Path) -> str:
    """The study page's result tables from a grid's files: the test's, the
    0.01 drop's course, every group at every milestone, and the convention
    curves."""
    tested, every = read_grid(directory)
    found = report(tested)
    parts = [
        markdown(found),
        low_course_markdown(low_course(found)),
        stages_markdown(stage_rows(directory, every)),
        curves_markdown(every),
    ]
    return "\n\n".join(parts) + "\n"


def save_stages_figure(directory: pathlib.Path, path: pathlib.Path) -> None:
    """The drop (top) and the greedy gap (bottom) of every group at every
    milestone, against greedy SP (left) and entropy (right)."""
    from experiments.reports import plots  # matplotlib only for the figure

    rows = stage_rows(directory, read_grid(directory)[1])
    size = (2 * plots.PANEL[0], 2 * plots.PANEL[1] + 1.0)
    with plots.style():
        fig, axes = plots.figure(2, 2, figsize=size)
        plots.plot_matched_stages(axes[0], rows, "permuted_copy_drop")
        plots.plot_matched_stages(axes[1], rows, "xp_greedy_gap")
        axes[0][0].get_legend().remove()
        fig.suptitle(rows[0]["game"])
    plots.save_figure(fig, path)
