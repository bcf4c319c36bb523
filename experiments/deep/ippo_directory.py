"""An IPPO run directory as one object: its lock and `.hydra/` record, its
`config.yaml`, its checkpoints and its metrics, so that the training loop
(`experiments.ippo.train`) only trains.

    directory = IPPODirectory(run_dir, config)
    finished = directory.finished()               # resume=auto: this run's results
    state, done = directory.start(trainer, keys)  # resume, init_from, or fresh
    with directory.kept_on_interrupt():
        ...                                         # a chunk of updates
        directory.record(line, state, done)         # metrics.jsonl; the chunk held
        directory.save(state, done)                 # when `checkpoint_due`
    directory.write_results(results)              # results.json, last

The files and their formats are experiments/deep/ippo_runs.py's (docs/results.md).
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import jax

from experiments.deep.ippo_runs import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    IPPORunConfig,
    append_line,
    load_init,
    load_latest,
    read_metrics,
    save_all,
    truncate_metrics,
    upgrade,
    write_config,
)
from experiments.harness.compose import to_config
from experiments.harness.rundir import RunDirectory
from marl.deep.checkpoint import list_checkpoints
from marl.deep.ippo import IPPOState
from marl.fields import ConfigError
from marl.files import writes_here
from marl.trainer import Trainer

log = logging.getLogger("experiments.ippo")


def stored_training_hash(stored: dict[str, Any]) -> str:
    """The training digest of a results file's config (any schema version)."""
    return to_config(upgrade(stored), IPPORunConfig).training_hash()


class IPPODirectory(RunDirectory):
    """One IPPO run's directory (`RunDirectory`): `finished` finds this
    training's results (the config digest, `training_hash`, computed once;
    results that cannot be read back are refused, as their checkpoints would
    be reused), `start` decides where training begins and accepts the run,
    `record` appends a metrics line and holds its chunk's states, `save`
    checkpoints every seed (`saved` is the last update saved),
    `kept_on_interrupt` saves the last finished chunk when Ctrl-C, SIGTERM or a
    scheduler's exit stops the run."""

    REFUSE_UNREADABLE = True

    def __init__(self, path: pathlib.Path, config: IPPORunConfig) -> None:
        super().__init__(path)
        self.config = config
        self.digest = config.training_hash()
        self.held: tuple[IPPOState, int] | None = None  # the last finished chunk
        self.checkpoints = self.path / CHECKPOINT_DIR
        self.metrics = self.path / METRICS_FILE
        self.saved = 0
        self.last: dict[str, Any] | None = None  # the last metrics line

    def start(self, trainer: Trainer, keys: jax.Array) -> tuple[IPPOState, int]:
        """The states [E, S] training begins from, and their update: the latest
        intact checkpoint (`resume`), another run's (`init_from`), or fresh.
        Everything that can refuse the run is checked before the directory
        changes; then the run is accepted (`record_run`: the lock, `.hydra/`,
        the log file) and its `config.yaml` written."""
        config = self.config
        runs = len(config.ent_coefs)
        loaded = None
        if config.resume:
            template = jax.eval_shape(trainer.init, keys, runs)
            loaded = load_latest(self.checkpoints, template, config)
        elif any(
            list_checkpoints(self.checkpoints / str(s)) for s in range(config.seeds)
        ):
            raise ConfigError(
                f"{self.path} already has checkpoints; pass resume=true (or auto) to "
                "continue that run or choose another hydra.run.dir"
            )
        if loaded is None and config.resume is True:
            raise ConfigError(
                f"resume=true but {self.checkpoints} holds no checkpoint; start it "
                "with resume=false, or pass resume=auto to resume only when there "
                "is one"
            )
        initial = None
        if loaded is None and config.init_from is not None:
            template = jax.eval_shape(trainer.init, keys, runs)
            initial = load_init(config, template)
        if loaded is not None:
            read_metrics(self.metrics)  # a line that is no record, refused here
        self.accept()  # from here on the directory may change
        if loaded is not None:
            state, start = loaded
            records = truncate_metrics(self.metrics, start)
            self.last = records[-1] if records else None
            log.info("%s: resumed from update %d of %d", config.name, start, self.total)
        else:
            if config.resume:
                log.info(
                    "%s: no checkpoint in %s, starting afresh",
                    config.name,
                    self.checkpoints,
                )
            if initial is None:
                state, start = trainer.init(keys, runs), 0
            else:
                state, start = initial
                log.info(
                    "%s: starting from update %d of %s (coefficients %s)",
                    config.name,
                    start,
                    config.init_from,
                    config.init_coefs or config.ent_coefs,
                )
            if writes_here():
                self.metrics.unlink(missing_ok=True)
        write_config(self.path, config)
        self.saved = start
        self.held = (state, start)
        return state, start

    @property
    def total(self) -> int:
        """The updates of the whole run."""
        return self.config.ippo.num_updates

    def same_config(self, stored: dict[str, Any]) -> bool:
        return stored_training_hash(stored) == self.digest

    def record(self, line: dict[str, Any], state: IPPOState, update: int) -> None:
        """One finished chunk: its metrics line, appended to metrics.jsonl, and
        its states, held for an interrupt (`keep`)."""
        append_line(self.metrics, line)
        self.last = line
        self.held = (state, update)

    def checkpoint_due(self, update: int) -> bool:
        """Whether `update` is one to checkpoint (`checkpoint_every`, the last)."""
        return update % self.config.checkpoint_every == 0 or update == self.total

    def save(self, state: IPPOState, update: int) -> None:
        """Every seed's checkpoint of `update`, unless it is saved already."""
        if update > self.saved:
            save_all(self.checkpoints, state, update, self.config)
            self.saved = update

    def keep(self) -> None:
        """Ctrl-C, SIGTERM (taken as Ctrl-C) or submitit's exit on SLURM's
        pre-timeout or preemption signal (which Python handles between chunks):
        the last finished chunk is saved for resume=true or auto."""
        if self.held is not None and self.held[1] > self.saved:
            state, done = self.held
            log.warning(
                "%s: interrupted; saving update %d for resume=true or auto",
                self.config.name,
                done,
            )
            self.save(state, done)
