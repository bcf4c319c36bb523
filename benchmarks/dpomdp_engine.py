"""Benchmark: the exact engines on Dec-Tiger, JAX recursion vs a NumPy recursion.

Evaluates J(pi) exactly for a batch of random joint policies of Dec-Tiger (Nair et
al. 2003) at `--horizon`, side by side:

  jax recursion     the project's occupancy-state recursion (`marl.tabular.exact`,
                    engine 'recursion'), jitted, vmapped over the batch;
  jax enumeration   the project's enumeration of terminal histories, where it
                    fits in memory (`--enumeration-limit` histories);
  numpy recursion   the same forward recursion over eta_t(s, h_1, h_2), written
                    here in NumPy straight from the spec's arrays (dense over all
                    (|A||O|)^t histories per agent), vectorized over the batch.

All paths get the same policies and must agree to --rtol, or the script exits 1.

It then runs exact gradient ascent on J_tau (reach-weighted entropy, SGD on the
logits, step lr / (reward range + tau)) over `--taus` taus (0 and a log grid from
0.01 to 100) x `--seeds` seeds x `--steps` steps with the project's learner
(`marl.tabular.exact_pg`, jitted, seeds and taus as vmap axes, chunked over seeds when
the grid would pass its memory budget), and the same ascent in NumPy with the
recursion's adjoint written here (`numpy_objective_and_gradient`) for one seed
per tau over `--numpy-steps` steps. Both start from the same logits and must end
within 10 x --rtol of each other; the speed is compared per run and step.

    .venv/bin/python -m benchmarks.dpomdp_engine
    .venv/bin/python -m benchmarks.dpomdp_engine --horizon 5 --batch 8 --taus 1 \
        --seeds 64 --steps 1000
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
from games.tabular import DecPOMDP, TabularGame
from games.tabular.compile import count_histories
from marl.tabular import exact
from marl.tabular.exact_pg import ExactPGConfig, make_exact_pg
from marl.trainer import constant_schedules, make_trainer


def numpy_value(spec: DecPOMDP, policies: Sequence[np.ndarray]) -> np.ndarray:
    """J(pi) for each of B joint policies of a 2-agent Dec-POMDP, float64[B].

    `policies[i][t]` is float[B, (A_i O_i)^t, A_i]: agent i's action distribution
    at each of its step-t histories (a_0, o_0, ..., a_{t-1}, o_{t-1}) in mixed
    radix order, a_0 most significant. The forward recursion over occupancy states:
    eta_{t+1}(s', (h, a, o)_i) = sum_s eta_t(s, h) pi(a | h) T(s' | s, a) O(o | a, s').
    """
    reward = spec.reward
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
        eta = numpy_next_occupancy(spec, eta, first, second)
    return value


def numpy_next_occupancy(
    spec: DecPOMDP, eta: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """eta_{t+1} [B, S', (A_1 O_1 H_1), (A_2 O_2 H_2)] from eta_t [B, S, H_1, H_2]
    and the two agents' step-t policies [B, H_i, A_i]."""
    decide = np.einsum("bsxy,bxa,byc->bsxayc", eta, first, second, optimize=True)
    moved = np.einsum("bsxayc,sacq->bqxayc", decide, spec.transition, optimize=True)
    grown = np.einsum("bqxayc,acqmn->bqxamycn", moved, spec.observation, optimize=True)
    b, q, x, a, m, y, c, n = grown.shape
    return grown.reshape(b, q, x * a * m, y * c * n)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_objective_and_gradient(
    spec: DecPOMDP, logits: Sequence[Sequence[np.ndarray]], taus: np.ndarray
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """J_tau and its gradient in the logits for each of B joint softmax policies of
    a 2-agent Dec-POMDP: (float64[B], per agent and step float[B, (A_i O_i)^t,
    A_i]), logits laid out as in `numpy_value`, taus float[B].

    J_tau = E[sum_t r_t] + tau E[sum_t sum_i H(pi_i(.|h_i,t))], the entropy of
    every history weighted by its reach (the project's default). The forward
    recursion keeps every eta_t; the backward pass is its adjoint: with
    D_t[s, x, a, y, c] = dJ/d(eta_t(s, x, y) pi_1(a|x) pi_2(c|y))
                       = R(s, a, c) + sum_{q, m, n} T(q|s, a, c) O(m, n|a, c, q)
                         G_{t+1}[q, (x a m), (y c n)],
    G_t = dJ/d eta_t = sum_{a, c} D_t pi_1 pi_2 + tau (H_1(x) + H_2(y)), and the
    policies' gradients read off D_t and eta_t, then the softmax Jacobian.
    """
    transition, observation, reward = spec.transition, spec.observation, spec.reward
    batch = taus.shape[0]
    probs = [[_softmax(x) for x in agent] for agent in logits]
    entropy = [[-(p * np.log(p)).sum(-1) for p in agent] for agent in probs]
    eta = np.broadcast_to(
        spec.initial[None, :, None, None], (batch, spec.num_states, 1, 1)
    )
    etas = []
    value = np.zeros(batch)
    for t in range(spec.horizon):
        etas.append(eta)
        p1, p2 = probs[0][t], probs[1][t]
        reach1, reach2 = eta.sum(axis=(1, 3)), eta.sum(axis=(1, 2))
        value += np.einsum("bsxy,bxa,byc,sac->b", eta, p1, p2, reward, optimize=True)
        value += taus * (
            (reach1 * entropy[0][t]).sum(-1) + (reach2 * entropy[1][t]).sum(-1)
        )
        if t == spec.horizon - 1:
            break
        eta = numpy_next_occupancy(spec, eta, p1, p2)
    grads: list[list[np.ndarray]] = [[], []]
    later = None  # G_{t+1}
    for t in reversed(range(spec.horizon)):
        eta, p1, p2 = etas[t], probs[0][t], probs[1][t]
        b, s, x, y = eta.shape
        a, c = p1.shape[-1], p2.shape[-1]
        back = np.broadcast_to(reward[None, :, None, :, None, :], (b, s, x, a, y, c))
        if later is not None:
            m, n = observation.shape[-2:]
            grown = later.reshape(b, s, x, a, m, y, c, n)
            back = back + np.einsum(
                "sacq,acqmn,bqxamycn->bsxayc",
                transition,
                observation,
                grown,
                optimize=True,
            )
        reach1, reach2 = eta.sum(axis=(1, 3)), eta.sum(axis=(1, 2))
        by_p1 = np.einsum("bsxy,byc,bsxayc->bxa", eta, p2, back, optimize=True)
        by_p2 = np.einsum("bsxy,bxa,bsxayc->byc", eta, p1, back, optimize=True)
        by_p1 -= taus[:, None, None] * reach1[..., None] * (np.log(p1) + 1)
        by_p2 -= taus[:, None, None] * reach2[..., None] * (np.log(p2) + 1)
        for i, (p, g) in enumerate(((p1, by_p1), (p2, by_p2))):
            grads[i].insert(0, p * (g - (p * g).sum(-1, keepdims=True)))
        later = np.einsum("bsxayc,bxa,byc->bsxy", back, p1, p2, optimize=True)
        later = later + taus[:, None, None, None] * (
            entropy[0][t][:, None, :, None] + entropy[1][t][:, None, None, :]
        )
    return value, grads


def dense_rows(game: TabularGame, spec: DecPOMDP) -> list[list[np.ndarray]]:
    """Per agent and step, int[(A_i O_i)^t]: the project's policy row of each
    history in `numpy_value`'s dense order (a_0 most significant), -1 where the
    game never reaches it."""
    dense = []
    for i in range(spec.num_agents):
        index = {key: k for k, key in enumerate(game.infostate_keys[i])}
        num_actions, num_obs = spec.num_actions[i], spec.num_observations[i]
        per_step = []
        for t in range(spec.horizon):
            steps = itertools.product(range(num_actions), range(num_obs), repeat=t)
            keys = (
                tuple(
                    item
                    for a, o in zip(flat[0::2], flat[1::2], strict=True)
                    for item in (("a", a), ("o", o))
                )
                for flat in steps
            )
            per_step.append(np.array([index.get(key, -1) for key in keys]))
        dense.append(per_step)
    return dense


def dense_policies(
    game: TabularGame, spec: DecPOMDP, policy: Sequence[np.ndarray]
) -> list[list[np.ndarray]]:
    """The project's policy layout (rows keyed by history, [..., K_i, A_i]) as
    `numpy_value`'s dense per-step arrays; histories the game never reaches get a
    uniform row."""
    return [
        [
            np.where((rows >= 0)[:, None], pi[..., rows, :], 1 / pi.shape[-1])
            for rows in per_step
        ]
        for pi, per_step in zip(policy, dense_rows(game, spec), strict=True)
    ]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def gradient_ascent(
    args: argparse.Namespace, spec: DecPOMDP, game: TabularGame
) -> bool:
    """Times exact gradient ascent on J_tau, the project's learner (SGD, every tau
    x seed, `--steps`) against NumPy's (`numpy_objective_and_gradient`, one seed
    per tau, `--numpy-steps`), after checking that the two reach the same logits
    from the same start. Returns whether the check failed."""
    taus = np.concatenate([[0.0], np.geomspace(0.01, 100.0, args.taus - 1)])
    config = ExactPGConfig(steps=args.steps, optimizer="sgd", learning_rate=args.lr)
    learner = make_exact_pg(game, config)
    trainer = make_trainer(learner)
    start = trainer.init(jax.random.split(jax.random.key(0), args.seeds), len(taus))

    # The same start for NumPy: seed 0 at every tau, in its dense layout.
    rows = dense_rows(game, spec)
    logits = [
        [np.asarray(x[:, 0], np.float64)[:, r, :] for r in per_step]
        for x, per_step in zip(start.logits, rows, strict=True)
    ]
    scale = game.reward_range + taus
    numpy_start = time.perf_counter()
    for _ in range(args.numpy_steps):
        _, grads = numpy_objective_and_gradient(spec, logits, taus)
        logits = [
            [
                x + args.lr * g / scale[:, None, None]
                for x, g in zip(xs, gs, strict=True)
            ]
            for xs, gs in zip(logits, grads, strict=True)
        ]
    numpy_seconds = (time.perf_counter() - numpy_start) / args.numpy_steps
    short, _ = trainer.run(
        start, constant_schedules(jnp.asarray(taus), args.numpy_steps)
    )
    diff = max(
        float(np.abs(np.asarray(x[:, 0])[:, r, :] - ours).max())
        for x, per_step, agent in zip(short.logits, rows, logits, strict=True)
        for r, ours in zip(per_step, agent, strict=True)
    )

    schedules = constant_schedules(jnp.asarray(taus), args.steps)
    project_start = time.perf_counter()
    jax.block_until_ready(trainer.run(start, schedules))
    project_seconds = time.perf_counter() - project_start
    runs = len(taus) * args.seeds
    ours = project_seconds / (args.steps * runs)
    theirs = numpy_seconds / len(taus)
    print(
        f"\nExact gradient ascent on J_tau (SGD, lr {args.lr}), {len(taus)} taus x "
        f"{args.seeds} seeds x {args.steps} steps:\n"
    )
    print(
        "| path | runs x steps timed | seconds (jax: with compile) "
        "| ms per run and step |"
    )
    print("|---|---|---|---|")
    print(
        f"| jax (project learner) | {runs} x {args.steps} | {project_seconds:.1f} "
        f"| {1000 * ours:.4f} |"
    )
    print(
        f"| numpy (this script) | {len(taus)} x {args.numpy_steps} | "
        f"{numpy_seconds * args.numpy_steps:.1f} | {1000 * theirs:.4f} |"
    )
    print(
        f"\nspeed ratio numpy/jax per run and step: {theirs / ours:.1f}x; numpy would "
        f"take {theirs * runs * args.steps / 3600:.1f} h for the same runs and steps"
    )
    print(
        f"logits after {args.numpy_steps} steps from the same start, max |jax - "
        f"numpy|: {diff:.1e} (tolerance {args.rtol * 10:.0e})"
    )
    return diff > args.rtol * 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="policies per evaluation")
    parser.add_argument("--taus", type=int, default=16, help="learner taus")
    parser.add_argument("--seeds", type=int, default=256, help="learner seeds per tau")
    parser.add_argument("--steps", type=int, default=2000, help="learner steps")
    parser.add_argument("--lr", type=float, default=0.5, help="learner SGD step")
    parser.add_argument(
        "--numpy-steps",
        type=int,
        default=5,
        help="NumPy runs one seed per tau this many steps (timed and checked)",
    )
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

    failed |= gradient_ascent(args, spec, game)
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    if failed:
        print(f"FAIL: a path differs from numpy by more than rtol {args.rtol}")
        return 1
    print(f"PASS: every path agrees with numpy within rtol {args.rtol}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
