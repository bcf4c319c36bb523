"""Benchmark: IPPO training env-steps per second, the project's vs JaxMARL's.

Trains, in the same process and on the same settings, JaxMARL's feed-forward IPPO
baseline for Hanabi (`baselines/IPPO/ippo_ff_hanabi.py` with its config
`baselines/IPPO/config/ippo_ff_hanabi.yaml`) and this project's IPPO
(`marl.deep.ippo.make_train`), and prints env steps per second for both and their ratio.

  ours     `marl.deep.ippo.make_train(IPPOConfig(...), Hanabi-Full 2p)(key, ent_coef)`,
           jitted;
  jaxmarl  their `make_train(config)(rng)`, jitted, imported from a JaxMARL work
           tree given by `--jaxmarl-repo` (nothing of theirs is copied here).

Settings: JaxMARL's YAML as read from the work tree (lr, gamma, gae_lambda,
clip_eps, ent_coef, vf_coef, max_grad_norm, anneal_lr, update_epochs,
num_minibatches, num_envs, num_steps), with NUM_ENVS, NUM_STEPS and
TOTAL_TIMESTEPS = updates x NUM_ENVS x NUM_STEPS overridden by the flags (default:
the YAML's 1,024 games x 128 steps, `--updates 3`). Ours gets the same values:
`IPPOConfig(network='mlp', hidden_sizes=(512, 512), clip_value=True,
normalize_advantages=True, adam_eps=1e-5, entropy_accounting='all_agents')`
(their entropy term is the mean over every seat's row, see docs/ippo.md). At
commit c793d09 the YAML says: lr 5e-4, anneal_lr False, 4 epochs x 4 minibatches,
gamma 0.99, gae_lambda 0.95, clip 0.2, ent_coef 0.01, vf_coef 0.5, max_grad_norm
0.5; these numbers are used for ours when the work tree is absent.

Timing, as in `benchmarks/hanabi_throughput.py`: each side is compiled first
(ahead of time, `jax.jit(train).lower(key).compile()`, with the shapes it is then
called with; the compile seconds are printed apart), then the compiled runs are
timed `--repeats` times, the two sides taking turns so a burst of load from other
processes hits both alike, and the best time counts. Env steps per run = updates x
num_envs x num_steps, the same on both sides: one env step is one move in one of
the games, and each side plays N games for T steps per update. Each side's start
(network initialization and the first deal: ours `make_ippo(...).init`, theirs
their `make_train` with 0 updates) is timed alone too, and the table gives two
rates: over the whole run, and over the training alone (run minus start), which is
what a run of 10^10 env steps sees. Where an update of ours spends its time,
part by part: `benchmarks/ippo_update.py`.

The work per env step is not identical, by design of each implementation (the
script prints the network's multiply-adds for both):

- JaxMARL's Hanabi gives every seat a row at every step (the waiting seat's only
  legal move is a no-op): the network runs on P = 2 rows per env step in the
  rollout, and PPO trains on all P rows (its minibatches are P times larger; the
  no-op rows have ratio 1 and no policy gradient but count in the value loss, the
  entropy mean and the advantage standardization). Ours evaluates and trains the
  acting seat's row only: one row per env step.
- The networks: theirs is a shared 512-unit ReLU layer, then a 512-unit ReLU layer
  and a linear head for each of actor and critic (3 hidden layers, about 0.87M
  multiply-adds per row); ours (`network='mlp'`) is separate actor and critic MLPs
  of 512 x 512 units (4 hidden layers, about 1.21M per row). Per env step ours does
  about 0.7x their network arithmetic (1 row of 1.21M against 2 rows of 0.87M).
  Their hidden heads are initialized with gain 2, ours with sqrt 2 (no effect on
  speed).
- Observations: theirs is the installed `jaxmarl` package's Hanabi (the v0-belief
  layout, float32, 658 values), computed for both seats at every step and stored
  as float32; ours is the canonical encoding (uint8, 658 values), also computed
  for both seats and stored as uint8. Their actions are HLE's 20 moves plus the
  no-op (21 logits), ours the 20.
- Their script logs through `jax.experimental.io_callback` once per update (the
  episode returns of the rollout go to the host); that stays, but `wandb` in their
  module is replaced by a stand-in whose `log` does nothing. Ours returns its
  metrics from the jitted call instead.

JaxMARL's work tree. Their baseline scripts are not in the `jaxmarl` package;
make a tree from a clone or from the project's snapshot of FLAIROx/JaxMARL:

    mkdir -p /tmp/jaxmarl
    git --git-dir=/work/.mirror/FLAIROx+JaxMARL/repo archive HEAD baselines/IPPO \\
        | tar -x -C /tmp/jaxmarl     # (a warning about a missing .gif is harmless)

Their script also imports `distrax` (not a dependency of this project) and
`wandb` (replaced here). Put distrax in a separate folder, so the project's venv
is left alone, and pass that folder: it is appended to `sys.path`, after the
venv, so the venv's own jax is the one used:

    .venv/bin/pip install --target /tmp/jaxmarl-extra distrax

Their module's `import jaxmarl` resolves to the installed `jaxmarl` package (0.2.0
here), not to a `jaxmarl/` folder of the work tree. Without the work tree (or
without distrax) the script still times ours and says why the peer is missing.

    .venv/bin/python -m benchmarks.ippo_throughput \\
        --jaxmarl-repo /tmp/jaxmarl --jaxmarl-deps /tmp/jaxmarl-extra
    .venv/bin/python -m benchmarks.ippo_throughput --jaxmarl-repo /tmp/jaxmarl \\
        --jaxmarl-deps /tmp/jaxmarl-extra --num-envs 64 --num-steps 16 \\
        --updates 2                                   # a small smoke check
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import sys
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks.common import kernel_shapes, load_average, machine_lines
from benchmarks.hanabi_throughput import import_jaxmarl
from experiments.harness.arguments import ArgumentParser
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep.ippo import IPPOConfig, make_ippo, make_policy_for, make_train

BASELINE = Path("baselines/IPPO/ippo_ff_hanabi.py")
BASELINE_CONFIG = Path("baselines/IPPO/config/ippo_ff_hanabi.yaml")

YAML_AT_C793D09 = {
    "LR": 5e-4,
    "NUM_ENVS": 1024,
    "NUM_STEPS": 128,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ANNEAL_LR": False,
}
"""The hyperparameters of JaxMARL's `ippo_ff_hanabi.yaml` at commit c793d09, for
ours when their work tree is absent (read from the tree otherwise)."""

HIDDEN_SIZES = (512, 512)
"""Ours: the widths of each of the actor's and the critic's MLP (theirs: 512 units
in every layer, hard-coded in their `ActorCritic`)."""


# -------------------------------------------------------------------- JaxMARL


class Peer:
    """JaxMARL's baseline module and its YAML config, or why they are missing."""

    def __init__(
        self, module: Any = None, config: dict | None = None, missing: str = ""
    ) -> None:
        self.module = module
        self.config = config
        self.missing = missing


def _wandb_stand_in() -> types.ModuleType:
    """A `wandb` whose `init` and `log` do nothing (their callback calls `log`)."""
    stand_in = types.ModuleType("wandb")
    stand_in.init = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    stand_in.log = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    return stand_in


def load_peer(repo: Path | None, deps: Path | None) -> Peer:
    """Imports `make_train` and reads the YAML of JaxMARL's `ippo_ff_hanabi` from the
    work tree `repo`, with `deps` appended to `sys.path` (for distrax)."""
    if repo is None:
        return Peer(missing="no --jaxmarl-repo given")
    script, config_file = repo / BASELINE, repo / BASELINE_CONFIG
    if not script.is_file() or not config_file.is_file():
        return Peer(missing=f"{script} or {config_file} not found")
    if deps is not None and str(deps) not in sys.path:
        sys.path.append(str(deps))  # after the venv: its jax stays the one used
    if import_jaxmarl() is None:  # imported quietly, before their module does
        return Peer(missing="the jaxmarl package is not installed")
    try:
        import distrax  # noqa: F401
    except ImportError:
        return Peer(
            missing="their script needs distrax: `.venv/bin/pip install --target "
            "DIR distrax`, then --jaxmarl-deps DIR"
        )
    except Exception as error:  # e.g. tensorflow-probability behind this jax
        return Peer(
            missing=f"distrax does not import with jax {jax.__version__} "
            f"({type(error).__name__}: {error})"
        )
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.load(config_file))
    if not isinstance(config, dict):
        return Peer(missing=f"{config_file} is not a mapping")
    # Their module imports wandb at the top; a stand-in serves that import, so
    # that their per-update callback logs nothing (and needs no wandb.init),
    # and wandb itself is not imported for it (a second of importing, and
    # temporary folders that a stopped process leaves in /tmp). A wandb this
    # process imported before is left as it was.
    stand_in = _wandb_stand_in()
    before = sys.modules.get("wandb")
    sys.modules["wandb"] = stand_in
    try:
        spec = importlib.util.spec_from_file_location("jaxmarl_ippo_ff_hanabi", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as error:  # e.g. a package their script imports is missing
        return Peer(
            missing=f"{script} does not import ({type(error).__name__}: {error})"
        )
    finally:
        if before is None:
            del sys.modules["wandb"]
        else:
            sys.modules["wandb"] = before
    return Peer(module=module, config=config)


def peer_config(yaml: dict, num_envs: int, num_steps: int, updates: int) -> dict:
    """Their config dict: the YAML with the sizes of this benchmark."""
    config = dict(yaml)
    config.update(
        NUM_ENVS=num_envs,
        NUM_STEPS=num_steps,
        TOTAL_TIMESTEPS=updates * num_envs * num_steps,
        ENV_NAME="hanabi",
        ENV_KWARGS={},  # jaxmarl's default: 2-player Hanabi-Full
        WANDB_MODE="disabled",
    )
    return config


# ----------------------------------------------------------------------- ours


def our_config(yaml: dict, num_envs: int, num_steps: int, updates: int) -> IPPOConfig:
    """The project's IPPO on JaxMARL's hyperparameters."""
    return IPPOConfig(
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=updates * num_envs * num_steps,
        update_epochs=int(yaml["UPDATE_EPOCHS"]),
        num_minibatches=int(yaml["NUM_MINIBATCHES"]),
        gamma=float(yaml["GAMMA"]),
        gae_lambda=float(yaml["GAE_LAMBDA"]),
        clip_eps=float(yaml["CLIP_EPS"]),
        clip_value=True,
        vf_coef=float(yaml["VF_COEF"]),
        max_grad_norm=float(yaml["MAX_GRAD_NORM"]),
        lr=float(yaml["LR"]),
        anneal_lr=bool(yaml["ANNEAL_LR"]),
        adam_eps=1e-5,  # hard-coded in their script
        normalize_advantages=True,
        network="mlp",
        hidden_sizes=HIDDEN_SIZES,
        share_parameters=True,
        entropy_accounting="all_agents",
    )


# ----------------------------------------------------------- work per step


def multiply_adds(params: Any) -> int:
    """Multiply-adds of one forward pass of a network of dense layers: the number
    of kernel entries in its flax parameters."""
    return sum(math.prod(shape) for shape in kernel_shapes(params))


def work_lines(config: IPPOConfig, game: hanabi.HanabiParams, peer: Peer) -> list[str]:
    """The network arithmetic per env step, for both sides."""
    key = jax.random.key(0)
    ours = multiply_adds(
        jax.eval_shape(make_policy_for(config, environment(game)).init, key)
    )
    lines = [
        f"forward multiply-adds per env step: ours {ours / 1e6:.3f}M (the acting "
        "seat's row)"
    ]
    if peer.module is not None:
        obs_size, moves = hanabi.canonical_size(game), game.num_actions + 1
        network = peer.module.ActorCritic(moves, config={})
        dummy = (
            np.zeros((1, 1, obs_size), np.float32),
            np.zeros((1, 1), np.float32),
            np.zeros((1, 1, moves), np.float32),
        )
        row = multiply_adds(jax.eval_shape(network.init, jax.random.PRNGKey(0), dummy))
        players = game.num_players
        lines[0] += (
            f", JaxMARL {players * row / 1e6:.3f}M ({players} rows of "
            f"{row / 1e6:.3f}M); ours / JaxMARL = {ours / (players * row):.2f}"
        )
    return lines


# -------------------------------------------------------------------- timing


def compile_ahead(
    train: Callable[[jax.Array], Any], key: jax.Array
) -> tuple[Callable[[], Any], float]:
    """`train` compiled for `key` (not run), as a thunk, and the compile seconds."""
    start = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    seconds = time.perf_counter() - start
    return (lambda: compiled(key)), seconds


def best_seconds(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """The best wall seconds of each compiled run over `repeats` turns."""
    best = dict.fromkeys(runs, math.inf)
    for turn in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(run())
            seconds = time.perf_counter() - start
            best[name] = min(best[name], seconds)
            print(f"  {name}, run {turn + 1}: {seconds:.2f} s", flush=True)
    return best


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser("benchmarks.ippo_throughput", __doc__)
    parser.add_argument(
        "--jaxmarl-repo",
        type=Path,
        help="a JaxMARL work tree with baselines/IPPO/ippo_ff_hanabi.py",
    )
    parser.add_argument(
        "--jaxmarl-deps",
        type=Path,
        help="a folder with distrax (pip install --target), appended to sys.path",
    )
    parser.add_argument("--num-envs", type=int, help="games (default: the YAML's)")
    parser.add_argument("--num-steps", type=int, help="steps per update (the YAML's)")
    parser.add_argument("--updates", type=int, default=3, help="updates per run")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-jaxmarl", action="store_true")
    args = parser.parse_args(argv)
    parser.require_at_least(args, num_envs=1, num_steps=1, updates=1, repeats=1)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    peer = Peer(missing="--skip-jaxmarl")
    if not args.skip_jaxmarl:
        peer = load_peer(args.jaxmarl_repo, args.jaxmarl_deps)
    yaml = peer.config if peer.config is not None else YAML_AT_C793D09
    num_envs = args.num_envs or int(yaml["NUM_ENVS"])
    num_steps = args.num_steps or int(yaml["NUM_STEPS"])
    env_steps = args.updates * num_envs * num_steps
    game = hanabi.make_params("Hanabi-Full", 2)
    config = our_config(yaml, num_envs, num_steps, args.updates)
    ent_coef = float(yaml["ENT_COEF"])

    jaxmarl = import_jaxmarl() if peer.module is not None else None
    print("\n".join(machine_lines(jaxmarl)))
    source = (
        f"read from {args.jaxmarl_repo / BASELINE_CONFIG}"
        if peer.config is not None
        else "JaxMARL's YAML as of c793d09"
    )
    print(
        f"IPPO, feed-forward, 2-player Hanabi-Full: {num_envs:,} games x "
        f"{num_steps} steps per update x {args.updates} updates = {env_steps:,} env "
        f"steps per run, {config.update_epochs} epochs x {config.num_minibatches} "
        f"minibatches; lr {config.lr:g} (anneal {config.anneal_lr}), gamma "
        f"{config.gamma:g}, gae_lambda {config.gae_lambda:g}, clip "
        f"{config.clip_eps:g}, ent_coef {ent_coef:g}, vf_coef "
        f"{config.vf_coef:g}, max_grad_norm {config.max_grad_norm:g} ({source}); "
        f"ours: MLP {'x'.join(map(str, HIDDEN_SIZES))} per head"
    )
    print("\n".join(work_lines(config, game, peer)))
    if peer.module is None:
        print(f"JaxMARL's baseline is missing ({peer.missing}): ours only")

    # Each side twice: the whole run, and its start alone (network initialization
    # and the first deal, the same computation with 0 updates), which a run of
    # 10^10 env steps pays once; the training rate leaves it out.
    key = jax.random.key(args.seed)
    runs, compile_seconds = {}, {}
    env = environment(game)
    runs["ours"], compile_seconds["ours"] = compile_ahead(
        functools.partial(make_train(config, env), ent_coef=ent_coef), key
    )
    runs["ours, start"], _ = compile_ahead(make_ippo(config, env).init, key)
    print(f"  ours compiled in {compile_seconds['ours']:.1f} s", flush=True)
    if peer.module is not None:
        make_theirs = peer.module.make_train
        rng = jax.random.PRNGKey(args.seed)
        theirs = make_theirs(peer_config(yaml, num_envs, num_steps, args.updates))
        runs["jaxmarl"], compile_seconds["jaxmarl"] = compile_ahead(theirs, rng)
        start = make_theirs(peer_config(yaml, num_envs, num_steps, 0))
        runs["jaxmarl, start"], _ = compile_ahead(start, rng)
        print(f"  JaxMARL compiled in {compile_seconds['jaxmarl']:.1f} s", flush=True)
    seconds = best_seconds(runs, args.repeats)

    names = {"ours": "ours (marl.deep.ippo)", "jaxmarl": "JaxMARL ippo_ff_hanabi"}
    rates = {}
    print()
    print(
        "| learner | compile s | run s (best) | of which start s | env steps/s, "
        "whole run | env steps/s, training |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in (n for n in names if n in seconds):
        whole, start = seconds[name], seconds[f"{name}, start"]
        rates[name] = (env_steps / whole, env_steps / max(whole - start, 1e-9))
        print(
            f"| {names[name]} | {compile_seconds[name]:.1f} | {whole:.2f} | "
            f"{start:.2f} | {rates[name][0]:,.0f} | {rates[name][1]:,.0f} |"
        )
    if "jaxmarl" in rates:
        ours, theirs = rates["ours"], rates["jaxmarl"]
        print(
            f"| **ours / JaxMARL** | | | | **{ours[0] / theirs[0]:.2f}x** | "
            f"**{ours[1] / theirs[1]:.2f}x** |"
        )
    print(f"\nload average at the end: {load_average()}")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
