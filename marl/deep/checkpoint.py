"""Checkpoints of training-state pytrees: atomic, self-checking, refused when wrong.

A checkpoint is one `.npz` file (numpy's zip of arrays) holding every leaf of the
pytree under its path in the tree (`params/actor/Dense_0/kernel`, ...; files of
format v1 named them `leaf_00000`, ... and still load) and a JSON manifest
(`__manifest__`): format version, the step, a hash of the configuration that
produced it, the pytree's structure (treedef), every leaf's name, shape and dtype,
and a SHA-256 digest of all leaf bytes.
PRNG key arrays are stored as their raw key data and rebuilt with their
implementation, so a resumed run continues the same random stream.

It is written by `marl.files.atomic_write_bytes` (temporary file, fsync, rename),
so a reader sees the old file or the new one, never half of one.
`load_checkpoint` refuses, with a one-line `CheckpointError`, a file that is
truncated or corrupt, written by a different configuration, or whose structure,
shapes or dtypes differ from the state this run expects.

With `marl.files`, these are the only functions in `marl/` that touch the
filesystem; they are called by the entry points (`experiments/ippo.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import zipfile
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import jax
import numpy as np

from marl.files import atomic_write_bytes, writes_here

FORMAT = "entropy-zsc-lab/checkpoint/v2"
FORMAT_V1 = "entropy-zsc-lab/checkpoint/v1"
"""Leaves stored as `leaf_00000`, ... instead of by name; read, never written."""
MANIFEST = "__manifest__"
_NAME = re.compile(r"^step_(\d{9,})\.npz$")

T = TypeVar("T")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the one-line message says why."""


class ForeignCheckpointError(CheckpointError):
    """A checkpoint written by a different configuration than the one loading it."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file that is truncated, unreadable or fails its digest (an
    older intact one may still serve)."""


def config_hash(config: Any) -> str:
    """SHA-256 (hex, 16 characters) of a configuration's canonical JSON.

    Dataclasses are turned into dicts, tuples into lists; keys are sorted.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_path(directory: str | os.PathLike, step: int) -> pathlib.Path:
    """The file of the checkpoint at `step` in `directory`."""
    return pathlib.Path(directory) / f"step_{step:09d}.npz"


def list_checkpoints(directory: str | os.PathLike) -> list[int]:
    """The steps of the checkpoints in `directory`, ascending ([] if none)."""
    path = pathlib.Path(directory)
    if not path.is_dir():
        return []
    steps = (_NAME.match(p.name) for p in path.iterdir())
    return sorted(int(m.group(1)) for m in steps if m)


def leaf_names(tree: Any) -> list[str]:
    """Each leaf's path in `tree`, '/'-joined ('params/actor/Dense_0/kernel'), in
    `jax.tree.flatten` order."""

    def part(key: Any) -> str:
        for field in ("key", "name", "idx"):
            if hasattr(key, field):
                return str(getattr(key, field))
        return str(key)

    paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    return ["/".join(part(k) for k in path) or "leaf" for path, _ in paths]


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _describe(leaf: Any) -> dict[str, Any]:
    """Shape and dtype of an array or of an abstract one (`jax.eval_shape`)."""
    dtype = str(leaf.dtype) if _is_key(leaf) else np.dtype(leaf.dtype).str
    return {"shape": list(leaf.shape), "dtype": dtype}


def _readable(spec: dict[str, Any]) -> str:
    """'float32[3, 4]' for a leaf's spec."""
    dtype = spec["dtype"]
    name = dtype if dtype.startswith("key<") else np.dtype(dtype).name
    return f"{name}{spec['shape']}"


def _digest(arrays: list[np.ndarray]) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def save_checkpoint(
    path: str | os.PathLike,
    tree: Any,
    *,
    step: int,
    config_hash: str,
    metadata: dict[str, Any] | None = None,
) -> pathlib.Path:
    """Writes `tree` (a pytree of arrays) to `path` atomically; returns the path.

    step: the training step the state is at (checked against the file name's and
    the caller's expectations on load). metadata: any JSON, kept in the manifest.
    """
    leaves, treedef = jax.tree.flatten(tree)
    names = leaf_names(tree)
    if len(set(names)) != len(names) or MANIFEST in names:
        names = [f"leaf_{i:05d}/{name}" for i, name in enumerate(names)]
    specs = [
        {
            "name": name,
            **_describe(leaf),
            **({"impl": str(jax.random.key_impl(leaf))} if _is_key(leaf) else {}),
        }
        for name, leaf in zip(names, leaves, strict=True)
    ]
    arrays = [
        np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
        for leaf in leaves
    ]
    manifest = {
        "format": FORMAT,
        "step": int(step),
        "config_hash": config_hash,
        "treedef": str(treedef),
        "leaves": specs,
        "digest": _digest(arrays),
        "metadata": metadata or {},
    }
    payload: dict[str, Any] = dict(zip(names, arrays, strict=True))
    payload[MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    path = pathlib.Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _read(path: pathlib.Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            manifest = json.loads(bytes(npz[MANIFEST]).decode())
            names = [
                spec.get("name", f"leaf_{i:05d}")
                for i, spec in enumerate(manifest["leaves"])
            ]
            arrays = [npz[name] for name in names]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or truncated ({reason})"
        ) from None
    if manifest.get("format") not in (FORMAT, FORMAT_V1):
        raise CheckpointError(
            f"checkpoint {path} has format {manifest.get('format')!r}, "
            f"expected {FORMAT!r}"
        )
    if _digest(arrays) != manifest["digest"]:
        raise CorruptCheckpointError(f"checkpoint {path} is corrupt (digest mismatch)")
    return manifest, arrays


def load_checkpoint(
    path: str | os.PathLike,
    template: T,
    *,
    config_hash: str,
    step: int | None = None,
) -> tuple[T, dict[str, Any]]:
    """Reads a checkpoint into the structure of `template`; returns it and the
    manifest.

    template: a pytree like the one saved (a freshly initialized state, or
    `jax.eval_shape` of its initializer): its treedef, shapes and dtypes must match
    the file's.
    config_hash: must equal the hash stored in the file. step: if given, the file's
    step must equal it. Any mismatch raises a one-line CheckpointError.
    """
    path = pathlib.Path(path)
    manifest, arrays = _read(path)
    if manifest["config_hash"] != config_hash:
        raise ForeignCheckpointError(
            f"checkpoint {path} was written by a different configuration "
            f"(hash {manifest['config_hash']}, this run {config_hash})"
        )
    if step is not None and manifest["step"] != step:
        raise CheckpointError(
            f"checkpoint {path} is at step {manifest['step']}, expected {step}"
        )
    leaves, treedef = jax.tree.flatten(template)
    if manifest["treedef"] != str(treedef) or len(leaves) != len(arrays):
        raise CheckpointError(
            f"checkpoint {path} holds a different state structure "
            f"({len(arrays)} arrays, this run expects {len(leaves)})"
        )
    restored = []
    for index, (leaf, spec, array) in enumerate(
        zip(leaves, manifest["leaves"], arrays, strict=True)
    ):
        expected = _describe(leaf)
        if {k: spec[k] for k in ("shape", "dtype")} != expected:
            raise CheckpointError(
                f"checkpoint {path} does not match this run: array "
                f"{spec.get('name', index)} is {_readable(spec)} in the file, "
                f"{_readable(expected)} here"
            )
        if _is_key(leaf):
            data = jax.numpy.asarray(array)
            restored.append(jax.random.wrap_key_data(data, impl=spec["impl"]))
        else:
            restored.append(jax.numpy.asarray(array))
    return jax.tree.unflatten(treedef, restored), manifest


def prune_checkpoints(
    directory: str | os.PathLike, keep: int, keep_every: int | None = None
) -> None:
    """Deletes all but the `keep` most recent checkpoints in `directory` and, with
    `keep_every`, the milestones (steps that are multiples of it); nothing in a
    process that does not write (`marl.files.set_writer`)."""
    if not writes_here():
        return
    steps = list_checkpoints(directory)
    for step in steps[: max(len(steps) - keep, 0)]:
        if keep_every is None or step % keep_every:
            checkpoint_path(directory, step).unlink(missing_ok=True)


class Restored(NamedTuple):
    """What `CheckpointSet.restore` read."""

    parts: list[Any]
    """Every part's state, in part order."""
    step: int
    skipped: list[str]
    """One line per newer step passed over for a corrupt or truncated file."""


class CheckpointSet:
    """The checkpoints of one state saved in P parts (an IPPO run: one part
    per seed), part p in `root/<p>/step_<step>.npz`, in the shape of orbax's
    CheckpointManager: `all_steps`, `latest_step`, `should_save`, `save`,
    `restore`, `prune`. A step counts once every part has it; older
    checkpoints are pruned only after every part has the new one, so a job
    killed while saving still leaves a step common to every part. Every file
    carries `digest` (the configuration's hash, a string) and is refused on
    load when it carries another (`ForeignCheckpointError`).

    keep: the newest steps kept; keep_every: steps that are multiples of it
    are kept too (milestones); every, last: `should_save` is true at
    multiples of `every` and at `last`."""

    def __init__(
        self,
        root: str | os.PathLike,
        parts: int,
        digest: str,
        *,
        keep: int = 2,
        keep_every: int | None = None,
        every: int = 1,
        last: int | None = None,
    ) -> None:
        self.root = pathlib.Path(root)
        self.parts = parts
        self.digest = digest
        self.keep, self.keep_every = keep, keep_every
        self.every, self.last = every, last

    def folder(self, part: int) -> pathlib.Path:
        return self.root / str(part)

    def saved_steps(self) -> list[set[int]]:
        """Each part's steps."""
        return [set(list_checkpoints(self.folder(p))) for p in range(self.parts)]

    def all_steps(self) -> list[int]:
        """The steps every part has, ascending."""
        return sorted(set.intersection(*self.saved_steps())) if self.parts else []

    def latest_step(self) -> int | None:
        steps = self.all_steps()
        return steps[-1] if steps else None

    def any_saved(self) -> bool:
        """Whether any part has any checkpoint."""
        return any(self.saved_steps())

    def should_save(self, step: int) -> bool:
        return step % self.every == 0 or step == self.last

    def save(
        self, step: int, parts: Sequence[Any], metadata: Sequence[dict[str, Any]]
    ) -> None:
        """Every part's checkpoint of `step` (with its metadata), then `prune`."""
        for p, (tree, extra) in enumerate(zip(parts, metadata, strict=True)):
            save_checkpoint(
                checkpoint_path(self.folder(p), step),
                tree,
                step=step,
                config_hash=self.digest,
                metadata=extra,
            )
        self.prune()

    def prune(self) -> None:
        for p in range(self.parts):
            prune_checkpoints(self.folder(p), self.keep, self.keep_every)

    def restore(
        self, templates: Sequence[Any], step: int | None = None
    ) -> Restored | None:
        """Every part at the latest step they all have intact (or exactly
        `step`), read into the structure of `templates[p]`; None when no part
        has a checkpoint. A corrupt or truncated newest step falls back to the
        newest intact one (said in `skipped`); none intact, no common step, or
        no `step` for every part is a `CheckpointError`."""
        steps = self.saved_steps()
        if not any(steps):
            return None
        common = set.intersection(*steps)
        if step is not None:
            if step not in common:
                kept = ", ".join(map(str, sorted(common))) or "none"
                raise CheckpointError(
                    f"{self.root} has no checkpoint of update {step} for every seed "
                    f"(updates kept for every seed: {kept})"
                )
            common = {step}
        if not common:
            missing = [p for p, found in enumerate(steps) if not found]
            raise CheckpointError(
                f"checkpoints in {self.root} have no step common to every seed"
                + (f" (none for seeds {missing})" if missing else "")
            )
        corrupt: list[str] = []
        for at in sorted(common, reverse=True):
            try:
                parts = [
                    load_checkpoint(
                        checkpoint_path(self.folder(p), at),
                        templates[p],
                        config_hash=self.digest,
                        step=at,
                    )[0]
                    for p in range(self.parts)
                ]
            except CorruptCheckpointError as error:
                # A crash or a full disk mid-save, or damage since: fall back
                # to the newest step whose every part is intact, and say so.
                corrupt.append(str(error))
                continue
            return Restored(parts, at, [f"{c}; using update {at}" for c in corrupt])
        raise CheckpointError(
            f"no intact checkpoint in {self.root}: {len(corrupt)} step(s) tried, the "
            f"newest failing with: {corrupt[0]}"
        )
