"""Overrides that make an entry-point run tiny, and entry points run in the
test's own process (tests only)."""

from __future__ import annotations

import pathlib
import sys
from types import ModuleType

TINY = [
    "seeds=3",
    "taus=[0,1]",
    "learner.steps=20",
    "learner.window=10",
    "learner.max_steps=20",
]

# Cross-play's convention matrices from a few games per agent (sampled and
# greedy), where they are not what a test checks.
FEW_CONVENTIONS = ["--convention-games", "4"]

# 2 updates of 8 games x 8 steps on Hanabi-Small (2 colors), 2 seeds x 2 entropy
# coefficients per run, a checkpoint at the end.
HANABI_TINY = [
    "env.preset=Hanabi-Small",
    "seeds=2",
    "ent_coefs=[0.01,0.1]",
    "ippo.num_envs=8",
    "ippo.num_steps=8",
    "ippo.total_timesteps=128",
    "ippo.hidden_sizes=[16]",
    "log_every=2",
    "checkpoint_every=2",
]


def run_main(module: ModuleType, *argv: str) -> None:
    """`python -m <module> <argv>` in this process: a hydra entry point reads
    its overrides from sys.argv, which is put back afterwards."""
    previous, sys.argv = sys.argv, [module.__name__, *argv]
    try:
        module.main()
    finally:
        sys.argv = previous


def train(run_dir: pathlib.Path | str, *overrides: str) -> None:
    """A tiny IPPO run (`HANABI_TINY`, then `overrides`) trained into
    `run_dir`, in this process."""
    from experiments import ippo

    run_main(ippo, *HANABI_TINY, *overrides, f"hydra.run.dir={run_dir}")
