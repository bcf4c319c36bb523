"""One seat, one encoding: agents trained on Hanabi's canonical observation and
agents trained on JaxMARL's v0_belief cross-play in one batched evaluation,
each seat fed its own encoding (`games.envs.contract.seen_through`,
`marl.deep.networks.with_encodings`, `experiments.deep.agents.load_agents`),
checked against the players' path (`experiments.deep.players.play_game`), in
which each seat observes through its own player's environment."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import crossplay
from experiments.deep.agents import load_agents, seat_policy
from experiments.deep.players import load, play_game
from games.envs.contract import make_env, seen_through
from marl.deep import play as games_play
from tests.tiny_runs import FEW_CONVENTIONS, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A canonical run and a v0_belief run of Hanabi-Small (2 seeds x 2 each)."""
    root = tmp_path_factory.mktemp("mixed")
    train(root / "canonical")
    train(root / "belief", "env.observation=v0_belief", "ippo.seed=1")
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


def test_a_canonical_and_a_belief_agent_play_as_the_players_path_plays_them(runs):
    loaded = load_agents([str(runs)])
    assert loaded.encodings == 2 and len(loaded.agents) == 8
    # One encoding per run, agents in the order of the runs found.
    np.testing.assert_array_equal(loaded.params["encoding"], [0] * 4 + [1] * 4)
    policy = seat_policy(loaded.config.ippo, loaded.env, encodings=2)
    key, num_games = jax.random.key(5), 3
    scores = jax.jit(
        lambda p: games_play.crossplay_scores(
            policy,
            p,
            loaded.env,
            per_seat=not loaded.config.ippo.share_parameters,
            key=key,
            num_games=num_games,
            greedy=True,
        )
    )(loaded.params).score

    # A canonical agent and a belief agent in both seat orders, each fed its
    # own encoding, on the same deals.
    def index(run: str, coef: float, seed: int) -> int:
        found = [
            k
            for k, a in enumerate(loaded.agents)
            if a.run == str(runs / run) and a.ent_coef == coef and a.seed == seed
        ]
        return found[0]

    i, j = index("canonical", 0.01, 0), index("belief", 0.1, 1)
    assert loaded.params["encoding"][i] != loaded.params["encoding"][j]
    first = load(runs / "canonical", ent_coef=0.01, seed=0)[0]
    second = load(runs / "belief", ent_coef=0.1, seed=1)[0]
    games, _ = games_play.deal(loaded.env, key=key, num_games=num_games)
    moves = {}  # every consecutive pair of moves of each game, batched
    for a, b in ((i, j), (j, i)):
        observation, actions = games_play.identity_tables(loaded.env)
        seats = games_play.make_seats(
            loaded.params,
            jnp.asarray([a, b]),
            per_seat=not loaded.config.ippo.share_parameters,
            observation=np.stack([observation] * 2),
            actions=np.stack([actions] * 2),
        )
        moves[a, b] = games_play.action_transitions(
            policy, seats, loaded.env, key=key, num_games=num_games, greedy=True
        ).per_game
    for n in range(num_games):
        start = jax.tree.map(lambda x, n=n: x[n], games)
        for (a, b), seats in (((i, j), [first, second]), ((j, i), [second, first])):
            game = play_game(seats, key=key, greedy=True, start=start)
            assert float(scores[a, b, n]) == game.score, (a, b, n)
            pairs = np.zeros(moves[a, b].shape[1:])
            for (mine,), (theirs,) in zip(
                game.actions[:-1], game.actions[1:], strict=True
            ):
                pairs[mine, theirs] += 1
            np.testing.assert_array_equal(moves[a, b][n], pairs)


def test_crossplay_evaluates_runs_of_two_encodings_together(runs, tmp_path):
    """The entry point: both runs' agents and a bot (reading the canonical part
    of the concatenated observation) in one evaluation, a group per run and
    coefficient and one for the bot."""
    out = tmp_path / "xp"
    args = [str(runs), "--games", "2", "--permutations", "1", "--bots", "iggi"]
    args += FEW_CONVENTIONS
    assert crossplay.main([*args, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["num_agents"] == 9 and results["game"] == "Hanabi-Small"
    groups = [p["group"] for p in results["points"]]
    assert len(groups) == 5 and any("v0_belief" in g for g in groups)
