"""What a run leaves for a shared cluster: files the group can read, metadata that
reruns it, and a wheel that carries the configs and the console scripts."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.harness.results import rerun_command, write_json, write_npz
from marl.deep.checkpoint import save_checkpoint
from tests import ROOT, start_until
from tests.tiny_runs import TINY


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_results_arrays_and_checkpoints_are_readable_by_the_group(tmp_path, umask_022):
    """One atomic writer (marl.files) for all three, with the mode `open` gives a
    new file (0644 here), as hydra's own files get; mkstemp alone gives 0600."""
    write_json(tmp_path / "results.json", {"a": 1})
    write_npz(tmp_path / "arrays.npz", {"x": np.zeros(3)})
    save_checkpoint(
        tmp_path / "step_000000001.npz",
        {"w": jnp.ones(2)},
        step=1,
        config_hash="0" * 16,
    )
    for name in ("results.json", "arrays.npz", "step_000000001.npz"):
        assert mode(tmp_path / name) == 0o644, name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "arrays.npz",
        "results.json",
        "step_000000001.npz",
    ]  # no temporary file left behind


def test_the_recorded_command_reruns_the_entry_point_as_written():
    module = str(ROOT / "experiments" / "tabular.py")
    assert (
        rerun_command([module, "game=lever", "taus=[0, 1]"])
        == "python -m experiments.tabular game=lever 'taus=[0, 1]'"
    )
    assert (
        rerun_command(["/venv/bin/zsc-compare", "results/main"])
        == "zsc-compare results/main"
    )


def test_the_wheel_carries_the_configs_and_its_console_scripts_run(tmp_path):
    """`pip wheel .` then an install elsewhere: the tabular entry point, through
    its console script and from outside the checkout, finds conf/ inside the
    package and writes a run."""
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # Built from a copy: setuptools leaves build/ beside the sources it builds.
    for name in ("games", "marl", "experiments", "conf"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--no-deps", "-q"]
    build = subprocess.run(
        [*pip[:3], "wheel", *pip[3:], str(source), "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("*.whl")
    install = subprocess.run(
        [*pip[:3], "install", *pip[3:], "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert (site / "experiments" / "conf" / "preset" / "hanabi_cpu.yaml").is_file()
    assert (site / "experiments" / "conf" / "env" / "overcooked.yaml").is_file()
    scripts = {p.name for p in (site / "bin").iterdir()}
    assert {"zsc-tabular", "zsc-compare", "zsc-ippo", "zsc-crossplay"} <= scripts
    run_dir = tmp_path / "run"
    out = f"hydra.run.dir={run_dir}"
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import experiments.harness.compose as c; print(c.CONF_DIR)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert where.stdout.strip() == str(site / "experiments" / "conf")
    run = subprocess.run(
        [str(site / "bin" / "zsc-tabular"), "game=lever", *TINY, out],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["metadata"]["command"].startswith("zsc-tabular game=lever")
    assert results["metadata"]["device"].startswith("cpu: ")


def test_a_directory_has_one_writer_and_a_dead_one_leaves_no_lock(tmp_path):
    from marl.files import LOCK_FILE, DirectoryLockedError, locked

    run = tmp_path / "run"
    with locked(run):
        assert (run / LOCK_FILE).read_text().strip() == str(os.getpid())
        refused = pytest.raises(DirectoryLockedError, match=f"process {os.getpid()}")
        with refused, locked(run):
            pass
    assert not (run / LOCK_FILE).exists()
    with locked(run):  # released: taken again
        pass
    # A writer killed while holding the lock leaves nothing that blocks the next.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, sys, time; from marl.files import locked\n"
            f"with locked(pathlib.Path({str(run)!r})):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    refused = pytest.raises(DirectoryLockedError, match=f"process {holder.pid}")
    with refused, locked(run):
        pass
    holder.kill()
    holder.wait()
    with locked(run):
        pass


@pytest.mark.slow
def test_a_second_run_into_a_directory_being_written_is_refused(tmp_path):
    """Two runs given the same directory, the second started while the first
    works: the second ends with one line and status 2; the first goes on."""
    run_dir = tmp_path / "run"
    long = [
        "game=dectiger",
        "horizon=3",
        "seeds=8",
        "learner.steps=100000",
        "learner.max_steps=100000",
        "learner.window=50",
    ]
    first, _ = start_until(
        "experiments.tabular",
        [*long, f"hydra.run.dir={run_dir}"],
        "seeds converged",
        stderr=subprocess.STDOUT,
    )
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "experiments.tabular",
                "game=lever",
                *TINY,
                f"hydra.run.dir={run_dir}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 2, second.stderr[-2000:]
        error = second.stderr.strip().splitlines()
        assert len(error) == 1 and "being written by another run" in error[0], error
        assert f"process {first.pid}" in error[0]
        assert first.poll() is None  # the first run is untouched
    finally:
        first.kill()
        first.wait()
