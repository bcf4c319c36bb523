"""Ctrl-C at random moments of every entry point: each must end with exit status
130 and one line on stderr (or finish normally, when the signal comes after its
work), never a traceback, a segfault or a fatal error.

    .venv/bin/python scripts/ctrl_c.py                    # 20 moments each
    .venv/bin/python scripts/ctrl_c.py --moments 5 --entry tabular ippo

For each entry point a small job is run once to measure how long it takes (T);
then it is started again `--moments` times and sent SIGINT at a moment drawn
uniformly from [0, T] (start-up, composition, compilation, training,
convergence checks, tau* search, annealing, cross-play and writing all fall inside).
Prints one line per entry point and exits 1 if any run misbehaved, listing it.
The test suite samples a few such moments (tests/experiments/test_interrupts.py); this
script is the thorough version, for anyone to run.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BAD = ("Traceback", "Segmentation fault", "Fatal Python error", "core dumped")

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


def jobs(work: pathlib.Path) -> dict[str, list[str]]:
    """Each entry point's job; `{out}` is a fresh directory per run, `{run}` the
    finished IPPO run trained first (cross-play, the estimate, the HLE check)."""
    return {
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
        "compare": ["experiments.compare", str(work / "run"), "--csv", "{out}/t.csv"],
        "estimate": ["experiments.estimate", *TINY_IPPO, "--measure"],
        "hanabi_verify": [
            "experiments.hanabi_verify",
            "--games",
            "20",
            "--preset",
            "Hanabi-Small",
        ],
    }


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


def verdict(status: int, err: str) -> str | None:
    """None when the run behaved: 130 with one line, killed by the signal before
    Python started, or 0 (finished first)."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moments", type=int, default=20)
    parser.add_argument("--entry", nargs="+", help="entry points (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = pathlib.Path(tempfile.mkdtemp(prefix="ctrl_c_"))
    all_jobs = jobs(work)
    status, err, _ = run(
        ["experiments.ippo", *TINY_IPPO, f"hydra.run.dir={work / 'run'}"], work, None
    )
    if status == 0:  # the cross-play that compare reads
        xp = ["experiments.crossplay", str(work / "run"), "--games", "20"]
        status, err, _ = run([*xp, "--symmetry-games", "10"], work, None)
    if status != 0:
        print(f"could not prepare the run the others read: {err[-500:]}")
        return 2
    failures = []
    for name in args.entry or list(all_jobs):
        status, err, seconds = run(all_jobs[name], work, None)
        if verdict(status, err) is not None:
            failures.append(f"{name} (uninterrupted): {verdict(status, err)}")
            continue
        counts = {"interrupted": 0, "finished first": 0}
        for _ in range(args.moments):
            at = rng.uniform(0.0, seconds)
            status, err, _ = run(all_jobs[name], work, at)
            problem = verdict(status, err)
            if problem is not None:
                failures.append(f"{name} at {at:.2f} s: {problem}")
            else:
                counts["interrupted" if status == 130 else "finished first"] += 1
        print(
            f"{name}: {seconds:.1f} s uninterrupted; {args.moments} moments: "
            f"{counts['interrupted']} interrupted with one line and status 130, "
            f"{counts['finished first']} finished first",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
