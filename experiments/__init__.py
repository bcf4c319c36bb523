"""Hydra entry points and the only place with side effects (files, logs, plots).

Ctrl-C at any moment of an entry point ends it with one line on stderr and exit
status 130, never a traceback: each entry point catches KeyboardInterrupt around
its work (`experiments.config.hydra_entry`, `run_or_exit`, `interruptible`), and
the hook below does the same for an interrupt that arrives before any of them
runs (while Python, JAX or hydra are still being imported). An interrupt that
lands inside a callback Python cannot raise from (JAX's garbage-collection hook:
"Exception ignored in: <function _xla_gc_callback>", and the run went on) is
sent again, to be raised where the entry point handles it.
"""

import os
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


if sys.excepthook is sys.__excepthook__:
    sys.excepthook = _interrupted_hook


def _unraisable_hook(unraisable: Any) -> None:
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        # Not lost: the same signal again, a moment later from another thread, so
        # that it is raised once this callback has returned (or ignored, where
        # an entry point has chosen to ignore it).
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    sys.__unraisablehook__(unraisable)


if sys.unraisablehook is sys.__unraisablehook__:
    sys.unraisablehook = _unraisable_hook
