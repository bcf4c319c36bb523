"""experiments/exact/training.py: a run along a schedule says where it is only
once the steps it reports have run (JAX dispatches them asynchronously)."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp

from experiments.exact import training
from marl.trainer import Trainer


def test_each_window_is_waited_for_before_its_line(monkeypatch):
    events: list[str] = []

    def init(keys: jax.Array, runs: int) -> jax.Array:
        return jnp.zeros((runs, keys.shape[0]))

    def run(states: jax.Array, schedules: jax.Array) -> tuple[jax.Array, None]:
        events.append(f"run {schedules.shape[1]}")
        return states + schedules.sum(axis=1, keepdims=True), None

    real = jax.block_until_ready

    def wait(x: jax.Array) -> jax.Array:
        events.append("wait")
        return real(x)

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append("line " + record.getMessage())

    monkeypatch.setattr(training.jax, "block_until_ready", wait)
    monkeypatch.setattr(training, "LOG_EVERY_SECONDS", 0.0)  # a line per window
    lines = Lines(logging.INFO)
    training.log.addHandler(lines)
    level = training.log.level
    training.log.setLevel(logging.INFO)
    try:
        states = training.train_schedule(
            Trainer(init, run),
            jax.random.split(jax.random.key(0), 3),
            jnp.ones((2, 5)),
            window=2,
            label="toy",
        )
    finally:
        training.log.removeHandler(lines)
        training.log.setLevel(level)
    assert [e.split(" (")[0] for e in events] == [
        "run 2",
        "wait",
        "line toy: step 2/5",
        "run 2",
        "wait",
        "line toy: step 4/5",
        "run 1",
        "wait",
        "line toy: step 5/5",
    ]
    assert (states == 5.0).all()
