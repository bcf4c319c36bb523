"""Uniqueness over the whole policy space (marl/tabular/uniqueness.py): the
matrix-game enclosure holds F at every policy of a box (sampled), its linear
bound is the exact optimum of the box-and-simplex LP where the box is a
point; the branch-and-bound proves lever and coordination_10 unique just
above their folds and finds, below them, a second fixed point the Krawczyk
test proves; tau_unique brackets the closed-form folds with both ends
proven."""

from __future__ import annotations

import numpy as np
import pytest

import games.tabular as catalogue
from marl.tabular import continuation as ct
from marl.tabular import history_form as hf
from marl.tabular import intervals as iv
from marl.tabular import logit_newton as ln
from marl.tabular import uniqueness as un
from marl.tabular import verified
from marl.tabular.matrix_pg import payoff_matrix

FOLD = {
    "lever": 0.219411561,
    "coordination_10": 0.219308896,
    "coordination_3": 0.364213,
}


def payoff(name: str) -> np.ndarray:
    return payoff_matrix(catalogue.make(name)).astype(np.float64)


def policies_near(rng: np.random.Generator, centre: np.ndarray, n: int, count: int):
    """Policies within 0.1 of `centre` (two simplices, of sizes n and the
    rest) in every coordinate: (1 - 0.1) centre + 0.1 w, w drawn at random
    from both simplices, with the corners of the simplices among them."""
    m = centre.size - n
    draws = [
        np.concatenate(
            [rng.dirichlet(np.ones(n) * 0.3), rng.dirichlet(np.ones(m) * 0.3)]
        )
        for _ in range(count)
    ]
    corners = [np.concatenate([np.eye(n)[k % n], np.eye(m)[k % m]]) for k in range(n)]
    return np.array([0.9 * centre + 0.1 * w for w in draws + corners])


@pytest.mark.parametrize("name", ["lever", "climbing", "qtran_one_step"])
def test_the_matrix_enclosure_holds_f_at_every_policy_of_a_box(name):
    a = payoff(name)
    n, m = a.shape
    form = hf.matrix_form(a)
    rng = np.random.default_rng(0)
    tau = float(np.abs(a).max()) * 0.3
    # Half uniform: every probability of the centre at least 1 / (2 * 10).
    centre = 0.5 * np.concatenate(
        [rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))]
    )
    centre += 0.5 * np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    box = un.to_simplices(
        form,
        iv.Interval(np.maximum(centre - 0.15, 1e-3), np.minimum(centre + 0.15, 1.0)),
    )
    assert box is not None
    image = un.matrix_image(a, tau)(iv.Interval(box.lo[None], box.hi[None])).at(0)
    for z in policies_near(rng, centre, n, 200):
        assert (box.lo <= z).all() and (z <= box.hi).all()
        f = hf.point_map_one(form, tau, z)
        assert (image.lo <= f + 1e-15).all() and (f <= image.hi + 1e-15).all()
    # The history form's looser enclosure holds it too, and is wider.
    wide = hf.fixed_point_map(form, tau, box)
    assert (iv.width(image) <= iv.width(wide) + 1e-12).all()


def test_the_linear_bound_is_the_lp_optimum():
    """Over {lo <= z <= hi, sum z = 1} the greedy fill is optimal: the bound
    equals it (to rounding) and no sampled policy exceeds it."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        c = rng.normal(size=6)
        lo = rng.uniform(0, 0.1, 6)
        hi = lo + rng.uniform(0, 0.5, 6)
        if lo.sum() > 1 or hi.sum() < 1:
            continue
        low, high = un.linear_range(c[None], lo, hi)
        z = lo.copy()
        mass = 1 - lo.sum()
        for k in np.argsort(-c):  # the greedy optimum
            add = min(hi[k] - lo[k], mass)
            z[k] += add
            mass -= add
        assert high[0] == pytest.approx(c @ z, abs=1e-12)
        assert high[0] >= c @ z and low[0] <= high[0]


@pytest.mark.parametrize("name", ["lever", "coordination_10"])
def test_uniqueness_is_proven_just_above_the_fold(name):
    a = payoff(name)
    form = hf.matrix_form(a)
    tau = 0.222  # 1.2% above the fold
    y = ln.initial_point(form, tau)
    v = verified.verify(form, tau, np.exp(y[:-1]))
    assert v.proven
    proof = un.prove_unique(form, tau, v.box, un.matrix_image(a, tau))
    assert proof.proven and proof.left == 0 and proof.boxes > 1


def test_below_the_fold_the_search_finds_a_second_fixed_point():
    """lever at 0.21 < 0.2194: the branch-and-bound cannot end; the box it
    stops at holds a fixed point the Krawczyk test proves, apart from the
    principal one."""
    a = payoff("lever")
    form = hf.matrix_form(a)
    tau = 0.21
    y = ln.initial_point(form, tau)
    v = verified.verify(form, tau, np.exp(y[:-1]))
    proof = un.prove_unique(form, tau, v.box, un.matrix_image(a, tau))
    assert not proof.proven and proof.witness is not None
    second = verified.verify(form, tau, proof.witness)
    assert second.proven and iv.apart(second.where, v.where)


@pytest.mark.parametrize("name", ["lever", "coordination_10"])
def test_tau_unique_brackets_the_fold_with_both_ends_proven(name):
    a = payoff(name)
    form = hf.matrix_form(a)
    diagram = ct.trace(form, ct.Settings(tau_max=2.0, tau_min=0.05))
    found = un.tau_unique(form, diagram, lambda tau: un.matrix_image(a, tau))
    assert found.lower_proven and found.upper_proven
    assert found.lower < FOLD[name] < found.upper < FOLD[name] * 1.01
    assert found.lower_fixed_points >= 2
    assert found.attempts[-1].proven


def test_a_sequential_game_gets_the_tracers_upper_end_and_says_why():
    spec = catalogue.make_spec("tiny_hanabi_a")
    form = hf.game_form(spec, catalogue.compile_game(spec))
    diagram = ct.trace(
        form,
        ct.Settings(tau_max=2.0, tau_min=0.05),
        verified.search_starts(form, []),
    )
    found = un.tau_unique(form, diagram, None)
    assert found.lower_proven and not found.upper_proven
    assert found.lower < found.estimate < found.upper
    assert any("2-player matrix games" in note for note in found.notes)
