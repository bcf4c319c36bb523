"""Benchmark: Hanabi env-steps per second, the project's JAX game vs JaxMARL vs HLE.

The workload of one env step, the same on every side: the acting player's legal
moves, a uniformly random legal move, the step, an automatic reset when the game
ends (a freshly shuffled deck), and every player's observation of the resulting
state (HLE's canonical encoding; JaxMARL's observation, which is the canonical
layout with the v0 belief in place of the card knowledge). A checksum of the
observations is carried along so the compiler cannot drop them.

  ours     `games.envs.hanabi`: `legal_actions`, `step`, `reset`, `canonical`, one
           `jax.jit(jax.vmap(lax.scan))` over the batch of games;
  jaxmarl  `jaxmarl.make("hanabi")` (pip install jaxmarl): `get_legal_moves`,
           `step` (which auto-resets) and its observation dict, in the same
           `jit(vmap(scan))` (its no-op is the only legal move of waiting players);
  hle      hanabi-learning-environment's Python loops, one game at a time:
           `rl_env` (`env.step`, which encodes every player's vector) and a
           leaner `pyhanabi` loop (legal moves, `apply_move`, chance deals, the
           canonical encoder for every player).

Compilation is excluded: each jitted rollout runs once before it is timed. A
timing is the best of `--repeats` measurements, each calling the rollout until at
least `--min-time` seconds have passed. `--prototype` adds a column for the
project's game with a sort-free deck shuffle in the auto-reset (a change proposed
for `rules.reset`, see docs/hanabi.md, "Throughput"); `--breakdown` times the
parts of the project's step (move, observation, reset) at the largest batch.

    .venv/bin/python -m benchmarks.hanabi_throughput
    .venv/bin/python -m benchmarks.hanabi_throughput --batch-sizes 1 256 4096 \
        --steps 64 --repeats 3 --prototype --breakdown
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import machine_lines
from experiments.harness.arguments import ArgumentParser
from games.envs import hanabi
from games.envs.hanabi import HanabiParams, HanabiState
from games.envs.hanabi.rules import shuffle

Rollout = Callable[[jax.Array], jax.Array]
"""jit(vmap(scan)): keys [B] -> float32[B] observation checksums."""


# ----------------------------------------------------------------------- ours


def _random_legal(key: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniformly random legal action (action 0 if none is legal)."""
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, jnp.where(mask.any(), logits, 0.0))


# The shuffle of `rules.reset` (sort-free since this benchmark showed the sort
# dominating a step with auto-reset); "--prototype" rows now match the project's.
sort_free_shuffle = shuffle


def make_ours(
    params: HanabiParams,
    steps: int,
    *,
    shuffle: str | None = "project",
    observe: bool = True,
) -> Rollout:
    """The project's game: a batch of rollouts of `steps` random legal moves.

    shuffle: how a finished game is replaced: "project" (`reset(key, params)`,
      whose deck comes from `jax.random.permutation`), "sort-free" (`reset` with
      a deck from `sort_free_shuffle`), or None (no auto-reset: a finished game
      stays finished and its moves are no-ops; for the breakdown only).
    observe: encode every player's canonical vector after each move.
    """
    sorted_deck = jnp.asarray(params.sorted_deck())

    def fresh(key: jax.Array) -> HanabiState:
        if shuffle == "sort-free":
            return hanabi.reset(key, params, sort_free_shuffle(key, sorted_deck))
        return hanabi.reset(key, params)

    def env_step(
        carry: tuple[HanabiState, jax.Array], key: jax.Array
    ) -> tuple[tuple[HanabiState, jax.Array], None]:
        state, checksum = carry
        act_key, reset_key = jax.random.split(key)
        action = _random_legal(act_key, hanabi.legal_actions(state, params))
        state, reward, done = hanabi.step(state, action, params)
        if shuffle is not None:
            new_game = fresh(reset_key)
            state = jax.tree.map(lambda a, b: jnp.where(done, a, b), new_game, state)
        if observe:
            obs = hanabi.canonical(state, params)  # uint8[P, O]
            checksum = checksum + obs.sum(dtype=jnp.float32)
        else:
            checksum = checksum + reward
        return (state, checksum), None

    def rollout(key: jax.Array) -> jax.Array:
        first_key, play_key = jax.random.split(key)
        carry = (fresh(first_key), jnp.float32(0))
        keys = jax.random.split(play_key, steps)
        (_, checksum), _ = jax.lax.scan(env_step, carry, keys)
        return checksum

    return jax.jit(jax.vmap(rollout))


# -------------------------------------------------------------------- JaxMARL


def import_jaxmarl() -> Any:
    """`jaxmarl`, imported without its import-time printing (None if absent).

    Its package prints while something in its import chain swaps `sys.stdout`,
    so the file descriptors themselves are pointed at /dev/null meanwhile.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        import jaxmarl
    except ImportError:
        return None
    finally:
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    return jaxmarl


def make_jaxmarl(params: HanabiParams, steps: int) -> Rollout:
    """JaxMARL's Hanabi with the same parameters and the same workload."""
    jaxmarl = import_jaxmarl()
    env = jaxmarl.make(
        "hanabi",
        num_agents=params.num_players,
        num_colors=params.num_colors,
        num_ranks=params.num_ranks,
        hand_size=params.hand_size,
        max_info_tokens=params.max_information_tokens,
        max_life_tokens=params.max_life_tokens,
    )
    if env.num_moves != params.num_actions + 1:
        raise RuntimeError("JaxMARL's moves are not HLE's moves plus a no-op")
    agents = env.agents

    def env_step(carry: tuple[Any, jax.Array], key: jax.Array) -> tuple[Any, None]:
        state, checksum = carry
        act_key, step_key = jax.random.split(key)
        legal = env.get_legal_moves(state)
        act_keys = jax.random.split(act_key, len(agents))
        actions = {
            agent: _random_legal(act_keys[i], legal[agent] > 0)
            for i, agent in enumerate(agents)
        }
        obs, state, _, _, _ = env.step(step_key, state, actions)
        total = sum(obs[agent].sum(dtype=jnp.float32) for agent in agents)
        return (state, checksum + total), None

    def rollout(key: jax.Array) -> jax.Array:
        first_key, play_key = jax.random.split(key)
        _, state = env.reset(first_key)
        keys = jax.random.split(play_key, steps)
        (_, checksum), _ = jax.lax.scan(env_step, (state, jnp.float32(0)), keys)
        return checksum

    return jax.jit(jax.vmap(rollout))


# ------------------------------------------------------------------------ HLE


def hle_rl_env_rate(params: HanabiParams, preset: str, seconds: float) -> float:
    """Env steps per second of rl_env's Python loop (random legal moves)."""
    from hanabi_learning_environment import rl_env

    env = rl_env.make(preset, num_players=params.num_players)
    rng = np.random.default_rng(0)
    obs = env.reset()
    moves = 0
    start = time.perf_counter()
    while True:
        player = obs["current_player"]
        legal = obs["player_observations"][player]["legal_moves_as_int"]
        obs, _, done, _ = env.step(int(legal[rng.integers(len(legal))]))
        moves += 1
        if done:
            obs = env.reset()
        if moves % 64 == 0 and time.perf_counter() - start >= seconds:
            return moves / (time.perf_counter() - start)


def hle_pyhanabi_rate(params: HanabiParams, seconds: float) -> float:
    """Env steps per second of a lean pyhanabi loop: chance deals, every player's
    canonical vector, legal moves, a random legal move."""
    from hanabi_learning_environment import pyhanabi

    from games.envs.hanabi.hle import hle_config

    game = pyhanabi.HanabiGame(hle_config(params, seed=0))
    encoder = pyhanabi.ObservationEncoder(
        game, pyhanabi.ObservationEncoderType.CANONICAL
    )
    rng = np.random.default_rng(0)
    state = game.new_initial_state()
    moves = 0
    start = time.perf_counter()
    while True:
        while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
            state.deal_random_card()
        for player in range(params.num_players):
            encoder.encode(state.observation(player))
        legal = state.legal_moves()
        state.apply_move(legal[rng.integers(len(legal))])
        moves += 1
        if state.is_terminal():
            state = game.new_initial_state()
        if moves % 64 == 0 and time.perf_counter() - start >= seconds:
            return moves / (time.perf_counter() - start)


# -------------------------------------------------------------------- timing


def steps_per_second(
    rollouts: dict[str, Rollout],
    batch: int,
    steps: int,
    *,
    repeats: int,
    min_time: float,
    seed: int,
) -> dict[str, float]:
    """Env steps per second of compiled rollouts (compilation excluded).

    The rollouts take turns, one measurement each per repeat, so that a burst
    of load from other processes on a shared machine hits all of them alike.
    """
    keys = jax.random.split(jax.random.key(seed), batch)
    for rollout in rollouts.values():
        rollout(keys).block_until_ready()  # compile and warm up
    best = dict.fromkeys(rollouts, 0.0)
    for _ in range(repeats):
        for name, rollout in rollouts.items():
            calls = 0
            start = time.perf_counter()
            while True:
                rollout(keys).block_until_ready()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    break
            best[name] = max(best[name], calls * batch * steps / elapsed)
    return best


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser("benchmarks.hanabi_throughput", __doc__)
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[1, 16, 256, 4096, 16384]
    )
    parser.add_argument(
        "--steps", type=int, default=64, help="moves per rollout call (scan length)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many")
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds per measurement"
    )
    parser.add_argument("--players", type=int, default=2)
    parser.add_argument(
        "--preset", default="Hanabi-Full", choices=sorted(hanabi.PRESETS)
    )
    parser.add_argument(
        "--hle-seconds", type=float, default=3.0, help="seconds per HLE loop"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-jaxmarl", action="store_true")
    parser.add_argument("--skip-hle", action="store_true")
    parser.add_argument(
        "--prototype",
        action="store_true",
        help="also time the project's game with a sort-free deck shuffle",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time parts of the project's step at the largest batch",
    )
    args = parser.parse_args(argv)
    parser.require_at_least(args, batch_sizes=1, steps=1, repeats=1)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    params = hanabi.make_params(args.preset, args.players)
    jaxmarl = None if args.skip_jaxmarl else import_jaxmarl()
    for line in machine_lines(jaxmarl):
        print(line)
    if not args.skip_jaxmarl and jaxmarl is None:
        print("jaxmarl is not installed (pip install jaxmarl): its column is empty")
    print(
        f"{args.preset}, {args.players} players: random legal moves, auto-reset, "
        f"every player's observation; {args.steps} moves per rollout call, best "
        f"of {args.repeats} x >= {args.min_time} s; compilation excluded"
    )

    timing = dict(repeats=args.repeats, min_time=args.min_time, seed=args.seed)
    rollouts = {"ours": make_ours(params, args.steps)}
    if jaxmarl is not None:
        rollouts["jaxmarl"] = make_jaxmarl(params, args.steps)
    if args.prototype:
        rollouts["prototype"] = make_ours(params, args.steps, shuffle="sort-free")
        # The prototype deals real decks: every shuffle is a valid deck.
        decks = jax.vmap(sort_free_shuffle, in_axes=(0, None))(
            jax.random.split(jax.random.key(args.seed), 256),
            jnp.asarray(params.sorted_deck()),
        )
        hanabi.validate_deck(np.asarray(decks), params)

    hle = ""
    if not args.skip_hle:
        try:
            rl_env = hle_rl_env_rate(params, args.preset, args.hle_seconds)
            lean = hle_pyhanabi_rate(params, args.hle_seconds)
            hle = f"{rl_env:,.0f} (rl_env); {lean:,.0f} (pyhanabi)"
        except ImportError:
            hle = "HLE not installed"

    header = "| batch | ours steps/s | JaxMARL steps/s | ratio | HLE steps/s |"
    rule = "|---:|---:|---:|---:|---|"
    if args.prototype:
        header += " ours, sort-free shuffle (prototype) |"
        rule += "---:|"
    # Each row as soon as it is measured: a run stopped at a deadline keeps them.
    print()
    print("\n".join([header, rule]), flush=True)
    for batch in args.batch_sizes:
        rate = steps_per_second(rollouts, batch, args.steps, **timing)
        theirs = rate.get("jaxmarl")
        ratio = "—" if theirs is None else f"{rate['ours'] / theirs:.2f}x"
        row = (
            f"| {batch:,} | {_rate(rate['ours'])} | {_rate(theirs)} | {ratio} | "
            f"{hle if batch == 1 and hle else '—'} |"
        )
        if args.prototype:
            row += f" {_rate(rate['prototype'])} |"
        print(row, flush=True)
    if hle:
        print("\nHLE: one game at a time in Python (batch 1).")

    if args.breakdown:
        batch = max(args.batch_sizes)
        parts = {
            "step + legal moves + random move": make_ours(
                params, args.steps, shuffle=None, observe=False
            ),
            "+ canonical (every player)": make_ours(params, args.steps, shuffle=None),
            "+ auto-reset, project's shuffle": make_ours(params, args.steps),
            "+ auto-reset, sort-free shuffle": make_ours(
                params, args.steps, shuffle="sort-free"
            ),
        }
        rate = steps_per_second(parts, batch, args.steps, **timing)
        print(f"\nWhere the time goes (ours, batch {batch:,}):\n")
        print("| workload | steps/s | microseconds per env step |")
        print("|---|---:|---:|")
        for name, value in rate.items():
            print(f"| {name} | {value:,.0f} | {1e6 / value:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
