"""Exact Other-Play value for two-player tabular games.

J_OP(pi) = E_{g ~ U(G)} J(pi_1, g pi_2): the return against the partner relabelled
by a uniformly random symmetry g of the game that keeps agents in their seats (Hu,
Lerer, Peysakhovich, Foerster 2020, "Other-Play for zero-shot coordination", Eq. 2).

Computed exactly for any group size: J is linear in the partner's realization plan
r_2(h, a) (the product of its own probabilities along the sequence ending with
action a at information state h), and g permutes sequences as it permutes (h, a)
index pairs. So E_g r_{g pi_2} is the orbit average of r_2, and J_OP =
sum_z chance(z) R(z) rho_1(z) mean_orbit(r_2)(last sequence of agent 2 in z).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from games import TabularGame
from marl.equivariance import PolicySymmetries
from marl.exact import Policy


def own_realization(game: TabularGame, policy: Policy, agent: int) -> jax.Array:
    """rho_i(z) = prod_t pi_i(action_i[z, t] | infostate_i[z, t]), float[Z]."""
    pi = policy[agent]
    return jnp.prod(pi[game.infostate[agent], game.action[agent]], axis=-1)


def other_play_return(
    game: TabularGame, policy: Policy, symmetries: PolicySymmetries
) -> jax.Array:
    """J_OP of a two-player joint policy; `symmetries` must keep agents in place."""
    if game.num_agents != 2:
        raise ValueError("exact Other-Play is defined here for two-player games")
    num_infostates, num_actions = game.policy_shapes[1]
    offset = game.policy_shapes[0][0] * game.policy_shapes[0][1]
    size = num_infostates * num_actions
    last = game.infostate[1][:, -1] * num_actions + game.action[1][:, -1]  # int[Z]
    # Every z through a sequence has the same rho_2; read it off with a max.
    plan = jax.ops.segment_max(
        own_realization(game, policy, 1), last, num_segments=size
    )
    plan = jnp.where(jnp.isfinite(plan), plan, 0.0)
    orbit = jnp.asarray(symmetries.orbit[offset : offset + size])
    sums = jax.ops.segment_sum(plan, orbit, num_segments=symmetries.num_orbits)
    counts = jax.ops.segment_sum(
        jnp.ones_like(plan), orbit, num_segments=symmetries.num_orbits
    )
    averaged = (sums / jnp.maximum(counts, 1.0))[orbit]
    weight = game.chance * game.returns * own_realization(game, policy, 0)
    return jnp.dot(weight, averaged[last])
