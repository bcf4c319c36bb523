"""Each process's share of the cores (experiments/harness/cores.py): disjoint,
together all of them, balanced, none where processes outnumber cores; a pin
reaches another process and what it starts; the suite's own workers run on
theirs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from experiments.harness.cores import pin, share

MACHINES = [
    [0],
    [0, 1],
    [0, 1, 2],
    [3, 0, 2, 1],
    [4, 9, 16, 25, 36, 49, 64],
    list(range(16)),
]


@pytest.mark.parametrize("cores", MACHINES)
def test_the_shares_are_disjoint_balanced_and_cover_every_core(cores):
    for count in range(1, len(cores) + 1):
        shares = [share(i, count, cores) for i in range(count)]
        assert sorted(c for s in shares for c in s) == sorted(cores)
        assert {len(s) for s in shares} <= {
            len(cores) // count,
            -(-len(cores) // count),
        }
        assert all(s == sorted(s) and s for s in shares)


def test_two_processes_on_two_cores_get_one_each_in_order():
    assert [share(i, 2, [1, 0]) for i in range(2)] == [[0], [1]]
    assert [share(i, 2, [0, 1, 2, 3]) for i in range(2)] == [[0, 1], [2, 3]]


@pytest.mark.parametrize("cores", MACHINES)
def test_no_share_where_processes_outnumber_cores(cores):
    count = len(cores) + 1
    assert all(share(i, count, cores) == [] for i in range(count))


@pytest.mark.parametrize("index,count", [(-1, 2), (2, 2), (0, 0)])
def test_a_process_outside_the_count_is_refused(index, count):
    with pytest.raises(ValueError, match="is not one of"):
        share(index, count, [0, 1])


REPORT = """
import os, subprocess, sys
sys.stdin.readline()
print(sorted(os.sched_getaffinity(0)), flush=True)
code = "import os; print(sorted(os.sched_getaffinity(0)))"
subprocess.run([sys.executable, "-c", code], check=True)
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity")
def test_a_pin_reaches_another_process_and_what_it_starts():
    mine = sorted(os.sched_getaffinity(0))
    child = subprocess.Popen(
        [sys.executable, "-c", REPORT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        cores = pin(len(mine) - 1, len(mine), child.pid)
        assert cores == [mine[-1]]
        assert pin(0, len(mine) + 1, child.pid) == []  # more processes than cores
    finally:
        out, _ = child.communicate("go\n", timeout=60)
    assert out.split("\n")[:2] == [str(cores)] * 2


def test_the_suites_workers_run_on_their_own_share():
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if worker is None or not hasattr(os, "sched_setaffinity"):
        pytest.skip("not an xdist worker on a system that pins")
    mine = sorted(os.sched_getaffinity(0))
    everything = sorted(os.sched_getaffinity(os.getppid()))  # the controller's
    expected = share(int(worker[2:]), count, everything) or everything
    assert mine == expected
