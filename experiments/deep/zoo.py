"""Trained agents kept with the code, to watch and pair within a minute of
setup: a zoo is an IPPO run directory stripped to its agents' network
parameters, stored in float16.

    zoo/hanabi_3c3r/
      config.yaml    the run's config (the game, the network, the coefficients)
      params.npz     a checkpoint (`marl.deep.checkpoint`) of the parameters
                     only, leaves float16[E, S, ...], at the run's step, under
                     the run's training hash

Every reader of runs reads a zoo as it reads the run it came from
(`experiments.deep.agents.find_runs` and `load_run`: cross-play,
`experiments.deep.players.load`, replays), at its one step, the parameters
cast back to float32. Float16 keeps about 3 decimal digits of each weight: an
agent's policy moves by about 1e-3 in probability, so its games are not bit for
bit the run's (cross-play scores agree within their errors; tested).
`python -m experiments.zoo` writes one from a run.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.deep.ippo_runs import (
    CONFIG_FILE,
    IPPORunConfig,
    trainer_of,
    write_config,
)
from marl.deep.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from marl.deep.networks import Params

PARAMS_FILE = "params.npz"
"""A zoo's parameters, beside its config.yaml."""

STORED = np.float16
"""The parameters' dtype in a zoo."""


class ZooError(ValueError):
    """A zoo that cannot be written or read; the one-line message says why."""


def is_zoo(path: pathlib.Path) -> bool:
    """Whether `path` is a zoo (config.yaml beside params.npz)."""
    return (path / CONFIG_FILE).is_file() and (path / PARAMS_FILE).is_file()


def _template(config: IPPORunConfig) -> Params:
    """The shapes of a run's parameters, leaves [E, S, ...], in `STORED`."""
    keys = jax.random.split(jax.random.key(0), config.seeds)
    state = jax.eval_shape(trainer_of(config).init, keys, len(config.ent_coefs))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, STORED), state.params)


def write_zoo(
    out: pathlib.Path,
    config: IPPORunConfig,
    params: Params,
    step: int,
    source: dict[str, Any],
) -> int:
    """Writes the run `config`'s parameters (leaves float32[E, S, ...], at
    update `step`) as a zoo in `out`: its config.yaml, then params.npz in
    float16; `source` (JSON) says where they came from. Returns params.npz's
    size in bytes. A weight beyond float16's range (65504) is refused, not
    stored as infinity."""
    stored = jax.tree.map(lambda x: np.asarray(x).astype(STORED), params)
    for name, (leaf, half) in enumerate(
        zip(jax.tree.leaves(params), jax.tree.leaves(stored), strict=True)
    ):
        if not np.isfinite(half).all() and np.isfinite(np.asarray(leaf)).all():
            raise ZooError(f"parameter array {name} overflows float16")
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config)
    path = save_checkpoint(
        out / PARAMS_FILE,
        stored,
        step=step,
        config_hash=config.training_hash(),
        metadata={"zoo": source, "dtype": np.dtype(STORED).name},
    )
    return path.stat().st_size


def read_zoo(
    path: pathlib.Path, config: IPPORunConfig, step: int | None
) -> tuple[Params, int]:
    """A zoo's parameters, leaves float32[E, S, ...], and the update they are
    at; `step`, when given, must be that update. A wrong, edited or corrupt
    zoo is a one-line ZooError."""
    try:
        stored, manifest = load_checkpoint(
            path / PARAMS_FILE, _template(config), config_hash=config.training_hash()
        )
    except CheckpointError as error:
        raise ZooError(f"zoo {path}: {error}") from None
    kept = int(manifest["step"])
    if step is not None and step != kept:
        raise ZooError(f"zoo {path} holds update {kept} only, not {step}")
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), stored), kept
