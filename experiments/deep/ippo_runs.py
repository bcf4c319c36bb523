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
import logging
import math
import pathlib
from typing import Any

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
    config_hash,
)
from marl.deep.ippo import IPPOConfig, make_ippo_trainer
from marl.fields import ConfigError, check_fields
from marl.files import atomic_write_bytes
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
    """The run's trainer. The root seed only draws the runs' keys (`seed_keys`),
    outside the trainer: runs that differ in it share one (a sweep's seeds in one
    process, the runs cross-play loads)."""
    return cached_trainer(dataclasses.replace(config.ippo, seed=0), config.environment)


def chunk_ends(start: int, total: int, every: int) -> list[int]:
    """Chunk boundaries after `start`: multiples of `every`, and `total`."""
    ends = list(range((start // every + 1) * every, total, every))
    return [*ends, total] if start < total else []


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


def write_config(run_dir: pathlib.Path, config: IPPORunConfig) -> None:
    """The resolved, validated config, `run_dir/config.yaml`."""
    atomic_write_bytes(
        run_dir / CONFIG_FILE,
        OmegaConf.to_yaml(OmegaConf.structured(config)).encode(),
    )
