"""One seat, one encoding, one network: agents trained on Hanabi's canonical
observation and agents trained on JaxMARL's v0_belief, and agents of different
networks (feed-forward and recurrent), cross-play in one batched evaluation,
each seat fed its own encoding and played by its own network
(`games.envs.contract.seen_through`, `marl.deep.networks.with_encodings` and
`with_networks`, `experiments.deep.agents.load_agents`), checked against the
players' path (`experiments.deep.players.play_game`), in which each seat
observes through its own player's environment and acts through its own
player's network."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import crossplay
from experiments.deep.agents import CrossPlayError, load_agents, seat_policy
from experiments.deep.players import load, play_game
from games.envs.contract import make_env, seen_through
from marl.deep import play as games_play
from tests.tiny_runs import FEW_CONVENTIONS, train, untrained_zoo


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A canonical run and a v0_belief run of Hanabi-Small (2 seeds x 2 each),
    and a zoo of canonical recurrent agents (untrained)."""
    root = tmp_path_factory.mktemp("mixed")
    train(root / "canonical")
    train(root / "belief", "env.observation=v0_belief", "ippo.seed=1")
    untrained_zoo(root / "recurrent", "ippo.network=gru", "ippo.gru_size=8")
    return root


def test_the_game_seen_through_two_encodings_shows_each_and_permutes_each():
    canonical = make_env("hanabi", preset="Hanabi-Small")
    belief = make_env("hanabi", preset="Hanabi-Small", observation="v0_belief")
    both = seen_through([canonical, belief])
    size = canonical.obs_size
    assert both.obs_size == 2 * size and both.title == "Hanabi-Small"
    state = both.reset(jax.random.key(3))
    rng = np.random.default_rng(0)
    for _ in range(4):  # a few moves in, so that hints and beliefs show
        legal = np.flatnonzero(np.asarray(both.legal_actions(state))[0])
        action = jax.numpy.asarray([int(rng.choice(legal))])
        state, _, _ = both.step(jax.random.key(0), state, action)
    seen = np.asarray(both.observe(state))
    np.testing.assert_array_equal(seen[:, :size], np.asarray(canonical.observe(state)))
    np.testing.assert_allclose(seen[:, size:], np.asarray(belief.observe(state)))
    # A symmetry's table on the concatenation is each encoding's table.
    for g in range(1, both.symmetries.size):
        moved = np.asarray(both.observe(both.permute_state(state, g)))
        np.testing.assert_allclose(seen[:, both.symmetries.observation[g]], moved)
    # The bots read the canonical part, whichever part comes first.
    flipped = seen_through([belief, canonical])
    name, script = flipped.scripted[0]
    reference = dict(canonical.scripted)[name]
    obs = np.asarray(flipped.observe(state))[0]
    np.testing.assert_array_equal(
        script(obs), reference(np.asarray(canonical.observe(state))[0])
    )
    other = make_env("hanabi", preset="Hanabi-Very-Small")
    with pytest.raises(ValueError, match="one game is observed"):
        seen_through([canonical, other])


def plays_as_the_players_path(loaded, policy, first, second) -> None:
    """Agents `first` and `second` ((run, coef, seed) each) in both seat
    orders, greedy on the same deals: the batched evaluation's scores and
    every consecutive pair of moves are the players' path's."""
    key, num_games = jax.random.key(5), 3
    per_seat = not loaded.config.ippo.share_parameters
    scores = jax.jit(
        lambda p: games_play.crossplay_scores(
            policy,
            p,
            loaded.env,
            per_seat=per_seat,
            key=key,
            num_games=num_games,
            greedy=True,
        )
    )(loaded.params).score

    def index(run, coef: float, seed: int) -> int:
        found = [
            k
            for k, a in enumerate(loaded.agents)
            if a.run == str(run) and a.ent_coef == coef and a.seed == seed
        ]
        return found[0]

    i, j = index(*first), index(*second)
    players = [
        load(run, ent_coef=coef, seed=seed)[0] for run, coef, seed in (first, second)
    ]
    games, _ = games_play.deal(loaded.env, key=key, num_games=num_games)
    moves = {}  # every consecutive pair of moves of each game, batched
    for a, b in ((i, j), (j, i)):
        observation, actions = games_play.identity_tables(loaded.env)
        seats = games_play.make_seats(
            loaded.params,
            jnp.asarray([a, b]),
            per_seat=per_seat,
            observation=np.stack([observation] * 2),
            actions=np.stack([actions] * 2),
        )
        moves[a, b] = games_play.action_transitions(
            policy, seats, loaded.env, key=key, num_games=num_games, greedy=True
        ).per_game
    orders = (((i, j), players), ((j, i), players[::-1]))
    for n in range(num_games):
        start = jax.tree.map(lambda x, n=n: x[n], games)
        for (a, b), seated in orders:
            game = play_game(seated, key=key, greedy=True, start=start)
            assert float(scores[a, b, n]) == game.score, (a, b, n)
            pairs = np.zeros(moves[a, b].shape[1:])
            for (mine,), (theirs,) in zip(
                game.actions[:-1], game.actions[1:], strict=True
            ):
                pairs[mine, theirs] += 1
            np.testing.assert_array_equal(moves[a, b][n], pairs)


def test_a_canonical_and_a_belief_agent_play_as_the_players_path_plays_them(runs):
    loaded = load_agents([str(runs / "canonical"), str(runs / "belief")])
    assert loaded.encodings == 2 and len(loaded.agents) == 8
    assert len(loaded.networks) == 1
    # One encoding per run, agents in the order of the runs found.
    np.testing.assert_array_equal(loaded.params["encoding"], [0] * 4 + [1] * 4)
    policy = seat_policy(loaded.networks, loaded.env, encodings=2)
    plays_as_the_players_path(
        loaded, policy, (runs / "canonical", 0.01, 0), (runs / "belief", 0.1, 1)
    )


def test_a_feed_forward_and_a_recurrent_agent_play_as_the_players_path(runs):
    """Two networks, one encoding: each agent's parameters in its own network
    and zeros in the other, the recurrent one's memory carried beside the
    feed-forward one's (none)."""
    loaded = load_agents([str(runs / "canonical"), str(runs / "recurrent")])
    assert loaded.encodings == 1 and len(loaded.agents) == 8
    assert [c.network for c in loaded.networks] == ["mlp", "gru"]
    np.testing.assert_array_equal(loaded.params["which"], [0] * 4 + [1] * 4)
    for n, own in enumerate((slice(0, 4), slice(4, 8))):
        leaves = jax.tree.leaves(loaded.params["networks"][n])
        other = np.ones(8, bool)
        other[own] = False
        assert all(not np.asarray(x)[other].any() for x in leaves)
        assert any(np.asarray(x)[own].any() for x in leaves)
    policy = seat_policy(loaded.networks, loaded.env)
    plays_as_the_players_path(
        loaded, policy, (runs / "recurrent", 0.1, 1), (runs / "canonical", 0.01, 0)
    )


def test_agents_of_two_networks_with_per_seat_parameters_play_as_the_players_path(
    tmp_path,
):
    """Per-seat parameters (each seat its own network's copy) of two shapes:
    the index of each agent's network is per seat too, and the game is the
    players' path's, move for move."""
    per_seat = "ippo.share_parameters=false"
    untrained_zoo(tmp_path / "plain", per_seat)
    untrained_zoo(tmp_path / "gru", per_seat, "ippo.network=gru", "ippo.gru_size=8")
    loaded = load_agents([str(tmp_path / "plain"), str(tmp_path / "gru")])
    assert not loaded.config.ippo.share_parameters and len(loaded.networks) == 2
    np.testing.assert_array_equal(loaded.params["which"], [[0, 0]] * 4 + [[1, 1]] * 4)
    policy = seat_policy(loaded.networks, loaded.env)
    plays_as_the_players_path(
        loaded, policy, (tmp_path / "gru", 0.01, 1), (tmp_path / "plain", 0.1, 0)
    )


def test_agents_with_shared_and_per_seat_parameters_are_refused(runs, tmp_path):
    """A run whose seats have their own parameters beside one whose seats
    share them: one line, naming the field (read from the configs, before any
    checkpoint is loaded)."""
    per_seat = tmp_path / "per_seat"
    shutil.copytree(runs / "canonical", per_seat)
    config = (per_seat / "config.yaml").read_text()
    assert "share_parameters: true" in config
    (per_seat / "config.yaml").write_text(
        config.replace("share_parameters: true", "share_parameters: false")
    )
    with pytest.raises(CrossPlayError, match="share_parameters=False") as error:
        load_agents([str(runs / "canonical"), str(per_seat)])
    assert "\n" not in str(error.value)


def test_crossplay_evaluates_runs_of_two_encodings_and_two_networks_together(
    runs, tmp_path
):
    """The entry point: the three runs' agents (two encodings, two networks)
    and a bot (reading the canonical part of the concatenated observation) in
    one evaluation, a group per run and coefficient and one for the bot."""
    out = tmp_path / "xp"
    args = [str(runs), "--games", "2", "--permutations", "1", "--bots", "iggi"]
    args += FEW_CONVENTIONS
    assert crossplay.main([*args, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["num_agents"] == 13 and results["game"] == "Hanabi-Small"
    groups = [p["group"] for p in results["points"]]
    assert len(groups) == 7 and any("v0_belief" in g for g in groups)
