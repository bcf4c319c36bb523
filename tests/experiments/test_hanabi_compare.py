"""The exact micro Hanabi beside IPPO on it: one tiny run of each half, then
`python -m experiments.hanabi_compare` on the two."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from experiments import hanabi_compare, tabular
from experiments import ippo as ippo_entry


def entry(module, *overrides: str) -> None:
    previous, sys.argv = sys.argv, [module.__name__, *overrides]
    try:
        module.main()
    finally:
        sys.argv = previous


def test_the_two_halves_are_set_side_by_side(tmp_path):
    exact, deep = tmp_path / "exact", tmp_path / "ippo"
    entry(
        tabular,
        "game=hanabi_micro",
        "horizon=5",
        "seeds=2",
        "taus=[0.3,3]",
        "learner.optimizer=npg",
        "learner.steps=6",
        "learner.window=3",
        "learner.max_steps=6",
        "studies=[]",
        f"hydra.run.dir={exact}",
    )
    entry(
        ippo_entry,
        "preset=hanabi_micro_cpu",
        "env.max_turns=5",
        "seeds=2",
        "ent_coefs=[0.1]",
        "ippo.num_envs=8",
        "ippo.num_steps=8",
        "ippo.total_timesteps=128",
        "ippo.network=mlp",
        "ippo.hidden_sizes=[16]",
        "log_every=2",
        "checkpoint_every=2",
        f"hydra.run.dir={deep}",
    )
    assert hanabi_compare.main([str(exact), str(deep), "--games", "64"]) == 0
    report = json.loads((deep / "hanabi_compare.json").read_text())
    printed = hanabi_compare.tables(report)
    assert "IPPO on the same game" in printed and "| 0.3" in printed
    assert report["taus"] == [0.3, 3.0] and len(report["ippo_agents"]) == 2
    for agent in report["ippo_agents"]:
        tv = np.asarray(agent["tv_by_tau"])
        assert ((tv >= 0) & (tv <= 1)).all()
        assert 0 <= agent["self_play"] <= 2
        # The policy read at the information states is worth what it scored.
        assert abs(agent["exact_value"] - agent["self_play"]) < 0.5
    # A run of another game is refused in one line.
    other = tmp_path / "other"
    entry(
        tabular,
        "game=lever",
        "seeds=2",
        "taus=[1]",
        "learner.steps=5",
        "learner.window=5",
        "learner.max_steps=5",
        f"hydra.run.dir={other}",
    )
    with pytest.raises(hanabi_compare.CompareError, match="not a micro Hanabi"):
        hanabi_compare.compare(other, deep, None, 8)
