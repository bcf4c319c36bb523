"""What every benchmark prints about the machine it ran on.

Plain helpers over the OS (no jax import here, so a script can still set
`XLA_FLAGS` before jax starts).
"""

from __future__ import annotations

import io
import os
import pathlib
import platform
import subprocess
import tarfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name, as the OS reports it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. "0.64, 0.69, 1.12"."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_text() -> str:
    """The CPU model, the CPU count (and how many this process may use) and the OS,
    e.g. "AMD EPYC, 2 CPUs (2 usable), Linux x86_64"."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs ({usable} usable), "
        f"{platform.system()} {platform.machine()}"
    )


def machine_lines(jaxmarl: object | None = None) -> list[str]:
    """The lines a JAX benchmark prints first: machine, versions (jaxmarl's too
    when given), backend and devices, the load average at the start. Imports jax
    when called, so call it after any `XLA_FLAGS` are set."""
    import jax
    import numpy as np

    versions = f"jax {jax.__version__}, numpy {np.__version__}"
    if jaxmarl is not None:
        versions += f", jaxmarl {getattr(jaxmarl, '__version__', '?')}"
    return [
        f"machine: {machine_text()}, python {platform.python_version()}",
        f"{versions}; backend {jax.default_backend()}, devices {jax.devices()}",
        f"load average (1, 5, 15 min) at the start: {load_average()}",
    ]


def kernel_shapes(params: Any) -> list[tuple[int, ...]]:
    """The shape of every dense kernel (a leaf named `kernel`) of flax
    parameters, in their order: [in, out], or [P, in, out] per seat."""
    import jax

    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [
        tuple(leaf.shape)
        for path, leaf in flat
        if getattr(path[-1], "key", None) == "kernel"
    ]


def extract(revision: str, into: pathlib.Path) -> pathlib.Path:
    """The tree of `revision` of this repository (`git archive`), written
    under `into`: a benchmark's peer at an older commit. Exits with a line
    naming the revision when git cannot give it."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        lines = archive.stderr.decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else "git archive failed"
        raise SystemExit(f"error: --against {revision}: {last}")
    tree = into / revision.replace("/", "_")
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree
