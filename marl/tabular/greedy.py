"""Greedification of tabular policies, without float32 artifacts.

Two kinds, named apart everywhere (results keys `_greedy` and `_greedy_ties`):

  argmax (`greedify`): all mass on the lowest-index action among the near-maximal
    ones; a deterministic policy, with ties broken by action index.
  tie-aware (`greedify_ties`): mass spread evenly over the near-maximal actions,
    so an equivariant policy stays equivariant.

"Near-maximal" is relative: probability >= (1 - rtol) x the row's largest. An
absolute tolerance cannot serve every tau (at tau = 100 the lever game's 0.9
lever is within 1e-6 of the 1.0 levers), and float32 noise at the level of
rounding would otherwise decide ties at random (every seed at the same
equivariant policy, yet different argmax actions, so XP below SP).

`symmetrize` goes with them: a policy equivariant to within a tolerance is
replaced by its group average (`marl.tabular.equivariance.project`), whose orbit-mates
are bit-identical, before greedification.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from marl.tabular.equivariance import PolicySymmetries, equivariance_error, project
from marl.tabular.exact import Policy


def near_maximal(pi: jax.Array, rtol: float) -> jax.Array:
    """bool[..., A]: actions whose probability is within rtol of the row's largest,
    relatively."""
    return pi >= (1 - rtol) * jnp.max(pi, axis=-1, keepdims=True)


def greedify(policy: Policy, rtol: float) -> Policy:
    """Per information state, all mass on the first near-maximal action."""
    return tuple(
        jax.nn.one_hot(
            jnp.argmax(near_maximal(pi, rtol), axis=-1), pi.shape[-1], dtype=pi.dtype
        )
        for pi in policy
    )


def greedify_ties(policy: Policy, rtol: float) -> Policy:
    """Per information state, mass spread evenly over the near-maximal actions."""

    def one(pi: jax.Array) -> jax.Array:
        best = near_maximal(pi, rtol).astype(pi.dtype)
        return best / jnp.sum(best, axis=-1, keepdims=True)

    return tuple(one(pi) for pi in policy)


def symmetrize(
    policy: Policy, symmetries: PolicySymmetries, tol: float
) -> tuple[Policy, jax.Array]:
    """(the group average of `policy` if its equivariance error is at most `tol`,
    else `policy` unchanged; whether it was averaged). One joint policy."""
    equivariant = equivariance_error(policy, symmetries) <= tol
    averaged = project(policy, symmetries)
    return (
        tuple(
            jnp.where(equivariant, a, p) for a, p in zip(averaged, policy, strict=True)
        ),
        equivariant,
    )
