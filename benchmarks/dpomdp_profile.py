"""Benchmark: where the exact engine's time goes, against what the machine can do.

On Dec-Tiger at each horizon of `--horizons`, for a batch of `--batch` random
joint policies vmapped as the learner runs its seeds, side by side in one run:

  the machine     a float32 matrix product (`--matmul` squared, XLA) and a
                  streaming scale-and-add over 256 MB: the arithmetic and the
                  memory rate this process gets;
  the programs    J(pi) and the gradient of J_tau (reach-weighted entropy,
                  tau 1): seconds, XLA's own cost analysis of the compiled
                  program (FLOPs, bytes accessed), GFLOP/s and GB/s, and the
                  arithmetic intensity (FLOPs per byte) that places each on the
                  machine's roofline;
  the stages      the recursion step by step (`marl.tabular.exact`'s own
                  functions, each jitted and vmapped alone on its real inputs):
                  the occupancy times the policies, the reward, the transition's
                  sum over states, the observations, the pruning gather, the
                  reaches, and the last two steps contracted from the occupancy
                  before them;
  the census      the compiled J(pi) program's operations by kind (dots,
                  transposes and copies, gathers, fusions) and the floats their
                  outputs hold.

    .venv/bin/python -m benchmarks.dpomdp_profile            # horizons 3, 4, 5
    .venv/bin/python -m benchmarks.dpomdp_profile --horizons 4 --batch 64

Timings are the best of `--repeats` after a warm-up; XLA_FLAGS as printed.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import re
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import games
from benchmarks.common import load_average, machine_lines
from games.tabular.occupancy import expand, letters
from marl.tabular import exact

STREAM_FLOATS = 64 * 2**20


def best_time(fn: Callable[..., object], *args: object, repeats: int) -> float:
    """The fastest of `repeats` calls of a jitted `fn`, in seconds (after one
    warm-up call)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def cost(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    """(FLOPs, bytes accessed) of the compiled program, XLA's own count."""
    analysis = fn.lower(*args).compile().cost_analysis()  # type: ignore[attr-defined]
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def measured(name: str, fn: Callable[..., object], *args: object, repeats: int) -> str:
    """One table row: time, FLOPs, bytes, rates and intensity of a program."""
    seconds = best_time(fn, *args, repeats=repeats)
    flops, moved = cost(fn, *args)
    return (
        f"| {name} | {1e3 * seconds:.3f} | {flops / 1e6:.2f} | {moved / 1e6:.2f} | "
        f"{flops / seconds / 1e9:.2f} | {moved / seconds / 1e9:.2f} | "
        f"{flops / max(moved, 1.0):.2f} |"
    )


def machine_rates(size: int, repeats: int) -> tuple[float, float]:
    """(GFLOP/s of a size x size float32 matrix product, GB/s of a streaming
    scale-and-add that reads and writes 256 MB), in this process now."""
    a = jnp.ones((size, size), jnp.float32)
    product = jax.jit(lambda x: x @ x)
    seconds = best_time(product, a, repeats=repeats)
    big = jnp.ones(STREAM_FLOATS, jnp.float32)
    scaled = jax.jit(lambda x: 1.0001 * x + 1.0)
    stream = best_time(scaled, big, repeats=repeats)
    return 2 * size**3 / seconds / 1e9, 2 * big.nbytes / stream / 1e9


def census(fn: Callable[..., object], *args: object) -> str:
    """The compiled program's operations by kind, with the floats their
    outputs hold (fusion bodies included)."""
    text = fn.lower(*args).compile().as_text()  # type: ignore[attr-defined]
    counts: collections.Counter[str] = collections.Counter()
    floats: collections.Counter[str] = collections.Counter()
    for shape, op in re.findall(r"= f32\[([\d,]*)\]\S* (\w+)\(", text):
        kind = {"copy": "transpose"}.get(op, op)
        if kind not in ("dot", "transpose", "gather", "fusion", "reduce"):
            continue
        counts[kind] += 1
        floats[kind] += math.prod(int(d) for d in shape.split(",") if d)
    return ", ".join(
        f"{kind} {counts[kind]} ({floats[kind] / 1e6:.2f} M floats)"
        for kind in ("dot", "transpose", "gather", "fusion", "reduce")
    )


def stages(
    game: games.TabularGame, policy: tuple[jax.Array, ...], repeats: int
) -> list[str]:
    """The recursion of `exact.occupancy_pass` stage by stage, each stage a
    program of its own on the previous stage's output, vmapped over the batch."""
    occupancy = game.occupancy
    n = len(policy)
    hb = letters(2 * n, "sqz")
    hist, acts = hb[0::2], hb[1::2]
    terms = ",".join(f"{hist[i]}{acts[i]}" for i in range(n))
    batch = policy[0].shape[0]
    eta = jnp.broadcast_to(occupancy.initial, (batch, *occupancy.initial.shape))
    rows = []
    steps = occupancy.steps
    for t, step in enumerate(steps):

        def factors_of(*pi: jax.Array, step=step) -> tuple[jax.Array, ...]:
            return exact.step_policies(pi, step.acting, step.rows, step.histories)

        factors = jax.vmap(factors_of)(*policy)
        shape = "x".join(map(str, eta.shape[1:]))

        def reaches(e: jax.Array) -> tuple[jax.Array, ...]:
            return tuple(jnp.einsum(f"s{hist}->{hist[i]}", e) for i in range(n))

        rows.append(
            measured(
                f"{t}: reaches of eta {shape}",
                jax.jit(jax.vmap(reaches)),
                eta,
                repeats=repeats,
            )
        )
        if step.transition is not None and steps[t + 1].transition is None:

            def last_two(e, *fp, step=step, last=steps[t + 1]):  # type: ignore[no-untyped-def]
                return exact._last_two_steps(e, fp[:n], step, last, fp[n:])

            rows.append(
                measured(
                    f"{t}: last two steps from eta {shape}",
                    jax.jit(jax.vmap(last_two)),
                    eta,
                    *factors,
                    *policy,
                    repeats=repeats,
                )
            )
            break
        if step.transition is None:
            break

        def decide_of(e: jax.Array, *f: jax.Array) -> jax.Array:
            return jnp.einsum(f"s{hist},{terms}->s{hb}", e, *f)

        decide = jax.jit(jax.vmap(decide_of))
        rows.append(
            measured(f"{t}: eta x policies", decide, eta, *factors, repeats=repeats)
        )
        decided = decide(eta, *factors)

        def reward_of(d: jax.Array, step=step) -> jax.Array:
            return jnp.einsum(f"s{hb},s{acts}->", d, step.reward)

        rows.append(
            measured(
                f"{t}: reward", jax.jit(jax.vmap(reward_of)), decided, repeats=repeats
            )
        )

        def expand_of(d: jax.Array, step=step) -> jax.Array:
            return expand(jnp, d, step.transition, step.observation, n)

        grow = jax.jit(jax.vmap(expand_of))
        rows.append(
            measured(
                f"{t}: transition and observations", grow, decided, repeats=repeats
            )
        )
        grown = grow(decided)

        def prune(e: jax.Array, step=step) -> jax.Array:
            for i in range(n):
                e = jnp.take(e, step.children[i], axis=1 + i)
            return e

        pruned = jax.jit(jax.vmap(prune))
        rows.append(measured(f"{t}: pruning gather", pruned, grown, repeats=repeats))
        eta = pruned(grown)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--matmul", type=int, default=2048, help="matrix size")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for line in machine_lines():
        print(line)
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, batch {args.batch}")
    matmul, stream = machine_rates(args.matmul, args.repeats)
    print(
        f"\nthe machine, this process: matrix product {args.matmul}^2 "
        f"{matmul:.1f} GFLOP/s; streaming scale-and-add {stream:.1f} GB/s "
        f"(roofline ridge at {matmul / stream:.1f} FLOP per byte)"
    )
    head = "| program | ms | MFLOP | MB accessed | GFLOP/s | GB/s | FLOP/byte |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    for horizon in args.horizons:
        spec = games.make_spec("dectiger", horizon)
        game = games.compile_game(spec, engine="recursion")
        rng = np.random.default_rng(0)
        logits = tuple(
            jnp.asarray(rng.normal(size=(args.batch, *shape)), jnp.float32)
            for shape in game.policy_shapes
        )
        policy = exact.softmax_policy(logits)

        def value(*pi: jax.Array, game=game) -> jax.Array:  # type: ignore[no-untyped-def]
            return exact.expected_return(game, pi)

        def objective(*x: jax.Array, game=game) -> jax.Array:  # type: ignore[no-untyped-def]
            return exact.regularized_objective(game, exact.softmax_policy(x), 1.0)

        values = jax.jit(jax.vmap(value))
        gradients = jax.jit(
            jax.vmap(jax.grad(objective, argnums=tuple(range(len(logits)))))
        )
        print(f"\nDec-Tiger, horizon {horizon}, policy shapes {game.policy_shapes}\n")
        print(head)
        print(rule)
        print(measured("J(pi), whole", values, *policy, repeats=args.repeats))
        print(measured("grad J_tau, whole", gradients, *logits, repeats=args.repeats))
        for row in stages(game, policy, args.repeats):
            print(row)
        print(f"\ncensus of J(pi): {census(values, *policy)}")
    print(f"\nload average (1, 5, 15 min) at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
