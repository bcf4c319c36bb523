"""scripts/slots.sh, the main job's queue (scripts/main.sh), with stand-in
jobs: every run once, never more than two at a time, each on its own slot's cores
(experiments.harness.cores), the job's arguments passed on; a failed run
fails the queue with one line after the others ran."""

from __future__ import annotations

import subprocess

import pytest

from experiments.harness.cores import share
from tests import ROOT

WIDEN = """
# the suite's worker is pinned to its own core: the queue gets the machine's
.venv/bin/python -c "import os, sys; \\
os.sched_setaffinity(int(sys.argv[1]), range(os.cpu_count() or 1))" $$ || true
grep Cpus_allowed_list /proc/$$/status | cut -f2 > {dir}/cores
"""

JOB = """
job() {{  # a stand-in run: where it ran, and how many ran beside it
  touch {dir}/running/$1
  sleep 0.$(( 2 + $1 % 3 ))
  cores=$(grep Cpus_allowed_list /proc/$BASHPID/status | cut -f2)
  echo "$1 $(ls {dir}/running | wc -l) $cores $2" >> {dir}/log
  rm {dir}/running/$1
  [ "$1" != "{fail}" ]
}}
"""


def queue(tmp_path, fail: int = -1) -> subprocess.CompletedProcess:
    (tmp_path / "running").mkdir(exist_ok=True)
    script = "set -euo pipefail\nsource scripts/slots.sh\n"
    script += WIDEN.format(dir=tmp_path) + JOB.format(dir=tmp_path, fail=fail)
    script += "run_in_slots 7 passed-on\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_every_run_once_two_at_a_time_each_on_its_slots_cores(tmp_path):
    done = queue(tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    assert sorted(int(r[0]) for r in rows) == list(range(7))
    assert all(r[3] == "passed-on" for r in rows)
    assert max(int(r[1]) for r in rows) <= 2
    cores = cpu_list((tmp_path / "cores").read_text().strip())
    if "not pinned" in done.stderr or len(cores) < 2:
        pytest.skip("no process pinned here (one core, or the system refuses)")
    halves = {tuple(share(slot, 2, cores)) for slot in (0, 1)}
    assert {cpu_list(r[2]) for r in rows} == halves


def cpu_list(text: str) -> tuple[int, ...]:
    """The cores of /proc's Cpus_allowed_list ('0', '0-3', '0,2-3')."""
    cores: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        cores += range(int(first), int(last or first) + 1)
    return tuple(cores)


def test_a_failed_run_fails_the_queue_after_the_others(tmp_path):
    done = queue(tmp_path, fail=2)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "main.sh: a run failed (the error is above)"
    )
    assert len((tmp_path / "log").read_text().splitlines()) == 7
