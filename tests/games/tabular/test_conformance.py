"""One conformance test that every catalogue game must pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from marl.tabular import exact
from tests import catalogue, small_horizon


@pytest.mark.parametrize("name", catalogue())
def test_catalogue_game_conforms(name):
    spec = games.make_spec(name, small_horizon(name))
    game = games.compile_game(spec)
    assert game.name == name
    assert spec.description, "every catalogue game names its source"

    # Compiled arrays are consistent with the declared shapes.
    assert game.num_agents == spec.num_agents
    for infostate, action, (num_infostates, num_actions) in zip(
        game.infostate if game.has_histories else (),
        game.action if game.has_histories else (),
        game.policy_shapes,
        strict=False,
    ):
        assert infostate.shape == action.shape
        assert infostate.shape[0] == game.num_histories
        assert set(np.unique(infostate)) == set(range(num_infostates))
        assert int(action.min()) >= 0 and int(action.max()) < num_actions
    for rows, (num_infostates, _) in zip(
        game.decision_rows, game.policy_shapes, strict=True
    ):
        assert rows[0][0] == 0 and rows[-1][1] == num_infostates

    # The distribution of play sums to one under any joint policy.
    rng = np.random.default_rng(0)
    seeds = 5
    logits = tuple(
        jnp.asarray(rng.normal(size=(seeds, *shape)), jnp.float32)
        for shape in game.policy_shapes
    )
    policies = exact.softmax_policy(logits, game.legal)
    totals = jax.vmap(lambda *pi: exact.play_distribution(game, pi).sum())(*policies)
    np.testing.assert_allclose(totals, 1.0, rtol=1e-5)

    # jit and vmap agree with one-at-a-time evaluation, to the float32 rounding of
    # a sum over many histories in another order (Mars rovers at horizon 3 sums
    # 147,456: 3e-5 relative).
    batched = jax.jit(jax.vmap(lambda *pi: exact.expected_return(game, pi)))(*policies)
    atol = 1e-6 * max(1.0, game.reward_range)
    for k in range(seeds):
        single = exact.expected_return(game, tuple(pi[k] for pi in policies))
        np.testing.assert_allclose(batched[k], single, rtol=1e-4, atol=atol)

    # Deterministic: compiling again gives identical arrays.
    again = games.make(name, small_horizon(name))
    for a, b in zip(jax.tree.leaves(game), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.infostate_keys == game.infostate_keys


def test_unknown_catalogue_name_lists_the_catalogue():
    with pytest.raises(games.UnknownGameError, match=r"unknown game 'levr'.*lever"):
        games.make("levr")
