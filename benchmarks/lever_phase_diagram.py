"""Benchmark: the lever-game phase diagram of the exact learner, JAX vs NumPy.

Exact gradient ascent on J_tau(x, y) = x^T A y + tau (H(x) + H(y)) for the lever
game (Hu et al. 2020, "Other-Play", Fig. 1: A = diag(1, ..., 1, 0.9)), for every tau
on a grid times every seed, `--steps` SGD steps each, computed side by side by

  jax        the project's learner as the experiments run it:
             `marl.tabular.matrix_pg.fastest_trainer` (the matrix-game fast path) on
             constant tau schedules; with --general also the general exact path
             `make_trainer(make_exact_pg(game, config))`, which every other game uses;
  numpy      the same update written in NumPy (`benchmarks.lever_numpy`),
             vectorized over all taus x seeds at once (no Python loop over
             runs), in two styles: plain expressions, and in place into
             preallocated buffers (`out=`); with --general also the general
             path's algorithm in NumPy (the enumeration of terminal histories,
             its gradient by the policy-gradient theorem), so that the general
             path is compared with the same algorithm, not only with the
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
# One host device per core this process may use (`taskset -c 0` makes one: the
# per-core comparison with NumPy's one thread), so that the project's trainer can
# shard its runs over the cores (marl.tabular.matrix_pg); JAX reads this when it
# starts, before any jax call; a count already in XLA_FLAGS wins, other flags
# there are kept.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(
        [
            os.environ.get("XLA_FLAGS", ""),
            f"--xla_force_host_platform_device_count={len(os.sched_getaffinity(0))}",
        ]
    ).strip()

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
from benchmarks.lever_numpy import (
    DTYPE,
    numpy_enumeration_train,
    numpy_train_inplace,
    numpy_train_plain,
)
from experiments.harness.arguments import ArgumentParser
from experiments.reports.study_tables import markdown_grid
from games.tabular import TabularGame
from marl.tabular.exact_pg import ExactPGConfig, PGState, make_exact_pg
from marl.tabular.matrix_pg import fastest_trainer, payoff_matrix
from marl.trainer import Trainer, constant_schedules, make_trainer

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

    The distribution of `marl.tabular.exact_pg.init_logits` for a game with one
    information state per agent, drawn with NumPy's generator so that both paths
    share them.
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
        return trainer.run(states, schedules)[0]

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
        f"profile of jax marl.tabular.exact_pg ({steps} steps): "
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
    header = [
        "implementation",
        "seconds",
        "CPU seconds",
        "updates/s",
        f"speed vs {fastest.name}",
        "by CPU time",
    ]
    cells = [
        [
            row.name,
            f"{row.clock.wall:.4g}",
            f"{row.clock.cpu:.4g}",
            f"{updates / row.clock.wall:.3g}",
            f"{fastest.clock.wall / row.clock.wall:.3g}x",
            f"{fastest.clock.cpu / row.clock.cpu:.3g}x",
        ]
        for row in rows
    ]
    lines = markdown_grid(header, cells, "-rrrrr").split("\n")
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
    parser = ArgumentParser("benchmarks.lever_phase_diagram", __doc__)
    parser.add_argument(
        "--taus-count", type=int, default=16, help="0 and a log grid up to 10"
    )
    parser.add_argument("--seeds", type=int, default=1024, help="seeds per tau")
    parser.add_argument("--steps", type=int, default=5000, help="SGD steps per run")
    parser.add_argument("--seed", type=int, default=0, help="for the initial logits")
    parser.add_argument(
        "--general",
        action="store_true",
        help="also time the general (history-enumeration) path of "
        "marl.tabular.exact_pg",
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
    parser.require_at_least(args, taus_count=1, seeds=1, steps=1, repeats=1)
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
