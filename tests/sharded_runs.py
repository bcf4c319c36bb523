"""The computations `tests/marl/test_sharding.py` compares, run in a process of
their own.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.sharded_runs \
        OUT [PART ...]

XLA_FLAGS must be set before JAX starts, hence a separate process. Everything runs
on a mesh over every device (4 simulated CPU devices, or 1 when the flag is
absent); the arrays go to OUT (.npz) and a JSON description of where they lie
(device count, shardings, shard counts) to stdout, for the test to check. PARTs:
`tabular`, `tabular:<grid>` (one of TABULAR_GRIDS), `ippo`, `crossplay`; all by
default.

With a job's variables (LAB_COORDINATOR, LAB_NUM_PROCESSES, LAB_PROCESS_ID:
experiments/harness/processes.py) the process first joins `jax.distributed` (gloo
collectives on CPU), so the mesh spans every process's devices; process 0
writes OUT.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

import games
from experiments.harness import processes
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep import play as games_play
from marl.deep.ippo import IPPOConfig, make_ippo_trainer, seed_keys
from marl.deep.networks import Network
from marl.sharding import num_shards, place_grid, runs_mesh
from marl.tabular.exact_pg import ExactPGConfig, make_exact_pg
from marl.trainer import constant_schedules
from marl.trainer import make_trainer as make_tabular_trainer

TABULAR_GAME = "tiny_hanabi_c"
TABULAR = ExactPGConfig(steps=40, learning_rate=0.5)
TABULAR_GRIDS = {"seeds": (8, 2), "padded": (3, 2), "sweep": (6, 2)}
"""name: (seeds, taus); on 4 devices they split the seeds 4 ways, pad 3 seeds
to 4, and split 2 taus x 3 seeds... as 2 x 2 devices with no padding."""

IPPO = IPPOConfig(
    num_envs=4,
    num_steps=4,
    total_timesteps=4 * 4 * 2,
    update_epochs=1,
    num_minibatches=1,
    network="mlp",
    hidden_sizes=(8,),
)
IPPO_SEEDS, IPPO_COEFS = 2, (0.01, 0.1)
"""2 seeds x 2 coefficients: on 4 devices a 2 x 2 split, nothing padded."""

CROSSPLAY_GAME = hanabi.make_params("Hanabi-Very-Small", 2)
CROSSPLAY_GAMES = 48


def where(x: jax.Array | np.ndarray) -> dict[str, Any]:
    """Where an array lies: its devices and how many distinct pieces."""
    x = jnp.asarray(x)
    return {
        "devices": len(x.sharding.device_set),
        "addressable_shards": len(x.addressable_shards),
        "pieces": num_shards(x),
        "spec": str(getattr(x.sharding, "spec", None)),
    }


def fetch(x: jax.Array) -> np.ndarray:
    """The whole array on this host (gathered from every process if need be)."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.is_fully_addressable:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def as_numpy(tree: Any) -> list[np.ndarray]:
    return [fetch(x) for x in jax.tree.leaves(tree)]


def to_host(tree: Any) -> Any:
    """Every leaf as a host array, PRNG keys rebuilt from their data, as
    `marl.deep.checkpoint.load_checkpoint` returns a state."""

    def one(x: jax.Array) -> Any:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(fetch(x), impl=jax.random.key_impl(x))
        return fetch(x)

    return jax.tree.map(one, tree)


def tabular(
    arrays: dict[str, np.ndarray], info: dict[str, Any], grids: list[str]
) -> None:
    """The general exact learner on a Tiny Hanabi game, in two chunks; the state
    between them also goes to the host and back (as a checkpoint would)."""
    game = games.make(TABULAR_GAME)
    trainer = make_tabular_trainer(make_exact_pg(game, TABULAR))
    for name in grids:
        seeds, num_taus = TABULAR_GRIDS[name]
        keys = jax.random.split(jax.random.key(1), seeds)
        taus = jnp.linspace(0.0, 0.5, num_taus)
        schedules = constant_schedules(taus, TABULAR.steps)
        half = TABULAR.steps // 2
        states = trainer.init(keys, num_taus)
        states, _ = trainer.run(states, schedules[:, :half])
        info[f"tabular_{name}_after_first_chunk"] = where(states.grad_norm)
        reloaded = place_grid(to_host(states), runs_mesh())
        info[f"tabular_{name}_reloaded"] = where(reloaded.logits[0])
        states, _ = trainer.run(states, schedules[:, half:])
        reloaded, _ = trainer.run(reloaded, schedules[:, half:])
        info[f"tabular_{name}"] = where(states.logits[0])
        for k, leaf in enumerate(as_numpy((states.logits, states.grad_norm))):
            arrays[f"tabular_{name}_{k}"] = leaf
        info[f"tabular_{name}_reload_exact"] = all(
            np.array_equal(a, b)
            for a, b in zip(as_numpy(states), as_numpy(reloaded), strict=True)
        )


def ippo(arrays: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Two IPPO updates in two chunks, every leaf of the state and metrics."""
    params = hanabi.make_params("Hanabi-Very-Small", 2)
    trainer = make_ippo_trainer(IPPO, environment(params))
    coefs = jnp.asarray(IPPO_COEFS, jnp.float32)
    states = trainer.init(seed_keys(0, IPPO_SEEDS), len(IPPO_COEFS))
    states, _ = trainer.run(states, constant_schedules(coefs, 1))
    states, metrics = trainer.run(states, constant_schedules(coefs, 1))
    info["ippo_params"] = where(jax.tree.leaves(states.params)[0])
    info["ippo_metrics"] = where(metrics.entropy)
    for k, leaf in enumerate(as_numpy((states, metrics))):
        arrays[f"ippo_{k}"] = leaf


def constant_policy(num_players: int) -> Network:
    """Per-seat agents whose logits are their parameters, whatever they see."""

    def step(seat_params: Any, carry: Any, obs: Any, actors: Any, first: Any) -> Any:
        return carry, seat_params["logits"][actors], jnp.zeros(actors.shape)

    def unused(*args: Any) -> Any:
        raise NotImplementedError

    return Network(
        init=unused,
        initial_carry=lambda n: jnp.zeros((n, num_players, 0)),
        step=step,
        evaluate=unused,
    )


def crossplay(arrays: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Every ordered pair of 3 agents (9 pairs), sampled play. The agents mix
    discards, plays and hints in different proportions, whatever they see, so
    the cells differ and about one game in ten scores."""
    params = CROSSPLAY_GAME
    hand = params.hand_size
    logits = np.zeros((3, params.num_actions), np.float32)  # discard, play, hint
    for agent, (discard, play, hint) in enumerate([(2, 0, 2), (3, 1, 1), (1, 1, 3)]):
        logits[agent] = hint
        logits[agent, :hand] = discard
        logits[agent, hand : 2 * hand] = play
    scores_of = jax.jit(
        lambda agents, key: (
            games_play.crossplay_scores(
                constant_policy(params.num_players),
                agents,
                environment(params),
                per_seat=False,
                key=key,
                num_games=CROSSPLAY_GAMES,
                greedy=False,
            ).score
        )
    )
    agents, key = {"logits": jnp.asarray(logits)}, jax.random.key(3)
    scores = scores_of(agents, key)
    compiled = scores_of.lower(agents, key).compile()
    info["crossplay_partitions"] = compiled.as_text().count(
        f"num_partitions={len(jax.devices())}"
    )
    info["crossplay"] = where(scores)
    arrays["crossplay"] = fetch(scores)


def main(out: str, parts: list[str]) -> None:
    processes.join()
    info: dict[str, Any] = {
        "devices": len(jax.devices()),
        "local_devices": len(jax.local_devices()),
        "processes": jax.process_count(),
        "mesh": dict(runs_mesh().shape),
    }
    arrays: dict[str, np.ndarray] = {}
    grids = [p.split(":")[1] for p in parts if p.startswith("tabular:")]
    if "tabular" in parts:
        grids = list(TABULAR_GRIDS)
    if grids:
        tabular(arrays, info, grids)
    if "ippo" in parts:
        ippo(arrays, info)
    if "crossplay" in parts:
        crossplay(arrays, info)
    if jax.process_index() == 0:
        np.savez(out, **arrays)
        print(json.dumps(info))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or ["tabular", "ippo", "crossplay"])
