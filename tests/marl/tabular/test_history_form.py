"""The fixed-point map over terminal histories (marl/tabular/history_form.py)
agrees with the analytic map of a matrix game and with the exact engine's
natural policy-gradient direction on Dec-POMDPs; its interval Jacobian
encloses the map's derivatives over a box."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games import compile_game, make_spec
from games.tabular.compile import float64_histories
from marl.tabular import history_form as hf
from marl.tabular import intervals as iv
from marl.tabular.exact import softmax_policy
from marl.tabular.exact_pg import ExactPGConfig, make_objective, natural_direction


def softmax(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - u.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_a_matrix_game_s_map_is_softmax_of_the_payoff_against_the_other():
    rng = np.random.default_rng(0)
    payoff = rng.normal(size=(3, 4))
    form = hf.matrix_form(payoff)
    x, y, tau = softmax(rng.normal(size=3)), softmax(rng.normal(size=4)), 0.7
    got = hf.point_map(form, tau, np.concatenate([x, y]))
    want = np.concatenate([softmax(payoff @ y / tau), softmax(payoff.T @ x / tau)])
    np.testing.assert_allclose(got, want, atol=1e-14)
    box = hf.fixed_point_map(form, tau, iv.point(np.concatenate([x, y])))
    assert iv.contains(box, want) and iv.width(box).max() < 1e-13


@pytest.mark.parametrize(
    ("name", "horizon"),
    [("tiny_hanabi_b", None), ("dectiger", 2), ("hanabi_micro", 3)],
)
def test_the_map_is_the_soft_best_response_of_the_exact_engine(name, horizon):
    """At a random joint policy, F = softmax(Q / tau) per information state,
    Q from the exact engine's NPG direction d = Q - tau (log pi + 1) (float32,
    JAX autodiff): softmax(d / tau + log pi) is F. Legal actions only (micro
    Hanabi has illegal ones)."""
    spec = make_spec(name, horizon)
    game = compile_game(spec)
    form = hf.game_form(spec, game)
    tau = 0.8
    keys = jax.random.split(jax.random.key(0), len(game.num_infostates))
    logits = tuple(
        jax.random.normal(k, (n, len(a)))
        for k, n, a in zip(keys, game.num_infostates, game.action_names, strict=True)
    )
    objective = make_objective(game, ExactPGConfig())
    step = natural_direction(game, logits, jnp.float32(tau), objective, "reach")
    legal = game.legal or (None,) * len(logits)
    engine = tuple(
        jax.nn.softmax(d / tau + jax.nn.log_softmax(x, where=m), axis=-1, where=m)
        for d, x, m in zip(step.direction, logits, legal, strict=True)
    )
    policy = softmax_policy(logits, game.legal)
    got = hf.point_map(form, tau, hf.flatten(form, policy))
    np.testing.assert_allclose(got, hf.flatten(form, engine), atol=2e-5)


def test_the_float64_histories_are_the_engine_s_before_float32():
    spec = make_spec("dectiger", 2)
    game = compile_game(spec, engine="enumeration")
    histories = float64_histories(spec, game)
    assert histories.chance.dtype == np.float64
    np.testing.assert_array_equal(
        histories.chance.astype(np.float32), np.asarray(game.chance)
    )
    np.testing.assert_array_equal(
        histories.returns.astype(np.float32), np.asarray(game.returns)
    )
    for mine, theirs in zip(histories.infostate, game.infostate, strict=True):
        np.testing.assert_array_equal(mine, np.asarray(theirs))


def test_the_jacobian_encloses_the_map_s_derivatives_over_a_box():
    """Central differences of F (float64) at points of a box lie in the
    interval Jacobian of that box (its width dominates the differences' error)."""
    spec = make_spec("tiny_hanabi_c")
    form = hf.game_form(spec, compile_game(spec))
    tau = 0.9
    rng = np.random.default_rng(1)
    center = hf.point_map(form, tau, hf.uniform(form))
    box = iv.Interval(center * (1 - 1e-2), center * (1 + 1e-2))
    enclosure = hf.jacobian(form, tau, box)  # I - F'
    for _ in range(3):
        z = rng.uniform(box.lo, box.hi)
        h = 1e-6
        derivative = np.stack(
            [
                (
                    hf.point_map(form, tau, z + h * e)
                    - hf.point_map(form, tau, z - h * e)
                )
                / (2 * h)
                for e in np.eye(form.size)
            ],
            axis=1,
        )
        assert iv.contains(enclosure, np.eye(form.size) - derivative)


def test_flatten_keeps_the_legal_actions_and_too_large_games_are_named(monkeypatch):
    spec = make_spec("hanabi_micro", 3)
    game = compile_game(spec)
    form = hf.game_form(spec, game)
    legal = [np.asarray(m) for m in game.legal]
    assert form.size == sum(int(m.sum()) for m in legal)
    ones = tuple(np.where(m, 1.0, 0.0) for m in legal)
    assert (hf.flatten(form, ones) == 1.0).all()
    assert hf.too_large(spec, game) is None
    monkeypatch.setattr(hf, "MAX_VARIABLES", 100)
    assert hf.too_large(spec, game) == "110 policy variables, over 100"
    monkeypatch.setattr(hf, "MAX_VARIABLES", 800)
    monkeypatch.setattr(hf, "MAX_TERMS", 1000)
    assert "Jacobian terms" in hf.too_large(spec, game)
    # Told before enumerating: Dec-Tiger at horizon 6 has 24 million histories.
    tiger = make_spec("dectiger", 6)
    assert "policy variables" in hf.too_large(tiger, compile_game(tiger))


@pytest.mark.parametrize(("name", "horizon"), [("dectiger", 2), ("box_pushing", 2)])
def test_merged_bounds_enclose_each_group_s_exact_chance_and_mean_return(name, horizon):
    """`merged` encloses every group's exact total chance and chance-weighted
    mean return (rational arithmetic over the histories' float64 data), so the
    interval map over fewer histories still encloses the exact one; a history
    alone in its group keeps its bounds; a matrix game is returned as is."""
    from fractions import Fraction

    spec = make_spec(name, horizon)
    game = compile_game(spec)
    histories = float64_histories(spec, game)
    form = hf.game_form(spec, game)
    exact = form._replace(
        chance=iv.point(histories.chance), returns=iv.point(histories.returns)
    )
    fewer = hf.merged(exact)
    assert fewer.taken.shape[0] < form.taken.shape[0]
    groups: dict[tuple[int, ...], list[int]] = {}
    for h, row in enumerate(map(tuple, exact.taken)):
        groups.setdefault(row, []).append(h)
    assert len(groups) == fewer.taken.shape[0]
    for g, row in enumerate(map(tuple, fewer.taken)):
        members = groups[row]
        chance = sum(Fraction(float(histories.chance[h])) for h in members)
        weighted = sum(
            Fraction(float(histories.chance[h])) * Fraction(float(histories.returns[h]))
            for h in members
        )
        assert Fraction(float(fewer.chance.lo[g])) <= chance
        assert chance <= Fraction(float(fewer.chance.hi[g]))
        if chance > 0:
            mean = weighted / chance
            assert Fraction(float(fewer.returns.lo[g])) <= mean
            assert mean <= Fraction(float(fewer.returns.hi[g]))
        if len(members) == 1:
            alone = histories.chance[members[0]]
            assert fewer.chance.lo[g] == fewer.chance.hi[g] == alone
    assert (iv.width(fewer.returns) <= 1e-12 * np.abs(fewer.returns.hi).max()).all()
    matrix = hf.matrix_form(np.arange(6.0).reshape(2, 3))
    assert hf.merged(matrix) is matrix
