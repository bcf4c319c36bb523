"""A table of bad inputs across every entry point: a non-zero exit, exactly one
line on stderr that names the problem, no traceback, and nothing half-written (no
results, no temporary files, and a run directory that was there before left
exactly as it was).

Most cases run one after another in one worker process (this module run as a
program) through the entry point's own `main` (the same wrappers that turn
errors into one line), which pays the interpreter's, JAX's and hydra's start-up
once, not per case, and keeps their global state (streams, logging, signal
handlers) out of pytest's process; the cases of `AS_A_USER`, one per entry
point and the one whose file-size limit is the process's, run as a user runs
them, each in a subprocess of its own, where the real streams and exit status
are seen. The inputs are prepared once (`inputs` below): game files, results
files, notebooks and one tiny finished Hanabi run whose copies are damaged per
case.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import traceback
from typing import NamedTuple

import pytest

from marl.files import LOCK_FILE
from tests import ROOT
from tests.experiments.bad_inputs_deep import DEEP_CASES
from tests.experiments.bad_inputs_table import (
    AS_A_USER,
    HAN,
    SHARED,
    TAB,
    TABULAR_CASES,
    Bad,
    write_inputs,
)

CASES = [*TABULAR_CASES, *DEEP_CASES]


class Done(NamedTuple):
    returncode: int
    stderr: str


def run_in_process(module: str, args: list[str]) -> Done:
    """`python -m experiments.<module> *args` in this process: the module's
    `main` (the one-line error wrappers included) with `sys.argv` set, its
    streams captured, its exit status from `SystemExit` or its return; an
    exception that escapes is a traceback, as a user would see it."""
    main = importlib.import_module(f"experiments.{module}").main
    stderr, stdout = io.StringIO(), io.StringIO()
    argv, handler = sys.argv, signal.getsignal(signal.SIGINT)
    sys.argv = [f"experiments.{module}", *args]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            try:
                status = main()
            except SystemExit as stop:
                status = stop.code
            except Exception:
                traceback.print_exc(file=stderr)
                status = 1
    finally:
        sys.argv = argv
        signal.signal(signal.SIGINT, handler)
    code = 0 if status is None else status if isinstance(status, int) else 1
    return Done(code, stderr.getvalue())


def run_module(
    module: str,
    args: list[str],
    timeout: int = 300,
    file_limit: int | None = None,
    env: tuple[tuple[str, str], ...] = (),
):
    """`python -m experiments.<module> *args` in a subprocess; with `file_limit`,
    under that RLIMIT_FSIZE (set by the child itself before it runs the module:
    a fork's preexec hook is unsafe beside JAX's threads)."""
    command = [sys.executable, "-m", f"experiments.{module}", *args]
    if file_limit is not None:
        command[1:3] = [
            "-c",
            "import resource, runpy, sys; "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_limit}, {file_limit})); "
            f"sys.argv[0] = 'experiments.{module}'; "
            f"runpy.run_module('experiments.{module}', run_name='__main__')",
        ]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **dict(env)},
    )


@contextlib.contextmanager
def environment(variables: tuple[tuple[str, str], ...]):
    """`os.environ` with `variables` set, restored after."""
    saved = {name: os.environ.get(name) for name, _ in variables}
    os.environ.update(dict(variables))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def tree_digest(path: pathlib.Path) -> dict[str, str]:
    """Every file under `path` and a hash of its bytes."""
    return {
        str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The inputs, a finished tiny tabular run and a finished tiny Hanabi run."""
    root = tmp_path_factory.mktemp("bad_inputs")
    write_inputs(root / "inputs")
    tab = root / "tabrun"
    done = run_module("tabular", [*TAB, f"hydra.run.dir={tab}"])
    assert done.returncode == 0, done.stderr
    run = root / "hanrun"
    done = run_module("ippo", [*HAN, f"hydra.run.dir={run}"])
    assert done.returncode == 0, done.stderr
    held = root / "inputs" / "held"  # a directory another run is writing
    held.mkdir()
    fd = os.open(held / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    yield root
    os.close(fd)


def expand(case: Bad, root: pathlib.Path, work: pathlib.Path) -> list[str]:
    """The case's arguments, with fresh copies of the runs it damages or reuses."""
    names = {
        "in": str(root / "inputs"),
        "out": str(work / "out"),
        "held": str(root / "inputs" / "held"),
    }
    if any("{run" in a for a in case.args):
        run = work / "run"
        shutil.copytree(root / "hanrun", run)
        names["run"] = str(run)
        corrupt = work / "run_corrupt"
        shutil.copytree(root / "hanrun", corrupt)
        (corrupt / "results.json").unlink()  # an unfinished run
        for checkpoint in (corrupt / "checkpoints").rglob("*.npz"):
            checkpoint.write_bytes(checkpoint.read_bytes()[:100])
        names["run_corrupt"] = str(corrupt)
        bad_config = work / "run_bad_config"
        shutil.copytree(root / "hanrun", bad_config)
        text = (bad_config / "config.yaml").read_text()
        (bad_config / "config.yaml").write_text(text[: len(text) // 3])
        names["run_bad_config"] = str(bad_config)
        bad_metrics = work / "run_bad_metrics"  # unfinished, a line of no record
        shutil.copytree(root / "hanrun", bad_metrics)
        (bad_metrics / "results.json").unlink()
        with (bad_metrics / "metrics.jsonl").open("a") as metrics:
            metrics.write("42\n")
        names["run_bad_metrics"] = str(bad_metrics)
    if any("{tabrun}" in a for a in case.args):
        shutil.copytree(root / "tabrun", work / "tabrun")
        names["tabrun"] = str(work / "tabrun")
    return [a.format(**names) for a in case.args]


def check(case: Bad, root: pathlib.Path) -> str | None:
    """None when the case fails as it must, else what went wrong."""
    work = root / "cases" / case.id
    work.mkdir(parents=True)
    args = expand(case, root, work)
    before = {p.name: tree_digest(p) for p in work.iterdir() if p.is_dir()}
    inputs_before = tree_digest(root / "inputs")
    if case.id in AS_A_USER:
        done = run_module(case.module, args, file_limit=case.file_limit, env=case.env)
    else:
        with contextlib.chdir(ROOT), environment(case.env):
            done = run_in_process(case.module, args)
    lines = done.stderr.strip().splitlines()
    problems = []
    if done.returncode == 0:
        problems.append("exit status 0")
    if "Traceback" in done.stderr:
        problems.append("a traceback")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    elif case.message not in lines[0]:
        problems.append(f"no {case.message!r} in the line")
    for name, digest in before.items():
        if tree_digest(work / name) != digest:
            problems.append(f"{name} changed")
    if tree_digest(root / "inputs") != inputs_before:
        problems.append("the inputs changed")
    out = work / "out"
    if out.exists():
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        if any(p.endswith(".tmp") or "results" in p for p in left) or (
            left and not case.leaves
        ):
            problems.append(f"left {left}")
    if not problems:
        return None
    return f"{case.id}: {', '.join(problems)}\n    stderr: {done.stderr.strip()!r}"


def run_worker(prepared: pathlib.Path, ids: list[str]) -> list[str | None]:
    """`check` of the cases `ids` in one worker process (they share sys.argv,
    the streams and hydra's global state there, one by one): their failures."""
    worker = subprocess.run(
        [sys.executable, "-m", __name__, str(prepared), *ids],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    return json.loads(worker.stdout.splitlines()[-1])


@pytest.mark.slow
def test_every_bad_input_is_answered_in_one_line(prepared):
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    cases = CASES
    if not (SHARED / "dectiger.dpomdp").is_file():
        print(f"{SHARED} is absent: skipping the cases that read its files")
        cases = [c for c in CASES if "dpomdp" not in c.id]
    assert {c.id for c in CASES} >= AS_A_USER
    assert {c.module for c in CASES} == {
        c.module for c in CASES if c.id in AS_A_USER
    }  # every entry point is also run as a user runs it
    users = [c for c in cases if c.id in AS_A_USER]
    in_worker = [c.id for c in cases if c.id not in AS_A_USER]
    # The worker runs its cases one by one (they share sys.argv, the streams and
    # hydra's global state), the user's subprocesses one at a time beside it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        in_subprocesses = pool.map(lambda c: check(c, prepared), users)
        reported = run_worker(prepared, in_worker)
        failures = [f for f in [*reported, *in_subprocesses] if f]
    assert not failures, f"{len(failures)} of {len(cases)} bad inputs:\n" + "\n".join(
        failures
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_one_bad_input(case, request):
    """One case alone, for `pytest tests/experiments/test_bad_inputs.py -k <id>`
    (skipped without a -k: the test above checks every case at once, sharing one
    worker process and one set of prepared runs)."""
    if not request.config.getoption("keyword"):
        pytest.skip("select it with -k <case id>; every case runs in the test above")
    if "dpomdp" in case.id and not (SHARED / "dectiger.dpomdp").is_file():
        pytest.skip(f"{SHARED} is absent")
    prepared = request.getfixturevalue("prepared")
    if case.id in AS_A_USER:
        failure = check(case, prepared)
    else:
        (failure,) = run_worker(prepared, [case.id])
    assert failure is None, failure


if __name__ == "__main__":
    # The worker: `python -m tests.experiments.test_bad_inputs <prepared> <ids>`
    # checks those cases in this process and prints their failures as JSON.
    prepared_dir = pathlib.Path(sys.argv[1])
    chosen = [c for c in CASES if c.id in sys.argv[2:]]
    results = [check(case, prepared_dir) for case in chosen]
    sys.__stdout__.write(json.dumps(results) + "\n")
