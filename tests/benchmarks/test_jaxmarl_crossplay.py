"""benchmarks/jaxmarl_crossplay.py: JaxMARL's feed-forward Hanabi network,
written here from its published layer list (a torso of 512, then per head 512
and the output; `baselines/IPPO/ippo_ff_hanabi.py`), carried into the lab's
`shared_mlp` by `to_ours` plays the same policy; the zoo's config composes; and,
where a JaxMARL work tree and distrax are given, a tiny run goes end to end."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import jaxmarl_crossplay as jx
from experiments.deep.ippo_runs import IPPORunConfig
from experiments.deep.players import load
from experiments.deep.zoo import write_zoo
from experiments.harness.compose import compose_config


def _ours_config() -> IPPORunConfig:
    """The run config of our side of the benchmark (one seed at 0.01)."""
    return compose_config("ippo", jx.zoo_overrides(_yaml(), [0.01], 1), IPPORunConfig)


class TheirShape(nn.Module):
    """The layer order of their `ActorCritic`: Dense_0 torso, Dense_1 actor
    layer, Dense_2 logits (moves + their no-op), Dense_3 critic layer, Dense_4
    value."""

    moves: int
    width: int = 512

    @nn.compact
    def __call__(self, obs):
        torso = nn.relu(nn.Dense(self.width)(obs))
        actor = nn.relu(nn.Dense(self.width)(torso))
        logits = nn.Dense(self.moves)(actor)
        critic = nn.relu(nn.Dense(self.width)(torso))
        return logits, nn.Dense(1)(critic)[..., 0]


def test_their_parameters_play_the_same_policy_through_a_zoo(tmp_path):
    """Their network's parameters through `to_ours` and a zoo, loaded as a
    player: its policy and value are theirs (no-op masked, as their script
    masks it for the seat that moves), on the v0_belief observations of
    several deals."""
    config = _ours_config()
    env = config.scoring_environment
    theirs = TheirShape(env.num_actions + 1)
    params = theirs.init(jax.random.key(0), jnp.zeros((1, env.obs_size)))
    # weights larger than the init's and rounded as the zoo stores them, so
    # that every layer (and the dropped no-op column) matters and both sides
    # compute with the same numbers
    params = jax.tree.map(
        lambda x: (
            (jax.random.normal(jax.random.key(x.size), x.shape) * 0.2)
            .astype(jnp.float16)
            .astype(jnp.float32)
        ),
        params,
    )
    ours = jx.to_ours(jax.device_get(params), env.num_actions)
    write_zoo(tmp_path, config, jax.tree.map(lambda x: x[None, None], ours), 1, {})
    (player,) = load(tmp_path)
    assert player.env.obs_size == env.obs_size == 197  # v0_belief at 3c x 3r
    for deal in range(6):
        state = player.env.reset(jax.random.key(deal))
        obs, legal = player.env.observe(state)[0], player.env.legal_actions(state)[0]
        logits, value = theirs.apply(params, obs.astype(jnp.float32))
        masked = jnp.where(jnp.append(legal, False), logits, -1e10)
        move = player.act(obs, legal, key=jax.random.key(9), first=True)
        np.testing.assert_allclose(
            move.probs, jax.nn.softmax(masked)[:-1], rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(move.value, value, rtol=1e-4, atol=1e-4)


def _yaml():
    return {
        "LR": 5e-4,
        "NUM_ENVS": 256,
        "NUM_STEPS": 32,
        "TOTAL_TIMESTEPS": 9830400,
        "UPDATE_EPOCHS": 4,
        "NUM_MINIBATCHES": 4,
        "GAMMA": 0.99,
        "GAE_LAMBDA": 0.95,
        "CLIP_EPS": 0.2,
        "VF_COEF": 0.5,
        "MAX_GRAD_NORM": 0.5,
        "ANNEAL_LR": False,
    }


REPO, DEPS = os.environ.get("JAXMARL_REPO_TREE"), os.environ.get("JAXMARL_DEPS")


@pytest.mark.skipif(
    not (REPO and DEPS),
    reason="set JAXMARL_REPO_TREE to a JaxMARL work tree and JAXMARL_DEPS to a "
    "folder with distrax (benchmarks/ippo_throughput.py says how) to train their "
    "IPPO tiny (not on CI: nothing fetched is committed)",
)
def test_a_tiny_run_trains_theirs_and_cross_plays_them_with_ours(tmp_path, capfd):
    argv = [
        "--jaxmarl-repo",
        str(REPO),
        "--jaxmarl-deps",
        str(DEPS),
        "--out",
        str(tmp_path),
        "--seeds",
        "2",
        "--num-envs",
        "16",
        "--num-steps",
        "16",
        "--total-timesteps",
        "512",
        "--crossplay",
        "--games",
        "8",
        "--convention-games",
        "4",
    ]
    assert jx.main(argv) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| 0.01 | greedy |" in summary and "| 0.1 | sampled |" in summary
    # their script's per-update log, heard through its wandb stand-in
    assert (
        "theirs, ENT_COEF 0.1, seed 1: update 2 of 2, return" in capfd.readouterr().out
    )
    # again, as after a stop: ours and theirs are not trained a second time
    assert jx.main(argv) == 0
    out = capfd.readouterr().out
    assert "theirs: trained before" in out and "ENT_COEF" not in out
    assert (tmp_path / "summary.md").read_text() == summary


def test_a_rerun_with_the_same_settings_reuses_their_trained_seeds(tmp_path):
    """OUT/theirs.json, written after the zoo, names seeds trained with these
    settings; other settings, a missing zoo or a torn record train again."""
    argv = ["--jaxmarl-repo", "x", "--out", str(tmp_path), "--seeds", "2"]
    args = jx.parse(argv)
    assert jx.trained_before(args) is None
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "config.yaml").write_text("{}\n")
    (tmp_path / "theirs.json").write_text(json.dumps(jx.their_settings(args)))
    assert jx.trained_before(args) == tmp_path / "theirs"
    assert jx.trained_before(jx.parse([*argv, "--seed", "1"])) is None
    (tmp_path / "theirs.json").write_text('{"seeds": ')
    assert jx.trained_before(args) is None


class _TheirState(NamedTuple):
    params: Any


def _stand_in_peer(width: int = 512) -> SimpleNamespace:
    """A peer whose `make_train(config)` returns, as their script's training
    does, `{"runner_state": ((state, ...), metrics)}`; its parameters (their
    layer names, `width` wide) are drawn from the key and the coefficient."""
    config = _ours_config()
    env = config.scoring_environment
    shapes = {
        "Dense_0": (env.obs_size, width),
        "Dense_1": (width, width),
        "Dense_2": (width, env.num_actions + 1),
        "Dense_3": (width, width),
        "Dense_4": (width, 1),
    }

    def make_train(config):
        def train(key):
            key = jax.random.fold_in(key, int(config["ENT_COEF"] * 1000))
            params = {
                name: {
                    "kernel": jax.random.normal(jax.random.fold_in(key, k), shape),
                    "bias": jnp.zeros(shape[1]),
                }
                for k, (name, shape) in enumerate(shapes.items())
            }
            return {"runner_state": ((_TheirState({"params": params}), key), 0)}

        return train

    return SimpleNamespace(
        module=SimpleNamespace(make_train=make_train), config=_yaml()
    )


def test_their_seeds_are_kept_as_they_finish_and_not_trained_again(tmp_path, capsys):
    """Each seed of theirs lands in OUT/theirs_seeds when trained; a rerun (as
    after a stop) trains only the seeds not there, and the zoo it writes holds
    the same parameters; a rerun with other settings into the same OUT stops
    with one line naming the folder."""
    peer = _stand_in_peer()
    argv = ["--jaxmarl-repo", "x", "--out", str(tmp_path), "--seeds", "3"]
    args = jx.parse([*argv, "--ent-coefs", "0.01"])
    jx.train_all_theirs(args, peer)
    out = capsys.readouterr().out
    assert out.count("theirs, ENT_COEF 0.01: seeds [") == 3
    first = load(tmp_path / "theirs")
    # a second coefficient, and one seed of the first lost: only those train
    (tmp_path / "theirs.json").unlink()
    jx.seed_file(args, 0.01, 1).unlink()
    both = jx.parse([*argv, "--ent-coefs", "0.01", "0.1"])
    jx.train_all_theirs(both, peer)
    out = capsys.readouterr().out
    assert "ENT_COEF 0.01: seeds [1] of 3" in out
    assert out.count("ENT_COEF 0.01") == 1 and out.count("ENT_COEF 0.1:") == 3
    again = load(tmp_path / "theirs")
    assert len(first) == 3 and len(again) == 6
    for a, b in zip(first, again[:3], strict=True):
        jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
    assert not np.array_equal(
        again[0].params["params"]["Dense_0"]["kernel"],
        again[3].params["params"]["Dense_0"]["kernel"],
    )
    # the per-seed files' settings are pinned: other settings need another OUT
    (tmp_path / "theirs.json").unlink()
    with pytest.raises(SystemExit, match="theirs_seeds holds seeds trained with other"):
        jx.train_all_theirs(jx.parse([*argv, "--num-envs", "128"]), peer)


def test_their_seeds_side_by_side_are_the_seeds_one_by_one(tmp_path, capsys):
    """`--vmap` (a GPU's path) trains the missing seeds of a coefficient in one
    batched call, and keeps each seed as the one-by-one path (CPU's) keeps it:
    the same parameters, from the same keys."""
    peer = _stand_in_peer()
    runs = {}
    for name, extra in (("one_by_one", []), ("side_by_side", ["--vmap"])):
        out = tmp_path / name
        argv = ["--jaxmarl-repo", "x", "--out", str(out), "--seeds", "3", *extra]
        jx.train_all_theirs(jx.parse([*argv, "--ent-coefs", "0.1"]), peer)
        runs[name] = load(out / "theirs")
    printed = capsys.readouterr().out
    assert printed.count("seeds [") == 3 + 1
    assert "ENT_COEF 0.1: seeds [0, 1, 2] of 3" in printed
    for a, b in zip(runs["one_by_one"], runs["side_by_side"], strict=True):
        jax.tree.map(np.testing.assert_array_equal, a.params, b.params)


def test_their_training_says_how_far_each_seed_is(tmp_path, capsys):
    """Their script calls `wandb.log` once an update, from an io_callback; one
    by one, each seed prints a line every twentieth of its updates and at its
    end (a seed of theirs is up to half an hour on CPU, one compiled call);
    side by side, where the callback runs once a seed, nothing."""
    peer = _stand_in_peer()
    peer.module.wandb = SimpleNamespace(log=lambda *_, **__: None)
    trained = peer.module.make_train

    def make_train(config):
        updates = config["TOTAL_TIMESTEPS"] // config["NUM_ENVS"] // config["NUM_STEPS"]
        inner = trained(config)

        def train(key):
            def update(n, _):
                returns = n.astype(jnp.float32) / updates
                jax.experimental.io_callback(
                    lambda r: peer.module.wandb.log({"returns": r}), None, returns
                )
                return n + 1, None

            jax.lax.scan(update, jnp.int32(1), None, updates)
            return inner(key)

        return train

    peer.module.make_train = make_train
    small = ["--num-envs", "16", "--num-steps", "16", "--total-timesteps", "10240"]
    argv = ["--jaxmarl-repo", "x", "--seeds", "2", "--ent-coefs", "0.1", *small]
    jx.train_all_theirs(jx.parse([*argv, "--out", str(tmp_path / "a")]), peer)
    lines = capsys.readouterr().out.splitlines()
    progress = [line for line in lines if ": update " in line]
    assert len(progress) == 2 * 20  # 40 updates a seed, a line every 2
    assert progress[0] == "theirs, ENT_COEF 0.1, seed 0: update 2 of 40, return 0.050"
    assert progress[-1] == "theirs, ENT_COEF 0.1, seed 1: update 40 of 40, return 1.000"
    jx.train_all_theirs(jx.parse([*argv, "--out", str(tmp_path / "b"), "--vmap"]), peer)
    assert ": update " not in capsys.readouterr().out
