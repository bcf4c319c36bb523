"""JaxMARL's trained Hanabi agent in JaxMARL's game of its time and in the lab's
(benchmarks/jaxmarl_agent.py): the committed output recomputes from its
results, and, where a clone of JaxMARL with its history is at hand, a tiny run
finds the two games' observations equal until JaxMARL's hint tokens of the time
part from HLE's."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from benchmarks import jaxmarl_agent
from tests import ROOT

RESULTS = ROOT / "docs" / "results" / "jaxmarl_agent"


def test_the_committed_output_recomputes_from_its_results():
    result = json.loads((RESULTS / "results.json").read_text())
    printed = (RESULTS / "results.txt").read_text()
    assert jaxmarl_agent.table(result) in printed
    c = result["conformance"]
    assert c["differ_before_parting"] == 0 and c["states_before_parting"] > 1000
    assert c["rewards_differ"] == 0
    sp = result["self_play"]
    assert sp["identical_games"] == sp["games"] >= 100


REPO = os.environ.get("JAXMARL_REPO")


@pytest.mark.skipif(
    not REPO,
    reason="set JAXMARL_REPO to a clone of FLAIROx/JaxMARL with its history to "
    "load the agent and JaxMARL's Hanabi of 56ef0da (not on CI: nothing fetched "
    "is committed)",
)
def test_a_tiny_run_finds_the_games_equal_until_the_tokens_part(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = jaxmarl_agent.main(
        ["--jaxmarl", str(REPO), "--games", "3", "--bot-games", "2", "--out", str(out)]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["conformance"]["differ_before_parting"] == 0
    assert result["self_play"]["identical_games"] == 3


def test_a_clone_without_the_history_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="has no baselines/MAPPO"):
        jaxmarl_agent._show(pathlib.Path(tmp_path), jaxmarl_agent.MODEL)
