"""Exact values against brute force, gradients against finite differences and the
policy-gradient theorem, and the analytic limits of J_tau."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from marl.tabular import exact
from tests import catalogue, small_horizon
from tests.brute_force import small_spec, tabular_policy, values

ALL_GAMES = catalogue()


def random_logits(game: games.TabularGame, seed: int, scale: float = 1.5):
    rng = np.random.default_rng(seed)
    return tuple(
        jnp.asarray(rng.normal(0, scale, shape), jnp.float32)
        for shape in game.policy_shapes
    )


def policy_fn(game: games.TabularGame, policy):
    return tabular_policy(game.infostate_keys, policy)


@pytest.mark.parametrize("name", ALL_GAMES)
def test_expected_return_and_entropy_match_brute_force(name):
    spec = small_spec(name)
    dec = spec.to_decpomdp() if isinstance(spec, games.MatrixGame) else spec
    game = games.compile_game(spec)
    for seed in range(3):
        policy = exact.softmax_policy(random_logits(game, seed), game.legal)
        ret, ent, _ = values(dec, policy_fn(game, policy))
        np.testing.assert_allclose(
            exact.expected_return(game, policy), ret, rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            exact.expected_entropy(game, policy, "reach"), ent, rtol=1e-5, atol=1e-5
        )
        tau = 0.7
        np.testing.assert_allclose(
            exact.regularized_objective(game, policy, tau),
            ret + tau * ent,
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("name", ALL_GAMES)
def test_reach_probs_match_brute_force(name):
    spec = small_spec(name)
    dec = spec.to_decpomdp() if isinstance(spec, games.MatrixGame) else spec
    game = games.compile_game(spec)
    policy = exact.softmax_policy(random_logits(game, 11), game.legal)
    _, _, reach = values(dec, policy_fn(game, policy))
    ours = exact.reach_probs(game, policy)
    for (agent, history), prob in reach.items():
        k = game.infostate_keys[agent].index(history)
        np.testing.assert_allclose(ours[agent][k], prob, rtol=1e-5, atol=1e-6)
    assert sum(len(keys) for keys in game.infostate_keys) == len(reach)


def test_uniform_weighting_counts_every_infostate_once():
    game = games.make("tiny_hanabi_a")
    policy = exact.softmax_policy(random_logits(game, 3))
    expected = sum(float(jnp.sum(exact.infostate_entropy(pi))) for pi in policy)
    np.testing.assert_allclose(
        exact.expected_entropy(game, policy, "uniform"), expected, rtol=1e-6
    )


def test_weightings_coincide_on_matrix_games():
    game = games.make("climbing")
    policy = exact.softmax_policy(random_logits(game, 4))
    np.testing.assert_allclose(
        exact.expected_entropy(game, policy, "uniform"),
        exact.expected_entropy(game, policy, "reach"),
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", ["lever", "qmix_two_step", "tiny_hanabi_f", "bad"])
@pytest.mark.parametrize("weighting", ["reach", "uniform"])
def test_objective_gradient_matches_finite_differences(name, weighting):
    game = games.make(name)
    logits = random_logits(game, 5, scale=0.5)
    tau = 0.3

    with jax.enable_x64(True):
        flat = jnp.concatenate([x.ravel() for x in logits]).astype(jnp.float64)
        game64 = jax.tree.map(
            lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, game
        )
        objective = jax.jit(
            lambda f, g=game64: exact.regularized_objective(
                g, exact.softmax_policy(_split(f, g)), tau, weighting
            )
        )
        grad = jax.grad(objective)(flat)
        eps = 1e-6
        for k in range(flat.shape[0]):
            step = jnp.zeros_like(flat).at[k].set(eps)
            numeric = (objective(flat + step) - objective(flat - step)) / (2 * eps)
            np.testing.assert_allclose(grad[k], numeric, rtol=1e-5, atol=1e-7)


def _split(flat, game):
    parts, start = [], 0
    for rows, cols in game.policy_shapes:
        parts.append(flat[start : start + rows * cols].reshape(rows, cols))
        start += rows * cols
    return tuple(parts)


@pytest.mark.parametrize("name", ALL_GAMES)
def test_policy_gradient_theorem_equals_autodiff_at_tau_zero(name):
    # Autodiff through the engine `auto` picks; the theorem sums over histories
    # (in float32: the benchmarks at horizon 2, where there are few to sum).
    horizon = small_horizon(name)
    game = games.make(name, horizon)
    logits = random_logits(game, 6)
    # Both jitted: one program each, not one per operation.
    autodiff = jax.jit(
        jax.grad(
            lambda x: exact.expected_return(game, exact.softmax_policy(x, game.legal))
        )
    )(logits)
    spec = games.make_spec(name, horizon)
    histories = games.compile_game(spec, engine="enumeration")
    theorem = jax.jit(lambda x: exact.softmax_policy_gradient(histories, x))(logits)
    scale = game.reward_range
    for a, b in zip(autodiff, theorem, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5 * scale)


def test_infostate_entropy_handles_zero_probabilities():
    h = exact.infostate_entropy(jnp.array([[1.0, 0.0], [0.5, 0.5]]))
    np.testing.assert_allclose(h, [0.0, np.log(2)], rtol=1e-6)
    grad = jax.grad(lambda p: exact.infostate_entropy(p).sum())(jnp.array([[1.0, 0.0]]))
    assert np.all(np.isfinite(grad))
