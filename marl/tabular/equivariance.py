"""How far a tabular joint policy is from respecting a game's symmetries.

A symmetry g acts on a joint policy by (g pi)_{g(i)}(g a | g h) = pi_i(a | h). A
policy is equivariant when g pi = pi for every g in the group; it suffices to check
the generators. The projection onto equivariant policies is the group average,
which for a permutation action is the average over each orbit of (agent,
information state, action) triples.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from games.tabular import TabularGame
from marl.tabular.exact import Policy
from marl.tabular.symmetry import Symmetry, SymmetryGroup, policy_maps


@dataclasses.dataclass(frozen=True)
class PolicyAction:
    """One symmetry as index arrays: (g pi)_j = pi_{source[j]}[rows[j]][:, cols[j]]."""

    source: tuple[int, ...]
    rows: tuple[np.ndarray, ...]
    cols: tuple[np.ndarray, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class PolicySymmetries:
    """A group's generators acting on policies of one compiled game, and the orbits
    of the flat (agent, infostate, action) index (agents concatenated row-major).
    Compared and hashed by identity, so that it can be a static argument of jit."""

    generators: tuple[PolicyAction, ...]
    orbit: np.ndarray  # int[sum_i K_i * A_i]
    num_orbits: int


def policy_action(game: TabularGame, g: Symmetry) -> PolicyAction:
    maps = policy_maps(game, g)
    n = game.num_agents
    source, rows, cols = (
        [0] * n,
        [np.empty(0, np.int32)] * n,
        [np.empty(0, np.int32)] * n,
    )
    for i, (infostates, actions) in enumerate(maps):
        j = g.agents[i]
        source[j] = i
        rows[j] = np.argsort(infostates).astype(np.int32)  # inverse permutation
        cols[j] = np.argsort(actions).astype(np.int32)
    return PolicyAction(tuple(source), tuple(rows), tuple(cols))


def policy_symmetries(game: TabularGame, group: SymmetryGroup) -> PolicySymmetries:
    """Index arrays for `group` on `game`, built once outside jit."""
    offsets = np.cumsum([0, *(k * a for k, a in game.policy_shapes)])
    parent = np.arange(offsets[-1])

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g in group.generators:
        for i, (infostates, actions) in enumerate(policy_maps(game, g)):
            j = g.agents[i]
            num_actions_i, num_actions_j = game.num_actions[i], game.num_actions[j]
            for h, h_image in enumerate(infostates):
                for a, a_image in enumerate(actions):
                    u = find(offsets[i] + h * num_actions_i + a)
                    v = find(offsets[j] + h_image * num_actions_j + a_image)
                    parent[u] = v
    roots = np.array([find(x) for x in range(offsets[-1])])
    _, orbit = np.unique(roots, return_inverse=True)
    return PolicySymmetries(
        tuple(policy_action(game, g) for g in group.generators),
        orbit.astype(np.int32),
        int(orbit.max()) + 1 if orbit.size else 0,
    )


def transform(policy: Policy, action: PolicyAction) -> Policy:
    """g pi, per agent float[K_j, A_j]."""
    return tuple(
        policy[i][rows][:, cols]
        for i, rows, cols in zip(action.source, action.rows, action.cols, strict=True)
    )


def equivariance_error(policy: Policy, symmetries: PolicySymmetries) -> jax.Array:
    """max over generators g, agents and information states of the total-variation
    distance between pi(. | g h) and g pi(. | h); 0 for an equivariant policy."""
    errors = [jnp.zeros(())]
    for action in symmetries.generators:
        moved = transform(policy, action)
        errors += [
            jnp.max(0.5 * jnp.sum(jnp.abs(m - p), axis=-1))
            for m, p in zip(moved, policy, strict=True)
        ]
    return jnp.max(jnp.stack(errors))


def project(policy: Policy, symmetries: PolicySymmetries) -> Policy:
    """The group average of `policy`: each probability replaced by its orbit mean."""
    flat = jnp.concatenate([pi.ravel() for pi in policy])
    orbit = jnp.asarray(symmetries.orbit)
    sums = jax.ops.segment_sum(flat, orbit, num_segments=symmetries.num_orbits)
    counts = jax.ops.segment_sum(
        jnp.ones_like(flat), orbit, num_segments=symmetries.num_orbits
    )
    averaged = (sums / counts)[orbit]
    out, start = [], 0
    for pi in policy:
        out.append(averaged[start : start + pi.size].reshape(pi.shape))
        start += pi.size
    return tuple(out)
