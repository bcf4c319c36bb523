"""Agents as objects (experiments/deep/players.py): the README's example runs as
written after its tiny training run, `play_game` plays what cross-play plays,
and a wrong directory, seed or coefficient is one line."""

from __future__ import annotations

import os
import re
import shlex

import jax
import numpy as np
import pytest

from experiments import ippo as train_entry
from experiments.deep.agents import CrossPlayError, add_bots, load_agents, seat_policy
from experiments.deep.ippo_runs import read_run_config
from experiments.deep.players import bot, load, play_game
from marl.deep import play as games_play
from marl.deep.networks import with_scripted
from tests import ROOT
from tests.tiny_runs import run_main


def readme_example() -> tuple[list[str], str]:
    """The README's tiny training command (its overrides) and Python example."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Trained agents in Python")[1]
    command = re.search(r"```bash\n(python -m experiments.ippo .*)\n```", section)
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert command and code, "the README's agent example moved"
    return shlex.split(command.group(1))[3:], code.group(1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory in which the README's training command has run."""
    root = tmp_path_factory.mktemp("readme")
    overrides, _ = readme_example()
    overrides = [
        o.replace("results/", f"{root}/results/")
        if o.startswith("hydra.run.dir")
        else o
        for o in overrides
    ]
    run_main(train_entry, *overrides)
    return root


def test_the_readme_example_runs_as_written(workdir, capsys, monkeypatch):
    _, code = readme_example()
    monkeypatch.chdir(workdir)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("ent_coef=0.1 seed 0 with ent_coef=0.1 seed 1: ")
    assert printed[1].startswith("plays ") and printed[2].startswith("with IGGI:")


def test_players_of_one_network_shape_share_one_compilation(workdir):
    """`act` is compiled once per network shape with the parameters passed in
    (JaxMARL's `greedy_act`), not once per player: two seeds of a run, one
    trace; their moves still their own."""
    first, second = load(workdir / "results/hanabi/tiny", ent_coef=0.1)
    assert first._act.func is second._act.func
    assert first._act.args[0] is first.params
    env = first.env
    state = env.reset(jax.random.key(3))
    obs, legal = env.observe(state)[0], env.legal_actions(state)[0]
    moves = [p.act(obs, legal, greedy=True, first=True) for p in (first, second)]
    assert not np.allclose(moves[0].probs, moves[1].probs)  # different agents


def test_a_player_is_the_agent_cross_play_loads(workdir):
    """One concept, one identity: the players of a run are the agents
    cross-play loads from it (run, coefficient, seed, update, group), each
    with its own parameters; a bot is the partner cross-play adds."""
    run = workdir / "results/hanabi/tiny"
    players = load(run)
    loaded = load_agents([str(run)])
    assert [p.agent for p in players] == loaded.agents
    for k, player in enumerate(players):
        for mine, stacked in zip(
            jax.tree.leaves(player.params), jax.tree.leaves(loaded.params), strict=True
        ):
            np.testing.assert_array_equal(mine, stacked[k])
    assert players[0].name == f"ent_coef={players[0].agent.ent_coef:g} seed 0"
    iggi = bot(players[0].env, "iggi")
    agents, _ = add_bots(
        loaded.agents, loaded.params, players[0].env, ["iggi"], per_seat=False
    )
    assert iggi.agent == agents[-1] and iggi.name == "bot=iggi"


def test_play_game_plays_what_cross_play_plays(workdir):
    """Greedy games of trained agents and of a bot, move by move through
    `Player.act`, score what the batched evaluator scores on the same deals."""
    run = workdir / "results/hanabi/tiny"
    first, second = load(run, ent_coef=0.1)
    env = first.env
    iggi = bot(env, "iggi")
    config = read_run_config(run)
    policy = with_scripted(seat_policy(config.ippo, env), [s for _, s in env.scripted])
    deals, _ = games_play.deal(env, key=jax.random.key(5), num_games=4)
    for pair, scripts in (((first, second), (0, 0)), ((first, iggi), (0, 1))):
        params = jax.tree.map(lambda *xs: np.stack(xs), first.params, second.params)
        seats = games_play.identity_seats(
            {"network": params, "script": np.asarray(scripts, np.int32)}, env
        )
        batched = games_play.play_outcome(
            policy, seats, env, key=jax.random.key(5), num_games=4, greedy=True
        ).score
        one_by_one = [
            play_game(
                list(pair),
                key=jax.random.key(0),
                greedy=True,
                start=jax.tree.map(lambda x, n=n: x[n], deals),
            ).score
            for n in range(4)
        ]
        np.testing.assert_allclose(one_by_one, np.asarray(batched))


def test_wrong_directory_seed_or_coefficient_is_one_line(workdir, tmp_path):
    run = workdir / "results/hanabi/tiny"
    for call, message in (
        (lambda: load(tmp_path / "nothing"), "is not a directory"),
        (lambda: load(tmp_path), "is not an IPPO run directory"),
        (lambda: load(run, ent_coef=0.3), "no agents at ent_coef=0.3; it trained 0.1"),
        (lambda: load(run, seed=5), "has seeds 0..1, not seed 5"),
        # once "Unknown format code 'g'"
        (
            lambda: load(run, ent_coef="0.1"),
            r"ent_coef must be a number, not '0.1' \(str\)",
        ),
        (lambda: load(run, seed=1.0), r"seed must be an integer, not 1.0 \(float\)"),
        (lambda: bot(load(run)[0].env, "smartbot"), "no partner 'smartbot'"),
    ):
        with pytest.raises(CrossPlayError, match=message) as raised:
            call()
        assert "\n" not in str(raised.value)
    assert os.path.isdir(run)
