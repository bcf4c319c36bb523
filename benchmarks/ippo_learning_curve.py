"""Benchmark: IPPO's learning curve on a small Hanabi, the project's vs JaxMARL's,
in one run: env steps to reach a score, and the wall time it took.

Both sides train on the same game and the same settings, one seed after the other,
in the same process:

  ours     `marl.deep.ippo.make_train(IPPOConfig(...), env)(key, ent_coef)`, jitted; its
           curve is the mean return of the episodes that ended in each update's
           rollout (sampled actions, as trained);
  jaxmarl  their feed-forward Hanabi baseline `make_train(config)(rng)` from the
           work tree given by `--jaxmarl-repo` (`baselines/IPPO/ippo_ff_hanabi.py`;
           nothing of theirs is copied here), on their installed `jaxmarl`
           package's Hanabi built with the same sizes and HLE's card counts; its
           curve is what their per-update callback logs, the mean over their
           actors of the last finished episode's return (a `wandb` stand-in
           records it).

The game: `--preset` with any of --colors, --ranks, --hand-size, --hints, --lives
set over it (default: the CPU preset hanabi_3c3r_cpu's game, HLE's rules with 3
colors x 3 ranks, hands of 3, 5 hints, 3 lives; max score 9). The settings are the
recipe of docs/ippo.md ("Hanabi with color symmetry"): --num-envs x --num-steps per
update, 4 epochs x 4 minibatches, lr 5e-4 annealed linearly to 0 over the run,
gamma 0.99, GAE lambda 0.9, clip 0.2, vf 0.5, grad norm 0.5, Adam eps 1e-5. What
differs by design of each implementation:

- The loss's weights. Ours averages the policy and entropy terms over acting
  decisions and the value loss over the acting seat's rows; theirs averages all
  three over every seat's row, and the waiting seat's rows (a forced no-op)
  give the policy and entropy terms nothing but do train the value. So their
  loss is 1/P of (policy + P x VF_COEF x value - ENT_COEF x entropy) over
  acting decisions: theirs gets ENT_COEF = ours, VF_COEF = ours / P and
  MAX_GRAD_NORM = ours / P (their gradient is 1/P of the same objective's, and
  Adam does not see the scale), the same objective per decision. What still
  differs: their value is also trained on the waiting seat's rows, and their
  advantages are normalized over every row.
- The networks: ours is each `--ours` variant's MLP for each of the actor and
  the critic; theirs is hard-coded, a shared 512-unit layer and a 512-unit layer
  per head. The script prints each network's multiply-adds per row.
- The observation: theirs is JaxMARL's v0-belief encoding; ours HLE's canonical
  one or, with a `v0_belief:...` variant, the same v0 belief
  (`games.envs.hanabi.belief`, env option `observation`).

`--ours OBS:H1xH2[:shared] ...` trains one or more of ours side by side in the
same run (default `canonical:128x128`, the recipe), e.g. `canonical:128x128
v0_belief:512x512 v0_belief:512x512:shared` (`:shared`: the `shared_mlp`
network, one torso for both heads, JaxMARL's shape), to find by measurement what
it takes to learn per env step as fast as theirs.

Neither curve is greedy: each is the return of the policy as it samples while
training (the cross-play evaluator measures greedified agents). Steps to a score
are the env steps (per run) of the first update whose curve, averaged over the
last `--window` updates and over the seeds, reaches the score.

Set up their work tree and distrax as for `benchmarks/ippo_throughput.py`:

    mkdir -p /tmp/jaxmarl
    git --git-dir=/work/.mirror/FLAIROx+JaxMARL/repo archive HEAD baselines/IPPO \\
        | tar -x -C /tmp/jaxmarl
    .venv/bin/pip install --target /tmp/jaxmarl-extra distrax
    .venv/bin/python -m benchmarks.ippo_learning_curve --jaxmarl-repo /tmp/jaxmarl \\
        --jaxmarl-deps /tmp/jaxmarl-extra --steps 20000000 --seeds 2

Without the work tree (or distrax) it trains ours alone and says why the peer is
missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import load_average, machine_lines
from benchmarks.ippo_throughput import Peer, load_peer, multiply_adds
from experiments.harness.arguments import ArgumentParser
from games.envs import hanabi
from games.envs.hanabi.environment import OBSERVATIONS, environment
from marl.deep.ippo import IPPOConfig, make_policy_for, make_train, seed_keys

GAME_3C3R = dict(colors=3, ranks=3, hand_size=3, hints=5, lives=3)
"""hanabi_3c3r_cpu's sizes over Hanabi-Full."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser("benchmarks.ippo_learning_curve", __doc__)
    parser.add_argument("--jaxmarl-repo", type=Path, default=None)
    parser.add_argument("--jaxmarl-deps", type=Path, default=None)
    parser.add_argument(
        "--preset", default="Hanabi-Full", choices=sorted(hanabi.PRESETS)
    )
    parser.add_argument("--players", type=int, default=2)
    for size, value in GAME_3C3R.items():
        parser.add_argument(f"--{size.replace('_', '-')}", type=int, default=value)
    parser.add_argument("--steps", type=int, default=20_070_400, help="per run")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--ent-coef", type=float, default=0.01, help="ours (acting)")
    parser.add_argument("--gae-lambda", type=float, default=0.9)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument(
        "--ours",
        nargs="+",
        default=["canonical:128x128"],
        help="our variants, OBSERVATION:H1xH2[:shared] (observation canonical or "
        "v0_belief; shared: one torso for both heads)",
    )
    parser.add_argument(
        "--scores", type=float, nargs="+", default=None, help="default: 50-90%% of max"
    )
    parser.add_argument("--window", type=int, default=10, help="updates averaged")
    parser.add_argument("--rows", type=int, default=12, help="rows of the curve table")
    args = parser.parse_args(argv)
    parser.require_at_least(
        args, steps=1, seeds=1, num_envs=1, num_steps=1, window=1, rows=1
    )
    if args.steps < args.num_envs * args.num_steps:
        parser.error("--steps must be at least one update (num-envs x num-steps)")
    variants = []
    for spec in args.ours:
        observation, _, rest = spec.partition(":")
        hidden, _, torso = rest.partition(":")
        sizes = hidden.split("x")
        if (
            observation not in OBSERVATIONS
            or not all(x.isdigit() for x in sizes)
            or torso not in ("", "shared")
        ):
            parser.error(
                f"--ours {spec}: expected OBSERVATION:H1xH2[:shared] with "
                f"OBSERVATION one of {', '.join(OBSERVATIONS)} "
                "(e.g. v0_belief:512x512:shared)"
            )
        network = "shared_mlp" if torso else "mlp"
        variants.append((observation, tuple(int(x) for x in sizes), network))
    args.variants = variants
    return args


def our_config(
    args: argparse.Namespace, hidden: tuple[int, ...], network: str = "mlp"
) -> IPPOConfig:
    """The recipe (docs/ippo.md) at this benchmark's sizes, `hidden` units, the
    feed-forward `network` ('mlp' or 'shared_mlp')."""
    return IPPOConfig(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=args.steps,
        update_epochs=4,
        num_minibatches=4,
        gamma=0.99,
        gae_lambda=args.gae_lambda,
        clip_eps=0.2,
        clip_value=True,
        vf_coef=0.5,
        max_grad_norm=0.5,
        lr=args.lr,
        anneal_lr=True,
        adam_eps=1e-5,
        normalize_advantages=True,
        network=network,
        hidden_sizes=hidden,
        entropy_accounting="acting",
    )


def peer_config(
    yaml: dict, config: IPPOConfig, ent_coef: float, game: hanabi.HanabiParams
) -> dict[str, Any]:
    """Their config dict: the same settings and the same game (their Hanabi's
    keyword arguments, HLE's card counts per rank)."""
    out = dict(yaml)
    out.update(
        LR=config.lr,
        NUM_ENVS=config.num_envs,
        NUM_STEPS=config.num_steps,
        TOTAL_TIMESTEPS=config.num_updates * config.batch_size,
        UPDATE_EPOCHS=config.update_epochs,
        NUM_MINIBATCHES=config.num_minibatches,
        GAMMA=config.gamma,
        GAE_LAMBDA=config.gae_lambda,
        CLIP_EPS=config.clip_eps,
        # their means over every seat's row: the same objective per decision
        # (module docstring)
        ENT_COEF=ent_coef,
        VF_COEF=config.vf_coef / game.num_players,
        MAX_GRAD_NORM=config.max_grad_norm / game.num_players,
        ANNEAL_LR=config.anneal_lr,
        ENV_NAME="hanabi",
        ENV_KWARGS=dict(
            num_agents=game.num_players,
            num_colors=game.num_colors,
            num_ranks=game.num_ranks,
            hand_size=game.hand_size,
            max_info_tokens=game.max_information_tokens,
            max_life_tokens=game.max_life_tokens,
            num_cards_of_rank=np.asarray(game.card_counts),
        ),
        WANDB_MODE="disabled",
    )
    return out


def our_curve(
    config: IPPOConfig,
    ent_coef: float,
    game: hanabi.HanabiParams,
    seeds: int,
    observation: str = "canonical",
) -> tuple[np.ndarray, float]:
    """Our returns float[seeds, updates] and the seconds of training (compiled
    first, apart)."""
    env = environment(game, observation=observation)
    train = jax.jit(make_train(config, env))
    keys = seed_keys(0, seeds)
    coef = np.float32(ent_coef)
    compiled = train.lower(keys[0], coef).compile()
    began = time.perf_counter()
    curves = []
    for key in keys:
        _, metrics = compiled(key, coef)
        episodes = np.asarray(metrics.episodes)
        curves.append(
            np.where(
                episodes > 0,
                np.asarray(metrics.return_sum) / np.maximum(episodes, 1),
                np.nan,
            )
        )
    return np.stack(curves), time.perf_counter() - began


def their_curve(
    peer: Peer, config: dict[str, Any], seeds: int
) -> tuple[np.ndarray, float]:
    """Their logged returns float[seeds, updates] and the seconds of training
    (compiled first, apart)."""
    logged: list[float] = []
    peer.module.wandb.log = lambda data, *a, **k: logged.append(float(data["returns"]))
    train = jax.jit(peer.module.make_train(config))
    keys = jax.random.split(jax.random.key(0), seeds)
    compiled = train.lower(keys[0]).compile()
    began = time.perf_counter()
    curves = []
    for key in keys:
        logged.clear()
        jax.block_until_ready(compiled(key))
        curves.append(np.asarray(logged))
    return np.stack(curves), time.perf_counter() - began


def smoothed(curves: np.ndarray, window: int) -> np.ndarray:
    """The mean over seeds of each update's average over the last `window`
    updates (fewer at the start), float[updates]."""
    seen = ~np.isnan(curves)
    mean = np.where(
        seen.any(0), np.nansum(curves, 0) / np.maximum(seen.sum(0), 1), np.nan
    )
    sums = np.cumsum(np.nan_to_num(mean))
    counts = np.cumsum(~np.isnan(mean))
    lagged = np.concatenate([np.zeros(window), sums])[: len(sums)]
    lagged_counts = np.concatenate([np.zeros(window), counts])[: len(counts)]
    counted = counts - lagged_counts
    return np.where(counted > 0, (sums - lagged) / np.maximum(counted, 1), np.nan)


def steps_to(curve: np.ndarray, score: float, batch: int) -> int | None:
    """Env steps per run at the end of the first update whose smoothed curve
    reaches `score`; None if it never does."""
    reached = np.flatnonzero(curve >= score)
    return None if reached.size == 0 else int(reached[0] + 1) * batch


def network_line(
    configs: dict[str, IPPOConfig], game: hanabi.HanabiParams, peer: Peer
) -> str:
    env = environment(game)
    line = "network multiply-adds per row: " + ", ".join(
        f"{name} {multiply_adds(make_policy_for(c, env).init(jax.random.key(0))):,}"
        for name, c in configs.items()
    )
    if peer.module is not None:
        obs_size = peer.module.jaxmarl.make(
            "hanabi",
            **peer_config(peer.config or {}, next(iter(configs.values())), 0.0, game)[
                "ENV_KWARGS"
            ],
        ).obs_size
        net = peer.module.ActorCritic(env.num_actions + 1, config={})
        dummy = (
            jnp.zeros((1, obs_size)),
            jnp.zeros(1),
            jnp.ones((1, env.num_actions + 1)),
        )
        theirs = multiply_adds(net.init(jax.random.key(0), dummy))
        line += f", theirs {theirs:,} (512 shared, 512 per head)"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = {size: getattr(args, size) for size in GAME_3C3R}
    try:
        game = hanabi.make_params(args.preset, args.players, **sizes)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configs = {
        f"ours {obs} {'x'.join(map(str, hidden))}"
        + (" shared" if network == "shared_mlp" else ""): our_config(
            args, hidden, network
        )
        for obs, hidden, network in args.variants
    }
    config = next(iter(configs.values()))  # the shared sizes and schedule
    peer = load_peer(args.jaxmarl_repo, args.jaxmarl_deps)
    jaxmarl = sys.modules.get("jaxmarl")
    for line in machine_lines(jaxmarl if peer.module is not None else None):
        print(line)
    title = hanabi.game_title(game, args.preset)
    print(
        f"game: {title}, {game.num_players} players (max score {game.max_score}); "
        f"{config.num_updates} updates of {config.num_envs} games x "
        f"{config.num_steps} steps = {config.num_updates * config.batch_size:,} env "
        f"steps per run, {args.seeds} seeds each; ent_coef {args.ent_coef}, "
        f"vf_coef {config.vf_coef}, max_grad_norm {config.max_grad_norm} "
        f"(theirs {config.vf_coef / game.num_players} and "
        f"{config.max_grad_norm / game.num_players}: the same objective per "
        "decision, see the docstring)"
    )
    print(network_line(configs, game, peer))
    curves = {}
    for (name, c), (observation, *_) in zip(
        configs.items(), args.variants, strict=True
    ):
        curves[name] = our_curve(c, args.ent_coef, game, args.seeds, observation)
        print(f"  {name}: trained in {curves[name][1]:.0f} s", flush=True)
    if peer.module is None:
        print(f"jaxmarl: not run ({peer.missing})")
    else:
        curves["jaxmarl"] = their_curve(
            peer,
            peer_config(peer.config or {}, config, args.ent_coef, game),
            args.seeds,
        )
    smooth = {name: smoothed(c, args.window) for name, (c, _) in curves.items()}
    updates = config.num_updates
    rows = np.unique(np.linspace(1, updates, min(args.rows, updates)).astype(int))
    names = list(curves)
    print(
        f"\nreturn (mean over seeds, last {args.window} updates) by env steps per run"
    )
    print(f"| env steps | {' | '.join(names)} |")
    print(f"|---:|{'---:|' * len(names)}")
    for row in rows:
        cells = " | ".join(
            "-" if np.isnan(v) else f"{v:.3f}"
            for v in (smooth[n][row - 1] for n in names)
        )
        print(f"| {row * config.batch_size:,} | {cells} |")
    scores = args.scores or [round(f * game.max_score, 2) for f in (0.5, 0.7, 0.8, 0.9)]
    print("\nenv steps per run to reach a score (first update whose curve does)")
    print(f"| score | {' | '.join(names)} |")
    print(f"|---:|{'---:|' * len(names)}")
    for score in scores:
        cells = []
        for name in names:
            steps = steps_to(smooth[name], score, config.batch_size)
            cells.append("not reached" if steps is None else f"{steps:,}")
        print(f"| {score} | {' | '.join(cells)} |")
    print("\nwall time of training (compilation apart), all seeds")
    for name, (_, seconds) in curves.items():
        rate = args.seeds * updates * config.batch_size / seconds
        print(f"  {name}: {seconds:.1f} s ({rate:,.0f} env steps/s)")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
