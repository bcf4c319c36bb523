"""Ctrl-C at random moments of every entry point: each must end with exit status
130 and one line on stderr (or finish normally, when the signal comes after its
work), never a traceback, a segfault or a fatal error.

Thorough, so deselected by default (pyproject.toml's addopts): a few minutes per
entry point. The suite samples a few moments in tests/experiments/
test_interrupts.py; this is the thorough version, for anyone to run:

    .venv/bin/python -m pytest -m thorough tests/experiments/test_ctrl_c_thorough.py
    LAB_CTRL_C_MOMENTS=5 .venv/bin/python -m pytest -m thorough -k "tabular or ippo" ...

For each entry point a small job runs once to measure how long it takes (T);
then it is started again LAB_CTRL_C_MOMENTS times (default 20) and sent SIGINT
at a moment drawn uniformly from [0, T] (start-up, composition, compilation,
training, convergence checks, tau* search, annealing, cross-play and writing all
fall inside).
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests import ROOT

BAD = ("Traceback", "Segmentation fault", "Fatal Python error", "core dumped")
MOMENTS = int(os.environ.get("LAB_CTRL_C_MOMENTS", "20"))

TINY_IPPO = [
    "env.preset=Hanabi-Small",
    "seeds=2",
    "ent_coefs=[0.01,0.1]",
    "ippo.num_envs=8",
    "ippo.num_steps=8",
    "ippo.hidden_sizes=[16]",
    "ippo.total_timesteps=1280",
    "log_every=2",
    "checkpoint_every=4",
]

JOBS: dict[str, list[str]] = {
    "tabular": [
        "experiments.tabular",
        "--config-name",
        "phase",
        "game=lever",
        "seeds=4",
        "taus=[0,1]",
        "learner.steps=50",
        "learner.window=25",
        "learner.max_steps=100",
        "annealing.steps=50",
        "sampled.steps=20",
        "hydra.run.dir={out}",
    ],
    "ippo": ["experiments.ippo", *TINY_IPPO, "hydra.run.dir={out}"],
    # One job of 2 processes: the launcher passes the interrupt on.
    "launch": [
        "experiments.launch",
        "--processes",
        "2",
        "--log-dir",
        "{out}-logs",  # beside the run directory, which the job makes
        "--",
        "experiments.ippo",
        *TINY_IPPO,
        "hydra.run.dir={out}",
    ],
    "crossplay": [
        "experiments.crossplay",
        "{run}",
        "--games",
        "50",
        "--symmetry-games",
        "20",
        "--out",
        "{out}",
    ],
    "compare": ["experiments.compare", "{run}", "--csv", "{out}/t.csv"],
    "estimate": ["experiments.estimate", *TINY_IPPO, "--measure"],
    "hanabi_verify": [
        "experiments.hanabi_verify",
        "--games",
        "20",
        "--preset",
        "Hanabi-Small",
    ],
}
"""Each entry point's job; `{out}` is a fresh directory per run, `{run}` the
finished IPPO run trained first (cross-play, compare, the estimate)."""


def run(
    argv: list[str], work: pathlib.Path, at: float | None
) -> tuple[int, str, float]:
    """Runs one job (SIGINT after `at` seconds, None: never); returns (status,
    stderr, seconds)."""
    out = pathlib.Path(tempfile.mkdtemp(dir=work))
    shutil.rmtree(out)  # the entry points make their own directories
    args = [
        a.replace("{out}", str(out)).replace("{run}", str(work / "run")) for a in argv
    ]
    if "--csv" in args:
        out.mkdir()
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    if at is not None:
        try:
            process.wait(timeout=at)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=600)
    return process.returncode, err, time.time() - started


def problem(status: int, err: str) -> str | None:
    """None when the run behaved: 130 with one line, killed by the signal before
    Python started, or 0 (finished first); else what went wrong."""
    if any(bad in err for bad in BAD):
        return f"status {status}: {err.strip().splitlines()[-1][:200]}"
    lines = err.strip().splitlines()
    if status == 130:
        # One line of its own: the interruption (progress lines before it are
        # the run's, as `experiments.estimate` prints them to stderr).
        ours = [x.startswith("interrupted: ") for x in lines]
        if ours and ours[-1] and not any(ours[:-1]):
            return None
        return f"status 130 but {len(lines)} stderr lines: {err.strip()[-300:]}"
    if status == -signal.SIGINT and not lines:
        return None  # killed before Python started (the shell shows 130)
    if status == 0:
        if any("KeyboardInterrupt" in x for x in lines):
            return f"finished, but the interrupt was swallowed: {lines[-1][:200]}"
        return None
    return f"status {status}: {err.strip()[-300:]}"


def test_the_verdict_tells_a_clean_stop_from_a_traceback():
    assert problem(130, "interrupted: stopped the run in x\n") is None
    assert problem(0, "") is None
    assert problem(-signal.SIGINT, "") is None
    assert problem(130, "Traceback (most recent call last):\n...") is not None
    assert problem(130, "interrupted: a\ninterrupted: b\n") is not None
    assert problem(0, "KeyboardInterrupt\n") is not None
    assert problem(1, "error\n") is not None


THOROUGH = [pytest.mark.thorough, pytest.mark.slow]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A directory holding the finished tiny IPPO run and its cross-play that
    the other jobs read."""
    work = tmp_path_factory.mktemp("ctrl_c")
    train = ["experiments.ippo", *TINY_IPPO, f"hydra.run.dir={work / 'run'}"]
    status, err, _ = run(train, work, None)
    assert status == 0, err[-2000:]
    xp = ["experiments.crossplay", str(work / "run"), "--games", "20"]
    status, err, _ = run([*xp, "--symmetry-games", "10"], work, None)
    assert status == 0, err[-2000:]
    return work


@pytest.mark.parametrize("name", [pytest.param(n, marks=THOROUGH) for n in JOBS])
def test_ctrl_c_at_random_moments_is_one_line_and_status_130(name, work):
    status, err, seconds = run(JOBS[name], work, None)
    assert problem(status, err) is None, f"{name} (uninterrupted): {err[-2000:]}"
    rng = random.Random(f"{name}-0")
    failures = []
    for _ in range(MOMENTS):
        at = rng.uniform(0.0, seconds)
        status, err, _ = run(JOBS[name], work, at)
        if (found := problem(status, err)) is not None:
            failures.append(f"at {at:.2f} s of {seconds:.1f} s: {found}")
    assert not failures, "\n".join(failures)
