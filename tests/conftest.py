"""What the whole suite shares.

One persistent XLA compilation cache for this process and every subprocess a
test starts (they inherit the environment), so a program compiled once (a tiny
training step, a convergence window, a cross-play game) is read from disk
the next time any test, or any entry point a test runs as a user would, needs
it. It lives in the user's cache (`$XDG_CACHE_HOME`, else `~/.cache`, then
`entropy-zsc-lab/xla-tests`; the checkout's `.cache/xla-tests` where that
cannot be written) unless `JAX_COMPILATION_CACHE_DIR` names another, so that
a contributor's fresh clones share it: a suite of the same code on a fresh
clone then starts warm (9.4-12.1 min against 33.0 cold on the AVX2-only EPYC,
docs/benchmarks.md), and CI's fresh machines start cold. Entries are keyed by
the program, the jax version and the flags, so a stale entry is never used;
entries not read for 14 days are removed when a suite starts
(`experiments.harness.xla_cache`, which prunes the main job's cache too).

The suite compiles as the entry points do, at XLA's default optimization
level. It once compiled at LLVM's level 0, which halves the compilation of a
tiny training loop but runs a program's kernels 2 to 4 times slower; with
the cache warm, compilation is rare and running is what is left: warm, the
whole suite took about 5% fewer CPU-minutes at the default, cold about 20% more
(one run of each, docs/studies/suite_default_level.md).

Each worker lowers its programs into one MLIR context (`one_mlir_context`):
JAX's new context per program was about half of lowering a small one, and a
warm suite spends as long lowering as tracing (docs/studies/
suite_jax_front_end.md).

The `slow` marker (pyproject.toml; docs/architecture.md, "Tests") lets a
developer run the fast part with `pytest -m "not slow"`; CI runs everything.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import shutil
import tempfile
import time

import pytest

from experiments import collect_less
from experiments.harness.cores import pin
from experiments.harness.xla_cache import prune

ROOT = pathlib.Path(__file__).resolve().parents[1]


def cache_dir() -> pathlib.Path:
    """The user's cache of the suite's compiled programs, made if need be (the
    checkout's `.cache/xla-tests` where the user's cache cannot be written)."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    path = pathlib.Path(base) / "entropy-zsc-lab" / "xla-tests"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return ROOT / ".cache" / "xla-tests"


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    """Each xdist worker, and every process its tests start, on its own share
    of the cores (one core each on two): XLA sizes its thread pool by the cores
    a process may use, and two workers that each spread over both spin against
    each other (docs/studies/suite_speed.md, "Workers on their own cores";
    experiments/harness/cores.py). Where there are more workers than cores, or
    where the system refuses, none is pinned; nor is a worker that replaces a
    crashed one (xdist numbers it past the count: gw2 of 2), so that the suite
    goes on and reports the crash."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        count, index = int(worker["workercount"]), int(worker["workerid"][2:])
        if index < count:
            with contextlib.suppress(OSError):  # a container may forbid it
                pin(index, count)


def pytest_sessionstart(session) -> None:  # type: ignore[no-untyped-def]
    """The controller (not an xdist worker) prunes the cache once per suite,
    and the temporary folders of suites killed before their end."""
    if not hasattr(session.config, "workerinput"):
        prune(pathlib.Path(os.environ["JAX_COMPILATION_CACHE_DIR"]))
        if SUITE_TMP is not None:
            remove_stale_suite_folders(SUITE_TMP.parent, keep=SUITE_TMP)


def suite_temp_dir() -> pathlib.Path | None:
    """The suite's own temporary folder, made by the controller (the process
    that imports this file first) and named to every process after it by
    TMPDIR: whatever the suite's processes and the processes they start put
    in the temporary folder lands there (pytest's `tmp_path` folders stay in
    the system's, PYTEST_DEBUG_TEMPROOT). None in an xdist worker."""
    if SUITE_TEMP_ENV in os.environ:
        return None
    system = tempfile.gettempdir()
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", system)
    path = tempfile.mkdtemp(prefix=SUITE_TEMP_PREFIX, dir=system)
    os.environ[SUITE_TEMP_ENV] = os.environ["TMPDIR"] = path
    tempfile.tempdir = None  # read TMPDIR again
    return pathlib.Path(path)


SUITE_TEMP_PREFIX = "entropy-zsc-suite-"
STALE_SUITE_SECONDS = 24 * 3600
"""A suite's temporary folder unchanged this long is a killed suite's (no
suite runs for a day)."""


def remove_stale_suite_folders(system: pathlib.Path, keep: pathlib.Path) -> list[str]:
    """Removes the suite folders in `system` (but `keep`) unchanged for
    STALE_SUITE_SECONDS: a suite killed (a timeout, SIGKILL) never reaches its
    `pytest_sessionfinish`, and its folder stayed behind. Returns their names."""
    now = time.time()
    removed = []
    for path in system.glob(SUITE_TEMP_PREFIX + "*"):
        try:
            stale = path.is_dir() and now - path.stat().st_mtime > STALE_SUITE_SECONDS
        except OSError:  # removed meanwhile by another suite
            continue
        if stale and path != keep:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


SUITE_TEMP_ENV = "ENTROPY_ZSC_SUITE_TEMP"
"""The variable that names the suite's temporary folder to its workers."""

SUITE_TMP = suite_temp_dir()


@pytest.hookimpl(trylast=True)  # after xdist's workers ended (and cleaned up)
def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    """The controller removes the suite's temporary folder, and fails the
    suite when something was left in it: a process that does not clean up
    after itself fills a contributor's /tmp one suite at a time."""
    if SUITE_TMP is None or not SUITE_TMP.is_dir():
        return
    LEFT[:] = sorted(p.name for p in SUITE_TMP.iterdir())
    shutil.rmtree(SUITE_TMP, ignore_errors=True)
    if LEFT:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


LEFT: list[str] = []
"""What the suite's processes left in its temporary folder."""


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if LEFT:
        terminalreporter.write_line(
            f"FAILED: the suite left {len(LEFT)} "
            f"{'entry' if len(LEFT) == 1 else 'entries'} in its temporary folder "
            f"{SUITE_TMP}: {', '.join(LEFT[:10])}",
            red=True,
        )


collect_less()  # the suite's processes collect as an entry point's do

# Set before jax is imported anywhere in the session (the test modules import
# it after this file), and inherited by every subprocess.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir())
# Cache every program, however quick its compilation or small its executable:
# the suite's programs are tiny and many.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import jax  # noqa: E402  (after the environment above)

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def one_mlir_context() -> None:
    """Lowers every program of this process into one MLIR context.

    JAX makes a new MLIR context for each program it lowers, loading every
    dialect into it: about half of the time of lowering a small program
    (measured: 13 ms a program with a new context, 6 with one context for
    all, and 0.8 GB of memory against 0.3 for 400 programs), and the suite's
    workers lower about 10,000, most of them single operations run eagerly
    (docs/studies/suite_jax_front_end.md). One context holds
    many modules, as MLIR intends; what it keeps is what they share (types,
    attributes, locations). A private name of JAX's: where it is gone, nothing
    changes. Only in the suite's own processes: the processes a test starts
    run as a user runs them."""
    with contextlib.suppress(ImportError, AttributeError):
        from jax._src.interpreters import mlir

        mlir.make_ir_context = functools.cache(mlir.make_ir_context)


one_mlir_context()
