"""JAX's persistent compilation caches of this project, kept from growing: the
suite's (`~/.cache/entropy-zsc-lab/xla-tests`, tests/conftest.py) and the main
job's (`~/.cache/entropy-zsc-lab/xla-main`, scripts/main.sh). Entries are
keyed by the program, the jax version and the flags, so a changed program
leaves its old entry unread; each cache drops what was not read for
`CACHE_DAYS` days when a suite or a main job starts. No JAX here."""

from __future__ import annotations

import pathlib
import time

CACHE_DAYS = 14
"""Compiled programs not read for this many days leave the cache."""


def prune(path: pathlib.Path | str, days: float = CACHE_DAYS) -> int:
    """Removes the cache's entries last read (or written) more than `days`
    ago; returns how many (none for a folder that does not exist). Another
    process may be reading or removing them at the same time: a file gone
    already is skipped."""
    oldest = time.time() - days * 86400
    removed = 0
    for entry in pathlib.Path(path).glob("*"):
        try:
            stat = entry.stat()
            if entry.is_file() and max(stat.st_atime, stat.st_mtime) < oldest:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
