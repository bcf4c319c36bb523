"""Benchmark: cross-play across implementations (issue 58, item 3). Seeds of
JaxMARL's own IPPO, trained by their baseline script, against seeds of ours, on
the one Hanabi size both run that has a color symmetry (hanabi_3c3r_cpu: 3
colors x 3 ranks, hands of 3, 5 hint tokens, 3 lives, 2 players).

    python -m benchmarks.jaxmarl_crossplay --jaxmarl-repo /tmp/jaxmarl \\
        --jaxmarl-deps /tmp/jaxmarl-extra --out DIR

1. Theirs: `make_train(config)` of `baselines/IPPO/ippo_ff_hanabi.py`, imported
   from their work tree (`--jaxmarl-repo`; how to make one and the distrax it
   needs: benchmarks/ippo_throughput.py), on their YAML with ENT_COEF each of
   `--ent-coefs`, ENV_KWARGS the size above, and the batch and budget of our
   preset (NUM_ENVS 256 x NUM_STEPS 32, 9,830,400 env steps, flags); `--seeds`
   seeds per coefficient, one after another (each printing a line every
   twentieth of its updates, from their script's per-update `wandb.log`, and
   kept in DIR/theirs_seeds as it finishes: a rerun goes on from the rest) or
   with `--vmap` side by side.
2. Their parameters kept as a zoo, `DIR/theirs` (experiments.deep.zoo): their
   network is our `shared_mlp` with `hidden_sizes [512, 512]` layer for layer
   (their Dense_0 torso, Dense_1 and Dense_2 the actor's layer and logits,
   Dense_3 and Dense_4 the critic's; ours orders them torso, actor, critic,
   logits, value), and their observation is our `v0_belief` bit for bit at this
   size (tests/games/envs/test_hanabi_belief.py). Their last logit, the no-op
   that only a seat that does not move may take, is dropped.
3. Ours: `python -m experiments.ippo` on the preset's recipe with their network
   (`shared_mlp`, [512, 512]: the implementations differ, the network's shape
   does not; cross-play would also take another shape, `with_networks`),
   batch and budget, the same coefficients and seeds, into `DIR/ours` (or
   `--ours RUN`, such a run trained before).
4. One cross-play of ours with theirs, `python -m experiments.crossplay
   DIR/ours DIR/theirs`, each seat observing through its own encoding (ours
   canonical, theirs v0_belief); then `DIR/summary.md`, the four pairings
   (ours with ours, theirs with theirs, ours with theirs in both seat orders)
   per coefficient, greedy and sampled, and the tests registered in
   docs/studies/jaxmarl_crossplay_preregistered.md
   (experiments.reports.across_implementations; also in DIR/summary.json).

What differs by design between the two trainers: their entropy term is the mean
over both seats' rows, the waiting seat's no-op row (entropy 0) included, so
their ENT_COEF c weighs an acting decision's entropy by about c / 2 against
ours' c (`entropy_accounting`, docs/ippo.md); their GAE lambda is 0.95 (ours
0.9), their learning rate is not annealed, their network is 512 wide (ours 128).
Those are part of "another implementation".
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from benchmarks.common import machine_lines
from benchmarks.ippo_throughput import load_peer
from experiments.harness.arguments import ArgumentParser
from experiments.harness.results import write_npz
from experiments.reports.across_implementations import summary
from games.envs.hanabi import make_params
from marl.files import atomic_write_bytes

SIZE = {"colors": 3, "ranks": 3, "hand_size": 3, "hints": 5, "lives": 3}
"""hanabi_3c3r_cpu's game (conf/preset/hanabi_3c3r_cpu.yaml)."""

NETWORK = ["ippo.network=shared_mlp", "ippo.hidden_sizes=[512,512]"]
"""Their network, in our config: the one network shape both sides train, so
that what differs across the boundary is the implementation."""

THEIR_LAYERS = {
    "Dense_0": "Dense_0",  # the torso
    "Dense_1": "Dense_1",  # the actor's hidden layer
    "Dense_2": "Dense_3",  # the critic's hidden layer
    "Dense_3": "Dense_2",  # the logits (their no-op column dropped)
    "Dense_4": "Dense_4",  # the value
}
"""Ours (`shared_mlp`, flax's creation order) <- theirs (`ippo_ff_hanabi`)."""


def their_env_kwargs() -> dict[str, Any]:
    """JaxMARL's `HanabiEnv` arguments for `SIZE`, HLE's card counts included."""
    params = make_params("Hanabi-Full", 2, **SIZE)
    return {
        "num_agents": params.num_players,
        "num_colors": params.num_colors,
        "num_ranks": params.num_ranks,
        "hand_size": params.hand_size,
        "max_info_tokens": params.max_information_tokens,
        "max_life_tokens": params.max_life_tokens,
        "num_cards_of_rank": np.array(params.card_counts),
    }


def their_config(
    yaml: dict[str, Any], ent_coef: float, num_envs: int, num_steps: int, total: int
) -> dict[str, Any]:
    config = dict(yaml)
    config.update(
        ENT_COEF=ent_coef,
        NUM_ENVS=num_envs,
        NUM_STEPS=num_steps,
        TOTAL_TIMESTEPS=total,
        ENV_NAME="hanabi",
        ENV_KWARGS=their_env_kwargs(),
        WANDB_MODE="disabled",
    )
    return config


def to_ours(theirs: dict[str, Any], num_actions: int) -> dict[str, Any]:
    """Their flax parameters (`{"params": {"Dense_k": ...}}`, any leading batch
    axes) as ours for `shared_mlp`, the no-op logit dropped."""
    layers = theirs["params"]
    ours = {}
    for name, source in THEIR_LAYERS.items():
        kernel, bias = layers[source]["kernel"], layers[source]["bias"]
        if name == "Dense_3":
            kernel, bias = kernel[..., :num_actions], bias[..., :num_actions]
        ours[name] = {"kernel": np.asarray(kernel), "bias": np.asarray(bias)}
    return {"params": ours}


def zoo_overrides(
    config: dict[str, Any], ent_coefs: list[float], seeds: int
) -> list[str]:
    """Our run config that describes their agents: the game through
    `v0_belief`, the network, and their hyperparameters where ours has them."""
    return [
        "preset=hanabi_3c3r_cpu",
        "name=jaxmarl_ippo_ff_hanabi",
        "env.observation=v0_belief",
        *NETWORK,
        f"ent_coefs=[{','.join(map(str, ent_coefs))}]",
        f"seeds={seeds}",
        f"ippo.num_envs={config['NUM_ENVS']}",
        f"ippo.num_steps={config['NUM_STEPS']}",
        f"ippo.total_timesteps={config['TOTAL_TIMESTEPS']}",
        f"ippo.gae_lambda={config['GAE_LAMBDA']}",
        f"ippo.gamma={config['GAMMA']}",
        f"ippo.lr={config['LR']}",
        f"ippo.anneal_lr={str(bool(config['ANNEAL_LR'])).lower()}",
        f"ippo.update_epochs={config['UPDATE_EPOCHS']}",
        f"ippo.num_minibatches={config['NUM_MINIBATCHES']}",
        f"ippo.clip_eps={config['CLIP_EPS']}",
        f"ippo.vf_coef={config['VF_COEF']}",
        f"ippo.max_grad_norm={config['MAX_GRAD_NORM']}",
        # hard-coded in their script
        "ippo.clip_value=true",
        "ippo.normalize_advantages=true",
        "ippo.adam_eps=1e-5",
        "ippo.entropy_accounting=all_agents",
    ]


def num_updates(args: argparse.Namespace) -> int:
    """Updates per run, as both trainers count them (the budget over the batch)."""
    return args.total_timesteps // (args.num_envs * args.num_steps)


def our_overrides(args: argparse.Namespace) -> list[str]:
    """Our IPPO's run beside theirs: hanabi_3c3r_cpu's recipe with their
    network, batch and budget, the same coefficients and seeds."""
    updates = num_updates(args)
    return [
        "preset=hanabi_3c3r_cpu",
        "name=ours_shared_mlp",
        *NETWORK,
        f"ent_coefs=[{','.join(map(str, args.ent_coefs))}]",
        f"seeds={args.seeds}",
        f"ippo.seed={args.seed}",
        f"ippo.num_envs={args.num_envs}",
        f"ippo.num_steps={args.num_steps}",
        f"ippo.total_timesteps={args.total_timesteps}",
        f"log_every={min(50, updates)}",
        f"checkpoint_every={min(50, updates)}",  # each chunk: a stop loses little
        "resume=auto",
        f"hydra.run.dir={args.out / 'ours'}",
    ]


def their_trainer(
    module: Any, config: dict[str, Any], batched: bool
) -> Callable[[jax.Array], list[Any]]:
    """Their `make_train(config)`, compiled once, as a function of keys: with
    `batched` the keys' runs side by side in one call (`vmap`, for a GPU), else
    one call per key, one after another (on CPU, jax 0.10, their program hangs
    under vmap with every thread waiting on a lock). It returns their final
    parameters, one pytree per key."""
    train = module.make_train(dict(config))
    if batched:
        runs = jax.jit(jax.vmap(train))
        return lambda keys: _unstack(_their_params(runs(keys)), len(keys))
    run = jax.jit(train)
    return lambda keys: [_their_params(run(key)) for key in keys]


def their_progress(label: str, updates: int) -> Callable[..., None]:
    """Their per-update callback (`wandb.log` in their script, given
    `{"returns": ...}`) as a line every twentieth of a run and at its end: a
    seed of theirs is 12 to 33 minutes of one compiled call on a 2-core CPU."""
    every = max(1, updates // 20)
    done = 0

    def log(data: dict[str, Any], *_: Any, **__: Any) -> None:
        nonlocal done
        done += 1
        if done % every == 0 or done == updates:
            returns = float(data["returns"])
            print(
                f"{label}: update {done} of {updates}, return {returns:.3f}",
                flush=True,
            )

    return log


def _unheard(*_: Any, **__: Any) -> None:
    """Their per-update log, not said."""


def _their_params(out: dict[str, Any]) -> Any:
    (runner_state, _updates) = out["runner_state"]
    return jax.device_get(runner_state[0].params)


def _unstack(tree: Any, n: int) -> list[Any]:
    return [jax.tree.map(lambda x, i=i: np.asarray(x[i]), tree) for i in range(n)]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser("benchmarks.jaxmarl_crossplay", __doc__)
    parser.add_argument("--jaxmarl-repo", type=pathlib.Path, required=True)
    parser.add_argument("--jaxmarl-deps", type=pathlib.Path)
    parser.add_argument(
        "--ours",
        type=pathlib.Path,
        help="our run to cross-play theirs with (network shared_mlp [512, 512]); "
        "default: train it into OUT/ours",
    )
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--ent-coefs", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--vmap", action="store_true", help="train their seeds side by side (a GPU)"
    )
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--total-timesteps", type=int, default=9_830_400)
    parser.add_argument(
        "--crossplay",
        nargs=argparse.REMAINDER,
        default=["--games", "2000"],
        help="the rest: experiments.crossplay's options (default --games 2000)",
    )
    args = parser.parse_args(argv)
    # checked before anything trains (their script divides by zero on no envs)
    parser.require_at_least(args, seeds=1, num_envs=1, num_steps=1, ent_coefs=0)
    if args.total_timesteps < args.num_envs * args.num_steps:
        parser.error(
            f"--total-timesteps={args.total_timesteps} is less than one update "
            f"(--num-envs x --num-steps = {args.num_envs * args.num_steps})"
        )
    return args


def write_theirs(
    args: argparse.Namespace, trained: list[Any], config: dict[str, Any]
) -> pathlib.Path:
    """Their trained seeds, converted to our network's layout, as a zoo (a run
    directory of ours) in OUT/theirs."""
    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.deep.zoo import write_zoo
    from experiments.harness.compose import compose_config

    theirs_dir = args.out / "theirs"
    overrides = zoo_overrides(config, args.ent_coefs, args.seeds)
    ours_config = compose_config("ippo", overrides, IPPORunConfig)
    num_actions = ours_config.environment.num_actions
    params = jax.tree.map(
        lambda *x: np.stack(x), *(to_ours(t, num_actions) for t in trained)
    )
    updates = num_updates(args)
    size = write_zoo(
        theirs_dir,
        ours_config,
        params,
        updates,
        {
            "trainer": "JaxMARL baselines/IPPO/ippo_ff_hanabi.py",
            "repo": str(args.jaxmarl_repo),
        },
    )
    print(f"wrote {theirs_dir} ({size / 1e6:.2f} MB)", flush=True)
    return theirs_dir


def their_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What their seeds in OUT/theirs were trained with, kept beside them in
    OUT/theirs.json (written after the zoo, so it names a complete one)."""
    return {
        "ent_coefs": [float(c) for c in args.ent_coefs],
        "seeds": args.seeds,
        "seed": args.seed,
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "total_timesteps": args.total_timesteps,
        "vmap": bool(args.vmap),
    }


def trained_before(args: argparse.Namespace) -> pathlib.Path | None:
    """OUT/theirs when it holds seeds trained with these settings (a rerun
    after a stop goes on to the cross-play: on one H200 their training is
    2.5 of a full run's 5 minutes)."""
    record = args.out / "theirs.json"
    if not record.is_file() or not (args.out / "theirs" / "config.yaml").is_file():
        return None
    try:
        kept = json.loads(record.read_text())
    except ValueError:
        return None
    return args.out / "theirs" if kept == their_settings(args) else None


def seed_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What one seed of theirs is trained with, besides its coefficient and its
    index (the key: `--seed` split `--seeds` ways, the index-th part)."""
    return {
        "seed": args.seed,
        "seeds": args.seeds,
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "total_timesteps": args.total_timesteps,
    }


def seed_file(args: argparse.Namespace, coef: float, index: int) -> pathlib.Path:
    return args.out / "theirs_seeds" / f"ent_coef_{coef}_seed_{index}.npz"


def save_seed(path: pathlib.Path, params: Any) -> None:
    """Their parameters of one seed (`{"params": {"Dense_k": {"kernel", "bias"}}}`)
    as an .npz, written whole or not at all."""
    arrays = {
        f"{layer}/{name}": np.asarray(value)
        for layer, leaves in params["params"].items()
        for name, value in leaves.items()
    }
    write_npz(path, arrays)


def load_seed(path: pathlib.Path) -> Any | None:
    """A seed `save_seed` wrote, or None when there is none (or it does not
    read back whole: it is then trained again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as arrays:
            layers: dict[str, dict[str, np.ndarray]] = {}
            for key in arrays.files:
                layer, name = key.split("/")
                layers.setdefault(layer, {})[name] = arrays[key]
    except (OSError, ValueError, KeyError) as error:
        print(f"{path} does not read back ({error}): trained again", flush=True)
        return None
    return {"params": layers}


def check_seed_settings(args: argparse.Namespace) -> None:
    """OUT/theirs_seeds holds seeds of these settings only: its settings.json
    is written by the first run and must match at every rerun (a finished
    seed is kept across stops; other settings need another OUT)."""
    record = args.out / "theirs_seeds" / "settings.json"
    settings = seed_settings(args)
    if record.is_file():
        try:
            kept = json.loads(record.read_text())
        except ValueError:
            kept = None
        if kept != settings:
            raise SystemExit(
                f"jaxmarl_crossplay: {record.parent} holds seeds trained with "
                f"other settings ({record.read_text().strip()!r}, now {settings}); "
                "give another --out"
            )
        return
    atomic_write_bytes(record, (json.dumps(settings) + "\n").encode())


def train_all_theirs(args: argparse.Namespace, peer: Any) -> pathlib.Path:
    """Their seeds at every coefficient, trained and written as a zoo, or
    those of an earlier run with the same settings. Each seed is kept in
    OUT/theirs_seeds as it finishes, so a run stopped midway (their training on
    CPU is hours) goes on from the seeds not yet trained."""
    theirs_dir = trained_before(args)
    if theirs_dir is not None:
        print(f"theirs: trained before with these settings ({theirs_dir})", flush=True)
        return theirs_dir
    check_seed_settings(args)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    updates = num_updates(args)
    trained = []
    for coef in args.ent_coefs:
        config = their_config(
            peer.config, coef, args.num_envs, args.num_steps, args.total_timesteps
        )
        seeds = [load_seed(seed_file(args, coef, i)) for i in range(args.seeds)]
        missing = [i for i, params in enumerate(seeds) if params is None]
        if missing:
            train = their_trainer(peer.module, config, args.vmap)
            batches = [missing] if args.vmap else [[i] for i in missing]
            for batch in batches:
                start = time.perf_counter()
                if hasattr(peer.module, "wandb"):
                    # their script logs each update; side by side its callback
                    # runs once a seed, unordered: no lines then
                    label = f"theirs, ENT_COEF {coef}, seed {batch[0]}"
                    peer.module.wandb.log = (
                        their_progress(label, updates) if len(batch) == 1 else _unheard
                    )
                for i, params in zip(batch, train(keys[np.array(batch)]), strict=True):
                    save_seed(seed_file(args, coef, i), params)
                    seeds[i] = params
                print(
                    f"theirs, ENT_COEF {coef}: seeds {batch} of {args.seeds} x "
                    f"{args.total_timesteps:,} env steps in "
                    f"{time.perf_counter() - start:.0f} s",
                    flush=True,
                )
        trained.append(jax.tree.map(lambda *x: np.stack(x), *seeds))
    theirs_dir = write_theirs(args, trained, config)
    settings = json.dumps(their_settings(args), indent=1) + "\n"
    atomic_write_bytes(args.out / "theirs.json", settings.encode())
    return theirs_dir


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # this process holds their parameters on the device while ours train and
    # the cross-play runs in subprocesses: none takes most of its memory first
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    for line in machine_lines():
        print(line, flush=True)
    peer = load_peer(args.jaxmarl_repo, args.jaxmarl_deps)
    if peer.module is None:
        print(f"jaxmarl_crossplay: {peer.missing}", file=sys.stderr)
        return 2
    assert peer.config is not None
    if args.ours is not None and not (args.ours / "config.yaml").is_file():
        print(
            f"jaxmarl_crossplay: --ours {args.ours} is not a run or a zoo",
            file=sys.stderr,
        )
        return 2
    if args.ours is None:
        command = [sys.executable, "-m", "experiments.ippo", *our_overrides(args)]
        print(" ".join(command[1:]), flush=True)
        start = time.perf_counter()
        if subprocess.run(command).returncode != 0:
            return 1
        print(f"ours: {time.perf_counter() - start:.0f} s", flush=True)
        args.ours = args.out / "ours"
    theirs_dir = train_all_theirs(args, peer)
    xp = args.out / "crossplay"
    command = [
        sys.executable,
        "-m",
        "experiments.crossplay",
        str(args.ours),
        str(theirs_dir),
        *args.crossplay,
        "--out",
        str(xp),
        "--force",
    ]
    print(" ".join(command[1:]), flush=True)
    if subprocess.run(command).returncode != 0:
        return 1
    results = json.loads((xp / "results.json").read_text())
    content, table = summary(results, str(theirs_dir), args.ent_coefs)
    atomic_write_bytes(
        args.out / "summary.json", (json.dumps(content, indent=1) + "\n").encode()
    )
    atomic_write_bytes(args.out / "summary.md", (table + "\n").encode())
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
