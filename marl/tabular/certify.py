"""Convergence certificates for the exact learner: when a seed has reached a fixed
point of the entropy-regularized flow, and runs that continue until it has.

A seed is *certified* at a constant tau when, at the end of a window of
`ExactPGConfig.window` steps, both its scaled gradient norm is below `grad_tol`
and its policy moved less than `policy_tol` over the window (the largest
total-variation distance at any information state). A small gradient alone is not
enough: near the uniqueness threshold the flow slows down (critical slowing), and
a seed creeping towards its fixed point has a tiny gradient while still far away.

`train_certified` runs a grid of constant-tau runs for `steps`, then continues the
runs (taus) that hold an uncertified seed, window by window, up to `max_steps`.
Before each continued window, small games get a Newton polish (`newton_polish`):
damped Newton ascent on the objective in the logits' gauge-free coordinates,
accepted per seed only while the Hessian there is negative definite (a strict
local maximum, the flow's stable fixed point) and the objective does not fall.
The window that follows checks the certificate with ordinary steps.

Continued windows follow the gradient flow: plain SGD with step
FLOW_LEARNING_RATE / (reward range + tau), whatever optimizer made the first
`steps`. Adam, the benchmarks' optimizer, normalizes its steps, so near a fixed
point it keeps moving by about its learning rate and no window would ever
certify; the fixed points are the same for both.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from games.tabular import TabularGame
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact import Policy, softmax_policy
from marl.tabular.exact_pg import (
    ExactPGConfig,
    PGState,
    constant_schedules,
    learner_objective,
    update_bytes,
)
from marl.tabular.matrix_pg import fastest_trainer
from marl.trainer import MEMORY_BUDGET_BYTES, Trainer

log = logging.getLogger(__name__)

NEWTON_MAX_PARAMS = 128
"""Largest number of free logits per seed (sum_i K_i (A_i - 1)) for which the
Newton polish is used: its Hessian costs that many gradient evaluations (and
that many times their memory), so 20 Newton steps cost about as much as a
window of 500 flow steps at 128 free logits, and beyond that the polish would
be slower than the flow it replaces."""
FLOW_LEARNING_RATE = 0.5
"""SGD step of the continued windows, in units of 1 / (reward range + tau)."""
POLISH_BATCH = 256
"""Seeds polished per call of the compiled polish (a fixed shape: one compile),
fewer where their Hessians would not fit in `MEMORY_BUDGET_BYTES`."""
NEWTON_RADIUS = 1.0
"""Largest change of any logit in one Newton step (a trust region)."""
NEWTON_CURVATURE = 1e-4
"""A Hessian counts as negative definite when the Cholesky factorization of its
negation exists and the squared ratio of the factor's smallest to largest diagonal
entry (an estimate of the inverse condition number) is above this: float32 solves
are unreliable beyond a condition number of about 1e4."""

policies_of = jax.jit(softmax_policy)
"""Softmax of a batch of logits, one compiled program per shape."""


class Certificate(NamedTuple):
    """Per run r (a tau) and seed n of a grid, at its end."""

    certified: np.ndarray  # bool[R, N]
    grad_norm: np.ndarray  # float[R, N], scaled, at the last step
    policy_change: np.ndarray  # float[R, N], over the last window
    steps: np.ndarray  # int[R], steps run
    polished: np.ndarray  # bool[R, N], whether a Newton polish was accepted


@jax.jit
def policy_change(before: Policy, after: Policy) -> jax.Array:
    """float[...]: the largest total-variation distance between two batches of
    policies (per agent [..., K_i, A_i]) at any information state."""
    per_agent = [
        0.5 * jnp.max(jnp.sum(jnp.abs(a - b), axis=-1), axis=-1)
        for a, b in zip(before, after, strict=True)
    ]
    return jnp.max(jnp.stack(per_agent), axis=0)


def gauge_basis(num_actions: int) -> np.ndarray:
    """float[A, A - 1]: an orthonormal basis of the logit directions that change
    the softmax (adding a constant to a row does not)."""
    centred = np.eye(num_actions) - 1.0 / num_actions
    q, _ = np.linalg.qr(centred[:, : num_actions - 1])
    return q.astype(np.float32)


def free_parameters(game: TabularGame) -> int:
    """sum_i K_i (A_i - 1): the logits' degrees of freedom that matter."""
    return sum(k * (a - 1) for k, a in game.policy_shapes)


Polish = Callable[[Policy, np.ndarray], tuple[Policy, np.ndarray]]
"""(logits per agent [R, N, K_i, A_i], taus float[R]) -> (logits, accepted
bool[R, N])."""


def make_newton_polish(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Polish:
    """`config.newton_steps` damped Newton steps on the scaled objective of
    `marl.tabular.exact_pg.learner_objective` for every seed of every run, accepted per
    seed as the module docstring says. The runs are flattened and cut into
    batches of at most POLISH_BATCH, so the program is compiled once per study."""
    bases = [jnp.asarray(gauge_basis(a)) for _, a in game.policy_shapes]

    def polish_one(logits: Policy, tau: jax.Array) -> tuple[Policy, jax.Array]:
        zero = tuple(jnp.zeros((k, a - 1)) for k, a in game.policy_shapes)
        flat0, unravel = ravel_pytree(zero)

        def logits_at(z: jax.Array) -> Policy:
            return tuple(
                x + d @ b.T for x, d, b in zip(logits, unravel(z), bases, strict=True)
            )

        def value(z: jax.Array) -> jax.Array:
            policy = softmax_policy(logits_at(z))
            objective = learner_objective(game, policy, tau, config, symmetries)
            return objective / (game.reward_range + tau)

        def newton_move(z: jax.Array) -> tuple[jax.Array, jax.Array]:
            """The Newton step at z and whether the Hessian there is negative
            definite (its Cholesky factorization exists and is well conditioned)."""
            grad = jax.grad(value)(z)
            negated = -jax.hessian(value)(z)
            factor = jnp.linalg.cholesky(negated)
            diagonal = jnp.diagonal(factor)
            condition = (jnp.min(diagonal) / jnp.max(diagonal)) ** 2
            concave = jnp.all(jnp.isfinite(factor)) & (condition > NEWTON_CURVATURE)
            move = jax.scipy.linalg.cho_solve((factor, True), grad)
            return move, concave

        def step(carry, _):
            z, accepted = carry
            move, concave = newton_move(z)
            largest = jnp.max(jnp.abs(move))
            move = move * jnp.minimum(1.0, NEWTON_RADIUS / jnp.maximum(largest, 1e-30))
            new = z + move
            ok = concave & jnp.all(jnp.isfinite(new))
            ok = ok & (value(new) >= value(z) - 1e-7 * jnp.abs(value(z)))
            return (jnp.where(ok, new, z), accepted | ok), None

        (z, accepted), _ = jax.lax.scan(
            step, (flat0, jnp.zeros((), bool)), None, length=config.newton_steps
        )
        accepted = accepted & newton_move(z)[1]
        polished = logits_at(z)
        return (
            tuple(
                jnp.where(accepted, p, x) for p, x in zip(polished, logits, strict=True)
            ),
            accepted,
        )

    batched = jax.jit(jax.vmap(polish_one))
    hessian_bytes = update_bytes(game) * (free_parameters(game) + 1)
    batch = int(np.clip(MEMORY_BUDGET_BYTES // max(hessian_bytes, 1), 1, POLISH_BATCH))

    def polish(logits: Policy, taus: np.ndarray) -> tuple[Policy, np.ndarray]:
        num_runs, num_seeds = logits[0].shape[:2]
        total = num_runs * num_seeds
        padded = -(-total // batch) * batch

        def flat(x: Any) -> np.ndarray:
            """[R, N, ...] (or [R * N]) -> [padded, ...], the first run repeated."""
            x = np.asarray(x).reshape(total, *np.shape(x)[2:])
            return np.concatenate([x, np.repeat(x[:1], padded - total, axis=0)])

        flat_logits = tuple(flat(x) for x in logits)
        flat_taus = flat(np.repeat(np.asarray(taus, np.float32), num_seeds))
        pieces = [
            batched(
                tuple(x[k : k + batch] for x in flat_logits), flat_taus[k : k + batch]
            )
            for k in range(0, padded, batch)
        ]
        out, accepted = jax.tree.map(
            lambda *xs: np.concatenate([np.asarray(x) for x in xs])[:total], *pieces
        )
        return (
            tuple(
                jnp.asarray(x.reshape(num_runs, num_seeds, *x.shape[1:])) for x in out
            ),
            accepted.reshape(num_runs, num_seeds),
        )

    return polish


def uses_newton(game: TabularGame, config: ExactPGConfig) -> bool:
    """Whether the polish applies: enabled, and a Hessian small enough to build."""
    return config.newton_steps > 0 and 0 < free_parameters(game) <= NEWTON_MAX_PARAMS


class CertifiedTrainer(NamedTuple):
    """What `train_certified` needs for one learner, built once per study."""

    config: ExactPGConfig
    trainer: Trainer  # the first `steps`
    continuation: Trainer  # the continued windows (the flow: SGD)
    polish: Polish | None
    label: str


def make_certified_trainer(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
    *,
    label: str,
) -> CertifiedTrainer:
    """The fastest trainer for `config`, its SGD continuation and (for small
    games) the Newton polish; `symmetries` keep agents in their seats."""
    trainer = fastest_trainer(game, config, symmetries)
    continuation = trainer
    if config.optimizer != "sgd":
        flow = dataclasses.replace(
            config, optimizer="sgd", learning_rate=FLOW_LEARNING_RATE
        )
        continuation = fastest_trainer(game, flow, symmetries)
    polish = (
        make_newton_polish(game, config, symmetries)
        if uses_newton(game, config)
        else None
    )
    return CertifiedTrainer(config, trainer, continuation, polish, label)


def padded_rows(rows: np.ndarray, num_runs: int) -> np.ndarray:
    """`rows` padded (by repeating its first) to the next power of two, at most
    `num_runs`: the runs continued together take few distinct shapes, so few
    compilations."""
    size = min(num_runs, 1 << (len(rows) - 1).bit_length())
    return np.concatenate([rows, np.repeat(rows[:1], size - len(rows))])


def take_runs(states: PGState, rows: np.ndarray) -> PGState:
    return jax.tree.map(lambda x: x[rows], states)


def put_runs(states: PGState, rows: np.ndarray, part: PGState) -> PGState:
    """`states` with runs `rows` replaced by the first len(rows) runs of `part`."""
    return jax.tree.map(lambda x, y: x.at[rows].set(y[: len(rows)]), states, part)


def train_certified(
    game: TabularGame,
    learner: CertifiedTrainer,
    keys: jax.Array,
    taus: np.ndarray,
) -> tuple[PGState, Certificate]:
    """Every seed (keys [N]) at every tau (float[R]): `config.steps` steps, then the
    taus with an uncertified seed continued window by window on the flow (after
    the Newton polish, where there is one) until every seed is certified or
    `config.max_steps` is reached. Returns the final states [R, N] and their
    certificates; progress is logged after every window."""
    config, trainer, polish, label = (
        learner.config,
        learner.trainer,
        learner.polish,
        learner.label,
    )
    started = time.time()
    taus = np.asarray(taus, dtype=np.float32)
    num_runs = len(taus)
    states = trainer.init(keys, num_runs)
    num_seeds = int(states.grad_norm.shape[1])
    change = np.full((num_runs, num_seeds), np.inf)
    polished = np.zeros((num_runs, num_seeds), bool)
    steps = np.zeros(num_runs, np.int64)

    def certified_now(norm: np.ndarray, moved: np.ndarray) -> np.ndarray:
        return (norm < config.grad_tol) & (moved < config.policy_tol)

    def check(rows: np.ndarray, before: PGState, after: PGState, ran: int) -> None:
        """Records the window's policy change and steps, and logs progress."""
        moved = policy_change(policies_of(before.logits), policies_of(after.logits))
        change[rows] = np.asarray(moved)
        steps[rows] += ran
        norm = np.asarray(after.grad_norm)
        log.info(
            "%s: step %d (%.0f s), %d of %d runs certified",
            label,
            int(steps[rows].max()),
            time.time() - started,
            int(certified_now(norm, change[rows]).sum()),
            norm.size,
        )

    all_rows = np.arange(num_runs)
    schedules = constant_schedules(jnp.asarray(taus), config.steps)
    bounds = [*range(0, config.steps, config.window), config.steps]
    for begin, end in itertools.pairwise(bounds):
        before = states
        states = trainer.run(states, schedules[:, begin:end])[0]
        check(all_rows, before, states, end - begin)
    if learner.continuation is not trainer:  # onto the flow's optimizer state
        fresh = learner.continuation.init(keys, num_runs)
        states = fresh._replace(logits=states.logits, grad_norm=states.grad_norm)
    trainer = learner.continuation
    while True:
        certified = certified_now(np.asarray(states.grad_norm), change)
        rows = np.flatnonzero(~certified.all(axis=1) & (steps < config.max_steps))
        if len(rows) == 0:
            break
        padded = padded_rows(rows, num_runs)
        before = take_runs(states, padded)
        if polish is not None:
            logits, accepted = polish(before.logits, taus[padded])
            before = before._replace(logits=logits)
            polished[rows] |= accepted[: len(rows)]
        window = int(min(config.window, config.max_steps - steps[rows].max()))
        after, _ = trainer.run(
            before, constant_schedules(jnp.asarray(taus[padded]), window)
        )
        check(
            rows,
            take_runs(before, np.arange(len(rows))),
            take_runs(after, np.arange(len(rows))),
            window,
        )
        states = put_runs(states, rows, after)
    certificate = Certificate(
        certified_now(np.asarray(states.grad_norm), change),
        np.asarray(states.grad_norm),
        change,
        steps,
        polished,
    )
    return states, certificate
