"""experiments.reports.preregistered on made-up cross-plays: the seed units
read off the agents, the test's statistic against a hand computation, and
refusals of agents that do not make units."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.reports import preregistered as pr
from marl.xp_stats import group_gap


def made_up(gap_low: float, gap_high: float, roots: int = 2, seeds: int = 3):
    """A cross-play of roots x seeds units, agents listed run by run, each run
    its 0.01 seeds then its 0.1 seeds (crossplay's order); SP 5 for everyone,
    XP 5 - gap within a coefficient, 1 across."""
    agents = [
        {"run": f"root_{r}", "ent_coef": coef, "seed": s}
        for r in range(roots)
        for coef in (0.01, 0.1)
        for s in range(seeds)
    ]
    coefs = np.array([a["ent_coef"] for a in agents])
    same = coefs[:, None] == coefs[None, :]
    gap = np.where(coefs == 0.01, gap_low, gap_high)[:, None]
    matrix = np.where(same, 5.0 - gap, 1.0)
    np.fill_diagonal(matrix, 5.0)
    results = {"agents": agents, "matrix_greedy": matrix, "matrix": matrix - 0.5}
    return results, matrix


def test_units_pair_each_runs_seed_across_coefficients():
    results, _ = made_up(1.0, 0.2)
    low, high = pr.seed_units(results["agents"])
    assert low.tolist() == [0, 1, 2, 6, 7, 8] and high.tolist() == [3, 4, 5, 9, 10, 11]


def test_the_statistic_is_the_difference_of_the_groups_gaps():
    results, matrix = made_up(1.0, 0.2)
    found = pr.report(results)
    low, high = pr.seed_units(results["agents"])
    expected = group_gap(matrix, low) - group_gap(matrix, high)
    assert found["test"]["statistic"] == pytest.approx(expected)
    assert found["test"]["statistic"] == pytest.approx(0.8)
    # 6 units: all 64 relabelings, and only the observed one (and none
    # larger) reaches T: p = 1/64, rejected at 0.05
    assert found["test"]["exact"] and found["test"]["p_value"] == pytest.approx(1 / 64)
    assert found["reject"]
    assert found["groups"][0.01]["greedy"]["xp_gap"] == pytest.approx(1.0)
    assert found["groups"][0.1]["xp_cross_root_greedy"] == pytest.approx(4.8)
    assert "H0 rejected" in pr.markdown(found)


def test_agents_that_make_no_units_are_refused():
    results, _ = made_up(1.0, 0.2)
    with pytest.raises(ValueError, match="lacks an agent"):
        pr.seed_units(results["agents"][:-1])
    other = [*results["agents"][:-1], {**results["agents"][-1], "ent_coef": 0.03}]
    with pytest.raises(ValueError, match=r"not 0\.01 or 0\.1"):
        pr.seed_units(other)


def test_the_convention_curve_counts_what_clusters_finds_at_each_tolerance():
    """K agents merged at heights h: at tolerance t, K - #{h < t} conventions."""
    point = {
        "convention_heights": [0.06, 0.2],
        "convention_noise_floor": 0.03,
        "convention_stable": {"count": 2, "above": 0.06, "up_to": 0.2},
    }
    curve = pr.convention_curve(point)
    assert curve["counts"][0.05] == 3 and curve["counts"][0.1] == 2
    assert curve["counts"][0.25] == 1 and curve["one_above"] == 0.2
    assert curve["noise_floor"] == 0.03 and curve["stable"]["count"] == 2


def test_the_study_page_shows_the_report_of_the_committed_cross_play():
    """docs/studies/hanabi_3c3r_preregistered.md's Result tables are
    `markdown(report(results))` of the committed results.json, unedited."""
    import json

    from tests import ROOT

    results = json.loads(
        (
            ROOT / "docs/results/hanabi_3c3r_preregistered/crossplay/prereg"
            "/results.json"
        ).read_text()
    )
    found = pr.report(results)
    assert found["units"] == 24 and found["reject"]
    page = (ROOT / "docs/studies/hanabi_3c3r_preregistered.md").read_text()
    result = page.split("## Result\n", 1)[1]
    assert pr.markdown(found) in result


def test_the_convention_curve_agrees_with_clustering_at_every_tolerance():
    """The curve read off merge heights is the count `conventions.clusters`
    finds on the distances themselves, at each of the report's tolerances."""
    from marl.deep import conventions

    rng = np.random.default_rng(0)
    points = rng.uniform(0.0, 0.4, size=(12, 3))
    between = np.abs(points[:, None, :] - points[None, :, :]).max(-1)
    heights = conventions.merge_heights(between)
    curve = pr.convention_curve({"convention_heights": heights.tolist()})
    for t in pr.TOLERANCES:
        assert curve["counts"][t] == max(conventions.clusters(between, t)) + 1
