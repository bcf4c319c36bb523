"""Benchmark: the lever-game phase diagram of the exact learner, JAX vs NumPy.

Exact gradient ascent on J_tau(x, y) = x^T A y + tau (H(x) + H(y)) for the lever
game (Hu et al. 2020, "Other-Play", Fig. 1: A = diag(1, ..., 1, 0.9)), for every tau
on a grid times every seed, `--steps` SGD steps each, computed side by side by

  jax        the project's learner as the experiments run it:
             `marl.matrix_pg.fastest_trainer` (the matrix-game fast path) on
             constant tau schedules; with --general also the general exact path
             `make_trainer(make_exact_pg(game, config))`, which every other game uses;
  numpy      the same update written here in NumPy, vectorized over all taus x seeds
             at once (no Python loop over runs), in two styles: plain expressions,
             and in place into preallocated buffers (`out=`); with --general also
             the general path's algorithm in NumPy (the enumeration of terminal
             histories, its gradient by the policy-gradient theorem), so that the
             general path is compared with the same algorithm, not only with the
             closed form.

All paths start from the same initial logits (drawn here with NumPy and injected
into the JAX state) and compute in float32. The script prints the machine, a timing
table (markdown) and the largest difference between the final policies, and exits 1
if that difference exceeds --atol.

    .venv/bin/python -m benchmarks.lever_phase_diagram
    .venv/bin/python -m benchmarks.lever_phase_diagram --taus-count 4 --seeds 64 \
        --steps 200 --general
"""

from __future__ import annotations

import os

# NumPy's BLAS gets one thread (unless the caller says otherwise): a 10 x 10 by
# 10 x runs product gains nothing from a second one (same wall time, measured), and
# its thousands of small sgemm calls stall whenever another process holds a core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# One host device per core, so that the project's trainer can shard its runs over
# the cores (marl.matrix_pg); JAX reads this when it starts, before any jax call.
os.environ.setdefault(
    "XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"
)

import argparse
import collections
import glob
import platform
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from benchmarks.common import load_average, machine_text
from games import TabularGame
from marl.exact_pg import (
    ExactPGConfig,
    PGState,
    Trainer,
    constant_schedules,
    make_exact_pg,
    make_trainer,
)
from marl.matrix_pg import fastest_trainer, payoff_matrix

DTYPE = np.float32
"""Every path computes in float32 (JAX's default), so the timings compare like
with like."""


# --------------------------------------------------------------------------- setup


def tau_grid(
    count: int, *, largest: float = 10.0, smallest: float = 1e-3
) -> np.ndarray:
    """0, then `count - 1` log-spaced values from `smallest` up to `largest`.

    Returns float32[count], ascending; the last value is `largest` when count >= 2.
    """
    if count < 1:
        raise ValueError(f"--taus-count={count} must be >= 1")
    logs = np.geomspace(largest, smallest, count - 1)[::-1]
    return np.concatenate([[0.0], logs]).astype(DTYPE)


def initial_logits(
    game: TabularGame, *, seed: int, num_seeds: int, scale: float
) -> tuple[np.ndarray, ...]:
    """Per agent, float32[num_seeds, A_i] logits from N(0, scale^2).

    The distribution of `marl.exact_pg.init_logits` for a game with one information
    state per agent, drawn with NumPy's generator so that both paths share them.
    """
    rng = np.random.default_rng(seed)
    return tuple(
        (scale * rng.standard_normal((num_seeds, a))).astype(DTYPE)
        for a in game.num_actions
    )


def to_action_major(logits: np.ndarray, num_taus: int) -> np.ndarray:
    """Per-seed float[N, A] -> per-run float[A, T * N]; run r has tau index r // N and
    seed r % N. Actions lead because reductions over a short minor axis (A = 10)
    vectorize poorly, in NumPy and XLA alike."""
    return np.ascontiguousarray(np.tile(logits.T, (1, num_taus)))


def softmax_action_major(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 of float[A, R], in float64 for the comparison."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
    return shifted / shifted.sum(axis=0, keepdims=True)


def batch_major_policy(logits: jax.Array) -> np.ndarray:
    """The trainer's float[T, N, 1, A] logits -> float64[A, T * N] policies."""
    return softmax_action_major(np.asarray(logits).reshape(-1, logits.shape[-1]).T)


# ----------------------------------------------------------------- NumPy reference


def numpy_log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the action axis 0 of float[A, R]."""
    shifted = logits - logits.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def softmax_ascent(
    log_p: np.ndarray, payoff_term: np.ndarray, tau: np.ndarray
) -> np.ndarray:
    """d/d theta [p^T q + tau H(p)] for p = softmax(theta), all float[A, R].

    dJ/dp = q - tau (log p + 1) and the softmax Jacobian diag(p) - p p^T give
    p * (u - <p, u>) with u = q - tau log p (the constant -tau cancels).
    log_p: log p; payoff_term: q, the expected payoff of each action; tau: float[R].
    """
    p = np.exp(log_p)
    u = payoff_term - tau * log_p
    return p * (u - (p * u).sum(axis=0, keepdims=True))


def numpy_scaled_gradient(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """grad J_tau / (reward_range + tau) for both players' logits.

    theta: float[A_0, R], phi: float[A_1, R] (action-major); payoff: float[A_0, A_1];
    run_taus: float[R]. J_tau(x, y) = x^T A y + tau (H(x) + H(y)) with
    x = softmax(theta), y = softmax(phi), the entropy-regularized objective of
    Forkel et al. 2025 (arXiv:2511.22581); the scaling is `marl.exact_pg`'s.
    """
    log_x, log_y = numpy_log_softmax(theta), numpy_log_softmax(phi)
    grad_theta = softmax_ascent(log_x, payoff @ np.exp(log_y), run_taus)
    grad_phi = softmax_ascent(log_y, payoff.T @ np.exp(log_x), run_taus)
    scale = reward_range + run_taus
    return grad_theta / scale, grad_phi / scale


def numpy_train_plain(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`steps` SGD ascent steps theta += lr * scaled gradient, both players at once.

    Shapes as `numpy_scaled_gradient`; returns the final (theta, phi).
    """
    for _ in range(steps):
        grad_theta, grad_phi = numpy_scaled_gradient(
            theta, phi, payoff, run_taus, reward_range
        )
        theta = theta + learning_rate * grad_theta
        phi = phi + learning_rate * grad_phi
    return theta, phi


def _softmax_into(
    logits: np.ndarray, log_p: np.ndarray, p: np.ndarray, row: np.ndarray
) -> None:
    """log_p, p <- log softmax, softmax of float[A, R] logits over axis 0 (one exp per
    element); row: float[1, R] scratch."""
    np.max(logits, axis=0, keepdims=True, out=row)
    np.subtract(logits, row, out=log_p)
    np.exp(log_p, out=p)
    np.sum(p, axis=0, keepdims=True, out=row)
    np.divide(p, row, out=p)
    np.log(row, out=row)
    np.subtract(log_p, row, out=log_p)


def _ascend_into(
    logits: np.ndarray,
    log_p: np.ndarray,
    p: np.ndarray,
    payoff: np.ndarray,
    other: np.ndarray,
    tau: np.ndarray,
    step: np.ndarray,
    u: np.ndarray,
    row: np.ndarray,
) -> None:
    """logits += step * p * (u - <p, u>), u = payoff @ other - tau log p (see
    `softmax_ascent`); log_p is overwritten (used as scratch), p is left intact."""
    np.matmul(payoff, other, out=u)
    np.multiply(log_p, tau, out=log_p)
    np.subtract(u, log_p, out=u)
    np.multiply(p, u, out=log_p)
    np.sum(log_p, axis=0, keepdims=True, out=row)
    np.subtract(u, row, out=u)
    np.multiply(u, p, out=u)
    np.multiply(u, step, out=u)
    np.add(logits, u, out=logits)


def numpy_train_inplace(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`numpy_train_plain` with every intermediate written into preallocated buffers
    (ufunc `out=`), so no array is allocated inside the loop. Same math, same shapes.
    """
    theta, phi = theta.copy(), phi.copy()
    tau = run_taus[None, :]
    step = (learning_rate / (reward_range + tau)).astype(theta.dtype)
    payoff_t = np.ascontiguousarray(payoff.T)
    log_x, x, u_x = (np.empty_like(theta) for _ in range(3))
    log_y, y, u_y = (np.empty_like(phi) for _ in range(3))
    row = np.empty_like(tau)
    for _ in range(steps):
        _softmax_into(theta, log_x, x, row)
        _softmax_into(phi, log_y, y, row)
        # Both players ascend from the same (x, y): _ascend_into leaves p intact.
        _ascend_into(theta, log_x, x, payoff, y, tau, step, u_x, row)
        _ascend_into(phi, log_y, y, payoff_t, x, tau, step, u_y, row)
    return theta, phi


def enumeration_indicators(game: TabularGame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per agent, (visits float[Z, K_i], choices float[Z, K_i * A_i]): how often
    terminal history z passes information state h, and takes action b there."""
    out = []
    for (k, a), infostate, action in zip(
        game.policy_shapes, game.infostate, game.action, strict=True
    ):
        h, b = np.asarray(infostate), np.asarray(action)  # [Z, T_i]
        visits = np.zeros((h.shape[0], k), DTYPE)
        choices = np.zeros((h.shape[0], k * a), DTYPE)
        rows = np.arange(h.shape[0])
        for t in range(h.shape[1]):
            np.add.at(visits, (rows, h[:, t]), 1.0)
            np.add.at(choices, (rows, h[:, t] * a + b[:, t]), 1.0)
        out.append((visits, choices))
    return out


def numpy_enumeration_train(
    logits: list[np.ndarray],
    game: TabularGame,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, ...]:
    """The general path's algorithm in NumPy: per run (float[R, K_i, A_i] logits),
    P(z) = chance(z) prod pi(a | h) over every terminal history, and the gradient
    of J_tau (reach weighting) by the policy-gradient theorem,

      dJ/dtheta[h, b] = sum_z P(z) (R(z) + tau S(z)) (n_zhb - n_zh pi(b | h))
                        - tau reach(h) pi(b | h) (log pi(b | h) + H(h)),

    n_zh, n_zhb the visits of h and choices of b there on z, S(z) the entropy
    summed over z's decisions, reach(h) = sum_z P(z) n_zh; dense products over
    histories (`enumeration_indicators`). Returns the final logits."""
    indicators = enumeration_indicators(game)
    chance = np.asarray(game.chance, DTYPE)
    returns = np.asarray(game.returns, DTYPE)
    tau = run_taus.astype(DTYPE)[:, None]
    step = (learning_rate / (reward_range + tau)).astype(DTYPE)[:, :, None]
    logits = [x.astype(DTYPE).copy() for x in logits]
    for _ in range(steps):
        log_pi = [x - x.max(-1, keepdims=True) for x in logits]
        log_pi = [x - np.log(np.exp(x).sum(-1, keepdims=True)) for x in log_pi]
        pi = [np.exp(x) for x in log_pi]
        entropy = [-(p * lp).sum(-1) for p, lp in zip(pi, log_pi, strict=True)]
        log_prob = np.log(chance)[None, :]
        path_entropy = np.zeros_like(log_prob)
        for lp, h, (visits, choices) in zip(log_pi, entropy, indicators, strict=True):
            log_prob = log_prob + lp.reshape(lp.shape[0], -1) @ choices.T
            path_entropy = path_entropy + h @ visits.T
        prob = np.exp(log_prob)  # [R, Z]
        weight = prob * (returns[None, :] + tau * path_entropy)
        for i, (visits, choices) in enumerate(indicators):
            shape = pi[i].shape
            score = (weight @ choices).reshape(shape) - (weight @ visits)[
                ..., None
            ] * pi[i]
            reach = (prob @ visits)[..., None]
            bonus = -reach * pi[i] * (log_pi[i] + entropy[i][..., None])
            logits[i] += step * (score + tau[..., None] * bonus)
    return tuple(logits)


# ------------------------------------------------------------------------ JAX paths


def jax_initial_state(
    trainer: Trainer, logits: Sequence[np.ndarray], num_taus: int
) -> PGState:
    """The trainer's batch init, its logits replaced by `logits` (per agent
    float[N, A_i], one information state) broadcast over taus: leaves [T, N, ...].

    Safe for SGD without gradient noise only: the optax state is empty and the key
    unused, so nothing else depends on the logits drawn by init.
    """
    keys = jax.random.split(jax.random.key(0), logits[0].shape[0])
    states = trainer.init(keys, num_taus)
    injected = tuple(
        jnp.broadcast_to(jnp.asarray(new)[None, :, None, :], old.shape)
        for new, old in zip(logits, states.logits, strict=True)
    )
    return states._replace(logits=injected)


# ------------------------------------------------------------------------- harness


class Clock(NamedTuple):
    """How long one call took."""

    wall: float  # seconds
    cpu: float  # CPU seconds of this process, all threads: unlike wall time, barely
    # inflated when other processes compete for the cores


class Timing(NamedTuple):
    """One row of the table."""

    name: str
    clock: Clock
    policies: tuple[np.ndarray, ...] | None  # per agent float64[A_i, T * N], or None


def timed(fn: Callable[[], Any]) -> tuple[Clock, Any]:
    """The time fn() takes until its (JAX or NumPy) result is ready, and the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    return Clock(time.perf_counter() - wall, time.process_time() - cpu), out


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[Clock, Any]:
    """The fastest (in wall time) of `repeats` timed calls of fn, and its result."""
    runs = [timed(fn) for _ in range(repeats)]
    return min(runs, key=lambda run: run[0].wall)


def clock_text(clock: Clock) -> str:
    return f"{clock.wall:.4g} s ({clock.cpu:.4g} CPU s)"


def time_jax(
    name: str, fn: Callable[[], Any], policies: Callable[[Any], tuple], repeats: int
) -> list[Timing]:
    """A compile + run row (the first call) and a run-only row (the best of `repeats`
    further calls with the same shapes, which reuse the compiled executable)."""
    first, _ = timed(fn)
    print(f"  {name}, compile + run: {clock_text(first)}", flush=True)
    again, out = best_of(repeats, fn)
    print(f"  {name}, run only: {clock_text(again)}", flush=True)
    return [
        Timing(f"{name}, compile + run", first, None),
        Timing(f"{name}, run only", again, policies(out)),
    ]


def time_project(
    name: str,
    trainer: Trainer,
    config: ExactPGConfig,
    logits: Sequence[np.ndarray],
    taus: np.ndarray,
    repeats: int,
) -> list[Timing]:
    """A project trainer from `logits` (per agent float[N, A_i]), timed as
    `time_jax`."""
    schedules = constant_schedules(jnp.asarray(taus), config.steps)
    states = jax_initial_state(trainer, logits, len(taus))

    def run() -> PGState:
        return trainer.run(states, schedules)

    def policies(final: PGState) -> tuple[np.ndarray, ...]:
        return tuple(batch_major_policy(x) for x in final.logits)

    return time_jax(name, run, policies, repeats)


def profile_project(
    game: TabularGame,
    config: ExactPGConfig,
    logits: Sequence[np.ndarray],
    taus: np.ndarray,
    *,
    steps: int,
    top: int = 12,
) -> list[str]:
    """Where the project's run spends its time, from a `jax.profiler` trace of a
    compiled run of `steps` steps at the full batch: the `top` XLA ops by time
    summed over threads, per step, with their result shape and JAX op name."""
    trainer = make_trainer(make_exact_pg(game, config))
    schedules = constant_schedules(jnp.asarray(taus), steps)
    states = jax_initial_state(trainer, logits, len(taus))
    hlo = trainer.run.lower(states, schedules).compile().as_text()  # type: ignore[attr-defined]
    jax.block_until_ready(trainer.run(states, schedules))
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir)
        jax.block_until_ready(trainer.run(states, schedules))
        jax.profiler.stop_trace()
        [path] = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)
        data = jax.profiler.ProfileData.from_file(path)
    op_ns: collections.Counter[str] = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLA"):  # XLA's worker threads
                for event in line.events:
                    if not event.name.startswith(("ThunkExecutor", "while")):
                        op_ns[event.name] += event.duration_ns
    total = sum(op_ns.values())
    lines = [
        f"profile of jax marl.exact_pg ({steps} steps): "
        f"{total / 1e6 / steps:.3g} ms of op time per step, all threads",
        "| op | result | ms/step | share | JAX op name |",
        "|---|---|---:|---:|---|",
    ]
    for name, ns in op_ns.most_common(top):
        found = re.search(rf"%{re.escape(name)} = (\S+) (.*)", hlo)
        shape, rest = found.groups() if found else ("?", "")
        named = re.search(r'op_name="([^"]*)"', rest)
        op = named.group(1) if named else ""
        op = op.split("/while/body/")[-1]
        lines.append(
            f"| {name} | {shape} | {ns / 1e6 / steps:.3g} | "
            f"{100 * ns / total:.1f}% | {op} |"
        )
    return lines


def time_numpy(
    initial: tuple[np.ndarray, np.ndarray],
    payoff: np.ndarray,
    run_taus: np.ndarray,
    hyper: dict[str, Any],
    repeats: int,
) -> list[Timing]:
    """Both NumPy implementations, best of `repeats` calls each."""
    rows = []
    for name, train_fn in (
        ("numpy, plain", numpy_train_plain),
        ("numpy, in place", numpy_train_inplace),
    ):
        clock, final = best_of(
            repeats, lambda fn=train_fn: fn(*initial, payoff, run_taus, **hyper)
        )
        print(f"  {name}: {clock_text(clock)}", flush=True)
        rows.append(Timing(name, clock, tuple(map(softmax_action_major, final))))
    return rows


def table_lines(rows: Sequence[Timing], updates: int) -> list[str]:
    """A markdown table: wall and CPU seconds, updates per wall second, and speed
    relative to the fastest NumPy row (its seconds / the row's seconds, > 1 is
    faster than NumPy) by wall time and by CPU time."""
    numpy_rows = [row for row in rows if row.name.startswith("numpy")]
    fastest = min(numpy_rows, key=lambda row: row.clock.wall)
    lines = [
        f"| implementation | seconds | CPU seconds | updates/s "
        f"| speed vs {fastest.name} | by CPU time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        wall, cpu = row.clock
        lines.append(
            f"| {row.name} | {wall:.4g} | {cpu:.4g} | {updates / wall:.3g} "
            f"| {fastest.clock.wall / wall:.3g}x | {fastest.clock.cpu / cpu:.3g}x |"
        )
    project = next(row for row in rows if row.name.endswith("fast path), run only"))
    lines.append("")
    for row in numpy_rows:
        target = " (target >= 5x)" if row.name == "numpy, plain" else ""
        lines.append(
            f"speed ratio JAX/NumPy ({project.name} vs {row.name}): "
            f"{row.clock.wall / project.clock.wall:.3g}x{target}"
        )
    general = [row for row in rows if row.name.endswith("general path), run only")]
    same = [row for row in numpy_rows if row.name.endswith("enumeration")]
    if general and same:
        lines.append(
            f"speed ratio, the same algorithm ({general[0].name} vs {same[0].name}): "
            f"{same[0].clock.wall / general[0].clock.wall:.3g}x"
        )
    return lines


def policy_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """max |a - b| over all entries of two float[A, R] policies, and the number of
    runs (columns) that differ anywhere by more than 1e-3."""
    diff = np.abs(a - b)
    return float(diff.max()), int((diff.max(axis=0) > 1e-3).sum())


def agreement_lines(rows: Sequence[Timing], atol: float) -> tuple[list[str], bool]:
    """Every row's final policies against the project's, and whether all are within
    `atol`."""
    rows = [row for row in rows if row.policies is not None]
    reference, others = rows[0], rows[1:]
    assert reference.policies is not None
    lines, passed = [], True
    for row in others:
        assert row.policies is not None
        worst, differing = max(
            policy_difference(a, b)
            for a, b in zip(reference.policies, row.policies, strict=True)
        )
        ok = worst <= atol
        passed &= ok
        lines.append(
            f"max |policy({reference.name}) - policy({row.name})| = {worst:.2e}, "
            f"{differing} runs differ by > 1e-3: {'PASS' if ok else 'FAIL'} "
            f"(atol {atol:g})"
        )
    return lines, passed


def machine_lines() -> list[str]:
    """What the numbers were measured on."""
    return [
        f"machine: {machine_text()}",
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"jax {jax.__version__}, backend {jax.default_backend()}, "
        f"devices {jax.devices()}",
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; "
        f"load average (1, 5, 15 min) {load_average()}",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lever_phase_diagram",
        description="Lever-game phase diagram: marl.exact_pg (JAX) vs NumPy.",
    )
    parser.add_argument(
        "--taus-count", type=int, default=16, help="0 and a log grid up to 10"
    )
    parser.add_argument("--seeds", type=int, default=1024, help="seeds per tau")
    parser.add_argument("--steps", type=int, default=5000, help="SGD steps per run")
    parser.add_argument("--seed", type=int, default=0, help="for the initial logits")
    parser.add_argument(
        "--general",
        action="store_true",
        help="also time the general (history-enumeration) path of marl.exact_pg",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run-only timings are the best of this many calls",
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="largest allowed |policy difference| (float32)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="STEPS",
        help="also profile the project's run for this many steps (e.g. 100)",
    )
    args = parser.parse_args(argv)
    for name in ("taus_count", "seeds", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    game = games.make("lever")
    config = ExactPGConfig(steps=args.steps)
    if config.optimizer != "sgd" or config.grad_noise or config.stay_equivariant:
        raise ValueError("the NumPy reference implements plain exact SGD only")
    taus = tau_grid(args.taus_count)
    updates = len(taus) * args.seeds * args.steps
    payoff = payoff_matrix(game)
    logits = initial_logits(
        game, seed=args.seed, num_seeds=args.seeds, scale=config.init_scale
    )
    initial = tuple(to_action_major(x, len(taus)) for x in logits)
    run_taus = np.repeat(taus, args.seeds)
    hyper = dict(
        steps=args.steps,
        learning_rate=config.learning_rate,
        reward_range=game.reward_range,
    )

    print("\n".join(machine_lines()))
    print(
        f"lever game: {len(taus)} taus x {args.seeds} seeds x {args.steps} steps = "
        f"{updates:.4g} updates, all float32, lr {config.learning_rate}, "
        f"reward_range {game.reward_range}"
    )
    print(f"taus: {np.array2string(taus, precision=4, max_line_width=200)}", flush=True)

    rows = time_project(
        "jax project (matrix_pg fast path)",
        fastest_trainer(game, config),
        config,
        logits,
        taus,
        args.repeats,
    )
    if args.general:
        rows += time_project(
            "jax project (exact_pg general path)",
            make_trainer(make_exact_pg(game, config)),
            config,
            logits,
            taus,
            args.repeats,
        )
    rows += time_numpy(initial, payoff, run_taus, hyper, args.repeats)
    if args.general:
        per_run = [np.tile(x[:, None, :], (len(taus), 1, 1)) for x in logits]

        def enumeration() -> tuple[np.ndarray, ...]:
            return numpy_enumeration_train(per_run, game, run_taus, **hyper)

        clock, final = best_of(args.repeats, enumeration)
        name = "numpy, the general path's enumeration"
        print(f"  {name}: {clock_text(clock)}", flush=True)
        policies = tuple(softmax_action_major(x[:, 0, :].T) for x in final)
        rows.append(Timing(name, clock, policies))

    if args.profile:
        profile = profile_project(game, config, logits, taus, steps=args.profile)
        print("", *profile, sep="\n")

    agreement, passed = agreement_lines(rows, args.atol)
    print("", *table_lines(rows, updates), "", *agreement, sep="\n")
    print(f"load average at the end: {load_average()}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
