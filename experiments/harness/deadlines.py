"""Subprocesses with deadlines, what the scripts run on a lent GPU share
(scripts/gpu_hanabi.py, scripts/gpu_grid.py): a wall-clock `Budget`, `Phases`
(each phase a subprocess of this Python in the repository root with a
deadline: SIGINT at the deadline, so that an entry point saves its last chunk,
then SIGKILL after a grace; its output in `<work>/<phase>.log`, its record kept
for the summary), the JSON readers that tolerate a phase that never wrote, and
the tarball written whole or not at all."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tarfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The checkout the phases run in (their working directory and PYTHONPATH)."""


GRACE_SECONDS = 25.0
"""After SIGINT at a deadline: time to save a checkpoint and exit, then SIGKILL."""

LEAST_SECONDS = 5.0
"""A phase with less time than this before its deadline is skipped, not started."""


def interruptible_child() -> None:
    """In a phase's process before its Python starts: SIGINT back to its default.
    A script started in the background by a non-interactive shell (`cmd &`,
    nohup) runs with SIGINT ignored, its children inherit that, and a Python
    started so installs no KeyboardInterrupt: a phase would sit out the grace at
    its deadline and be killed without saving its last chunk."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Budget:
    """Wall-clock deadlines from one start."""

    def __init__(self, seconds: float) -> None:
        self.start = time.time()
        self.end = self.start + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.end - time.time()

    def at(self, share: float) -> float:
        """The time by which `share` of the budget has passed."""
        return self.start + share * self.seconds


class Phases:
    """Runs subprocesses with deadlines and records what each did."""

    def __init__(self, work: pathlib.Path, label: str = "gpu") -> None:
        self.work = work
        self.label = label  # the prefix of its progress lines
        self.records: list[dict[str, Any]] = []
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # The second training invocation and the estimate reuse the first's
        # compilations (JAX reads this variable as jax_compilation_cache_dir).
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(work / "jax_cache"))
        paths = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        self.env = env

    def stop(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM to this script: stop the phase in flight, then pack."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)

    def run(self, name: str, argv: list[str], deadline: float) -> dict[str, Any]:
        """`python <argv>` in the repository root until it exits or `deadline`;
        stdout and stderr to <work>/<name>.log. Returns the phase's record."""
        log = self.work / f"{name}.log"
        record: dict[str, Any] = {"phase": name, "command": argv, "log": log.name}
        self.records.append(record)
        if self.stopping or deadline - time.time() < LEAST_SECONDS:
            record.update(status="skipped", reason="stopped or no time left")
            print(f"[{self.label}] {name}: skipped (no time left)", flush=True)
            return record
        print(f"[{self.label}] {name}: {' '.join(argv)}", flush=True)
        began = time.time()
        with log.open("wb") as out:
            self.child = subprocess.Popen(
                [sys.executable, *argv],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=interruptible_child,
            )
            stopped = False
            try:
                self.child.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                stopped = True
                self.child.send_signal(signal.SIGINT)
                try:
                    self.child.wait(timeout=GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    self.child.kill()
                    self.child.wait()
            code = self.child.returncode
            self.child = None
        seconds = time.time() - began
        status = "ok" if code == 0 and not stopped else "failed"
        if stopped or (self.stopping and code != 0):
            status = "stopped at its deadline" if stopped else "stopped"
        record.update(status=status, returncode=code, seconds=round(seconds, 1))
        print(f"[{self.label}] {name}: {status} ({seconds:.0f} s)", flush=True)
        if status == "failed":
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            record["tail"] = tail
            print("\n".join(f"    {line}" for line in tail), flush=True)
        return record


def read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_json(path: pathlib.Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def phases_deadline(budget: Budget, deadline: float, share: float) -> float:
    """`share` of the time from now to `deadline`."""
    now = time.time()
    return now + share * max(0.0, deadline - now)


def write_tarball(
    work: pathlib.Path, members: list[pathlib.Path], out: pathlib.Path, name: str
) -> pathlib.Path:
    """`<out>/<name>.tar.gz` of the `members` that exist (paths under `work`, in
    the archive under `<name>/`), written whole or not at all, and summary.md
    beside it."""
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / f"{name}.tar.gz"
    partial = out / f"{name}.tar.gz.part"
    with tarfile.open(partial, "w:gz") as tar:
        for path in members:
            if path.is_file():
                tar.add(path, arcname=f"{name}/{path.relative_to(work)}")
    partial.replace(tarball)
    (out / "summary.md").write_text((work / "summary.md").read_text())
    return tarball
