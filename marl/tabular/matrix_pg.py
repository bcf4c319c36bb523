"""A fast path of the exact learner for two-player matrix games.

The same update as `marl.tabular.exact_pg` (SGD on J_tau = x^T A y + tau (H(x) + H(y)),
gradient divided by reward_range + tau), written with the analytic softmax gradient

    d J_tau / d theta_x = x * (u - <x, u>),   u = A y - tau log x

and with the runs (taus x seeds) on the last axis, float[A, runs]: every step is a
few passes over contiguous memory instead of a gather and scatter per history. A test
checks that both paths give the same policies.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from games.tabular import TabularGame
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact_pg import ExactPGConfig, PGState, make_exact_pg
from marl.trainer import Learner, Trainer, make_trainer


def payoff_matrix(game: TabularGame) -> np.ndarray:
    """A[a_0, a_1] of a compiled two-player matrix game (one history per joint
    action, each agent deciding once at its single information state)."""
    payoff = np.zeros(game.num_actions, np.float32)
    actions0 = np.asarray(game.action[0][:, 0])
    actions1 = np.asarray(game.action[1][:, 0])
    payoff[actions0, actions1] = np.asarray(game.returns)
    return payoff


def matrix_game_gradient(
    payoffs: tuple[jax.Array, jax.Array],
    logits: tuple[jax.Array, jax.Array],
    taus: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """d J_tau / d logits for runs on the last axis: logits float[A_i, R], taus [R].

    payoffs: each player's payoff with its own action first, (A, A^T), both
    row-major: XLA's CPU backend runs `A.T @ x` (a dot contracting the left
    operand's first axis) through a generic kernel about eight times slower than
    `A @ y`, which made that one product nearly 40% of a step.
    """

    def softmax_and_log(theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        shifted = theta - jnp.max(theta, axis=0, keepdims=True)
        exp = jnp.exp(shifted)
        total = jnp.sum(exp, axis=0, keepdims=True)
        return exp / total, shifted - jnp.log(total)

    (x, log_x), (y, log_y) = map(softmax_and_log, logits)
    u_x = payoffs[0] @ y - taus * log_x
    u_y = payoffs[1] @ x - taus * log_y
    return (
        x * (u_x - jnp.sum(x * u_x, axis=0, keepdims=True)),
        y * (u_y - jnp.sum(y * u_y, axis=0, keepdims=True)),
    )


def supports(game: TabularGame, config: ExactPGConfig) -> bool:
    """Whether the fast path computes the same update as `make_exact_pg`."""
    return (
        game.is_matrix_game
        and game.num_agents == 2
        and config.optimizer == "sgd"
        and config.objective == "selfplay"
        and config.grad_noise == 0
        and not config.stay_equivariant
    )


BLOCK_SIZE = 256
"""Runs per block: a block's logits and temporaries stay in the L1/L2 cache for all
its steps, which on a CPU is worth more than one wide pass per step."""

CPU_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}
"""XLA's CPU backend vectorizes with 256-bit registers by default; where the
processor has AVX-512 the `exp` passes of a step take half as long with 512 (the
lever benchmark runs about 10% faster; docs/benchmarks.md). Elsewhere it does
nothing."""


def train_blocks(
    payoffs: tuple[jax.Array, jax.Array],
    logits: tuple[jax.Array, jax.Array],
    schedules: jax.Array,
    tau_index: jax.Array,
    *,
    learning_rate: float,
    reward_range: float,
) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """All steps for blocks of runs: payoffs (A, A^T) as in `matrix_game_gradient`,
    logits float[blocks, A_i, B], schedules float[T, steps] of tau, tau_index
    int[blocks, B] (each run's schedule row). Returns the final logits and the last
    scaled gradient norm float[blocks, B]."""

    def one_block(block: tuple) -> tuple:
        theta, rows = block[:2], block[2]

        def step(theta: tuple, taus_now: jax.Array) -> tuple:
            taus = taus_now[rows]
            grads = matrix_game_gradient(payoffs, theta, taus)
            scale = learning_rate / (reward_range + taus)
            new = tuple(t + scale * g for t, g in zip(theta, grads, strict=True))
            return new, grads

        # The gradient norm is only reported for the last step: computing it at
        # every step would add two passes over the block per step.
        theta, _ = jax.lax.scan(
            lambda t, tau: (step(t, tau)[0], None), theta, schedules.T[:-1]
        )
        taus = schedules[:, -1][rows]
        theta, grads = step(theta, schedules[:, -1])
        norm = jnp.sqrt(sum(jnp.sum(g * g, axis=0) for g in grads)) / (
            reward_range + taus
        )
        return theta, norm

    return jax.lax.map(one_block, (*logits, tau_index))


def make_matrix_trainer(game: TabularGame, config: ExactPGConfig) -> Trainer:
    """A `Trainer` with the same interface and results as
    `make_trainer(make_exact_pg(game, config))` for games where `supports` holds.

    Runs are cut into blocks of `BLOCK_SIZE` (padded). The blocks are split over the
    local devices, and each device's share is dispatched asynchronously, so the
    devices work at once (on a CPU, one host device per core with
    XLA_FLAGS=--xla_force_host_platform_device_count=<cores>; XLA's CPU runtime
    runs the partitions of one sharded program one after another, so `shard_map`
    would not use the cores)."""
    if not supports(game, config):
        raise ValueError(
            "the matrix-game fast path needs a 2-player matrix game, SGD, "
            "self-play, no gradient noise"
        )
    learner: Learner = make_exact_pg(game, config)
    payoff = payoff_matrix(game)
    payoffs = (payoff, np.ascontiguousarray(payoff.T))
    devices = jax.local_devices()
    train = jax.jit(
        partial(
            train_blocks,
            learning_rate=config.learning_rate,
            reward_range=game.reward_range,
        ),
        compiler_options=CPU_COMPILER_OPTIONS if devices[0].platform == "cpu" else None,
    )

    def init(keys: jax.Array, num_runs: int) -> PGState:
        states = jax.vmap(learner.init)(keys)  # as make_trainer draws them
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_runs, *x.shape)), states)

    def run(states: PGState, schedules: jax.Array) -> tuple[PGState, None]:
        num_taus, num_seeds = states.grad_norm.shape
        total = num_taus * num_seeds
        unit = BLOCK_SIZE * len(devices)
        padded = -(-total // unit) * unit
        blocks = padded // BLOCK_SIZE

        def to_blocks(x: np.ndarray) -> np.ndarray:  # [T, N, 1, A] -> [blocks, A, B]
            flat = np.zeros((padded, x.shape[-1]), x.dtype)
            flat[:total] = x[:, :, 0, :].reshape(total, -1)
            return flat.reshape(blocks, BLOCK_SIZE, -1).transpose(0, 2, 1)

        rows = np.zeros(padded, np.int32)
        rows[:total] = np.repeat(np.arange(num_taus), num_seeds)
        parts = [to_blocks(np.asarray(x)) for x in states.logits]
        parts.append(rows.reshape(blocks, BLOCK_SIZE))
        share = blocks // len(devices)
        outputs = []
        for k, device in enumerate(devices):  # asynchronous: all devices at once
            mine = [
                jax.device_put(p[k * share : (k + 1) * share], device) for p in parts
            ]
            outputs.append(
                train(
                    jax.device_put(payoffs, device),
                    (mine[0], mine[1]),
                    jax.device_put(schedules, device),
                    mine[2],
                )
            )
        (x, y), norm = jax.tree.map(
            lambda *leaves: np.concatenate([np.asarray(v) for v in leaves]), *outputs
        )

        def from_blocks(z: np.ndarray) -> jax.Array:
            flat = z.transpose(0, 2, 1).reshape(padded, -1)[:total]
            return jnp.asarray(flat.reshape(num_taus, num_seeds, 1, -1))

        norm = jnp.asarray(norm.reshape(padded)[:total].reshape(num_taus, num_seeds))
        return (
            states._replace(logits=(from_blocks(x), from_blocks(y)), grad_norm=norm),
            None,
        )

    return Trainer(init, run)


def fastest_trainer(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Trainer:
    """The matrix-game fast path where it applies, else the general exact learner."""
    if supports(game, config):
        return make_matrix_trainer(game, config)
    return make_trainer(make_exact_pg(game, config, symmetries))
