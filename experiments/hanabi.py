"""IPPO on Hanabi: many seeds (and entropy coefficients) in one jitted batch.

    python -m experiments.hanabi                              # cpu_small preset
    python -m experiments.hanabi seeds=8 ippo.total_timesteps=4096000
    python -m experiments.hanabi --multirun hanabi=paper_full  # GPU, gae_lambda sweep
    python -m experiments.hanabi resume=true hydra.run.dir=outputs/hanabi/<run>
    python -m experiments.hanabi --multirun hanabi=paper_full hydra/launcher=slurm_gpu
        resume=auto hydra.sweep.dir=multirun/hanabi/<name>   # docs/cluster.md

Writes into the hydra run directory: `config.yaml` (the resolved config),
`metrics.jsonl` (one line per chunk of updates), `checkpoints/<seed>/step_*.npz`
and, when the run completes, `results.json` (docs/ippo.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import pathlib
import time
from typing import Any

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from experiments.config import (
    CONF_DIR,
    hydra_entry,
    record_run,
    run_or_exit,
    to_config,
    writable,
)
from experiments.results import (
    RESULTS_FILE,
    read_results,
    run_metadata,
    write_json,
)
from games import hanabi
from games.hanabi.environment import environment
from marl.checkpoint import (
    CheckpointError,
    CorruptCheckpointError,
    checkpoint_path,
    config_hash,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from marl.exact_pg import ConfigError
from marl.files import atomic_write_bytes
from marl.ippo import (
    IPPOConfig,
    IPPOState,
    Metrics,
    Trainer,
    make_trainer,
    seed_keys,
)
from marl.sharding import place_grid, runs_mesh

log = logging.getLogger("experiments.hanabi")
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"


class TrainingDiverged(Exception):
    """Training whose losses or gradients turned NaN or infinite."""


USER_ERRORS = (ConfigError, CheckpointError, TrainingDiverged)


@dataclasses.dataclass(frozen=True)
class HanabiRunConfig:
    """One IPPO run on Hanabi: `seeds` x `ent_coefs` learners in one jitted batch."""

    name: str = "cpu_small"
    """Label of the run (the preset's name); part of the run directory's name."""
    preset: str = "Hanabi-Very-Small"
    """The game: a `games.hanabi.PRESETS` name (docs/hanabi.md)."""
    num_players: int = 2
    """Players, 2 to 5."""
    seeds: int = 2
    """Independent runs per entropy coefficient (a vmap axis); seed k's key is
    `marl.ippo.seed_keys(ippo.seed, seeds)[k]`."""
    ent_coefs: list[float] | None = None
    """Entropy coefficients trained side by side (a vmap axis, the seeds shared);
    default: [ippo.ent_coef]."""
    ippo: IPPOConfig = dataclasses.field(default_factory=IPPOConfig)
    log_every: int = 10
    """Updates per jitted chunk; progress is logged and a line appended to
    metrics.jsonl after each chunk."""
    checkpoint_every: int = 100
    """Updates between checkpoints, a multiple of log_every; the last update is
    always checkpointed."""
    keep_checkpoints: int = 2
    """Checkpoints kept per seed (older ones are deleted)."""
    resume: bool | str = False
    """true: continue from the latest checkpoint common to every seed in the run
    directory (pass the directory as hydra.run.dir); it ends bit-identical to an
    uninterrupted run. auto: the same when there are checkpoints, a fresh start
    when there are none, and nothing at all (the run is skipped) when the
    directory already holds the results.json of this configuration; for jobs
    that a cluster may kill and resubmit with the same command (docs/cluster.md).
    false: refuse a directory that has checkpoints."""
    stop_after: int | None = None
    """End this invocation at the first chunk boundary at or after this many
    updates, with a checkpoint, as a time-limited job would; resume=true goes on."""

    def __post_init__(self) -> None:
        try:
            hanabi.make_params(self.preset, self.num_players)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        coefs = self.ent_coefs
        rules = {
            "seeds": (self.seeds >= 1, "must be >= 1"),
            "ent_coefs": (
                coefs is None
                or (len(coefs) > 0 and all(math.isfinite(c) and c >= 0 for c in coefs)),
                "must be a non-empty list of finite numbers >= 0",
            ),
            "log_every": (self.log_every >= 1, "must be >= 1"),
            "checkpoint_every": (
                self.checkpoint_every >= 1
                and self.log_every >= 1
                and self.checkpoint_every % self.log_every == 0,
                "must be a positive multiple of log_every",
            ),
            "keep_checkpoints": (self.keep_checkpoints >= 1, "must be >= 1"),
            "resume": (
                self.resume in (True, False, "auto"),
                "must be true, false or auto",
            ),
            "stop_after": (
                self.stop_after is None or self.stop_after >= 1,
                "must be null or >= 1",
            ),
        }
        for field, (ok, rule) in rules.items():
            if not ok:
                raise ConfigError(
                    f"{field}={getattr(self, field)!r} is impossible ({rule})"
                )

    @property
    def coefs(self) -> list[float]:
        """The entropy coefficients trained, [E]."""
        return list(self.ent_coefs or [self.ippo.ent_coef])

    @property
    def game(self) -> hanabi.HanabiParams:
        return hanabi.make_params(self.preset, self.num_players)

    def training_hash(self) -> str:
        """Hash of everything that determines the runs' trajectories, stored in and
        checked against every checkpoint."""
        return config_hash(
            {
                "ippo": dataclasses.asdict(self.ippo),
                "preset": self.preset,
                "num_players": self.num_players,
                "seeds": self.seeds,
                "ent_coefs": self.coefs,
                "log_every": self.log_every,  # chunk boundaries: same programs
            }
        )


def register_schemas() -> None:
    ConfigStore.instance().store(
        name="hanabi_schema", node=writable(OmegaConf.structured(HanabiRunConfig))
    )


@functools.lru_cache(maxsize=4)
def cached_trainer(ippo: IPPOConfig, params: hanabi.HanabiParams) -> Trainer:
    """One jitted trainer per (config, game) in a process, so that runs in one
    process (a resume after a stop, an in-process sweep) compile once."""
    return make_trainer(ippo, environment(params))


def chunk_ends(start: int, total: int, every: int) -> list[int]:
    """Chunk boundaries after `start`: multiples of `every`, and `total`."""
    ends = list(range((start // every + 1) * every, total, every))
    return [*ends, total] if start < total else []


def _per_seed(state: IPPOState, seed: int) -> IPPOState:
    """Seed `seed`'s slice [E] of a [E, S] state (or of its abstract shapes)."""

    def take(x: Any) -> Any:
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct((x.shape[0], *x.shape[2:]), x.dtype)
        return x[:, seed]

    return jax.tree.map(take, state)


def save_all(
    root: pathlib.Path, state: IPPOState, step: int, config: HanabiRunConfig
) -> None:
    """One checkpoint per seed, `root/<seed>/step_<step>.npz` (leading [E]).

    Older checkpoints are pruned only once every seed has the new one, so a job
    killed while saving still leaves a step common to every seed.
    """
    digest = config.training_hash()
    for seed in range(config.seeds):
        save_checkpoint(
            checkpoint_path(root / str(seed), step),
            _per_seed(state, seed),
            step=step,
            config_hash=digest,
            metadata={"seed": seed, "ent_coefs": config.coefs, "name": config.name},
        )
    for seed in range(config.seeds):
        prune_checkpoints(root / str(seed), config.keep_checkpoints)


def load_latest(
    root: pathlib.Path, template: IPPOState, config: HanabiRunConfig
) -> tuple[IPPOState, int] | None:
    """The latest step every seed has an intact checkpoint of, stacked back to
    [E, S] and split over the devices as the trainer keeps it (docs/scaling.md);
    None when there are no checkpoints at all. A corrupt or truncated newest
    checkpoint falls back, with a warning, to the newest intact step kept
    (`keep_checkpoints`); none intact is a CheckpointError."""
    steps = [set(list_checkpoints(root / str(s))) for s in range(config.seeds)]
    if not any(steps):
        return None
    common = set.intersection(*steps)
    if not common:
        missing = [s for s, found in enumerate(steps) if not found]
        raise CheckpointError(
            f"checkpoints in {root} have no step common to every seed"
            + (f" (none for seeds {missing})" if missing else "")
        )
    digest = config.training_hash()
    corrupt: list[str] = []
    for step in sorted(common, reverse=True):
        try:
            states = [
                load_checkpoint(
                    checkpoint_path(root / str(s), step),
                    _per_seed(template, s),
                    config_hash=digest,
                    step=step,
                )[0]
                for s in range(config.seeds)
            ]
        except CorruptCheckpointError as error:
            # A crash or a full disk mid-save, or damage since: fall back to the
            # newest step whose every seed is intact, and say so.
            corrupt.append(str(error))
            continue
        for problem in corrupt:
            log.warning("%s; using update %d, the newest intact one", problem, step)
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *states)
        return place_grid(stacked, runs_mesh()), step
    raise CheckpointError(
        f"no intact checkpoint in {root}: {len(corrupt)} step(s) tried, the "
        f"newest failing with: {corrupt[0]}"
    )


def first_non_finite(metrics: Metrics, config: HanabiRunConfig) -> str | None:
    """Where a chunk's losses or gradient norms first turned NaN or infinite
    (`ent_coef ..., seed ...: <metric>`), or None when all are finite."""
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        values = np.asarray(getattr(metrics, name))  # [E, S, updates]
        bad = ~np.isfinite(values)
        if bad.any():
            e, s = np.argwhere(bad.reshape(*values.shape[:2], -1).any(-1))[0]
            return f"ent_coef {config.coefs[e]}, seed {s}: {name} is not finite"
    return None


def _json_number(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def chunk_record(
    metrics: Metrics, update: int, config: HanabiRunConfig, seconds: float
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
        "ent_coefs": config.coefs,
        "return": table(returns),
        "episodes": episodes.tolist(),
        **{
            name: table(getattr(arrays, name).mean(-1))
            for name in (
                "entropy",
                "policy_loss",
                "value_loss",
                "approx_kl",
                "clip_fraction",
                "grad_norm",
            )
        },
    }


def append_line(path: pathlib.Path, record: dict[str, Any]) -> None:
    """Appends one JSON line with a single write, flushed to disk."""
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(path: pathlib.Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl; a line cut short by a crash is dropped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(path: pathlib.Path, update: int) -> list[dict[str, Any]]:
    """Drops lines after `update` (written after the checkpoint resumed from)."""
    kept = [r for r in read_metrics(path) if r["update"] <= update]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    atomic_write_bytes(path, text.encode())
    return kept


def _summary(record: dict[str, Any]) -> str:
    returns = [r for row in record["return"] for r in row if r is not None]
    entropy = [e for row in record["entropy"] for e in row if e is not None]
    ret = "no episode ended"
    if returns:
        ret = f"return {np.mean(returns):.3f} (min {min(returns):.3f}, "
        ret += f"max {max(returns):.3f})"
    return f"{ret}, entropy {np.mean(entropy):.3f}" if entropy else ret


def write_config(run_dir: pathlib.Path, config: HanabiRunConfig) -> None:
    """The resolved, validated config, `run_dir/config.yaml`."""
    atomic_write_bytes(
        run_dir / CONFIG_FILE,
        OmegaConf.to_yaml(OmegaConf.structured(config)).encode(),
    )


def finished_results(
    config: HanabiRunConfig, run_dir: pathlib.Path
) -> dict[str, Any] | None:
    """The results.json that `run_dir` already holds for this configuration (same
    training hash), or None when it holds none; results of another configuration
    are refused, as its checkpoints would be."""
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = read_results(path)
        previous = to_config(OmegaConf.create(results["config"]), HanabiRunConfig)
    except ConfigError:
        raise
    except Exception as error:  # unreadable JSON, or an unknown config schema
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"{path} cannot be read back ({first})") from None
    if previous.training_hash() != config.training_hash():
        raise ConfigError(
            f"{run_dir} holds the results of a different configuration; choose "
            "another hydra.run.dir (or hydra.sweep.dir)"
        )
    return results


def train(
    config: HanabiRunConfig, run_dir: pathlib.Path, trainer: Trainer | None = None
) -> tuple[IPPOState, dict[str, Any] | None, bool]:
    """Trains (or resumes) every run, checkpointing and logging between chunks.

    Returns the states [E, S], the last metrics record and whether the run is
    complete (False when `stop_after` ended it early).
    """
    params = config.game
    trainer = trainer or cached_trainer(config.ippo, params)
    keys = seed_keys(config.ippo.seed, config.seeds)
    coefs = jnp.asarray(config.coefs, jnp.float32)
    total = config.ippo.num_updates
    root = run_dir / CHECKPOINT_DIR
    metrics_path = run_dir / METRICS_FILE

    loaded = None
    if config.resume:
        template = jax.eval_shape(trainer.init, keys, len(config.coefs))
        loaded = load_latest(root, template, config)
    elif any(list_checkpoints(root / str(s)) for s in range(config.seeds)):
        raise ConfigError(
            f"{run_dir} already has checkpoints; pass resume=true (or auto) to "
            "continue that run or choose another hydra.run.dir"
        )
    if loaded is None and config.resume is True:
        raise ConfigError(
            f"resume=true but {root} holds no checkpoint; start it with "
            "resume=false, or pass resume=auto to resume only when there is one"
        )
    # Accepted: from here on the run may change its directory. Not before: a
    # resume refused above leaves the directory (its config.yaml, which describes
    # its checkpoints, and .hydra/) as it was.
    record_run(run_dir)
    if loaded is None:
        if config.resume:
            log.info("%s: no checkpoint in %s, starting afresh", config.name, root)
        state, start = trainer.init(keys, len(config.coefs)), 0
        metrics_path.unlink(missing_ok=True)
        records: list[dict[str, Any]] = []
    else:
        state, start = loaded
        records = truncate_metrics(metrics_path, start)
        log.info("%s: resumed from update %d of %d", config.name, start, total)
    write_config(run_dir, config)
    last = records[-1] if records else None
    log.info(
        "%s: %s, %d players; %d seeds x %d entropy coefficients %s; %d updates of "
        "%d env steps per run",
        config.name,
        config.preset,
        config.num_players,
        config.seeds,
        len(config.coefs),
        config.coefs,
        total,
        config.ippo.batch_size,
    )
    done = saved = start
    try:
        for index, end in enumerate(chunk_ends(start, total, config.log_every)):
            began = time.time()
            chunk_state, metrics = trainer.run(state, coefs, end - done)
            jax.block_until_ready(metrics)
            diverged = first_non_finite(metrics, config)
            if diverged:
                # Nothing of this chunk is kept; the state before it is.
                if done > saved:
                    save_all(root, state, done, config)
                    saved = done
                raise TrainingDiverged(
                    f"training turned non-finite in updates {done + 1}-{end} "
                    f"({diverged}); stopped, the last checkpoint is update {saved} "
                    "(lower ippo.lr or ippo.max_grad_norm)"
                )
            last = chunk_record(metrics, end, config, time.time() - began)
            append_line(metrics_path, last)
            state, done = chunk_state, end
            log.info(
                "%s: update %d/%d, %s env steps per run, %.0f steps/s%s, %s",
                config.name,
                end,
                total,
                f"{last['env_steps']:,}",
                last["steps_per_second"],
                " (with compilation)" if index == 0 else "",
                _summary(last),
            )
            stopping = config.stop_after is not None and end >= config.stop_after
            if end % config.checkpoint_every == 0 or end == total or stopping:
                save_all(root, state, end, config)
                saved = end
            if stopping and end < total:
                log.info(
                    "%s: stopped after update %d; continue with resume=true "
                    "hydra.run.dir=%s",
                    config.name,
                    end,
                    run_dir,
                )
                return state, last, False
    except (KeyboardInterrupt, SystemExit):
        # Ctrl-C, or submitit's exit on SLURM's pre-timeout or preemption signal
        # (which Python handles between chunks): keep the last finished chunk.
        if done > saved:
            log.warning(
                "%s: interrupted; saving update %d for resume=true or auto",
                config.name,
                done,
            )
            save_all(root, state, done, config)
        raise
    return state, last, True


def run(config: HanabiRunConfig, run_dir: pathlib.Path) -> dict[str, Any] | None:
    """Trains and writes every output of one run; returns the results (None if
    the run stopped early)."""
    started = time.time()
    if config.resume == "auto":
        finished = finished_results(config, run_dir)
        if finished is not None:
            record_run(run_dir)  # the resubmission, in the run's log
            log.info(
                "%s: already finished (%s); nothing to do",
                config.name,
                run_dir / RESULTS_FILE,
            )
            return finished
    _, last, complete = train(config, run_dir)
    if not complete:
        return None
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
        for e, coef in enumerate(config.coefs)
        for seed in range(config.seeds)
    ]
    results = {
        "kind": "hanabi_training",
        "learner": "ippo",
        "name": config.name,
        "game": config.preset,
        "num_players": config.num_players,
        "num_seeds": config.seeds,
        "ent_coefs": config.coefs,
        "num_updates": step,
        "env_steps_per_run": step * config.ippo.batch_size,
        "final_return": final,
        "final_return_mean": [
            _json_number(float(np.nanmean([np.nan if v is None else v for v in row])))
            for row in final
        ]
        if final
        else None,
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
    write_json(run_dir / RESULTS_FILE, results)
    log.info(
        "%s: final return per entropy coefficient %s; wrote %s",
        config.name,
        results["final_return_mean"],
        run_dir / RESULTS_FILE,
    )
    return results


register_schemas()


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="hanabi")
def hydra_main(cfg: DictConfig) -> None:
    run_or_exit(cfg, HanabiRunConfig, run, USER_ERRORS)


main = hydra_entry(hydra_main)


if __name__ == "__main__":
    # Through the importable module, not __main__: launchers (joblib's loky
    # processes, submitit's SLURM jobs) pickle the task function by reference.
    from experiments import hanabi

    hanabi.main()
