"""Other-Play, annealing, tau* and the sampled learner: the limits of the entropy
recipe, shown."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from marl.tabular import exact
from marl.tabular.converging import make_converging_trainer
from marl.tabular.crossplay import count_conventions, crossplay
from marl.tabular.equivariance import (
    equivariance_error,
    policy_action,
    policy_symmetries,
    project,
    transform,
)
from marl.tabular.exact_pg import (
    ExactPGConfig,
    geometric_schedule,
    make_exact_pg,
    train,
)
from marl.tabular.other_play import other_play_return
from marl.tabular.phase import (
    Consensus,
    agreement_intervals,
    converged_verdicts,
    critical_tau,
    final_bracket,
    verdicts,
)
from marl.tabular.sampled_pg import SampledPGConfig, make_sampled_pg, surrogate
from marl.tabular.symmetry import symmetry_group
from marl.tabular.theory import uniqueness_bound
from marl.trainer import make_trainer


def setup(name):
    spec = games.make_spec(name)
    game = games.compile_game(spec)
    group = symmetry_group(spec)
    return spec, game, group, policy_symmetries(game, group)


def random_policy(game, seed):
    rng = np.random.default_rng(seed)
    return exact.softmax_policy(
        tuple(jnp.asarray(rng.normal(size=s), jnp.float32) for s in game.policy_shapes)
    )


@pytest.mark.parametrize(
    "name",
    [
        "lewis_signalling",
        "qtran_one_step",
        "penalty",
        "coordination_3",
        "qmix_two_step",
    ],
)
def test_other_play_value_equals_the_average_over_group_elements(name):
    _, game, group, symmetries = setup(name)
    policy = random_policy(game, 0)
    values = [
        exact.expected_return(
            game, (policy[0], transform(policy, policy_action(game, g))[1])
        )
        for g in group.elements()
    ]
    np.testing.assert_allclose(
        other_play_return(game, policy, symmetries),
        np.mean(values),
        rtol=1e-5,
        atol=1e-6,
    )


def test_other_play_on_a_matrix_game_plays_the_projected_partner():
    _, game, _, symmetries = setup("lever")
    policy = random_policy(game, 1)
    partner = project(policy, symmetries)[1]
    np.testing.assert_allclose(
        other_play_return(game, policy, symmetries),
        exact.expected_return(game, (policy[0], partner)),
        rtol=1e-6,
    )


def lever_policy(probs):
    pi = jnp.asarray(probs, jnp.float32)[None]
    return (pi, pi)


def test_lever_other_play_prefers_the_unique_lever_and_finds_it():
    """J_OP(always 0.9) = 0.9 beats J_OP(any 1.0 lever) = 1/9; exact OP gradient
    ascent finds the 0.9 lever from some initializations (others stall on the
    1.0 levers, where the OP gradient is flat)."""
    _, game, _, symmetries = setup("lever")
    unique = lever_policy(np.eye(10)[9])
    one_lever = lever_policy(np.eye(10)[0])
    assert float(other_play_return(game, unique, symmetries)) == pytest.approx(0.9)
    assert float(other_play_return(game, one_lever, symmetries)) == pytest.approx(1 / 9)
    config = ExactPGConfig(objective="otherplay", steps=3000, init_scale=2.0)
    keys = jax.random.split(jax.random.key(0), 32)
    states = train(game, config, keys=keys, taus=jnp.zeros(1), symmetries=symmetries)
    policies = exact.softmax_policy(states.logits)
    values = jax.vmap(lambda *pi: other_play_return(game, pi, symmetries))(
        *(pi[0] for pi in policies)
    )
    best = int(jnp.argmax(values))
    assert float(values[best]) > 0.89
    assert int(jnp.argmax(policies[0][0, best, 0])) == 9


def test_lever_annealing_ends_at_the_uniform_mix_over_the_one_levers():
    """The unique high-entropy policy, followed as tau falls, ends at 1/9 on each of
    the nine 1.0 levers (SP = XP = 1/9), not at the best equivariant policy 0.9."""
    spec, game, _, symmetries = setup("lever")
    keys = jax.random.split(jax.random.key(1), 8)
    schedule = geometric_schedule(2 * uniqueness_bound(spec.payoff), 1e-4, 20000)[None]
    exact_flow = ExactPGConfig(stay_equivariant=True)
    trainer = make_trainer(make_exact_pg(game, exact_flow, symmetries))
    states, _ = trainer.run(trainer.init(keys, 1), schedule)
    joint = tuple(pi[0] for pi in exact.softmax_policy(states.logits))
    scores = crossplay(game, joint)
    assert scores.sp == pytest.approx(1 / 9, abs=2e-3)
    assert scores.xp == pytest.approx(scores.sp, abs=1e-6)
    np.testing.assert_allclose(joint[0][:, 0, :9], 1 / 9, atol=1e-3)
    assert (
        float(jnp.max(jax.vmap(lambda *pi: equivariance_error(pi, symmetries))(*joint)))
        < 1e-6
    )

    noisy = dataclasses.replace(exact_flow, stay_equivariant=False, grad_noise=1e-3)
    trainer = make_trainer(make_exact_pg(game, noisy, symmetries))
    states, _ = trainer.run(trainer.init(keys, 1), schedule)
    joint = tuple(pi[0] for pi in exact.softmax_policy(states.logits))
    scores = crossplay(game, joint)
    assert count_conventions(game, joint, 1e-2) > 1
    assert scores.sp > 0.9 and scores.xp < 0.5


def test_signalling_seeds_agree_only_on_the_non_signalling_policy():
    """Self-play reaches 1 at tau = 0; above tau* every seed plays the equivariant
    policy, which cannot signal: SP = XP = 1/2."""
    _, game, _, symmetries = setup("lewis_signalling")
    keys = jax.random.split(jax.random.key(2), 16)
    states = train(game, ExactPGConfig(), keys=keys, taus=jnp.array([0.0, 1.0]))
    policies = exact.softmax_policy(states.logits)
    low = crossplay(game, tuple(pi[0] for pi in policies))
    high_joint = tuple(pi[1] for pi in policies)
    high = crossplay(game, high_joint)
    assert low.sp > 0.99 and low.xp < 0.75
    assert high.sp == pytest.approx(0.5, abs=1e-5) and high.xp == pytest.approx(
        0.5, abs=1e-5
    )
    assert (
        float(
            jnp.max(
                jax.vmap(lambda *pi: equivariance_error(pi, symmetries))(*high_joint)
            )
        )
        < 1e-5
    )


def search_tau_star(game, config, *, seeds, upper, rtol=0.05, seed=3, known=()):
    """critical_tau over converged runs of `game` with the fastest trainer."""
    learner = make_converging_trainer(game, config, label=game.name)
    keys = jax.random.split(jax.random.key(seed), seeds)

    def agree_at(taus):
        return converged_verdicts(game, learner, keys, taus, convention_tol=1e-3)

    return critical_tau(agree_at, lower=1e-3, upper=upper, rtol=rtol, known=known)


@pytest.mark.parametrize(
    "name", ["lever", "coordination_3", "penalty", "qtran_one_step", "climbing"]
)
def test_critical_tau_is_converged_at_both_ends_and_below_the_bound(name):
    spec, game, _, _ = setup(name)
    bound = uniqueness_bound(spec.payoff)
    found = search_tau_star(
        game, ExactPGConfig(steps=4000, max_steps=20000), seeds=12, upper=bound * 1.05
    )
    assert found.upper_verdict.status == "agree"
    assert found.upper_verdict.converged == found.upper_verdict.seeds == 12
    assert found.lower_verdict.status != "agree"
    assert found.tau_star == found.upper <= bound * 1.05
    assert found.lower < found.upper <= found.lower * 1.05 + 1e-12
    if name == "lever":
        assert 0.1 < found.upper < bound


@pytest.mark.slow
def test_tau_star_of_a_random_game_measures_agreement_not_the_step_budget():
    """A random 4x6 game (N(0, 1) payoffs) whose seeds, given enough steps, agree
    at tau = 0.2 although 5,000 steps leave eight conventions there: converged
    runs continue until they reach their fixed points. Its flow leads every seed
    to the pure equilibrium (d, y) down to tau -> 0 (the other one, (c, x), has a
    small basin), so the search reports agreement at every tau, not a tau*."""
    payoff = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    spec = games.MatrixGame("random_4x6", payoff, (tuple("abcd"), tuple("uvwxyz")))
    game = games.compile_game(spec)
    found = search_tau_star(
        game, ExactPGConfig(), seeds=16, upper=uniqueness_bound(payoff)
    )
    assert found.upper_verdict.converged == 16
    assert found.tau_star is None and found.lower == 0.0
    assert any("agree at every tau" in note for note in found.notes)
    learner = make_converging_trainer(game, ExactPGConfig(), label=game.name)
    keys = jax.random.split(jax.random.key(3), 16)
    (at_02,) = converged_verdicts(game, learner, keys, [0.2], convention_tol=1e-3)
    assert at_02.status == "agree" and at_02.converged == 16 and at_02.steps > 5000


def test_tau_star_of_coordination_2_is_at_the_fold_when_the_bracket_is_wide():
    """At tau = 1/2 (the bound, tight here) the flow is critically slow; with the
    upper end at 2 the search must land at the fold, not report the bound."""
    _, game, _, _ = setup("coordination_2")
    found = search_tau_star(game, ExactPGConfig(), seeds=12, upper=2.0, rtol=0.02)
    assert found.lower <= 0.5 <= found.tau_star <= 0.5 * 1.02


def test_an_upper_end_without_agreement_is_widened_and_said():
    _, game, _, _ = setup("coordination_2")
    found = search_tau_star(game, ExactPGConfig(), seeds=8, upper=0.2, rtol=0.1)
    assert any("widened" in note for note in found.notes)
    assert 0.5 <= found.tau_star <= 0.55


def verdict(tau, status, seeds=8):
    converged = seeds if status != "uncertain" else seeds - 1
    conventions = {"agree": 1, "disagree": 3, "uncertain": 1}[status]
    return Consensus(tau, status, converged, seeds, conventions, 1000)


def test_non_monotone_agreement_is_reported_as_intervals():
    """Agreement at tau <= 0.05, disagreement on (0.05, 0.4), agreement again
    above (the shape the audit found on Tiny Hanabi A): tau* is the last
    crossing, and the intervals are listed."""

    def status(tau):
        return "agree" if tau <= 0.05 or tau >= 0.4 else "disagree"

    calls = []

    def agree_at(taus):
        calls.append(taus)
        return [verdict(float(t), status(t)) for t in taus]

    grid = [verdict(t, status(t)) for t in (0.0, 0.01, 0.05, 0.1, 0.3, 1.0, 10.0)]
    found = critical_tau(agree_at, lower=0.2, upper=10.0, rtol=0.02, known=grid)
    assert 0.4 <= found.tau_star <= 0.4 * 1.02
    assert len(found.agreement_intervals) == 2
    (a0, b0), (a1, b1) = found.agreement_intervals
    assert a0 == 0.0 and b0 == 0.05 and 0.4 <= a1 <= 0.41 and b1 == 10.0
    assert any("not monotone" in note for note in found.notes)
    assert agreement_intervals(grid) == [(0.0, 0.05), (1.0, 10.0)]


def test_ends_the_grid_settles_cost_no_evaluation():
    """A grid that agrees at its largest tau below the upper end and (every seed
    converged) disagrees at its smallest above the lower end starts the search
    there: every evaluation lies strictly inside the grid's crossing, and the
    bracket is the one the configured ends give. An end the grid leaves uncertain
    is evaluated."""

    def status(tau):
        return "agree" if tau >= 0.4 else "disagree"

    def search(grid):
        calls = []

        def agree_at(taus):
            calls.extend(float(t) for t in taus)
            return [verdict(float(t), status(t)) for t in taus]

        found = critical_tau(agree_at, lower=1e-3, upper=100.0, rtol=0.05, known=grid)
        return found, calls

    grid = [verdict(t, status(t)) for t in (0.0, 0.01, 0.1, 1.0, 10.0)]
    found, calls = search(grid)
    assert 0.4 <= found.tau_star <= 0.4 * 1.05
    assert calls and all(0.1 < t < 1.0 for t in calls)
    assert sum("instead of" in note for note in found.notes) == 2
    assert found.upper_verdict.status == "agree"
    unsettled = [verdict(0.01, "uncertain"), *grid[2:]]
    again, calls = search(unsettled)
    assert 1e-3 in calls and 100.0 not in calls  # 10 agrees: settled
    assert again.tau_star == found.tau_star


def test_a_bracket_says_what_its_ends_rest_on():
    """Issue 44: a bracket whose final lower end is uncertain (not converged
    disagreement) says so, as does an end whose convention count changes with
    the tolerance (two conventions within a few convention_tol)."""

    def status(tau):
        return "agree" if tau >= 0.4 else "uncertain" if tau > 0.3 else "disagree"

    def agree_at(taus):
        return [
            verdict(float(t), status(t))._replace(near_tolerance=bool(0.4 <= t <= 0.41))
            for t in taus
        ]

    found = critical_tau(agree_at, lower=0.01, upper=10.0, rtol=0.05)
    assert 0.4 <= found.tau_star <= 0.42 and found.lower_verdict.status == "uncertain"
    assert any(
        "lower end" in note
        and "'uncertain', not a disagreement of converged seeds" in note
        for note in found.notes
    )
    assert any(
        "upper end's verdict rests on the convention tolerance" in note
        for note in found.notes
    )
    assert found.upper_verdict.near_tolerance is True


def test_verdicts_flag_conventions_near_the_tolerance():
    """Two seeds about 2e-3 apart in play (total variation): one convention at
    tol 5e-3 but two at a 4x smaller tolerance, so the verdict is flagged; at
    tol 1 it is not."""
    game = games.tabular.make("coordination_2")
    x = np.array([[0.5, 0.5], [0.502, 0.498]])  # [N=2 seeds, A]
    policies = (x[None, :, None, :], x[None, :, None, :])  # [T=1, N, K=1, A]
    converged = np.ones((1, 2), bool)
    steps = np.array([100])
    near = verdicts(game, np.array([1.0]), policies, converged, steps, 5e-3)[0]
    assert near.status == "agree" and near.near_tolerance
    far = verdicts(game, np.array([1.0]), policies, converged, steps, 1.0)[0]
    assert far.status == "agree" and not far.near_tolerance


def test_agreement_everywhere_gives_no_tau_star_and_says_so():
    found = critical_tau(
        lambda taus: [verdict(float(t), "agree") for t in taus],
        lower=1e-3,
        upper=1.0,
        max_widenings=2,
    )
    assert found.tau_star is None
    assert "agree at every tau tried" in found.notes[-1]


def test_the_phase_grid_narrows_the_bracket_to_the_same_tau():
    """The grid's verdicts are used: fewer evaluations, the same bracket."""
    spec, game, _, _ = setup("lever")
    config = ExactPGConfig(steps=4000, max_steps=20000)
    learner = make_converging_trainer(game, config, label="lever")
    keys = jax.random.split(jax.random.key(3), 8)
    grid = np.array([0.1, 0.3, 1.0, 3.0])
    known = converged_verdicts(game, learner, keys, grid, convention_tol=1e-3)
    bound = uniqueness_bound(spec.payoff)
    kwargs = dict(seeds=8, upper=bound, rtol=0.2)
    plain = search_tau_star(game, config, **kwargs)
    narrowed = search_tau_star(game, config, known=known, **kwargs)
    assert narrowed.evaluations < plain.evaluations
    assert narrowed.lower < plain.upper and plain.lower < narrowed.upper
    assert final_bracket({v.tau: v for v in known}, 1e-3, 3.0) == (0.1, 0.3)


def test_ppo_surrogate_gradient_equals_reinforce_on_fresh_data():
    """At the first epoch the PPO ratio is 1, so its gradient is REINFORCE's."""
    game = games.make("tiny_hanabi_d")
    logits = tuple(
        jnp.asarray(np.random.default_rng(0).normal(size=s), jnp.float32)
        for s in game.policy_shapes
    )
    policy = exact.softmax_policy(logits)
    histories = jax.random.categorical(
        jax.random.key(0), jnp.zeros(game.num_histories), shape=(64,)
    )
    reinforce = jax.grad(surrogate, argnums=1)(
        game, logits, policy, histories, 0.3, 0.0
    )
    ppo = jax.grad(surrogate, argnums=1)(game, logits, policy, histories, 0.3, 0.2)
    for a, b in zip(reinforce, ppo, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_sampled_gradient_is_unbiased_for_the_exact_policy_gradient():
    game = games.make("tiny_hanabi_b")
    logits = tuple(
        jnp.asarray(np.random.default_rng(1).normal(size=s), jnp.float32)
        for s in game.policy_shapes
    )
    policy = exact.softmax_policy(logits)
    logp = jnp.log(exact.history_probs(game, policy))
    histories = jax.random.categorical(jax.random.key(1), logp, shape=(200_000,))
    sampled = jax.grad(surrogate, argnums=1)(game, logits, policy, histories, 0.0, 0.0)
    exact_grad = exact.softmax_policy_gradient(game, logits)
    for a, b in zip(sampled, exact_grad, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-2)


@pytest.mark.parametrize("name", ["lewis_signalling", "qmix_two_step"])
def test_sampled_gradient_is_unbiased_at_positive_tau(name):
    """At tau = 1 on two multi-step games (turn-based and simultaneous), the mean
    of the sampled gradient over 40 batches of 10,000 histories is the exact
    gradient of J_tau (reach weighting) within five standard errors. With the
    path's entropy left out of the advantage (the bonus's effect on which
    information states are reached is then missed) both games fail it."""
    game = games.make(name)
    rng = np.random.default_rng(5)
    logits = tuple(
        jnp.asarray(rng.normal(size=s), jnp.float32) for s in game.policy_shapes
    )
    policy = exact.softmax_policy(logits)
    tau = 1.0

    def objective(x):
        return exact.regularized_objective(game, exact.softmax_policy(x), tau, "reach")

    exact_grad = jax.grad(objective)(logits)
    logp = jnp.log(exact.history_probs(game, policy))
    batches = jax.random.categorical(jax.random.key(6), logp, shape=(40, 10_000))
    sampled = jax.jit(  # one program, not one per operation
        jax.vmap(
            lambda h: jax.grad(surrogate, argnums=1)(game, logits, policy, h, tau, 0.0)
        )
    )(batches)
    for per_batch, target in zip(sampled, exact_grad, strict=True):
        mean = np.asarray(per_batch).mean(0)
        se = np.asarray(per_batch).std(0, ddof=1) / np.sqrt(len(batches))
        assert np.all(np.abs(mean - np.asarray(target)) <= 5 * se + 1e-5)


def test_sampled_learner_improves_and_breaks_exact_symmetry():
    _, game, _, symmetries = setup("lever")
    keys = jax.random.split(jax.random.key(4), 4)
    trainer = make_trainer(make_sampled_pg(game, SampledPGConfig(steps=300)))
    schedules = jnp.zeros((1, 300))
    states, _ = trainer.run(trainer.init(keys, 1), schedules)
    joint = tuple(pi[0] for pi in exact.softmax_policy(states.logits))
    assert crossplay(game, joint).sp > 0.5
    start = make_exact_pg(game, ExactPGConfig()).init(keys[0]).logits
    symmetric = project(exact.softmax_policy(start), symmetries)
    states, _ = trainer.run(
        trainer.init(keys, 1)._replace(
            logits=tuple(jnp.log(p)[None, None].repeat(4, 1) for p in symmetric)
        ),
        jnp.full((1, 300), 1.0),
    )
    joint = tuple(pi[0] for pi in exact.softmax_policy(states.logits))
    errors = jax.vmap(lambda *pi: equivariance_error(pi, symmetries))(*joint)
    assert float(jnp.min(errors)) > 1e-4  # sampling noise left the symmetric subspace
