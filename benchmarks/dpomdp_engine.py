"""Benchmark: the exact engines on Dec-Tiger, JAX recursion vs a NumPy recursion.

Evaluates J(pi) exactly for a batch of random joint policies of Dec-Tiger (Nair et
al. 2003) at `--horizon`, side by side:

  jax recursion     the project's occupancy-state recursion (`marl.exact`,
                    engine 'recursion'), jitted, vmapped over the batch;
  jax enumeration   the project's enumeration of terminal histories, where it
                    fits in memory (`--enumeration-limit` histories);
  numpy recursion   the same forward recursion over eta_t(s, h_1, h_2), written
                    here in NumPy straight from the spec's arrays (dense over all
                    (|A||O|)^t histories per agent), vectorized over the batch.

All paths get the same policies and must agree to --rtol, or the script exits 1.
It then times the project's exact learner, one step being J_tau's value and
gradient plus the update, for `--seeds` seeds at one tau (chunked over seeds by
the trainer when the batch would pass its memory budget).

    .venv/bin/python -m benchmarks.dpomdp_engine
    .venv/bin/python -m benchmarks.dpomdp_engine --horizon 5 --batch 8 --seeds 64
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import itertools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import games
from benchmarks.common import load_average, machine_lines
from games import DecPOMDP, TabularGame
from games.compile import count_histories
from marl import exact
from marl.exact_pg import (
    MEMORY_BUDGET_BYTES,
    ExactPGConfig,
    constant_schedules,
    make_exact_pg,
    make_trainer,
)


def numpy_value(spec: DecPOMDP, policies: Sequence[np.ndarray]) -> np.ndarray:
    """J(pi) for each of B joint policies of a 2-agent Dec-POMDP, float64[B].

    `policies[i][t]` is float[B, (A_i O_i)^t, A_i]: agent i's action distribution
    at each of its step-t histories (a_0, o_0, ..., a_{t-1}, o_{t-1}) in mixed
    radix order, a_0 most significant. The forward recursion over occupancy states:
    eta_{t+1}(s', (h, a, o)_i) = sum_s eta_t(s, h) pi(a | h) T(s' | s, a) O(o | a, s').
    """
    transition, observation, reward = spec.transition, spec.observation, spec.reward
    batch = policies[0][0].shape[0]
    eta = np.broadcast_to(
        spec.initial[None, :, None, None], (batch, spec.num_states, 1, 1)
    )
    value = np.zeros(batch)
    for t in range(spec.horizon):
        first, second = policies[0][t], policies[1][t]
        value += spec.discount**t * np.einsum(
            "bsxy,bxa,byc,sac->b", eta, first, second, reward, optimize=True
        )
        if t == spec.horizon - 1:
            break
        decide = np.einsum("bsxy,bxa,byc->bsxayc", eta, first, second, optimize=True)
        moved = np.einsum("bsxayc,sacq->bqxayc", decide, transition, optimize=True)
        grown = np.einsum("bqxayc,acqmn->bqxamycn", moved, observation, optimize=True)
        b, q, x, a, m, y, c, n = grown.shape
        eta = grown.reshape(b, q, x * a * m, y * c * n)
    return value


def dense_policies(
    game: TabularGame, spec: DecPOMDP, policy: Sequence[np.ndarray]
) -> list[list[np.ndarray]]:
    """The project's policy layout (rows keyed by history) as `numpy_value`'s
    dense per-step arrays; histories the game never reaches get a uniform row."""
    dense = []
    for i, rows in enumerate(policy):
        index = {key: k for k, key in enumerate(game.infostate_keys[i])}
        num_actions, num_obs = spec.num_actions[i], spec.num_observations[i]
        per_step = []
        for t in range(spec.horizon):
            steps = itertools.product(range(num_actions), range(num_obs), repeat=t)
            table = []
            for flat in steps:
                key = tuple(
                    item
                    for a, o in zip(flat[0::2], flat[1::2], strict=True)
                    for item in (("a", a), ("o", o))
                )
                k = index.get(key)
                table.append(
                    rows[:, k]
                    if k is not None
                    else np.full(rows[:, 0].shape, 1 / num_actions)
                )
            per_step.append(np.stack(table, axis=1))
        dense.append(per_step)
    return dense


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="policies per evaluation")
    parser.add_argument("--seeds", type=int, default=64, help="learner seeds")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--enumeration-limit", type=int, default=200_000)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args(argv)

    for line in machine_lines():
        print(line)
    spec = games.make_spec("dectiger", args.horizon)
    game = games.compile_game(spec, engine="recursion")
    histories = count_histories(spec)
    print(
        f"dectiger, horizon {args.horizon}: {histories:.3g} terminal histories, "
        f"{game.policy_shapes[0][0]} information states per agent, recursion peak "
        f"{game.occupancy.peak_floats * 4 / 2**20:.1f} MiB per policy"
    )
    rng = np.random.default_rng(0)
    logits = tuple(
        rng.normal(size=(args.batch, *shape)).astype(np.float32)
        for shape in game.policy_shapes
    )
    policy = tuple(
        np.asarray(exact.softmax_policy(tuple(jnp.asarray(x) for x in logits)))
    )
    device_policy = tuple(jnp.asarray(p) for p in policy)

    rows: list[tuple[str, float, np.ndarray]] = []
    evaluate = jax.jit(jax.vmap(lambda *pi: exact.expected_return(game, pi)))
    seconds = best_time(
        lambda: evaluate(*device_policy).block_until_ready(), args.repeats
    )
    rows.append(("jax recursion", seconds, np.asarray(evaluate(*device_policy))))
    if histories <= args.enumeration_limit:
        enumerated = games.compile_game(spec, engine="enumeration")
        by_paths = jax.jit(jax.vmap(lambda *pi: exact.expected_return(enumerated, pi)))
        seconds = best_time(
            lambda: by_paths(*device_policy).block_until_ready(), args.repeats
        )
        rows.append(("jax enumeration", seconds, np.asarray(by_paths(*device_policy))))
    dense = dense_policies(game, spec, [p.astype(np.float64) for p in policy])
    seconds = best_time(lambda: numpy_value(spec, dense), args.repeats)
    rows.append(("numpy recursion", seconds, numpy_value(spec, dense)))

    print(f"\nJ(pi) of {args.batch} random joint policies, best of {args.repeats}:\n")
    print("| path | seconds | policies / s | max relative difference to numpy |")
    print("|---|---|---|---|")
    reference = rows[-1][2]
    scale = np.abs(reference).max()
    failed = False
    for name, seconds, values in rows:
        diff = float(np.abs(values - reference).max() / scale)
        failed |= diff > args.rtol
        print(f"| {name} | {seconds:.4f} | {args.batch / seconds:.0f} | {diff:.1e} |")
    ratio = rows[-1][1] / rows[0][1]
    print(f"\nspeed ratio numpy/jax recursion: {ratio:.1f}x")

    config = ExactPGConfig(steps=args.train_steps, optimizer="adam", learning_rate=0.05)
    learner = make_exact_pg(game, config)
    trainer = make_trainer(learner)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    schedules = constant_schedules(jnp.zeros(1), args.train_steps)

    def train() -> None:
        states = trainer.run(trainer.init(keys, 1), schedules)
        jax.block_until_ready(states)

    seconds = best_time(train, 1)
    chunk = max(1, MEMORY_BUDGET_BYTES // max(1, learner.run_bytes))
    print(
        f"exact learner: {args.seeds} seeds x {args.train_steps} steps (value, "
        f"gradient, Adam update) in {seconds:.2f} s = "
        f"{1000 * seconds / args.train_steps:.1f} ms per step of the batch; "
        f"{learner.run_bytes / 2**20:.0f} MiB per seed, so chunks of up to "
        f"{chunk} seeds"
    )
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    if failed:
        print(f"FAIL: a path differs from numpy by more than rtol {args.rtol}")
        return 1
    print(f"PASS: every path agrees with numpy within rtol {args.rtol}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
