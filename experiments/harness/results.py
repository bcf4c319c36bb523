"""Run directories: atomic writes of results, arrays and metadata; reading them back."""

from __future__ import annotations

import csv
import functools
import io
import json
import pathlib
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

from marl.files import atomic_write_bytes

RESULTS_FILE = "results.json"
TRAINING_KINDS = ("ippo_training", "hanabi_training")
"""`kind` of an IPPO training run's results (the second: before the environment
contract, Hanabi only)."""
CROSSPLAY_KINDS = ("crossplay", "hanabi_crossplay")
"""`kind` of a cross-play evaluation's results (likewise)."""


def value_se(value: Any, se: Any = None, digits: int = 2, pm: str = "±") -> str:
    """A table cell: "-" for None, else value, or value ± se, to `digits`
    decimals (the one formatter of a value and its standard error)."""
    if value is None:
        return "-"
    if se is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} {pm} {se:.{digits}f}"


def write_json(path: pathlib.Path, payload: Any) -> None:
    atomic_write_bytes(
        path, (json.dumps(payload, indent=2, allow_nan=True) + "\n").encode()
    )


def write_csv(
    path: pathlib.Path, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    """`rows` as a CSV with a header of `columns` (other keys left out)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def write_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@functools.cache
def git_revision() -> str | None:
    """The project's git commit (with '+dirty' if modified), or None outside
    git: read once per process, when an entry point starts its run
    (`experiments.harness.entry`), so that a run records the code it loaded,
    not a commit made while it ran."""
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # --no-optional-locks: `git status` otherwise refreshes the index
        # under .git/index.lock, which a run stopped at that moment (Ctrl-C,
        # a scheduler's kill) leaves behind, and every later git command of
        # the checkout then refuses to run until it is removed by hand.
        status = ["status", "--porcelain", "--untracked-files=no"]
        dirty = subprocess.run(
            ["git", "--no-optional-locks", *status],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty.strip() else "")


def run_metadata() -> dict[str, Any]:
    """What is needed to reproduce a run besides its config."""
    versions = {}
    for package in ("jax", "jaxlib", "optax", "numpy", "hydra-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "git_revision": git_revision(),
        "command": rerun_command(sys.argv),
        "device": device_text(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def rerun_command(argv: list[str]) -> str:
    """The command line that reruns this process as written, shell-quoted: an entry
    point run as `python -m experiments.<name>` (sys.argv[0] is then its file)
    or through its console script (`zsc-<name>`)."""
    program = pathlib.Path(argv[0])
    if program.suffix == ".py" and program.parent.name == "experiments":
        head = ["python", "-m", f"experiments.{program.stem}"]
    else:
        head = [program.name]
    return shlex.join([*head, *argv[1:]])


def device_text() -> str:
    """What computed the run: JAX's backend, device kind and count."""
    import jax

    devices = jax.devices()
    return f"{jax.default_backend()}: {len(devices)} x {devices[0].device_kind}"


def format_estimate(
    value: float | None, se: float | None, digits: int = 3, sign: str = "+-"
) -> str:
    """'value +- se' for printing (the one formatter of an estimate; `sign` "±"
    for markdown), never '+- 0.000': an error too small for `digits` decimals
    is printed to one significant figure, none at all as 'no spread' (every
    value equal) or, when there is no estimate (too few seeds for one), as 'se
    n/a'."""
    if value is None:
        return "-"
    shown = f"{value:.{digits}f}"
    if se is None:
        return f"{shown} (se n/a)"
    if se == 0:
        return f"{shown} (no spread)"
    if se < 10**-digits:
        return f"{value:.{digits + 3}f} {sign} {se:.1g}"
    return f"{shown} {sign} {se:.{digits}f}"


def find_results(paths: list[str | pathlib.Path]) -> Iterator[pathlib.Path]:
    """Every results.json under the given run or sweep directories, sorted."""
    for path in map(pathlib.Path, paths):
        if path.is_file() and path.name == RESULTS_FILE:
            yield path
        elif path.is_dir():
            yield from sorted(path.rglob(RESULTS_FILE), key=_natural_key)


def _natural_key(path: pathlib.Path) -> list:
    """Sorts '2_lever' before '10_bad' (hydra numbers sweep jobs from 0)."""
    return [
        int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))
    ]


RENAMED_KEYS = {"certified": "converged"}
"""Keys that results.json files written before a rename still carry, and their
names now: "certified" counted the seeds whose *estimated* distance to a fixed
point was below tolerance (marl/tabular/convergence.py), so it is "converged"."""


def upgraded(value: Any) -> Any:
    """`value` (parsed results.json, a section or an arrays mapping) with the old
    keys of RENAMED_KEYS renamed, at any depth."""
    if isinstance(value, dict):
        return {
            RENAMED_KEYS.get(key, key): upgraded(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [upgraded(item) for item in value]
    return value


def read_results(path: pathlib.Path) -> dict[str, Any]:
    """A results.json, upgraded to the present key names (`upgraded`)."""
    return upgraded(json.loads(path.read_text()))


def metrics_lines(run_dir: pathlib.Path) -> dict[int, dict[str, Any]]:
    """A training run's metrics.jsonl by update (empty when there is none)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    lines = (json.loads(line) for line in path.read_text().splitlines() if line)
    return {line["update"]: line for line in lines}


def matched_stages(
    evaluations: list[dict[str, Any]], run_dirs: list[pathlib.Path]
) -> list[dict[str, Any]]:
    """One row per group of agents per cross-play evaluation, at the training
    stage its agents were at: the game and number of players, the group, its
    coefficient, the run (its directory's name) and update, the env steps per
    run and the group's mean policy entropy at that update (from the run's
    metrics.jsonl among `run_dirs`, found by the directory name the evaluation
    recorded; None where absent), and the evaluation's greedy and sampled SP,
    XP and gap with their standard errors, the permuted-copy drop and the
    number of conventions. A group evaluated twice at one update (a milestone
    beside another run's agents) is kept once, from the first evaluation
    given. Sorted by game, run, group and update: each (run, group) is one
    series of stages."""
    by_name = {d.name: metrics_lines(d) for d in run_dirs}
    rows, seen = [], set()
    for results in evaluations:
        for point in results["points"]:
            agent = results["agents"][point["agents"][0]]
            run = pathlib.PurePath(agent["run"]).name
            if (run, point["ent_coef"], agent["step"]) in seen:
                continue
            seen.add((run, point["ent_coef"], agent["step"]))
            line = by_name.get(run, {}).get(agent["step"], {})
            entropy = None
            if point["ent_coef"] in line.get("ent_coefs", []):
                e = line["ent_coefs"].index(point["ent_coef"])
                entropy = float(np.mean(line["entropy"][e]))
            rows.append(
                {
                    "game": f"{results['game']}, {results['num_players']} players",
                    "run": run,
                    "group": point["group"],
                    "ent_coef": point["ent_coef"],
                    "update": agent["step"],
                    "env_steps": line.get("env_steps"),
                    "entropy": entropy,
                    **{
                        k: point.get(k)
                        for k in (
                            "sp_greedy",
                            "sp_greedy_se",
                            "xp_greedy",
                            "xp_greedy_se",
                            "xp_greedy_gap",
                            "xp_greedy_gap_se",
                            "sp",
                            "xp",
                            "xp_gap",
                            "xp_gap_se",
                            "permuted_copy_drop",
                            "permuted_copy_drop_se",
                            "num_conventions",
                        )
                    },
                }
            )
    return sorted(rows, key=lambda r: (r["game"], r["run"], r["group"], r["update"]))
