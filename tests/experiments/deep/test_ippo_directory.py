"""experiments.deep.ippo_directory.IPPODirectory alone, outside hydra (where
`Job.accept` records nothing): a fresh start, metrics lines, checkpoints when due,
the last finished chunk saved when a stop interrupts, a resume from it with the
metrics cut back to it, and the two refusals before anything changes."""

from __future__ import annotations

import dataclasses
import json

import jax
import pytest

from experiments.deep.ippo_directory import IPPODirectory, append_line
from experiments.deep.ippo_runs import IPPORunConfig, trainer_of
from marl.deep.checkpoint import list_checkpoints
from marl.deep.ippo import IPPOConfig, seed_keys
from marl.fields import ConfigError
from marl.trainer import constant_schedules


def tiny(resume: bool | str = False) -> IPPORunConfig:
    ippo = IPPOConfig(
        num_envs=4,
        num_steps=4,
        total_timesteps=4 * 4 * 6,  # 6 updates
        update_epochs=1,
        num_minibatches=1,
        hidden_sizes=(8,),
    )
    env = {"name": "hanabi", "preset": "Hanabi-Very-Small", "num_players": 2}
    return IPPORunConfig(
        env=env,
        seeds=2,
        ent_coefs=[0.01],
        ippo=ippo,
        log_every=2,
        checkpoint_every=4,
        resume=resume,
    )


def test_runs_that_differ_in_their_root_seed_share_a_trainer():
    config = tiny()
    other = dataclasses.replace(config, ippo=dataclasses.replace(config.ippo, seed=7))
    assert trainer_of(other) is trainer_of(config)
    wider = dataclasses.replace(
        config, ippo=dataclasses.replace(config.ippo, hidden_sizes=(16,))
    )
    assert trainer_of(wider) is not trainer_of(config)


def test_a_run_directory_starts_records_saves_and_resumes_its_last_chunk(tmp_path):
    config = tiny()
    trainer = trainer_of(config)
    keys = seed_keys(config.ippo.seed, config.seeds)
    directory = IPPODirectory(tmp_path, config)
    state, done = directory.start(trainer, keys)
    assert done == 0 and directory.total == 6 and directory.saved == 0
    assert (tmp_path / "config.yaml").is_file()
    assert [directory.checkpoint_due(u) for u in (2, 4, 6)] == [False, True, True]
    coefs = jax.numpy.asarray(config.ent_coefs)
    with pytest.raises(KeyboardInterrupt), directory.kept_on_interrupt():
        for end in (2, 4):
            state, _ = trainer.run(state, constant_schedules(coefs, 2))
            directory.record({"update": end}, state, end)
            if directory.checkpoint_due(end):
                directory.save(state, end)
        raise KeyboardInterrupt  # a stop after update 4: saved already
    assert directory.saved == 4 and directory.last == {"update": 4}
    assert list_checkpoints(tmp_path / "checkpoints" / "1") == [4]
    # A line no checkpoint holds (the process killed before its save).
    append_line(tmp_path / "metrics.jsonl", {"update": 6})

    # Resumed: from update 4, the metrics line of update 6 (never saved) cut.
    again = IPPODirectory(tmp_path, tiny(resume=True))
    resumed, start = again.start(trainer, keys)
    assert start == again.saved == 4 and again.last == {"update": 4}
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["update"] for line in lines] == [2, 4]
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), resumed, state))

    # An interrupt after an unsaved chunk saves that chunk.
    more, _ = trainer.run(resumed, constant_schedules(coefs, 1))
    with pytest.raises(KeyboardInterrupt), again.kept_on_interrupt():
        again.record({"update": 5}, more, 5)
        raise KeyboardInterrupt
    assert again.saved == 5
    assert list_checkpoints(tmp_path / "checkpoints" / "0") == [4, 5]


def test_a_directory_with_checkpoints_or_without_them_is_refused_unchanged(tmp_path):
    config = tiny()
    trainer = trainer_of(config)
    keys = seed_keys(config.ippo.seed, config.seeds)
    with pytest.raises(ConfigError, match=r"resume=true but .* holds no checkpoint"):
        IPPODirectory(tmp_path, tiny(resume=True)).start(trainer, keys)
    assert list(tmp_path.iterdir()) == []
    directory = IPPODirectory(tmp_path, config)
    state, _ = directory.start(trainer, keys)
    directory.save(state, 2)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match="already has checkpoints; pass resume"):
        IPPODirectory(tmp_path, config).start(trainer, keys)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
