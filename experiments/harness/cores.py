"""Processes that share one machine's cores, each on its own share of them.

XLA sizes a process's thread pool by the cores the process may use, so two
processes that each spread over both cores of a 2-core machine spin against
each other: the suite's two xdist workers (tests/conftest.py) and the main
job's two runs at a time (scripts/main.sh) each ran 5-20% faster pinned
(docs/studies/suite_speed.md, "Workers on their own cores";
docs/studies/tabular_main_job.md).
A pinned process's children inherit its cores. No JAX here: the shell and the
suite's start call it before anything heavy is imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def share(index: int, count: int, cores: Sequence[int]) -> list[int]:
    """The cores of the `index`-th of `count` processes that split `cores`
    between them: consecutive runs of the sorted cores, disjoint, together all
    of them, their sizes differing by at most one. Empty where the processes
    outnumber the cores (sharing a core is left to the system then)."""
    if not 0 <= index < count:
        raise ValueError(f"process {index} is not one of {count}")
    ordered, n = sorted(cores), len(cores)
    if count > n:
        return []
    return ordered[index * n // count : (index + 1) * n // count]


def pin(index: int, count: int, pid: int = 0) -> list[int]:
    """Pins process `pid` (0: this one), and what it starts from now on, to the
    `index`-th of `count` shares of the cores this process may use; returns
    them, or an empty list where nothing is pinned (more processes than cores,
    or a system without `sched_setaffinity`). Raises OSError where the system
    refuses (a container may)."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cores = share(index, count, sorted(os.sched_getaffinity(0)))
    if cores:
        os.sched_setaffinity(pid, cores)
    return cores
