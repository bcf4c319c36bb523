"""Replays (games/envs/hanabi/replay.py, experiments/replay.py): a game whose moves
are known shows them in its record, its page (in a headless browser where one is
installed) and hanab.live's JSON; the entry point writes them for trained pairs
and bots, and a GIF for Overcooked."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import imageio
import jax
import numpy as np
import pytest

from experiments import ippo as train_entry
from experiments import replay
from games.envs.hanabi import rules
from games.envs.hanabi.params import make_params
from games.envs.hanabi.replay import game_record, hanab_live, html_page
from tests.tiny_runs import run_main, train


def card(params, color, rank):
    return color * params.num_ranks + rank  # rank from 0


def known_game(params, first_cards, actions):
    """States of a game dealt from a deck that starts with `first_cards`."""
    rest = list(params.sorted_deck())
    for c in first_cards:
        rest.remove(c)
    state = rules.reset(jax.random.key(0), params, np.asarray(first_cards + rest))
    states = [jax.tree.map(np.asarray, state)]
    for action in actions:
        state, _, _ = rules.step(state, np.int32(action), params)
        states.append(jax.tree.map(np.asarray, state))
    return states


def full_game():
    """Full 2-player Hanabi: P0 holds R1 R2 R3 Y1 Y2, P1 holds G1 B1 W5 R1 Y3.
    P0 hints "1" to P1 (touching G1, B1, R1), P1 plays G1 (scores), P0 plays
    its R1 (scores), P1 discards W5 (now its second card), P0 plays Y2 (now its
    fourth card: a misplay)."""
    params = make_params("Hanabi-Full", 2)
    c = lambda color, rank: card(params, color, rank)  # noqa: E731
    first = [c(0, 0), c(0, 1), c(0, 2), c(1, 0), c(1, 1)]
    first += [c(2, 0), c(4, 0), c(3, 4), c(0, 0), c(1, 2)]
    hand = params.hand_size
    rank_hint = 2 * hand + params.num_color_hints
    actions = [rank_hint + 0, hand + 0, hand + 0, 1, hand + 3]
    return params, known_game(params, first, actions), actions


EXPECTED = [
    "P0 hint 1 to P1 (touched slot 1, 2, 4)",
    "P1 play slot 1 (G1, scored)",
    "P0 play slot 1 (R1, scored)",
    "P1 discard slot 2 (W5)",
    "P0 play slot 4 (Y2, misplayed)",
]


def test_the_record_of_a_known_game():
    params, states, actions = full_game()
    actors = [0, 1, 0, 1, 0]
    record = game_record(params, states, actors, actions, None, ["a", "b"])
    moves = record["moves"]
    assert [m["text"] for m in moves] == [
        "hint 1 to P1",
        "play slot 1",
        "play slot 1",
        "discard slot 2",
        "play slot 4",
    ]
    assert moves[0]["touched"] == [0, 1, 3] and moves[0]["target"] == 1
    assert [m.get("card") for m in moves[1:]] == ["G1", "R1", "W5", "Y2"]
    assert [m.get("scored") for m in moves[1:]] == [True, True, False, False]
    assert record["score"] == 2 and record["states"][-1]["lives"] == 2
    assert record["states"][1]["knows"][1][0] == "RYGWB 1"  # told "1"
    assert record["states"][-1]["discards"] == ["Y2", "W5"]


def test_hanab_live_json_replays_to_the_same_game():
    """hanab.live's actions name cards by their place in the deck: turned back
    into action ids they step the rules through the same states."""
    params, states, actions = full_game()
    live = hanab_live(params, states, actions)
    assert live["options"] == {"variant": "No Variant"}
    assert len(live["deck"]) == 50 and live["deck"][0] == {"suitIndex": 0, "rank": 1}
    assert live["actions"] == [
        {"type": 3, "target": 1, "value": 1},
        {"type": 0, "target": 5},  # G1, the first card dealt to P1
        {"type": 0, "target": 0},  # R1, the first card of the deck
        {"type": 1, "target": 7},  # W5
        {"type": 0, "target": 4},  # Y2
    ]
    assert hanab_live(make_params("Hanabi-Small", 2), states, actions) is None


def dump_dom(page: pathlib.Path, step: int) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip(
            "no headless browser (chromium) here: the replay page's browser check "
            "is skipped; `apt-get install chromium` runs it"
        )
    done = subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={page.parent / 'chromium-profile'}",  # not in TMPDIR
            "--dump-dom",
            f"{page.as_uri()}#step={step}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_page_shows_the_known_moves_in_a_browser(tmp_path):
    params, states, actions = full_game()
    record = game_record(params, states, [0, 1, 0, 1, 0], actions, None, ["a", "b"])
    page = tmp_path / "game.html"
    page.write_text(html_page(record))
    dom = dump_dom(page, 2)
    for move in EXPECTED:
        assert f"<li>{move}</li>" in dom or f'">{move}</li>' in dom, move
    assert "step 2 / 5" in dom
    assert '<li class="now">P0 play slot 1 (R1, scored)</li>' in dom
    # After the hint and G1's play: green at 1, red at 0.
    assert '<span class="G">G1</span>' in dom and '<span class="R">R0</span>' in dom
    end = dump_dom(page, 99)  # past the end: the last step
    assert "step 5 / 5" in end and "final score 2" in end and "lives: 2" in end


def test_replays_of_a_trained_pair_and_a_bot(tmp_path, capsys):
    run = tmp_path / "run"
    train(run, "env.preset=Hanabi-Full")
    out = tmp_path / "replays"
    argv = [str(run), "--seats", "0.1:1", "piers", "--games", "2", "--out", str(out)]
    assert replay.main(argv) == 0
    for k in range(2):
        record = json.loads((out / f"game_{k}.json").read_text())
        assert record["players"] == ["ent_coef=0.1 seed 1", "bot=piers"]
        assert record["score"] == sum(m["reward"] for m in record["moves"])
        for move in record["moves"]:
            chances = [p for _, p in move["policy"]]
            assert chances == sorted(chances, reverse=True) and sum(chances) <= 1.001
        live = json.loads((out / f"game_{k}.hanablive.json").read_text())
        assert len(live["actions"]) == len(record["moves"])
        assert (
            '"players": ["ent_coef=0.1 seed 1", "bot=piers"]'
            in (out / f"game_{k}.html").read_text()
        )
    printed = capsys.readouterr().out
    assert "game 1: score" in printed
    for seats, message in (
        (["0.1:1"], "--seats names 1 players"),
        (["0.2:0", "iggi"], "no agents at ent_coef=0.2"),
        (["0.1:0", "smartbot"], "no partner 'smartbot'"),
        (["x:y", "iggi"], "write an entropy coefficient and a seed"),
    ):
        assert replay.main([str(run), "--seats", *seats, "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], error


def test_an_overcooked_replay_is_a_gif(tmp_path):
    pytest.importorskip("jaxmarl")
    run = tmp_path / "oc"
    run_main(
        train_entry,
        "env=overcooked",
        "env.max_steps=40",
        "seeds=1",
        "ent_coefs=[0.1]",
        "ippo.num_envs=4",
        "ippo.num_steps=8",
        "ippo.total_timesteps=64",
        "ippo.hidden_sizes=[16]",
        "log_every=2",
        "checkpoint_every=2",
        f"hydra.run.dir={run}",
    )
    assert replay.main([str(run), "--greedy", "--out", str(tmp_path / "r")]) == 0
    frames = imageio.mimread(tmp_path / "r" / "game_0.gif", memtest=False)
    record = json.loads((tmp_path / "r" / "game_0.json").read_text())
    # (The GIF writer merges identical frames: agents that stand still.)
    assert 1 <= len(frames) <= 41 and frames[0].shape[-1] == 3
    assert len(record["actions"]) == 40 and len(record["actions"][0]) == 2
