"""The shared core of every learner: a [runs, seeds] grid over schedules.

A learner is a pure `(init, update)` pair over a state pytree, and `update(state,
h)` takes the hyperparameter being swept as an array, so that it can be a `vmap`
axis: tau for the exact and sampled tabular learners (`marl.tabular.exact_pg`,
`marl.tabular.sampled_pg`), the entropy coefficient for IPPO (`marl.deep.ippo`).
A schedule is float[steps] of that hyperparameter, one value per update: constant
for a point of a grid, decaying for annealing. `make_grid_trainer` runs R
schedules x S seeds in one jitted call: the seeds are the inner vmap axis (every
run starts from the same S states, so runs differ only by their schedules), the
runs the outer one, and the grid is split over the devices of a mesh
(`marl.sharding.grid_layout`: on one device the program is the unsharded one).
Each learner's module wraps it in its own `make_trainer` with its own calling
convention. `ConfigError` (an impossible hyperparameter) and `global_norm` serve
every learner too.

Shapes: R runs (schedules), S seeds, T steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from marl.sharding import grid_layout, grid_shape, runs_mesh

State = TypeVar("State")


class ConfigError(ValueError):
    """An impossible hyperparameter of any learner; the message names the field."""


def global_norm(tree: Any) -> jax.Array:
    """float[]: the Euclidean norm of every leaf of `tree` together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


Update = Callable[[Any, jax.Array], tuple[Any, Any]]
"""(state, hyperparameter float32[]) -> (state, what the step reports, or None)."""


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


class GridTrainer(NamedTuple):
    """A learner over a [runs, seeds] grid (leaves with leading [R, S])."""

    init: Callable[[jax.Array, int], Any]
    """(keys [S], R) -> states [R, S]: each seed's state repeated for every run."""
    run: Any
    """Jitted (states [R, S], schedules float[R, T]) -> (states, reports
    [R, S, T]); one compilation per schedule shape (`run.lower` lowers it)."""


def make_grid_trainer(
    draw: Callable[[jax.Array], Any], update: Update, mesh: Mesh | None = None
) -> GridTrainer:
    """The grid trainer of a learner.

    draw: keys [S] -> every seed's initial state (leaves [S, ...]); called as
    given (the exact learners draw outside any jit so that their studies share
    jax.random's compiled kernels; IPPO passes a jitted `vmap` of its init).
    update: one step of one run (see `Update`).
    mesh: the devices the grid is split over (default: every device).
    """
    mesh = runs_mesh() if mesh is None else mesh

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
            return run_schedule(update, state, schedule)

        over_seeds = jax.vmap(one, in_axes=(0, None))
        out = jax.vmap(over_seeds, in_axes=(0, 0))(
            layout.spread(states), jnp.asarray(schedules, jnp.float32)
        )
        return layout.collect(out)

    return GridTrainer(init, jax.jit(run))
