"""Ctrl-C on a running entry point: one line on stderr, exit status 130, no
traceback; a Hanabi run keeps its last finished chunk as a checkpoint and resumes
from it."""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from tests import ROOT, start_until


def interrupt_when(
    module: str,
    args: list[str],
    marker: str,
    timeout: float = 240,
    signum: int = signal.SIGINT,
) -> tuple[int, str, str]:
    """Runs `python -m module args`, sends `signum` (SIGINT) once a stdout line
    contains `marker` (the run is then past its compilation, in its work), and
    returns (exit status, stdout, stderr)."""
    process, lines = start_until(
        module,
        args,
        marker,
        timeout,
        stderr=subprocess.PIPE,
        # A child of a non-interactive shell may inherit SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    process.send_signal(signum)
    rest, err = process.communicate(timeout=120)
    return process.returncode, lines + rest, err


def assert_one_line(status: int, err: str, run_dir: pathlib.Path) -> None:
    assert status == 130, err[-2000:]
    assert err.strip() == f"interrupted: stopped the run in {run_dir}", err[-2000:]


@pytest.mark.slow
def test_ctrl_c_on_a_tabular_run_is_one_line_and_status_130(tmp_path):
    run_dir = tmp_path / "run"
    status, _, err = interrupt_when(
        "experiments.tabular",
        [
            "game=dectiger",
            "horizon=3",
            "seeds=8",
            "learner.steps=100000",
            "learner.max_steps=100000",
            "learner.window=50",
            f"hydra.run.dir={run_dir}",
        ],
        marker="seeds converged",
    )
    assert_one_line(status, err, run_dir)
    assert not (run_dir / "results.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_on_a_hanabi_run_keeps_its_last_chunk_and_resumes(tmp_path, signum):
    """SIGTERM (a scheduler's stop, `kill`) saves as Ctrl-C does and exits 143."""
    run_dir = tmp_path / "run"
    tiny = [
        "seeds=2",
        "ent_coefs=[0.1]",
        "ippo.num_envs=8",
        "ippo.num_steps=8",
        "ippo.hidden_sizes=[16]",
        "log_every=1",
        "checkpoint_every=1000",
        f"hydra.run.dir={run_dir}",
    ]
    long = [*tiny, "ippo.total_timesteps=6400000"]  # 100,000 updates
    status, _, err = interrupt_when(
        "experiments.ippo", long, marker="update 2/", signum=signum
    )
    if signum == signal.SIGTERM:
        assert status == 143, err[-2000:]
        status = 130  # otherwise as Ctrl-C
    assert_one_line(status, err, run_dir)
    saved = sorted((run_dir / "checkpoints" / "0").glob("step_*.npz"))
    assert saved, "the finished chunks were not saved"
    step = int(saved[-1].stem.split("_")[1])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    assert records[-1]["update"] >= step >= 2
    again = [*long, "resume=true", f"stop_after={step + 1}"]
    resumed = subprocess.run(
        [sys.executable, "-m", "experiments.ippo", *again],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from update {step}" in resumed.stdout


def test_every_entry_point_is_one_program_that_ends_ctrl_c_with_one_line(capsys):
    """Every entry point but the launcher (which joins no job) is a `Program`
    of `experiments.harness.entry`: an argparse one made by `entry_point`, a
    hydra one by `hydra_entry_point`; Ctrl-C inside ends it with one line and
    status 130."""
    import importlib

    from experiments.harness.entry import Program, entry_point

    @entry_point
    def main(argv=None) -> int:
        raise KeyboardInterrupt

    assert main([]) == 130
    assert capsys.readouterr().err.strip() == f"interrupted: stopped {__name__}"
    for name in (
        "compare",
        "crossplay",
        "estimate",
        "notebooks",
        "hanabi_verify",
        "hle_check",
        "hanabi_compare",
        "replay",
        "tabular",
        "ippo",
    ):
        module = importlib.import_module(f"experiments.{name}")
        assert isinstance(module.main, Program), name
        assert module.cli == module.main.cli, name


def test_an_interrupt_that_a_callback_swallowed_is_raised_again():
    """JAX's garbage-collection hook is a callback Python cannot raise from: an
    interrupt landing there was printed as 'Exception ignored' and the run went
    on. experiments/__init__.py sends it again, to be raised in the main flow."""
    import types

    import experiments

    swallowed = types.SimpleNamespace(
        exc_type=KeyboardInterrupt,
        exc_value=KeyboardInterrupt(),
        exc_traceback=None,
        err_msg="Exception ignored in",
        object=None,
    )
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            experiments._unraisable_hook(swallowed)  # pytest has its own hook
            time.sleep(5)
    finally:
        signal.signal(signal.SIGINT, previous)
