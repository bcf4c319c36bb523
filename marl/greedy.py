"""Greedification of tabular policies: strict argmax and a tie-aware variant."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from marl.exact import Policy


def greedify(policy: Policy) -> Policy:
    """Per information state, all mass on the first action of maximal probability."""
    return tuple(
        jax.nn.one_hot(jnp.argmax(pi, axis=-1), pi.shape[-1], dtype=pi.dtype)
        for pi in policy
    )


def greedify_ties(policy: Policy, tol: float) -> Policy:
    """Per information state, mass spread evenly over every action whose probability
    is within `tol` of the maximum, so an exactly symmetric policy stays symmetric
    (strict argmax would break the tie by action index)."""

    def one(pi: jax.Array) -> jax.Array:
        best = pi >= jnp.max(pi, axis=-1, keepdims=True) - tol
        return best / jnp.sum(best, axis=-1, keepdims=True)

    return tuple(one(pi) for pi in policy)
