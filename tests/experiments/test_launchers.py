"""Sweeps through hydra's launchers: the SLURM configuration composes with the
paper preset into submitit's batch script, a local joblib sweep lands in one
sweep directory that experiments.crossplay and experiments.compare read whole,
and a resubmitted sweep skips its finished jobs and resumes the killed one."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from experiments import compare, crossplay, tabular
from experiments import ippo as entry
from tests.tiny_runs import FEW_CONVENTIONS

ROOT = entry.CONF_DIR.parent
SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
# 4 updates of 8 games x 8 steps, 2 seeds; a chunk and a checkpoint every 2.
TINY = [
    "seeds=2",
    "ippo.num_envs=8",
    "ippo.num_steps=8",
    "ippo.total_timesteps=256",
    "ippo.hidden_sizes=[16]",
    "log_every=2",
    "checkpoint_every=2",
]


def composed(config_name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(entry.CONF_DIR), version_base=None):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)


def batch_script(monkeypatch, launcher) -> tuple:
    """submitit's executor for a composed SLURM launcher, and the batch script it
    would submit (submitit accepts every field)."""
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from submitit import AutoExecutor
    from submitit.slurm import slurm

    instance = instantiate(launcher)
    assert type(instance).__name__ == "SlurmLauncher"
    monkeypatch.setattr(slurm.SlurmExecutor, "affinity", classmethod(lambda c: 1))
    # As SlurmLauncher.launch passes them (hydra_submitit_launcher 1.2).
    params = dict(instance.params)
    folder = params.pop("submitit_folder")
    executor = AutoExecutor(
        cluster="slurm",
        folder=folder,
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{k if k in base else f"slurm_{k}": v for k, v in params.items()}
    )
    return executor, executor._executor._make_submission_file_text("python -m x", "id")


def test_slurm_launcher_composes_with_the_paper_preset(monkeypatch):
    cfg = composed(
        "ippo",
        "preset=hanabi_paper_full",
        "hydra/launcher=slurm_gpu",
        "resume=auto",
        "hydra.sweep.dir=multirun/ippo/entropy_paper_full",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=720",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == SLURM_LAUNCHER
    assert launcher.gpus_per_node == 1 and launcher.tasks_per_node == 1
    assert launcher.partition == "gpu" and launcher.timeout_min == 720
    assert launcher.max_num_timeout > 0 and launcher.signal_delay_s >= 300
    assert launcher.submitit_folder == "multirun/ippo/entropy_paper_full/.submitit/%j"
    # The preset's sweep and the job directories a resubmission lands in again.
    assert cfg.hydra.sweeper.params == {"ippo.gae_lambda": "0.9,0.95"}
    sweep = OmegaConf.to_container(cfg.hydra.sweep)  # unresolved
    assert sweep["subdir"] == "${hydra.job.num}_${name}"
    assert cfg.name == "hanabi_paper_full" and cfg.resume == "auto"
    assert cfg.ippo.network == "gru" and cfg.ippo.num_envs == 1024

    executor, script = batch_script(monkeypatch, launcher)
    for line in (
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=720",
        f"#SBATCH --signal=USR2@{launcher.signal_delay_s}",
        f"#SBATCH --mem={launcher.mem_gb}GB",
        f"#SBATCH --cpus-per-task={launcher.cpus_per_task}",
    ):
        assert line in script
    assert executor._executor.max_num_timeout == launcher.max_num_timeout


def test_slurm_multinode_is_one_job_of_a_task_per_gpu_joined_by_slurms_variables(
    monkeypatch,
):
    """A 2-node x 4-GPU Hanabi grid (docs/cluster.md): one job per sweep point,
    8 tasks, each task one process of one JAX job (LAB_CLUSTER=slurm; the join
    itself is tests/experiments/harness/test_processes.py's simulated SLURM job)."""
    cfg = composed(
        "ippo",
        "preset=hanabi_paper_full",
        "hydra/launcher=slurm_multinode",
        "seeds=16",
        "hydra.launcher.partition=gpu",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == SLURM_LAUNCHER
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (
        2,
        4,
        4,
    )
    assert launcher.max_num_timeout > 0  # the rest is slurm_gpu's
    _, script = batch_script(monkeypatch, launcher)
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "export LAB_CLUSTER=slurm",
    ):
        assert line in script, script
    # Every task runs the job (submitit's srun), after the setup line.
    assert script.index("export LAB_CLUSTER=slurm") < script.index("srun")


def test_launchers_compose_with_the_tabular_configs():
    for config_name in ("tabular", "phase"):
        for launcher, target in (
            ("local", "JoblibLauncher"),
            ("slurm_gpu", "SlurmLauncher"),
        ):
            cfg = composed(config_name, f"hydra/launcher={launcher}")
            assert cfg.hydra.launcher._target_.endswith(target)
    assert composed("tabular", "hydra/launcher=local").hydra.launcher.n_jobs == 2


def sweep_command(sweep_dir) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.ippo",
        "--multirun",
        "hydra/launcher=local",
        "ent_coefs=[0.01],[0.1]",
        *TINY,
        "resume=auto",
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run_sweep(sweep_dir) -> str:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        sweep_command(sweep_dir),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_local_sweep_feeds_crossplay_and_compare_and_resubmits(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    run_sweep(sweep)
    jobs = [sweep / "0_hanabi_cpu", sweep / "1_hanabi_cpu"]
    coefs = [
        json.loads((job / "results.json").read_text())["ent_coefs"] for job in jobs
    ]
    assert coefs == [[0.01], [0.1]]

    # Job 1 killed after update 2 (its later files lost); job 0 finished.
    finished = (jobs[0] / "results.json").read_bytes()
    finished_mtime = (jobs[0] / "results.json").stat().st_mtime_ns
    final = {
        s: np.load(jobs[1] / f"checkpoints/{s}/step_000000004.npz") for s in (0, 1)
    }
    final = {s: {k: f[k] for k in f.files} for s, f in final.items()}
    (jobs[1] / "results.json").unlink()
    for seed in (0, 1):
        (jobs[1] / f"checkpoints/{seed}/step_000000004.npz").unlink()

    # The same command again: job 0 is skipped, job 1 resumes and ends the same.
    run_sweep(sweep)
    assert (jobs[0] / "results.json").read_bytes() == finished
    assert (jobs[0] / "results.json").stat().st_mtime_ns == finished_mtime
    log = (jobs[0] / "ippo.log").read_text()
    assert "already finished" in log
    assert "resumed from update 2 of 4" in (jobs[1] / "ippo.log").read_text()
    for seed in (0, 1):
        got = np.load(jobs[1] / f"checkpoints/{seed}/step_000000004.npz")
        for key, want in final[seed].items():
            if key != "__manifest__":
                np.testing.assert_array_equal(got[key], want)

    # The sweep directory as a whole: cross-play, then the comparison table.
    args = [str(sweep), "--games", "4", "--permutations", "1", *FEW_CONVENTIONS]
    assert crossplay.main([*args, "--symmetry-games", "0"]) == 0
    results = json.loads((sweep / "crossplay" / "results.json").read_text())
    assert results["num_agents"] == 4
    assert [p["ent_coef"] for p in results["points"]] == [0.01, 0.1]
    assert [p["num_seeds"] for p in results["points"]] == [2, 2]
    assert np.asarray(results["matrix"]).shape == (4, 4)
    assert compare.main([str(sweep)]) == 0
    with (sweep / "comparison.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["ent_coef"]) for r in rows] == [0.01, 0.1]
    assert all(r["xp"] and r["sp"] for r in rows)
    printed = capsys.readouterr()
    assert "0.01" in printed.out and "IPPO training run" in printed.err


def test_tabular_skip_finished_keeps_a_finished_run(monkeypatch, tmp_path):
    command = [
        "experiments.tabular",
        "game=penalty",
        "seeds=2",
        "taus=[0,1]",
        "learner.steps=10",
        "learner.window=10",
        "learner.max_steps=10",
        "skip_finished=true",
        f"hydra.run.dir={tmp_path}",
    ]
    monkeypatch.setattr(sys, "argv", command)
    tabular.main()
    written = (tmp_path / "results.json").read_bytes()
    mtime = (tmp_path / "results.json").stat().st_mtime_ns
    monkeypatch.setattr(tabular, "prepare", pytest.fail)  # nothing may run
    tabular.main()
    assert (tmp_path / "results.json").read_bytes() == written
    assert (tmp_path / "results.json").stat().st_mtime_ns == mtime
