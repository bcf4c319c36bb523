"""Run directories: atomic writes of results, arrays and metadata; reading them back."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

RESULTS_FILE = "results.json"


def atomic_write_bytes(path: pathlib.Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`,
    so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: pathlib.Path, payload: Any) -> None:
    atomic_write_bytes(
        path, (json.dumps(payload, indent=2, allow_nan=True) + "\n").encode()
    )


def write_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def git_revision() -> str | None:
    """The project's git commit (with '+dirty' if modified), or None outside git."""
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty.strip() else "")


def run_metadata() -> dict[str, Any]:
    """What is needed to reproduce a run besides its config."""
    versions = {}
    for package in ("jax", "jaxlib", "optax", "numpy", "hydra-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "git_revision": git_revision(),
        "command": " ".join([pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def find_results(paths: list[str | pathlib.Path]) -> Iterator[pathlib.Path]:
    """Every results.json under the given run or sweep directories, sorted."""
    for path in map(pathlib.Path, paths):
        if path.is_file() and path.name == RESULTS_FILE:
            yield path
        elif path.is_dir():
            yield from sorted(path.rglob(RESULTS_FILE), key=_natural_key)


def _natural_key(path: pathlib.Path) -> list:
    """Sorts '2_lever' before '10_bad' (hydra numbers sweep jobs from 0)."""
    return [
        int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))
    ]


def read_results(path: pathlib.Path) -> dict[str, Any]:
    return json.loads(path.read_text())
