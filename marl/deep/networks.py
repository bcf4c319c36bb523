"""Actor-critic networks (flax linen) and the masked categorical policy.

One network sees one seat's observation (uint8 or float[O]) and returns that
seat's action logits (float32[A]) and value estimate (float32[]). `make_policy`
wraps it for a game of P seats of which D decide at each step (D = 1 in a
turn-based game, D = P in a simultaneous-move one; `games.envs.contract`): the per-seat
network is applied to every seat's observation (a `vmap` over seats, with one
parameter set shared by every seat or one set per seat stacked on a leading [P]
axis), and the deciding seats' rows are the decisions. A recurrent (GRU) network
advances every seat's memory at every step, deciding or not, so each seat sees
every move; a feed-forward network with shared parameters evaluates the deciding
seats only.

Legal actions follow the house contract: `jnp.where(legal, logits, -inf)`, with a
guard that turns a row with no legal action into a uniform distribution over all
actions, so that no log-probability, entropy or gradient is ever NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.initializers import constant

Params = Any
"""A flax parameter pytree; with per-seat parameters every leaf has a leading [P]."""


def masked_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """Logits with illegal actions at -inf; a row with no legal action becomes all
    zeros (uniform) instead, so sampling and log-probabilities stay finite.

    logits: float[..., A]; legal: bool[..., A]. Returns float[..., A].
    """
    any_legal = legal.any(axis=-1, keepdims=True)
    return jnp.where(any_legal, jnp.where(legal, logits, -jnp.inf), 0.0)


def _support(legal: jax.Array) -> jax.Array:
    """The actions a masked row can choose: the legal ones, or all of them for a
    row with none (the guard in `masked_logits`)."""
    return legal | ~legal.any(axis=-1, keepdims=True)


def masked_log_probs(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """log pi(a) for every action, float[..., A]: -inf outside the legal set."""
    return jax.nn.log_softmax(masked_logits(logits, legal), axis=-1)


def masked_entropy(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """H(pi) = -sum_a pi(a) log pi(a) over the legal actions, float[...].

    The log-probabilities of illegal actions (-inf) are replaced by 0 *before* the
    product: `where(legal, p * logp, 0)` would be finite forward but NaN backward
    (0 * -inf in the product's derivative).
    """
    log_probs = masked_log_probs(logits, legal)
    safe = jnp.where(_support(legal), log_probs, 0.0)
    return -jnp.sum(jnp.exp(log_probs) * safe, axis=-1)


def action_log_prob(
    logits: jax.Array, legal: jax.Array, action: jax.Array
) -> jax.Array:
    """log pi(action), float[...], for logits float[..., A] and int action[...]."""
    log_probs = masked_log_probs(logits, legal)
    return jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]


def sample_action(logits: jax.Array, legal: jax.Array, *, key: jax.Array) -> jax.Array:
    """A legal action drawn from softmax of the masked logits, int32[...]."""
    return jax.random.categorical(key, masked_logits(logits, legal)).astype(jnp.int32)


_BLOCK = 32
"""Columns per block of `_orthonormal_columns` (16 to 32 were fastest on a 658 x
512 kernel on a 2-core CPU; 128 was 4x slower)."""


def _orthonormal_block(v: jax.Array) -> jax.Array:
    """Orthonormal columns of float[m, w], one at a time: classical Gram-Schmidt,
    each projection done twice ("twice is enough", Giraud et al. 2005)."""
    width = v.shape[1]

    def column(j: jax.Array, q: jax.Array) -> jax.Array:
        done = (jnp.arange(width) < j).astype(v.dtype)
        x = v[:, j]
        for _ in range(2):
            x = x - q @ (done * (q.T @ x))
        return q.at[:, j].set(x / jnp.linalg.norm(x))

    return jax.lax.fori_loop(0, width, column, jnp.zeros_like(v))


def _orthonormal_columns(a: jax.Array) -> jax.Array:
    """The Q of a = QR with R's diagonal positive, for float[m, n], m >= n: block
    classical Gram-Schmidt done twice (BCGS2; Barlow and Smoktunowicz 2013). Each
    block of `_BLOCK` columns loses its part in the earlier blocks' span (matrix
    products) and is made orthonormal within (`_orthonormal_block`), twice: the
    second pass, on columns already orthonormal, brings them orthogonal to float
    precision and changes nothing in exact arithmetic, so Q is QR's. One column
    at a time, as before 2026-11-30, took 8x longer (0.6 s for 658 x 512)."""
    num_cols = a.shape[1]
    width = min(num_cols, _BLOCK)

    def block(start: jax.Array | int, q: jax.Array, width: int) -> jax.Array:
        done = (jnp.arange(num_cols) < start).astype(a.dtype)[:, None]
        v = jax.lax.dynamic_slice_in_dim(a, start, width, axis=1)
        for _ in range(2):
            v = _orthonormal_block(v - q @ (done * (q.T @ v)))
        return jax.lax.dynamic_update_slice_in_dim(q, v, start, axis=1)

    q = jax.lax.fori_loop(
        0, num_cols // width, lambda i, q: block(i * width, q, width), jnp.zeros_like(a)
    )
    if num_cols % width:  # the last, narrower block
        q = block(num_cols - num_cols % width, q, num_cols % width)
    return q


def orthogonal(scale: float = 1.0) -> Callable[..., jax.Array]:
    """A Haar-random orthogonal initializer times `scale`, as flax's `orthogonal`
    (Saxe et al. 2014), written with Gram-Schmidt instead of LAPACK's QR.

    Why: jaxlib 0.10's CPU QR kernel, batched by a `vmap` over seeds, runs its
    batch on the thread pool that is executing it and can deadlock on a
    two-core machine; matrix products cannot.
    """

    def init(
        key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32
    ) -> jax.Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q = _orthonormal_columns(a)
        q = q if rows >= cols else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def _dense(features: int, scale: float) -> nn.Dense:
    # Orthogonal initialization (sqrt 2 for hidden layers, 0.01 for the policy
    # head, 1 for the value head): the standard PPO choice (Andrychowicz et al.
    # 2021, "What matters in on-policy RL"), which starts near the uniform policy.
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=constant(0.0))


class ActorCritic(nn.Module):
    """One seat's actor-critic: (carry, obs, first) -> (carry, logits, value).

    carry: float32[H] recurrent state (H = `gru_size`; float32[0] for a
    feed-forward network). obs: uint8 or float[O]. first: bool[], the observation
    starts an episode (the GRU state is zeroed before it). Returns the new carry,
    logits float32[A] (unmasked) and value float32[].

    Feed-forward (`gru_size == 0`): separate actor and critic MLPs with
    `hidden_sizes` ReLU layers, or with `shared_torso` one torso of
    `hidden_sizes[:-1]` then one ReLU layer of `hidden_sizes[-1]` per head (as
    JaxMARL's feed-forward Hanabi baseline with 512, 512). Recurrent: a shared
    ReLU torso (`hidden_sizes`), a GRU cell (Cho et al. 2014) of `gru_size`
    units, then one ReLU layer of `hidden_sizes[-1]` units per head.
    """

    num_actions: int
    hidden_sizes: Sequence[int]
    gru_size: int = 0
    shared_torso: bool = False

    @nn.compact
    def __call__(
        self, carry: jax.Array, obs: jax.Array, first: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        x = obs.astype(jnp.float32)
        gain = float(np.sqrt(2.0))
        if self.gru_size == 0 and self.shared_torso:
            for size in self.hidden_sizes[:-1]:
                x = nn.relu(_dense(size, gain)(x))
            actor = nn.relu(_dense(self.hidden_sizes[-1], gain)(x))
            critic = nn.relu(_dense(self.hidden_sizes[-1], gain)(x))
        elif self.gru_size == 0:
            actor, critic = x, x
            for size in self.hidden_sizes:
                actor = nn.relu(_dense(size, gain)(actor))
            for size in self.hidden_sizes:
                critic = nn.relu(_dense(size, gain)(critic))
        else:
            for size in self.hidden_sizes:
                x = nn.relu(_dense(size, gain)(x))
            carry = jnp.where(first, jnp.zeros_like(carry), carry)
            cell = nn.GRUCell(
                features=self.gru_size, recurrent_kernel_init=orthogonal()
            )
            carry, x = cell(carry, x)
            head = self.hidden_sizes[-1] if self.hidden_sizes else self.gru_size
            actor = nn.relu(_dense(head, gain)(x))
            critic = nn.relu(_dense(head, gain)(x))
        logits = _dense(self.num_actions, 0.01)(actor)
        value = _dense(1, 1.0)(critic)[0]
        return carry, logits, value


class Network(NamedTuple):
    """A P-seat actor-critic as pure functions.

    N environments, T time steps, P seats, D deciding seats per step, O
    observation size, A actions, H carry.
    """

    init: Callable[[jax.Array], Params]
    """key -> parameters (leaves with a leading [P] for per-seat parameters)."""
    initial_carry: Callable[[int], jax.Array]
    """N -> float32[N, P, H] zeros (H = 0 for a feed-forward network)."""
    step: Callable[
        [Params, jax.Array, jax.Array, jax.Array, jax.Array],
        tuple[jax.Array, jax.Array, jax.Array],
    ]
    """One environment, one step: (params, carry float[P, H], obs [P, O],
    actors int32[D], first bool[]) -> (carry float[P, H], the deciding seats'
    logits float[D, A] and values float[D])."""
    evaluate: Callable[
        [Params, jax.Array, jax.Array, jax.Array, jax.Array],
        tuple[jax.Array, jax.Array],
    ]
    """Sequences: (params, carry float[N, P, H] at the first step, obs [T, N, P, O],
    actors int32[T, N, D], first bool[T, N]) -> (logits float[T, N, D, A], values
    float[T, N, D]), the deciding seats' outputs at every step (a scan over T for
    a recurrent network, independent steps otherwise)."""


def make_policy(
    *,
    num_players: int,
    num_actions: int,
    obs_size: int,
    hidden_sizes: Sequence[int],
    gru_size: int = 0,
    share_parameters: bool = True,
    shared_torso: bool = False,
) -> Network:
    """The `Network` of a P-seat game with `ActorCritic` seats (any number of
    deciding seats per step: the `actors` given to `step`).

    gru_size: 0 for a feed-forward network, else the GRU's units.
    share_parameters: one parameter set for every seat (parameter sharing, the
      usual IPPO choice), or an independent set per seat.
    shared_torso: feed-forward only, one torso for both heads (`ActorCritic`).
    """
    net = ActorCritic(num_actions, tuple(hidden_sizes), gru_size, shared_torso)
    recurrent = gru_size > 0
    seat_axis = None if share_parameters else 0

    def apply(
        params: Params, carry: jax.Array, obs: jax.Array, first: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        return net.apply(params, carry, obs, first)  # type: ignore[return-value]

    def init(key: jax.Array) -> Params:
        def one(k: jax.Array) -> Params:
            carry = jnp.zeros(gru_size, jnp.float32)
            obs = jnp.zeros(obs_size, jnp.float32)
            return net.init(k, carry, obs, jnp.asarray(True))

        if share_parameters:
            return one(key)
        return jax.vmap(one)(jax.random.split(key, num_players))

    def initial_carry(num_envs: int) -> jax.Array:
        return jnp.zeros((num_envs, num_players, gru_size), jnp.float32)

    def step(
        params: Params,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        if not recurrent and share_parameters:
            # Only the deciding seats' outputs are used and nothing carries over.
            deciding = jax.vmap(apply, in_axes=(None, 0, 0, None))
            _, logits, value = deciding(params, carry[actors], obs[actors], first)
            return carry, logits, value
        seats = jax.vmap(apply, in_axes=(seat_axis, 0, 0, None))
        carry, logits, value = seats(params, carry, obs, first)
        return carry, logits[actors], value[actors]

    def evaluate(
        params: Params,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array]:
        over_envs = jax.vmap(step, in_axes=(None, 0, 0, 0, 0))
        if not recurrent:
            over_time = jax.vmap(over_envs, in_axes=(None, None, 0, 0, 0))
            _, logits, value = over_time(params, carry, obs, actors, first)
            return logits, value

        def body(
            carry: jax.Array, inputs: tuple[jax.Array, jax.Array, jax.Array]
        ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            carry, logits, value = over_envs(params, carry, *inputs)
            return carry, (logits, value)

        _, (logits, value) = jax.lax.scan(body, carry, (obs, actors, first))
        return logits, value

    return Network(init, initial_carry, step, evaluate)


def with_scripted(
    policy: Network, scripted: Sequence[Callable[[jax.Array], jax.Array]]
) -> Network:
    """`policy` (a per-seat network, parameters [P, ...]) with scripted seats:
    rule-based policies (observation [O] -> logits float32[A],
    `games.envs.contract.Environment.scripted`) that play wherever a trained
    network does.

    Its parameters are `{"network": <policy's>, "script": int32[P]}`: seat p is
    played by the network where `script[p] == 0` and by `scripted[script[p] - 1]`
    otherwise (its value estimate 0). A scripted seat keeps the network's
    carry as it is computed and reads its own observation only, so mixing
    recurrent networks and scripts in one game works. `init` and `evaluate` are
    the network's (scripts are played, not trained)."""
    if not scripted:
        raise ValueError("with_scripted needs at least one scripted policy")

    def step(
        params: Params,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        carry, logits, values = policy.step(
            params["network"], carry, obs, actors, first
        )
        seen = obs[actors]  # [D, O]
        table = jnp.stack(
            [logits, *(jax.vmap(script)(seen) for script in scripted)]
        )  # [S + 1, D, A]
        which = jnp.asarray(params["script"])[actors]  # [D]
        chosen = jnp.take_along_axis(table, which[None, :, None], axis=0)[0]
        return carry, chosen, jnp.where(which > 0, 0.0, values)

    return Network(policy.init, policy.initial_carry, step, policy.evaluate)


def with_encodings(policy: Network, obs_size: int, count: int) -> Network:
    """`policy` (a per-seat network, parameters [P, ...], observing O =
    `obs_size` values) for seats that each observe through their own encoding,
    in an environment that shows every seat all `count` encodings at once,
    concatenated (`games.envs.contract.seen_through`, [P, count O]).

    Its parameters are `{"network": <policy's>, "encoding": int32[P]}`: seat p
    reads the encoding `encoding[p]` (its segment of the concatenation) and
    nothing else, so an agent plays as it was trained. `init` and `evaluate`
    are the network's (this is for play, not training)."""

    def step(
        params: Params,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        every = obs.reshape(obs.shape[0], count, obs_size)  # [P, E, O]
        which = jnp.asarray(params["encoding"])  # [P]
        seen = jnp.take_along_axis(every, which[:, None, None], axis=1)[:, 0]
        return policy.step(params["network"], carry, seen, actors, first)

    return Network(policy.init, policy.initial_carry, step, policy.evaluate)


def with_networks(policies: Sequence[Network]) -> Network:
    """Seats each played by their own of several per-seat networks
    (`policies`, parameters [P, ...] each; network k's carry float[P, H_k],
    H_k = 0 for a feed-forward network): agents of different shapes (widths,
    feed-forward and recurrent) in one batched game.

    Its parameters are `{"networks": (<policies[0]'s>, ...), "which":
    int32[P]}`: seat p is played by network `which[p]` on its parameters there
    (an agent's parameters of the other networks are placeholders, zeros).
    Its carry is the networks' carries side by side, float[P, sum H_k]; every
    network steps on every seat (its own slice of the carry), and a seat keeps
    the outputs of its own, so each agent plays and remembers as it was
    trained. For play, not training: `init` gives network 0 to every seat and
    `evaluate` is refused."""
    if len(policies) < 2:
        raise ValueError("with_networks needs two or more networks")
    sizes = [jax.eval_shape(lambda p=p: p.initial_carry(1)).shape[-1] for p in policies]
    ends = np.cumsum([0, *sizes])

    def initial_carry(num_envs: int) -> jax.Array:
        return jnp.concatenate([p.initial_carry(num_envs) for p in policies], -1)

    def step(
        params: Params,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        carries, logits, values = [], [], []
        for k, policy in enumerate(policies):
            mine = carry[..., ends[k] : ends[k + 1]]
            out = policy.step(params["networks"][k], mine, obs, actors, first)
            carries.append(out[0])
            logits.append(out[1])
            values.append(out[2])
        which = jnp.asarray(params["which"])[actors]  # [D]
        chosen = jnp.take_along_axis(jnp.stack(logits), which[None, :, None], axis=0)[0]
        value = jnp.take_along_axis(jnp.stack(values), which[None, :], axis=0)[0]
        return jnp.concatenate(carries, -1), chosen, value

    def init(key: jax.Array) -> Params:
        first = policies[0].init(key)
        seats = jax.tree.leaves(first)[0].shape[0]
        return {
            "networks": tuple(p.init(key) for p in policies),
            "which": jnp.zeros(seats, jnp.int32),
        }

    def evaluate(*_: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError("with_networks plays agents; it does not train")

    return Network(init, initial_carry, step, evaluate)
