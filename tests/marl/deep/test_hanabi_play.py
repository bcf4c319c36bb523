"""Playing agents together (marl/deep/play.py) on Hanabi: scores against a plain Python
loop, cross-play matrices against single seatings, color-permuted copies against
explicitly permuted policies, the equivariance error on hand-made policies, and
the Other-Play rollout's observations."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep import play as hp
from marl.deep import symmetry_play
from marl.deep.ippo import IPPOConfig, make_train, seed_keys
from marl.deep.networks import Network, make_policy
from marl.deep.rollout import observe

SMALL = hanabi.make_params("Hanabi-Small", 2)  # 2 colors, hands of 2


def constant_policy(params: hanabi.HanabiParams) -> Network:
    """Hand-made per-seat agents: seat p's logits are its parameters `logits[p]`,
    whatever it observes (no memory)."""
    num_players = params.num_players

    def step(seat_params, carry, obs, actors, first):
        return carry, seat_params["logits"][actors], jnp.zeros(actors.shape)

    def unused(*args):
        raise NotImplementedError

    return Network(
        init=unused,
        initial_carry=lambda n: jnp.zeros((n, num_players, 0)),
        step=step,
        evaluate=unused,
    )


def preference(params: hanabi.HanabiParams, *actions: int) -> np.ndarray:
    """Logits float32[A] ranking `actions` first to last, everything else below."""
    logits = np.zeros(params.num_actions, np.float32)
    for rank, action in enumerate(actions):
        logits[action] = 10.0 * (len(actions) - rank)
    return logits


def play_slot(params):  # play the first card; never hints (color-blind)
    return preference(params, params.hand_size, 0)


def discard_slot(params):  # discard the first card, else play it
    return preference(params, 0, params.hand_size)


def hint_color(params, color):  # hint `color` to the next player, else play
    return preference(params, 2 * params.hand_size + color, params.hand_size, 0)


def identity_seats(params, logits):
    observation, actions = hp.identity_tables(environment(params))
    num_players = params.num_players
    return hp.Seats(
        {"logits": jnp.asarray(np.stack(logits))},
        jnp.asarray(np.stack([observation] * num_players)),
        jnp.asarray(np.stack([actions] * num_players)),
    )


def python_outcomes(params, logits, *, key, num_games, transitions=None):
    """The same games played greedily one move at a time in Python: scores, and
    whether each ended with no life token left; with `transitions` (an [A, A]
    array), every pair of consecutive moves counted into it."""
    deal_key, _ = jax.random.split(key)
    reset = jax.jit(hanabi.reset, static_argnums=1)
    legal_actions = jax.jit(hanabi.legal_actions, static_argnums=1)
    step = jax.jit(hanabi.step, static_argnums=2)
    scores, lost = [], []
    for game_key in jax.random.split(deal_key, num_games):
        state = reset(game_key, params)
        total, done, previous = 0, False, None
        while not done:
            legal = np.asarray(legal_actions(state, params))
            mine = logits[int(state.current_player)]
            action = int(np.argmax(np.where(legal, mine, -np.inf)))
            if transitions is not None and previous is not None:
                transitions[previous, action] += 1
            state, reward, done = step(state, action, params)
            total += int(reward)
            previous = action
        scores.append(total)
        lost.append(int(state.life_tokens) == 0)
    return np.asarray(scores, np.float32), np.asarray(lost)


def test_action_transitions_count_the_consecutive_moves_of_the_same_games():
    """`action_transitions` plays `play_outcome`'s games and counts (my move,
    the partner's next move): the same counts as a Python loop over the deals;
    and `play_outcome` is unchanged by the counting sharing its loop."""
    policy = constant_policy(SMALL)
    key = jax.random.key(5)
    logits = [hint_color(SMALL, 0), discard_slot(SMALL)]
    seats = identity_seats(SMALL, logits)
    env = environment(SMALL)
    got = jax.jit(
        lambda s, k: hp.action_transitions(
            policy, s, env, key=k, num_games=10, greedy=True
        )
    )(seats, key)
    want = np.zeros((SMALL.num_actions, SMALL.num_actions))
    scores, _ = python_outcomes(SMALL, logits, key=key, num_games=10, transitions=want)
    np.testing.assert_array_equal(np.asarray(got.counts), want)
    assert want.sum() > 10 and want[2 * SMALL.hand_size, 0] > 0  # hint, discard
    played = hp.play(policy, seats, env, key=key, num_games=10, greedy=True)
    np.testing.assert_array_equal(np.asarray(played), scores)


def python_scores(params, logits, *, key, num_games):
    return python_outcomes(params, logits, key=key, num_games=num_games)[0]


def test_play_scores_equal_a_python_loop_over_the_same_deals():
    policy = constant_policy(SMALL)
    key = jax.random.key(3)
    for logits in (
        [play_slot(SMALL)] * 2,
        [hint_color(SMALL, 0), play_slot(SMALL)],
        [discard_slot(SMALL), hint_color(SMALL, 1)],
    ):
        seats = identity_seats(SMALL, logits)
        got = jax.jit(
            lambda s, k: hp.play(
                policy, s, environment(SMALL), key=k, num_games=12, greedy=True
            )
        )(seats, key)
        want = python_scores(SMALL, logits, key=key, num_games=12)
        np.testing.assert_array_equal(np.asarray(got), want)


def test_a_trace_is_play_outcomes_games_step_by_step():
    """`play_trace` keeps every step of `play_outcome`'s games (the same deals,
    sampled choices and chance from one key): its rewards sum to the scores;
    each kept state steps to the next by the kept actions; the steps after a
    game's end are not live, and its state stays as it ended."""
    policy = constant_policy(SMALL)
    key = jax.random.key(11)
    seats = identity_seats(SMALL, [hint_color(SMALL, 0), play_slot(SMALL) / 5])
    env = environment(SMALL)
    outcome = hp.play_outcome(policy, seats, env, key=key, num_games=6)
    trace = jax.jit(lambda s, k: hp.play_trace(policy, s, env, key=k, num_games=6))(
        seats, key
    )
    np.testing.assert_array_equal(np.asarray(trace.rewards.sum(0)), outcome.score)
    live = np.asarray(trace.live)
    assert live[0].all() and not live[-1].any()  # every game ends in time
    ends = live.sum(0)
    for n in range(6):
        t = int(ends[n]) - 1  # the last step: the kept state steps to the end
        before = jax.tree.map(lambda x, t=t, n=n: x[t, n], trace.states)
        after, _ = hanabi.step(before, int(trace.actions[t, n, 0]), SMALL)[:2]
        end = jax.tree.map(lambda x, n=n: x[-1, n], trace.states)
        for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(end), strict=True):
            np.testing.assert_array_equal(a, b)
    probs = np.asarray(trace.probs)[live]
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-6)


def test_crossplay_matrix_of_hand_made_agents_matches_each_seating():
    """Agents: blind play, discard-first, hint-color-0. M[i, j] seats i then j;
    a discard-only pair never scores; every cell equals its own seating."""
    policy = constant_policy(SMALL)
    agents = {
        "logits": jnp.asarray(
            np.stack([play_slot(SMALL), discard_slot(SMALL), hint_color(SMALL, 0)])
        )
    }
    key = jax.random.key(0)
    outcomes = jax.jit(
        lambda a, k: hp.crossplay_scores(
            policy,
            a,
            environment(SMALL),
            per_seat=False,
            key=k,
            num_games=16,
            greedy=True,
            pairs_per_batch=4,
        )
    )(agents, key)
    scores, lost = outcomes.score, outcomes.failed
    assert scores.shape == lost.shape == (3, 3, 16)
    assert float(scores[1, 1].max()) == 0.0  # nobody ever plays a card
    assert np.all(np.asarray(scores)[np.asarray(lost)] == 0)  # HLE's rule
    for i in range(3):
        for j in range(3):
            logits = [np.asarray(agents["logits"][i]), np.asarray(agents["logits"][j])]
            want, want_lost = python_outcomes(SMALL, logits, key=key, num_games=16)
            np.testing.assert_array_equal(np.asarray(scores[i, j]), want)
            np.testing.assert_array_equal(np.asarray(lost[i, j]), want_lost)


def test_permuted_copy_of_a_policy_that_never_hints_color_plays_exactly_like_it():
    """Known cross-play: blind play is color-invariant, so every color-permuted
    copy is the same policy and XP with the copies equals SP game for game,
    greedy or sampled; its equivariance error is 0."""
    params = hanabi.make_params("Hanabi-Full", 2)
    policy = constant_policy(params)
    seats = {"logits": jnp.asarray(np.stack([play_slot(params)] * 2))}
    syms = hanabi.all_color_permutations(params)
    syms = jax.tree.map(lambda t: t[np.array([0, 1, 37, 119])], syms)
    key = jax.random.key(1)
    for greedy in (True, False):
        scores = jax.jit(
            lambda s, k, g=greedy: symmetry_play.permuted_copy_scores(
                policy, s, syms, environment(params), key=k, num_games=20, greedy=g
            )
        )(seats, key)
        for row in scores[1:]:
            np.testing.assert_array_equal(np.asarray(row), np.asarray(scores[0]))
    gap = symmetry_play.visited_equivariance_tv(
        policy, seats, syms, environment(params), key=key, num_games=10
    )
    np.testing.assert_allclose(np.asarray(gap.tv), 0.0, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(gap.argmax), 0.0)


def test_permuted_copy_equals_the_explicitly_permuted_policy():
    """The copy sigma^-1 o pi o sigma of "hint color 0" is "hint color sigma^-1(0)"
    (the copy hints, in the real game, the color it sees as 0); played as seat 1
    it scores game for game like that hand-written policy."""
    params = hanabi.make_params("Hanabi-Full", 2)
    policy = constant_policy(params)
    sigma = np.array([3, 0, 4, 1, 2])  # color c -> sigma[c]; sigma^-1(0) = 1
    sym = hanabi.color_permutation(sigma, params)
    syms = jax.tree.map(lambda t: np.stack([t]), sym)
    agent = np.stack([hint_color(params, 0)] * 2)
    key = jax.random.key(2)
    copy = symmetry_play.permuted_copy_scores(
        policy,
        {"logits": jnp.asarray(agent)},
        syms,
        environment(params),
        key=key,
        num_games=16,
        greedy=True,
    )[0]
    explicit = identity_seats(params, [hint_color(params, 0), hint_color(params, 1)])
    want = hp.play(
        policy, explicit, environment(params), key=key, num_games=16, greedy=True
    )
    np.testing.assert_array_equal(np.asarray(copy), np.asarray(want))


def test_equivariance_error_sees_a_color_convention_and_only_where_it_matters():
    """ "Hint color 0" is not equivariant: its error is positive for permutations
    that move color 0 and 0 for those that fix it (stochastic play)."""
    policy = constant_policy(SMALL)
    logits = preference(SMALL, 2 * SMALL.hand_size + 0, SMALL.hand_size) / 10.0
    seats = {"logits": jnp.asarray(np.stack([logits] * 2))}
    syms = hanabi.all_color_permutations(SMALL)  # identity, swap
    gap = symmetry_play.visited_equivariance_tv(
        policy, seats, syms, environment(SMALL), key=jax.random.key(4), num_games=32
    )
    error, flips = np.asarray(gap.tv), np.asarray(gap.argmax)
    assert error[0] == 0.0 and error[1] > 0.05
    # Its favourite move is "hint color 0" wherever that is legal: the swapped
    # copy's is "hint color 1", so the argmax changes at every such decision.
    assert flips[0] == 0.0 and flips[1] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("share_parameters", "gru_size"), [(True, 0), (False, 8)], ids=["mlp", "gru"]
)
def test_crossplay_of_networks_matches_single_seatings(share_parameters, gru_size):
    """Random agents (a shared MLP; per-seat GRUs), sampled play: each cell of the
    batched matrix equals `play` with that seating."""
    kwargs = dict(
        num_players=2,
        num_actions=SMALL.num_actions,
        obs_size=hanabi.canonical_size(SMALL),
        hidden_sizes=(16,),
        gru_size=gru_size,
    )
    trained = make_policy(**kwargs, share_parameters=share_parameters)
    seat = make_policy(**kwargs, share_parameters=False)
    agents = jax.vmap(trained.init)(jax.random.split(jax.random.key(5), 2))
    key = jax.random.key(6)
    scores = hp.crossplay_scores(
        seat,
        agents,
        environment(SMALL),
        per_seat=not share_parameters,
        key=key,
        num_games=8,
        greedy=False,
    ).score
    observation, actions = hp.identity_tables(environment(SMALL))
    for i, j in [(0, 1), (1, 0)]:
        seats = hp.make_seats(
            agents,
            jnp.array([i, j]),
            per_seat=not share_parameters,
            observation=np.stack([observation] * 2),
            actions=np.stack([actions] * 2),
        )
        want = hp.play(
            seat, seats, environment(SMALL), key=key, num_games=8, greedy=False
        )
        np.testing.assert_allclose(np.asarray(scores[i, j]), np.asarray(want))


def test_greedy_as_a_traced_bool_plays_the_same_games_as_the_python_bool():
    """One program for both policy kinds (cross-play's): `greedy` an argument
    of the jitted play gives, game by game, the moves of the program built
    for each kind; and the two kinds differ, so the flag is not ignored."""
    policy = constant_policy(SMALL)
    logits = np.random.default_rng(0).normal(size=(2, SMALL.num_actions))
    seats = identity_seats(SMALL, logits.astype(np.float32))
    env, key = environment(SMALL), jax.random.key(6)

    def moves(greedy):
        return hp.action_transitions(
            policy, seats, env, key=key, num_games=16, greedy=greedy
        ).per_game

    traced = jax.jit(moves)
    found = {g: np.asarray(traced(jnp.asarray(g))) for g in (False, True)}
    for greedy in (False, True):
        want = jax.jit(functools.partial(moves, greedy))()
        np.testing.assert_array_equal(found[greedy], np.asarray(want))
    assert not np.array_equal(found[False], found[True])


def test_other_play_observations_are_the_permuted_games():
    """With Other-Play, seat p observes `permute_observation(obs_p, sigma_p)` and
    the acting seat's legal mask is that of the permuted game."""
    syms = hanabi.all_color_permutations(SMALL)
    keys = jax.random.split(jax.random.key(7), 6)
    games = jax.vmap(hanabi.reset, in_axes=(0, None))(keys, SMALL)
    symmetry = jnp.array([[0, 1]] * 6, jnp.int32)
    games = games._replace(current_player=jnp.array([0, 1, 0, 1, 0, 1], jnp.int32))
    obs, legal, _ = observe(environment(SMALL), games, syms, symmetry)
    plain_obs, plain_legal, _ = observe(environment(SMALL), games)
    legal, plain_legal = legal[:, 0], plain_legal[:, 0]  # the one deciding seat
    swap = jax.tree.map(lambda t: t[1], syms)
    np.testing.assert_array_equal(obs[:, 0], plain_obs[:, 0])
    np.testing.assert_array_equal(
        obs[:, 1], hanabi.permute_observation(plain_obs[:, 1], swap)
    )
    permuted_legal = hanabi.permute_action_values(plain_legal, swap)
    np.testing.assert_array_equal(legal[1::2], permuted_legal[1::2])
    np.testing.assert_array_equal(legal[0::2], plain_legal[0::2])


def test_other_play_training_draws_partner_permutations_and_learns():
    config = IPPOConfig(
        num_envs=16,
        num_steps=16,
        total_timesteps=16 * 16 * 4,
        hidden_sizes=(16,),
        other_play=True,
    )
    train = jax.vmap(make_train(config, environment(SMALL)), in_axes=(0, None))
    state, metrics = jax.jit(train)(seed_keys(0, 2), 0.01)
    symmetry = np.asarray(state.rollout.symmetry)  # [seeds, N, P]
    assert (symmetry[..., 0] == 0).all()
    assert set(np.unique(symmetry[..., 1])) == {0, 1}
    assert np.isfinite(np.asarray(metrics.policy_loss)).all()


def test_the_evaluator_recovers_a_scripted_convention_and_its_color_permuted_copy():
    """Agents whose convention is known: a scripted agent (hint color 0, else
    play the first card), its color-permuted copy (hint color 1) and one of
    another convention (discard, else play). The evaluator's conditional action
    matrices put the first two far apart raw (each answers hints of a color the
    other never gives) and near 0 once colors are aligned, the third apart
    either way: two conventions."""
    from experiments.deep.crossplay_results import results_of
    from marl.deep.evaluate import evaluate
    from marl.deep.rounds import Sizing

    agents = [
        [hint_color(SMALL, 0)] * 2,
        [hint_color(SMALL, 1)] * 2,
        [discard_slot(SMALL)] * 2,
    ]
    params = {"logits": jnp.asarray(np.stack([np.stack(a) for a in agents]))}
    evaluation = evaluate(
        constant_policy(SMALL),
        params,
        environment(SMALL),
        ["a", "a", "b"],
        share_parameters=False,
        sizing=Sizing(round_games=8, max_games=8),
        seed=0,
        permutations=1,
        symmetry_games=0,
        pairs_per_batch=None,
        convention_games=2000,
    )
    results, _ = results_of(evaluation, environment(SMALL), [0.0] * 3, 0.1)
    conventions = results["conventions"]
    raw = np.asarray(conventions["distance"])
    aligned = np.asarray(conventions["aligned_distance"])
    assert raw[0, 1] > 0.8
    assert aligned[0, 1] < 0.02
    assert aligned[0, 2] > 0.5 and aligned[1, 2] > 0.5
    first = results["points"][0]
    assert first["num_conventions"] == 1 and first["num_conventions_raw"] == 2
    counts = np.asarray(conventions["counts"])
    hint_0, hint_1 = 2 * SMALL.hand_size, 2 * SMALL.hand_size + 1
    assert counts[0, hint_0].sum() > 0 and counts[0, hint_1].sum() == 0
    assert counts[1, hint_1].sum() > 0 and counts[1, hint_0].sum() == 0


def test_weighted_equivariance_error_equals_a_python_loop_of_value_gaps():
    """The TV weighted by how much each choice matters: for hand-made agents
    (critic 0, so Q(a) is the move's immediate reward), sum(gap * TV) / sum(gap)
    over the visited decisions, recomputed one move at a time in Python. The
    agent "hint color 0, else play the first card" against its swapped copy
    ("hint color 1, ..."): TV 1 where the hints differ, weighted by the reward
    gap of the moves legal there."""
    policy = constant_policy(SMALL)
    own = hint_color(SMALL, 0) * 10.0  # logits 100 apart: sampling is argmax
    copy = hint_color(SMALL, 1) * 10.0
    seats = {"logits": jnp.asarray(np.stack([own] * 2))}
    syms = hanabi.all_color_permutations(SMALL)  # identity, swap
    key = jax.random.key(6)
    gap = symmetry_play.visited_equivariance_tv(
        policy, seats, syms, environment(SMALL), key=key, num_games=6
    )
    deal_key, _ = jax.random.split(key)
    reset = jax.jit(hanabi.reset, static_argnums=1)
    legal_actions = jax.jit(hanabi.legal_actions, static_argnums=1)
    step = jax.jit(hanabi.step, static_argnums=2)
    weighted_sum, weights = 0.0, 0.0
    for game_key in jax.random.split(deal_key, 6):
        state, done = reset(game_key, SMALL), False
        while not done:
            legal = np.asarray(legal_actions(state, SMALL))
            mine = int(np.argmax(np.where(legal, own, -np.inf)))
            theirs = int(np.argmax(np.where(legal, copy, -np.inf)))
            rewards = [float(step(state, a, SMALL)[1]) for a in np.flatnonzero(legal)]
            weight = max(rewards) - min(rewards)
            weighted_sum += weight * float(mine != theirs)
            weights += weight
            state, _, done = step(state, mine, SMALL)
    assert weights > 0
    weighted = np.asarray(gap.weighted)
    assert weighted[0] == 0.0
    np.testing.assert_allclose(weighted[1], weighted_sum / weights, rtol=1e-5)
    assert 0 < weighted[1] <= 1


def test_hint_answers_count_plays_of_the_touched_cards_as_a_python_loop():
    """After seat 0 hints color 0, seat 1 plays its first card: `answers` counts,
    per hint, whether that play was of a card the hint touched (the first slot
    holds color 0) or not, as a Python loop over the same deals finds."""
    policy = constant_policy(SMALL)
    key = jax.random.key(8)
    logits = [hint_color(SMALL, 0), play_slot(SMALL)]
    seats = identity_seats(SMALL, logits)
    got = jax.jit(
        lambda s, k: hp.action_transitions(
            policy, s, environment(SMALL), key=k, num_games=12, greedy=True
        )
    )(seats, key)
    deal_key, _ = jax.random.split(key)
    reset = jax.jit(hanabi.reset, static_argnums=1)
    legal_actions = jax.jit(hanabi.legal_actions, static_argnums=1)
    step = jax.jit(hanabi.step, static_argnums=2)
    want = np.zeros((SMALL.num_actions, 2))
    for game_key in jax.random.split(deal_key, 12):
        state, done, touched, hint = reset(game_key, SMALL), False, None, None
        while not done:
            legal = np.asarray(legal_actions(state, SMALL))
            player = int(state.current_player)
            action = int(np.argmax(np.where(legal, logits[player], -np.inf)))
            if touched is not None and touched.any():
                played = action >= SMALL.hand_size and action < 2 * SMALL.hand_size
                hit = played and touched[action - SMALL.hand_size]
                want[hint, 0 if hit else 1] += 1
            touched, hint = None, action
            if action >= 2 * SMALL.hand_size:  # a color hint to the other player
                color = action - 2 * SMALL.hand_size
                cards = np.asarray(state.hands[1 - player])
                touched = (cards >= 0) & (cards // SMALL.num_ranks == color)
            state, _, done = step(state, action, SMALL)
    hint_0 = 2 * SMALL.hand_size
    assert want[hint_0].sum() > 5 and want[hint_0, 0] > 0 and want[hint_0, 1] > 0
    np.testing.assert_array_equal(np.asarray(got.answers), want)
