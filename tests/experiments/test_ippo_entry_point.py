"""One tiny in-process run of `python -m experiments.ippo` (Hanabi), a stop and resume
that ends where the uninterrupted run ends, a killed run resubmitted with the
same command (resume=auto) and a finished one skipped, and its one-line errors."""

from __future__ import annotations

import io
import json
import pathlib
import sys

import numpy as np
import pytest

from experiments import ippo as entry
from marl.trainer import Trainer

# 6 updates of 8 games x 8 steps, 2 seeds x 2 entropy coefficients; a chunk is
# 2 updates, a checkpoint every 2.
TINY = [
    "seeds=2",
    "ent_coefs=[0.01,0.1]",
    "ippo.num_envs=8",
    "ippo.num_steps=8",
    "ippo.total_timesteps=384",
    "ippo.hidden_sizes=[16]",
    "log_every=2",
    "checkpoint_every=2",
]


def run_hanabi(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["experiments.ippo", *args])
    entry.main()


def run_fails(monkeypatch, *args: str) -> str:
    """Runs the entry point expecting exit status 2; returns its one error line.

    stderr is a private buffer during the call (not pytest's capsys, whose stream
    closes at the end of the test while hydra's log handlers still hold it).
    """
    stderr, previous = io.StringIO(), sys.stderr
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        with pytest.raises(SystemExit) as exit_info:
            run_hanabi(monkeypatch, *args)
    finally:
        monkeypatch.setattr(sys, "stderr", previous)
    assert exit_info.value.code == 2
    errors = [x for x in stderr.getvalue().splitlines() if x.startswith("error: ")]
    assert len(errors) == 1, stderr.getvalue()
    return errors[0]


def assert_run_files(run: pathlib.Path) -> list[dict]:
    """A finished 8-update tiny run's files: config, metrics every 2 updates,
    log lines, the last two checkpoints kept. Returns the metrics records."""
    assert (run / "config.yaml").exists() and (run / ".hydra").is_dir()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["update"] for r in records] == [2, 4, 6, 8]
    # The first line says it compiles, the second what the compilation took.
    log = (run / "ippo.log").read_text()
    assert "compiling the training chunk" in log
    assert "preset hanabi_cpu with 8 of its 14 values overridden (seeds, " in log
    assert "update 2/8" in log and "(with compilation)" in log
    assert "update 4/8" in log and "(the first chunk compiled in ~" in log
    for record in records:
        assert record["steps_per_second"] > 0
        assert np.asarray(record["entropy"]).shape == (2, 2)
    for seed in (0, 1):
        kept = sorted((run / "checkpoints" / str(seed)).iterdir())
        assert [p.name for p in kept] == ["step_000000006.npz", "step_000000008.npz"]
    return records


def assert_same_final_checkpoints(
    want_run: pathlib.Path, got_run: pathlib.Path, step: int = 8
) -> None:
    """Both seeds' checkpoints at `step` hold the same arrays, bit for bit."""
    for seed in (0, 1):
        name = f"checkpoints/{seed}/step_{step:09d}.npz"
        want, got = np.load(want_run / name), np.load(got_run / name)
        leaves = [k for k in want.files if k != "__manifest__"]
        assert len(leaves) > 10
        for key in leaves:
            np.testing.assert_array_equal(got[key], want[key])


def test_hanabi_run_writes_results_metrics_and_checkpoints_and_resumes(
    monkeypatch, tmp_path
):
    # 8 updates (4 chunks), so that a run can be stopped three times.
    tiny = [x for x in TINY if not x.startswith("ippo.total_timesteps")]
    tiny.append("ippo.total_timesteps=512")
    full = tmp_path / "full"
    run_hanabi(monkeypatch, *tiny, f"hydra.run.dir={full}")
    results = json.loads((full / "results.json").read_text())
    assert results["game"] == "Hanabi-Very-Small" and results["num_seeds"] == 2
    assert results["ent_coefs"] == [0.01, 0.1] and results["num_updates"] == 8
    assert np.asarray(results["final_return"]).shape == (2, 2)
    assert len(results["runs"]) == 4
    assert {(r["ent_coef"], r["seed"]) for r in results["runs"]} == {
        (0.01, 0),
        (0.01, 1),
        (0.1, 0),
        (0.1, 1),
    }
    assert results["config"]["ippo"]["num_envs"] == 8
    assert results["metadata"]["versions"]["jax"]
    records = assert_run_files(full)

    # Stopped three times (as a time-limited job is), resumed after each: the
    # same final checkpoints, bit for bit, and the same metrics.
    parted = tmp_path / "parted"
    run_hanabi(monkeypatch, *tiny, "stop_after=2", f"hydra.run.dir={parted}")
    assert not (parted / "results.json").exists()
    message = run_fails(monkeypatch, *tiny, f"hydra.run.dir={parted}")
    assert "already has checkpoints" in message
    for stop in (3, 6):  # the first chunk boundary at or after it: 4, then 6
        run_hanabi(
            monkeypatch,
            *tiny,
            "resume=true",
            f"stop_after={stop}",
            f"hydra.run.dir={parted}",
        )
        assert not (parted / "results.json").exists()
    run_hanabi(monkeypatch, *tiny, "resume=true", f"hydra.run.dir={parted}")
    assert_same_final_checkpoints(full, parted)
    resumed = [json.loads(line) for line in (parted / "metrics.jsonl").open()]
    for a, b in zip(resumed, records, strict=True):
        assert a["return"] == b["return"] and a["entropy"] == b["entropy"]
    resumed_results = json.loads((parted / "results.json").read_text())
    assert resumed_results["final_return"] == results["final_return"]
    # Training time is summed over the four sessions of the resumed run.
    metadata = resumed_results["metadata"]
    assert metadata["training_seconds_all_sessions"] == pytest.approx(
        sum(r["seconds"] for r in resumed), abs=0.01
    )
    assert len(resumed) == 4 and metadata["device"].startswith("cpu: ")

    # A corrupt newest checkpoint (a crash mid-save, a full disk) falls back to
    # the newest intact step, and the run still ends bit for bit where the
    # uninterrupted one does.
    broken = tmp_path / "broken"
    run_hanabi(monkeypatch, *tiny, "stop_after=4", f"hydra.run.dir={broken}")
    newest = broken / "checkpoints" / "1" / "step_000000004.npz"
    newest.write_bytes(newest.read_bytes()[:200])
    run_hanabi(monkeypatch, *tiny, "resume=true", f"hydra.run.dir={broken}")
    assert_same_final_checkpoints(full, broken)

    # resume=true where there is nothing to resume is refused, not a fresh start.
    empty = tmp_path / "empty"
    message = run_fails(monkeypatch, *tiny, "resume=true", f"hydra.run.dir={empty}")
    assert "holds no checkpoint" in message
    assert not (empty / "checkpoints").exists()

    # Resuming with a different configuration is refused.
    message = run_fails(
        monkeypatch,
        *tiny,
        "ippo.lr=0.1",
        "resume=true",
        f"hydra.run.dir={full}",
    )
    assert "different configuration" in message


def interrupting(trainer: Trainer, after_chunks: int) -> Trainer:
    """The trainer, but its chunk number `after_chunks + 1` is interrupted, as
    Ctrl-C or submitit's exit on SLURM's signal would interrupt it."""
    calls = []

    def run(state, schedules):
        calls.append(schedules.shape[1])
        if len(calls) > after_chunks:
            raise KeyboardInterrupt
        return trainer.run(state, schedules)

    return Trainer(trainer.init, run)


def checkpoint_names(run_dir) -> list[list[str]]:
    return [
        sorted(p.name for p in (run_dir / "checkpoints" / str(seed)).iterdir())
        for seed in (0, 1)
    ]


def test_hanabi_auto_resume_after_a_kill_then_skip_when_finished(monkeypatch, tmp_path):
    # One command, submitted until it is done: checkpoints only at the end, so
    # what survives the kill is the checkpoint saved on the way out.
    command = [
        *(x for x in TINY if not x.startswith("checkpoint_every")),
        "checkpoint_every=6",
        "resume=auto",
    ]
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_hanabi(monkeypatch, *command, f"hydra.run.dir={full}")
    records = [json.loads(line) for line in (full / "metrics.jsonl").open()]

    original = entry.trainer_of
    monkeypatch.setattr(entry, "trainer_of", lambda *a: interrupting(original(*a), 2))
    with pytest.raises(SystemExit) as stopped:  # Ctrl-C: one line, status 130
        run_hanabi(monkeypatch, *command, f"hydra.run.dir={killed}")
    assert stopped.value.code == 130
    monkeypatch.setattr(entry, "trainer_of", original)
    assert not (killed / "results.json").exists()
    assert checkpoint_names(killed) == [["step_000000004.npz"]] * 2

    # Resubmitted with another configuration: refused, the directory untouched.
    config_yaml = (killed / "config.yaml").read_bytes()
    message = run_fails(monkeypatch, *command, "ippo.lr=0.1", f"hydra.run.dir={killed}")
    assert "different configuration" in message
    assert (killed / "config.yaml").read_bytes() == config_yaml

    # Resubmitted with the same command: it ends where the uninterrupted run ends.
    run_hanabi(monkeypatch, *command, f"hydra.run.dir={killed}")
    assert_same_final_checkpoints(full, killed, step=6)
    resumed = [json.loads(line) for line in (killed / "metrics.jsonl").open()]
    assert [r["update"] for r in resumed] == [2, 4, 6]
    for a, b in zip(resumed, records, strict=True):
        assert a["return"] == b["return"] and a["entropy"] == b["entropy"]
    results = json.loads((killed / "results.json").read_text())
    assert (
        results["final_return"]
        == json.loads((full / "results.json").read_text())["final_return"]
    )

    # Resubmitted once more: already finished, so nothing trains or is written.
    before = {
        name: ((killed / name).read_bytes(), (killed / name).stat().st_mtime_ns)
        for name in ("results.json", "metrics.jsonl", "config.yaml")
    }
    monkeypatch.setattr(entry, "trainer_of", lambda *a: interrupting(original(*a), 0))
    run_hanabi(monkeypatch, *command, f"hydra.run.dir={killed}")
    monkeypatch.setattr(entry, "trainer_of", original)
    for name, (data, mtime) in before.items():
        assert (killed / name).read_bytes() == data
        assert (killed / name).stat().st_mtime_ns == mtime
    assert (
        checkpoint_names(killed) == [["step_000000004.npz", "step_000000006.npz"]] * 2
    )
    # A finished run of another configuration is refused too.
    message = run_fails(monkeypatch, *command, "seeds=3", f"hydra.run.dir={killed}")
    assert "different configuration" in message


def test_hanabi_bad_input_exits_2_with_one_line(monkeypatch, tmp_path):
    out = tmp_path / "bad"
    cases = {
        "ippo.num_minibatches=3": "ippo.num_minibatches=3",
        "env.num_players=6": "needs 2 to 5 players",
        "env.preset=Hanabi-Huge": "unknown Hanabi preset",
        "env.colors=6": "env: Hanabi colors=6 must be 1 to 5",
        "env.hand_size=8": "2 hands of 8 cards need more than the deck's 10",
        "checkpoint_every=3": "checkpoint_every=3",
        "resume=maybe": "resume='maybe'",
    }
    for override, expected in cases.items():
        message = run_fails(monkeypatch, *TINY, override, f"hydra.run.dir={out}")
        assert expected in message
    assert not (out / "results.json").exists()


def test_training_that_turns_non_finite_stops_in_one_line(monkeypatch, tmp_path):
    """A learning rate of 1e30 is a finite number, but it drives the networks to
    NaN within the first chunk: the run stops with one line, writes no results
    and keeps no checkpoint of the broken chunk."""
    out = tmp_path / "diverged"
    message = run_fails(monkeypatch, *TINY, "ippo.lr=1e30", f"hydra.run.dir={out}")
    assert "training turned non-finite in updates 1-2" in message
    assert "the last checkpoint is update 0" in message
    assert not (out / "results.json").exists()
    assert not list((out / "checkpoints").rglob("*.npz"))


def test_chunk_ends_continue_on_the_same_boundaries():
    assert entry.chunk_ends(0, 7, 3) == [3, 6, 7]
    assert entry.chunk_ends(6, 7, 3) == [7]
    assert entry.chunk_ends(7, 7, 3) == []


def test_metrics_lines_that_are_no_records_are_refused_in_one_line(tmp_path):
    from experiments.deep.ippo_directory import read_metrics
    from marl.fields import ConfigError

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"update": 2}\n{"update": 4}\n{"upd')  # a crash cut the last
    assert [r["update"] for r in read_metrics(path)] == [2, 4]
    for line in ("42", '{"update": "4"}', "[1, 2]"):
        path.write_text('{"update": 2}\n' + line + "\n")
        with pytest.raises(ConfigError, match=r"line 2: .* is not a metrics record"):
            read_metrics(path)


def test_init_from_goes_on_from_another_runs_update_with_chosen_coefficients(
    monkeypatch, tmp_path
):
    source = tmp_path / "source"
    run_hanabi(monkeypatch, *TINY, "keep_every=2", f"hydra.run.dir={source}")
    # The two coefficients swapped, from update 2: each row goes on as the
    # source's own row did, bit for bit, to the end (update 6).
    swapped = tmp_path / "swapped"
    run_hanabi(
        monkeypatch,
        *[x for x in TINY if not x.startswith("ent_coefs")],
        "ent_coefs=[0.1,0.01]",
        f"init_from={source}@2",
        f"hydra.run.dir={swapped}",
    )
    records = [json.loads(line) for line in (swapped / "metrics.jsonl").open()]
    assert [r["update"] for r in records] == [4, 6]
    for seed in (0, 1):
        name = f"checkpoints/{seed}/step_000000006.npz"
        want, got = np.load(source / name), np.load(swapped / name)
        leaves = [k for k in want.files if k != "__manifest__"]
        for key in leaves:
            np.testing.assert_array_equal(got[key][::-1], want[key])
    # The switch: the 0.1 agents go on at 0.01 from update 2; their first step
    # from the same state now differs from the source's 0.1 row.
    switched = tmp_path / "switched"
    run_hanabi(
        monkeypatch,
        *[x for x in TINY if not x.startswith("ent_coefs")],
        "ent_coefs=[0.01]",
        "init_coefs=[0.1]",
        f"init_from={source}@2",
        f"hydra.run.dir={switched}",
    )
    results = json.loads((switched / "results.json").read_text())
    assert results["ent_coefs"] == [0.01] and results["num_updates"] == 6
    name = "checkpoints/0/step_000000006.npz"
    got, want = np.load(switched / name), np.load(source / name)
    kernels = [k for k in want.files if k.endswith("kernel")]
    assert any(not np.array_equal(got[k][0], want[k][1]) for k in kernels)
    # What cannot be continued is refused in one line.
    for args, expected in (
        (["ent_coefs=[0.3]", f"init_from={source}"], "no coefficient 0.3"),
        (["ippo.lr=0.1", f"init_from={source}"], "differs in ippo"),
        ([f"init_from={source}@two"], "not an update number"),
        ([f"init_from={source}@3"], "no checkpoint of update 3"),
        ([f"init_from={tmp_path / 'nowhere'}"], "not an IPPO run directory"),
        (["init_coefs=[0.1]"], "init_coefs"),
    ):
        message = run_fails(
            monkeypatch, *TINY, *args, f"hydra.run.dir={tmp_path / 'refused'}"
        )
        assert expected in message, message
