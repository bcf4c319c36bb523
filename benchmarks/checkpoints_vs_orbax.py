"""Our checkpoints (`marl.deep.checkpoint`) beside Orbax's CheckpointManager, on
the four things the lab needs of them (issue 42): bit-exact resume, milestone
retention, a corrupt newest checkpoint answered in one line with a fall-back to
an older one, and writes from one process. Prints one table, each row measured
in this run on the same state:

    python -m benchmarks.checkpoints_vs_orbax [--size 256] [--saves 6]

The state is an IPPO-like pytree (float32 weights [4, size, size], a PRNG key, a
step). Each side saves `--saves` steps keeping the 2 newest and every 4th, then
restores the newest; then every file of the newest step over 1 KB (its data)
is cut to 100 bytes (a crash or a full disk mid-write, or damage since) and the
newest is restored again.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.arguments import ArgumentParser
from marl.deep.checkpoint import (
    CorruptCheckpointError,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)


def make_state(size: int) -> dict[str, Any]:
    weights = np.random.default_rng(0).normal(size=(4, size, size))
    return {
        "weights": jnp.asarray(weights, jnp.float32),
        "key": jax.random.key(1),
        "step": jnp.int32(3),
    }


def equal(a: Any, b: Any) -> bool:
    def data(x: Any) -> np.ndarray:
        is_key = jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
        return np.asarray(jax.random.key_data(x) if is_key else x)

    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(data(x), data(y)) for x, y in leaves)


def cut(where: pathlib.Path) -> None:
    for path in [where] if where.is_file() else where.rglob("*"):
        if path.is_file() and path.stat().st_size > 1000:
            path.write_bytes(path.read_bytes()[:100])


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = text.splitlines() or [type(error).__name__]
    return f"{type(error).__name__}, {len(lines)} lines: {lines[0][:70]}"


def ours(root: pathlib.Path, state: Any, saves: int) -> dict[str, str]:
    started = time.perf_counter()
    for step in range(1, saves + 1):
        save_checkpoint(checkpoint_path(root, step), state, step=step, config_hash="h")
        prune_checkpoints(root, 2, 4)
    seconds = time.perf_counter() - started
    kept = list_checkpoints(root)
    back = load_checkpoint(checkpoint_path(root, saves), state, config_hash="h")[0]
    files = len([p for p in root.rglob("*") if p.is_file()]) / len(kept)
    cut_path = checkpoint_path(root, saves)
    cut(cut_path.parent / cut_path.name)  # the one file
    try:
        load_checkpoint(cut_path, state, config_hash="h")
        corrupt = "restored a cut file"
    except CorruptCheckpointError as error:
        corrupt = first_line(error)
    older = load_checkpoint(checkpoint_path(root, kept[-2]), state, config_hash="h")
    return {
        "save (all steps)": f"{seconds:.2f} s",
        "kept": str(kept),
        "files per step": f"{files:.0f}",
        "bit-exact restore": str(equal(state, back)),
        "newest cut: error": corrupt,
        "newest cut: latest still listed": str(max(list_checkpoints(root)) == saves),
        "falls back to": f"step {kept[-2]} ({equal(state, older[0])}; the loader "
        "tries older steps itself)",
    }


def orbax(root: pathlib.Path, state: Any, saves: int) -> dict[str, str]:
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=2, keep_period=4)
    started = time.perf_counter()
    with ocp.CheckpointManager(root, options=options) as manager:
        for step in range(1, saves + 1):
            manager.save(step, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()
        seconds = time.perf_counter() - started
        kept = list(manager.all_steps())
        back = manager.restore(saves, args=ocp.args.StandardRestore(state))
    files = len([p for p in (root / str(saves)).rglob("*") if p.is_file()])
    cut(root / str(saves))
    with ocp.CheckpointManager(root, options=options) as manager:
        latest = manager.latest_step()
        try:
            manager.restore(saves, args=ocp.args.StandardRestore(state))
            corrupt = "restored a cut step"
        except Exception as error:  # what Orbax raises: a bare Exception
            corrupt = first_line(error)
        older = manager.restore(kept[-2], args=ocp.args.StandardRestore(state))
    return {
        "save (all steps)": f"{seconds:.2f} s",
        "kept": str(sorted(kept)),
        "files per step": str(files),
        "bit-exact restore": str(equal(state, back)),
        "newest cut: error": corrupt,
        "newest cut: latest still listed": str(latest == saves),
        "falls back to": f"step {kept[-2]} only if the caller catches Exception "
        f"({equal(state, older)})",
    }


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser("benchmarks.checkpoints_vs_orbax", __doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--saves", type=int, default=6)
    args = parser.parse_args(argv)
    parser.require_at_least(args, size=1, saves=1)
    state = make_state(args.size)
    work = pathlib.Path(tempfile.mkdtemp(prefix="checkpoints-"))
    try:
        rows = {
            "ours": ours(work / "ours", state, args.saves),
            "orbax": orbax(work / "orbax", state, args.saves),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"state {4 * args.size * args.size * 4 / 1e6:.1f} MB, {args.saves} saves")
    for field in rows["ours"]:
        print(f"| {field} | {rows['ours'][field]} | {rows['orbax'][field]} |")


if __name__ == "__main__":
    main()
