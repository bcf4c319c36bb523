"""The one learner contract and the one trainer of both wings.

A `Learner` is a pure `(init, update)` pair over a state pytree, optax-style:
`init(key)` is one seed's state and `update(state, h) -> (state, report)` one
step, with `h` the hyperparameter being swept as an array, so that it can be a
`vmap` axis: tau for the exact and sampled tabular learners
(`marl.tabular.exact_pg`, `marl.tabular.sampled_pg`), the entropy coefficient
for IPPO (`marl.deep.ippo`, whose report is its `Metrics`; the tabular learners
report nothing, None). A schedule is float[steps] of that hyperparameter, one
value per update: constant for a point of a grid, decaying for annealing.
`make_trainer` runs R schedules x S seeds in one jitted call: the seeds are the
inner vmap axis (every run starts from the same S states, so runs differ only by
their schedules), the runs the outer one, and the grid is split over the devices
of a mesh (`marl.sharding.grid_layout`: on one device the program is the
unsharded one). A new learner of either wing is one module with a `Learner`
factory; `global_norm` serves every learner too, and `marl.fields` holds the one
validation of their config fields.

Shapes: R runs (schedules), S seeds, T steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from marl.sharding import grid_layout, grid_shape, runs_mesh


def global_norm(tree: Any) -> jax.Array:
    """float[]: the Euclidean norm of every leaf of `tree` together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


Update = Callable[[Any, jax.Array], tuple[Any, Any]]
"""(state, hyperparameter float32[]) -> (state, what the step reports, or None)."""


class Learner(NamedTuple):
    """One learner, for one run: a pure `(init, update)` pair."""

    init: Callable[[jax.Array], Any]
    """key -> one seed's fresh state."""
    update: Update
    """(state, h float32[]) -> (state, report): one step at hyperparameter h."""
    run_bytes: int = 0
    """Estimated memory of one update of one run (0: small), for chunking seeds."""


MEMORY_BUDGET_BYTES = 4 * 2**30
"""A grid whose updates would need more memory than this is run in chunks of
seeds, one after another (`make_trainer`)."""


def run_schedule(update: Update, state: Any, schedule: jax.Array) -> tuple[Any, Any]:
    """One update per entry of `schedule` (float[T]), a `lax.scan`; returns the
    final state and the updates' reports with a leading [T]."""

    def body(carry: Any, value: jax.Array) -> tuple[Any, Any]:
        return update(carry, value)

    return jax.lax.scan(body, state, schedule)


def constant_schedules(values: jax.Array, num_steps: int) -> jax.Array:
    """float32[R, num_steps]: each value held for every step."""
    values = jnp.asarray(values, dtype=jnp.float32)
    return jnp.broadcast_to(values[:, None], (values.shape[0], num_steps))


class Trainer(NamedTuple):
    """A learner over a [runs, seeds] grid (leaves with leading [R, S])."""

    init: Callable[[jax.Array, int], Any]
    """(keys [S], R) -> states [R, S]: each seed's state repeated for every run."""
    run: Any
    """(states [R, S], schedules float[R, T]) -> (states, reports [R, S, T]);
    jitted, one compilation per schedule shape (`run.lower` lowers it)."""


def make_trainer(
    learner: Learner, mesh: Mesh | None = None, *, jit_init: bool = False
) -> Trainer:
    """The grid trainer of a learner.

    Each seed's start is `vmap(learner.init)(keys)`: drawn outside any jit of
    ours by default (the exact learners: jax.random's own jitted kernels are
    cached per shape for the whole process, so the trainers of a study share one
    threefry compilation instead of compiling it into each of their programs),
    or jitted with `jit_init` (IPPO, whose init deals games). The seeds are run
    in chunks, one after another, when the grid's updates would need more than
    MEMORY_BUDGET_BYTES (`learner.run_bytes` per run).

    mesh: the devices the grid is split over (default: every device): the seeds,
    padded to a multiple of the devices they are split over, and the runs axis
    too where its size allows (`marl.sharding.grid_layout`). On several devices
    the results equal the one-device program's up to float rounding
    (docs/scaling.md).
    """
    mesh = runs_mesh() if mesh is None else mesh
    draw = jax.vmap(learner.init)
    if jit_init:
        draw = jax.jit(draw)

    def place(states: Any, num_runs: int) -> Any:
        layout = grid_layout(mesh, num_runs, jax.tree.leaves(states)[0].shape[0])
        states = jax.tree.map(
            lambda x: jnp.broadcast_to(x, (num_runs, *x.shape)), states
        )
        return layout.collect(layout.spread(states))

    place_jit = jax.jit(place, static_argnums=1)

    def init(keys: jax.Array, num_runs: int) -> Any:
        return place_jit(draw(keys), num_runs)

    def run(states: Any, schedules: jax.Array) -> tuple[Any, Any]:
        layout = grid_layout(mesh, *grid_shape(states))

        def one(state: Any, schedule: jax.Array) -> tuple[Any, Any]:
            return run_schedule(learner.update, state, schedule)

        over_seeds = jax.vmap(one, in_axes=(0, None))
        out = jax.vmap(over_seeds, in_axes=(0, 0))(
            layout.spread(states), jnp.asarray(schedules, jnp.float32)
        )
        return layout.collect(out)

    whole = jax.jit(run)

    def run_in_chunks(states: Any, schedules: jax.Array) -> tuple[Any, Any]:
        num_runs, num_seeds = grid_shape(states)
        chunk = max(1, MEMORY_BUDGET_BYTES // max(1, learner.run_bytes * num_runs))
        if chunk >= num_seeds:
            return whole(states, schedules)
        parts = [
            whole(jax.tree.map(lambda x, k=k: x[:, k : k + chunk], states), schedules)
            for k in range(0, num_seeds, chunk)
        ]
        return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *parts)

    run_in_chunks.lower = whole.lower  # type: ignore[attr-defined]
    return Trainer(jax.jit(init, static_argnums=1) if jit_init else init, run_in_chunks)
