"""A run directory's life: accepted (its `.hydra/` files, its log file and its
lock, `Job.accept`), finished (`finished_results`), or refused and removed when
left empty (`remove_if_empty`). A `Job` is one job of an entry point
(`experiments.harness.entry.hydra_entry_point` makes one per hydra job and
closes it when the job ends, however); nothing here is global.

`RunDirectory` is that life as one object, the base of every run's directory
(`experiments.exact.tabular_directory.TabularDirectory`, `experiments.deep.
ippo_directory.IPPODirectory`): which stored configuration is this run's,
`finished`, `accept`, what an interrupt keeps, and results.json written last.
Each subclass owns its own files (sections, checkpoints, metrics)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.harness.logs import LOG_FORMAT
from marl.fields import ConfigError
from marl.files import atomic_write_bytes, locked, writes_here


@dataclasses.dataclass
class Job:
    """Where one job of an entry point runs, and what accepting it writes there:
    the files hydra would have written before the job started (`files`: the
    composed config, hydra's config and the overrides, under `.hydra/`; and the
    job's log file), and the run directory's lock, held until the job ends
    (`close`). The confs set `hydra.output_subdir: null` and a console-only job
    logging so that a run refused for a bad input or a clash with the
    directory's earlier run leaves the directory as it was; `accept` writes
    them once the run's checks have passed. A job outside hydra (a test, a
    notebook: `Job(path)`) writes nothing and its acceptance takes no lock
    (`lock` takes it: cross-play's, whose lock is its own)."""

    path: pathlib.Path
    files: dict[str, DictConfig] = dataclasses.field(default_factory=dict)
    log_name: str | None = None
    accepted: bool = False
    held: bool = False
    _locks: contextlib.ExitStack = dataclasses.field(
        default_factory=contextlib.ExitStack, repr=False
    )

    @classmethod
    def of_hydra(cls, cfg: DictConfig, path: pathlib.Path) -> Job:
        """The running hydra job's: `cfg` and hydra's own config to record."""
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        files = {
            "config.yaml": cfg,
            "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
            "overrides.yaml": OmegaConf.create(list(hydra_cfg.overrides.task)),
        }
        return cls(pathlib.Path(path), files, f"{hydra_cfg.job.name}.log")

    @classmethod
    def at(cls, where: pathlib.Path | str | Job) -> Job:
        """`where` as a job: a path is a job outside hydra."""
        return where if isinstance(where, Job) else cls(pathlib.Path(where))

    def accept(self) -> None:
        """The run passed its checks: takes the directory's lock (one writer per
        run directory, until `close`), writes `.hydra/` and starts the log file.
        Once: a second call does nothing; nothing in a process that does not
        write (a job of several processes, `marl.files.writes_here`)."""
        if self.accepted or not self.files or not writes_here():
            self.accepted = True
            return
        self.accepted = True
        self.lock()
        for name, node in self.files.items():
            data = OmegaConf.to_yaml(node).encode()
            atomic_write_bytes(self.path / ".hydra" / name, data)
        if self.log_name is not None:
            self._locks.callback(_log_to(self.path / self.log_name))

    def lock(self) -> None:
        """Takes the run directory's lock (made with the directory; once), held
        until `close`: a second writer is refused in one line
        (`marl.files.DirectoryLockedError`)."""
        if not self.held:
            self._locks.enter_context(locked(self.path))
            self.held = True

    def close(self) -> None:
        """The job ended, however: its lock released and its log file closed
        (a process that runs several jobs, as joblib's workers do, writes each
        job's lines to that job's log file only)."""
        self._locks.close()
        self.held = False

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_to(log_file: pathlib.Path) -> Callable[[], None]:
    """The root logger writes to `log_file` too; returns what stops it (nothing
    where a handler of that file was there already)."""
    root = logging.getLogger()
    if any(
        getattr(h, "baseFilename", None) == os.path.abspath(log_file)
        for h in root.handlers
    ):
        return lambda: None
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)

    def stop() -> None:
        root.removeHandler(handler)
        handler.close()

    return stop


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


class RunDirectory:
    """One run's directory, from acceptance to results.json. A subclass says
    which stored configuration is this run's (`same_config`), whether results
    that cannot be read back are refused (`REFUSE_UNREADABLE`: a run whose
    files would be reused) or redone, and what an interrupt keeps
    (`kept_on_interrupt`)."""

    REFUSE_UNREADABLE = False

    def __init__(self, where: pathlib.Path | Job) -> None:
        self.job = Job.at(where)
        self.path = self.job.path

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
        """The run passed its checks: the directory is taken (`Job.accept`: the
        lock, `.hydra/`, the log file); from here on it may change."""
        self.job.accept()

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
