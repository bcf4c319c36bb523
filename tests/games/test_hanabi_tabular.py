"""The micro Hanabi compiled from the rules (`games.hanabi_tabular`) against the
JAX game it comes from: one game, seen by the exact engine and played."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from games import hanabi_tabular
from games.envs.hanabi.rules import legal_actions, reset, step
from marl.tabular import exact
from marl.tabular.symmetry import preserves_game, symmetry_group

NAME = "hanabi_micro"  # 2 colors x 1 rank, 1 hint, 1 life
HORIZON = 8  # of its 13 turns: 584 states, 6,526 histories (docs/hanabi_exact.md)


@pytest.fixture(scope="module")
def compiled() -> hanabi_tabular.CompiledHanabi:
    return hanabi_tabular.micro(NAME, HORIZON)


@pytest.fixture(scope="module")
def game(compiled) -> games.TabularGame:
    return games.compile_game(compiled.spec)


def params():
    return hanabi_tabular.micro_params(**hanabi_tabular.MICRO[NAME])


def test_the_catalogue_game_has_the_color_swap_as_its_symmetry(compiled):
    assert games.make_spec(NAME, HORIZON) is compiled.spec
    assert params().max_game_length == 13
    spec = compiled.spec
    group = symmetry_group(spec)
    assert group.order == 2
    (swap,) = group.generators
    assert preserves_game(spec, swap)
    names = spec.action_names[0]
    for a, image in enumerate(swap.actions[0]):  # R <-> Y, every move alike
        assert names[image] == names[a].translate(str.maketrans("RY", "YR"))


def walk(spec: games.DecPOMDP):
    """Every (step, state, per-agent view) reached with positive probability
    under some legal play, as the compile step lays out views."""
    num_obs = spec.num_observations
    first = []
    for s in np.flatnonzero(spec.initial):
        for flat in np.flatnonzero(spec.initial_observation[s]):
            obs = np.unravel_index(flat, num_obs)
            first.append((int(s), tuple((("o", int(o)),) for o in obs)))
    nodes = first
    for t in range(spec.horizon):
        mover = t % 2
        after = []
        for s, views in nodes:
            yield t, s, views
            if t == spec.horizon - 1:
                continue
            for a in np.flatnonzero(spec.legal[mover][s]):
                joint = (a, 0) if mover == 0 else (0, a)
                seen = list(views)
                seen[mover] = views[mover] + (("a", int(a)),)
                for nxt in np.flatnonzero(spec.transition[(s, *joint)]):
                    table = spec.observation[joint][nxt]
                    for flat in np.flatnonzero(table):
                        obs = np.unravel_index(flat, num_obs)
                        after.append(
                            (
                                int(nxt),
                                tuple(
                                    seen[i] + (("o", int(o)),)
                                    for i, o in enumerate(obs)
                                ),
                            )
                        )
        nodes = list({(s, v): None for s, v in after})


def test_information_states_are_hles_and_legal_moves_agree_everywhere(compiled, game):
    spec = compiled.spec
    batch = hanabi_tabular._stack(compiled.states)
    canonical = np.asarray(hanabi_tabular._batch_canonical(batch, params()))
    legal = np.asarray(
        jax.vmap(legal_actions, in_axes=(0, None))(batch, params())
    )  # the rules', per state
    index = [{key: k for k, key in enumerate(keys)} for keys in game.infostate_keys]
    seen: dict[tuple[int, int], bytes] = {}
    visited = [set(), set()]
    for t, s, views in walk(spec):
        mover = t % 2
        k = index[mover][views[mover]]
        visited[mover].add(k)
        # The whole canonical observation is a function of the information state.
        vector = canonical[s, mover].tobytes()
        assert seen.setdefault((mover, k), vector) == vector
        expected = (
            np.arange(spec.num_actions[mover]) == 0
            if compiled.states[s]["terminal"]
            else legal[s]
        )
        np.testing.assert_array_equal(np.asarray(game.legal[mover][k]), expected)
    assert [len(v) for v in visited] == list(game.num_infostates)


def test_a_fixed_policy_is_worth_in_the_jax_game_what_the_engine_says(compiled, game):
    p = params()
    rng = np.random.default_rng(0)
    logits = tuple(
        jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in game.policy_shapes
    )
    policy = [
        np.asarray(x, np.float64) for x in exact.softmax_policy(logits, game.legal)
    ]
    value = float(exact.expected_return(game, tuple(jnp.asarray(x) for x in policy)))
    index = [{key: k for k, key in enumerate(keys)} for keys in game.infostate_keys]

    count = 3000
    batch_reset = jax.jit(jax.vmap(lambda key: reset(key, p)))
    batch_step = jax.jit(jax.vmap(lambda state, a: step(state, a, p)))
    batch_legal = jax.jit(jax.vmap(lambda state: legal_actions(state, p)))
    states = batch_reset(jax.random.split(jax.random.key(1), count))

    def observe(states) -> list[list[tuple]]:
        keys = hanabi_tabular.observation_bytes(states, p)
        return [
            [(("o", compiled.observation_ids[i][keys[n, i]]),) for i in range(2)]
            for n in range(count)
        ]

    views = observe(states)
    returns = np.zeros(count)
    for t in range(game.horizon):
        mover = t % 2
        over = np.asarray(states.terminal)
        legal = np.asarray(batch_legal(states))
        actions = np.zeros(count, np.int32)
        for n in range(count):
            k = index[mover][views[n][mover]]
            mask = np.asarray(game.legal[mover][k])
            np.testing.assert_array_equal(mask, legal[n] if not over[n] else mask)
            actions[n] = rng.choice(
                len(mask), p=policy[mover][k] / policy[mover][k].sum()
            )
            views[n][mover] += (("a", int(actions[n])),)
        states, reward, _ = batch_step(states, jnp.asarray(actions))
        returns += np.asarray(reward)
        if t < game.horizon - 1:
            for n, seen in enumerate(observe(states)):
                for i in range(2):
                    views[n][i] += seen[i]
    error = returns.std() / np.sqrt(count)
    assert abs(returns.mean() - value) < 4 * error + 1e-6, (returns.mean(), value)


def test_the_environment_cuts_the_game_where_the_exact_horizon_does():
    env = games.make_env(
        "hanabi",
        preset="Hanabi-Small",
        **hanabi_tabular.MICRO[NAME],
        hand_size=1,
        max_turns=3,
    )
    assert env.max_steps == 3 and "cut after 3 turns" in env.title
    state = env.reset(jax.random.key(0))
    for turn in range(3):
        legal = np.asarray(env.legal_actions(state))[0]
        action = jnp.asarray([int(np.flatnonzero(legal)[-1])])  # a hint: no end
        state, _, done = env.step(jax.random.key(turn), state, action)
        assert bool(done) == (turn == 2)
    assert env.observe(state).shape == (2, env.obs_size)
    with pytest.raises(ValueError, match="max_turns=0 must be a positive"):
        games.make_env("hanabi", max_turns=0)


def test_sizes_beyond_the_limits_are_refused_in_one_line(monkeypatch):
    with pytest.raises(
        games.CompileError, match=r"num_colors=3 is over the limit of 2"
    ):
        hanabi_tabular.micro_params(colors=3, ranks=1, hints=1, lives=1)
    with pytest.raises(ValueError, match=r"lives=0 must be >= 1"):
        hanabi_tabular.micro_params(colors=2, ranks=1, hints=1, lives=0)
    with pytest.raises(games.CompileError, match=r"horizon=14 must be 1 to 13"):
        hanabi_tabular.hanabi_spec(params(), 14)
    monkeypatch.setattr(hanabi_tabular, "MAX_STATES", 50)
    with pytest.raises(games.CompileError, match=r"over the limit of 50 states"):
        hanabi_tabular.hanabi_spec(params(), 4)


def test_the_micro_sizes_join_the_catalogue_without_changing_the_tabular_room():
    import games.tabular

    assert set(hanabi_tabular.MICRO) <= set(games.CATALOGUE)
    assert not set(hanabi_tabular.MICRO) & set(games.tabular.CATALOGUE)
    assert set(games.tabular.CATALOGUE) <= set(games.CATALOGUE)
    with pytest.raises(TypeError):  # read-only: a game of one's own is a file
        games.CATALOGUE["mine"] = games.CATALOGUE["coordination_2"]  # type: ignore[index]
    assert games.make_spec(NAME, 2).horizon == 2
