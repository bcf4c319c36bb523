"""Exact Other-Play value for two-player tabular games.

J_OP(pi) = E_{g ~ U(G)} J(pi_1, g pi_2): the return against the partner relabelled
by a uniformly random symmetry g of the game that keeps agents in their seats (Hu,
Lerer, Peysakhovich, Foerster 2020, "Other-Play for zero-shot coordination", Eq. 2).

Computed exactly for any group size and either engine: J is linear in the
partner's realization plan r_2(h, a) (the product of its own probabilities along
the sequence ending with action a at information state h; Koller, Megiddo, von
Stengel 1994), and g permutes sequences as it permutes (h, a) index pairs. So
E_g r_{g pi_2} is the orbit average of r_2, a realization plan again, played by
the behaviour policy r_bar(h, a) / sum_b r_bar(h, b) (Kuhn 1953); J_OP is J of
pi_1 with that policy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from games.tabular import TabularGame
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact import Policy, expected_return


def realization_plan(game: TabularGame, policy: Policy, agent: int) -> jax.Array:
    """r_i(h, a) = prod of agent i's own probabilities along its sequence up to and
    including action a at information state h, float[K_i, A_i]."""
    pi = policy[agent]
    plan = pi
    for start, stop in game.decision_rows[agent][1:]:
        parent = game.parent[agent][start:stop]
        above = plan[parent, game.parent_action[agent][start:stop]]
        plan = plan.at[start:stop].set(pi[start:stop] * above[:, None])
    return plan


def other_play_return(
    game: TabularGame, policy: Policy, symmetries: PolicySymmetries
) -> jax.Array:
    """J_OP of a two-player joint policy; `symmetries` must keep agents in place."""
    if game.num_agents != 2:
        raise ValueError("exact Other-Play is defined here for two-player games")
    num_infostates, num_actions = game.policy_shapes[1]
    offset = game.policy_shapes[0][0] * game.policy_shapes[0][1]
    size = num_infostates * num_actions
    plan = realization_plan(game, policy, 1).ravel()
    orbit = jnp.asarray(symmetries.orbit[offset : offset + size])
    sums = jax.ops.segment_sum(plan, orbit, num_segments=symmetries.num_orbits)
    counts = jax.ops.segment_sum(
        jnp.ones_like(plan), orbit, num_segments=symmetries.num_orbits
    )
    averaged = (sums / jnp.maximum(counts, 1.0))[orbit].reshape(
        num_infostates, num_actions
    )
    total = averaged.sum(axis=-1, keepdims=True)
    if game.legal is None:
        unreached = jnp.full((num_actions,), 1.0 / num_actions)
    else:  # uniform over the legal actions
        legal = game.legal[1].astype(averaged.dtype)
        unreached = legal / legal.sum(axis=-1, keepdims=True)
    behaviour = jnp.where(
        total > 0, averaged / jnp.where(total > 0, total, 1.0), unreached
    )
    return expected_return(game, (policy[0], behaviour))
