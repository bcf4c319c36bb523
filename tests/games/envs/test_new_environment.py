"""Adding an environment is one module, one registry line and one env YAML, with
no preset and no change to marl/ or experiments/ (docs/architecture.md): done
here once with tests/coordination_env.py, then trained, resumed and cross-played
through the entry points as a user would run them."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from experiments import crossplay
from experiments import ippo as train_entry
from games.envs.contract import ENVIRONMENTS, make_env
from tests.games.envs.test_environments import check_conforms

TINY = [
    "seeds=2",
    "ent_coefs=[0.01,0.1]",
    "ippo.num_envs=8",
    "ippo.num_steps=4",
    "ippo.total_timesteps=64",
    "ippo.hidden_sizes=[16]",
    "log_every=2",
    "checkpoint_every=2",
]


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """The registry line and the env YAML (on hydra's search path, as a user's
    own config directory would be); returns the search-path override."""
    monkeypatch.setitem(ENVIRONMENTS, "coordination", "tests.coordination_env:make")
    conf = tmp_path / "conf" / "env"
    conf.mkdir(parents=True)
    (conf / "coordination.yaml").write_text(
        "# The repeated coordination game (tests/coordination_env.py).\n"
        "name: coordination\nnum_actions: 3\nrounds: 4\n"
    )
    return f"hydra.searchpath=[file://{tmp_path / 'conf'}]"


def train(monkeypatch, *overrides: str) -> None:
    monkeypatch.setattr(sys, "argv", ["experiments.ippo", *overrides])
    train_entry.main()


def test_new_environment_conforms_to_the_contract(registered):
    env = make_env("coordination", num_actions=3, rounds=4)
    assert env.symmetries.size == 6
    check_conforms(env)


def test_new_environment_trains_without_a_preset_and_cross_plays(
    registered, monkeypatch, tmp_path
):
    run = tmp_path / "run"
    train(monkeypatch, "env=coordination", registered, *TINY, f"hydra.run.dir={run}")
    results = json.loads((run / "results.json").read_text())
    # No preset: the run is named after the environment, the schema's defaults
    # fill everything the command line did not set.
    assert results["name"] == "coordination"
    assert results["config"]["env"] == {
        "name": "coordination",
        "num_actions": 3,
        "rounds": 4,
    }
    assert results["config"]["ippo"]["gae_lambda"] == 0.95  # the schema's
    returns = np.asarray(results["final_return"])
    assert returns.shape == (2, 2)
    assert ((returns >= 0) & (returns <= 4)).all()

    out = tmp_path / "xp"
    assert crossplay.main([str(run), "--games", "8", "--out", str(out)]) == 0
    xp = json.loads((out / "results.json").read_text())
    assert xp["num_agents"] == 4
    assert xp["symmetry"]["num_permutations"] == 6
    assert [p["ent_coef"] for p in xp["points"]] == [0.01, 0.1]
