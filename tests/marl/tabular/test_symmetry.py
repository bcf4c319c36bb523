"""Symmetry groups against known orders and brute force; their action on policies."""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np
import pytest

import games
from marl.tabular import exact
from marl.tabular.equivariance import (
    equivariance_error,
    policy_symmetries,
    project,
    transform,
)
from marl.tabular.symmetry import (
    as_decpomdp,
    preserves_game,
    symmetry_group,
)
from tests import catalogue, small_horizon
from tests.brute_force import brute_force_symmetries

EXPECTED_ORDERS = {  # (without, with) swapping interchangeable agents
    "lever": (362_880, 725_760),
    "coordination_3": (6, 12),
    "penalty": (2, 4),
    "climbing": (1, 1),
    "qtran_one_step": (4, 8),
    "lewis_signalling": (4, 4),
    **{f"tiny_hanabi_{v}": (1, 1) for v in "abcdef"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ORDERS))
def test_symmetry_group_has_the_known_order(name):
    spec = games.make_spec(name)
    without, with_agents = EXPECTED_ORDERS[name]
    assert symmetry_group(spec).order == without
    assert symmetry_group(spec, permute_agents=True).order == with_agents


SMALL = [
    "coordination_2",
    "coordination_3",
    "climbing",
    "penalty",
    "qtran_one_step",
    "lewis_signalling",
    "qmix_two_step",
]


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("permute_agents", [False, True])
def test_nauty_agrees_with_brute_force(name, permute_agents):
    spec = games.make_spec(name)
    group = symmetry_group(spec, permute_agents=permute_agents)
    found = set(brute_force_symmetries(spec, permute_agents=permute_agents))
    # Brute force also permutes unreachable states freely; compare on the rest.
    game = as_decpomdp(spec)
    reachable = {s for s in range(game.num_states) if game.initial[s] > 0} | {
        s for s in range(game.num_states) if game.transition[..., s].any()
    }

    def on_reachable(g):
        return (
            g.agents,
            g.actions,
            g.observations,
            tuple(g.states[s] for s in sorted(reachable)),
        )

    assert {on_reachable(g) for g in group.elements()} == {
        on_reachable(g) for g in found
    }
    assert len(group.elements()) == group.order


@pytest.mark.parametrize("name", catalogue())
def test_every_generator_preserves_every_table(name):
    spec = games.make_spec(name, small_horizon(name))
    for permute_agents in (False, True):
        for g in symmetry_group(spec, permute_agents=permute_agents).generators:
            assert preserves_game(as_decpomdp(spec), g)


def test_fifty_lever_game_is_fast():
    spec = games.matrix_game("lever50", np.diag([1.0] * 49 + [0.9]))
    started = time.perf_counter()
    group = symmetry_group(spec)
    elapsed = time.perf_counter() - started
    import math

    assert group.order == math.factorial(49)
    assert elapsed < 30  # "in seconds"; generous for slow CI machines


def random_policy(game, seed):
    rng = np.random.default_rng(seed)
    return exact.softmax_policy(
        tuple(jnp.asarray(rng.normal(size=s), jnp.float32) for s in game.policy_shapes),
        game.legal,
    )


@pytest.mark.parametrize("name", catalogue())
def test_returns_are_invariant_under_every_symmetry(name):
    spec = games.make_spec(name, small_horizon(name))
    game = games.compile_game(spec)
    policy = random_policy(game, 0)
    value = exact.expected_return(game, policy)
    for permute_agents in (False, True):
        symmetries = policy_symmetries(
            game, symmetry_group(spec, permute_agents=permute_agents)
        )
        for action in symmetries.generators:
            np.testing.assert_allclose(
                exact.expected_return(game, transform(policy, action)),
                value,
                rtol=1e-5,
                atol=1e-6,
            )


@pytest.mark.parametrize(
    "name", ["lever", "lewis_signalling", "qtran_one_step", "penalty"]
)
def test_projection_is_an_equivariant_idempotent_average(name):
    spec = games.make_spec(name)
    game = games.compile_game(spec)
    symmetries = policy_symmetries(game, symmetry_group(spec))
    policy = random_policy(game, 1)
    assert float(equivariance_error(policy, symmetries)) > 1e-2
    projected = project(policy, symmetries)
    assert float(equivariance_error(projected, symmetries)) < 1e-6
    for once, twice in zip(projected, project(projected, symmetries), strict=True):
        np.testing.assert_allclose(once, twice, atol=1e-7)
    for pi in projected:
        np.testing.assert_allclose(pi.sum(-1), 1.0, rtol=1e-6)


def test_lever_projection_is_the_average_over_the_nine_one_levers():
    spec = games.make_spec("lever")
    game = games.compile_game(spec)
    symmetries = policy_symmetries(game, symmetry_group(spec))
    policy = random_policy(game, 2)
    projected = project(policy, symmetries)
    x = np.asarray(policy[0][0])
    np.testing.assert_allclose(projected[0][0, :9], x[:9].mean(), rtol=1e-6)
    np.testing.assert_allclose(projected[0][0, 9], x[9], rtol=1e-6)


def test_lewis_equivariant_policies_cannot_signal():
    """Relabelling messages is a symmetry, so an equivariant sender sends both
    messages equally in each state and the best equivariant return is 1/2."""
    spec = games.make_spec("lewis_signalling")
    game = games.compile_game(spec)
    symmetries = policy_symmetries(game, symmetry_group(spec))
    signalling = (jnp.eye(2), jnp.array([[1.0, 0.0], [0.0, 1.0]]))
    order = [game.infostate_labels[1].index(f"nothing nothing&m{k}") for k in range(2)]
    signalling = (signalling[0], signalling[1][np.argsort(order)])
    assert float(exact.expected_return(game, signalling)) == pytest.approx(1.0)
    assert float(exact.expected_return(game, project(signalling, symmetries))) == (
        pytest.approx(0.5)
    )
