"""One job in several processes (multi-controller JAX, docs/scaling.md): how an
entry point joins the job, which process writes, and how a lost process ends it.

Every entry point calls `join()` before its first JAX computation. It reads the
job from the environment:

- `LAB_COORDINATOR=host:port`, `LAB_NUM_PROCESSES=N`, `LAB_PROCESS_ID=i`: set for
  each process by the local launcher (`python -m experiments.launch`), or by hand;
- `LAB_CLUSTER=slurm` (or `ompi`): JAX reads the scheduler's own variables
  (SLURM_*, OMPI_*), as in each task of the `slurm_multinode` hydra launcher;
- neither: a job of one process, nothing to join (the default).

After joining, `jax.devices()` lists every process's devices, the trainers'
outputs come back whole to every process (`marl.sharding.across_processes`), every
process computes the same results, and only process 0 writes files
(`marl.files.set_writer`) and logs below warnings. CPU collectives go through gloo.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from marl.fields import ConfigError
from marl.files import set_writer, writes_here

COORDINATOR, NUM_PROCESSES, PROCESS_ID = (
    "LAB_COORDINATOR",
    "LAB_NUM_PROCESSES",
    "LAB_PROCESS_ID",
)
CLUSTER = "LAB_CLUSTER"
LAUNCHER = "LAB_LAUNCHER"
"""Set by experiments.launch, which reports a lost process itself."""
CLUSTERS = ("slurm", "ompi")
"""The schedulers whose variables JAX reads itself (`cluster_detection_method`)."""
HEARTBEAT_SECONDS = 30
"""A process that stops answering for this long is taken as lost by the others."""


LOST_MARKS = (
    "Gloo",
    "gloo",
    "CoordinationService",
    "coordination service",
    "heartbeat",
)
"""What the errors of a failed collective or coordination service say."""


class ProcessesError(ConfigError):
    """The job's variables in the environment are malformed."""


@dataclass(frozen=True)
class Job:
    """A job of several processes, as the environment describes it."""

    num_processes: int | None
    process_id: int | None
    coordinator: str | None
    cluster: str | None


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ProcessesError(f"{name}={value!r} is not an integer") from None


def requested(environ: dict[str, str] | None = None) -> Job | None:
    """The job the environment asks this process to join, or None (one process).
    Malformed variables are refused with one line."""
    env = os.environ if environ is None else environ
    cluster = env.get(CLUSTER) or None
    if cluster is not None:
        if cluster not in CLUSTERS:
            raise ProcessesError(
                f"{CLUSTER}={cluster!r}: use one of {', '.join(CLUSTERS)}"
            )
        return Job(None, None, None, cluster)
    given = [env.get(k) for k in (COORDINATOR, NUM_PROCESSES, PROCESS_ID)]
    if not any(given):
        return None
    if not all(given):
        names = (COORDINATOR, NUM_PROCESSES, PROCESS_ID)
        missing = [k for k, v in zip(names, given, strict=True) if not v]
        raise ProcessesError(
            f"a job of several processes also needs {', '.join(missing)}"
        )
    coordinator, count, index = given
    num = _integer(NUM_PROCESSES, str(count))
    pid = _integer(PROCESS_ID, str(index))
    if num < 1:
        raise ProcessesError(f"{NUM_PROCESSES}={num} must be >= 1")
    if not 0 <= pid < num:
        raise ProcessesError(f"{PROCESS_ID}={pid} must be in [0, {num - 1}]")
    if ":" not in str(coordinator):
        raise ProcessesError(f"{COORDINATOR}={coordinator!r} must be host:port")
    return Job(num, pid, str(coordinator), None)


_JOINED = [False]


def joined() -> bool:
    """True once this process has joined a job of several processes."""
    return _JOINED[0]


def join() -> None:
    """Joins the job the environment describes (`requested`), once; nothing for
    a process on its own. Must run before the first JAX computation. Called
    again (hydra configures logging in between), it only quietens the logs of
    processes other than 0 again."""
    job = requested()
    if job is None or job.num_processes == 1:
        return
    if not joined():
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if job.cluster is not None:
            jax.distributed.initialize(
                cluster_detection_method=job.cluster,
                heartbeat_timeout_seconds=HEARTBEAT_SECONDS,
            )
        else:
            jax.distributed.initialize(
                coordinator_address=job.coordinator,
                num_processes=job.num_processes,
                process_id=job.process_id,
                heartbeat_timeout_seconds=HEARTBEAT_SECONDS,
            )
        _JOINED[0] = True
        set_writer(jax.process_index() == 0)
        if job.coordinator is not None and on_this_machine(job.coordinator):
            cache_in_every_process()
    if not writes_here():
        quiet()


LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
"""A coordinator at one of these hosts has every process of its job here."""


def on_this_machine(coordinator: str) -> bool:
    """Whether a job's coordinator (`host:port`) is this machine's loopback,
    so that every process of the job runs here."""
    return coordinator.rsplit(":", 1)[0] in LOOPBACK


def cache_in_every_process() -> None:
    """Every CPU process of a job writes the programs it compiles to JAX's
    persistent cache (when one is set), not process 0 alone.

    JAX writes from process 0 only, so that a cluster's hosts sharing one cache
    do not contend for its files; but on CPU each process keys the same program
    differently (the fingerprint of the devices' topology as each process sees
    it, docs/scaling.md), so every other process compiled every program again at
    every start, a resumed job's too. In a job whose processes share one machine
    (its coordinator on the loopback address, as `experiments.launch` sets it),
    each now writes entries under its own keys; a GPU program keeps JAX's rule.
    A private part of JAX (its cache write): where it is gone, nothing
    changes."""
    with contextlib.suppress(ImportError, AttributeError):
        from jax._src import compilation_cache, compiler, config, distributed

        write = compiler._cache_write

        def every_process_writes(
            cache_key: str,
            compile_time_secs: float,
            module_name: str,
            backend: Any,
            executable: Any,
            host_callbacks: Sequence[Any],
        ) -> None:
            if (
                distributed.global_state.process_id == 0
                or backend.platform != "cpu"
                or host_callbacks
                or compile_time_secs
                < config.persistent_cache_min_compile_time_secs.value
            ):
                write(
                    cache_key,
                    compile_time_secs,
                    module_name,
                    backend,
                    executable,
                    host_callbacks,
                )
                return
            try:
                compilation_cache.put_executable_and_time(
                    cache_key, module_name, executable, backend, int(compile_time_secs)
                )
            except Exception as error:  # as JAX's own write: a warning, no stop
                warnings.warn(
                    f"not cached: {module_name} ({type(error).__name__}: {error})",
                    stacklevel=2,
                )

        compiler._cache_write = every_process_writes


def quiet() -> None:
    """Logs below warnings dropped (a process other than 0: process 0 reports)."""
    logging.getLogger().setLevel(logging.WARNING)


def process_label() -> str:
    """`process i of N` (for messages), or '' for a process on its own."""
    if not joined():
        return ""
    import jax

    return f"process {jax.process_index()} of {jax.process_count()}"


def lost(error: BaseException) -> bool:
    """Whether an error is a collective or the coordination service failing, as
    it does in every survivor when a process of the job dies."""
    text = f"{type(error).__name__}: {error}"
    return joined() and any(word in text for word in LOST_MARKS)


def leave_after(error: BaseException) -> None:
    """Ends a process of a job whose peer is lost: one line and exit status 1,
    through `os._exit`, because the orderly shutdown waits for every process at
    a barrier (the lost one never comes) and then aborts with a long report."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not os.environ.get(LAUNCHER):  # else the launcher's line says which
        print(
            f"error: {process_label()}: the job lost a process ({first[:200]})",
            file=sys.stderr,
        )
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)
