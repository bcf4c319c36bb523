"""The cross-play standard error against a simulation with known variance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from experiments.harness.results import format_estimate
from marl.xp_stats import (
    assignment_summary,
    boundary_gap,
    boundary_permutation_test,
    group_gap,
    matrix_summary,
    seed_permutation_test,
    standard_error,
)


def simulated_matrices(rng, replicates, seeds, sd_seat0, sd_seat1, sd_pair):
    """M[i, j] = a_i + b_j + e_ij: seed i's effect in seat 1, seed j's in seat 2,
    and the pair's own. The off-diagonal mean has variance
    (sd_seat0^2 + sd_seat1^2) / N + sd_pair^2 / (N (N - 1))."""
    a = rng.normal(0, sd_seat0, (replicates, seeds, 1))
    b = rng.normal(0, sd_seat1, (replicates, 1, seeds))
    e = rng.normal(0, sd_pair, (replicates, seeds, seeds))
    return a + b + e


@pytest.mark.parametrize("seeds", [8, 32])
@pytest.mark.parametrize("sd_pair", [0.0, 1.0])
def test_jackknife_xp_se_matches_the_known_variance(seeds, sd_pair):
    rng = np.random.default_rng(0)
    matrices = simulated_matrices(rng, 2000, seeds, 1.0, 0.5, sd_pair)
    true_var = (1.0 + 0.25) / seeds + sd_pair**2 / (seeds * (seeds - 1))
    summaries = [matrix_summary(m) for m in matrices]
    xp = np.array([s["xp"] for s in summaries])
    se = np.array([s["xp_se"] for s in summaries])
    assert np.var(xp) == pytest.approx(true_var, rel=0.1)  # the simulation itself
    assert np.mean(se**2) == pytest.approx(true_var, rel=0.15)
    # Nominal 95% intervals (the true XP is 0); with 8 seeds the normal quantile
    # is a little short of Student's t with 7 degrees of freedom (2.36).
    covered = np.abs(xp) <= 1.96 * se
    assert 0.90 <= covered.mean() <= 0.97
    # The per-seed-means estimator, std / sqrt(N) of each seed's mean over the
    # cells it is in, is about half as large when the seeds' effects dominate.
    off = ~np.eye(seeds, dtype=bool)
    per_seed = [
        ((m * off).sum(0) + (m * off).sum(1)) / (2 * (seeds - 1)) for m in matrices
    ]
    naive = np.array([standard_error(p) for p in per_seed])
    assert np.mean(naive**2) < 0.5 * true_var


def test_assignment_summary_of_two_players_is_the_matrix_summary():
    """All ordered pairs as assignments give the matrix's XP and jackknife."""
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(6, 6))
    pairs = np.array([(i, j) for i in range(6) for j in range(6) if i != j])
    xp, se = assignment_summary(matrix[pairs[:, 0], pairs[:, 1]], pairs, 6)
    summary = matrix_summary(matrix)
    assert xp == pytest.approx(summary["xp"]) and se == pytest.approx(summary["xp_se"])


def test_too_few_seeds_have_no_standard_error():
    assert matrix_summary(np.ones((2, 2)))["xp_se"] is None
    assert matrix_summary(np.ones((1, 1)))["sp_se"] is None
    assert matrix_summary(np.ones((3, 3)))["xp_se"] == 0.0


def test_estimates_are_never_printed_with_a_zero_error():
    """Printed as the spread is: none (every value equal), too small for the
    decimals shown, or not estimable (too few seeds), never '+- 0.000'."""
    assert format_estimate(0.25, 0.0123) == "0.250 +- 0.012"
    assert format_estimate(0.25, 0.0) == "0.250 (no spread)"
    assert format_estimate(0.25, None) == "0.250 (se n/a)"
    assert format_estimate(0.1234567, 2e-5) == "0.123457 +- 2e-05"
    assert format_estimate(None, None) == "-"
    for se in (1e-9, 4e-4, 5e-4, 9.9e-4, 1e-3):
        printed = format_estimate(1.0, se).split("+- ")[1]
        assert float(printed) == pytest.approx(se, rel=0.25)


def test_xp_gap_p_value_holds_its_level_and_finds_a_real_gap():
    """Under "XP = SP" (self-play cells drawn like cross-play ones) the one-sided
    p-value is about uniform; a self-play bonus of 1 is found with 8 seeds."""
    rng = np.random.default_rng(2)
    seeds = 8
    null = simulated_matrices(rng, 2000, seeds, 1.0, 0.5, 0.5)
    summaries = [matrix_summary(m) for m in null]
    p = np.array([s["xp_gap_p"] for s in summaries])
    assert 0.03 <= np.mean(p < 0.05) <= 0.08
    assert 0.4 <= np.mean(p < 0.5) <= 0.6
    gaps = np.array([s["xp_gap"] for s in summaries])
    gap_se = np.array([s["xp_gap_se"] for s in summaries])
    # The jackknife variance is conservative: never short on average.
    assert 1.0 <= np.mean(gap_se**2) / np.var(gaps) <= 1.3
    bonus = null[:200] + 1.0 * np.eye(seeds)
    found = [matrix_summary(m)["xp_gap_p"] for m in bonus]
    assert np.mean(np.array(found) < 0.05) > 0.9
    one = matrix_summary(null[0] + 1.0 * np.eye(seeds))
    assert one["xp_gap"] == pytest.approx(one["sp"] - one["xp"])


def test_xp_gap_p_value_is_none_without_an_error():
    assert matrix_summary(np.ones((2, 2)))["xp_gap_p"] is None
    assert matrix_summary(np.ones((4, 4)))["xp_gap_p"] is None  # no spread at all


def test_a_degenerate_jackknife_is_not_printed_as_precision():
    """Two seeds on one convention and two on another: leaving out any one seed
    gives the same XP (1/3), so the jackknife is zero to round-off, yet XP is far
    from certain. It is reported as not estimable, never as an error of 1e-7."""
    conventions = np.array([0, 0, 1, 1])
    matrix = (conventions[:, None] == conventions[None, :]).astype(np.float32)
    summary = matrix_summary(matrix)
    assert summary["xp"] == pytest.approx(1 / 3)
    assert summary["xp_se"] is None and summary["xp_gap_p"] is None
    assert format_estimate(summary["xp"], summary["xp_se"]) == "0.333 (se n/a)"
    # The same with 3+ player assignments; and cells all equal are no spread.
    pairs = np.array([(i, j) for i in range(4) for j in range(4) if i != j])
    assert assignment_summary(matrix[pairs[:, 0], pairs[:, 1]], pairs, 4)[1] is None
    assert matrix_summary(np.full((4, 4), 0.5, np.float32))["xp_se"] == 0.0


def test_the_seed_permutation_test_counts_every_relabeling_when_it_can():
    """Three units (6 agents): the exact p-value is the share of the 8 swaps
    whose statistic reaches the observed one, counted by brute force here; a
    strong effect (the low group's agents play apart, the high group's
    together) gives the smallest p there is, 1/8; swapping the roles of the
    groups reverses the statistic."""
    rng = np.random.default_rng(3)
    m = rng.normal(5.0, 1.0, (6, 6))
    low, high = np.array([0, 2, 4]), np.array([1, 3, 5])
    got = seed_permutation_test(m, low, high)
    assert got["exact"] and got["relabelings"] == 8
    t = group_gap(m, low) - group_gap(m, high)
    assert got["statistic"] == pytest.approx(t)
    swaps = [
        group_gap(m, np.where(f, high, low)) - group_gap(m, np.where(f, low, high))
        for f in itertools.product((False, True), repeat=3)
    ]
    assert got["p_value"] == pytest.approx(np.mean(np.array(swaps) >= t - 1e-12))
    apart = np.full((6, 6), 5.0)
    apart[np.ix_(high, high)] = 8.0  # the high group's pairs cross-play as SP
    np.fill_diagonal(apart, 8.0)
    strong = seed_permutation_test(apart, low, high)
    assert strong["statistic"] == pytest.approx(3.0) and strong["p_value"] == 1 / 8
    reversed_ = seed_permutation_test(apart, high, low)
    assert reversed_["statistic"] == pytest.approx(-3.0) and reversed_["p_value"] == 1


def test_the_seed_permutation_test_holds_its_level_under_the_null():
    """Agents whose two coefficients are exchangeable (every cell drawn alike):
    over 300 matrices of 8 units, p < 0.05 in about 5% of them (3% to 8%
    allowed, about 2 binomial errors), by random relabelings as with 24
    units."""
    rng = np.random.default_rng(0)
    ps = []
    for k in range(300):
        units = rng.normal(0.0, 1.0, 16)  # each agent's own effect
        m = rng.normal(5.0, 0.5, (16, 16)) + units[:, None] + units[None, :]
        np.fill_diagonal(m, np.diag(m) + 1.0)  # SP above XP alike in both groups
        got = seed_permutation_test(m, np.arange(0, 16, 2), np.arange(1, 16, 2), 199, k)
        ps.append(got["p_value"])
    assert not got["exact"] and got["relabelings"] == 199
    assert 0.03 <= np.mean(np.array(ps) < 0.05) <= 0.08


def test_the_boundary_gap_is_within_minus_across_and_blind_to_skill():
    """`boundary_gap` by brute force: the two kinds' own XP averaged, less the
    two seat orders across averaged; cells that are any per-agent skill in
    seat 1 plus one in seat 2 (the kinds far apart in skill) give 0 whatever
    the diagonal, and taking agreement away across the boundary gives it."""
    rng = np.random.default_rng(5)
    m = rng.normal(5.0, 1.0, (9, 9))
    members, side = (
        np.array([0, 1, 2, 4, 5, 7, 8]),
        np.array([0, 1, 0, 1, 0, 0, 1, 1, 1]),
    )
    ours = [i for i in members if side[i] == 0]
    theirs = [i for i in members if side[i] == 1]

    def xp(rows, cols):
        return np.mean([m[i, j] for i in rows for j in cols if i != j])

    within = (xp(ours, ours) + xp(theirs, theirs)) / 2
    across = (xp(ours, theirs) + xp(theirs, ours)) / 2
    assert boundary_gap(m, members, side) == pytest.approx(within - across)
    skill = rng.normal(0.0, 1.0, 9) + 3.0 * side  # kind 1 far better, both seats
    additive = skill[:, None] + 0.5 * skill[None, :] + 2.0
    np.fill_diagonal(additive, 9.0)
    assert boundary_gap(additive, members, side) == pytest.approx(0.0, abs=1e-12)
    apart = additive - 1.5 * (side[:, None] != side[None, :])
    assert boundary_gap(apart, members, side) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="2 members of each kind"):
        boundary_gap(m, np.array([0, 1, 2]), side)


def test_the_boundary_permutation_test_counts_every_balanced_relabeling():
    """Every relabeling that keeps the kinds' counts, C(6, 3) = 20, counted by
    brute force; a boundary that costs agreement and nothing else gives the
    smallest p there is (the observed labels and their mirror, 2 / 20)."""
    rng = np.random.default_rng(2)
    m = rng.normal(5.0, 1.0, (6, 6))
    members, side = np.arange(6), np.array([0, 1, 1, 0, 0, 1])
    got = boundary_permutation_test(m, members, side)
    assert got["relabelings"] == 20
    observed = boundary_gap(m, members, side)
    gaps = []
    for chosen in itertools.combinations(range(6), 3):
        labels = np.ones(6, int)
        labels[list(chosen)] = 0
        gaps.append(boundary_gap(m, members, labels))
    assert got["gap"] == pytest.approx(observed)
    assert got["p_value"] == pytest.approx(np.mean(np.array(gaps) >= observed - 1e-12))
    apart = np.where(side[:, None] == side[None, :], 8.0, 5.0)
    assert boundary_permutation_test(apart, members, side)["p_value"] == 2 / 20


def test_the_boundary_permutation_test_holds_its_level_under_the_null():
    """No boundary effect, kinds far apart in skill: over 300 matrices of 4 +
    4 agents (70 relabelings each: p is a multiple of 1/70), p < 0.05 in about
    3/70 of them (1.5% to 8% allowed)."""
    rng = np.random.default_rng(0)
    side = np.repeat([0, 1], 4)
    ps = []
    for _ in range(300):
        skill = rng.normal(0.0, 1.0, 8) + 2.0 * side
        m = skill[:, None] + skill[None, :] + rng.normal(5.0, 0.5, (8, 8))
        ps.append(boundary_permutation_test(m, np.arange(8), side)["p_value"])
    assert 0.015 <= np.mean(np.array(ps) < 0.05) <= 0.08


def test_the_seed_permutation_test_takes_another_statistic():
    """With `statistic`, T is that statistic of the low group less the high
    group's, over the same relabelings: the boundary's cost at each of two
    coefficients, units (a kind and a seed) keeping their kind when swapped."""
    rng = np.random.default_rng(4)
    m = rng.normal(5.0, 1.0, (12, 12))
    side = np.tile(np.repeat([0, 1], 3), 2)  # agents 0-5 low, 6-11 high
    low, high = np.arange(6), np.arange(6, 12)

    def cost(members):
        return boundary_gap(m, members, side)

    got = seed_permutation_test(m, low, high, statistic=cost)
    assert got["exact"] and got["relabelings"] == 64
    assert got["statistic"] == pytest.approx(cost(low) - cost(high))
    assert got["gap_low"] == pytest.approx(cost(low))
    swaps = [
        cost(np.where(f, high, low)) - cost(np.where(f, low, high))
        for f in itertools.product((False, True), repeat=6)
    ]
    assert got["p_value"] == pytest.approx(
        np.mean(np.array(swaps) >= got["statistic"] - 1e-12)
    )
