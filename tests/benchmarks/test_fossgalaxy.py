"""The lab's bots against Walton-Rivers et al.'s own agents (fossgalaxy/hanabi):
the committed games of the originals replay move for move, the committed table
recomputes from its rows, and, where a checkout is at hand, the framework
builds and its games replay."""

from __future__ import annotations

import gzip
import json
import os
import pathlib

import numpy as np
import pytest

from benchmarks import fossgalaxy, hanabi_bots
from games.envs.hanabi import bots
from games.envs.hanabi.params import make_params
from tests import ROOT

RESULTS = ROOT / "docs" / "results" / "hanabi_bots"


def committed_traces() -> dict[str, str]:
    """The benchmark's recorded games of each original agent, by bot."""
    text = gzip.decompress((RESULTS / "original_traces.txt.gz").read_bytes()).decode()
    parts = text.split("bot ")[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts}


def test_the_original_agents_games_replay_move_for_move():
    """The first committed game of each original agent, played again in the
    lab's Hanabi: at every move the lab's bot allows the move the original
    made, by the same rule (slots in the framework's positions)."""
    params = make_params("Hanabi-Full", 2)
    traces = committed_traces()
    assert set(traces) == set(bots.BOTS)
    for name, text in traces.items():
        game = fossgalaxy.games(text)[0]
        decisions = fossgalaxy.replay(game, name, params)
        assert len(decisions) > 40
        assert all(d.agrees for d in decisions), (name, decisions)
        # every rule but the last resort decided some move
        assert max(d.rule for d in decisions) < len(bots.RULES[name])


def test_the_committed_table_recomputes_from_its_rows_and_traces():
    rows = json.loads((RESULTS / "selfplay_2p.json").read_text())
    traces = committed_traces()
    printed = (RESULTS / "selfplay_2p.txt").read_text()
    assert hanabi_bots.table(rows) in printed
    for row in rows:
        games = fossgalaxy.games(traces[row["bot"]])
        moves = sum(1 for game in games for e in game.events if e[0] != "draw")
        assert row["replay"] == {"games": len(games), "moves": moves, "allowed": moves}
        assert row["original"]["se"] > 0 and row["games"] >= 1000


def test_a_replay_refuses_a_game_the_deck_cannot_hold():
    """A trace that draws a second copy of a 5 is refused, naming the game."""
    params = make_params("Hanabi-Full", 2)
    name, text = next(iter(committed_traces().items()))
    game = fossgalaxy.games(text)[0]
    events = list(game.events)
    draws = [k for k, e in enumerate(events) if e[0] == "draw"]
    for k in draws[:2]:
        events[k] = (*events[k][:3], 0, 5)
    broken = game._replace(events=tuple(events))
    with pytest.raises(fossgalaxy.FossgalaxyError, match=f"game {game.seed}: more"):
        fossgalaxy.replay(broken, name, params)


def test_a_path_that_is_no_checkout_is_refused_in_one_line(tmp_path):
    with pytest.raises(fossgalaxy.FossgalaxyError, match="not a checkout"):
        fossgalaxy.build(tmp_path, tmp_path / "classes")


CHECKOUT = os.environ.get("FOSSGALAXY_HANABI")


@pytest.mark.skipif(
    not CHECKOUT,
    reason="set FOSSGALAXY_HANABI to a checkout of fossgalaxy/hanabi to build "
    "and play the original agents (not on CI: nothing fetched is committed)",
)
def test_the_original_agents_build_play_and_replay(tmp_path):
    params = make_params("Hanabi-Full", 2)
    classes = fossgalaxy.build(pathlib.Path(str(CHECKOUT)), tmp_path / "classes")
    for name in bots.BOTS:
        text = fossgalaxy.play(classes, name, players=2, games=2, trace=True)
        for game in fossgalaxy.games(text):
            assert all(d.agrees for d in fossgalaxy.replay(game, name, params))
        scores = fossgalaxy.scores(fossgalaxy.play(classes, name, players=2, games=50))
        assert scores.size == 50 and 5 < np.mean(scores) <= 25
