"""The exact micro Hanabi beside IPPO on it: one tiny run of each half, then
`python -m experiments.hanabi_compare` on the two."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from experiments import hanabi_compare, tabular
from experiments import ippo as ippo_entry
from experiments.deep.agents import load_agents, seat_policy
from experiments.deep.micro_hanabi_visits import distances, visited_policies
from games import hanabi_tabular
from marl.deep import play
from marl.deep.networks import masked_logits
from tests.tiny_runs import run_main as entry


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
    # The vectorized reader is the per-game one of tuples and dictionaries.
    reader_agrees_with_tuple_histories(deep, "hanabi_micro", 5)
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


def tuple_histories(agent, policy, env, params, compiled, game, *, shared, key, n):
    """The reader written plainly: every game's histories as tuples of
    ("o", id) and ("a", action), looked up in dictionaries of the keys."""
    seats = play.identity_seats(play.seat_params(agent, 2, shared), env)
    index = [{k: i for i, k in enumerate(keys)} for keys in game.infostate_keys]
    sums = [np.zeros(shape) for shape in game.policy_shapes]
    visits = [np.zeros(shape[0]) for shape in game.policy_shapes]
    states, act_key = play.deal(env, key=key, num_games=n)
    carry, first = policy.initial_carry(n), jnp.ones(n, bool)

    def seen(states):
        keys = hanabi_tabular.observation_bytes(getattr(states, "game", states), params)
        return [
            [("o", compiled.observation_ids[i][keys[g, i]]) for i in (0, 1)]
            for g in range(n)
        ]

    views = [[(o,) for o in row] for row in seen(states)]
    score = np.zeros(n)
    for t in range(game.horizon):
        mover = t % 2
        over = np.asarray(getattr(states, "game", states).terminal)
        decision = play.decide(policy, seats, env, states, carry, first)
        masked = masked_logits(decision.logits, decision.legal)
        dist = np.asarray(jax.nn.softmax(masked, axis=-1), np.float64)[:, 0]
        step_key = jax.random.fold_in(act_key, t)
        actions = np.asarray(jax.random.categorical(step_key, masked, axis=-1))[:, 0]
        actions = np.where(over, 0, actions).astype(np.int32)
        for g in range(n):
            if not over[g]:
                k = index[mover][views[g][mover]]
                sums[mover][k] += dist[g]
                visits[mover][k] += 1
            views[g][mover] += (("a", int(actions[g])),)
        states, reward, _ = jax.vmap(env.step)(
            jax.random.split(jax.random.fold_in(step_key, 1), n),
            states,
            jnp.asarray(actions)[:, None],
        )
        score += np.asarray(reward)
        carry, first = decision.carry, jnp.zeros_like(first)
        if t < game.horizon - 1:
            for g, row in enumerate(seen(states)):
                for i in (0, 1):
                    views[g][i] += (row[i],)
    return sums, visits, float(score.mean())


def reader_agrees_with_tuple_histories(run, name, horizon):
    loaded = load_agents([str(run)])
    params, config = loaded.params, loaded.config
    compiled = hanabi_tabular.micro(name, horizon)
    game = games.compile_game(compiled.spec)
    env = config.scoring_environment
    policy = seat_policy(config.ippo, env)
    env_params, _ = hanabi_compare.hanabi_params(config, run)
    one = jax.tree.map(lambda x: x[0], params)
    shared = config.ippo.share_parameters
    key = jax.random.key(3)
    visited = visited_policies(
        one,
        policy,
        env,
        env_params,
        compiled,
        game,
        shared=shared,
        key=key,
        num_games=48,
    )
    sums, visits, score = tuple_histories(
        one, policy, env, env_params, compiled, game, shared=shared, key=key, n=48
    )
    assert visited.missed == 0 and visited.score == pytest.approx(score)
    for i in (0, 1):
        np.testing.assert_array_equal(visited.visits[i], visits[i])
        assert visits[i].sum() > 0
        read = sums[i] / np.maximum(visits[i], 1)[:, None]
        # The same float32 network, jitted there and not here: rounding apart.
        np.testing.assert_allclose(visited.policies[i], read, rtol=1e-6, atol=1e-7)
    # Distances to every fixed point at once are each one's alone.
    fixed = [np.stack([p, np.full_like(p, 1 / p.shape[1])]) for p in visited.policies]
    tv = distances(visited, fixed)
    assert tv.shape == (2,) and tv[0] == pytest.approx(0, abs=1e-12) and tv[1] > 0
