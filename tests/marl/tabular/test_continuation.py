"""The continuation tracer (marl/tabular/continuation.py) against closed forms:
coordination_n's symmetric branch point at tau = 1/n and the fold of its
(x, y, ..., y) branch, tau = (y - x) / ln((1 - x) / ((n - 1) x)) at its
largest over x in (1/n, 1) (issue 56); the lever game's fold; logit and
probability coordinates agreeing on the spectrum; and the branch seeded from
below on tiny Hanabi A, whose two fixed points the Krawczyk test proves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from games.tabular import compile_game, make_spec, set_horizon
from marl.tabular import continuation as ct
from marl.tabular import history_form as hf
from marl.tabular import logit_newton as ln
from marl.tabular import verified

SETTINGS = ct.Settings(tau_max=2.0, tau_min=0.05)


def form_of(name: str, horizon: int | None = None) -> hf.HistoryForm:
    spec = make_spec(name)
    if horizon is not None:
        spec = set_horizon(spec, horizon)
    return hf.game_form(spec, compile_game(spec))


def closed_form_fold(n: int) -> float:
    """max over x in (1/n, 1) of (y - x) / ln((1 - x) / ((n - 1) x)), by golden
    section (the function is unimodal there)."""

    def tau(x: float) -> float:
        y = (1 - x) / (n - 1)
        return (y - x) / math.log((1 - x) / ((n - 1) * x))

    low, high = 1 / n + 1e-9, 1 - 1e-12
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(200):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        low, high = (a, high) if tau(a) < tau(b) else (low, b)
    return tau((low + high) / 2)


def test_closed_form_fold_is_the_issue_figures():
    assert closed_form_fold(3) == pytest.approx(0.364213, abs=5e-7)
    assert closed_form_fold(10) == pytest.approx(0.219309, abs=5e-7)


@pytest.mark.parametrize("n", [3, 4, 10])
def test_coordination_folds_and_branch_point_equal_their_closed_forms(n):
    """The principal (uniform) branch loses stability at tau = 1/n, where n - 1
    eigenvalues cross together; the branch favouring one action leaves it
    there and turns back at the closed-form fold, stable below it (towards
    the coordinated policy)."""
    form = hf.matrix_form(np.eye(4)) if n == 4 else form_of(f"coordination_{n}")
    diagram = ct.trace(form, SETTINGS)
    (point,) = diagram.branch_points
    assert point.tau == pytest.approx(1 / n, rel=1e-7)
    assert point.crossing == n - 1
    assert point.branch == 0
    fold = max(diagram.folds, key=lambda f: f.tau)
    assert fold.tau == pytest.approx(closed_form_fold(n), abs=1e-9)
    assert ct.unique_above(diagram) == pytest.approx(closed_form_fold(n), abs=1e-9)
    principal = diagram.principal
    np.testing.assert_allclose(principal.policies, 1 / n, atol=1e-9)
    assert principal.stable[principal.taus > 1 / n + 1e-6].all()
    assert not principal.stable[principal.taus < 1 / n - 1e-6].any()
    high = diagram.branches[fold.branch]
    assert high.stable[-1] and high.returns[-1] > 0.99  # coordinated at tau_min
    assert not high.stable[1]  # the half between the branch point and the fold


def test_lever_fold_is_the_issue_figure_and_its_isola_is_found_from_below(
    monkeypatch,
):
    """lever: the branch favouring one of the 1.0 levers folds at 0.219412
    (issue 56); the fixed point on the 0.9 lever is no branch of the
    principal one (the same symmetry), and is found only by the starts from
    below; its fold lies below the other."""
    form = form_of("lever")
    alone = ct.trace(form, SETTINGS)
    assert max(f.tau for f in alone.folds) == pytest.approx(0.219412, abs=5e-7)
    # The coordinated pure profiles, softened (search_starts: the uniform
    # policy, then the pure profiles in row-major order).
    starts = verified.search_starts(form, [])[1 + 11 * np.arange(10)]
    lines: list[str] = []
    monkeypatch.setattr(ct, "PROGRESS_SECONDS", 0.0)  # a line at every point
    seeded = ct.trace(form, SETTINGS, starts, progress=lines.append)
    assert ct.unique_above(seeded) == pytest.approx(0.219412, abs=5e-7)
    # It says what it traces (a long trace is never silent).
    assert lines[0].startswith("branch 1 from tau = ")
    assert "settling 10 starts at tau = " in "\n".join(lines)
    assert any(line.startswith("branch 1: at tau = ") for line in lines)
    assert sum(
        line.startswith("branch ") and " from " in line for line in lines
    ) >= len(seeded.branches)
    lever_09 = int(np.argmin(np.diag(form.returns.lo.reshape(10, 10))))
    (index,) = [
        k for k, b in enumerate(seeded.branches) if b.policies[0, lever_09] > 0.9
    ]
    best = seeded.branches[index]
    assert best.stable[0] and best.returns[0] > 0.89
    (fold,) = [f for f in seeded.folds if f.branch == index]
    assert 0.15 < fold.tau < 0.219


def test_a_branch_that_climbs_the_principal_branch_again_is_not_a_second_fixed_point():
    """lever from below at the two-lever mix (both agents 1/2 on two of the
    1.0 levers): its branch rises to the principal branch's 9-fold branch
    point, and one of the branches leaving that point climbs the principal
    branch to tau_max. Traced, it ends where the principal branch starts: the
    same fixed points, so uniqueness above the fold at 0.219412 stands (it was
    reported above tau_max's 2.0, a second fixed point everywhere)."""
    form = form_of("lever")
    mix = np.full((2, 10), 1e-3)
    mix[:, :2] = 0.5
    mix /= mix.sum(axis=1, keepdims=True)
    diagram = ct.trace(form, SETTINGS, mix.reshape(1, -1))
    from_below = [k for k, b in enumerate(diagram.branches) if b.parent < 0][1:]
    assert from_below and any(b.parent in from_below for b in diagram.branches)
    assert all(b.taus.max() < SETTINGS.tau_max for b in diagram.branches[1:])
    assert ct.unique_above(diagram) == pytest.approx(0.219412, abs=5e-7)


@pytest.mark.parametrize(
    ("name", "horizon", "tau"),
    [("tiny_hanabi_b", None, 0.7), ("lever", None, 0.7), ("dectiger", 2, 20.0)],
)
def test_logit_jacobian_is_the_history_forms_and_has_its_spectrum(name, horizon, tau):
    """The tracer's H_x (float64, by pairs of decisions) equals central
    differences of log F, and I - D^-1 F' D from the interval history form's
    Jacobian G' = I - F' (D = diag pi); at a fixed point it is similar to G':
    the same eigenvalues. H_s equals its differences too."""
    form = form_of(name, horizon)
    y = ln.initial_point(form, tau)
    z = np.exp(y[:-1])
    h_x, h_s = ln.jacobians(form, y)
    differences = ln.difference_jacobians(form, y)
    scale = max(1.0, float(np.abs(h_x).max()))
    np.testing.assert_allclose(h_x, differences[0], atol=1e-7 * scale)
    np.testing.assert_allclose(h_s, differences[1], atol=1e-7 * scale)
    f_prime = np.eye(z.size) - hf.point_jacobian(form, tau, z)
    np.testing.assert_allclose(
        h_x, np.eye(z.size) - f_prime * z[None, :] / z[:, None], atol=1e-9 * scale
    )
    g = np.eye(z.size) - f_prime
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvals(h_x).real),
        np.sort(np.linalg.eigvals(g).real),
        atol=1e-6 * scale,
    )


@pytest.mark.parametrize(
    ("name", "horizon", "tau"),
    [("tiny_hanabi_b", None, 0.7), ("lever", None, 0.2), ("dectiger", 2, 20.0)],
)
def test_the_reduced_spectrum_is_the_full_matrixs(name, horizon, tau):
    """`eigenvalues` (from the n - K dimensions off P's kernel) against
    numpy's of the whole H_x: K ones, and the rest equal; the tracer's
    stability count the same. Also off the fixed point (a perturbed y, where
    H_x = I - P J still holds)."""
    form = form_of(name, horizon)
    y = ln.initial_point(form, tau)
    for point in (y, y + np.append(np.linspace(-0.3, 0.3, form.size), 0.0)):
        h_x, _ = ln.jacobians(form, point)
        reduced = ln.eigenvalues(form, point, h_x)
        full = np.linalg.eigvals(h_x)
        assert reduced.shape == full.shape
        assert ln.unstable(reduced) == ln.unstable(full)
        scale = max(1.0, float(np.abs(full).max()))
        for values in (reduced, full):
            assert (np.abs(values - 1.0) < 1e-6).sum() >= form.num_infos
        np.testing.assert_allclose(
            np.sort_complex(reduced), np.sort_complex(full), atol=1e-6 * scale
        )


def test_pair_scatter_refuses_a_history_taking_a_variable_twice():
    """The Jacobians' scatter leaves the pairs' diagonal out by zeroing it,
    which is right only when a history's decisions are distinct variables."""
    form = form_of("lever", None)
    assert hf.pair_scatter(form) is hf.pair_scatter(form)  # built once
    twice = form._replace(taken=np.repeat(form.taken[:, :1], 2, axis=1))
    with pytest.raises(ValueError, match="same policy variable twice"):
        hf.pair_scatter(twice)


def test_tiny_hanabi_a_has_a_second_fixed_point_proven_at_tau_0_2():
    """No branch point on tiny Hanabi A's principal branch, but a second
    branch seeded from below, folding above 0.2: at tau = 0.2 its point and
    the principal one are proven distinct fixed points (issue 56 saw 24 and 8
    seeds land on two)."""
    form = form_of("tiny_hanabi_a")
    diagram = ct.trace(form, SETTINGS, verified.search_starts(form, []))
    assert not diagram.branch_points
    assert ct.unique_above(diagram) > 0.2
    s = math.log(0.2)
    points = []
    for branch in diagram.branches[:2]:
        k = int(np.argmin(np.abs(np.log(branch.taus) - s)))
        y = np.append(np.log(branch.policies[k]), math.log(branch.taus[k]))
        y = ln.at_tau(form, y, 0.2)
        assert y is not None
        points.append(verified.verify(form, 0.2, np.exp(y[:-1])))
    assert all(v.proven for v in points)
    from marl.tabular import intervals as iv

    assert iv.apart(points[0].where, points[1].where)


def test_a_game_without_symmetry_changes_stability_only_at_folds():
    """tiny Hanabi C has no symmetry: generically its fixed points gain or
    lose stability only at folds. Steps of 0.4 across a change of stability
    once leapt onto a nearby branch (the corrector failing part way) and
    reported three branch points there; such steps are now halved to
    EVENT_STEP, and the one fold (0.8231) is all that is left."""
    form = form_of("tiny_hanabi_c")
    diagram = ct.trace(
        form,
        ct.Settings(tau_max=15.0, tau_min=0.06),
        verified.search_starts(form, []),
    )
    assert not diagram.branch_points and not diagram.hopf
    assert [round(f.tau, 4) for f in diagram.folds] == [0.8231]


def test_long_steps_on_many_variables_find_the_same_events_in_fewer_points(
    monkeypatch,
):
    """The step cap grows as the root of the variable count above
    STEP_VARIABLES (`step_cap`); symmetric matrix games keep 0.4. Dec-Tiger at
    horizon 2 (42 variables) traced with the cap of a 6x larger game's (1.0)
    crosses the same fold and ends uniqueness at the same tau as with 0.4, in
    fewer points."""
    assert ct.step_cap(ct.DEFAULT, hf.matrix_form(np.eye(10))) == 0.4
    form = hf.merged(form_of("dectiger", 2))
    span = float(form.returns.hi.max() - form.returns.lo.min())
    settings = ct.Settings(tau_max=5.0 * span, tau_min=0.02 * span)  # as proofs
    starts = verified.search_starts(form, [])
    diagrams = []
    for variables, cap in ((10**9, 0.4), (form.size / 6.25, 1.0)):
        monkeypatch.setattr(ct, "STEP_VARIABLES", variables)
        assert math.isclose(ct.step_cap(settings, form), cap)
        diagrams.append(ct.trace(form, settings, starts))
    short, long = diagrams
    assert [round(f.tau, 8) for f in long.folds] == [
        round(f.tau, 8) for f in short.folds
    ]
    assert len(long.folds) >= 1 and not long.branch_points
    assert math.isclose(ct.unique_above(long), ct.unique_above(short), rel_tol=1e-9)
    points = [sum(len(b.taus) for b in d.branches) for d in diagrams]
    assert points[1] < 0.7 * points[0], points


@pytest.mark.parametrize(
    ("name", "horizon"), [("dectiger", 2), ("broadcast_channel", 2)]
)
def test_merged_histories_give_the_same_map_jacobians_and_returns(name, horizon):
    """`merged` sums the chance of histories taking the same decisions: fewer
    histories, the same log F, Jacobians and expected return (but for the
    rounding of the sums), at a point off any fixed point."""
    form = form_of(name, horizon)
    fewer = hf.merged(form)
    assert fewer.taken.shape[0] < form.taken.shape[0]
    assert np.unique(fewer.taken, axis=0).shape == fewer.taken.shape  # distinct
    np.testing.assert_array_equal(fewer.info, fewer.var_info[fewer.taken])
    x = np.log(hf.uniform(form)) + np.linspace(-0.4, 0.4, form.size)
    y, z = np.append(x, math.log(0.5)), np.exp(x)
    np.testing.assert_allclose(
        hf.point_log_map(fewer, 0.5, z[None]), hf.point_log_map(form, 0.5, z[None])
    )
    for mine, theirs in zip(ln.jacobians(fewer, y), ln.jacobians(form, y), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-12 * np.abs(theirs).max())
    assert math.isclose(ln.expected_return(fewer, z), ln.expected_return(form, z))


def test_newton_from_a_known_jacobian_lands_where_newtons_method_does(monkeypatch):
    """The corrector started from a nearby point's Jacobian (the chord) finds
    the same point of the branch as Newton's method from scratch, with fewer
    Jacobians; and from a far-off Jacobian it takes fresh ones and still
    does."""
    form = form_of("dectiger", 2)
    a = ln.point_at(form, ln.initial_point(form, 30.0), np.append(np.zeros(42), -1))
    predictor = a.y + 0.3 * a.t
    offset = float(a.t @ predictor)
    taken = []
    jacobians = ln.jacobians
    monkeypatch.setattr(
        ln, "jacobians", lambda *args: taken.append(1) or jacobians(*args)
    )
    plain = ln.newton(form, predictor, a.t, offset)
    fresh = len(taken)
    chord = ln.newton(form, predictor, a.t, offset, (a.h_x, a.h_s))
    assert plain is not None and chord is not None
    assert len(taken) - fresh < fresh
    np.testing.assert_allclose(chord, plain, atol=1e-9)
    far = ln.point_at(form, ln.initial_point(form, 500.0), a.t)
    again = ln.newton(form, predictor, a.t, offset, (far.h_x, far.h_s))
    assert again is not None
    np.testing.assert_allclose(again, plain, atol=1e-9)
    assert np.abs(ln.residual(form, chord)).max() < ln.NEWTON_TOL
