"""A tabular run's directory as one object: its finished results, its
sections kept for a resume, its acceptance (the lock, `.hydra/`, the log file)
and its outputs, so that the entry point (`experiments.tabular.run`) only
prepares, studies and reports.

    directory = TabularDirectory(run_dir, config)
    finished = directory.finished()        # this config's results, or None
    directory.check_resume()               # resume=true needs a finished section
    directory.accept()                     # after the game's checks
    with directory.kept_on_interrupt():
        value, arrays = directory.section("grid", compute)   # reused on resume
    directory.write(results, arrays, matrices, figures)    # results.json last

A run has sections: the tau grid and each study after it. Each is saved under
`<run dir>/sections/` the moment it finishes, as `<name>.json` (its results and
the hash of the configuration) beside `<name>.npz` (its arrays), so that Ctrl-C
or a killed job keeps it and `resume=true` reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from experiments.exact.tabular_config import TabularConfig
from experiments.harness.results import (
    read_results,
    upgraded,
    write_json,
    write_npz,
)
from experiments.harness.rundir import Job, RunDirectory
from marl.fields import ConfigError
from marl.files import writes_here

log = logging.getLogger(__name__)


def stored_config(config: TabularConfig) -> dict[str, Any]:
    """The config through JSON, as results.json stores it."""
    return json.loads(json.dumps(OmegaConf.to_container(OmegaConf.structured(config))))


def results_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored config less the fields that do not shape the results (`resume`,
    `skip_finished`): what two runs must share to share their results."""
    return {k: v for k, v in stored.items() if k not in ("resume", "skip_finished")}


SECTIONS_DIR = "sections"


def config_digest(config: TabularConfig) -> str:
    """A hash of everything in the config that shapes the results."""
    fields = results_fields(stored_config(config))
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class TabularDirectory(RunDirectory):
    """One tabular run's directory (`RunDirectory`). `finished` finds this
    configuration's results (an unreadable results.json is redone, another
    configuration's refused); `accept` takes the directory once the run has
    passed its checks; `section` computes a section or, on `resume`, reuses the
    one this configuration saved; `kept_on_interrupt` says which sections
    Ctrl-C keeps; `write` writes the outputs, results.json last, and removes
    the sections."""

    def __init__(self, where: pathlib.Path | Job, config: TabularConfig) -> None:
        super().__init__(where)
        self.label = (
            pathlib.Path(config.game_file).name if config.game_file else config.game
        )
        self.dir = self.path / SECTIONS_DIR
        self.stored = results_fields(stored_config(config))
        self.digest = config_digest(config)
        self.reuse = config.resume

    def same_config(self, stored: dict[str, Any]) -> bool:
        return results_fields(dict(stored)) == self.stored

    def finished_sections(self) -> list[str]:
        """The sections of this configuration already on disk."""
        found = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                if read_results(path).get("config_hash") == self.digest:
                    found.append(path.stem)
            except (OSError, ValueError):
                continue
        return found

    def check_resume(self) -> None:
        """Refuses `resume=true` where no section of this configuration is kept."""
        if self.reuse and not self.finished_sections():
            raise ConfigError(
                f"resume=true but {self.dir} holds no finished section of this "
                "configuration; start it with resume=false"
            )

    def accept(self, *, fresh: bool = True) -> None:
        """The run is accepted (`Job.accept`: the lock, `.hydra/`, the log file);
        a `fresh` run that does not resume drops an earlier run's sections."""
        super().accept()
        if fresh and not self.reuse:
            self.remove()

    def section(
        self,
        name: str,
        compute: Callable[[], tuple[Any, dict[str, np.ndarray]]],
    ) -> tuple[Any, dict[str, np.ndarray]]:
        """The section's value and arrays: reused when `resume` and saved by
        this configuration, else computed and saved."""
        meta, data = self.dir / f"{name}.json", self.dir / f"{name}.npz"
        if self.reuse and name in self.finished_sections():
            log.info("reusing the finished section '%s' from %s", name, self.dir)
            with np.load(data) as npz:
                arrays = upgraded({key: npz[key] for key in npz.files})
            return read_results(meta)["value"], arrays
        value, arrays = compute()
        write_npz(data, arrays)
        write_json(meta, {"config_hash": self.digest, "value": value})
        return value, arrays

    def keep(self) -> None:
        """On an interrupt: says which finished sections are kept and how to go
        on from them."""
        kept = self.finished_sections()
        if kept:
            log.warning(
                "%s: interrupted; the finished sections %s are kept in %s: "
                "continue with resume=true hydra.run.dir=%s",
                self.label,
                ", ".join(kept),
                self.dir,
                self.path,
            )

    def write(
        self,
        results: dict[str, Any],
        arrays: dict[str, np.ndarray],
        matrices: dict[str, np.ndarray],
        figures: Callable[[dict[str, Any], pathlib.Path], None],
    ) -> None:
        """The run's outputs: policies.npz, crossplay.npz (if any matrix), the
        figures `figures(results, run_dir)` draws, then results.json, which
        stands for a finished run; the sections are removed after it."""
        taus = np.asarray(results["config"]["taus"])
        write_npz(self.path / "policies.npz", {"taus": taus, **arrays})
        if matrices:
            write_npz(self.path / "crossplay.npz", {"taus": taus, **matrices})
        figures(results, self.path)
        self.write_results(results)
        self.remove()

    def remove(self) -> None:
        """Deletes the sections (in a job of several processes, process 0 alone,
        which writes them: another process that got here first would delete a
        section process 0 is still writing)."""
        if writes_here() and self.dir.is_dir():
            shutil.rmtree(self.dir)


def split_arrays(
    arrays: dict[str, np.ndarray], *prefixes: str
) -> tuple[dict[str, np.ndarray], ...]:
    """{prefix/key: array} back into one dict per prefix."""
    return tuple(
        {k[len(p) + 1 :]: v for k, v in arrays.items() if k.startswith(p + "/")}
        for p in prefixes
    )
