"""An IPPO run and its run directory, shared by the training entry point
(experiments/ippo.py) and the tools that read runs back (cross-play, the cost
estimate, the HLE check), so that no entry point imports another.

The run config `IPPORunConfig` (its environment, seeds, entropy coefficients and
IPPO's hyperparameters) and the run directory it trains into:

    config.yaml                   the resolved, validated config
    metrics.jsonl                 one line per chunk of updates
    checkpoints/<seed>/step_*.npz one checkpoint per seed, leading [E]
                                  (marl.deep.checkpoint)
    results.json                  once the run completes (experiments/ippo.py)

Runs written before the environment contract (a top-level Hanabi `preset` and
`num_players` instead of `env`) are read as `env: {name: hanabi, ...}`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from experiments.deep.loggers import LOGGERS
from experiments.harness.compose import to_config, writable
from games.envs.contract import (
    Environment,
    EnvironmentOptionError,
    UnknownEnvironmentError,
    make_env,
)
from marl.deep.checkpoint import (
    CheckpointError,
    CorruptCheckpointError,
    checkpoint_path,
    config_hash,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from marl.deep.ippo import IPPOConfig, IPPOState, make_ippo_trainer
from marl.fields import ConfigError, check_fields
from marl.files import atomic_write_bytes, naming, writes_here
from marl.sharding import place_grid, runs_mesh
from marl.trainer import Trainer

log = logging.getLogger("experiments.ippo")
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"


class TrainingDiverged(Exception):
    """Training whose losses or gradients turned NaN or infinite."""


USER_ERRORS = (ConfigError, CheckpointError, TrainingDiverged)


def default_env() -> dict[str, Any]:
    """The schema's default `env`: the name alone, so that the options of the
    group conf/env/<name>.yaml are all an environment gets (hydra merges the
    group into this default)."""
    return {"name": "hanabi"}


@dataclasses.dataclass(frozen=True)
class IPPORunConfig:
    """One IPPO run: `seeds` x `ent_coefs` learners in one jitted batch on one
    environment."""

    name: str = "hanabi_cpu_small"
    """Label of the run (the preset's name); part of the run directory's name."""
    env: dict[str, Any] = dataclasses.field(default_factory=default_env)
    """The environment: `name` (a `games.envs.contract.ENVIRONMENTS` key: hanabi,
    overcooked) and that environment's options (conf/env/<name>.yaml; Hanabi:
    preset, num_players; Overcooked: layout, max_steps, reward_shaping,
    agent_view_size). Checked by the environment's factory."""
    seeds: int = 2
    """Independent runs per entropy coefficient (a vmap axis); seed k's key is
    `marl.deep.ippo.seed_keys(ippo.seed, seeds)[k]`."""
    ent_coefs: list[float] = dataclasses.field(default_factory=lambda: [0.01])
    """Entropy coefficients c_H trained side by side (a vmap axis, the seeds
    shared): the run's only entropy-coefficient field, as `taus` is the tabular
    runs' (the learner takes c_H as an argument, `marl.deep.ippo.make_train`)."""
    ippo: IPPOConfig = dataclasses.field(default_factory=IPPOConfig)
    log_every: int = 10
    """Updates per jitted chunk; progress is logged and a line appended to
    metrics.jsonl after each chunk."""
    checkpoint_every: int = 100
    """Updates between checkpoints, a multiple of log_every; the last update is
    always checkpointed."""
    keep_checkpoints: int = 2
    """Checkpoints kept per seed (older ones are deleted, milestones aside)."""
    keep_every: int | None = None
    """Milestones: checkpoints at multiples of this many updates are kept as well,
    so that a long run can be evaluated at matched stages (a multiple of
    checkpoint_every; null keeps none)."""
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
    init_from: str | None = None
    """Start from another run's agents instead of afresh: `<run dir>` (its latest
    checkpoint common to every seed) or `<run dir>@<update>` (a milestone). The
    source must match this run in everything but the entropy coefficients (same
    environment, seeds, `ippo` and log_every), so training goes on from that
    update on the same learning-rate schedule, each seed from its own state; only
    the coefficient may change (the switch control of docs/ippo.md)."""
    init_coefs: list[float] | None = None
    """With init_from: the source's coefficient that each of ent_coefs starts
    from, in order (null: the same coefficients as ent_coefs)."""
    logger: str | None = None
    """Also log each chunk's curves to `tensorboard` (event files under
    <run dir>/tensorboard) or `wandb` (offline unless WANDB_MODE says otherwise,
    under <run dir>/wandb); null: metrics.jsonl only, which stays the source of
    truth (experiments/deep/loggers.py)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", dict(self.env))
        make_environment(self.env_options)  # one line naming a bad option
        coefs = self.ent_coefs
        rules = {
            "seeds": (self.seeds >= 1, "must be >= 1"),
            "ent_coefs": (
                len(coefs) > 0 and all(math.isfinite(c) and c >= 0 for c in coefs),
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
            "keep_every": (
                self.keep_every is None
                or (
                    self.keep_every >= 1
                    and self.checkpoint_every >= 1
                    and self.keep_every % self.checkpoint_every == 0
                ),
                "must be null or a positive multiple of checkpoint_every",
            ),
            "resume": (
                self.resume in (True, False, "auto"),
                "must be true, false or auto",
            ),
            "stop_after": (
                self.stop_after is None or self.stop_after >= 1,
                "must be null or >= 1",
            ),
            "logger": (
                self.logger in (None, *LOGGERS),
                "must be null, " + " or ".join(LOGGERS),
            ),
            "init_coefs": (
                self.init_coefs is None
                or (self.init_from is not None and len(self.init_coefs) == len(coefs)),
                "needs init_from and one source coefficient per entry of ent_coefs",
            ),
        }
        check_fields(self, rules)
        if self.init_from is not None:
            init_source(self.init_from)  # one line naming a malformed value

    @property
    def env_options(self) -> tuple[tuple[str, Any], ...]:
        """The environment's name and options as a hashable, sorted tuple."""
        return tuple(sorted((k, _frozen(v)) for k, v in self.env.items()))

    @property
    def environment(self) -> Environment:
        """The environment trained on (made once per process per options)."""
        return make_environment(self.env_options)

    @property
    def scoring_environment_options(self) -> tuple[tuple[str, Any], ...]:
        """`env_options` with the environment's `scoring` options."""
        options = {**dict(self.env_options), **dict(self.environment.scoring)}
        options.setdefault("name", "hanabi")
        return tuple(sorted(options.items()))

    @property
    def scoring_environment(self) -> Environment:
        """The environment with its common reward the game's score (its
        `scoring` options), which evaluation plays."""
        return make_environment(self.scoring_environment_options)

    @property
    def env_name(self) -> str:
        return str(self.env.get("name", "hanabi"))

    def describe_env(self) -> str:
        """'hanabi (preset=Hanabi-Very-Small, num_players=2)', for logs."""
        options = ", ".join(f"{k}={v}" for k, v in self.env.items() if k != "name")
        return f"{self.env_name} ({options})" if options else self.env_name

    def training_hash(self) -> str:
        """Hash of everything that determines the runs' trajectories, stored in and
        checked against every checkpoint."""
        return config_hash(
            {
                "ippo": dataclasses.asdict(self.ippo),
                **hashed_env(self.env),
                "seeds": self.seeds,
                "ent_coefs": self.ent_coefs,
                "log_every": self.log_every,  # chunk boundaries: same programs
                # only when set, so that older runs keep their hash
                **(
                    {"init_from": self.init_from, "init_coefs": self.init_coefs}
                    if self.init_from is not None
                    else {}
                ),
            }
        )


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def hashed_env(env: dict[str, Any]) -> dict[str, Any]:
    """The environment's part of the training hash. Hanabi's sizes left null (the
    preset's) are not part of it, and a Hanabi run of a preset hashes as runs
    from before the contract did (their `preset` and `num_players` at the top
    level), so they resume."""
    if env.get("name", "hanabi") == "hanabi":
        env = {k: v for k, v in env.items() if v is not None}
        if set(env) <= {"name", "preset", "num_players"}:
            return {
                "preset": env.get("preset", "Hanabi-Full"),
                "num_players": env.get("num_players", 2),
            }
    return {"env": {k: env[k] for k in sorted(env)}}


@functools.lru_cache(maxsize=16)
def make_environment(options: tuple[tuple[str, Any], ...]) -> Environment:
    """`games.envs.make_env` of (name, options) pairs; a bad name or option is a
    one-line ConfigError."""
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in options}
    name = kwargs.pop("name", "hanabi")
    try:
        return make_env(str(name), **kwargs)
    except (UnknownEnvironmentError, EnvironmentOptionError) as error:
        raise ConfigError(str(error)) from None
    except (ValueError, TypeError) as error:  # the game's own checks
        raise ConfigError(f"env: {error}") from None


def upgrade(node: Any) -> Any:
    """A stored run config as this schema reads it: a Hanabi run from before the
    environment contract (`preset`, `num_players` at the top level) gets them in
    `env`; one from before `ent_coefs` was the only entropy-coefficient field
    (`ippo.ent_coef`, used when `ent_coefs` was null) gets it in `ent_coefs`."""
    data = OmegaConf.to_container(node) if isinstance(node, DictConfig) else node
    data = dict(data)
    ippo = dict(data.get("ippo") or {})
    if "ent_coef" in ippo:
        coef = ippo.pop("ent_coef")
        data["ippo"] = ippo
        if data.get("ent_coefs") is None:
            data["ent_coefs"] = [coef]
    if "env" not in data and ("preset" in data or "num_players" in data):
        data["env"] = {
            "name": "hanabi",
            "preset": data.pop("preset", "Hanabi-Full"),
            "num_players": data.pop("num_players", 2),
        }
    return OmegaConf.create(data)


def register_schemas() -> None:
    ConfigStore.instance().store(
        name="ippo_schema", node=writable(OmegaConf.structured(IPPORunConfig))
    )


register_schemas()  # on import: every entry point that composes conf/ippo.yaml


@functools.lru_cache(maxsize=4)
def cached_trainer(ippo: IPPOConfig, env: Environment) -> Trainer:
    """One jitted trainer per (config, environment) in a process, so that runs in
    one process (a resume after a stop, an in-process sweep) compile once."""
    return make_ippo_trainer(ippo, env)


def trainer_of(config: IPPORunConfig) -> Trainer:
    return cached_trainer(config.ippo, config.environment)


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
    root: pathlib.Path, state: IPPOState, step: int, config: IPPORunConfig
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
            metadata={"seed": seed, "ent_coefs": config.ent_coefs, "name": config.name},
        )
    for seed in range(config.seeds):
        prune_checkpoints(root / str(seed), config.keep_checkpoints, config.keep_every)


def load_latest(
    root: pathlib.Path,
    template: IPPOState,
    config: IPPORunConfig,
    step: int | None = None,
) -> tuple[IPPOState, int] | None:
    """The latest step every seed has an intact checkpoint of (or exactly
    `step`, a milestone), stacked back to [E, S] and split over the devices as
    the trainer keeps it (docs/scaling.md); None when there are no checkpoints
    at all. A corrupt or truncated newest checkpoint falls back, with a warning,
    to the newest intact step kept (`keep_checkpoints`); none intact, or no
    checkpoint of `step` for every seed, is a CheckpointError."""
    steps = [set(list_checkpoints(root / str(s))) for s in range(config.seeds)]
    if not any(steps):
        return None
    common = set.intersection(*steps)
    if step is not None:
        if step not in common:
            kept = ", ".join(map(str, sorted(common))) or "none"
            raise CheckpointError(
                f"{root} has no checkpoint of update {step} for every seed "
                f"(updates kept for every seed: {kept})"
            )
        common = {step}
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


def append_line(path: pathlib.Path, record: dict[str, Any]) -> None:
    """Appends one JSON line with a single write, flushed to disk (nothing in a
    process that does not write, `marl.files.set_writer`)."""
    if not writes_here():
        return
    with naming(path), path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(path: pathlib.Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl; a line cut short by a crash is dropped, a
    line that is JSON but no record (an object with an integer `update`) is
    refused in one line (a `ConfigError`)."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("update"), int):
            raise ConfigError(
                f"{path}, line {number}: {line[:40]!r} is not a metrics record (an "
                "object with an integer 'update'); remove that line to resume"
            )
        records.append(record)
    return records


def truncate_metrics(path: pathlib.Path, update: int) -> list[dict[str, Any]]:
    """Drops lines after `update` (written after the checkpoint resumed from)."""
    kept = [r for r in read_metrics(path) if r["update"] <= update]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    atomic_write_bytes(path, text.encode())
    return kept


def init_source(value: str) -> tuple[pathlib.Path, int | None]:
    """`init_from`'s run directory and update (None: the latest)."""
    path, at, step = value.rpartition("@") if "@" in value else (value, "", "")
    if at and not step.isdigit():
        raise ConfigError(
            f"init_from={value}: expected <run dir> or <run dir>@<update>, "
            f"'{step}' is not an update number"
        )
    return pathlib.Path(path), int(step) if step else None


def read_run_config(run_dir: pathlib.Path) -> IPPORunConfig:
    """The config of the IPPO run in `run_dir` (its config.yaml), or a one-line
    ConfigError."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (not an IPPO run directory)")
    try:
        return to_config(upgrade(OmegaConf.load(path)), IPPORunConfig)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except Exception as error:  # omegaconf's many validation errors
        first = str(error).strip().splitlines()[0]
        raise ConfigError(f"{path}: {first}") from None


def load_init(config: IPPORunConfig, template: IPPOState) -> tuple[IPPOState, int]:
    """The state `init_from` names, its coefficients chosen by `init_coefs`
    ([E, S] as `template`), and its update; ConfigError when the source run
    differs in more than its coefficients or lacks one of them."""
    assert config.init_from is not None
    run_dir, step = init_source(config.init_from)
    source = read_run_config(run_dir)
    differ = [
        name
        for name, mine, theirs in (
            ("env", hashed_env(config.env), hashed_env(source.env)),
            ("seeds", config.seeds, source.seeds),
            ("ippo", dataclasses.asdict(config.ippo), dataclasses.asdict(source.ippo)),
            ("log_every", config.log_every, source.log_every),
        )
        if mine != theirs
    ]
    if differ:
        raise ConfigError(
            f"init_from={config.init_from}: that run differs in {', '.join(differ)}; "
            "only the entropy coefficients may change"
        )
    wanted = config.init_coefs if config.init_coefs is not None else config.ent_coefs
    missing = [c for c in wanted if c not in source.ent_coefs]
    if missing:
        raise ConfigError(
            f"init_from={config.init_from}: that run has no coefficient {missing[0]} "
            f"(it has {source.ent_coefs}); choose them with init_coefs"
        )
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((len(source.ent_coefs), *x.shape[1:]), x.dtype),
        template,
    )
    loaded = load_latest(run_dir / CHECKPOINT_DIR, abstract, source, step)
    if loaded is None:
        raise ConfigError(f"init_from={config.init_from}: no checkpoint there")
    state, start = loaded
    rows = jnp.asarray([source.ent_coefs.index(c) for c in wanted])
    chosen = jax.tree.map(lambda x: jnp.take(x, rows, axis=0), state)
    return place_grid(chosen, runs_mesh()), start


def write_config(run_dir: pathlib.Path, config: IPPORunConfig) -> None:
    """The resolved, validated config, `run_dir/config.yaml`."""
    atomic_write_bytes(
        run_dir / CONFIG_FILE,
        OmegaConf.to_yaml(OmegaConf.structured(config)).encode(),
    )
