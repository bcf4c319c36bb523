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

- The entropy bonus: ours is the mean entropy over acting decisions (`acting`),
  theirs the mean over every seat's row, the waiting seat's forced no-op counting
  0, which is ours divided by the number of players (docs/ippo.md). Theirs gets
  `--ent-coef` x players, so that both add the same bonus per decision.
- The networks: ours is `--hidden` (default 128 x 128) for each of the actor and
  the critic; theirs is hard-coded, a shared 512-unit layer and a 512-unit layer
  per head. The script prints both networks' multiply-adds per row.
- Theirs trains on every seat's row at every step (the no-op rows too), ours on
  the acting seat's row only; theirs observes JaxMARL's v0-belief encoding,
  ours HLE's canonical one.

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
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep.ippo import IPPOConfig, make_policy_for, make_train, seed_keys

GAME_3C3R = dict(colors=3, ranks=3, hand_size=3, hints=5, lives=3)
"""hanabi_3c3r_cpu's sizes over Hanabi-Full."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ippo_learning_curve",
        description=__doc__.splitlines()[0],
    )
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
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    parser.add_argument(
        "--scores", type=float, nargs="+", default=None, help="default: 50-90%% of max"
    )
    parser.add_argument("--window", type=int, default=10, help="updates averaged")
    parser.add_argument("--rows", type=int, default=12, help="rows of the curve table")
    args = parser.parse_args(argv)
    too_small = [
        name
        for name in ("steps", "seeds", "num_envs", "num_steps", "window", "rows")
        if getattr(args, name) < 1
    ]
    if too_small:
        parser.error(f"--{too_small[0].replace('_', '-')} must be >= 1")
    if args.steps < args.num_envs * args.num_steps:
        parser.error("--steps must be at least one update (num-envs x num-steps)")
    return args


def our_config(args: argparse.Namespace) -> IPPOConfig:
    """The recipe (docs/ippo.md) at this benchmark's sizes."""
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
        network="mlp",
        hidden_sizes=tuple(args.hidden),
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
        ENT_COEF=ent_coef * game.num_players,  # their all-rows mean
        VF_COEF=config.vf_coef,
        MAX_GRAD_NORM=config.max_grad_norm,
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
    config: IPPOConfig, ent_coef: float, game: hanabi.HanabiParams, seeds: int
) -> tuple[np.ndarray, float]:
    """Our returns float[seeds, updates] and the seconds of training (compiled
    first, apart)."""
    train = jax.jit(make_train(config, environment(game)))
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


def network_line(config: IPPOConfig, game: hanabi.HanabiParams, peer: Peer) -> str:
    env = environment(game)
    ours = multiply_adds(make_policy_for(config, env).init(jax.random.key(0)))
    line = f"network multiply-adds per row: ours {ours:,} (MLP {config.hidden_sizes})"
    if peer.module is not None:
        obs_size = peer.module.jaxmarl.make(
            "hanabi",
            **peer_config(peer.config or {}, config, 0.0, game)["ENV_KWARGS"],
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
    config = our_config(args)
    peer = load_peer(args.jaxmarl_repo, args.jaxmarl_deps)
    jaxmarl = sys.modules.get("jaxmarl")
    for line in machine_lines(jaxmarl if peer.module is not None else None):
        print(line)
    title = hanabi.game_title(game, args.preset)
    print(
        f"game: {title}, {game.num_players} players (max score {game.max_score}); "
        f"{config.num_updates} updates of {config.num_envs} games x "
        f"{config.num_steps} steps = {config.num_updates * config.batch_size:,} env "
        f"steps per run, {args.seeds} seeds each; ent_coef {args.ent_coef} "
        f"(theirs {args.ent_coef * game.num_players}, see the docstring)"
    )
    print(network_line(config, game, peer))
    curves = {"ours": our_curve(config, args.ent_coef, game, args.seeds)}
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
