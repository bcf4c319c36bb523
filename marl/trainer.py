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
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from marl.sharding import grid_layout, grid_shape, runs_mesh, sharded_map


def global_norm(tree: Any) -> jax.Array:
    """float[]: the Euclidean norm of every leaf of `tree` together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


class Init(Protocol):
    """One seed's fresh state."""

    def __call__(self, key: jax.Array, /) -> Any: ...


class Update(Protocol):
    """One step: (state, hyperparameter float32[]) -> (state, what the step
    reports, or None)."""

    def __call__(self, state: Any, hyperparameter: jax.Array, /) -> tuple[Any, Any]: ...


class Learner(NamedTuple):
    """One learner, for one run: a pure `(init, update)` pair."""

    init: Init
    """key -> one seed's fresh state."""
    update: Update
    """(state, h float32[]) -> (state, report): one step at hyperparameter h."""
    run_bytes: int = 0
    """Estimated memory of one update of one run (0: small), for chunking seeds."""


MEMORY_BUDGET_BYTES = 4 * 2**30
"""A grid whose updates would need more memory than this is run in chunks of
seeds, one after another (`make_trainer`)."""
CACHE_BYTES = 8 * 2**20
"""On a CPU, runs of BLOCK_RUN_BYTES or more go through all their steps in
blocks of this many bytes' worth (`run_block`), one block after another: a
block's working set then stays in the cache from step to step."""
BLOCK_RUN_BYTES = 2 * 2**20
"""The smallest run (`Learner.run_bytes`) that `run_block` puts in blocks: below
it a block's fixed cost per step outweighs what the cache saves. Measured on
the 2-core EPYC of docs/benchmarks.md, 72 runs x 50 NPG steps: box pushing at
horizon 3 (6.9 MB a run) 10.5 s at once, 5.9 s in blocks of 1; Dec-Tiger at 5
(2.2 MB) 7.5 s and 5.9 s in blocks of 3; but fire fighting at 3 (1.4 MB)
0.56 s and 0.75 s in blocks of 13."""


def run_block(run_bytes: int, backend: str) -> int | None:
    """How many runs one block of `make_trainer` holds: None (all at once) on an
    accelerator or for a run under BLOCK_RUN_BYTES, else CACHE_BYTES worth."""
    if backend != "cpu" or run_bytes < BLOCK_RUN_BYTES:
        return None
    return max(1, CACHE_BYTES // run_bytes)


def map_in_blocks(
    fn: Callable[[Any], Any], xs: Any, run_bytes: int, mesh: Mesh | None = None
) -> Any:
    """`vmap(fn)(xs)` over the leading axis, split over the devices of `mesh`
    (default: every device), and on a CPU in blocks of `run_block(run_bytes)`
    entries, one after another (`marl.sharding.sharded_map`)."""
    return sharded_map(
        fn,
        xs,
        mesh=runs_mesh() if mesh is None else mesh,
        batch_size=run_block(run_bytes, jax.default_backend()),
    )


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
    MEMORY_BUDGET_BYTES (`learner.run_bytes` per run); on a CPU, within a
    chunk, runs that together outgrow the cache go through all their steps in
    blocks (`run_block`, `marl.sharding.sharded_map`): same updates, same
    results, a block's working set kept in the cache.

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

    block = run_block(learner.run_bytes, jax.default_backend())

    def run(states: Any, schedules: jax.Array) -> tuple[Any, Any]:
        num_runs, num_seeds = grid_shape(states)
        layout = grid_layout(mesh, num_runs, num_seeds)

        def one(state: Any, schedule: jax.Array) -> tuple[Any, Any]:
            return run_schedule(learner.update, state, schedule)

        if block is not None and block < num_runs * num_seeds:
            flat = jax.tree.map(
                lambda x: x.reshape(num_runs * num_seeds, *x.shape[2:]), states
            )
            each = jnp.repeat(jnp.asarray(schedules, jnp.float32), num_seeds, axis=0)
            out = map_in_blocks(
                lambda pair: one(*pair), (flat, each), learner.run_bytes, mesh
            )
            return jax.tree.map(
                lambda x: x.reshape(num_runs, num_seeds, *x.shape[1:]), out
            )
        # One scan of the update batched over runs and seeds, not two vmaps
        # of a scan: the same steps and results, but the update is traced once
        # under the vmaps instead of traced, then batched again per vmap by
        # scan's batching rule (a tiny IPPO run's trainer, warm: tracing 2.1
        # to 1.7 s, lowering 0.55 to 0.42 s; the programs run as fast).
        grid = jax.vmap(jax.vmap(learner.update, in_axes=(0, None)), in_axes=(0, 0))
        final, reports = jax.lax.scan(
            grid,
            layout.spread(states),
            jnp.swapaxes(jnp.asarray(schedules, jnp.float32), 0, 1),
        )
        reports = jax.tree.map(lambda x: jnp.moveaxis(x, 0, 2), reports)
        return layout.collect((final, reports))

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
