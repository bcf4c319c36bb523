"""A third environment, written as a new user would add one (docs/architecture.md,
"Adding a third environment"): this module, one registry line and one env YAML.

The repeated coordination game: 2 seats choose one of A actions at once, for R
rounds; the common reward of a round is 1 when the two choices match. A seat sees
its own and its partner's last choice (one-hot, zeros before the first round) and
the round. Every permutation of the A actions is a symmetry: conventions (which
action to settle on) are what cross-play measures.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.contract import Environment, Symmetries, reject_options

OPTIONS = ("num_actions", "rounds")


class State(NamedTuple):
    round: jax.Array  # int32[]
    last: jax.Array  # int32[2], -1 before the first round


def make(num_actions: int = 3, rounds: int = 4, **options: Any) -> Environment:
    reject_options("coordination", options, OPTIONS)
    if not 2 <= num_actions <= 5 or rounds < 1:
        raise ValueError(f"coordination: num_actions={num_actions}, rounds={rounds}")
    a, r = num_actions, rounds
    perms = np.array(list(itertools.permutations(range(a))), dtype=np.int32)
    inverse = np.argsort(perms, axis=1).astype(np.int32)
    # The transformed state's observation at index j is the real one at the
    # preimage of j (one-hot blocks of own and partner's last action; the round
    # block is fixed).
    observation = np.concatenate(
        [inverse, a + inverse, np.broadcast_to(2 * a + np.arange(r), (len(perms), r))],
        axis=1,
    ).astype(np.int32)
    symmetries = Symmetries(
        observation=observation,
        actions=perms,
        actions_inverse=inverse,
        names=tuple("".join(map(str, p)) for p in perms),
    )
    table = jnp.asarray(perms)

    def reset(key: jax.Array) -> State:
        del key
        return State(jnp.int32(0), jnp.full((2,), -1, jnp.int32))

    def step(key: jax.Array, state: State, actions: jax.Array):
        del key
        reward = (actions[0] == actions[1]).astype(jnp.float32)
        nxt = State(state.round + 1, actions.astype(jnp.int32))
        return nxt, reward, nxt.round >= r

    def observe(state: State) -> jax.Array:
        own = jax.nn.one_hot(state.last, a)
        rnd = jax.nn.one_hot(jnp.minimum(state.round, r - 1), r)
        return jnp.stack(
            [jnp.concatenate([own[p], own[1 - p], rnd]) for p in range(2)]
        ).astype(jnp.float32)

    def permute_state(state: State, g: int) -> State:
        mapped = jnp.where(state.last >= 0, table[g][jnp.maximum(state.last, 0)], -1)
        return State(state.round, mapped)

    return Environment(
        name="coordination",
        title=f"Repeated coordination, {a} actions x {r} rounds",
        num_players=2,
        num_actions=a,
        obs_size=2 * a + r,
        obs_dtype=jnp.float32,
        simultaneous=True,
        max_steps=r,
        reset=reset,
        step=step,
        observe=observe,
        legal_actions=lambda state: jnp.ones((2, a), bool),
        actors=lambda state: jnp.arange(2, dtype=jnp.int32),
        failed=lambda state: jnp.bool_(False),
        failure=None,
        max_score=r,
        symmetries=symmetries,
        permute_state=permute_state,
    )
