"""Agents trained elsewhere, as `experiments.deep.players.Player`s.

    from experiments.deep.players import load
    agent, = load("model.safetensors")       # a JaxMARL recurrent Hanabi actor

JaxMARL's recurrent MAPPO and IPPO baselines save their actor's parameters
with `safetensors.flax.save_file` under flattened flax names:

    params,Dense_0,{kernel,bias}                 O -> F, ReLU (the torso)
    params,ScannedRNN_0,GRUCell_<k>,{ir,iz,in,hr,hz,hn},...   a GRU of F units
    params,Dense_1,{kernel,bias}                 F -> F, ReLU (the actor's layer)
    params,Dense_2,{kernel,bias}                 F -> A (the logits)

which is the lab's recurrent `marl.deep.networks.ActorCritic` with
`hidden_sizes=(F,)` and `gru_size=F`, layer for layer (the same flax Dense and
GRUCell); the lab's critic head, which the file lacks, is zeros (the agent's
value estimate is 0, as a bot's). A file whose observation and action sizes are
JaxMARL's 2-player Hanabi (658, and 20 moves plus its no-op) plays
`make_env("hanabi", observation="v0_belief")`, the lab's copy of JaxMARL's
encoding (docs/hanabi.md, "v0-belief observations"); the no-op, which only a
seat that does not move may take, is dropped. Anything else is refused in one
line naming what does not fit.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.deep.agents import Agent, CrossPlayError

GATES = ("ir", "iz", "in", "hr", "hz", "hn")
"""flax's GRUCell: input and hidden kernels per gate (hr, hz without a bias)."""


def read_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, or a one-line error naming it."""
    try:
        from safetensors.numpy import load_file
    except ImportError as error:  # pragma: no cover - safetensors ships with flax
        raise CrossPlayError(
            "reading a .safetensors checkpoint needs the safetensors package"
        ) from error
    try:
        return dict(load_file(str(path)))
    except Exception as error:  # the library's errors name no file
        raise CrossPlayError(
            f"{path} is not a readable safetensors file: {error}"
        ) from None


def jaxmarl_actor(tensors: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """The lab's `ActorCritic` parameters (and sizes) of a JaxMARL recurrent
    actor's tensors: {"params": ..., "obs_size", "width", "actions"}."""
    cells = {
        name.split(",")[2] for name in tensors if name.startswith("params,Scanned")
    }
    need = [
        f"params,{layer},{part}"
        for layer in ("Dense_0", "Dense_1", "Dense_2")
        for part in ("kernel", "bias")
    ]
    missing = [name for name in need if name not in tensors]
    if missing or len(cells) != 1:
        raise CrossPlayError(
            f"{source} is not a JaxMARL recurrent actor (Dense_0, one "
            f"ScannedRNN_0 GRUCell, Dense_1, Dense_2): "
            + (f"no {missing[0]}" if missing else f"GRU cells {sorted(cells)}")
        )
    cell = f"params,ScannedRNN_0,{cells.pop()}"
    obs_size, width = tensors["params,Dense_0,kernel"].shape
    shapes = {
        "Dense_1": (width, width),
        **{f"{cell},{gate}": (width, width) for gate in GATES},
    }
    for name, shape in shapes.items():
        key = name if name.startswith("params") else f"params,{name}"
        found = tensors.get(f"{key},kernel")
        if found is None or found.shape != shape:
            raise CrossPlayError(
                f"{source}: {key}'s kernel is "
                f"{None if found is None else found.shape}, not {shape} (the lab's "
                "network has one width for the torso, the GRU and the actor layer)"
            )
    gru = {
        gate: {
            "kernel": tensors[f"{cell},{gate},kernel"],
            **(
                {"bias": tensors[f"{cell},{gate},bias"]}
                if gate not in ("hr", "hz")
                else {}
            ),
        }
        for gate in GATES
    }
    logits = tensors["params,Dense_2,kernel"]

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, np.float32)

    params = {
        "Dense_0": _dense(tensors, "Dense_0"),
        "GRUCell_0": gru,
        "Dense_1": _dense(tensors, "Dense_1"),
        "Dense_2": {"kernel": zeros(width, width), "bias": zeros(width)},
        "Dense_3": _dense(tensors, "Dense_2"),
        "Dense_4": {"kernel": zeros(width, 1), "bias": zeros(1)},
    }
    return {
        "params": {"params": jax.tree.map(jnp.asarray, params)},
        "obs_size": int(obs_size),
        "width": int(width),
        "actions": int(logits.shape[1]),
    }


def _dense(tensors: dict[str, np.ndarray], layer: str) -> dict[str, np.ndarray]:
    return {
        "kernel": tensors[f"params,{layer},kernel"],
        "bias": tensors[f"params,{layer},bias"],
    }


def load_jaxmarl(path: str | pathlib.Path) -> Any:
    """A `Player` of a JaxMARL recurrent Hanabi actor saved as safetensors."""
    from experiments.deep.players import Player
    from games.envs.contract import make_env

    path = pathlib.Path(path)
    if not path.is_file():
        raise CrossPlayError(f"{path} is not a file")
    actor = jaxmarl_actor(read_safetensors(path), str(path))
    env = make_env("hanabi", preset="Hanabi-Full", observation="v0_belief")
    if (actor["obs_size"], actor["actions"]) != (env.obs_size, env.num_actions + 1):
        raise CrossPlayError(
            f"{path} observes {actor['obs_size']} floats and has {actor['actions']} "
            f"actions; JaxMARL's 2-player Hanabi has {env.obs_size} and "
            f"{env.num_actions + 1} (its moves and a no-op), the only game an "
            "external checkpoint is read for"
        )
    params = actor["params"]
    logits = params["params"]["Dense_3"]
    params["params"]["Dense_3"] = jax.tree.map(lambda x: x[..., :-1], logits)
    return Player(
        agent=Agent(str(path), None, 0, 0, f"jaxmarl {path.parent.name or path.stem}"),
        env=env,
        params=params,
        memory=actor["width"],
        hidden_sizes=(actor["width"],),
    )
