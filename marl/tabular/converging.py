"""Runs of the exact learner that continue until every seed passes the
convergence check (`marl.tabular.convergence`).

`train_until_converged` runs a grid of constant-tau runs for `steps`, checking after
every window of `window` steps, then continues the runs that hold an
unconverged seed with NPG (the learner itself if it is NPG, else NPG of
learning rate CONTINUATION_RATE and greed CONTINUATION_GREED, the default greed
at the neutral taus), window by window, up to `max_steps`. Near a
stable fixed point NPG's map contracts onto it whatever its greed (the step is
a fraction CONTINUATION_RATE of the way to softmax(Q / tau) at most), so a seed
the flow or Adam brought close to one stays in its basin; far from one, NPG's
basins are its own (docs/tabular.md). Adam, the benchmarks' start, keeps moving
by about its learning rate near a fixed point, so it is never the continuation.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.tabular import TabularGame
from marl.tabular.convergence import (
    NEUTRAL_TAU,
    Checks,
    Convergence,
    TrainingProgress,
    converged_by,
    make_checks,
    measure,
    power_iterations,
)
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact_pg import ExactPGConfig, PGState, npg_learner
from marl.tabular.matrix_pg import fastest_trainer
from marl.trainer import Trainer, constant_schedules, make_trainer

CONTINUATION_RATE = 0.5
"""NPG learning rate of the continued windows after an SGD or Adam start."""
CONTINUATION_GREED = 300.0
"""NPG greed of those windows (`ExactPGConfig.npg_greed`; the learners' default
is 30) at taus above NEUTRAL_TAU reward ranges. The continuation starts near a
fixed point, where NPG contracts by about 1 - eta tau per step with eta = rate /
(tau + range / greed): at small tau a greedier step converges that much faster.
Box pushing at horizon 3 after 150 Adam steps, 8 seeds x 9 taus: greed 30
converges every seed in 143 s (1,300 steps at tau = 0.01), 300 in 78 s (at most
400 steps) at the same fixed points (values equal, reach-weighted policy
distance below 3e-4). At tau = 0, where a pure equilibrium is approached only
as a limit, greedy steps jump between best responses (no seed of Dec-Tiger,
meeting in a grid or Mars rovers converged at 300), so the neutral taus keep
the default greed."""


class ConvergingTrainer(NamedTuple):
    """What `train_until_converged` needs for one learner, built once per study."""

    config: ExactPGConfig
    trainer: Trainer  # the first `steps`
    continuation: Trainer  # the continued windows (NPG)
    neutral_continuation: Trainer  # the same at taus converged as tau = 0
    checks: Checks
    label: str


def make_converging_trainer(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
    *,
    label: str,
) -> ConvergingTrainer:
    """The fastest trainer for `config`, its NPG continuation and the checks;
    `symmetries` keep agents in their seats."""
    trainer = fastest_trainer(game, config, symmetries)
    continuations = [trainer, trainer]
    if config.optimizer != "npg":
        continuations = [
            make_trainer(
                npg_learner(
                    game,
                    config,
                    symmetries,
                    learning_rate=CONTINUATION_RATE,
                    greed=greed,
                )
            )
            for greed in (CONTINUATION_GREED, ExactPGConfig.npg_greed)
        ]
    greedy, neutral = continuations
    return ConvergingTrainer(
        config, trainer, greedy, neutral, make_checks(game, config, symmetries), label
    )


def padded_rows(rows: np.ndarray, num_runs: int) -> np.ndarray:
    """`rows` padded (by repeating its first) to the next power of two, at most
    `num_runs`: the runs continued together take few distinct shapes, so few
    compilations."""
    size = min(num_runs, 1 << (len(rows) - 1).bit_length())
    return np.concatenate([rows, np.repeat(rows[:1], size - len(rows))])


@jax.jit
def take_runs(states: PGState, rows: jax.Array) -> PGState:
    """Runs `rows` (int[P], padded: `padded_rows`) of `states` [R, ...]."""
    return jax.tree.map(lambda x: x[rows], states)


@jax.jit
def put_runs(states: PGState, source: jax.Array, part: PGState) -> PGState:
    """`states` [R, ...] with run r replaced by run source[r] of `part` [P, ...]
    where source[r] >= 0 (`sources`): one program per P."""
    keep = source < 0

    def put(x: jax.Array, y: jax.Array) -> jax.Array:
        new = y[jnp.maximum(source, 0)]
        return jnp.where(keep.reshape(-1, *([1] * (x.ndim - 1))), x, new)

    return jax.tree.map(put, states, part)


def sources(rows: np.ndarray, num_runs: int) -> np.ndarray:
    """int32[num_runs]: for `put_runs`, the position of each run in `rows`, -1
    for the runs not in it."""
    source = np.full(num_runs, -1, np.int32)
    source[rows] = np.arange(len(rows), dtype=np.int32)
    return source


def train_until_converged(
    game: TabularGame,
    converging: ConvergingTrainer,
    keys: jax.Array,
    taus: np.ndarray,
    progress: Callable[[TrainingProgress], None] | None = None,
) -> tuple[PGState, Convergence]:
    """Every seed (keys [N]) at every tau (float[R]): up to `config.steps` steps
    (fewer when every seed is converged sooner), then the taus with an
    unconverged seed continued with NPG, window by window, until every seed is
    converged or `config.max_steps` is reached. Returns the final states [R, N]
    and their convergence checks; `progress` is told after every window."""
    config, trainer, checks = converging.config, converging.trainer, converging.checks
    label = converging.label
    started = time.time()
    taus = np.asarray(taus, dtype=np.float32)
    num_runs = len(taus)
    states = trainer.init(keys, num_runs)
    num_seeds = int(states.grad_norm.shape[1])
    step = np.full((num_runs, num_seeds), np.inf, np.float32)
    radius = np.full((num_runs, num_seeds), np.nan, np.float32)
    settled = np.zeros((num_runs, num_seeds), bool)
    steps = np.zeros(num_runs, np.int64)
    unsettled = np.zeros(num_runs, np.int64)  # checks in a row left a seed so
    first: list[tuple[float, int]] = []  # after the first window: compiled

    def converged_now() -> np.ndarray:
        return converged_by(step, radius, settled, taus, config, game.reward_range)[0]

    def tell(measuring: int = 0, iterations: int = 0) -> None:
        """`progress` hears where the runs are (and that `measuring` runs'
        contraction is about to be measured)."""
        if progress is None:
            return
        elapsed, at = time.time() - started, int(steps.max())
        done, compiled = (
            int(converged_now().sum()),
            first[0] if first else (elapsed, at),
        )
        where = (label, at, config.max_steps, elapsed, compiled, done, step.size)
        progress(TrainingProgress(*where, measuring, iterations))

    def check(rows: np.ndarray) -> None:
        """Measures runs `rows`: every seed's step, and the contraction of the
        runs whose every seed has a step below policy_tol; tells `progress`."""
        iterations = power_iterations(int(unsettled[rows].max()))
        told = functools.partial(tell, iterations=iterations)
        state = (checks, states.logits, rows, taus[rows], config.policy_tol)
        step[rows], radius[rows], settled[rows] = measure(*state, iterations, told)
        checked = ~np.isnan(radius[rows]).all(axis=1)
        left = checked & ~settled[rows].all(axis=1)
        unsettled[rows] = np.where(left, unsettled[rows] + 1, 0)
        if not first:
            first.append((time.time() - started, int(steps.max())))
        tell()

    all_rows = np.arange(num_runs)
    schedules = constant_schedules(jnp.asarray(taus), config.steps)
    bounds = [*range(0, config.steps, config.window), config.steps]
    for begin, end in itertools.pairwise(bounds):
        states = trainer.run(states, schedules[:, begin:end])[0]
        steps += end - begin
        check(all_rows)
        if converged_now().all():
            break
    if converging.continuation is not trainer:  # onto NPG's (empty) optimizer state
        fresh = converging.continuation.init(keys, num_runs)
        states = fresh._replace(logits=states.logits, grad_norm=states.grad_norm)
    neutral = taus <= NEUTRAL_TAU * game.reward_range
    while True:
        pending = ~converged_now().all(axis=1) & (steps < config.max_steps)
        if not pending.any():
            break
        for continuation, group in (
            (converging.continuation, pending & ~neutral),
            (converging.neutral_continuation, pending & neutral),
        ):
            rows = np.flatnonzero(group)
            if len(rows) == 0:
                continue
            padded = padded_rows(rows, num_runs)
            window = int(min(config.window, config.max_steps - steps[rows].max()))
            after, _ = continuation.run(
                take_runs(states, padded),
                constant_schedules(jnp.asarray(taus[padded]), window),
            )
            states = put_runs(states, sources(rows, num_runs), after)
            steps[rows] += window
            check(rows)
    converged, distance = converged_by(
        step, radius, settled, taus, config, game.reward_range
    )
    convergence = Convergence(
        converged, np.asarray(states.grad_norm), step, radius, settled, distance, steps
    )
    return states, convergence
