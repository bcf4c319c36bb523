"""What a planned IPPO run or sweep costs, printed before it starts.

    python -m experiments.estimate                         # env=hanabi, hanabi_cpu
    python -m experiments.estimate env=overcooked          # overcooked_cpu
    python -m experiments.estimate preset=hanabi_paper_full seeds=8
    python -m experiments.estimate --multirun preset=hanabi_paper_full \
        hydra/launcher=slurm_gpu
    python -m experiments.estimate --measure --measure-updates 1 \
        preset=hanabi_paper_full
    python -m experiments.estimate --rate 2e6 --multirun preset=hanabi_paper_full

Takes the overrides of `python -m experiments.ippo` (hydra composes
conf/ippo.yaml the same way); with --multirun, the jobs that the same command
would launch (the preset's `hydra.sweeper.params` and the command line's sweeps,
expanded by hydra's basic sweeper). Trains nothing. For each distinct job shape it
lowers and compiles one chunk of the trainer (`log_every` updates of every seed x
entropy coefficient, the program the run executes) and prints:

- the training state's size (`jax.eval_shape`; a checkpoint per seed is its
  share of it) and XLA's memory analysis of the compiled chunk: arguments,
  outputs, temporaries and the device memory they need together
  (`argument + output + temp - alias`), where the backend reports it;
- env steps per run, per job and over the sweep;
- with --measure, env steps per second measured on this machine's default device
  (one untimed chunk, then --chunks timed ones of --measure-updates updates), or
  with --rate, a rate measured elsewhere (e.g. `steps_per_second` in a run's
  metrics.jsonl), and the projected wall time per job and of the sweep with
  --parallel jobs at a time;
- with --minutes and a rate (measured or given), the updates and env steps per
  run that fit in that wall time per job (`updates_within`): how a time-limited
  job (scripts/gpu_hanabi.py) sizes `stop_after`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.deep.ippo_runs import USER_ERRORS, IPPORunConfig, trainer_of
from experiments.harness.arguments import ArgumentParser
from experiments.harness.compose import (
    CONF_DIR,
    compose_config,
    is_config_error,
    one_line,
)
from experiments.harness.entry import entry_point
from experiments.harness.results import write_json
from experiments.reports.tables import format_report
from marl.deep.ippo import IPPOConfig, seed_keys
from marl.files import OutputDirError, check_writable
from marl.sharding import device_memory_limit, memory_analysis
from marl.trainer import constant_schedules

COST_FREE_FIELDS = frozenset(
    {
        "seed",
        "total_timesteps",
        "gamma",
        "gae_lambda",
        "clip_eps",
        "vf_coef",
        "max_grad_norm",
        "lr",
        "adam_eps",
    }
)
"""IPPOConfig fields that change numbers but not the compiled program's shapes or
work: jobs differing only in them share one estimate."""


class EstimateError(ValueError):
    """A user error: a sweep without --multirun, a bad option."""


def planned_jobs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The task overrides of every job the command would run: one job without
    --multirun; with it, hydra's basic sweeper's expansion of the composed
    config's `hydra.sweeper.params` followed by the command line's sweeps.
    Overrides of hydra's own config (`hydra.*`, `hydra/...`) are left out, as
    hydra leaves them out of a job's overrides."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    task = [o for o in parsed if not o.is_hydra_override()]
    swept = [o.input_line for o in task if o.is_sweep_override()]
    if not multirun:
        if swept:
            raise EstimateError(
                f"{' '.join(swept)} sweeps: pass --multirun, as to experiments.ippo"
            )
        return [[o.input_line for o in task]]
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("ippo", overrides=fixed, return_hydra_config=True)
    params = cfg.hydra.sweeper.get("params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    lines += [o.input_line for o in task]
    return expand_sweeps(parser.parse_overrides(lines))


def expand_sweeps(overrides: list[Any]) -> list[list[str]]:
    """The jobs of a basic sweep over parsed overrides (hydra's public
    `Override` API): every combination of their values, the first override
    varying slowest, a key given twice taking its last value in its first
    place, as hydra's basic sweeper expands them."""
    choices: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.get_value_element_as_str()]
        )
        choices[key] = [f"{key}={value}" for value in values]
    return [list(job) for job in itertools.product(*choices.values())]


def job_config(overrides: list[str]) -> IPPORunConfig:
    """The frozen, validated config of one job, composed as experiments.ippo
    composes it."""
    return compose_config("ippo", overrides, IPPORunConfig)


def cost_key(config: IPPORunConfig) -> tuple[Any, ...]:
    """Everything that fixes the compiled chunk's shapes and work."""
    ippo = tuple(
        (f.name, getattr(config.ippo, f.name))
        for f in dataclasses.fields(IPPOConfig)
        if f.name not in COST_FREE_FIELDS
    )
    shape = (config.env_options, config.seeds, len(config.ent_coefs))
    return (*shape, config.log_every, ippo)


def tree_bytes(tree: Any) -> int:
    """Bytes of every array leaf (abstract or concrete); PRNG keys count their
    raw key data."""
    total = 0
    for leaf in jax.tree.leaves(tree):
        dtype = leaf.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):
            shape = jax.eval_shape(jax.random.key_data, leaf)
            total += math.prod(shape.shape) * shape.dtype.itemsize
        else:
            total += math.prod(leaf.shape) * np.dtype(dtype).itemsize
    return total


def progress(message: str) -> None:
    """A line before a step that takes a while (a compile, the timed chunks),
    on stderr so that the plan on stdout stays clean."""
    print(f"... {message}", file=sys.stderr, flush=True)


def estimate_job(
    config: IPPORunConfig,
    *,
    measure: bool = False,
    measure_updates: int | None = None,
    chunks: int = 2,
) -> dict[str, Any]:
    """The costs of one job: sizes, XLA's memory analysis of one chunk, env steps,
    and with `measure` the env steps per second of `chunks` timed chunks of
    `measure_updates` updates (default: log_every) after an untimed one."""
    trainer = trainer_of(config)
    runs = config.seeds * len(config.ent_coefs)
    keys = seed_keys(config.ippo.seed, config.seeds)
    state = jax.eval_shape(trainer.init, keys, len(config.ent_coefs))

    def schedules(updates: int) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct((len(config.ent_coefs), updates), jnp.float32)

    progress(f"{config.name}: compiling one chunk of {config.log_every} updates")
    began = time.time()
    compiled = trainer.run.lower(state, schedules(config.log_every)).compile()
    compile_seconds = time.time() - began
    state_bytes = tree_bytes(state)
    batch = config.ippo.batch_size
    result: dict[str, Any] = {
        "game": config.environment.title,
        "num_players": config.environment.num_players,
        "network": config.ippo.network,
        "seeds": config.seeds,
        "ent_coefs": len(config.ent_coefs),
        "runs": runs,
        "num_envs": config.ippo.num_envs,
        "num_steps": config.ippo.num_steps,
        "num_updates": config.ippo.num_updates,
        "log_every": config.log_every,
        "env_steps_per_update": batch,
        "env_steps_per_run": config.ippo.num_updates * batch,
        "env_steps_per_job": config.ippo.num_updates * batch * runs,
        "env_steps_per_chunk": config.log_every * batch * runs,
        "state_bytes": state_bytes,
        "checkpoint_bytes_per_seed": state_bytes // config.seeds,
        "memory": memory_analysis(compiled),
        "compile_seconds": round(compile_seconds, 2),
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
    }
    if measure:
        updates = measure_updates or config.log_every
        program = (
            compiled
            if updates == config.log_every
            else trainer.run.lower(state, schedules(updates)).compile()
        )
        # The compiled chunk takes the coefficients as constant schedules.
        values = constant_schedules(jnp.asarray(config.ent_coefs, jnp.float32), updates)
        progress(f"{config.name}: timing {chunks} chunks of {updates} updates")
        states, metrics = program(trainer.init(keys, len(config.ent_coefs)), values)
        jax.block_until_ready((states, metrics))
        began = time.time()
        for _ in range(chunks):
            states, metrics = program(states, values)
        jax.block_until_ready((states, metrics))
        seconds = time.time() - began
        result["measured"] = {
            "updates_per_chunk": updates,
            "chunks": chunks,
            "seconds": round(seconds, 3),
            "steps_per_second": round(chunks * updates * batch * runs / seconds, 1),
        }
    return result


def updates_within(seconds: float, rate: float, steps_per_update: int) -> int:
    """Whole updates of a job that take at most `seconds` at `rate` env steps per
    second over the job, when an update is `steps_per_update` env steps over its
    runs (games x steps x runs)."""
    return max(0, math.floor(seconds * rate / steps_per_update))


def schedule_seconds(job_seconds: list[float], parallel: int) -> float:
    """Wall time of jobs run `parallel` at a time, longest first, each on the
    first free slot."""
    slots = [0.0] * max(1, min(parallel, len(job_seconds)))
    for seconds in sorted(job_seconds, reverse=True):
        slots[slots.index(min(slots))] += seconds
    return max(slots)


def estimate(
    overrides: list[str],
    *,
    multirun: bool = False,
    measure: bool = False,
    measure_updates: int | None = None,
    chunks: int = 2,
    rate: float | None = None,
    parallel: int | None = None,
    minutes: float | None = None,
) -> dict[str, Any]:
    """The plan of a command: its jobs, one estimate per distinct job shape, and
    the sweep's totals (wall time where a rate is measured or given; with
    `minutes`, the updates per job that fit in that time)."""
    jobs = planned_jobs(overrides, multirun)
    configs = [job_config(job) for job in jobs]
    shapes: dict[tuple[Any, ...], dict[str, Any]] = {}
    job_shapes = []
    for config in configs:
        key = cost_key(config)
        if key not in shapes:
            shapes[key] = estimate_job(
                config, measure=measure, measure_updates=measure_updates, chunks=chunks
            )
            shapes[key]["index"] = len(shapes) - 1
        job_shapes.append(shapes[key]["index"])
    estimates = sorted(shapes.values(), key=lambda e: e["index"])
    per_job = []
    for job, config, index in zip(jobs, configs, job_shapes, strict=True):
        shape = estimates[index]
        steps = config.ippo.num_updates * config.ippo.batch_size * shape["runs"]
        job_rate = rate or shape.get("measured", {}).get("steps_per_second")
        fit = None
        if minutes is not None and job_rate:
            per_update = config.ippo.batch_size * shape["runs"]
            fit = min(
                config.ippo.num_updates,
                updates_within(60 * minutes, job_rate, per_update),
            )
        per_job.append(
            {
                "overrides": job,
                "name": config.name,
                "shape": index,
                "env_steps": steps,
                "seconds": steps / job_rate if job_rate else None,
                "updates_within": fit,
                "env_steps_per_run_within": (
                    None if fit is None else fit * config.ippo.batch_size
                ),
            }
        )
    seconds = [j["seconds"] for j in per_job]
    known = all(s is not None for s in seconds)
    parallel = parallel or len(per_job)
    return {
        "jobs": per_job,
        "shapes": estimates,
        "num_jobs": len(per_job),
        "env_steps": sum(j["env_steps"] for j in per_job),
        "rate": rate,
        "rate_source": "given" if rate else ("measured" if measure else None),
        "parallel": parallel,
        "job_seconds_total": sum(seconds) if known else None,
        "wall_seconds": schedule_seconds(seconds, parallel) if known else None,
        "minutes": minutes,
        "device_memory_limit": device_memory_limit(),
    }


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        "experiments.estimate",
        __doc__,
        epilog="Any other argument is a hydra override, as for experiments.ippo.",
    )
    parser.add_argument("overrides", nargs="*", help="hydra overrides")
    parser.add_argument(
        "-m", "--multirun", action="store_true", help="estimate the sweep's jobs"
    )
    parser.add_argument(
        "--measure", action="store_true", help="time chunks on this machine"
    )
    parser.add_argument(
        "--measure-updates",
        type=int,
        help="updates per timed chunk (default: log_every)",
    )
    parser.add_argument("--chunks", type=int, default=2, help="timed chunks")
    parser.add_argument(
        "--rate", type=float, help="env steps per second of one job, for projection"
    )
    parser.add_argument(
        "--parallel", type=int, help="jobs running at once (default: all)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        help="with a rate: the updates per job that fit in this many minutes",
    )
    parser.add_argument("--json", type=pathlib.Path, help="also write the plan here")
    args = parser.parse_args(argv)
    parser.require_at_least(args, measure_updates=1, chunks=1, parallel=1)
    parser.require_above(args, rate=0, minutes=0)
    try:
        if args.minutes is not None and args.rate is None and not args.measure:
            raise EstimateError("--minutes needs a rate: pass --rate or --measure")
        if args.json is not None:  # before the work, not after 20 s of compiling
            if args.json.is_dir():
                raise EstimateError(f"--json {args.json} is a directory, not a file")
            check_writable(args.json.parent)
        plan = estimate(
            args.overrides,
            multirun=args.multirun,
            measure=args.measure,
            measure_updates=args.measure_updates,
            chunks=args.chunks,
            rate=args.rate,
            parallel=args.parallel,
            minutes=args.minutes,
        )
    except (EstimateError, OutputDirError, *USER_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # hydra's composition errors: one line
        if not is_config_error(error):
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    print(format_report(plan))
    if args.json:
        try:
            write_json(args.json, plan)
        except OSError as error:
            print(f"error: cannot write {args.json}: {error.strerror}", file=sys.stderr)
            return 1
    return 0


cli = main.cli
"""The program: `python -m experiments.estimate`, the console script."""

if __name__ == "__main__":
    cli()
