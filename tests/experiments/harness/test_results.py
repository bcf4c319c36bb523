"""experiments.harness.results.git_revision: the commit a run records, read
without taking git's index lock (a run stopped while `git status` held it left
.git/index.lock behind, and every later git command of the checkout refused)."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess

from experiments.harness.results import git_revision


def test_the_revision_is_head_and_read_without_the_index_lock(tmp_path, monkeypatch):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    revision = git_revision()
    if revision is None:  # a checkout without git (an sdist)
        return
    assert revision.split("+")[0] == head
    # every git command it runs, through a recording git first on the PATH
    calls = tmp_path / "calls"
    real = subprocess.run(
        ["which", "git"], capture_output=True, text=True, check=True
    ).stdout.strip()
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real} "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert git_revision.__wrapped__() == revision  # not the cached value
    status = [c for c in pathlib.Path(calls).read_text().splitlines() if "status" in c]
    assert status and all(c.startswith("--no-optional-locks") for c in status)
