"""Hydra entry points and the only place with side effects (files, logs, plots).

Ctrl-C at any moment of an entry point ends it with one line on stderr and exit
status 130, never a traceback: each entry point catches KeyboardInterrupt around
its work (`experiments.config.hydra_entry`, `run_or_exit`, `interruptible`), and
the hook below does the same for an interrupt that arrives before any of them
runs (while Python, JAX or hydra are still being imported).
"""

import os
import sys
from types import TracebackType


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
