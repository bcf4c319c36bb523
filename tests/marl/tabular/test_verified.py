"""Verified fixed points (marl/tabular/verified.py): the interval arithmetic
encloses exact results, the Krawczyk test proves fixed points known
analytically (a stable one and a saddle), refuses the fold counterexample of
issue 44, and proves the unique fixed point of catalogue games above tau*."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import games.tabular as catalogue
from marl.tabular import verified
from marl.tabular.matrix_pg import payoff_matrix


def test_interval_operations_enclose_the_exact_results():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    for op, exact in (
        (verified.add, lambda x, y: x + y),
        (verified.sub, lambda x, y: x - y),
        (verified.mul, lambda x, y: x * y),
    ):
        out = op(verified.point(a), verified.point(b))
        for lo, hi, x, y in zip(out.lo, out.hi, a, b, strict=True):
            value = exact(Fraction(x), Fraction(y))
            assert Fraction(lo) <= value <= Fraction(hi)
            assert lo < hi  # rounded outward, never to a point
    box = verified.Interval(a - 0.1, a + 0.1)
    p = verified.softmax(box)
    for _ in range(50):  # softmax at points of the box lies in its enclosure
        u = rng.uniform(box.lo, box.hi)
        e = np.exp(u - u.max())
        assert ((p.lo <= e / e.sum()) & (e / e.sum() <= p.hi)).all()


def test_a_stable_fixed_point_known_analytically_is_proven():
    """Coordination on 2 actions, A = I: the uniform policies are a fixed point
    at every tau, stable for tau > 1/2 (F's Jacobian has eigenvalues +-1/(2 tau))."""
    v = verified.verify(np.eye(2), 0.6, np.full(4, 0.5))
    assert v.proven and v.radius >= 1e-3 and v.stable
    assert v.enclosure < 1e-12
    np.testing.assert_array_equal(v.candidate, np.full(4, 0.5))


def test_a_saddle_is_proven_a_fixed_point_and_called_unstable():
    """At tau = 1/4 < 1/2 the uniform policies are a saddle (eigenvalue 2):
    still a fixed point, proven, and `stable` says it is not stable."""
    v = verified.verify(np.eye(2), 0.25, np.full(4, 0.5))
    assert v.proven and not v.stable


FOLD_GAME = np.array([[1.0, 0.0], [0.0, 0.5]])
FOLD_TAU = 0.16061811  # the symmetric branch x = sigma((1.5 x - 0.5) / tau) folds
FOLD_X = 0.12195072


def test_the_fold_counterexample_is_refused():
    """Issue 44: at tau_f (1 + 1e-7) the branch near x = 0.122 has just vanished;
    its ghost moves by 1.6e-8 per map step, which an estimate of the distance to
    a fixed point can mistake for one. The only fixed point is near action 1,
    0.876 away in total variation, and only it is proven."""
    tau = FOLD_TAU * (1 + 1e-7)
    ghost = np.array([FOLD_X, 1 - FOLD_X, FOLD_X, 1 - FOLD_X])
    refused = verified.verify(FOLD_GAME, tau, ghost)
    assert not refused.proven and refused.radius is None
    assert "no box passed" in refused.reason
    real = verified.settle(FOLD_GAME, tau, np.array([0.9, 0.1, 0.9, 0.1]))
    proven = verified.verify(FOLD_GAME, tau, real)
    assert proven.proven and proven.stable
    assert abs(proven.candidate[0] - FOLD_X) > 0.87


def test_two_fixed_points_just_below_the_fold_are_told_apart():
    """Below the fold the stable point and its saddle are 2.4e-3 apart: the box
    proven around the stable one is smaller than that (unique in its box)."""
    tau = FOLD_TAU * (1 - 1e-4)
    stable = verified.settle(FOLD_GAME, tau, np.array([0.01, 0.99, 0.01, 0.99]))
    v = verified.verify(FOLD_GAME, tau, stable)
    assert v.proven and v.stable and v.radius < 2.4e-3


@pytest.mark.parametrize(
    ("game", "tau"),
    # Above each game's tau* bracket (docs/tabular.md): (0.5, 0.504], (0.216,
    # 0.219], (8.21, 8.28], (25.1, 25.4].
    [("coordination_2", 0.6), ("lever", 0.3), ("climbing", 9.0), ("penalty", 26.0)],
)
def test_catalogue_fixed_points_above_tau_star_are_proven(game, tau):
    payoff = payoff_matrix(catalogue.make(game)).astype(np.float64)
    n, m = payoff.shape
    start = np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    v = verified.verify(payoff, tau, verified.settle(payoff, tau, start))
    assert v.proven and v.stable and v.radius >= 1e-3 and v.enclosure < 1e-10
    x, y = v.candidate[:n], v.candidate[n:]
    assert x.sum() == pytest.approx(1) and y.sum() == pytest.approx(1)


def test_a_tau_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="tau > 0"):
        verified.verify(np.eye(2), 0.0, np.full(4, 0.5))


def test_the_uniqueness_search_finds_lever_s_second_fixed_point_at_its_upper_end():
    """lever's tau* bracket ends at 0.219 (32 seeds agree there), yet from a
    softened pure start the flow reaches a second, stable fixed point (one
    lever chosen with probability 0.76), proven distinct; at tau = 0.3 every
    start ends at the agreed one."""
    payoff = payoff_matrix(catalogue.make("lever")).astype(np.float64)
    uniform = np.full(20, 0.1)
    starts = verified.search_starts(payoff, [])
    assert starts.shape == (1 + 100, 20)
    at_end = verified.second_fixed_point_search(
        payoff, 0.2189, verified.settle(payoff, 0.2189, uniform), starts
    )
    assert at_end["agreed_proven"] and at_end["second_fixed_point"]
    assert at_end["second_stable"] and max(at_end["second"][:10]) > 0.7
    above = verified.second_fixed_point_search(
        payoff, 0.3, verified.settle(payoff, 0.3, uniform), starts
    )
    assert above["agreed_proven"] and not above["second_fixed_point"]
    assert above["proven_fixed_points"] == 1
