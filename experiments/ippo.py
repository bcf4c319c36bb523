"""IPPO on any registered environment: many seeds (and entropy coefficients) in
one jitted batch.

    python -m experiments.ippo                      # env=hanabi, its CPU preset
    python -m experiments.ippo env=overcooked       # Overcooked V2, its CPU preset
    python -m experiments.ippo env=overcooked env.layout=fun_symmetries
    python -m experiments.ippo seeds=8 ippo.total_timesteps=4096000
    python -m experiments.ippo --multirun preset=hanabi_paper_full   # GPU sweep
    python -m experiments.ippo resume=true hydra.run.dir=outputs/ippo/<run>
    python -m experiments.ippo preset=hanabi_3c3r_cpu ent_coefs=[0.01] \
        init_from=outputs/ippo/<run>@1200 init_coefs=[0.1]   # a switch control
    python -m experiments.ippo --multirun preset=hanabi_paper_full \
        hydra/launcher=slurm_gpu resume=auto hydra.sweep.dir=multirun/ippo/<name>

The environment is the config group `env` (conf/env/<name>.yaml, its options
under `env.`), the preset the group `preset` (conf/preset/; default
`<env>_cpu`). Writes into the hydra run directory: `config.yaml` (the resolved
config), `metrics.jsonl` (one line per chunk of updates),
`checkpoints/<seed>/step_*.npz` and, when the run completes, `results.json`
(docs/ippo.md; the run directory is experiments/deep/ippo_runs.py's).
"""

from __future__ import annotations

import logging
import math
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import OmegaConf

from experiments.deep.ippo_directory import IPPODirectory, read_metrics
from experiments.deep.ippo_runs import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    USER_ERRORS,
    IPPORunConfig,
    TrainingDiverged,
    chunk_ends,
    trainer_of,
)
from experiments.deep.loggers import CHUNK_CURVES, check_logger, open_logger
from experiments.harness.compose import (
    CONF_DIR,
    overridden_preset_fields,
    override_key,
)
from experiments.harness.entry import hydra_entry_point
from experiments.harness.help import hydra_help
from experiments.harness.logs import duration_text, eta_text
from experiments.harness.results import RESULTS_FILE, run_metadata
from experiments.harness.rundir import Job
from games.envs.contract import ENVIRONMENTS
from marl.deep.checkpoint import checkpoint_path
from marl.deep.ippo import IPPOState, Metrics, seed_keys
from marl.fields import ConfigError
from marl.files import writes_here
from marl.trainer import Trainer, constant_schedules

log = logging.getLogger("experiments.ippo")


def first_non_finite(metrics: Metrics, config: IPPORunConfig) -> str | None:
    """Where a chunk's losses or gradient norms first turned NaN or infinite
    (`ent_coef ..., seed ...: <metric>`), or None when all are finite."""
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        values = np.asarray(getattr(metrics, name))  # [E, S, updates]
        bad = ~np.isfinite(values)
        if bad.any():
            e, s = np.argwhere(bad.reshape(*values.shape[:2], -1).any(-1))[0]
            return f"ent_coef {config.ent_coefs[e]}, seed {s}: {name} is not finite"
    return None


def _json_number(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def chunk_record(
    metrics: Metrics, update: int, config: IPPORunConfig, seconds: float
) -> dict[str, Any]:
    """One metrics.jsonl line: per run ([E][S] nested lists), means over the
    chunk's updates; returns are per episode ended in the chunk."""
    arrays = jax.tree.map(np.asarray, metrics)
    episodes = arrays.episodes.sum(-1)
    returns = np.where(
        episodes > 0, arrays.return_sum.sum(-1) / np.maximum(episodes, 1), np.nan
    )
    steps = int(np.prod(arrays.episodes.shape)) * config.ippo.batch_size

    def table(x: np.ndarray) -> list[list[float | None]]:
        return [[_json_number(v) for v in row] for row in x]

    return {
        "update": update,
        "env_steps": update * config.ippo.batch_size,
        "seconds": round(seconds, 3),
        "steps_per_second": round(steps / max(seconds, 1e-9), 1),
        "ent_coefs": config.ent_coefs,
        "return": table(returns),
        "episodes": episodes.tolist(),
        **{name: table(getattr(arrays, name).mean(-1)) for name in CHUNK_CURVES},
    }


def _mean_of_known(values: list[float | None]) -> float | None:
    """The mean of the values that are not None (None if there are none)."""
    known = [v for v in values if v is not None]
    return _json_number(float(np.mean(known))) if known else None


def _summary(record: dict[str, Any]) -> str:
    returns = [r for row in record["return"] for r in row if r is not None]
    entropy = [e for row in record["entropy"] for e in row if e is not None]
    ret = "no episode ended"
    if returns:
        ret = f"return {np.mean(returns):.3f} (min {min(returns):.3f}, "
        ret += f"max {max(returns):.3f})"
    return f"{ret}, entropy {np.mean(entropy):.3f}" if entropy else ret


def train(
    config: IPPORunConfig, directory: IPPODirectory, trainer: Trainer | None = None
) -> tuple[IPPOState, dict[str, Any] | None, bool]:
    """Trains (or resumes) every run, chunk by chunk: each chunk of `log_every`
    updates is one jitted call for every seed and coefficient, then a metrics
    line, a progress line and, when due, a checkpoint (the directory's files
    are `IPPODirectory`'s).

    Returns the states [E, S], the last metrics record and whether the run is
    complete (False when `stop_after` ended it early).
    """
    trainer = trainer or trainer_of(config)
    run_dir = directory.path
    state, done = directory.start(trainer, seed_keys(config.ippo.seed, config.seeds))
    log_overridden_preset(config.name)
    coefs = jnp.asarray(config.ent_coefs, jnp.float32)
    total = directory.total
    log.info(
        "%s: %s; %d seeds x %d entropy coefficients %s; %d updates of "
        "%d env steps per run",
        config.name,
        config.describe_env(),
        config.seeds,
        len(config.ent_coefs),
        config.ent_coefs,
        total,
        config.ippo.batch_size,
    )
    log.info(
        "%s: compiling the training chunk, then %d updates per line",
        config.name,
        config.log_every,
    )
    plain = OmegaConf.to_container(OmegaConf.structured(config))
    with (
        open_logger(
            config.logger if writes_here() else None,
            run_dir,
            config.name,
            plain,  # type: ignore[arg-type]
        ) as log_chunk,
        directory.kept_on_interrupt(),
    ):
        for index, end in enumerate(chunk_ends(done, total, config.log_every)):
            began = time.time()
            after, metrics = trainer.run(state, constant_schedules(coefs, end - done))
            jax.block_until_ready(metrics)
            diverged = first_non_finite(metrics, config)
            if diverged:  # nothing of this chunk is kept; the state before it is
                directory.save(state, done)
                raise TrainingDiverged(
                    f"training turned non-finite in updates {done + 1}-{end} "
                    f"({diverged}); stopped, the last checkpoint is update "
                    f"{directory.saved} (lower ippo.lr or ippo.max_grad_norm)"
                )
            line = chunk_record(metrics, end, config, time.time() - began)
            directory.record(line, after, end)
            log_chunk(line)
            updates, done, state = end - done, end, after
            if index == 0:
                timed = (time.time(), end)  # later chunks: no compilation
                first = (line["seconds"], updates)
            note = " (with compilation)" if index == 0 else ""
            if index == 1 and updates == first[1]:  # the same chunk, compiled
                compiling = max(0.0, first[0] - line["seconds"])
                note = f" (the first chunk compiled in ~{duration_text(compiling)})"
            log.info(
                "%s: update %d/%d, %s env steps per run, %.0f steps/s%s, %s%s",
                config.name,
                end,
                total,
                f"{line['env_steps']:,}",
                line["steps_per_second"],
                note,
                _summary(line),
                eta_text(time.time() - timed[0], end - timed[1], total - timed[1]),
            )
            stopping = config.stop_after is not None and end >= config.stop_after
            if directory.checkpoint_due(end) or stopping:
                directory.save(state, end)
            if stopping and end < total:
                log.info(
                    "%s: stopped after update %d; continue with resume=true "
                    "hydra.run.dir=%s",
                    config.name,
                    end,
                    run_dir,
                )
                return state, line, False
    return state, directory.last, True


def run(config: IPPORunConfig, where: pathlib.Path | Job) -> dict[str, Any] | None:
    """Trains and writes every output of one run in `where` (a run directory,
    or a hydra job's); returns the results (None if the run stopped early)."""
    started = time.time()
    check_logger(config.logger)  # before the run directory is accepted
    directory = IPPODirectory(where, config)
    run_dir = directory.path
    if config.resume == "auto":
        finished = directory.finished()  # another training's results are refused
        if finished is not None:
            directory.accept()  # the resubmission, in the run's log
            log.info(
                "%s: already finished (%s); nothing to do",
                config.name,
                run_dir / RESULTS_FILE,
            )
            return finished
    _, last, complete = train(config, directory)
    if not complete:
        return None
    env = config.environment
    final = last["return"] if last else None
    entropy = last["entropy"] if last else None
    step = config.ippo.num_updates
    runs = [
        {
            "ent_coef": coef,
            "seed": seed,
            "final_return": final[e][seed] if final else None,
            "final_entropy": entropy[e][seed] if entropy else None,
            "checkpoint": str(
                checkpoint_path(pathlib.Path(CHECKPOINT_DIR) / str(seed), step)
            ),
        }
        for e, coef in enumerate(config.ent_coefs)
        for seed in range(config.seeds)
    ]
    results = {
        "kind": "ippo_training",
        "learner": "ippo",
        "name": config.name,
        "env": config.env,
        "game": env.title,
        "num_players": env.num_players,
        "num_seeds": config.seeds,
        "ent_coefs": config.ent_coefs,
        "num_updates": step,
        "env_steps_per_run": step * config.ippo.batch_size,
        "final_return": final,
        "final_return_mean": [_mean_of_known(row) for row in final] if final else None,
        "final_return_window_updates": config.log_every,
        "runs": runs,
        "config": OmegaConf.to_container(OmegaConf.structured(config)),
        "metadata": {
            **run_metadata(),
            "seconds": round(time.time() - started, 2),
            "training_seconds_all_sessions": round(
                sum(r["seconds"] for r in read_metrics(run_dir / METRICS_FILE)), 2
            ),
        },
    }
    directory.write_results(results)
    log.info(
        "%s: final return per entropy coefficient %s; wrote %s",
        config.name,
        results["final_return_mean"],
        run_dir / RESULTS_FILE,
    )
    return results


def refuse_missing_preset() -> None:
    """Refuses a preset named on the command line that does not exist (the
    preset group is optional so that an environment needs no `<env>_cpu`; only
    that default may be missing)."""
    from hydra.core.hydra_config import HydraConfig

    choices = HydraConfig.get().runtime.choices
    preset, env = choices.get("preset"), choices.get("env")
    presets = CONF_DIR / "preset"
    missing = not (presets / f"{preset}.yaml").is_file()
    if preset not in (None, f"{env}_cpu") and missing:
        known = ", ".join(sorted(p.stem for p in presets.glob("*.yaml")))
        raise ConfigError(f"preset={preset}: no such preset (there are: {known})")


def run_checked_preset(config: IPPORunConfig, job: Job) -> Any:
    """`run`, after `refuse_missing_preset`: the body of the hydra entry point."""
    refuse_missing_preset()
    return run(config, job)


def log_overridden_preset(name: str) -> None:
    """In a hydra job: one line naming the values of its preset that the command
    line replaced (a warning when it replaced all of them: the run then keeps
    only the preset's name)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    preset = hydra_cfg.runtime.choices.get("preset")
    overrides = list(hydra_cfg.overrides.task)
    named = any(override_key(o) == "name" for o in overrides)
    if (
        preset is None
        or named
        or not (CONF_DIR / "preset" / f"{preset}.yaml").is_file()
    ):
        return
    count, replaced = overridden_preset_fields(preset, overrides)
    if replaced and len(replaced) == count:
        log.warning(
            "%s: every value of preset %s is overridden (%s); the run keeps only "
            "its name (name=... names it)",
            name,
            preset,
            ", ".join(replaced),
        )
    elif replaced:
        log.info(
            "%s: preset %s with %d of its %d values overridden (%s)",
            name,
            preset,
            len(replaced),
            count,
            ", ".join(replaced),
        )


def help_text() -> str:
    """`python -m experiments.ippo --help`."""
    presets = sorted(p.stem for p in (CONF_DIR / "preset").glob("*.yaml"))
    return hydra_help(
        "experiments.ippo",
        __doc__,
        "[env=NAME] [preset=NAME] [size=tiny] [key=value ...] [-m]",
        [
            (
                "Environments (env=..., options env.<key>=... in conf/env/<name>.yaml)",
                ", ".join(ENVIRONMENTS),
            ),
            (
                "Presets (preset=...; default <env>_cpu where it exists)",
                ", ".join(presets),
            ),
            (
                "Sizes (size=..., after the preset; conf/size/)",
                ", ".join(sorted(p.stem for p in (CONF_DIR / "size").glob("*.yaml")))
                + ": the CPU check's size of any run (its length stays)",
            ),
        ],
        IPPORunConfig,
        {"name": "${env.name} (a preset names its runs)"},
    )


main = hydra_entry_point(
    "ippo", IPPORunConfig, run_checked_preset, USER_ERRORS, help_text
)
cli = main.cli
"""The program: `python -m experiments.ippo`, the console script."""


if __name__ == "__main__":
    # Through the importable module, not __main__: launchers (joblib's loky
    # processes, submitit's SLURM jobs) pickle the task function by reference.
    from experiments import ippo

    ippo.cli()
