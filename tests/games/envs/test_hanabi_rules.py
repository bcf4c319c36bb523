"""Hanabi rules: presets, dealing, rewards, the end of the game, the illegal-action
contract, bad input, and jit/vmap determinism. Lockstep parity with HLE is in
test_hanabi_verify.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs import hanabi
from games.envs.hanabi import HanabiParams, make_params
from games.envs.hanabi.hle import (
    canonical_encoder,
    encode_bits,
    hle_config,
    legal_uids,
)

PRESETS = ("Hanabi-Full", "Hanabi-Small", "Hanabi-Very-Small")
PLAYERS = (2, 3, 4, 5)


def _deck_starting_with(params: HanabiParams, first: list[int]) -> np.ndarray:
    """A valid deck whose first cards are `first`, the rest in card-id order."""
    rest = list(params.sorted_deck())
    for card in first:
        rest.remove(card)
    return np.asarray(first + rest, np.int32)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("num_players", PLAYERS)
def test_make_params_matches_rl_env(preset, num_players):
    rl_env = pytest.importorskip("hanabi_learning_environment.rl_env")
    params = make_params(preset, num_players)
    env = rl_env.make(preset, num_players)
    game = env.game
    assert params.num_players == game.num_players()
    assert params.num_colors == game.num_colors()
    assert params.num_ranks == game.num_ranks()
    assert params.hand_size == game.hand_size()
    assert params.max_information_tokens == game.max_information_tokens()
    assert params.max_life_tokens == game.max_life_tokens()
    assert params.num_actions == game.max_moves()
    assert hanabi.canonical_size(params) == env.vectorized_observation_shape()[0]
    for color in range(params.num_colors):
        for rank in range(params.num_ranks):
            assert params.card_counts[rank] == game.num_cards(color, rank)


@pytest.mark.parametrize("num_ranks", [1, 2, 3, 4, 5])
def test_card_counts_match_hle_for_fewer_ranks(num_ranks):
    pyhanabi = pytest.importorskip("hanabi_learning_environment.pyhanabi")
    game = pyhanabi.HanabiGame(
        {"players": 2, "colors": 2, "ranks": num_ranks, "hand_size": 1}
    )
    params = HanabiParams(num_colors=2, num_ranks=num_ranks, hand_size=1)
    assert params.card_counts == tuple(game.num_cards(0, r) for r in range(num_ranks))
    assert params.card_counts[0] == 3
    assert params.deck_size == 2 * sum(params.card_counts)


def test_params_full_two_player_sizes():
    params = make_params("Hanabi-Full", 2)
    assert params.card_counts == (3, 2, 2, 2, 1)
    assert params.deck_size == 50
    assert params.num_actions == 20
    assert hanabi.canonical_size(params) == 658
    assert hanabi.canonical_sections(params) == {
        "hands": 127,
        "board": 76,
        "discards": 50,
        "last_action": 55,
        "card_knowledge": 350,
    }
    assert make_params("Hanabi-Full", 4).hand_size == 4


def test_make_params_rejects_unknown_preset_and_player_counts():
    with pytest.raises(ValueError, match=r"unknown Hanabi preset 'Hanabi-Huge'"):
        make_params("Hanabi-Huge", 2)
    for players in (1, 6):
        with pytest.raises(ValueError, match=r"Hanabi-Small needs 2 to 5 players"):
            make_params("Hanabi-Small", players)


SIZED = dict(colors=3, ranks=3, hand_size=3, hints=5, lives=3)  # hanabi_3c3r_cpu


@pytest.mark.parametrize("num_players", [2, 3])
def test_make_params_sizes_over_a_preset_match_hle(num_players):
    """Sizes set over a preset are the game HLE builds from them."""
    pyhanabi = pytest.importorskip("hanabi_learning_environment.pyhanabi")
    params = make_params("Hanabi-Full", num_players, **SIZED)
    assert params.card_counts == (3, 2, 1) and params.deck_size == 18
    assert params.max_score == 9 and params.hand_size == 3
    assert params.max_information_tokens == 5 and params.max_life_tokens == 3
    game = pyhanabi.HanabiGame(hle_config(params))
    assert params.num_actions == game.max_moves()
    assert (params.num_colors, params.num_ranks) == (
        game.num_colors(),
        game.num_ranks(),
    )
    assert params.hand_size == game.hand_size()
    encoder = canonical_encoder(pyhanabi, game, params)
    assert encoder.shape() == [hanabi.canonical_size(params)]


@pytest.mark.parametrize(
    "preset,num_players", [("Hanabi-Full", 2), ("Hanabi-Small", 4)]
)
def test_the_hle_bridges_readers_equal_pyhanabis_own(preset, num_players):
    """`encode_bits` and `legal_uids` read HLE's C++ objects directly; on every
    state of random games they give what pyhanabi's own calls give."""
    pyhanabi = pytest.importorskip("hanabi_learning_environment.pyhanabi")
    params = make_params(preset, num_players)
    game = pyhanabi.HanabiGame(hle_config(params, seed=3))
    encoder = canonical_encoder(pyhanabi, game, params)
    rng = np.random.default_rng(0)
    states = 0
    for _ in range(12):
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
                state.deal_random_card()
                continue
            for p in range(num_players):
                observation = state.observation(p)
                bits = encode_bits(pyhanabi, encoder, observation)
                assert bits.dtype == np.uint8
                np.testing.assert_array_equal(bits, encoder.encode(observation))
            moves = state.legal_moves()
            assert legal_uids(pyhanabi, game, state) == [
                game.get_move_uid(m) for m in moves
            ]
            state.apply_move(moves[rng.integers(len(moves))])
            states += 1
    assert states > 80


def test_make_params_keeps_the_presets_sizes_left_none():
    assert make_params("Hanabi-Small", 3, colors=None, lives=None) == make_params(
        "Hanabi-Small", 3
    )
    small = make_params("Hanabi-Small", 2, lives=3)
    assert small.max_life_tokens == 3 and small.num_colors == 2
    assert hanabi.game_title(small, "Hanabi-Small") == (
        "Hanabi 2c x 5r, hand 2, 3 hints, 3 lives"
    )
    assert hanabi.game_title(make_params("Hanabi-Small", 2), "Hanabi-Small") == (
        "Hanabi-Small"
    )


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (dict(colors=6), r"Hanabi colors=6 must be 1 to 5"),
        (dict(ranks=0), r"Hanabi ranks=0 must be 1 to 5"),
        (dict(hand_size=9), r"Hanabi hand_size=9 must be 1 to 8"),
        (dict(lives=0), r"Hanabi lives=0 must be >= 1"),
        (dict(hints=-1), r"Hanabi hints=-1 must be >= 0"),
        (dict(colors=1, ranks=1, hand_size=2), r"2 hands of 2 cards need more"),
        (dict(colors=2.5), r"Hanabi colors=2.5 must be a whole number"),
        (dict(suits=3), r"unknown Hanabi size 'suits'; the sizes are colors"),
    ],
)
def test_make_params_refuses_sizes_hle_refuses_in_one_line(sizes, message):
    with pytest.raises(ValueError, match=message) as error:
        make_params("Hanabi-Full", 2, **sizes)
    assert "\n" not in str(error.value)


def test_params_reject_impossible_games():
    with pytest.raises(ValueError, match=r"colors=0 must be 1 to 5"):
        HanabiParams(num_colors=0)
    with pytest.raises(ValueError, match=r"5 hands of 5 cards need more than"):
        HanabiParams(num_players=5, num_colors=1, hand_size=5)


def test_reset_deals_player_zero_first_and_player_zero_starts():
    params = make_params("Hanabi-Full", 3)
    deck = np.random.default_rng(0).permutation(params.sorted_deck())
    state = hanabi.reset(jax.random.key(0), params, deck)
    np.testing.assert_array_equal(state.hands, deck[:15].reshape(3, 5))
    assert int(state.deck_position) == 15
    assert int(state.current_player) == 0
    assert int(state.information_tokens) == 8 and int(state.life_tokens) == 3
    assert bool(np.all(state.color_plausible)) and bool(np.all(state.rank_plausible))


def test_reset_rejects_bad_decks():
    params = make_params("Hanabi-Small", 2)
    deck = params.sorted_deck()
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"a deck needs 20 cards .* got shape \[19\]"):
        hanabi.reset(key, params, deck[:-1])
    with pytest.raises(ValueError, match=r"3 copies of card 0 \(R1\), got 5"):
        hanabi.reset(key, params, np.where(deck == 1, 0, deck))
    with pytest.raises(ValueError, match=r"card ids 0\.\.9, got 10"):
        hanabi.reset(key, params, np.where(deck == 9, 10, deck))
    with pytest.raises(ValueError, match=r"integer card ids"):
        hanabi.reset(key, params, deck.astype(float))
    with pytest.raises(ValueError, match=r"a deck needs 20 cards"):
        jax.jit(lambda d: hanabi.reset(key, params, d))(jnp.zeros(7, jnp.int32))


def test_reset_shuffles_a_valid_deck_from_the_key():
    params = make_params("Hanabi-Full", 2)
    a = hanabi.reset(jax.random.key(1), params)
    b = hanabi.reset(jax.random.key(1), params)
    c = hanabi.reset(jax.random.key(2), params)
    hanabi.validate_deck(np.asarray(a.deck), params)
    np.testing.assert_array_equal(a.deck, b.deck)
    assert not np.array_equal(a.deck, c.deck)


def test_step_reward_gives_back_the_score_when_the_last_life_is_lost():
    params = make_params("Hanabi-Small", 2)  # one life, hand size 2
    # Player 0 holds R1 Y1, player 1 holds R2 R1.
    deck = _deck_starting_with(params, [0, 5, 1, 0])
    state = hanabi.reset(jax.random.key(0), params, deck)
    play_first = params.hand_size  # action "play slot 0"
    rewards, dones = [], []
    for _ in range(4):
        state, reward, done = hanabi.checked_step(state, play_first, params)
        rewards.append(int(reward))
        dones.append(bool(done))
    # R1, R2, then Y1 (shifted into slot 0) score; player 1's R1 then misplays.
    assert rewards == [1, 1, 1, -3]
    assert dones == [False, False, False, True]
    assert int(state.score) == 0 and int(state.life_tokens) == 0
    assert int(state.discards[0]) == 1
    assert not bool(np.any(hanabi.legal_actions(state, params)))


def test_step_ends_one_round_after_the_deck_runs_out():
    params = make_params("Hanabi-Very-Small", 5)  # 10 cards, all dealt at once
    state = hanabi.reset(jax.random.key(0), params)
    assert int(state.deck_position) == params.deck_size
    dones = []
    for _ in range(params.num_players):
        mask = np.asarray(hanabi.legal_actions(state, params))
        discards = np.flatnonzero(mask[: params.hand_size])
        hints = np.flatnonzero(mask[2 * params.hand_size :]) + 2 * params.hand_size
        action = int(discards[0]) if discards.size else int(hints[0])
        state, reward, done = hanabi.checked_step(state, action, params)
        dones.append(bool(done))
        assert int(reward) == 0
    assert dones == [False] * (params.num_players - 1) + [True]
    assert int(state.turns_to_play) == 0 and int(state.life_tokens) == 1


def test_step_hint_updates_card_knowledge_like_hle():
    params = make_params("Hanabi-Full", 2)
    # Player 1 holds R1 G1 R2 B5 Y1 (cards 0, 10, 1, 24, 5).
    deck = _deck_starting_with(params, [2, 3, 4, 6, 7, 0, 10, 1, 24, 5])
    state = hanabi.reset(jax.random.key(0), params, deck)
    red_to_next = 2 * params.hand_size + 0  # reveal color R to +1
    state, reward, _ = hanabi.checked_step(state, red_to_next, params)
    assert int(reward) == 0 and int(state.information_tokens) == 7
    np.testing.assert_array_equal(state.color_hinted[1], [0, -1, 0, -1, -1])
    np.testing.assert_array_equal(state.last_reveal, [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(state.color_plausible[1, 0], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(state.color_plausible[1, 1], [0, 1, 1, 1, 1])
    assert bool(np.all(state.rank_plausible[1]))
    assert int(state.current_player) == 1


def test_step_illegal_action_leaves_the_state_and_sets_the_flag():
    params = make_params("Hanabi-Full", 2)
    state = hanabi.reset(jax.random.key(0), params)
    jit_step = jax.jit(hanabi.step)  # params is a static pytree
    for action in (0, -1, params.num_actions):  # discard at 8 tokens; out of range
        new, reward, done = jit_step(state, action, params)
        assert bool(new.illegal)
        assert int(reward) == 0 and not bool(done)
        for name, before, after in zip(state._fields, state, new, strict=True):
            if name != "illegal":
                np.testing.assert_array_equal(before, after, err_msg=name)
    new, _, _ = jit_step(state, params.hand_size, params)  # play slot 0: legal
    assert not bool(new.illegal)


def test_checked_step_raises_a_clear_error_for_illegal_actions():
    params = make_params("Hanabi-Full", 2)
    state = hanabi.reset(jax.random.key(0), params)
    with pytest.raises(hanabi.IllegalActionError, match=r"player 0 cannot discard 0"):
        hanabi.checked_step(state, 0, params)
    with pytest.raises(hanabi.IllegalActionError, match=r"out of range.*0\.\.19"):
        hanabi.checked_step(state, 20, params)
    over = state._replace(terminal=jnp.asarray(True))
    with pytest.raises(hanabi.IllegalActionError, match=r"the game is over"):
        hanabi.checked_step(over, params.hand_size, params)


def test_legal_actions_per_player_masks_the_players_who_wait():
    params = make_params("Hanabi-Full", 3)
    state = hanabi.reset(jax.random.key(3), params)
    per_player = np.asarray(hanabi.legal_actions_per_player(state, params))
    assert per_player.shape == (3, params.num_actions)
    np.testing.assert_array_equal(per_player[0], hanabi.legal_actions(state, params))
    assert not per_player[1:].any()
    # At the start: no discard (8 tokens), every play, some hints.
    assert not per_player[0, :5].any() and per_player[0, 5:10].all()


def test_describe_and_decode_action_follow_hle_move_uids():
    params = make_params("Hanabi-Full", 3)  # H=5, 2 other players
    names = [hanabi.describe_action(a, params) for a in range(params.num_actions)]
    assert names[0] == "discard 0" and names[9] == "play 4"
    assert names[10] == "reveal color R to +1" and names[19] == "reveal color B to +2"
    assert names[20] == "reveal rank 1 to +1" and names[29] == "reveal rank 5 to +2"


def test_canonical_hides_the_observers_own_cards():
    params = make_params("Hanabi-Full", 2)
    deck = np.random.default_rng(1).permutation(params.sorted_deck())
    other = deck.copy()
    other[:5], other[20:25] = deck[20:25], deck[:5]  # change player 0's hand only
    if np.array_equal(np.sort(deck[:5]), np.sort(deck[20:25])):
        pytest.fail("the swapped hands must differ")
    a = hanabi.canonical(hanabi.reset(jax.random.key(0), params, deck), params)
    b = hanabi.canonical(hanabi.reset(jax.random.key(0), params, other), params)
    assert a.dtype == jnp.uint8 and a.shape == (2, 658)
    np.testing.assert_array_equal(a[0], b[0])
    assert np.any(np.asarray(a[1]) != np.asarray(b[1]))


def _random_game(key, params, num_steps):
    """A jittable random rollout: returns rewards, dones and observations."""
    reset_key, play_key = jax.random.split(key)
    state = hanabi.reset(reset_key, params)

    def move(state, key):
        mask = hanabi.legal_actions(state, params)
        logits = jnp.where(mask, 0.0, -jnp.inf)
        logits = jnp.where(mask.any(), logits, 0.0)  # guard: terminal masks are empty
        action = jax.random.categorical(key, logits)
        state, reward, done = hanabi.step(state, action, params)
        return state, (reward, done, hanabi.canonical(state, params))

    return jax.lax.scan(move, state, jax.random.split(play_key, num_steps))


def test_step_jit_and_vmap_are_deterministic_and_agree():
    params = make_params("Hanabi-Small", 3)
    keys = jax.random.split(jax.random.key(7), 4)
    run = jax.jit(lambda k: _random_game(k, params, 40))
    run_batch = jax.jit(jax.vmap(lambda k: _random_game(k, params, 40)))
    batched = run_batch(keys)
    again = run_batch(keys)
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    for i in range(len(keys)):
        single = run(keys[i])
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_array_equal(a[i], b)
    _, (rewards, dones, _) = batched
    assert bool(np.all(np.any(dones, axis=1))), "40 moves end every Small game"
    assert bool(np.all(np.abs(np.asarray(rewards).sum(axis=1)) <= params.max_score))
