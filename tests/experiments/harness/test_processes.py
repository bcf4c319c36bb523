"""Entry points as one job of several processes (experiments/launch.py,
experiments/harness/processes.py): a Hanabi IPPO run (stopped and resumed), a
tabular run and a cross-play evaluation, each launched as 2 processes of one CPU device,
write what the same run writes in one process of 2 CPU devices, bit for bit; the
collectives they rely on deliver what was sent; a killed process ends the job
with one line; the job's variables are checked."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from experiments.harness.processes import ProcessesError, on_this_machine, requested
from tests import ROOT
from tests.tiny_runs import FEW_CONVENTIONS, HANABI_TINY, TINY

TIMEOUT = 300
DEVICES = "xla_force_host_platform_device_count"
# 4 updates in chunks of 2; the launched run stops after the first chunk and resumes.
IPPO = [x for x in HANABI_TINY if not x.startswith("ippo.total_timesteps")]
IPPO += ["ippo.total_timesteps=256"]
TABULAR = ["game=tiny_hanabi_c", *TINY]
CROSSPLAY = ["--games", "32", "--symmetry-games", "0", *FEW_CONVENTIONS]


def environment(devices: int = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    flags = [f for f in env.get("XLA_FLAGS", "").split() if DEVICES not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--{DEVICES}={devices}"])
    return env


def start(
    module: str, *args: str, launched: bool, logs: pathlib.Path | None = None
) -> subprocess.Popen[str]:
    """`python -m module args` in one process of 2 devices, or launched as 2
    processes of one device each, process 1's output in `logs` (the launcher's
    default is a new folder under the system's temporary directory, kept)."""
    prefix = ["-m"]
    if launched:
        assert logs is not None, "a launched job names its logs"
        prefix += [
            "experiments.launch",
            "--processes",
            "2",
            "--log-dir",
            str(logs),
            "--",
        ]
    return subprocess.Popen(
        [sys.executable, *prefix, module, *args],
        cwd=ROOT,
        env=environment(1 if launched else 2),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """Every run, in one process of 2 devices ('one/') and launched ('two/')."""
    out = tmp_path_factory.mktemp("processes")
    one, two = out / "one", out / "two"
    reference = [
        start("experiments.ippo", *IPPO, f"hydra.run.dir={one}/ippo", launched=False),
        start(
            "experiments.tabular",
            *TABULAR,
            f"hydra.run.dir={one}/tabular",
            launched=False,
        ),
    ]
    ippo = [*IPPO, f"hydra.run.dir={two}/ippo"]
    logs = out / "logs"  # process 1's output, one file per launched run
    stopped = finish(
        start(
            "experiments.ippo",
            *ippo,
            "stop_after=2",
            launched=True,
            logs=logs / "ippo-stopped",
        )
    )
    assert "stopped after update 2" in stopped
    finish(
        start(
            "experiments.ippo",
            *ippo,
            "resume=true",
            launched=True,
            logs=logs / "ippo-resumed",
        )
    )
    finish(
        start(
            "experiments.tabular",
            *TABULAR,
            f"hydra.run.dir={two}/tabular",
            launched=True,
            logs=logs / "tabular",
        )
    )
    for process in reference:
        finish(process)
    crossplay = [
        start(
            "experiments.crossplay",
            f"{d}/ippo",
            *CROSSPLAY,
            "--out",
            f"{d}/crossplay",
            launched=launched,
            logs=logs / "crossplay",
        )
        for d, launched in ((one, False), (two, True))
    ]
    for process in crossplay:
        finish(process)
    finish(
        start(
            "tests.collectives",
            str(out / "collectives"),
            launched=True,
            logs=logs / "collectives",
        )
    )
    return {"one": one, "two": two, "collectives": out / "collectives"}


def same_arrays(a: pathlib.Path, b: pathlib.Path) -> None:
    x, y = np.load(a), np.load(b)
    assert sorted(x.files) == sorted(y.files)
    for name in x.files:
        np.testing.assert_array_equal(x[name], y[name], err_msg=f"{a.name}: {name}")


def results(path: pathlib.Path) -> dict:
    found = json.loads(path.read_text())
    found.pop("metadata", None)
    return found


def test_a_launched_ippo_run_stopped_and_resumed_equals_one_process(runs):
    one, two = runs["one"] / "ippo", runs["two"] / "ippo"
    found = sorted(p.relative_to(two) for p in two.glob("checkpoints/*/*.npz"))
    assert found == sorted(p.relative_to(one) for p in one.glob("checkpoints/*/*.npz"))
    assert len(found) == 2 * 2  # 2 seeds, a checkpoint after each of 2 chunks
    for path in found:
        same_arrays(one / path, two / path)
    ours, theirs = results(two / "results.json"), results(one / "results.json")
    assert ours["final_return"] == theirs["final_return"]
    drop = ("seconds", "steps_per_second")
    lines = [
        [
            {k: v for k, v in json.loads(x).items() if k not in drop}
            for x in d.joinpath("metrics.jsonl").read_text().splitlines()
        ]
        for d in (one, two)
    ]
    assert lines[0] == lines[1] and len(lines[0]) == 2
    # Process 0 alone wrote the log: each line once.
    log = (two / "ippo.log").read_text()
    assert log.count("update 4/4") == 1 and "resumed from update 2" in log


def test_a_launched_tabular_run_equals_one_process(runs):
    one, two = runs["one"] / "tabular", runs["two"] / "tabular"
    for name in ("policies.npz", "crossplay.npz"):
        same_arrays(one / name, two / name)
    assert results(one / "results.json") == results(two / "results.json")
    assert (two / "sp_xp_vs_tau.png").is_file()


def test_a_launched_cross_play_equals_one_process(runs):
    one, two = runs["one"] / "crossplay", runs["two"] / "crossplay"
    same_arrays(one / "scores.npz", two / "scores.npz")
    # Not a comparison of constants: the tiny agents' sampled games all score 0,
    # their greedy games do not all end alike.
    scores = np.load(one / "scores.npz")
    assert any(np.unique(scores[name]).size > 1 for name in scores.files)
    ours, theirs = results(two / "results.json"), results(one / "results.json")
    assert ours["points"] == theirs["points"]


def test_every_process_receives_what_every_process_sent(runs):
    records = [
        json.loads((runs["collectives"] / f"process_{i}.json").read_text())
        for i in range(2)
    ]
    sent = [r["sent"] for r in records]
    assert sent[0] != sent[1]  # different data in each process
    for record in records:
        assert record["in_program"] == sent and record["process_allgather"] == sent
        assert record["fully_replicated"]
        np.testing.assert_allclose(
            record["psum"],
            np.add(records[0]["sent_sum"], records[1]["sent_sum"]),
            rtol=1e-5,
            atol=1e-5,
        )


def test_every_process_of_a_launched_job_reads_its_programs_back(tmp_path):
    """Each process caches what it compiled (`processes.cache_in_every_process`):
    a second run of the same job compiles nothing in any process. On CPU each
    process keys a program its own way, and JAX writes from process 0 alone."""
    env = {
        **environment(1),
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"),
        "JAX_EXPLAIN_CACHE_MISSES": "true",  # a miss is a warning in every process
    }
    said = []
    for run in ("first", "second"):
        logs = tmp_path / f"{run}-logs"
        launched = [
            *(sys.executable, "-m", "experiments.launch", "--processes", "2"),
            *("--log-dir", str(logs), "--", "tests.collectives", str(tmp_path / run)),
        ]
        done = subprocess.run(
            launched, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        said.append([done.stdout + done.stderr, (logs / "process_1.log").read_text()])
    miss = "PERSISTENT COMPILATION CACHE MISS"
    assert all(miss in text for text in said[0]), said[0]  # both compiled at first
    assert not any(miss in text for text in said[1]), said[1]


def test_a_killed_process_ends_the_job_with_one_line(tmp_path):
    # A tabular run far too long to finish; killed once both processes train.
    long_run = [
        "game=tiny_hanabi_c",
        "seeds=3",
        "taus=[0,1]",
        "learner.steps=10000000",
        "learner.max_steps=10000000",
        "learner.window=1000",
        f"hydra.run.dir={tmp_path}/run",
    ]
    launcher = subprocess.Popen(
        [
            *(sys.executable, "-m", "experiments.launch", "--processes", "2"),
            *("--log-dir", str(tmp_path / "logs"), "--", "experiments.tabular"),
            *long_run,
        ],
        cwd=ROOT,
        env=environment(1),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    lines = []
    for line in launcher.stdout:  # until both processes train
        lines.append(line)
        if "step " in line and "seeds converged" in line:
            break
    else:
        pytest.fail("".join(lines))
    children = subprocess.run(
        ["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(children) == 2
    os.kill(int(children[1]), signal.SIGKILL)
    killed = time.time()
    rest, _ = launcher.communicate(timeout=120)
    assert time.time() - killed < 60
    assert launcher.returncode == 128 + signal.SIGKILL
    tail = [x for x in rest.splitlines() if not x.startswith("[")]
    assert tail == [
        "launch: process 1 of experiments.tabular ended with signal SIGKILL; the "
        f"others ended (output of process 1: {tmp_path / 'logs'})"
    ], rest
    assert "Traceback" not in rest
    assert all(
        subprocess.run(["kill", "-0", c], capture_output=True).returncode != 0
        for c in children
    )


def free_slurm_job_id() -> int:
    """A job id whose coordinator port (JAX's rule: 61440 + id % 4096) is free."""
    for port in np.random.default_rng().permutation(np.arange(61440, 65536)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", int(port)))
            except OSError:
                continue
        return int(port) - 61440 + 4096 * 7
    pytest.skip("no free port in 61440-65535")


def test_a_slurm_job_of_two_tasks_joins_from_slurms_own_variables(tmp_path):
    """What every task of hydra/launcher=slurm_multinode does, on this machine:
    LAB_CLUSTER=slurm and the variables srun sets for 2 tasks on one node."""
    job = free_slurm_job_id()
    tasks = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.collectives", str(tmp_path)],
            cwd=ROOT,
            env={
                **environment(1),
                "LAB_CLUSTER": "slurm",
                "SLURM_JOB_ID": str(job),
                "SLURM_STEP_NODELIST": "localhost",
                "SLURM_NTASKS": "2",
                "SLURM_PROCID": str(task),
                "SLURM_LOCALID": str(task),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for task in range(2)
    ]
    for task in tasks:
        finish(task)
    records = [json.loads((tmp_path / f"process_{i}.json").read_text()) for i in (0, 1)]
    assert [r["processes"] for r in records] == [2, 2]
    assert records[0]["in_program"] == [r["sent"] for r in records]


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"LAB_NUM_PROCESSES": "2"}, "also needs LAB_COORDINATOR, LAB_PROCESS_ID"),
        (
            {
                "LAB_COORDINATOR": "h:1",
                "LAB_NUM_PROCESSES": "two",
                "LAB_PROCESS_ID": "0",
            },
            "LAB_NUM_PROCESSES='two' is not an integer",
        ),
        (
            {"LAB_COORDINATOR": "h:1", "LAB_NUM_PROCESSES": "2", "LAB_PROCESS_ID": "2"},
            "LAB_PROCESS_ID=2 must be in [0, 1]",
        ),
        (
            {"LAB_COORDINATOR": "h", "LAB_NUM_PROCESSES": "2", "LAB_PROCESS_ID": "0"},
            "must be host:port",
        ),
        ({"LAB_CLUSTER": "pbs"}, "LAB_CLUSTER='pbs': use one of slurm, ompi"),
    ],
)
def test_the_jobs_variables_are_checked(environ, message):
    with pytest.raises(
        ProcessesError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        requested(environ)


@pytest.mark.parametrize(
    "coordinator, here",
    [
        ("127.0.0.1:61440", True),  # experiments.launch's
        ("localhost:1234", True),
        ("[::1]:1234", True),
        ("node07:1234", False),
        ("10.0.0.5:1234", False),
    ],
)
def test_a_coordinator_on_the_loopback_has_every_process_here(coordinator, here):
    assert on_this_machine(coordinator) is here


def test_no_variables_is_one_process_and_a_cluster_is_read_by_jax():
    assert requested({}) is None
    job = requested({"LAB_CLUSTER": "slurm"})
    assert job is not None and job.cluster == "slurm"


def test_only_the_writing_process_deletes_the_tabular_sections(tmp_path):
    """Process 1 of a launched tabular run ends before process 0 has written its
    last section; its `remove` must leave process 0's sections alone (it once
    deleted the directory under process 0's write)."""
    from experiments.exact.tabular_config import TabularConfig
    from experiments.exact.tabular_directory import TabularDirectory
    from marl.files import set_writer

    sections = TabularDirectory(tmp_path, TabularConfig())
    sections.dir.mkdir()
    (sections.dir / "grid.json").write_text("{}")
    set_writer(False)
    try:
        sections.remove()
    finally:
        set_writer(True)
    assert (sections.dir / "grid.json").is_file()
    sections.remove()
    assert not sections.dir.exists()


def test_only_a_cpu_program_of_a_process_other_than_0_is_written_by_the_lab(
    monkeypatch,
):
    """`cache_in_every_process` writes a program JAX would not write only when
    JAX's sole reason is that the process is not 0: a CPU program without host
    callbacks, compiled for at least the cache's least time. A GPU program,
    one with host callbacks, one compiled faster, and process 0's go to JAX's
    own write (a GPU has no lent machine in CI: this is its test). A failed
    write is a warning."""
    import jax
    from jax._src import compilation_cache, compiler, distributed

    from experiments.harness.processes import cache_in_every_process

    theirs, ours = [], []
    monkeypatch.setattr(compiler, "_cache_write", lambda *a: theirs.append(a[0]))
    monkeypatch.setattr(
        compilation_cache,
        "put_executable_and_time",
        lambda key, *a: ours.append(key),
    )
    monkeypatch.setattr(distributed.global_state, "process_id", 1)
    cache_in_every_process()
    cpu, gpu = (type("Backend", (), {"platform": p})() for p in ("cpu", "gpu"))
    least = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    try:
        compiler._cache_write("cpu", 2.0, "m", cpu, None, [])
        compiler._cache_write("gpu", 2.0, "m", gpu, None, [])
        compiler._cache_write("callbacks", 2.0, "m", cpu, None, [object()])
        compiler._cache_write("quick", 0.5, "m", cpu, None, [])
        monkeypatch.setattr(distributed.global_state, "process_id", 0)
        compiler._cache_write("process 0", 2.0, "m", cpu, None, [])
        monkeypatch.setattr(distributed.global_state, "process_id", 1)

        def refused(*args):
            raise OSError("disk full")

        monkeypatch.setattr(compilation_cache, "put_executable_and_time", refused)
        with pytest.warns(UserWarning, match=r"not cached: m \(OSError: disk full\)"):
            compiler._cache_write("full", 2.0, "m", cpu, None, [])
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", least)
    assert ours == ["cpu"]
    assert theirs == ["gpu", "callbacks", "quick", "process 0"]
