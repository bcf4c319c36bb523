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

The run's checkpoints are a `marl.deep.checkpoint.CheckpointSet` of one part
per seed (`checkpoint_set`; `load_grid` stacks them back to the [E, S] grid the
trainer keeps); its metrics one JSON line per chunk (`append_line`,
`read_metrics`). The config and its digest are experiments/deep/ippo_runs.py's;
the files' formats are in docs/results.md.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp

from experiments.deep.ippo_runs import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    IPPORunConfig,
    hashed_env,
    init_source,
    read_run_config,
    upgrade,
    write_config,
)
from experiments.harness.compose import to_config
from experiments.harness.rundir import Job, RunDirectory
from marl.deep.checkpoint import CheckpointSet
from marl.deep.ippo import IPPOState
from marl.fields import ConfigError
from marl.files import atomic_write_bytes, naming, writes_here
from marl.sharding import place_grid, runs_mesh
from marl.trainer import Trainer

log = logging.getLogger("experiments.ippo")


def per_seed(state: IPPOState, seed: int) -> IPPOState:
    """Seed `seed`'s slice [E] of a [E, S] state (or of its abstract shapes)."""

    def take(x: Any) -> Any:
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct((x.shape[0], *x.shape[2:]), x.dtype)
        return x[:, seed]

    return jax.tree.map(take, state)


@functools.partial(jax.jit, static_argnums=1)
def split_seeds(state: IPPOState, seeds: int) -> list[IPPOState]:
    """Every seed's `per_seed` slice of a [E, S] state, in one program (taken
    eagerly, each slice is an indexing program per leaf, traced and lowered
    in every process: 27 s over the test suite's IPPO runs, docs/benchmarks.md)."""
    return [per_seed(state, seed) for seed in range(seeds)]


@jax.jit
def stack_seeds(parts: list[IPPOState]) -> IPPOState:
    """The seeds' states [E] stacked back to [E, S], in one program."""
    return jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *parts)


def checkpoint_set(
    run_dir: pathlib.Path, config: IPPORunConfig, digest: str | None = None
) -> CheckpointSet:
    """A run's checkpoints, one part per seed (`run_dir/checkpoints/<seed>/`),
    under its training digest (`digest`, computed once by the caller, or
    here)."""
    return CheckpointSet(
        run_dir / CHECKPOINT_DIR,
        config.seeds,
        digest or config.training_hash(),
        keep=config.keep_checkpoints,
        keep_every=config.keep_every,
        every=config.checkpoint_every,
        last=config.ippo.num_updates,
    )


def load_grid(
    checkpoints: CheckpointSet, template: IPPOState, step: int | None = None
) -> tuple[IPPOState, int] | None:
    """The latest step every seed has an intact checkpoint of (or exactly
    `step`, a milestone), stacked back to [E, S] and split over the devices
    as the trainer keeps it (docs/scaling.md); None when there are no
    checkpoints at all. A corrupt newest step falls back, with a warning, to
    the newest intact one kept (`keep_checkpoints`); none intact, or no
    checkpoint of `step` for every seed, is a CheckpointError."""
    seeds = range(checkpoints.parts)
    restored = checkpoints.restore([per_seed(template, s) for s in seeds], step)
    if restored is None:
        return None
    for problem in restored.skipped:
        log.warning("%s, the newest intact one", problem)
    return place_grid(stack_seeds(list(restored.parts)), runs_mesh()), restored.step


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
    loaded = load_grid(checkpoint_set(run_dir, source), abstract, step)
    if loaded is None:
        raise ConfigError(f"init_from={config.init_from}: no checkpoint there")
    state, start = loaded
    rows = jnp.asarray([source.ent_coefs.index(c) for c in wanted])
    chosen = jax.tree.map(lambda x: jnp.take(x, rows, axis=0), state)
    return place_grid(chosen, runs_mesh()), start


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

    def __init__(self, where: pathlib.Path | Job, config: IPPORunConfig) -> None:
        super().__init__(where)
        self.config = config
        self.digest = config.training_hash()
        self.held: tuple[IPPOState, int] | None = None  # the last finished chunk
        self.checkpoints = checkpoint_set(self.path, config, self.digest)
        self.metrics = self.path / METRICS_FILE
        self.saved = 0
        self.last: dict[str, Any] | None = None  # the last metrics line

    def start(self, trainer: Trainer, keys: jax.Array) -> tuple[IPPOState, int]:
        """The states [E, S] training begins from, and their update: the latest
        intact checkpoint (`resume`), another run's (`init_from`), or fresh.
        Everything that can refuse the run is checked before the directory
        changes; then the run is accepted (`Job.accept`: the lock, `.hydra/`,
        the log file) and its `config.yaml` written."""
        config = self.config
        runs = len(config.ent_coefs)
        loaded = None
        if config.resume:
            template = jax.eval_shape(trainer.init, keys, runs)
            loaded = load_grid(self.checkpoints, template)
        elif self.checkpoints.any_saved():
            raise ConfigError(
                f"{self.path} already has checkpoints; pass resume=true (or auto) to "
                "continue that run or choose another hydra.run.dir"
            )
        if loaded is None and config.resume is True:
            raise ConfigError(
                f"resume=true but {self.checkpoints.root} holds no checkpoint; start "
                "it with resume=false, or pass resume=auto to resume only when "
                "there is one"
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
                    self.checkpoints.root,
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
        return self.checkpoints.should_save(update)

    def save(self, state: IPPOState, update: int) -> None:
        """Every seed's checkpoint of `update`, unless it is saved already."""
        if update > self.saved:
            config = self.config
            self.checkpoints.save(
                update,
                split_seeds(state, config.seeds),
                [
                    {"seed": seed, "ent_coefs": config.ent_coefs, "name": config.name}
                    for seed in range(config.seeds)
                ],
            )
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
