"""Hydra entry points and the only place with side effects (files, logs, plots).

Every module at this level is an entry point (`python -m experiments.<name>`, a
`zsc-<name>` console script; tests/test_layers.py holds it); what they share
lives in four packages below them, none of which imports an entry point:
`harness` (configs, exits and interrupts, logs, processes, run directories),
`deep` (IPPO runs, their agents, cross-play), `exact` (the tabular run's
config, studies and proofs), `reports` (figures and tables from results files).

Ctrl-C at any moment of an entry point ends it with one line on stderr and exit
status 130, never a traceback: each entry point catches KeyboardInterrupt around
its work (`experiments.harness.entry`: `entry_point`, `hydra_entry_point`),
and `install_hooks` does the same for an interrupt that arrives before any of
them runs (while Python, JAX or hydra are still being imported). An interrupt
that lands inside a callback Python cannot raise from (JAX's garbage-collection
hook: "Exception ignored in: <function _xla_gc_callback>", and the run went on)
is sent again, to be raised where the entry point handles it.

The hooks are the entry points' own: installed here only when this process runs
one (`python -m experiments.<name>`, whose package is imported before the
module, or a `zsc-*` console script), and again by
a `Program`'s `cli` (`experiments.harness.entry`); a notebook or a test that imports
`experiments.reports.plots` keeps its own hooks.
"""

import gc
import os
import pathlib
import signal
import sys
import threading
from types import TracebackType
from typing import Any


def _interrupted_hook(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        try:
            sys.stdout.flush()
            sys.stderr.write("interrupted: stopped while starting\n")
            sys.stderr.flush()
        finally:
            os._exit(130)
    sys.__excepthook__(kind, value, tb)


def _unraisable_hook(unraisable: Any) -> None:
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        # Not lost: the same signal again, a moment later from another thread, so
        # that it is raised once this callback has returned (or ignored, where
        # an entry point has chosen to ignore it).
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    sys.__unraisablehook__(unraisable)


def install_hooks() -> None:
    """An entry point's process: a KeyboardInterrupt that escapes everything is
    one line and status 130; one swallowed by a callback is raised again. A hook
    that the host has set already (a notebook's, a debugger's) stays."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _interrupted_hook
    if sys.unraisablehook is sys.__unraisablehook__:
        sys.unraisablehook = _unraisable_hook


GC_THRESHOLDS = (20_000, 20, 20)
"""Python's cyclic garbage collector's thresholds in an entry point's process
and the suite's (Python's own: 700, 10, 10). Tracing a JAX program allocates
millions of short-lived objects, and at Python's thresholds it collects every
700 of them, and the whole heap (a test worker's: 1.4 million objects) every
few hundred collections: 6% of a cross-play test file's time (8.0 of 111 s,
tests/experiments/test_hanabi_crossplay_entry_point.py with three other deep
files), 2.0 s at these thresholds; a cross-play process 5.2 to 5.0 s, importing
an entry point 1.11 to 1.06 s. The young generations are collected 39 times
less often there (6,401 collections to 164), the whole heap not once (26
before): cycles that survive two collections wait for the next full one."""


def collect_less() -> None:
    """This process's garbage collector at `GC_THRESHOLDS`."""
    gc.set_threshold(*GC_THRESHOLDS)


def running_an_entry_point() -> bool:
    """Whether this process is an entry point starting: `python -m <module>`
    (runpy imports the package while sys.argv[0] is still '-m') or a console
    script of pyproject.toml (`zsc-*`)."""
    first = sys.argv[0] if sys.argv else ""
    return first == "-m" or pathlib.Path(first).name.startswith("zsc-")


if running_an_entry_point():
    collect_less()
    install_hooks()
