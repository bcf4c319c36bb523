"""The occupancy recursion against the enumeration and a plain-Python tree walk."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from games.tabular import occupancy
from games.tabular.compile import count_histories
from games.tabular.occupancy import MODEL_FIRST_FLOATS, model_first
from marl.tabular import exact
from marl.tabular.other_play import other_play_return
from tests import catalogue, small_horizon
from tests.brute_force import tabular_policy, values

OLD_GAMES = sorted(set(catalogue()) - set(games.BENCHMARKS))


def random_logits(game, seed):
    rng = np.random.default_rng(seed)
    return tuple(
        jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in game.policy_shapes
    )


def both_engines(spec):
    return (
        games.compile_game(spec, engine="recursion"),
        games.compile_game(spec, engine="enumeration"),
    )


def objective(game, weighting="reach"):
    """jit((logits, tau) -> (J_tau, its gradient in the logits)): one program per
    engine and weighting, as a trainer compiles it (op by op, the walk of a
    horizon-3 game spends seconds dispatching)."""
    return jax.jit(
        jax.value_and_grad(
            lambda x, tau: exact.regularized_objective(
                game, exact.softmax_policy(x, game.legal), tau, weighting
            )
        )
    )


def measures(game):
    """jit(policy -> (expected return, expected entropy, reach probabilities))."""
    return jax.jit(
        lambda policy: (
            exact.expected_return(game, policy),
            exact.expected_entropy(game, policy),
            exact.reach_probs(game, policy),
        )
    )


@pytest.mark.parametrize("name", OLD_GAMES)
def test_recursion_equals_enumeration_on_every_old_game(name):
    recursion, enumeration = both_engines(games.make_spec(name, small_horizon(name)))
    assert recursion.engine == "recursion" and enumeration.engine == "enumeration"
    assert recursion.infostate_keys == enumeration.infostate_keys
    objectives = [objective(game) for game in (recursion, enumeration)]
    reach_fns = [
        jax.jit(functools.partial(exact.reach_probs, game))
        for game in (recursion, enumeration)
    ]
    for seed in range(2):
        logits = random_logits(recursion, seed)
        for tau in (0.0, 0.7):
            (value_r, grad_r), (value_e, grad_e) = (f(logits, tau) for f in objectives)
            np.testing.assert_allclose(value_r, value_e, rtol=1e-5, atol=1e-5)
            for a, b in zip(grad_r, grad_e, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        policy = exact.softmax_policy(logits, recursion.legal)
        reach_r, reach_e = (f(policy) for f in reach_fns)
        for a, b in zip(reach_r, reach_e, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def correlated_game(horizon: int, first_observation: bool, seed: int = 0):
    """A random 3-state, 2-agent Dec-POMDP whose joint observations are correlated
    (not a product of per-agent tables), with a turn-based step in the middle."""
    rng = np.random.default_rng(seed)
    num_states, actions, observations = 3, (2, 3), (2, 2)

    def distribution(*shape):
        table = rng.random(shape) ** 3  # some entries near zero
        table[..., 0] += 0.05
        return table / table.sum(-1, keepdims=True)

    observation = distribution(*actions, num_states, 4).reshape(
        *actions, num_states, *observations
    )
    observation[0, 0, 1] = [[0.5, 0.0], [0.0, 0.5]]  # perfectly correlated here
    acting = np.ones((horizon, 2), dtype=bool)
    if horizon >= 3:
        acting[1] = [True, False]
    return games.DecPOMDP(
        name="correlated",
        horizon=horizon,
        initial=np.array([0.5, 0.3, 0.2]),
        transition=distribution(num_states, *actions, num_states),
        observation=observation,
        initial_observation=(
            distribution(num_states, 4).reshape(num_states, *observations)
            if first_observation
            else None
        ),
        reward=rng.normal(size=(num_states, *actions)),
        acting=acting,
        state_names=("x", "y", "z"),
        agent_names=("p", "q"),
        action_names=(("a", "b"), ("c", "d", "e")),
        observation_names=(("u", "v"), ("w", "k")),
        discount=0.9,
    )


@pytest.mark.slow
@pytest.mark.parametrize("first_observation", [False, True])
@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_recursion_equals_a_tree_walk_with_correlated_observations(
    horizon, first_observation
):
    spec = correlated_game(horizon, first_observation)
    recursion, enumeration = both_engines(spec)
    assert enumeration.num_histories == count_histories(spec)
    weightings = ("reach", "uniform")
    engines = [
        (measures(game), {w: objective(game, w) for w in weightings})
        for game in (recursion, enumeration)
    ]
    for seed in range(2):
        logits = random_logits(recursion, seed)
        policy = exact.softmax_policy(logits)
        keys = recursion.infostate_keys
        ret, ent, reach = values(spec, tabular_policy(keys, policy))
        for measure, _ in engines:
            their_ret, their_ent, their_reach = measure(policy)
            np.testing.assert_allclose(their_ret, ret, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(their_ent, ent, rtol=1e-5, atol=1e-5)
            for agent, probs in enumerate(their_reach):
                expected = [reach.get((agent, key), 0.0) for key in keys[agent]]
                np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-4)
        # Every information state is reachable, and only those are listed.
        assert {key for (agent, key) in reach} == {
            key for agent_keys in keys for key in agent_keys
        } or horizon == 1
        for w in weightings:
            (_, grad_r), (_, grad_e) = (f[w](logits, 0.3) for _, f in engines)
            for a, b in zip(grad_r, grad_e, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def three_agent_game(horizon: int, seed: int = 1):
    """A random 2-state Dec-POMDP of three agents with unequal action and
    observation counts (one agent observes nothing), for the recursion's
    contractions over more than two agents' histories."""
    rng = np.random.default_rng(seed)
    actions, observations = (2, 2, 2), (2, 1, 2)

    def distribution(*shape):
        table = rng.random(shape) + 0.05
        return table / table.sum(-1, keepdims=True)

    return games.DecPOMDP(
        name="three",
        horizon=horizon,
        initial=np.array([0.6, 0.4]),
        transition=distribution(2, *actions, 2),
        observation=distribution(*actions, 2, 4).reshape(*actions, 2, *observations),
        initial_observation=None,
        reward=rng.normal(size=(2, *actions)),
        acting=np.ones((horizon, 3), dtype=bool),
        state_names=("x", "y"),
        agent_names=("p", "q", "r"),
        action_names=(("a", "b"), ("c", "d"), ("f", "g")),
        observation_names=(("u", "v"), ("w",), ("k", "m")),
    )


@pytest.mark.parametrize("model_first_floats", [0, MODEL_FIRST_FLOATS])
def test_three_agents_recursion_equals_a_tree_walk_on_both_paths(
    model_first_floats, monkeypatch
):
    """Three agents at horizon 3: the recursion's value, entropy and reach equal
    a tree walk's, and its gradient the enumeration's, with the last two steps'
    reward contracted model first and by opt_einsum's path."""
    monkeypatch.setattr(occupancy, "MODEL_FIRST_FLOATS", model_first_floats)
    spec = three_agent_game(3)
    recursion, enumeration = both_engines(spec)
    steps = recursion.occupancy.steps
    assert model_first(steps[-2], steps[-1]) == bool(model_first_floats)
    logits = random_logits(recursion, 0)
    policy = exact.softmax_policy(logits)
    keys = recursion.infostate_keys
    ret, ent, reach = values(spec, tabular_policy(keys, policy))
    their_ret, their_ent, their_reach = measures(recursion)(policy)
    np.testing.assert_allclose(their_ret, ret, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(their_ent, ent, rtol=1e-5, atol=1e-5)
    for agent, probs in enumerate(their_reach):
        expected = [reach.get((agent, key), 0.0) for key in keys[agent]]
        np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    (_, grad_r), (_, grad_e) = (
        objective(game)(logits, 0.3) for game in (recursion, enumeration)
    )
    for a, b in zip(grad_r, grad_e, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(games.BENCHMARKS))
def test_the_last_two_steps_contracted_equal_the_last_occupancy_built(name):
    """Without the distribution of play, the recursion contracts its last two steps
    from eta_{T-2} and never builds the last occupancy; building it (`with_play`)
    must give the same value, reach and gradient."""
    horizon = 2 if name == "mars_rovers" else 3
    game = games.compile_game(games.make_spec(name, horizon), engine="recursion")

    def pass_(logits, with_play):
        policy = exact.softmax_policy(logits)
        value, reach, _ = exact.occupancy_pass(
            game.occupancy, policy, with_play=with_play
        )
        bonus = sum(
            jnp.dot(r, exact.infostate_entropy(pi))
            for r, pi in zip(reach, policy, strict=True)
        )
        return value + 0.5 * bonus, reach

    scale = game.reward_range
    lazy_fn, built_fn = (
        jax.jit(jax.value_and_grad(lambda x, w=w: pass_(x, w), has_aux=True))
        for w in (False, True)
    )
    for seed in range(2):
        logits = random_logits(game, seed)
        (lazy, lazy_reach), lazy_grad = lazy_fn(logits)
        (built, built_reach), built_grad = built_fn(logits)
        np.testing.assert_allclose(lazy, built, rtol=1e-5, atol=1e-6 * scale)
        for a, b in zip(lazy_reach, built_reach, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        for a, b in zip(lazy_grad, built_grad, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * scale)
    assert (
        game.occupancy.peak_floats
        < exact.play_distribution(game, exact.softmax_policy(logits)).size
        * game.occupancy.steps[-1].reward.shape[0]
    )


@pytest.mark.parametrize("name", ["lewis_signalling", "tiny_hanabi_a", "penalty"])
def test_other_play_agrees_across_engines(name):
    from marl.tabular.equivariance import policy_symmetries
    from marl.tabular.symmetry import symmetry_group

    spec = games.make_spec(name)
    recursion, enumeration = both_engines(spec)
    group = symmetry_group(spec)
    policy = exact.softmax_policy(random_logits(recursion, 3))
    values_ = [
        other_play_return(game, policy, policy_symmetries(game, group))
        for game in (recursion, enumeration)
    ]
    np.testing.assert_allclose(values_[0], values_[1], rtol=1e-5, atol=1e-6)


def test_auto_engine_picks_the_recursion_for_a_long_dectiger():
    game = games.make("dectiger", 4)
    assert game.engine == "recursion"
    assert not game.has_histories  # 5.7 million histories: never enumerated
    with pytest.raises(games.CompileError, match="without enumerating"):
        _ = game.num_histories


def test_too_large_a_recursion_is_refused_in_one_line():
    with pytest.raises(games.CompileError, match=r"occupancy after step .* over"):
        games.compile_game(games.make_spec("dectiger", 6), max_floats=10**6)


def test_a_batch_over_the_memory_budget_runs_in_chunks_of_seeds(monkeypatch):
    from marl import trainer
    from marl.tabular import exact_pg

    game = games.make("dectiger", 2)
    config = exact_pg.ExactPGConfig(steps=30, optimizer="adam", learning_rate=0.05)
    learner = exact_pg.make_exact_pg(game, config)
    assert learner.run_bytes > 0
    keys = jax.random.split(jax.random.key(1), 5)
    schedules = trainer.constant_schedules(jnp.array([0.0, 0.5]), config.steps)
    whole = trainer.make_trainer(learner)
    expected, _ = whole.run(whole.init(keys, 2), schedules)
    # A budget of two seeds' worth: chunks of 2, 2 and 1 seeds.
    monkeypatch.setattr(trainer, "MEMORY_BUDGET_BYTES", learner.run_bytes * 2 * 2)
    chunked = trainer.make_trainer(learner)
    result, _ = chunked.run(chunked.init(keys, 2), schedules)
    pairs = zip(
        jax.tree.leaves((result.logits, result.grad_norm)),
        jax.tree.leaves((expected.logits, expected.grad_norm)),
        strict=True,
    )
    for a, b in pairs:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unrolled", [exact.UNROLLED_STATES, 0])
@pytest.mark.parametrize("batched", [False, True])
def test_the_expansion_by_moves_equals_the_einsums(batched, unrolled, monkeypatch):
    """Dec-Tiger at horizon 4 expands step 1 by its `moves` (T x O laid out);
    without them, by `expand`'s einsums: the same distribution of play, value,
    reach and gradient, unbatched and vmapped, with the arrays passed as arguments (an
    earlier form of the fused product crashed XLA's CPU backend there); the
    states summed one by one and by an einsum (`UNROLLED_STATES` 0)."""
    monkeypatch.setattr(exact, "UNROLLED_STATES", unrolled)
    game = games.compile_game(games.make_spec("dectiger", 4), engine="recursion")
    assert [s.moves is not None for s in game.occupancy.steps] == [
        False,
        True,
        False,
        False,
    ]
    plain = dataclasses.replace(
        game.occupancy,
        steps=tuple(dataclasses.replace(s, moves=None) for s in game.occupancy.steps),
    )

    def both(occupancy, logits):
        policy = exact.softmax_policy(logits)
        value, reach, _ = exact.occupancy_pass(occupancy, policy)
        play = exact.occupancy_pass(occupancy, policy, with_play=True)[2]
        grad = jax.grad(
            lambda x: exact.occupancy_pass(occupancy, exact.softmax_policy(x))[0]
        )(logits)
        return value, reach, play, grad

    run = jax.jit(jax.vmap(both, in_axes=(None, 0)) if batched else both)
    logits = random_logits(game, 0)
    if batched:
        logits = tuple(jnp.stack([x, 0.5 * x]) for x in logits)
    for a, b in zip(
        jax.tree.leaves(run(game.occupancy, logits)),
        jax.tree.leaves(run(plain, logits)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_runs_over_the_cache_go_in_blocks_with_the_same_results(monkeypatch):
    """On a CPU, a grid of runs of BLOCK_RUN_BYTES or more goes through its steps
    in blocks of CACHE_BYTES worth (here 3 of the 2 x 5 runs: blocks of 3, 3, 3
    and 1) with the same results as all runs at once."""
    from marl import trainer
    from marl.tabular import exact_pg

    game = games.make("dectiger", 2)
    config = exact_pg.ExactPGConfig(steps=30, optimizer="adam", learning_rate=0.05)
    learner = exact_pg.make_exact_pg(game, config)
    keys = jax.random.split(jax.random.key(1), 5)
    schedules = trainer.constant_schedules(jnp.array([0.0, 0.5]), config.steps)
    whole = trainer.make_trainer(learner)
    expected, expected_reports = whole.run(whole.init(keys, 2), schedules)
    assert trainer.run_block(learner.run_bytes, "cpu") is None  # a small run
    monkeypatch.setattr(trainer, "CACHE_BYTES", learner.run_bytes * 3)
    monkeypatch.setattr(trainer, "BLOCK_RUN_BYTES", learner.run_bytes)
    assert trainer.run_block(learner.run_bytes, "cpu") == 3
    assert trainer.run_block(learner.run_bytes, "gpu") is None
    blocked = trainer.make_trainer(learner)
    result, reports = blocked.run(blocked.init(keys, 2), schedules)
    pairs = zip(
        jax.tree.leaves((result.logits, result.grad_norm, reports)),
        jax.tree.leaves((expected.logits, expected.grad_norm, expected_reports)),
        strict=True,
    )
    for a, b in pairs:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
