"""The test suite, in folders that mirror the house: games/tabular, games/envs,
marl/tabular, marl/deep and marl (the shared trainer pieces), experiments (the
entry points, run as a user would) and benchmarks; the helpers the folders share
(tiny run settings, brute force, a toy environment, sharded runs) at the top."""

import pathlib
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
"""The checkout's root."""


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """`python -c code` in a fresh interpreter at the checkout's root; its
    standard output, asserting exit 0 (its stderr's tail otherwise)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def start_until(
    module: str, args: list[str], marker: str, timeout: float = 240, **popen: Any
) -> tuple[subprocess.Popen[str], str]:
    """Starts `python -m module args` at the checkout's root and reads its
    stdout until a line contains `marker` (the run is then past its compilation,
    in its work); returns the running process and the lines read, asserting the
    marker came."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert process.stdout is not None
    lines = []
    deadline = time.time() + timeout
    for line in process.stdout:
        lines.append(line)
        if marker in line or time.time() > deadline:
            break
    assert lines and marker in lines[-1], "".join(lines)[-2000:]
    return process, "".join(lines)


def small_horizon(name: str) -> int | None:
    """The horizon at which catalogue-wide tests take catalogue game `name`: the
    Dec-POMDP benchmarks at 2, the micro Hanabi at 4 of its 13 turns (154 states,
    366 histories), every other game at its own."""
    import games  # here, so that `tests` itself stays free of imports

    if name in games.BENCHMARKS:
        return 2
    if name in games.hanabi_tabular.MICRO:
        return 4
    return None


def catalogue() -> list[str]:
    """The catalogue games that catalogue-wide tests take: every game, with one
    micro Hanabi standing for the others (one compiler makes them all)."""
    import games

    others = sorted(games.hanabi_tabular.MICRO)[1:]
    return sorted(set(games.CATALOGUE) - set(others))
