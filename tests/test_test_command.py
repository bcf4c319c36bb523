"""scripts/test.sh's own pytest options: a worker that crashes (a segfault)
fails its test and ends the run, reported, in seconds. Without
`--max-worker-restart 0` xdist's replacement worker hung under file
scheduling (2026-11-30: a suite's worker crashed, its replacement stopped the
run with an internal error; a replacement that starts hangs)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests import ROOT


def suite_options() -> list[str]:
    """The options scripts/test.sh gives pytest, two workers."""
    script = (ROOT / "scripts" / "test.sh").read_text().replace("\\\n", " ")
    (line,) = [x for x in script.splitlines() if "-m pytest" in x]
    options = line.split("-m pytest", 1)[1].replace('"$@"', "")
    return re.sub(r'"\$\{PYTEST_WORKERS:-2\}"', "2", options).split()


def test_a_crashed_worker_ends_the_run_with_the_crash_reported(tmp_path):
    (tmp_path / "test_a_crash.py").write_text(
        "import os, signal\n\n"
        "def test_crashes():\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    for name in "bcd":
        (tmp_path / f"test_{name}.py").write_text(f"def test_{name}():\n    pass\n")
    options = suite_options()
    assert options[:4] == ["-n", "2", "--dist", "loadfile"]
    command = [sys.executable, "-m", "pytest", *options, "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "worker 'gw" in done.stdout and "crashed while running" in done.stdout
    assert "FAILED" in done.stdout and "INTERNALERROR" not in done.stdout
