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


def untrained_zoo(out: pathlib.Path, *overrides: str) -> None:
    """A zoo (experiments.deep.zoo) of the agents a tiny run (`HANABI_TINY`,
    then `overrides`) starts from, untrained: a run's agents to play, for a
    test that checks how agents play rather than what they learned, without
    tracing a training run of its configuration."""
    import jax

    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.deep.zoo import write_zoo
    from experiments.harness.compose import compose_config
    from marl.deep.ippo import make_policy_for

    config = compose_config("ippo", [*HANABI_TINY, *overrides], IPPORunConfig)
    policy = make_policy_for(config.ippo, config.environment)
    shape = (len(config.ent_coefs), config.seeds)
    keys = jax.random.split(jax.random.key(0), shape[0] * shape[1])
    params = jax.vmap(policy.init)(keys)
    params = jax.tree.map(lambda x: x.reshape(*shape, *x.shape[1:]), params)
    write_zoo(out, config, params, 0, {"untrained": list(overrides)})
