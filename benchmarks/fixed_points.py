"""Benchmark: steps and seconds to converged fixed points, flow vs Adam vs NPG.

For each game, every seed at three entropy weights (0.01, 0.1 and 1 times the
game's reward range) is trained by one learner of the exact half alone, and
checked after every window with the convergence of `marl.tabular.convergence` (one
NPG step over one minus its map's contraction bounds the distance to a fixed
point), until every seed of a tau is converged or the learner's step budget is
spent. Side by side, in one run:

  flow   SGD on J_tau, learning rate 0.5 / (reward range + tau): the gradient flow
  adam   Adam, learning rate 0.05 (the benchmarks' start)
  npg    entropy-regularized natural policy gradient, learning rate 0.5

Printed per game and tau: the steps to converge every seed (">N" when the budget
ran out, with the seeds converged by then) and the wall seconds after
compilation (one window run and checked beforehand, untimed). The fixed points
reached are the same above tau* (one fixed point); below it each learner has its
own basins, so the conventions found may differ.

    .venv/bin/python -m benchmarks.fixed_points
    .venv/bin/python -m benchmarks.fixed_points --games dectiger,recycling_robots \
        --horizon 3 --seeds 8
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time

from benchmarks.common import machine_lines
from experiments.harness.arguments import ArgumentParser

DEFAULT_GAMES = (
    "lever,climbing,penalty,tiny_hanabi_a,lewis_signalling,qmix_two_step,"
    "dectiger,broadcast_channel,recycling_robots,meeting_grid_2x2"
)
LEARNERS = {
    "flow": {"optimizer": "sgd", "learning_rate": 0.5},
    "adam": {"optimizer": "adam", "learning_rate": 0.05},
    "npg": {"optimizer": "npg", "learning_rate": 0.5},
}
TAU_FRACTIONS = (0.01, 0.1, 1.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser("benchmarks.fixed_points", __doc__)
    parser.add_argument("--games", default=DEFAULT_GAMES)
    parser.add_argument("--horizon", type=int, default=3, help="for the benchmarks")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument(
        "--budget",
        default="flow=20000,adam=5000,npg=2000",
        help="steps per learner before it gives up",
    )
    parser.add_argument("--policy-tol", type=float, default=1e-4)
    args = parser.parse_args(argv)
    parser.require_at_least(args, horizon=1, seeds=1, window=1)
    parser.require_above(args, policy_tol=0)
    try:
        args.budgets = budgets_of(args.budget)
    except ValueError as error:
        parser.error(f"--budget={args.budget}: {error}")
    import games

    unknown = [g for g in args.games.split(",") if g not in games.CATALOGUE]
    if unknown:
        parser.error(f"--games={args.games}: {unknown[0]} is not a catalogue game")
    return args


def budgets_of(text: str) -> dict[str, int]:
    """`flow=20000,adam=5000,npg=2000` as a dict: every learner of LEARNERS,
    each a step count >= 1 (ValueError naming what is wrong)."""
    budgets: dict[str, int] = {}
    for item in text.split(","):
        name, _, steps = item.partition("=")
        if name not in LEARNERS or not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"{item!r} is not LEARNER=STEPS (steps >= 1)")
        budgets[name] = int(steps)
    if missing := [name for name in LEARNERS if name not in budgets]:
        raise ValueError(f"no budget for {', '.join(missing)}")
    return budgets


def time_to_converge(game, name: str, budget: int, args) -> tuple[list, object]:
    """Per tau: (steps when every seed was converged or the budget ran out, seeds
    converged then, seconds); and the final policies, per agent [T, N, K, A],
    where every seed of the highest tau is converged, else None."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np

    from marl.tabular.convergence import converged_by, make_checks, measure
    from marl.tabular.exact_pg import ExactPGConfig
    from marl.tabular.matrix_pg import fastest_trainer
    from marl.trainer import constant_schedules

    config = dataclasses.replace(
        ExactPGConfig(policy_tol=args.policy_tol), **LEARNERS[name]
    )
    taus = np.asarray([f * game.reward_range for f in TAU_FRACTIONS], np.float32)
    trainer = fastest_trainer(game, config)
    checks = make_checks(game, config)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    schedule = constant_schedules(jnp.asarray(taus), args.window)

    def window(states):
        states = trainer.run(states, schedule)[0]
        runs = np.arange(len(taus))
        measured = measure(checks, states.logits, runs, taus, config.policy_tol)
        return states, converged_by(*measured, taus, config, game.reward_range)[0]

    window(trainer.init(keys, len(taus)))  # compile, untimed
    states = trainer.init(keys, len(taus))
    started = time.perf_counter()
    done: list[tuple[int, int, float] | None] = [None] * len(taus)
    converged = np.zeros((len(taus), args.seeds), bool)
    steps = 0
    while steps < budget and any(d is None for d in done):
        states, converged = window(states)
        steps += args.window
        for t in range(len(taus)):
            if done[t] is None and converged[t].all():
                done[t] = (steps, args.seeds, time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    table = [
        d if d is not None else (-steps, int(converged[t].sum()), elapsed)
        for t, d in enumerate(done)
    ]
    policies = jax.tree.map(jax.nn.softmax, states.logits)
    return table, policies if converged[-1].all() else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    budgets = args.budgets
    for line in machine_lines():
        print(line)
    import games

    print(
        f"{args.seeds} seeds per tau, convergence policy_tol {args.policy_tol:g}, "
        f"a check every {args.window} steps; budgets {budgets}"
    )
    header = f"{'game':<22} {'tau/range':>9}" + "".join(
        f" {name + ' steps':>12} {'s':>6}" for name in LEARNERS
    )
    print(header)
    failures = 0
    for name in args.games.split(","):
        horizon = args.horizon if name in games.BENCHMARKS else None
        game = games.make(name, horizon)
        runs = {
            learner: time_to_converge(game, learner, budgets[learner], args)
            for learner in LEARNERS
        }
        results = {learner: run[0] for learner, run in runs.items()}
        label = f"{name}" + (f" h{horizon}" if horizon else "")
        for t, fraction in enumerate(TAU_FRACTIONS):
            cells = ""
            for learner in LEARNERS:
                steps, count, seconds = results[learner][t]
                text = f"{steps}" if steps > 0 else f">{-steps} ({count})"
                cells += f" {text:>12} {seconds:6.1f}"
            print(f"{label:<22} {fraction:>9g}{cells}", flush=True)
        failures += same_fixed_point(label, {k: run[1] for k, run in runs.items()})
    if failures:
        raise SystemExit(f"FAIL: {failures} learner(s) ended elsewhere at tau = range")
    print("PASS: where converged at tau = range, every learner reached NPG's point")


def same_fixed_point(label: str, policies: dict) -> int:
    """At tau = reward range (above tau* on every catalogue game) the learners'
    converged seeds must share one fixed point; returns the number that do not."""
    from marl.tabular.convergence import policy_change

    reference = policies["npg"]
    if reference is None:
        return 0
    failures = 0
    for learner, found in policies.items():
        if found is None or learner == "npg":
            continue
        gap = float(
            policy_change(
                tuple(x[-1] for x in found), tuple(x[-1] for x in reference)
            ).max()
        )
        if gap > 1e-3:
            print(f"{label}: {learner} ends {gap:.2g} (total variation) from npg")
            failures += 1
    return failures


if __name__ == "__main__":
    main()
