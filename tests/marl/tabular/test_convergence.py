"""Fixed-point convergence checks: a small step is not a fixed point, a saddle is not
converged, and the convergence agrees with the window it replaced."""

from __future__ import annotations

import dataclasses

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import games
from marl.tabular.convergence import (
    POWER_ITERATIONS,
    check_move,
    contraction,
    converged_by,
    make_checks,
    policies_of,
    policy_change,
    power_iterations,
    weighed_rows,
)
from marl.tabular.converging import make_converging_trainer, train_until_converged
from marl.tabular.crossplay import count_conventions
from marl.tabular.exact_pg import ExactPGConfig, npg_map
from marl.trainer import constant_schedules


def converge(game, config, taus, seeds=16):
    keys = jax.random.split(jax.random.key(0), seeds)
    learner = make_converging_trainer(game, config, label=game.name)
    return train_until_converged(game, learner, keys, np.asarray(taus))


def test_convergence_waits_out_critical_slowing_down():
    """coordination_2 just above its fold (tau = 0.51, the fold at 0.5): after
    5,000 flow steps every seed's gradient is below 1e-4, the old "converged",
    yet the contraction is near 1, so the bound on the distance is not small and
    no window of steps is needed to see it; continued with NPG every seed is
    converged at the one convention. (policy_tol is 3e-5 here: float32 resolves
    a step to about 1e-7, and 1 - contraction is 0.01 this close to the fold.)"""
    game = games.make("coordination_2")
    flow = ExactPGConfig(steps=5000, max_steps=5000, policy_tol=3e-5)
    _, short = converge(game, flow, [0.51])
    assert np.all(short.grad_norm < 1e-4) and short.converged.sum() < 8
    states, npg = converge(game, dataclasses.replace(flow, max_steps=20000), [0.51])
    assert npg.converged.all() and 5000 < npg.steps[0] < 20000
    policies = tuple(pi[0] for pi in policies_of(states.logits))
    assert count_conventions(game, policies, 1e-3) == 1


def test_converged_seeds_do_not_move_over_a_window():
    """The window convergence, kept as a cross-check: seeds converged by the
    bound move less than policy_tol over 500 further flow steps."""
    game = games.make("tiny_hanabi_b")
    config = ExactPGConfig(optimizer="npg", learning_rate=0.5, steps=300)
    states, convergence = converge(game, config, [0.1, 1.0], seeds=8)
    assert convergence.converged.all() and convergence.steps.max() <= 300
    learner = make_converging_trainer(game, ExactPGConfig(), label="flow")
    after, _ = learner.trainer.run(
        states, constant_schedules(jnp.array([0.1, 1.0]), 500)
    )
    change = policy_change(policies_of(states.logits), policies_of(after.logits))
    assert float(np.max(change)) < config.policy_tol


def test_adam_runs_converge_with_npg_at_the_same_fixed_point():
    """Adam keeps moving by about its learning rate near a fixed point, so its
    runs continue with NPG; SGD and NPG from the start reach the same point."""
    game = games.make("tiny_hanabi_b")
    adam = ExactPGConfig(optimizer="adam", learning_rate=0.05, steps=500)
    states, convergence = converge(game, adam, [1.0], seeds=4)
    assert convergence.converged.all()
    for config in (ExactPGConfig(), ExactPGConfig(optimizer="npg", learning_rate=0.5)):
        other, verdict = converge(game, config, [1.0], seeds=4)
        assert verdict.converged.all()
        change = policy_change(policies_of(states.logits), policies_of(other.logits))
        assert float(np.max(change)) < 1e-4


def test_the_symmetric_saddle_is_a_fixed_point_but_not_converged():
    """Below coordination_2's fold the uniform policy is still a fixed point (a
    symmetric saddle): its step is 0, its contraction above 1, so it is refused;
    above the fold it is the one stable fixed point and is converged."""
    game = games.make("coordination_2")
    uniform = tuple(jnp.zeros((1, 1, *shape)) for shape in game.policy_shapes)
    config = ExactPGConfig()
    learner = make_converging_trainer(game, config, label="saddle")
    for tau, stable in ((0.3, False), (0.8, True)):
        taus = np.array([tau], np.float32)
        step = learner.checks.step(uniform, np.array([0]), taus)
        radius, settled = learner.checks.contraction(uniform, np.array([0]), taus)
        assert step[0, 0] < 1e-7 and settled[0, 0]
        assert (radius[0, 0] < 1) == stable, radius


def test_contraction_is_the_dense_jacobians_spectral_radius():
    """Power iteration on Jacobian-vector products against the eigenvalues of
    the dense Jacobian of the check map, restricted to centred directions."""
    game = games.make("tiny_hanabi_a")
    config = ExactPGConfig()
    rng = np.random.default_rng(3)
    logits = tuple(
        jnp.asarray(rng.normal(0, 0.3, shape), jnp.float32)
        for shape in game.policy_shapes
    )
    tau = jnp.float32(1.0)
    flat, unravel = jax.flatten_util.ravel_pytree(logits)

    def mapped(x):
        return jax.flatten_util.ravel_pytree(
            npg_map(game, check_move(game, config), unravel(x), tau)
        )[0]

    jacobian = np.asarray(jax.jacfwd(mapped)(flat), np.float64)
    dense = np.max(np.abs(np.linalg.eigvals(jacobian)))
    estimate, settled = contraction(game, logits, tau, config, key=jax.random.key(0))
    assert settled
    np.testing.assert_allclose(float(estimate), dense, rtol=2e-2)
    # The grid's checks (one program for every count of iterations) give what
    # the function itself gives, at the first count and a doubled one; a
    # count outside the range is refused.
    checks = make_checks(game, config)
    grid = tuple(x[None, None] for x in logits)
    for iterations in (POWER_ITERATIONS, 2 * POWER_ITERATIONS):
        radius, _ = checks.contraction(
            grid, np.array([0]), np.array([1.0], np.float32), iterations
        )
        alone = contraction(
            game,
            logits,
            tau,
            config,
            key=jax.random.split(jax.random.key(0), 1)[0],
            iterations=iterations,
        )[0]
        np.testing.assert_allclose(radius[0, 0], float(alone), rtol=1e-6)
    with pytest.raises(ValueError, match="power iterations: out of range"):
        checks.contraction(grid, np.array([0]), np.array([1.0], np.float32), 8)


def test_an_unsettled_contraction_converges_no_seed():
    """The estimate step / (1 - contraction) counts only when the power iteration
    settled; at the neutral taus (tau ~ 0) a settled contraction <= 1.001 and a
    small step count without it."""
    config = ExactPGConfig(policy_tol=1e-4)
    step = np.array([[1e-6, 1e-6], [1e-6, 1e-6]])
    radius = np.array([[0.5, 0.5], [1.0005, 1.0005]])
    settled = np.array([[True, False], [True, False]])
    taus = np.array([1.0, 0.0])
    converged, distance = converged_by(step, radius, settled, taus, config, 1.0)
    np.testing.assert_array_equal(converged, [[True, False], [True, False]])
    np.testing.assert_allclose(distance, [[2e-6, np.inf], [1e-6, np.inf]])


def test_a_near_pure_fixed_point_contracts_as_its_dense_jacobian_says():
    """qmix_two_step at tau = 0.001: the seeds reach near-pure fixed points whose
    Jacobian (dense, over the weighed rows) has spectral radius 1 - O(tau) < 1.
    The estimate agrees and its power iteration settles; a Euclidean power
    iteration over all logits (the estimate before) still read above 1 after 48
    steps there (transient growth of a non-normal map), calling every seed a
    saddle."""
    game = games.make("qmix_two_step")
    config = ExactPGConfig()
    states, convergence = converge(game, config, [0.001], seeds=4)
    assert convergence.converged.all() and convergence.settled.all()
    logits = tuple(x[0, 0] for x in states.logits)
    flat, unravel = jax.flatten_util.ravel_pytree(logits)
    tau = jnp.float32(0.001)

    def mapped(x):
        return jax.flatten_util.ravel_pytree(
            npg_map(game, check_move(game, config), unravel(x), tau)
        )[0]

    jacobian = np.asarray(jax.jacfwd(mapped)(flat), np.float64)
    rows = weighed_rows(game, logits, config)  # unreached rows never move
    weighed = jax.flatten_util.ravel_pytree(
        tuple(
            jnp.broadcast_to(r[:, None], x.shape)
            for r, x in zip(rows, logits, strict=True)
        )
    )[0]
    kept = np.flatnonzero(np.asarray(weighed))
    dense = np.max(np.abs(np.linalg.eigvals(jacobian[np.ix_(kept, kept)])))
    assert dense < 1
    np.testing.assert_allclose(convergence.contraction[0], dense, rtol=1e-3)


def test_an_unsettled_check_is_repeated_with_twice_the_power_iterations():
    """A run whose power iteration left a seed unsettled is checked again with
    twice the iterations (48, 96, 192, then at most 384), not the same check at
    the same start again: a contraction that settles only from 192 iterations
    on converges the run at its third check, where the same 48 iterations each
    window would never have."""
    assert [power_iterations(k) for k in (0, 1, 2, 3, 9)] == [48, 96, 192, 384, 384]
    game = games.make("lever")
    config = ExactPGConfig(steps=200, window=100, max_steps=1000)
    learner = make_converging_trainer(game, config, label="lever")
    asked, measured = [], learner.checks.contraction

    def slow_to_settle(logits, runs, taus, iterations=48):
        asked.append(iterations)
        radius, settled = measured(logits, runs, taus, iterations)
        return radius, settled & (iterations >= 192)

    learner = learner._replace(
        checks=learner.checks._replace(contraction=slow_to_settle)
    )
    keys = jax.random.split(jax.random.key(0), 4)
    _, verdict = train_until_converged(game, learner, keys, np.asarray([0.5]))
    assert verdict.converged.all()
    assert asked == [48, 96, 192]
