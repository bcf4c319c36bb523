"""marl/trainer.py's grid against a hand computation: each run's schedule, each
seed's state and each step's report where the layout [runs, seeds, steps] says,
through the batched scan and through the blocks of `map_in_blocks` alike."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marl import trainer as tr


def counter(run_bytes: int) -> tr.Learner:
    """A state that adds each step's value; its report is the state before the
    step and the value."""

    def init(key: jax.Array) -> jax.Array:
        return jax.random.uniform(key)

    def update(state: jax.Array, value: jax.Array) -> tuple[jax.Array, tuple]:
        return state + value, (state, value)

    return tr.Learner(init, update, run_bytes)


@pytest.mark.parametrize("run_bytes", [0, tr.BLOCK_RUN_BYTES])
def test_every_run_seed_and_step_lands_where_the_layout_says(run_bytes):
    runs, seeds, steps = 3, 2, 4  # no two sizes equal: a swapped axis shows
    trainer = tr.make_trainer(counter(run_bytes))
    starts = trainer.init(jax.random.split(jax.random.key(0), seeds), runs)
    schedules = 10.0 * np.arange(runs)[:, None] + np.arange(steps)[None, :]
    final, (before, values) = trainer.run(starts, jnp.asarray(schedules))
    first = np.asarray(starts)  # [runs, seeds], each seed's draw in every run
    assert first.shape == (runs, seeds) and (first == first[:1]).all()
    assert len(set(first[0].tolist())) == seeds
    sums = np.concatenate([np.zeros((runs, 1)), np.cumsum(schedules, 1)], 1)
    expected = first[:, :, None] + sums[:, None, :-1]  # [runs, seeds, steps]
    np.testing.assert_allclose(np.asarray(before), expected, rtol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(values), np.broadcast_to(schedules[:, None], expected.shape)
    )
    np.testing.assert_allclose(np.asarray(final), first + sums[:, -1:], rtol=1e-6)
