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
                  machine's roofline; all at once, and in the blocks the learner
                  runs on a CPU (`marl.trainer.run_block`) where they differ;
  the stages      the recursion step by step (`marl.tabular.exact`'s own
                  functions, each jitted and vmapped alone on its real inputs):
                  the reaches, the reward, the expansion to the next occupancy
                  (broadcast products, or the einsums of `expand` where the
                  step has no `moves`), the pruning gather, and the last two
                  steps contracted from the occupancy before them;
  the census      the compiled J(pi) program's operations by kind (dots,
                  transposes and copies, gathers, fusions) and the floats their
                  outputs hold.

    .venv/bin/python -m benchmarks.dpomdp_profile            # horizons 3, 4, 5
    .venv/bin/python -m benchmarks.dpomdp_profile --horizons 4 --batch 64

Timings are the best of `--repeats` after a warm-up; XLA_FLAGS as printed.
"""

from __future__ import annotations

import collections
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import games
from benchmarks.common import load_average, machine_lines
from benchmarks.rates import best_time, cost, machine_rates
from experiments.harness.arguments import ArgumentParser
from games.tabular.occupancy import expand, letters
from marl.tabular import exact
from marl.tabular.exact_pg import update_bytes
from marl.trainer import map_in_blocks, run_block


def measured(
    name: str,
    fn: Callable[..., object],
    *args: object,
    repeats: int,
    counted: Callable[..., object] | None = None,
) -> str:
    """One table row: time, FLOPs, bytes, rates and intensity of a program; the
    work is `counted`'s where given (XLA's cost analysis counts a loop's body
    once: a program in blocks is counted as the same program all at once)."""
    seconds = best_time(fn, *args, repeats=repeats)
    flops, moved = cost(fn if counted is None else counted, *args)
    return (
        f"| {name} | {1e3 * seconds:.3f} | {flops / 1e6:.2f} | {moved / 1e6:.2f} | "
        f"{flops / seconds / 1e9:.2f} | {moved / seconds / 1e9:.2f} | "
        f"{flops / max(moved, 1.0):.2f} |"
    )


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


def expansion(
    step: Any,
    t: int,
    eta: jax.Array,
    factors: tuple[jax.Array, ...],
    n: int,
    repeats: int,
) -> tuple[str, jax.Array]:
    """Step `t`'s expansion of eta, measured: the fused broadcast products where
    the step has them, else policies, transition and observations in turn.
    Returns its row and the expanded eta."""
    hb = letters(2 * n, "sqz")
    hist, acts = hb[0::2], hb[1::2]
    terms = ",".join(f"{hist[i]}{acts[i]}" for i in range(n))
    if step.moves is not None:

        def fused(e: jax.Array, *f: jax.Array) -> jax.Array:
            return exact._expand_moves(e, f, step.moves)

        grow = jax.jit(jax.vmap(fused))
        label = f"{t}: expansion (broadcast products)"
    else:

        def decide_of(e: jax.Array, *f: jax.Array) -> jax.Array:
            return jnp.einsum(f"s{hist},{terms}->s{hb}", e, *f)

        def expand_of(e: jax.Array, *f: jax.Array) -> jax.Array:
            return expand(jnp, decide_of(e, *f), step.transition, step.observation, n)

        grow = jax.jit(jax.vmap(expand_of))
        label = f"{t}: expansion (policies, transition, observations)"
    row = measured(label, grow, eta, *factors, repeats=repeats)
    return row, grow(eta, *factors)


def stages(
    game: games.TabularGame, policy: tuple[jax.Array, ...], repeats: int
) -> list[str]:
    """The recursion of `exact.occupancy_pass` stage by stage, each stage a
    program of its own on the previous stage's output, vmapped over the batch."""
    occupancy = game.occupancy
    n = len(policy)
    hist = letters(2 * n, "sqz")[0::2]
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

        def reward_of(e: jax.Array, *f: jax.Array, step=step) -> jax.Array:
            return exact.contract_agents(e, step.reward, f)

        rows.append(
            measured(
                f"{t}: reward",
                jax.jit(jax.vmap(reward_of)),
                eta,
                *factors,
                repeats=repeats,
            )
        )
        row, grown = expansion(step, t, eta, factors, n, repeats)
        rows.append(row)

        def prune(e: jax.Array, step=step) -> jax.Array:
            for i in range(n):
                e = jnp.take(e, step.children[i], axis=1 + i)
            return e

        pruned = jax.jit(jax.vmap(prune))
        rows.append(measured(f"{t}: pruning gather", pruned, grown, repeats=repeats))
        eta = pruned(grown)
    return rows


def shape_ceiling(game: games.TabularGame, batch: int, repeats: int) -> str:
    """The recursion's largest matrix product (the last two steps' eta times the
    model and the second agent's last policies, `exact.contract_agents`) alone,
    on random inputs of its batched shape: what XLA's CPU matrix product gives at
    that shape, the ceiling of the engine's rate there."""
    steps = game.occupancy.steps
    if len(steps) < 2 or len(steps[0].histories) != 2:
        return "(no last two steps of two agents here)"
    step = steps[-2]  # the step before the last, where eta_{T-2} lives
    assert step.observation is not None
    states, (first, second) = step.reward.shape[0], step.histories
    k = step.reward.shape[1] * step.observation.shape[3] * steps[-1].reward.shape[1]
    key_a, key_b = jax.random.split(jax.random.key(0))
    eta = jax.random.uniform(key_a, (batch, states, first, second))
    other = jax.random.uniform(key_b, (batch, states, k, second))
    product = jax.jit(lambda a, b: jnp.einsum("bsxh,bskh->bsxk", a, b))
    return measured(
        f"alone: {batch} x {states} products [{first} x {second}] [{second} x {k}]",
        product,
        eta,
        other,
        repeats=repeats,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.dpomdp_profile", __doc__)
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--matmul", type=int, default=2048, help="matrix size")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    parser.require_at_least(args, horizons=1, batch=1, matmul=1, repeats=1)
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
        run_bytes = update_bytes(game)
        block = run_block(run_bytes, jax.default_backend())
        if block is not None and block < args.batch:
            in_blocks = jax.jit(
                lambda *pi, run_bytes=run_bytes: map_in_blocks(
                    lambda p: value(*p), pi, run_bytes
                )
            )
            gradients_in_blocks = jax.jit(
                lambda *x, run_bytes=run_bytes: map_in_blocks(
                    lambda y: jax.grad(objective, argnums=tuple(range(len(y))))(*y),
                    x,
                    run_bytes,
                )
            )
            print(
                measured(
                    f"J(pi), blocks of {block}",
                    in_blocks,
                    *policy,
                    repeats=args.repeats,
                    counted=values,
                )
            )
            print(
                measured(
                    f"grad J_tau, blocks of {block}",
                    gradients_in_blocks,
                    *logits,
                    repeats=args.repeats,
                    counted=gradients,
                )
            )
        for row in stages(game, policy, args.repeats):
            print(row)
        print(shape_ceiling(game, args.batch, args.repeats))
        print(f"\ncensus of J(pi): {census(values, *policy)}")
    print(f"\nload average (1, 5, 15 min) at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
