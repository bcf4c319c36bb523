"""Color permutations as Hanabi's symmetries: every one of the 120 permutations of
the full game commutes with observing (canonical and v0 belief, every player),
with the legal-action mask and with stepping (every action, legal or not) on
recorded game states; composition and inverse laws; hand-checked images."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs import hanabi
from games.envs.hanabi import HanabiParams, HanabiState, make_params
from games.envs.hanabi.belief import v0_belief
from games.envs.hanabi.symmetry import (
    ColorPermutation,
    all_color_permutations,
    color_permutation,
    compose_permutations,
    invert_permutation,
    permute_action,
    permute_action_values,
    permute_observation,
    permute_state,
)

FULL2 = make_params("Hanabi-Full", 2)
_step = jax.jit(hanabi.step, static_argnums=2)
_canonical = jax.jit(hanabi.canonical, static_argnums=1)

# (preset, players, games recorded, permutations checked: None = all of them)
LAW_CASES = [
    ("Hanabi-Full", 2, 6, None),
    ("Hanabi-Full", 3, 3, 24),
    ("Hanabi-Full", 5, 3, 24),
    ("Hanabi-Small", 3, 4, None),
]


def _one(syms: ColorPermutation, index: int) -> ColorPermutation:
    return ColorPermutation(*(np.asarray(table)[index] for table in syms))


def _chosen(params: HanabiParams, count: int | None, seed: int) -> np.ndarray:
    """Indices of the permutations a law test checks: all, or the identity, a
    transposition and random others."""
    total = len(all_color_permutations(params).colors)
    if count is None or count >= total:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    return np.concatenate([[0, 1], rng.choice(np.arange(2, total), count - 2, False)])


@functools.cache
def _recorded(params: HanabiParams, num_games: int, seed: int):
    """States of random games (flattened over games and moves, terminal states
    included) played by a policy that plays playable cards eagerly, hints and
    discards otherwise and rarely misplays, so the games are long; and the moves
    played from them."""
    hand_size, num_ranks = params.hand_size, params.num_ranks

    def policy(key, state):
        mask = hanabi.legal_actions(state, params)
        hand = state.hands[state.current_player]
        color = jnp.maximum(hand, 0) // num_ranks
        playable = (hand >= 0) & (state.fireworks[color] == hand % num_ranks)
        bonus = (
            jnp.zeros(params.num_actions)
            .at[hand_size : 2 * hand_size]
            .set(jnp.where(playable, 3.0, -4.0))
        )
        logits = jnp.where(mask, bonus, -jnp.inf)
        logits = jnp.where(mask.any(), logits, 0.0)
        return jax.random.categorical(key, logits)

    def game(key):
        reset_key, play_key = jax.random.split(key)
        first = hanabi.reset(reset_key, params)

        def move(state, key):
            action = policy(key, state)
            return hanabi.step(state, action, params)[0], (state, action)

        keys = jax.random.split(play_key, params.max_game_length)
        last, (states, actions) = jax.lax.scan(move, first, keys)
        return states, actions, last

    keys = jax.random.split(jax.random.key(seed), num_games)
    states, actions, last = jax.jit(jax.vmap(game))(keys)
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), states)
    flat = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), flat, last)
    actions = jnp.concatenate([actions.reshape(-1), jnp.zeros(num_games, jnp.int32)])
    return flat, actions, last


def _assert_trees_equal(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _tree_equal(a, b) -> jax.Array:
    """True when every leaf of two pytrees (batched alike) is equal."""
    leaves = jax.tree.map(lambda x, y: jnp.all(x == y), a, b)
    return jnp.all(jnp.stack(jax.tree.leaves(leaves)))


@functools.cache
def _law_checker(params: HanabiParams):
    """jit: (sym, states, all-action successors) -> the number of violations of
    each equivariance law over the batch of states."""
    actions = jnp.arange(params.num_actions)

    def observe(state):
        return hanabi.canonical(state, params), v0_belief(state, params)

    def successors(state):
        return jax.vmap(lambda a: hanabi.step(state, a, params))(actions)

    def check(sym, states, observed, legal, stepped):
        moved = jax.vmap(lambda s: permute_state(s, sym))(states)
        canonical, belief = jax.vmap(observe)(moved)
        bad_canonical = jnp.any(
            canonical != permute_observation(observed[0], sym), axis=(-2, -1)
        )
        bad_belief = jnp.any(
            belief != permute_observation(observed[1], sym), axis=(-2, -1)
        )
        moved_legal = jax.vmap(lambda s: hanabi.legal_actions(s, params))(moved)
        bad_legal = jnp.any(moved_legal != permute_action_values(legal, sym), -1)

        # step(g(s), g(a)) == (g(s'), r, done), for every action a.
        def one_state(state, after):
            def one_action(action, s_after, reward, done):
                new, new_reward, new_done = hanabi.step(
                    state, permute_action(action, sym), params
                )
                return ~(
                    _tree_equal(new, permute_state(s_after, sym))
                    & (new_reward == reward)
                    & (new_done == done)
                )

            return jnp.sum(jax.vmap(one_action)(actions, *after))

        bad_step = jax.vmap(one_state)(moved, stepped)
        return {
            "canonical": jnp.sum(bad_canonical),
            "v0_belief": jnp.sum(bad_belief),
            "legal": jnp.sum(bad_legal),
            "step": jnp.sum(bad_step),
        }

    def prepare(states):
        observed = jax.vmap(observe)(states)
        legal = jax.vmap(lambda s: hanabi.legal_actions(s, params))(states)
        return observed, legal, jax.vmap(successors)(states)

    return jax.jit(prepare), jax.jit(check)


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "num_players", "num_games", "count"), LAW_CASES)
def test_permutations_commute_with_observe_legal_actions_and_step(
    preset, num_players, num_games, count
):
    params = make_params(preset, num_players)
    states, _, last = _recorded(params, num_games, seed=num_players)
    syms = all_color_permutations(params)
    prepare, check = _law_checker(params)
    observed, legal, stepped = prepare(states)
    chosen = _chosen(params, count, seed=num_players)
    for index in chosen:
        sym = jax.tree.map(jnp.asarray, _one(syms, int(index)))
        violations = {
            k: int(v) for k, v in check(sym, states, observed, legal, stepped).items()
        }
        assert violations == dict.fromkeys(violations, 0), (index, syms.colors[index])
    # The recorded games are rich: long, with hints, plays, discards and, at
    # the end, terminal states and short hands.
    num_states = states.deck.shape[0]
    assert num_states == num_games * (params.max_game_length + 1)
    assert bool(jnp.all(last.terminal))
    assert int(jnp.max(states.fireworks.sum(-1))) >= params.num_colors
    assert int(jnp.sum(states.color_hinted >= 0)) > 0
    assert int(jnp.sum(states.hands < 0)) > 0
    if count is None:
        assert chosen.size == np.prod(np.arange(1, params.num_colors + 1))


def test_all_color_permutations_are_the_120_distinct_ones_identity_first():
    syms = all_color_permutations(FULL2)
    colors = np.asarray(syms.colors)
    assert colors.shape == (120, 5)
    assert {tuple(c) for c in colors} == set(itertools.permutations(range(5)))
    identity = _one(syms, 0)
    for table, size in zip(identity, (5, 5, 25, 25, 20, 20, 658, 658), strict=True):
        np.testing.assert_array_equal(table, np.arange(size))
    # Every table is a permutation of its index set; the inverse tables invert.
    for field in ColorPermutation._fields:
        table = np.asarray(getattr(syms, field))
        np.testing.assert_array_equal(
            np.sort(table, axis=1),
            np.broadcast_to(np.arange(table.shape[1]), table.shape),
        )
    for name in ("colors", "cards", "actions", "observation"):
        forward = np.asarray(getattr(syms, name))
        backward = np.asarray(getattr(syms, f"{name}_inverse"))
        composed = np.take_along_axis(forward, backward, axis=1)
        np.testing.assert_array_equal(
            composed, np.broadcast_to(np.arange(forward.shape[1]), forward.shape)
        )


def test_color_permutation_rejects_non_permutations():
    for colors in ([0, 1, 2, 3], [0, 1, 2, 3, 3], [1, 2, 3, 4, 5]):
        with pytest.raises(ValueError, match="a color permutation of 5 colors"):
            color_permutation(colors, FULL2)


def test_permute_action_moves_only_color_hints():
    # Swap red (0) and blue (4) in the 2-player game: reveal R (10) <-> reveal B
    # (14); discards 0-4, plays 5-9, the other colors and rank hints 15-19 stay.
    sym = color_permutation([4, 1, 2, 3, 0], FULL2)
    expected = np.arange(20)
    expected[[10, 14]] = [14, 10]
    np.testing.assert_array_equal(sym.actions, expected)
    np.testing.assert_array_equal(
        np.asarray(permute_action(jnp.arange(20), sym)), expected
    )
    assert int(permute_action(-1, sym)) == -1
    # Three players: color hints to offset 2 (ids 15-19) permute among themselves.
    params = make_params("Hanabi-Full", 3)
    cycle = color_permutation([1, 2, 3, 4, 0], params)  # R->Y->G->W->B->R
    np.testing.assert_array_equal(
        cycle.actions[10:20], [11, 12, 13, 14, 10, 16, 17, 18, 19, 15]
    )
    np.testing.assert_array_equal(cycle.actions[:10], np.arange(10))
    np.testing.assert_array_equal(cycle.actions[20:], np.arange(20, 30))
    # Per-action arrays move with their actions.
    logits = jnp.arange(20.0)
    moved = np.asarray(permute_action_values(logits, sym))
    assert moved[14] == 10.0 and moved[10] == 14.0 and moved[3] == 3.0


def _card(color: str, rank: int) -> int:
    return "RYGWB".index(color) * 5 + rank - 1


def test_permute_state_and_observation_hand_checked():
    # Player 0 holds R1 Y1 G1 W1 B1 and plays R1; player 1 holds R2 R3 Y2 Y3 B5.
    hand0 = [_card(c, 1) for c in "RYGWB"]
    hand1 = [_card("R", 2), _card("R", 3), _card("Y", 2), _card("Y", 3), _card("B", 5)]
    rest = list(FULL2.sorted_deck())
    for card in hand0 + hand1:
        rest.remove(card)
    deck = np.asarray(hand0 + hand1 + rest, np.int32)
    state = hanabi.reset(None, FULL2, deck)
    state, _, _ = _step(state, 5, FULL2)  # play R1
    state, _, _ = _step(state, 12, FULL2)  # player 1: reveal G to player 0
    # sigma: R->B, B->R (swap), the others fixed.
    sym = color_permutation([4, 1, 2, 3, 0], FULL2)
    moved = permute_state(state, sym)
    np.testing.assert_array_equal(moved.fireworks, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(
        moved.hands[1],
        [_card("B", 2), _card("B", 3), _card("Y", 2), _card("Y", 3), _card("R", 5)],
    )
    assert int(moved.last_action) == 12  # a green hint is still a green hint
    assert int(moved.deck[0]) == _card("B", 1)
    # Player 0's card knowledge: G revealed on its G1 (now slot 1), the other
    # slots are "not G"; the R and B columns of the plausible colors swap.
    np.testing.assert_array_equal(moved.color_hinted[0], [-1, 2, -1, -1, -1])
    np.testing.assert_array_equal(
        moved.color_plausible[..., [4, 1, 2, 3, 0]], state.color_plausible
    )
    # Observation of player 0: the firework bit moves from R's block to B's.
    obs = np.asarray(_canonical(state, FULL2))
    new = np.asarray(permute_observation(obs, sym))
    fireworks = 127 + 40  # hands section, then the deck thermometer
    assert obs[0, fireworks + 0] == 1 and obs[0, fireworks + 20] == 0
    assert new[0, fireworks + 0] == 0 and new[0, fireworks + 20] == 1
    np.testing.assert_array_equal(new, np.asarray(_canonical(moved, FULL2)))
    # A permuted deck deals the permuted game.
    _assert_trees_equal(
        hanabi.reset(None, FULL2, np.asarray(sym.cards)[deck]),
        permute_state(hanabi.reset(None, FULL2, deck), sym),
    )


def test_compose_and_invert_laws_on_tables_for_all_pairs():
    syms = all_color_permutations(FULL2)
    index = {tuple(c): i for i, c in enumerate(np.asarray(syms.colors))}
    for g, h in itertools.product(range(120), repeat=2):
        first, second = _one(syms, g), _one(syms, h)
        composed = compose_permutations(first, second)
        expected = _one(syms, index[tuple(second.colors[first.colors])])
        for got, want in zip(composed, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    for g in range(120):
        sym = _one(syms, g)
        inverse = invert_permutation(sym)
        for got, want in zip(
            compose_permutations(sym, inverse), _one(syms, 0), strict=True
        ):
            np.testing.assert_array_equal(got, want)
        expected = _one(syms, index[tuple(np.argsort(sym.colors))])
        for got, want in zip(inverse, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_compose_and_invert_laws_on_states_observations_and_actions():
    states, actions, _ = _recorded(FULL2, 2, seed=7)
    syms = all_color_permutations(FULL2)
    rng = np.random.default_rng(7)
    observe = jax.jit(jax.vmap(lambda s: hanabi.canonical(s, FULL2)))

    @jax.jit
    def laws(g: ColorPermutation, h: ColorPermutation, states: HanabiState, actions):
        gh = compose_permutations(g, h)
        twice = jax.vmap(lambda s: permute_state(permute_state(s, g), h))(states)
        once = jax.vmap(lambda s: permute_state(s, gh))(states)
        back = jax.vmap(
            lambda s: permute_state(permute_state(s, g), invert_permutation(g))
        )(states)
        obs = observe(states)
        return jnp.stack(
            [
                _tree_equal(twice, once),
                _tree_equal(back, states),
                jnp.all(
                    permute_observation(permute_observation(obs, g), h)
                    == permute_observation(obs, gh)
                ),
                jnp.all(
                    permute_observation(
                        permute_observation(obs, g), invert_permutation(g)
                    )
                    == obs
                ),
                jnp.all(
                    permute_action(permute_action(actions, g), h)
                    == permute_action(actions, gh)
                ),
            ]
        )

    for _ in range(12):
        g, h = (
            jax.tree.map(jnp.asarray, _one(syms, int(i))) for i in rng.choice(120, 2)
        )
        assert bool(jnp.all(laws(g, h, states, actions)))


def test_permute_state_vmaps_over_stacked_permutations():
    states, _, _ = _recorded(FULL2, 2, seed=7)
    state = jax.tree.map(lambda x: x[40], states)
    syms = all_color_permutations(FULL2)
    batched = jax.jit(jax.vmap(permute_state, in_axes=(None, 0)))(state, syms)
    obs = jax.jit(jax.vmap(lambda s: hanabi.canonical(s, FULL2)))(batched)
    base = hanabi.canonical(state, FULL2)
    for i in (0, 1, 57, 119):
        one = permute_state(state, _one(syms, i))
        _assert_trees_equal(jax.tree.map(lambda x, i=i: x[i], batched), one)
        np.testing.assert_array_equal(obs[i], permute_observation(base, _one(syms, i)))
    # The 120 images of a state with cards of every color are distinct.
    assert len({np.asarray(d).tobytes() for d in batched.deck}) == 120
