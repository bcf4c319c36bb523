"""Runs spread over every device with `jax.sharding` (docs/scaling.md).

Seeds, and sweep values such as tau or the entropy coefficient, are `vmap` axes of
one jitted call. This module splits those axes over the devices: inside the jitted
function the batch is padded and pinned with `jax.lax.with_sharding_constraint` to
a `NamedSharding` over a device mesh, and XLA's SPMD partitioner gives each device
its share of the runs. The runs are independent, so the partitioned program only
communicates where it is asked to gather (see padding below). The same jitted code
runs on one device, on N local devices, and on the devices of several processes
after `jax.distributed.initialize` (the mesh is over `jax.devices()`, every
process's devices).

A grid of runs [R, S] (R sweep values x S seeds) is laid out on a 2-D view
(SWEEP, SEEDS) of the D devices, d_r x d_s = D with d_r dividing R: the sweep axis
is split only where its size allows, and never padded. The seed axis is padded up
to S' = a multiple of d_s. Of the possible (d_r, d_s) the layout with the least
padded work R S' is chosen, ties going to splitting the seeds, so whenever D
divides S the seeds alone are split and nothing is padded. Padding seeds are
copies of the first seeds (wrapped around): they are computed and dropped. When
S' = S the outputs stay split, so the next chunk starts where the last ended with
no transfer; otherwise the outputs' seed axis is gathered (replicated over the
SEEDS devices) because an axis of S entries cannot be split evenly.

On one device nothing is added: the traced program is exactly the unsharded one.

When the mesh spans the devices of several processes, the outputs of `collect`
and `sharded_map` are gathered onto every device (replicated) at the end of the
program, so that each process holds whole results and can read them with
`np.asarray` (an array whose shards live in another process cannot be read); the
next chunk splits them again locally, with no transfer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

RUNS = "runs"
"""The axis of the 1-D mesh over every device."""
SWEEP, SEEDS = "sweep", "seeds"
"""The axes of a grid layout's 2-D view of that mesh."""

T = TypeVar("T")


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh (axis `RUNS`) over `devices`, by default `jax.devices()`: every
    device of every process. Pass `jax.devices()[:1]` for the unsharded program."""
    chosen = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(chosen, dtype=object), (RUNS,))


def constrain(tree: T, mesh: Mesh, spec: PartitionSpec) -> T:
    """`with_sharding_constraint` of every leaf to `NamedSharding(mesh, spec)`
    (inside `jit`); nothing on a one-device mesh."""
    if mesh.size == 1:
        return tree
    sharding = NamedSharding(mesh, spec)
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def across_processes(tree: T, mesh: Mesh) -> T:
    """Inside `jit`: every leaf replicated over the whole mesh when the mesh spans
    several processes (an all-gather, so each process can read the result);
    nothing otherwise."""
    if mesh.size == 1 or len({d.process_index for d in mesh.devices.flat}) == 1:
        return tree
    return constrain(tree, mesh, PartitionSpec())


def pad_axis(tree: T, axis: int, size: int) -> T:
    """Every leaf's `axis` extended to `size` entries by wrapping around (entry
    k >= n is a copy of entry k mod n); nothing when it already has `size`."""

    def pad(x: Any) -> Any:
        if x.shape[axis] == size:
            return x
        index = np.arange(size) % x.shape[axis]
        return x[(slice(None),) * axis + (index,)]

    return jax.tree.map(pad, tree)


def take_axis(tree: T, axis: int, size: int) -> T:
    """Every leaf's first `size` entries along `axis` (drops the padding)."""
    return jax.tree.map(lambda x: x[(slice(None),) * axis + (slice(0, size),)], tree)


def padded_size(size: int, multiple: int) -> int:
    """`size` rounded up to a multiple of `multiple`."""
    return -(-size // multiple) * multiple


@dataclasses.dataclass(frozen=True)
class GridLayout:
    """Where the runs of an [R, S] grid (sweep x seeds) lie on the devices.

    Use it inside `jit`: `spread` the grid-shaped inputs (pads the seed axis,
    pins the sharding), vmap over them, `collect` the outputs (drops the padding).
    """

    mesh: Mesh
    """The devices viewed as (SWEEP, SEEDS), d_r x d_s."""
    num_sweep: int
    """R, split d_r ways (never padded)."""
    num_seeds: int
    """S, the seeds asked for."""
    padded_seeds: int
    """S', a multiple of d_s: the seeds computed."""

    @property
    def sweep_split(self) -> int:
        return int(self.mesh.shape[SWEEP])

    @property
    def seed_split(self) -> int:
        return int(self.mesh.shape[SEEDS])

    def spec(
        self, ndim: int, *, seed_axis: int, sweep_axis: int | None, padded: bool
    ) -> PartitionSpec:
        """The PartitionSpec of a leaf of `ndim` axes with the grid's seed axis
        (and sweep axis, if any) where given; `padded`: its seed axis has S'."""
        names: list[str | None] = [None] * ndim
        if self.seed_split > 1 and (padded or self.padded_seeds == self.num_seeds):
            names[seed_axis] = SEEDS
        if sweep_axis is not None and self.sweep_split > 1:
            names[sweep_axis] = SWEEP
        while names and names[-1] is None:
            names.pop()
        return PartitionSpec(*names)

    def sharding(
        self, ndim: int, *, seed_axis: int = 1, sweep_axis: int | None = 0
    ) -> NamedSharding:
        """The NamedSharding of an unpadded output leaf (what `collect` gives)."""
        spec = self.spec(ndim, seed_axis=seed_axis, sweep_axis=sweep_axis, padded=False)
        return NamedSharding(self.mesh, spec)

    def _pin(self, tree: T, seed_axis: int, sweep_axis: int | None, padded: bool) -> T:
        if self.mesh.size == 1:
            return tree

        def pin(x: Any) -> Any:
            spec = self.spec(
                x.ndim, seed_axis=seed_axis, sweep_axis=sweep_axis, padded=padded
            )
            return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

        return jax.tree.map(pin, tree)

    def spread(self, tree: T, *, seed_axis: int = 1, sweep_axis: int | None = 0) -> T:
        """Pads every leaf's seed axis to S' and splits it (and the sweep axis,
        if the leaf has one) over the devices. Nothing on one device."""
        if self.mesh.size == 1:
            return tree
        padded = pad_axis(tree, seed_axis, self.padded_seeds)
        return self._pin(padded, seed_axis, sweep_axis, padded=True)

    def collect(self, tree: T, *, seed_axis: int = 1, sweep_axis: int | None = 0) -> T:
        """The inverse of `spread` on outputs: drops the padding seeds; the seed
        axis stays split when nothing was padded (and is gathered onto every
        device when the mesh spans several processes, `across_processes`).
        Nothing on one device."""
        if self.mesh.size == 1:
            return tree
        tree = self._pin(tree, seed_axis, sweep_axis, padded=True)
        tree = take_axis(tree, seed_axis, self.num_seeds)
        tree = self._pin(tree, seed_axis, sweep_axis, padded=False)
        return across_processes(tree, self.mesh)


def sharded_map(
    fn: Callable[[Any], Any],
    xs: Any,
    *,
    mesh: Mesh,
    batch_size: int | None = None,
) -> Any:
    """`jax.lax.map(fn, xs, batch_size=batch_size)` (all at once by default)
    with every batch split over the devices of `mesh` (a 1-D `runs_mesh`).

    The leading axis of `xs` (n entries) is padded by wrapping around to whole
    batches of a multiple of the device count; each device maps `fn` over its
    share of a batch with `vmap`, and the padding is dropped from the result.
    On one device this is exactly `jax.lax.map` (its remainder batch included).
    Across processes the result is gathered onto every device (`across_processes`).
    """
    total = jax.tree.leaves(xs)[0].shape[0]
    if mesh.size == 1:
        return jax.lax.map(fn, xs, batch_size=batch_size or total)
    batch = padded_size(min(batch_size or total, total), mesh.size)
    padded = padded_size(total, batch)
    batches = jax.tree.map(
        lambda x: jnp.reshape(x, (padded // batch, batch, *x.shape[1:])),
        pad_axis(xs, 0, padded),
    )
    split = PartitionSpec(RUNS)

    def body(chunk: Any) -> Any:
        return constrain(jax.vmap(fn)(constrain(chunk, mesh, split)), mesh, split)

    ys = jax.lax.map(body, constrain(batches, mesh, PartitionSpec(None, RUNS)))
    ys = constrain(ys, mesh, PartitionSpec(None, RUNS))
    ys = jax.tree.map(lambda y: y.reshape(padded, *y.shape[2:])[:total], ys)
    return across_processes(ys, mesh)


def plan_grid(num_devices: int, num_sweep: int, num_seeds: int) -> tuple[int, int]:
    """(d_r, S'): how many ways to split the sweep axis (d_r divides both D and
    R; the seeds are split d_s = D / d_r ways) and the padded seed count S', for
    the least padded work R S', ties going to the smaller d_r (module docstring).
    """
    choices = [
        (num_sweep * padded_size(num_seeds, num_devices // d), d)
        for d in range(1, num_devices + 1)
        if num_devices % d == 0 and num_sweep % d == 0
    ]
    _, sweep_split = min(choices)
    return sweep_split, padded_size(num_seeds, num_devices // sweep_split)


def grid_layout(mesh: Mesh, num_sweep: int, num_seeds: int) -> GridLayout:
    """The layout of an [R, S] grid on the devices of `mesh` (`plan_grid`)."""
    devices = np.asarray(mesh.devices).reshape(-1)
    sweep_split, padded = plan_grid(devices.size, num_sweep, num_seeds)
    return GridLayout(
        mesh=Mesh(devices.reshape(sweep_split, -1), (SWEEP, SEEDS)),
        num_sweep=num_sweep,
        num_seeds=num_seeds,
        padded_seeds=padded,
    )


def grid_shape(tree: Any) -> tuple[int, int]:
    """(R, S), the two leading axes shared by every leaf of a grid pytree."""
    shape = jax.tree.leaves(tree)[0].shape
    return int(shape[0]), int(shape[1])


def place_grid(tree: T, mesh: Mesh) -> T:
    """A grid pytree (leaves [R, S, ...]) read from disk, put where the trainers
    keep it: split as `grid_layout(mesh, R, S)` says. (The trainers would also
    move a local state themselves, but only on one process.) Under
    `jax.distributed` every process must pass the same values (`jax.device_put`
    checks it) and gets back one global array. Nothing on one device."""
    if mesh.size == 1:
        return tree
    layout = grid_layout(mesh, *grid_shape(tree))

    def put(x: Any) -> Any:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            # device_put takes host data, not typed keys: move the raw key data.
            data = put(np.asarray(jax.random.key_data(x)))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x), layout.sharding(x.ndim))

    return jax.tree.map(put, tree)


def num_shards(x: jax.Array) -> int:
    """How many distinct pieces `x` is split into across the devices (1 when it
    is replicated or lives on one device)."""
    pieces = x.sharding.devices_indices_map(x.shape).values()
    return len({tuple((s.start, s.stop) for s in index) for index in pieces})


MEMORY_FIELDS = ("argument", "output", "temp", "alias", "generated_code")


def memory_analysis(compiled: Any) -> dict[str, int] | None:
    """XLA's memory analysis of a compiled program in bytes, with `peak`
    (arguments + outputs + temporaries - aliased); None where the backend does
    not report one."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # backends without the analysis raise various errors
        return None
    if stats is None:
        return None
    found = {
        name: int(getattr(stats, f"{name}_size_in_bytes"))
        for name in MEMORY_FIELDS
        if hasattr(stats, f"{name}_size_in_bytes")
    }
    if not {"argument", "output", "temp"} <= found.keys():
        return None
    found["peak"] = (
        found["argument"] + found["output"] + found["temp"] - found.get("alias", 0)
    )
    return found


def device_memory_limit() -> int | None:
    """The default device's memory in bytes where it reports one (GPUs)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:
        return None
    return int(stats["bytes_limit"]) if stats and "bytes_limit" in stats else None


def memory_available() -> int:
    """The bytes a program may use on the default device: its reported limit
    (GPUs), else the machine's physical memory (CPUs)."""
    limit = device_memory_limit()
    if limit is not None:
        return limit
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
