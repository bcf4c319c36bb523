"""The run's log lines: one console handler that follows `sys.stdout`, and
progress with an ETA."""

from __future__ import annotations

import logging
import sys
from typing import Any

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
"""Every log line of a run, on the console and in its log file."""


class _Stdout(logging.StreamHandler):
    """A console handler that writes each line to the `sys.stdout` of the moment
    (a test's capture, a notebook's stream), never to one that has been closed."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_CONSOLE = _Stdout()


_CONSOLE.setFormatter(logging.Formatter(LOG_FORMAT))


def console_log() -> None:
    """The run's log lines on standard output, from INFO (JAX's from WARNING):
    one handler, added to the root logger once, that writes to whatever
    `sys.stdout` is at each line (a terminal, a test's capture, a notebook's).

    Hydra would set this up with `logging.config.dictConfig`, which first closes
    every handler of the process, its host's included (pytest's log capture, a
    notebook's): an entry point called in process must leave them be, so the
    confs turn hydra's logging off (conf/hydra/job_logging/lab.yaml) and call
    this instead. The levels are set with the handler, once, so that what is
    set after it stands (`hydra.verbose`; a process of a job that does not
    report, quietened by experiments.harness.processes.quiet)."""
    root = logging.getLogger()
    if _CONSOLE not in root.handlers:
        root.setLevel(logging.INFO)
        logging.getLogger("jax").setLevel(logging.WARNING)
        root.addHandler(_CONSOLE)


def duration_text(seconds: float) -> str:
    """'42 s', or '3.5 min' from two minutes on."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def eta_text(elapsed: float, done: int, total: int) -> str:
    """', ETA 42 s' (or '3.5 min') for a loop at `done` of `total` units that took
    `elapsed` seconds for them (compilation excluded by the caller), '' when it
    cannot be told yet or nothing is left."""
    if done <= 0 or done >= total or elapsed <= 0:
        return ""
    return f", ETA {duration_text(elapsed / done * (total - done))}"


LOG_EVERY_SECONDS = 10.0
"""Progress lines at most this often (and at the end)."""
