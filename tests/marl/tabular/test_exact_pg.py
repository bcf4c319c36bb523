"""The exact learner: its special cases, fixed points and the uniqueness claim."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
from marl.fields import ConfigError
from marl.tabular import exact, exact_pg
from marl.tabular.crossplay import count_conventions, crossplay
from marl.tabular.equivariance import policy_symmetries
from marl.tabular.exact_pg import (
    ExactPGConfig,
    make_exact_pg,
    make_objective,
    natural_direction,
    train,
)
from marl.tabular.matrix_pg import make_matrix_trainer, supports
from marl.tabular.symmetry import symmetry_group
from marl.tabular.theory import uniqueness_bound
from marl.trainer import constant_schedules, make_trainer
from tests import catalogue, small_horizon
from tests.brute_force import small_spec, values

# The tabular room's catalogue: the micro Hanabi sizes that join it in
# `games.CATALOGUE` are Dec-POMDPs, and building their specs here took every
# xdist worker about 15 s of collection.
MATRIX_GAMES_2P = [
    name
    for name in sorted(games.tabular.CATALOGUE)
    if isinstance(spec := games.tabular.make_spec(name), games.MatrixGame)
    and spec.num_agents == 2
]


def final_policies(game, config, taus, num_seeds, seed=0):
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    states = train(game, config, keys=keys, taus=jnp.asarray(taus))
    return exact.softmax_policy(states.logits, game.legal), np.asarray(states.grad_norm)


def test_train_at_tau_zero_is_plain_softmax_policy_gradient():
    """tau = 0 through autodiff of J_tau equals SGD on the policy-gradient theorem."""
    game = games.make("tiny_hanabi_c")
    config = ExactPGConfig(steps=200, learning_rate=0.3)
    key = jax.random.key(3)
    states = train(game, config, keys=key[None], taus=jnp.zeros(1))
    logits = make_exact_pg(game, config).init(key).logits
    step = jax.jit(lambda x: exact.softmax_policy_gradient(game, x))
    for _ in range(config.steps):
        grad = step(logits)
        logits = tuple(
            x + config.learning_rate * g / game.reward_range
            for x, g in zip(logits, grad, strict=True)
        )
    for ours, plain in zip(states.logits, logits, strict=True):
        np.testing.assert_allclose(ours[0, 0], plain, atol=1e-4)


def test_train_with_adam_matches_an_optax_loop():
    game = games.make("climbing")
    config = ExactPGConfig(steps=50, optimizer="adam", learning_rate=0.05)
    key = jax.random.key(1)
    tau = 2.0
    states = train(game, config, keys=key[None], taus=jnp.array([tau]))
    logits = make_exact_pg(game, config).init(key).logits
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(logits)
    objective = jax.jit(
        jax.grad(
            lambda x: (
                -exact.regularized_objective(game, exact.softmax_policy(x), tau)
                / (game.reward_range + tau)
            )
        )
    )
    for _ in range(config.steps):
        updates, opt_state = optimizer.update(objective(logits), opt_state)
        logits = optax.apply_updates(logits, updates)
    for ours, loop in zip(states.logits, logits, strict=True):
        np.testing.assert_allclose(ours[0, 0], loop, atol=1e-5)


def test_lever_splits_into_conventions_at_tau_zero_and_agrees_at_tau_one():
    game = games.make("lever")
    policies, _ = final_policies(game, ExactPGConfig(), [0.0, 1.0, 3.0], 32)
    low = tuple(pi[0] for pi in policies)
    scores = crossplay(game, low)
    assert count_conventions(game, low, 1e-2) >= 5
    assert scores.sp > 0.95 and scores.xp < 0.3
    for t in (1, 2):
        high = tuple(pi[t] for pi in policies)
        scores = crossplay(game, high)
        assert count_conventions(game, high, 1e-3) == 1
        assert abs(scores.xp - scores.sp) < 1e-6


@pytest.mark.parametrize("name", MATRIX_GAMES_2P)
def test_seeds_agree_above_the_uniqueness_bound(name):
    """tau > sigma_max(P A P) / 2 makes J_tau strictly concave: one policy for all."""
    spec = games.make_spec(name)
    bound = uniqueness_bound(spec.payoff)
    game = games.compile_game(spec)
    config = ExactPGConfig(steps=4000)
    policies, grad_norm = final_policies(game, config, [1.05 * bound], 24, seed=7)
    joint = tuple(pi[0] for pi in policies)
    assert np.all(grad_norm < 1e-4)
    assert count_conventions(game, joint, 1e-3) == 1
    scores = crossplay(game, joint)
    assert abs(scores.xp - scores.sp) < 1e-5 * game.reward_range


def test_uniqueness_bound_of_pure_coordination():
    """P I P = P has singular values 1 (and 0), so the bound is 1/2."""
    assert uniqueness_bound(np.eye(7)) == pytest.approx(0.5)


@pytest.mark.slow
@pytest.mark.parametrize("name", catalogue())
def test_large_tau_drives_every_game_to_the_uniform_policy(name):
    game = games.make(name, small_horizon(name))
    tau = 1e3 * game.reward_range
    # With reach weighting, an information state's entropy pulls in proportion to
    # its reach: the Dec-POMDP benchmarks have states reached with probability
    # ~1e-3 that need ~1e5 steps (so has the micro Hanabi). The uniform weighting
    # has the same limit.
    rare = set(games.BENCHMARKS) | set(games.hanabi_tabular.MICRO)
    weighting = "uniform" if name in rare else "reach"
    config = ExactPGConfig(steps=1500, entropy_weighting=weighting)
    policies, _ = final_policies(game, config, [tau], 4)
    uniform = exact.softmax_policy(
        tuple(jnp.zeros(shape) for shape in game.policy_shapes), game.legal
    )  # over the legal actions
    for pi, expected in zip(policies, uniform, strict=True):
        np.testing.assert_allclose(pi, np.broadcast_to(expected, pi.shape), atol=2e-3)


def test_lever_fixed_point_at_high_tau_is_the_softmax_of_payoffs():
    """Above the bound the symmetric fixed point solves x = softmax(A x / tau)."""
    game = games.make("lever")
    tau = 2.0
    policies, _ = final_policies(game, ExactPGConfig(steps=3000), [tau], 2)
    x = np.asarray(policies[0][0, 0, 0])
    payoff = np.diag([1.0] * 9 + [0.9])
    np.testing.assert_allclose(
        x, np.exp(payoff @ x / tau) / np.exp(payoff @ x / tau).sum(), atol=1e-5
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("steps", 0),
        ("learning_rate", 0.0),
        ("optimizer", "rmsprop"),
        ("init_scale", -1.0),
        ("entropy_weighting", "everywhere"),
        ("policy_tol", 0.0),
    ],
)
def test_config_rejects_impossible_values_with_the_field_name(field, value):
    with pytest.raises(ConfigError, match=f"learner.{field}="):
        dataclasses.replace(ExactPGConfig(), **{field: value})


@pytest.mark.parametrize("steps, max_steps", [(60000, 20000), (5000, 10)])
def test_steps_beyond_max_steps_names_both_fields(steps, max_steps):
    # Whichever of the two the user set, both values are in the one line.
    with pytest.raises(ConfigError) as error:
        ExactPGConfig(steps=steps, max_steps=max_steps)
    assert f"learner.steps={steps} is more than learner.max_steps={max_steps}" in (
        str(error.value)
    )


@pytest.mark.parametrize("name", MATRIX_GAMES_2P)
def test_matrix_fast_path_equals_the_general_exact_learner(name):
    game = games.make(name)
    config = ExactPGConfig(steps=300)
    keys = jax.random.split(jax.random.key(5), 6)
    schedules = constant_schedules(jnp.array([0.0, 0.3, 3.0]), config.steps)
    general = make_trainer(make_exact_pg(game, config))
    fast = make_matrix_trainer(game, config)
    a, _ = general.run(general.init(keys, 3), schedules)
    b, _ = fast.run(fast.init(keys, 3), schedules)
    for x, y in zip(
        exact.softmax_policy(a.logits), exact.softmax_policy(b.logits), strict=True
    ):
        np.testing.assert_allclose(x, y, atol=2e-5)
    np.testing.assert_allclose(a.grad_norm, b.grad_norm, rtol=1e-3, atol=1e-6)


def test_fastest_trainer_falls_back_where_the_fast_path_does_not_apply():
    assert not supports(games.make("bad"), ExactPGConfig())
    assert not supports(games.make("lever"), ExactPGConfig(optimizer="adam"))
    assert supports(games.make("lever"), ExactPGConfig())


@pytest.mark.parametrize("name", ["tiny_hanabi_a", "qmix_two_step", "dectiger"])
def test_natural_direction_is_the_soft_value_by_brute_force(name):
    """d(h, .) = Q(h, .) - tau (log pi(.|h) + 1) up to a constant per row, with
    Q(h, a) from the tree walk: J_tau with agent i playing a for sure at h,
    minus J_tau with b for sure, over reach(h), is Q(h, a) - Q(h, b)."""
    spec = small_spec(name)
    dec = spec.to_decpomdp() if isinstance(spec, games.MatrixGame) else spec
    game = games.compile_game(spec)
    tau = 0.7 * game.reward_range
    rng = np.random.default_rng(0)
    logits = tuple(
        jnp.asarray(rng.normal(0, 1.0, shape), jnp.float32)
        for shape in game.policy_shapes
    )
    policy = exact.softmax_policy(logits)
    objective = make_objective(game, ExactPGConfig())
    step = natural_direction(game, logits, jnp.float32(tau), objective, "reach")

    def j_tau(agent, history, action):
        def fn(i, seen):
            if (i, seen) == (agent, history):
                return np.eye(game.policy_shapes[i][1])[action]
            return np.asarray(policy[i][game.infostate_keys[i].index(seen)])

        ret, ent, reach = values(dec, fn)
        return ret + tau * ent, reach

    for i in range(game.num_agents):
        for k in rng.choice(game.policy_shapes[i][0], size=2, replace=False):
            history = game.infostate_keys[i][k]
            first, reach = j_tau(i, history, 0)
            weight = reach[(i, history)]
            pi = np.asarray(policy[i][k], np.float64)
            d = np.asarray(step.direction[i][k], np.float64)
            for a in range(1, game.policy_shapes[i][1]):
                q_gap = (j_tau(i, history, a)[0] - first) / weight
                expected = q_gap - tau * (np.log(pi[a]) - np.log(pi[0]))
                assert d[a] - d[0] == pytest.approx(expected, abs=2e-4 * tau)


def test_npg_reaches_the_flows_fixed_point():
    """Above lever's bound the fixed point is unique: NPG in tens of steps and the
    flow in thousands reach x = softmax(A x / tau)."""
    game = games.make("lever")
    tau = 2.0
    npg = ExactPGConfig(optimizer="npg", learning_rate=0.5, steps=80)
    fast, _ = final_policies(game, npg, [tau], 4)
    slow, _ = final_policies(game, ExactPGConfig(steps=3000), [tau], 4)
    np.testing.assert_allclose(fast[0], slow[0], atol=1e-5)
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-5)


def test_a_learner_composed_of_parts_is_the_configured_one():
    """`make_exact_pg` is `compose` of its parts: NPG's continuation built by
    composition (`npg_learner` over an SGD config, with Adam's noise and the
    equivariant projection kept) takes the same steps as the learner configured
    as NPG, and the gradient's direction through optax SGD the same as the
    configured SGD learner, bit for bit."""
    spec = games.make_spec("tiny_hanabi_b")
    game = games.compile_game(spec)
    symmetries = policy_symmetries(game, symmetry_group(spec))
    base = ExactPGConfig(grad_noise=0.01, stay_equivariant=True, init_scale=0.5)
    configured = make_exact_pg(
        game,
        dataclasses.replace(base, optimizer="npg", learning_rate=0.3, npg_greed=7.0),
        symmetries,
    )
    composed = exact_pg.npg_learner(
        game, base, symmetries, learning_rate=0.3, greed=7.0
    )
    objective = make_objective(game, base, symmetries)
    by_hand = exact_pg.compose(
        game,
        exact_pg.gradient_direction(game, objective),
        exact_pg.optax_ascent(optax.sgd(base.learning_rate)),
        **exact_pg.extras(base, symmetries),
    )
    taus = jnp.full(5, 0.4, jnp.float32)
    for first, second in (
        (configured, composed),
        (make_exact_pg(game, base, symmetries), by_hand),
    ):
        states = []
        for learner in (first, second):
            state = learner.init(jax.random.key(3))
            for tau in taus:
                state = jax.jit(learner.update)(state, tau)[0]
            states.append(state)
        for a, b in zip(states[0].logits, states[1].logits, strict=True):
            np.testing.assert_array_equal(a, b)
        assert float(states[0].grad_norm) == float(states[1].grad_norm) > 0
