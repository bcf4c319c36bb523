"""A tabular run's finished sections, kept for a resume.

A run (experiments/tabular.py) has up to five sections: the tau grid, Other-Play,
the other entropy weighting, annealing and the sampled learner. Each is saved
under `<run dir>/sections/` the moment it finishes, as `<name>.json` (its results
and the hash of the configuration) beside `<name>.npz` (its arrays), so that
Ctrl-C or a killed job keeps it and `resume=true` reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pathlib
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from experiments.exact.tabular_config import TabularConfig
from experiments.harness.results import read_results, upgraded, write_json, write_npz
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


class Sections:
    """The finished sections of a run (the tau grid, Other-Play, the other
    weighting, annealing, the sampled learner), each saved under
    `<run dir>/sections/` the moment it finishes: Ctrl-C or a killed job keeps
    them, and `resume=true` reuses those of the same configuration instead of
    computing them again, so the resumed run ends where an uninterrupted one
    does. Removed once results.json is written."""

    def __init__(self, run_dir: pathlib.Path, config: TabularConfig) -> None:
        self.dir = run_dir / SECTIONS_DIR
        self.digest = config_digest(config)
        self.reuse = config.resume

    def finished(self) -> list[str]:
        """The sections of this configuration already on disk."""
        found = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                if read_results(path).get("config_hash") == self.digest:
                    found.append(path.stem)
            except (OSError, ValueError):
                continue
        return found

    def get(
        self,
        name: str,
        compute: Callable[[], tuple[Any, dict[str, np.ndarray]]],
    ) -> tuple[Any, dict[str, np.ndarray]]:
        """The section's value and arrays: reused when `resume` and saved by
        this configuration, else computed and saved."""
        meta, data = self.dir / f"{name}.json", self.dir / f"{name}.npz"
        if self.reuse and name in self.finished():
            log.info("reusing the finished section '%s' from %s", name, self.dir)
            with np.load(data) as npz:
                arrays = upgraded({key: npz[key] for key in npz.files})
            return read_results(meta)["value"], arrays
        value, arrays = compute()
        write_npz(data, arrays)
        write_json(meta, {"config_hash": self.digest, "value": value})
        return value, arrays

    @contextlib.contextmanager
    def kept_on_interrupt(self, label: str) -> Iterator[None]:
        """On Ctrl-C, says which finished sections are kept and how to go on
        from them, then lets the interrupt through."""
        try:
            yield
        except KeyboardInterrupt:
            kept = self.finished()
            if kept:
                log.warning(
                    "%s: interrupted; the finished sections %s are kept in %s: "
                    "continue with resume=true hydra.run.dir=%s",
                    label,
                    ", ".join(kept),
                    self.dir,
                    self.dir.parent,
                )
            raise

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
