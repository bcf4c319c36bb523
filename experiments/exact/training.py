"""The exact learners' runs with their progress in the tabular entry point's
log: `convergence_progress` for runs to a fixed point at constant tau
(`marl.tabular.convergence`), `train_schedule` for runs along a schedule of
tau (annealing), which have none."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import jax

from experiments.harness.logs import LOG_EVERY_SECONDS, duration_text, eta_text
from marl.tabular.convergence import TrainingProgress
from marl.tabular.exact_pg import PGState
from marl.trainer import Trainer

log = logging.getLogger("experiments.tabular")  # the entry point's log


def convergence_progress(log: logging.Logger) -> Callable[[TrainingProgress], None]:
    """Logs `marl.tabular.convergence.train_until_converged`'s progress at most
    every LOG_EVERY_SECONDS (and once every seed is converged), with the time
    left to max_steps at the rate since compilation: an upper bound, as runs
    end sooner once every seed is converged; and, as often, that a check's
    contraction is about to be measured (on box pushing, half a minute)."""
    last = [-LOG_EVERY_SECONDS]

    def show(p: TrainingProgress) -> None:
        if p.measuring:  # the check can take as long as a window: say it starts
            if p.elapsed - last[0] < LOG_EVERY_SECONDS:
                return
            log.info(
                "%s: step %d: measuring the contraction at %d tau%s "
                "(%d power iterations)",
                p.label,
                p.step,
                p.measuring,
                "" if p.measuring == 1 else "s",
                p.iterations,
            )
            last[0] = p.elapsed
            return
        if p.elapsed - last[0] < LOG_EVERY_SECONDS and p.converged < p.seeds:
            return
        last[0] = p.elapsed
        then, at = p.compiled
        left = ""
        if p.step > at and p.max_steps > p.step:
            rate = (p.elapsed - then) / (p.step - at)
            left = f", up to ~{duration_text(rate * (p.max_steps - p.step))} more"
        log.info(
            "%s: step %d/%d (%.0f s%s), %d of %d seeds converged",
            p.label,
            p.step,
            p.max_steps,
            p.elapsed,
            left,
            p.converged,
            p.seeds,
        )

    return show


def train_schedule(
    trainer: Trainer,
    keys: jax.Array,
    schedules: jax.Array,
    *,
    window: int,
    label: str,
) -> PGState:
    """Runs `schedules` (float[R, steps], e.g. annealing) for every seed, jitted in
    windows of `window` steps so that progress can be logged between them. Such
    runs have no fixed point to converge to (`marl.tabular.convergence` is for
    constant tau). Each window is waited for before its line: JAX dispatches
    asynchronously, and the lines said "step 1000/1000 (10 s)" of box pushing's
    annealing when the steps had been queued, not run, another 20 to 40 s then
    passing in silence in whatever read the states next."""
    started = time.time()
    states = trainer.init(keys, schedules.shape[0])
    steps = schedules.shape[1]
    compiled, last_log = None, 0.0  # after the first window: no compilation
    for begin in range(0, steps, window):
        end = min(begin + window, steps)
        states, _ = trainer.run(states, schedules[:, begin:end])
        states = jax.block_until_ready(states)
        now = time.time()
        if compiled is None:
            compiled = (now, end)
        if now - last_log >= LOG_EVERY_SECONDS or end == steps:
            last_log = now
            eta = eta_text(now - compiled[0], end - compiled[1], steps - compiled[1])
            log.info("%s: step %d/%d (%.0f s%s)", label, end, steps, now - started, eta)
    return states
