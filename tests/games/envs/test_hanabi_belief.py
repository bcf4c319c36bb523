"""v0-belief observations: golden against a plain-Python reference built from
hanabi-learning-environment's state and against JaxMARL's Hanabi, plus
hand-checked beliefs (sums, cards ruled out by hints, discards and fireworks)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs import hanabi
from games.envs.hanabi import HanabiParams, make_params
from games.envs.hanabi.belief import (
    card_beliefs,
    public_card_counts,
    v0_belief,
    v0_belief_sections,
    v0_belief_size,
)

FULL2 = make_params("Hanabi-Full", 2)
_v0 = jax.jit(v0_belief, static_argnums=1)
_step = jax.jit(hanabi.step, static_argnums=2)
REVEAL_RED = 10  # 2-player full game: reveal color R to +1


def _deck_starting_with(params: HanabiParams, first: list[int]) -> np.ndarray:
    """A valid deck whose first cards are `first`, the rest in card-id order."""
    rest = list(params.sorted_deck())
    for card in first:
        rest.remove(card)
    return np.asarray(first + rest, np.int32)


def _card(color: str, rank: int, params: HanabiParams = FULL2) -> int:
    return "RYGWB".index(color) * params.num_ranks + rank - 1


def _slot_beliefs(obs: np.ndarray, params: HanabiParams) -> np.ndarray:
    """float[..., P, H, T]: the belief weights of a v0 vector, by offset and slot."""
    sections = v0_belief_sections(params)
    start = sum(sections.values()) - sections["v0_belief"]
    per_slot = params.num_card_types + params.num_colors + params.num_ranks
    block = obs[..., start:].reshape(
        *obs.shape[:-1], params.num_players, params.hand_size, per_slot
    )
    return block[..., : params.num_card_types]


def _choose(rng, legal, hand, fireworks, params, good_play, bomb=0.04):
    """A random policy with long games: mostly hints and discards, plays of
    playable cards with probability `good_play`, a random play with probability
    `bomb`."""
    hand_size = params.hand_size
    playable = [
        k
        for k, c in enumerate(hand)
        if c >= 0 and fireworks[c // params.num_ranks] == c % params.num_ranks
    ]
    plays = np.flatnonzero(legal[hand_size : 2 * hand_size]) + hand_size
    if playable and rng.random() < good_play:
        return hand_size + int(rng.choice(playable))
    if plays.size and rng.random() < bomb:
        return int(rng.choice(plays))
    others = np.flatnonzero(legal)
    others = others[(others < hand_size) | (others >= 2 * hand_size)]
    return int(rng.choice(others if others.size else np.flatnonzero(legal)))


def _hle_v0_reference(observation, encoder, params: HanabiParams) -> np.ndarray:
    """Plain-Python v0 belief of one HLE observation (EncodeV0Belief_ with the
    public count of the SAD/OBL fork's canonical_encoders.cc): HLE's canonical
    vector with each slot's plausible bits times the copies not discarded and not
    on the fireworks, divided by their total."""
    num_ranks, cards = params.num_ranks, params.num_card_types
    vector = np.asarray(encoder.encode(observation), np.float32)
    counts = [params.card_counts[t % num_ranks] for t in range(cards)]
    for card in observation.discard_pile():
        counts[card.color() * num_ranks + card.rank()] -= 1
    for color, played in enumerate(observation.fireworks()):
        for rank in range(played):
            counts[color * num_ranks + rank] -= 1
    sections = v0_belief_sections(params)
    start = sum(sections.values()) - sections["v0_belief"]
    per_slot = cards + params.num_colors + params.num_ranks
    for offset, hand in enumerate(observation.card_knowledge()):
        for slot, knowledge in enumerate(hand):
            weights = [
                counts[t]
                if knowledge.color_plausible(t // num_ranks)
                and knowledge.rank_plausible(t % num_ranks)
                else 0
                for t in range(cards)
            ]
            total = sum(weights)
            assert total > 0
            base = start + (offset * params.hand_size + slot) * per_slot
            vector[base : base + cards] = np.float32(weights) / np.float32(total)
    return vector


def _play_hle_game(params: HanabiParams, seed: int):
    """Plays one HLE game with HLE's own random deals; returns the deck it dealt
    (completed with the undealt cards), the moves, and the reference v0 vectors
    of every player at every state, float32[T + 1, P, O]."""
    pyhanabi = pytest.importorskip("hanabi_learning_environment.pyhanabi")
    from games.envs.hanabi.hle import hle_config

    rng = np.random.default_rng(seed)
    game = pyhanabi.HanabiGame(hle_config(params, seed=seed))
    encoder = pyhanabi.ObservationEncoder(
        game, pyhanabi.ObservationEncoderType.CANONICAL
    )
    state = game.new_initial_state()
    dealt: list[int] = []
    actions: list[int] = []
    references = []
    good_play = rng.uniform(0.5, 1.0)
    while True:
        while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
            before = [len(hand) for hand in state.player_hands()]
            state.deal_random_card()
            hands = state.player_hands()
            player = next(p for p, n in enumerate(before) if len(hands[p]) > n)
            card = hands[player][-1]
            dealt.append(card.color() * params.num_ranks + card.rank())
        references.append(
            [
                _hle_v0_reference(state.observation(p), encoder, params)
                for p in range(params.num_players)
            ]
        )
        if state.is_terminal():
            break
        legal = np.zeros(params.num_actions, bool)
        for move in state.legal_moves():
            legal[game.get_move_uid(move)] = True
        hand = [
            c.color() * params.num_ranks + c.rank()
            for c in state.player_hands()[state.cur_player()]
        ]
        action = _choose(rng, legal, hand, state.fireworks(), params, good_play)
        state.apply_move(game.get_move(action))
        actions.append(action)
    rest = list(params.sorted_deck())
    for card in dealt:
        rest.remove(card)
    deck = np.asarray(dealt + rest, np.int32)
    return deck, np.asarray(actions, np.int32), np.asarray(references, np.float32)


@functools.cache
def _replay_v0(params: HanabiParams):
    """jit: (deck, actions[T]) -> the v0 vectors of the T + 1 states, and per
    move the legal mask, the acting player, the reward and the illegal flag."""

    def replay(deck, actions):
        first = hanabi.reset(jax.random.key(0), params, deck)

        def move(state, action):
            seen = (
                v0_belief(state, params),
                hanabi.legal_actions(state, params),
                state.current_player,
            )
            state, reward, _ = hanabi.step(state, action, params)
            return state, (*seen, reward, state.illegal)

        last, (seen, *per_move) = jax.lax.scan(move, first, actions)
        return jnp.concatenate([seen, v0_belief(last, params)[None]]), *per_move

    return jax.jit(replay)


def test_v0_belief_size_is_canonical_size_and_jaxmarl_obs_size():
    assert v0_belief_size(FULL2) == 658 == hanabi.canonical_size(FULL2)
    assert v0_belief_sections(FULL2) == {
        "hands": 127,
        "board": 76,
        "discards": 50,
        "last_action": 55,
        "v0_belief": 350,
    }
    for preset in ("Hanabi-Full", "Hanabi-Small", "Hanabi-Very-Small"):
        for players in (2, 3, 4, 5):
            params = make_params(preset, players)
            assert v0_belief_size(params) == hanabi.canonical_size(params)
            state = jax.eval_shape(hanabi.reset, jax.random.key(0), params)
            obs = jax.eval_shape(v0_belief, state, params)
            assert obs.shape == (players, v0_belief_size(params))
            assert obs.dtype == jnp.float32


@pytest.mark.parametrize(
    ("preset", "num_players", "num_games"),
    [
        ("Hanabi-Full", 2, 12),
        ("Hanabi-Full", 3, 4),
        ("Hanabi-Full", 4, 4),
        ("Hanabi-Full", 5, 4),
        ("Hanabi-Small", 2, 6),
        ("Hanabi-Small", 4, 4),
    ],
)
def test_v0_belief_matches_hle_reference_on_random_games(
    preset, num_players, num_games
):
    params = make_params(preset, num_players)
    replay = _replay_v0(params)
    horizon = params.max_game_length
    states = 0
    empty_slots = 0
    for seed in range(num_games):
        deck, actions, reference = _play_hle_game(params, seed)
        padded = np.full(horizon, -1, np.int32)
        padded[: actions.size] = actions
        obs, _, _, _, illegal = (np.asarray(x) for x in replay(deck, padded))
        assert not illegal[: actions.size].any()
        length = actions.size
        # Within 2 ulp: XLA divides by multiplying with the total's reciprocal,
        # the reference (as the fork's C++) divides.
        np.testing.assert_allclose(obs[: length + 1], reference, rtol=2.4e-7, atol=0)
        # The padding replays the terminal state.
        tail = obs[length + 1 :]
        np.testing.assert_array_equal(tail, np.broadcast_to(obs[length], tail.shape))
        states += length + 1
        empty_slots += int(np.sum(_slot_beliefs(reference, params).sum(-1) == 0))
    assert states > 10 * num_games  # random games of 3c x 3r are short
    # Long games: the reference covered empty slots after the deck ran out.
    assert empty_slots > 0


def test_v0_belief_public_sections_are_the_canonical_vector():
    state = hanabi.reset(jax.random.key(3), FULL2)
    rng = np.random.default_rng(3)
    encode = jax.jit(lambda s: (hanabi.canonical(s, FULL2), v0_belief(s, FULL2)))
    saw_zero_count = False
    while not bool(state.terminal):
        mask = np.asarray(hanabi.legal_actions(state, FULL2))
        hand = np.asarray(state.hands[int(state.current_player)])
        action = _choose(rng, mask, hand, np.asarray(state.fireworks), FULL2, 0.8)
        state, _, _ = _step(state, action, FULL2)
        canonical, obs = (np.asarray(x, np.float32) for x in encode(state))
        cut = 658 - 350
        np.testing.assert_array_equal(obs[:, :cut], canonical[:, :cut])
        # Revealed color/rank bits are the canonical ones; the belief is positive
        # exactly on the plausible cards that have copies not publicly seen.
        ck = canonical[:, cut:].reshape(2, 2, 5, 35)
        v0 = obs[:, cut:].reshape(2, 2, 5, 35)
        np.testing.assert_array_equal(v0[..., 25:], ck[..., 25:])
        unseen = np.asarray(public_card_counts(state, FULL2)) > 0
        np.testing.assert_array_equal(v0[..., :25] > 0, (ck[..., :25] > 0) & unseen)
        saw_zero_count |= bool((~unseen).any())
    assert saw_zero_count


def test_v0_belief_fresh_game_is_the_deck_composition():
    state = hanabi.reset(jax.random.key(0), FULL2)
    beliefs = _slot_beliefs(np.asarray(_v0(state, FULL2)), FULL2)
    composition = np.tile(np.array([3, 2, 2, 2, 1], np.float32), 5) / 50
    np.testing.assert_allclose(beliefs, np.broadcast_to(composition, (2, 2, 5, 25)))
    counts = np.asarray(public_card_counts(state, FULL2))
    np.testing.assert_array_equal(counts, np.tile([3, 2, 2, 2, 1], 5))


def test_v0_belief_hint_rules_out_cards_and_renormalises():
    # Player 1 holds R1 Y1 R2 G5 B3; player 0 hints red to player 1.
    hand1 = [_card("R", 1), _card("Y", 1), _card("R", 2), _card("G", 5), _card("B", 3)]
    hand0 = [_card("W", 1), _card("W", 1), _card("W", 2), _card("W", 2), _card("W", 3)]
    deck = _deck_starting_with(FULL2, hand0 + hand1)
    state = hanabi.reset(None, FULL2, deck)
    state, _, _ = _step(state, REVEAL_RED, FULL2)
    obs = np.asarray(_v0(state, FULL2))
    beliefs = _slot_beliefs(obs, FULL2)  # [observer, offset, slot, card]
    red = np.zeros(25, np.float32)
    red[0:5] = np.array([3, 2, 2, 2, 1]) / 10
    not_red = np.tile(np.array([3, 2, 2, 2, 1], np.float32), 5)
    not_red[0:5] = 0
    not_red /= 40
    expected = np.stack([red, not_red, red, not_red, not_red])
    # Player 1 sees its own hand at offset 0; player 0 sees it at offset 1.
    np.testing.assert_allclose(beliefs[1, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(beliefs[0, 1], expected, rtol=1e-6)
    # A card ruled out by the hint has weight exactly 0.
    assert np.all(beliefs[1, 0, 1, 0:5] == 0)
    assert np.all(beliefs[1, 0, 0, 5:] == 0)
    np.testing.assert_allclose(beliefs.sum(-1), 1.0, rtol=1e-6)
    # The revealed color bits follow the beliefs: slots 0 and 2 revealed red.
    per_slot = obs[1, 308:].reshape(2, 5, 35)
    np.testing.assert_array_equal(per_slot[0, :, 25], [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(per_slot[0, :, 26:35], 0)


def test_v0_belief_counts_remove_discards_and_fireworks_not_hands():
    # Player 0 holds R1 R1 R2 Y1 Y1, player 1 the third R1; the deck (in card-id
    # order) then deals R2, R3, ...
    hand0 = [_card("R", 1), _card("R", 1), _card("R", 2), _card("Y", 1), _card("Y", 1)]
    hand1 = [_card("R", 1), _card("G", 1), _card("G", 2), _card("B", 1), _card("W", 1)]
    deck = _deck_starting_with(FULL2, hand0 + hand1)
    state = hanabi.reset(None, FULL2, deck)
    counts = np.asarray(public_card_counts(state, FULL2))
    # Cards in hands are public to others but are not removed (public count).
    assert counts[_card("R", 1)] == 3
    state, _, _ = hanabi.step(state, 5, FULL2)  # player 0 plays R1; draws R2
    state, _, _ = hanabi.step(state, 16, FULL2)  # player 1 hints 2s: slots 1, 4
    state, _, _ = hanabi.step(state, 5, FULL2)  # player 0 misplays R1; draws R3
    counts = np.asarray(public_card_counts(state, FULL2))
    assert int(state.fireworks[0]) == 1 and int(state.discards[_card("R", 1)]) == 1
    assert counts[_card("R", 1)] == 1  # 3 copies - 1 played - 1 discarded
    assert counts[_card("R", 2)] == 2 and counts[_card("Y", 1)] == 3
    beliefs = np.asarray(card_beliefs(state, FULL2))  # [player, slot, card]
    total = counts.sum()
    assert total == 48
    # Player 0 now holds R2 Y1 Y1 R2 R3. Its Y1 in slot 1 was told "not a 2";
    # player 1's hand has had no hint.
    weights = counts.astype(np.float64)
    np.testing.assert_allclose(beliefs[1, 0], weights / total, rtol=1e-6)
    not_rank2 = weights.copy()
    not_rank2[1::5] = 0
    np.testing.assert_allclose(beliefs[0, 1], not_rank2 / not_rank2.sum(), rtol=1e-6)
    # Rank 2 revealed on player 0's R2 (slot 0 now): only 2s remain plausible.
    rank2 = np.zeros(25)
    rank2[1::5] = weights[1::5]
    np.testing.assert_allclose(beliefs[0, 0], rank2 / rank2.sum(), rtol=1e-6)
    # A card whose copies are all public has weight 0 everywhere.
    state, _, _ = hanabi.step(state, 15, FULL2)  # player 1 hints rank 1
    state, _, _ = hanabi.step(state, 5, FULL2)  # player 0 plays R2
    assert np.asarray(public_card_counts(state, FULL2))[_card("R", 2)] == 1


def test_v0_belief_empty_slots_are_zero_and_others_sum_to_one():
    key = jax.random.key(11)
    params = FULL2
    state = hanabi.reset(key, params)
    rng = np.random.default_rng(11)
    saw_empty = False
    while not bool(state.terminal):
        mask = np.asarray(hanabi.legal_actions(state, params))
        hand = np.asarray(state.hands[int(state.current_player)])
        fireworks = np.asarray(state.fireworks)
        # No misplays: the game lasts until the deck runs out.
        action = _choose(rng, mask, hand, fireworks, params, good_play=0.9, bomb=0)
        state, _, _ = _step(state, action, params)
        obs = np.asarray(_v0(state, params))
        beliefs = _slot_beliefs(obs, params)  # [observer, offset, slot, card]
        for observer in range(2):
            for offset in range(2):
                player = (observer + offset) % 2
                hand = np.asarray(state.hands[player])
                sums = beliefs[observer, offset].sum(-1)
                np.testing.assert_allclose(sums[hand >= 0], 1.0, rtol=1e-6)
                np.testing.assert_array_equal(sums[hand < 0], 0.0)
                saw_empty |= bool((hand < 0).any())
                # The true card always keeps a positive weight.
                slots = np.flatnonzero(hand >= 0)
                assert np.all(beliefs[observer, offset, slots, hand[slots]] > 0)
        assert np.all(obs >= 0) and np.all(obs <= 1)
    assert saw_empty


def test_v0_belief_jit_vmap_matches_one_state_at_a_time():
    params = make_params("Hanabi-Full", 3)
    keys = jax.random.split(jax.random.key(5), 6)
    states = jax.vmap(lambda k: hanabi.reset(k, params))(keys)
    legal = jax.jit(jax.vmap(lambda s: hanabi.legal_actions(s, params)))
    step = jax.jit(jax.vmap(lambda s, a: hanabi.step(s, a, params)))
    rng = np.random.default_rng(5)
    for _ in range(10):
        masks = np.asarray(legal(states))
        # A finished game has no legal action; its (illegal) action 0 is ignored.
        actions = np.array(
            [rng.choice(np.flatnonzero(m)) if m.any() else 0 for m in masks], np.int32
        )
        states, _, _ = step(states, jnp.asarray(actions))
    batched = np.asarray(jax.jit(jax.vmap(lambda s: v0_belief(s, params)))(states))
    for i in range(keys.shape[0]):
        one = jax.tree.map(lambda x, i=i: x[i], states)
        np.testing.assert_array_equal(batched[i], np.asarray(_v0(one, params)))


@functools.cache
def _jaxmarl_replay(params: HanabiParams):
    """jit: (deck pairs, actions[T]) -> JaxMARL's observations and legal moves of
    every agent at every state of its Hanabi of `params`' size, stepping with
    `step_env` (no auto-reset)."""
    hanabi_env = pytest.importorskip("jaxmarl.environments.hanabi.hanabi")
    num_players = params.num_players
    env = hanabi_env.HanabiEnv(
        num_agents=num_players,
        num_colors=params.num_colors,
        num_ranks=params.num_ranks,
        hand_size=params.hand_size,
        max_info_tokens=params.max_information_tokens,
        max_life_tokens=params.max_life_tokens,
        num_cards_of_rank=np.array(params.card_counts),
    )

    def stack(tree):
        return jnp.stack([tree[agent] for agent in env.agents])

    def replay(pairs, actions):
        obs, state = env.reset_from_deck_of_pairs(pairs)

        def move(carry, action):
            obs, state = carry
            seen = (stack(obs), stack(env.get_legal_moves(state)), state.terminal)
            current = jnp.argmax(state.cur_player_idx)
            noop = env.num_moves - 1
            chosen = jnp.where(jnp.arange(num_players) == current, action, noop)
            joint = {agent: chosen[i] for i, agent in enumerate(env.agents)}
            obs, state, reward, _, _ = env.step_env(jax.random.key(0), state, joint)
            return (obs, state), (*seen, reward["__all__"])

        (obs, state), (seen_obs, legal, terminal, rewards) = jax.lax.scan(
            move, (obs, state), actions
        )
        return seen_obs, legal, terminal, rewards, stack(obs)

    return env, jax.jit(replay)


@pytest.mark.parametrize(
    ("num_players", "sizes", "num_games"),
    [
        (2, (), 40),
        (3, (), 10),
        (4, (), 10),
        (5, (), 10),
        # hanabi_3c3r_cpu, the size of issue 58's cross-implementation play
        (2, (("colors", 3), ("ranks", 3), ("hand_size", 3), ("hints", 5)), 20),
    ],
    ids=["2p", "3p", "4p", "5p", "2p-3c3r"],
)
def test_v0_belief_matches_jaxmarl_on_random_games(num_players, sizes, num_games):
    """JaxMARL's HanabiEnv observation is the v0 vector (same 658 floats for two
    players), at HLE's sizes too (3 colors x 3 ranks). Its actions are HLE's
    move uids plus a trailing no-op for the players who do not act."""
    params = make_params("Hanabi-Full", num_players, **dict(sizes))
    env, replay_jaxmarl = _jaxmarl_replay(params)
    assert env.obs_size == v0_belief_size(params)
    assert env.num_moves == params.num_actions + 1
    replay = _replay_v0(params)
    states = 0
    for seed in range(num_games):
        deck, actions, _ = _play_hle_game(params, 100 + seed)
        length = actions.size
        horizon = params.max_game_length
        # One compiled replay for every game: pad the moves to a fixed length.
        # JaxMARL's observation at index `length` is the terminal state's (the
        # padding moves after it are not compared).
        pairs = np.stack(np.divmod(deck, params.num_ranks), axis=1)
        padded = np.zeros(horizon + 1, np.int32)
        padded[:length] = actions
        theirs, legal_m, _, rewards_m, _ = (
            np.asarray(x) for x in replay_jaxmarl(jnp.asarray(pairs), padded)
        )
        ours, legal, player, rewards, illegal = (
            np.asarray(x) for x in replay(deck, padded[:-1])
        )
        # Bit for bit (both are XLA programs).
        np.testing.assert_array_equal(ours[: length + 1], theirs[: length + 1])
        legal, player, rewards = legal[:length], player[:length], rewards[:length]
        illegal = illegal[:length]
        # The acting player's legal moves agree (JaxMARL's no-op aside), and so do
        # the rewards.
        assert not illegal.any()
        np.testing.assert_array_equal(
            legal_m[np.arange(length), player, :-1] > 0, legal
        )
        np.testing.assert_array_equal(rewards, rewards_m[:length].astype(np.int32))
        states += length + 1
    assert states > 10 * num_games  # random games of 3c x 3r are short
