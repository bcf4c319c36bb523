"""Checkpoints: a resumed run ends bit-identical to an uninterrupted one, and bad
checkpoints are refused with one line."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.deep.ippo_runs import hashed_env
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep.checkpoint import (
    MANIFEST,
    CheckpointError,
    checkpoint_path,
    config_hash,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from marl.deep.ippo import IPPOConfig, make_ippo_trainer, seed_keys
from marl.trainer import constant_schedules

# A recurrent network with one set of parameters per seat: the checkpoint must
# carry the parameters, Adam's state, the games, every seat's GRU state, the
# PRNG key and the update counter.
TINY_GRU = IPPOConfig(
    num_envs=4,
    num_steps=6,
    total_timesteps=4 * 6 * 4,
    update_epochs=2,
    num_minibatches=2,
    network="gru",
    hidden_sizes=(16,),
    gru_size=8,
    share_parameters=False,
    entropy_accounting="all_agents",
)


def leaves_as_numpy(tree):
    return [
        np.asarray(jax.random.key_data(x))
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
        else np.asarray(x)
        for x in jax.tree.leaves(tree)
    ]


@pytest.mark.slow
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run_bitwise(tmp_path):
    params = hanabi.make_params("Hanabi-Very-Small", 2)
    trainer = make_ippo_trainer(TINY_GRU, environment(params))
    keys = seed_keys(0, 2)
    coefs = jnp.asarray([0.01, 0.1])
    start = trainer.init(keys, 2)

    uninterrupted = start
    for _ in range(4):
        uninterrupted, _ = trainer.run(uninterrupted, constant_schedules(coefs, 1))

    interrupted = start
    for _ in range(2):
        interrupted, _ = trainer.run(interrupted, constant_schedules(coefs, 1))
    digest = config_hash(TINY_GRU)
    path = save_checkpoint(
        checkpoint_path(tmp_path, 2), interrupted, step=2, config_hash=digest
    )
    del interrupted
    template = jax.eval_shape(trainer.init, keys, 2)
    resumed, manifest = load_checkpoint(path, template, config_hash=digest, step=2)
    assert manifest["step"] == 2
    for _ in range(2):
        resumed, _ = trainer.run(resumed, constant_schedules(coefs, 1))

    assert np.all(np.asarray(resumed.update) == 4)
    assert np.any(np.asarray(resumed.rollout.carry) != 0)  # GRU memories carried
    for got, want in zip(
        leaves_as_numpy(resumed), leaves_as_numpy(uninterrupted), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(
        jax.tree.leaves(resumed.params),
        jax.tree.leaves(uninterrupted.params),
        strict=True,
    ):
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
    # ... and training did move the parameters.
    moved = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), resumed.params, start.params
    )
    assert all(jax.tree.leaves(moved))


def small_tree():
    return {
        "w": jnp.arange(12.0).reshape(3, 4),
        "n": jnp.asarray(7, jnp.int32),
        "key": jax.random.split(jax.random.key(3), 2),
    }


def test_checkpoint_roundtrip_keeps_values_dtypes_and_keys(tmp_path):
    tree = small_tree()
    path = save_checkpoint(tmp_path / "a.npz", tree, step=5, config_hash="h")
    restored, manifest = load_checkpoint(path, tree, config_hash="h")
    assert manifest["step"] == 5
    np.testing.assert_array_equal(restored["w"], tree["w"])
    assert restored["n"].dtype == jnp.int32
    np.testing.assert_array_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(tree["key"])
    )
    # The restored key continues the same random stream.
    np.testing.assert_array_equal(
        jax.random.normal(restored["key"][0], (3,)),
        jax.random.normal(tree["key"][0], (3,)),
    )
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed


def test_checkpoint_arrays_carry_their_names_and_old_files_still_load(tmp_path):
    """Each array is stored under its path in the tree; a file of format v1
    (arrays named leaf_00000, ...) loads as before."""
    tree = {"params": {"actor": {"kernel": jnp.ones((2, 3))}}, "step": jnp.int32(4)}
    path = save_checkpoint(tmp_path / "named.npz", tree, step=4, config_hash="h")
    with np.load(path) as npz:
        assert sorted(npz.files) == ["__manifest__", "params/actor/kernel", "step"]
    assert "params/actor/kernel is float32[2, 3] in the file" in refused(
        path, {**tree, "params": {"actor": {"kernel": jnp.ones((2, 4))}}}
    )
    with np.load(path) as npz:  # the manifest as stored, to write a v1 file
        manifest = json.loads(bytes(npz[MANIFEST]).decode())
    arrays = [np.ones((2, 3), np.float32), np.asarray(4, np.int32)]
    old = {
        **manifest,
        "format": "entropy-zsc-lab/checkpoint/v1",
        "leaves": [
            {k: v for k, v in spec.items() if k != "name"}
            for spec in manifest["leaves"]
        ],
    }
    v1 = tmp_path / "v1.npz"
    np.savez(
        v1,
        leaf_00000=arrays[0],
        leaf_00001=arrays[1],
        __manifest__=np.frombuffer(json.dumps(old).encode(), np.uint8),
    )
    restored, _ = load_checkpoint(v1, tree, config_hash="h")
    np.testing.assert_array_equal(restored["params"]["actor"]["kernel"], arrays[0])


def refused(path, template, digest="h", **kwargs) -> str:
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, template, config_hash=digest, **kwargs)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


def test_corrupt_truncated_or_mismatched_checkpoints_are_refused(tmp_path):
    tree = small_tree()
    good = save_checkpoint(tmp_path / "good.npz", tree, step=5, config_hash="h")
    data = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated" in refused(truncated, tree)

    corrupt = tmp_path / "corrupt.npz"
    flipped = bytearray(data)
    offset = data.index(np.asarray(tree["w"]).tobytes()) + 5  # inside leaf "w"
    flipped[offset] ^= 0xFF
    corrupt.write_bytes(bytes(flipped))
    assert "corrupt" in refused(corrupt, tree)

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a checkpoint at all")
    assert "corrupt or truncated" in refused(garbage, tree)

    assert "does not exist" in refused(tmp_path / "missing.npz", tree)
    assert "different configuration" in refused(good, tree, digest="other")
    assert "at step 5, expected 6" in refused(good, tree, step=6)

    wider = {**tree, "w": jnp.zeros((3, 5))}
    assert "float32[3, 4] in the file, float32[3, 5] here" in refused(good, wider)
    retyped = {**tree, "n": jnp.asarray(7.0)}
    assert "does not match" in refused(good, retyped)
    restructured = {"w": tree["w"], "n": tree["n"]}
    assert "different state structure" in refused(good, restructured)


def test_checkpoints_are_listed_and_pruned_by_step(tmp_path):
    for step in (10, 2, 30):
        save_checkpoint(
            checkpoint_path(tmp_path, step), small_tree(), step=step, config_hash="h"
        )
    assert list_checkpoints(tmp_path) == [2, 10, 30]
    prune_checkpoints(tmp_path, keep=2)
    assert list_checkpoints(tmp_path) == [10, 30]
    assert list_checkpoints(tmp_path / "absent") == []


def test_pruning_keeps_the_milestones_and_the_newest(tmp_path):
    for step in range(10, 110, 10):
        save_checkpoint(
            checkpoint_path(tmp_path, step), small_tree(), step=step, config_hash="h"
        )
    prune_checkpoints(tmp_path, keep=2, keep_every=30)
    assert list_checkpoints(tmp_path) == [30, 60, 90, 100]


def test_hanabi_sizes_left_null_keep_the_training_hash_of_older_runs():
    """A preset run whose sizes are null (conf/env/hanabi.yaml) hashes as runs
    written before the sizes existed, so they resume; a size set over the preset
    is another game, another hash."""
    old = {"name": "hanabi", "preset": "Hanabi-Small", "num_players": 2}
    sizes = dict.fromkeys(("colors", "ranks", "hand_size", "hints", "lives"))
    assert hashed_env({**old, **sizes}) == hashed_env(old)
    assert hashed_env(old) == {"preset": "Hanabi-Small", "num_players": 2}
    sized = hashed_env({**old, **sizes, "colors": 3})
    assert sized != hashed_env(old) and sized["env"]["colors"] == 3
    assert "ranks" not in sized["env"]
