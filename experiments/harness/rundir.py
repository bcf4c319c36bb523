"""A run directory's life: accepted (its `.hydra/` files, its log file and its
lock, `record_run`), finished (`finished_results`), or refused and removed when
left empty (`remove_if_empty`). `begin` and `end` bracket one run of an entry
point (`experiments.harness.entry.hydra_entry_point`'s jobs).

`RunDirectory` is that life as one object, the base of every run's directory
(`experiments.exact.tabular_directory.TabularDirectory`, `experiments.deep.
ippo_directory.IPPODirectory`): which stored configuration is this run's,
`finished`, `accept`, what an interrupt keeps, and results.json written last.
Each subclass owns its own files (sections, checkpoints, metrics)."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.harness.logs import LOG_FORMAT
from marl.fields import ConfigError
from marl.files import atomic_write_bytes, locked, writes_here

_ACCEPTED: contextvars.ContextVar[DictConfig | None] = contextvars.ContextVar(
    "accepted_config", default=None
)


_LOCKS = contextlib.ExitStack()
"""The lock of the run directory being written (`record_run` takes it)."""


def record_run(run_dir: pathlib.Path) -> None:
    """Writes what hydra writes into a run directory before a job starts (the
    composed config, hydra's config and the overrides in `.hydra/`, and the job's
    log file), once the run has been accepted: the confs set
    `hydra.output_subdir: null` and a console-only job logging so that a run
    refused for a bad input or a clash with the directory's earlier run leaves
    the directory as it was. Called by each run after its checks; does nothing
    outside a hydra job."""
    from hydra.core.hydra_config import HydraConfig

    cfg = _ACCEPTED.get()
    if cfg is None or not HydraConfig.initialized() or not writes_here():
        return
    # One writer per run directory, until the job ends (`end`).
    _LOCKS.enter_context(locked(run_dir))
    hydra_cfg = HydraConfig.get()
    files = {
        "config.yaml": cfg,
        "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
        "overrides.yaml": OmegaConf.create(list(hydra_cfg.overrides.task)),
    }
    for name, node in files.items():
        atomic_write_bytes(run_dir / ".hydra" / name, OmegaConf.to_yaml(node).encode())
    log_file = run_dir / f"{hydra_cfg.job.name}.log"
    root = logging.getLogger()
    if not any(
        getattr(h, "baseFilename", None) == os.path.abspath(log_file)
        for h in root.handlers
    ):
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    _ACCEPTED.set(None)


def finished_results(
    run_dir: pathlib.Path,
    same_config: Callable[[dict[str, Any]], bool],
    *,
    refuse_unreadable: bool,
) -> dict[str, Any] | None:
    """The results.json that `run_dir` already holds for this configuration, or
    None when it holds none. `same_config(stored config)` decides whether the
    stored run is this one; another configuration's results are refused
    (`ConfigError`), as are results that cannot be read back when
    `refuse_unreadable` (an IPPO run, whose checkpoints would be reused), while
    otherwise (a tabular run) they are redone."""
    from experiments.harness.results import RESULTS_FILE, read_results

    path = run_dir / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = read_results(path)
        same = same_config(results["config"])
    except ConfigError:
        raise
    except Exception as error:  # unreadable JSON, or an unknown config schema
        if not refuse_unreadable:
            return None
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"{path} cannot be read back ({first})") from None
    if not same:
        raise ConfigError(
            f"{run_dir} holds the results of a different configuration; choose "
            "another hydra.run.dir (or hydra.sweep.dir)"
        )
    return results


DEFAULT_OUTPUT_ROOTS = ("outputs", "multirun")
"""Where the confs' default run directories live (conf/tabular.yaml, ippo.yaml)."""


def remove_if_empty(run_dir: pathlib.Path) -> None:
    """Removes the run directory if it is empty, and then its parents that are
    empty up to and including a default output root (`outputs/`, `multirun/`
    under the working directory): hydra makes them all before the job starts, so
    a refused first run leaves no trace. Directories elsewhere are the user's."""
    if not writes_here():  # process 0 of a job tidies
        return
    roots = [pathlib.Path.cwd() / root for root in DEFAULT_OUTPUT_ROOTS]
    path = run_dir.absolute()
    while path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        parent = path.parent
        if not any(parent == root or root in parent.parents for root in roots):
            break
        path = parent


def begin(cfg: DictConfig) -> None:
    """A run of an entry point starts: `record_run` will write `cfg` once the
    run is accepted."""
    _ACCEPTED.set(cfg)


def end() -> None:
    """The run ended, however: nothing left to record, its lock released."""
    _ACCEPTED.set(None)
    _LOCKS.close()


class RunDirectory:
    """One run's directory, from acceptance to results.json. A subclass says
    which stored configuration is this run's (`same_config`), whether results
    that cannot be read back are refused (`REFUSE_UNREADABLE`: a run whose
    files would be reused) or redone, and what an interrupt keeps
    (`kept_on_interrupt`)."""

    REFUSE_UNREADABLE = False

    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)

    def same_config(self, stored: dict[str, Any]) -> bool:
        """Whether `stored` (a results file's config) is this run's."""
        raise NotImplementedError

    def finished(self) -> dict[str, Any] | None:
        """This configuration's results if the run finished before; another
        configuration's are refused (`ConfigError`)."""
        return finished_results(
            self.path, self.same_config, refuse_unreadable=self.REFUSE_UNREADABLE
        )

    def accept(self) -> None:
        """The run passed its checks: the directory is taken (`record_run`: the
        lock, `.hydra/`, the log file); from here on it may change."""
        record_run(self.path)

    @contextlib.contextmanager
    def kept_on_interrupt(self) -> Iterator[None]:
        """Ctrl-C (or SIGTERM, taken as Ctrl-C) inside the block: what the run
        keeps is kept (and said) before the interrupt goes on."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            self.keep()
            raise

    def keep(self) -> None:
        """What an interrupt keeps (`kept_on_interrupt`); nothing by default."""

    def write_results(self, results: dict[str, Any]) -> None:
        """results.json, which stands for a finished run: written last."""
        from experiments.harness.results import RESULTS_FILE, write_json

        write_json(self.path / RESULTS_FILE, results)
