"""Verified fixed points (marl/tabular/verified.py): the Krawczyk test proves
fixed points known analytically (a stable one and a saddle), refuses the fold
counterexample of issue 44, proves the unique fixed point of catalogue games
above tau* (matrix games and Dec-POMDPs, micro Hanabi at a short horizon) and
proves two fixed points distinct below it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import games.tabular as catalogue
from games import compile_game, make_spec
from marl.tabular import history_form as hf
from marl.tabular import intervals as iv
from marl.tabular import verified
from marl.tabular.matrix_pg import payoff_matrix


def matrix(game: str) -> hf.HistoryForm:
    return hf.matrix_form(payoff_matrix(catalogue.make(game)).astype(np.float64))


def test_a_stable_fixed_point_known_analytically_is_proven():
    """Coordination on 2 actions, A = I: the uniform policies are a fixed point
    at every tau, stable for tau > 1/2 (F's Jacobian has eigenvalues +-1/(2 tau))."""
    v = verified.verify(hf.matrix_form(np.eye(2)), 0.6, np.full(4, 0.5))
    assert v.proven and v.radius >= 1e-3 and v.stable
    assert v.enclosure < 1e-10 and iv.contains(v.where, np.full(4, 0.5))
    assert iv.inside(v.where, v.box)
    np.testing.assert_array_equal(v.candidate, np.full(4, 0.5))


def test_a_saddle_is_proven_a_fixed_point_and_called_unstable():
    """At tau = 1/4 < 1/2 the uniform policies are a saddle (eigenvalue 2):
    still a fixed point, proven, and `stable` says it is not stable."""
    v = verified.verify(hf.matrix_form(np.eye(2)), 0.25, np.full(4, 0.5))
    assert v.proven and not v.stable


FOLD_GAME = np.array([[1.0, 0.0], [0.0, 0.5]])
FOLD_TAU = 0.16061811  # the symmetric branch x = sigma((1.5 x - 0.5) / tau) folds
FOLD_X = 0.12195072


def test_the_fold_counterexample_is_refused():
    """Issue 44: at tau_f (1 + 1e-7) the branch near x = 0.122 has just vanished;
    its ghost moves by 1.6e-8 per map step, which an estimate of the distance to
    a fixed point can mistake for one. The only fixed point is near action 1,
    0.876 away in total variation, and only it is proven."""
    form = hf.matrix_form(FOLD_GAME)
    tau = FOLD_TAU * (1 + 1e-7)
    ghost = np.array([FOLD_X, 1 - FOLD_X, FOLD_X, 1 - FOLD_X])
    refused = verified.verify(form, tau, ghost)
    assert not refused.proven and refused.radius is None and refused.box is None
    assert "no box passed" in refused.reason
    real = verified.settle(form, tau, np.array([0.9, 0.1, 0.9, 0.1]))
    proven = verified.verify(form, tau, real)
    assert proven.proven and proven.stable
    assert abs(proven.candidate[0] - FOLD_X) > 0.87


def test_two_fixed_points_just_below_the_fold_are_told_apart():
    """Below the fold the stable point (x = 0.1195 on the symmetric branch) and
    its saddle (x = 0.1244, from a sign change of x - sigma((1.5 x - 0.5) /
    tau)) are 4.9e-3 apart: each is proven unique in a box that excludes the
    other, and the two are proven distinct."""
    form = hf.matrix_form(FOLD_GAME)
    tau = FOLD_TAU * (1 - 1e-4)
    xs = np.linspace(0.10, 0.15, 50_001)
    gap = xs - 1 / (1 + np.exp(-(1.5 * xs - 0.5) / tau))
    roots = xs[np.nonzero(np.diff(np.sign(gap)))[0]]
    assert roots.size == 2
    found = [verified.verify(form, tau, np.array([x, 1 - x, x, 1 - x])) for x in roots]
    stable, saddle = found
    assert stable.proven and stable.stable
    assert saddle.proven and not saddle.stable
    assert iv.apart(stable.where, saddle.where)
    assert not iv.contains(stable.box, saddle.candidate)
    assert not iv.contains(saddle.box, stable.candidate)


@pytest.mark.parametrize(
    ("game", "tau"),
    # Above each game's tau* bracket (docs/studies/tabular_main_job.md): (0.5,
    # 0.504], (0.216, 0.219], (8.21, 8.28], (25.1, 25.4].
    [("coordination_2", 0.6), ("lever", 0.3), ("climbing", 9.0), ("penalty", 26.0)],
)
def test_matrix_games_fixed_points_above_tau_star_are_proven(game, tau):
    form = matrix(game)
    v = verified.verify(form, tau, verified.settle(form, tau, hf.uniform(form)))
    assert v.proven and v.stable and v.radius >= 1e-4 and v.enclosure < 1e-10
    n = form.info_vars.shape[1]
    assert v.candidate[:n].sum() == pytest.approx(1)


@pytest.mark.parametrize(
    ("game", "horizon", "tau"),
    # Above the tau* brackets of docs/studies/tabular_main_job.md: tiny_hanabi_b (0.297,
    # 0.301], tiny_hanabi_c (0.821, 0.828], bad (4.08, 4.13], lewis_signalling (0.5,
    # 0.504]; Dec-Tiger's at horizon 3 is (10, 11.3] (here horizon 2); micro Hanabi at
    # horizon 3 (110 variables, illegal actions) at tau = 1.
    [
        ("tiny_hanabi_b", None, 0.35),
        ("tiny_hanabi_c", None, 0.9),
        ("bad", None, 4.5),
        ("lewis_signalling", None, 0.6),
        ("dectiger", 2, 12.0),
        ("hanabi_micro", 3, 1.0),
    ],
)
def test_dec_pomdp_fixed_points_above_tau_star_are_proven(game, horizon, tau):
    """Each is proven, and proven again over the merged histories
    (`history_form.merged`, the form the experiments prove with): the two
    enclosures overlap."""
    spec = make_spec(game, horizon)
    form = hf.game_form(spec, compile_game(spec))
    v = verified.verify(form, tau, verified.settle(form, tau, hf.uniform(form)))
    assert v.proven and v.stable and v.radius >= 1e-5 and v.enclosure < 1e-10
    rows = form.info_vars
    sums = np.array([v.candidate[r[r >= 0]].sum() for r in rows])
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    fewer = hf.merged(form)
    w = verified.verify(fewer, tau, v.candidate)
    assert w.proven and w.stable and w.enclosure < 1e-10
    assert not iv.apart(v.where, w.where)


@pytest.mark.parametrize(
    ("game", "horizon", "tau", "settled"),
    [
        ("tiny_hanabi_b", None, 0.5, True),  # proven at some radii
        ("lever", None, 0.25, True),
        ("dectiger", 2, 12.0, False),  # candidates far from a fixed point
        ("coordination_3", None, 0.3, False),
    ],
)
def test_radii_below_the_floor_fail_and_skipping_them_changes_no_verdict(
    game, horizon, tau, settled, monkeypatch
):
    """`smallest_passing_radius` rules out only boxes that fail: every radius
    at or below it fails the full test, and the verdicts (radius proven,
    enclosure) are those of the scan without the floor."""
    spec = make_spec(game, horizon)
    form = hf.game_form(spec, compile_game(spec))
    starts = verified.search_starts(form, [])[:3]
    if settled:
        starts = verified.settle_many(form, tau, starts)
    with_floor = [verified.verify(form, tau, z) for z in starts]
    for z in starts:
        z, jac = verified.polish(form, tau, z)
        c = np.linalg.inv(jac)
        newton = verified.newton_part(form, tau, z, c)
        floor = verified.smallest_passing_radius(z, newton)
        for radius in (r for r in verified.RADII if r <= floor):
            box = verified.relative_box(z, radius)
            assert verified.krawczyk_inside(form, tau, z, box, c) is None
    monkeypatch.setattr(verified, "smallest_passing_radius", lambda z, n: 0.0)
    without = [verified.verify(form, tau, z) for z in starts]
    for a, b in zip(with_floor, without, strict=True):
        assert (a.proven, a.radius, a.enclosure, a.reason) == (
            b.proven,
            b.radius,
            b.enclosure,
            b.reason,
        )
    assert any(v.proven for v in without) or not settled


@pytest.mark.parametrize(
    ("game", "horizon", "tau", "settled"),
    [
        ("tiny_hanabi_b", None, 0.5, True),
        ("tiny_hanabi_b", None, 0.5, False),
        ("lever", None, 0.25, False),
        ("dectiger", 2, 12.0, False),
        ("dectiger", 2, 12.0, True),
    ],
)
def test_boxes_past_a_too_wide_spread_fail_and_skipping_them_changes_no_verdict(
    game, horizon, tau, settled, monkeypatch
):
    """Where `_krawczyk_image` says a box's spread alone is too wide, every
    larger radius fails the full test too; the verdicts (radius proven,
    enclosure) are those of the scan that tries them; and the rule skips
    boxes here (else this test could not fail)."""
    spec = make_spec(game, horizon)
    form = hf.game_form(spec, compile_game(spec))
    starts = verified.search_starts(form, [])[:3]
    if settled:
        starts = verified.settle_many(form, tau, starts)
    with_ceiling = [verified.verify(form, tau, z) for z in starts]
    skipped = 0
    for z in starts:
        z, jac = verified.polish(form, tau, z)
        c = np.linalg.inv(jac)
        newton = verified.newton_part(form, tau, z, c)
        found = []
        for radius in verified.RADII:
            box = verified.relative_box(z, radius)
            try:
                image, grows = verified._krawczyk_image(form, tau, z, box, c, newton)
            except ValueError:
                image, grows = None, False
            found.append((radius, image is not None, grows))
        for radius, _, grows in found:
            if grows:
                larger = [p for r, p, _ in found if r > radius]
                assert not any(larger), (game, settled, radius)
                skipped += len(larger)
    monkeypatch.setattr(verified, "SPREAD_MARGIN", math.inf)
    without = [verified.verify(form, tau, z) for z in starts]
    for a, b in zip(with_ceiling, without, strict=True):
        assert (a.proven, a.radius, a.enclosure, a.reason) == (
            b.proven,
            b.radius,
            b.enclosure,
            b.reason,
        )
    assert skipped > 0


def test_a_learner_s_float32_seeds_are_proven_at_one_fixed_point_and_apart_below():
    """verify_seeds on policies rounded to float32, as the learners leave them:
    above tau* every seed is proven at one fixed point; below it two
    conventions of tiny Hanabi B are proven distinct fixed points."""
    spec = make_spec("tiny_hanabi_b")
    form = hf.game_form(spec, compile_game(spec))
    starts = verified.search_starts(form, [])
    above = verified.settle_many(form, 0.35, starts[:4])
    report = verified.verify_seeds(form, 0.35, above.astype(np.float32))
    assert report.proven == 4 and report.one_fixed_point
    assert report.distinct_fixed_points == 1
    # One test; the other seeds lie in its box, within float32's rounding.
    assert report.tests_run == 1 and report.largest_distance < 1e-7
    below = verified.settle_many(form, 0.2, starts)
    report = verified.verify_seeds(form, 0.2, below.astype(np.float32))
    assert report.distinct_fixed_points >= 2 and not report.one_fixed_point


def test_a_seed_whose_polish_lands_in_a_proven_box_needs_no_test_of_its_own(
    monkeypatch,
):
    """Seeds 3% off tiny Hanabi B's fixed point (outside its proven box and
    too far to widen it): one test proves the fixed point, the other seeds'
    Newton polish lands in its box; with every seed tested alone, the report
    is the same but for the count of tests; a line is said after each test."""
    spec = make_spec("tiny_hanabi_b")
    form = hf.game_form(spec, compile_game(spec))
    settled = verified.settle_many(form, 0.35, verified.search_starts(form, [])[:4])
    noise = np.random.default_rng(0).uniform(-1, 1, settled.shape)
    seeds = settled * (1 + 0.03 * noise)
    lines: list[str] = []
    shortcut = verified.verify_seeds(form, 0.35, seeds, lines.append)
    assert len(lines) == 1 and lines[0].startswith("seed 1 of 4: proven (")
    monkeypatch.setattr(verified, "_polished_home", lambda *args: -1)
    alone = verified.verify_seeds(form, 0.35, seeds)
    assert shortcut.tests_run == 1 and alone.tests_run == 4
    assert shortcut.one_fixed_point and alone.one_fixed_point
    for key in ("proven", "stable", "distinct_fixed_points", "largest_distance"):
        assert getattr(shortcut, key) == pytest.approx(getattr(alone, key), rel=1e-9), (
            key
        )
    assert 0.01 < shortcut.largest_distance < 0.05


def test_probabilities_that_underflow_float64_are_refused_not_raised():
    """QMIX's two-step game at its bracket (tau ~ 8e-4): the learner's float32
    seeds hold exact zeros (probabilities below exp(-1000)); the test refuses
    them in words, and a seed's report says none is proven."""
    spec = make_spec("qmix_two_step")
    form = hf.game_form(spec, compile_game(spec))
    settled = verified.settle(form, 8e-4, hf.uniform(form))  # entries ~1e-16
    seed = np.where(settled < 1e-12, 0.0, settled).astype(np.float32)
    refused = verified.verify(form, 8e-4, seed)
    assert not refused.proven and "too small for the test" in refused.reason
    report = verified.verify_seeds(form, 8e-4, np.stack([seed, settled]))
    assert report.proven == 0 and report.distinct_fixed_points == 0


def test_a_tau_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="tau > 0"):
        verified.verify(hf.matrix_form(np.eye(2)), 0.0, np.full(4, 0.5))


def test_the_uniqueness_search_finds_lever_s_second_fixed_point_at_its_upper_end(
    monkeypatch,
):
    """lever's tau* bracket ends at 0.219 (32 seeds agree there), yet from a
    softened pure start the flow reaches a second, stable fixed point (one
    lever chosen with probability 0.76), proven distinct; at tau = 0.3 every
    start ends at the agreed one."""
    form = matrix("lever")
    uniform = hf.uniform(form)
    starts = verified.search_starts(form, [])
    assert starts.shape == (1 + 100, 20)
    at_end = verified.second_fixed_point_search(
        form, 0.2189, verified.settle(form, 0.2189, uniform), starts
    )
    assert at_end.agreed_proven and at_end.second_fixed_point
    assert at_end.second_stable and max(at_end.second[:10]) > 0.7
    above = verified.second_fixed_point_search(
        form, 0.3, verified.settle(form, 0.3, uniform), starts
    )
    assert above.agreed_proven and not above.second_fixed_point
    assert above.proven_fixed_points == 1
    # Two ends of the search proven at one fixed point (enclosures that meet)
    # count once, however far apart the ends themselves were.
    second = verified.verify(form, 0.2189, at_end.second)
    ends = np.stack([at_end.second, np.roll(at_end.second, 1)])
    monkeypatch.setattr(verified, "settle_many", lambda *args: ends)
    monkeypatch.setattr(verified, "point_map", lambda form, tau, z: z)  # settled
    monkeypatch.setattr(verified, "verify", lambda *args: second)
    twice = verified.second_fixed_point_search(form, 0.2189, uniform, ends)
    assert twice.ends_tried == 2 and twice.proven_fixed_points == 1


def test_the_uniqueness_search_of_a_dec_pomdp_draws_its_pure_starts():
    """Micro Hanabi at horizon 3 has too many pure joint policies to try them
    all: DRAWN_STARTS of them, softened. At tau = 0.1 the search proves a
    second fixed point; at tau = 1 it finds none."""
    spec = make_spec("hanabi_micro", 3)
    form = hf.game_form(spec, compile_game(spec))
    starts = verified.search_starts(form, [])
    assert starts.shape == (1 + verified.DRAWN_STARTS, form.size)
    uniform = hf.uniform(form)
    low = verified.second_fixed_point_search(
        form, 0.1, verified.settle(form, 0.1, uniform), starts
    )
    assert low.second_fixed_point and low.settled == len(starts)
    high = verified.second_fixed_point_search(
        form, 1.0, verified.settle(form, 1.0, uniform), starts
    )
    assert high.agreed_proven and not high.second_fixed_point
