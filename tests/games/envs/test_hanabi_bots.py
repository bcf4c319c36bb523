"""The rule-based Hanabi partners (games/envs/hanabi/bots.py): what they read from
an observation is the state, they play only legal moves, their rules do what
the table says on hand-made positions, and the bots without tie-breaks by color
are color-equivariant."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs.contract import make_env
from games.envs.hanabi import bot_view, bots
from games.envs.hanabi.params import make_params
from games.envs.hanabi.rules import reset

ROOT = pathlib.Path(__file__).resolve().parents[3]

SIZES = {
    "full": ("Hanabi-Full", 2, {}),
    "full, first reading": ("Hanabi-Full", 2, {}),
    "3c3r": ("Hanabi-Full", 2, dict(colors=3, ranks=3, hand_size=3, hints=5)),
    "3 players": ("Hanabi-Full", 3, {}),
    "small": ("Hanabi-Small", 2, {}),
}


def bot_games(preset, players, sizes, names, num_games=24, seed=0):
    """States and actions of `num_games` games of the bots `names` (one per
    seat), every step: leaves [T, N, ...], the acting seat, done before the step."""
    env = make_env("hanabi", preset=preset, num_players=players, **sizes)
    params = make_params(preset, players, **sizes)
    policies = [bots.bot(name, params) for name in names]

    def step(carry, key):
        state, done = carry
        obs = env.observe(state)
        actor = env.actors(state)[0]
        logits = jax.lax.switch(
            actor, [lambda o, f=f: f(o) for f in policies], obs[actor]
        )
        legal = env.legal_actions(state)[0]
        action = jax.random.categorical(key, jnp.where(legal, logits, -jnp.inf))
        after, _, ended = env.step(key, state, action[None])
        return (after, done | ended), (state, done, actor, logits, legal)

    def game(key):
        state = env.reset(key)
        keys = jax.random.split(key, env.max_steps)
        _, trace = jax.lax.scan(step, (state, jnp.asarray(False)), keys)
        return trace

    keys = jax.random.split(jax.random.key(seed), num_games)
    return env, params, jax.jit(jax.vmap(game))(keys)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_bot_reads_the_state_from_its_observation_and_moves_legally(size):
    preset, players, sizes = SIZES[size]
    names = ((bots.VARIANTS if "first" in size else bots.BOTS) * 2)[:players]
    env, params, (states, done, actor, logits, legal) = bot_games(
        preset, players, sizes, names
    )
    live = ~np.asarray(done)
    assert live.sum() > 24 * 20  # games of many moves
    observe = jax.jit(jax.vmap(jax.vmap(env.observe)))(states)  # [N, T, P, O]
    obs = jnp.take_along_axis(observe, actor[..., None, None], axis=2)[:, :, 0]
    # jitted, as the bots run: one program each, not one per operation
    view = jax.jit(jax.vmap(jax.vmap(lambda o: bot_view.read(o, params))))(obs)
    facts = jax.jit(jax.vmap(jax.vmap(lambda v: bot_view.facts(v, params))))(view)
    a = np.asarray(actor)
    order = (a[..., None] + np.arange(1, players)) % players  # [N, T, P - 1]
    hands = np.take_along_axis(np.asarray(states.hands), order[..., None], axis=2)
    checks = {
        "others": (view.others, hands),
        "fireworks": (view.fireworks, states.fireworks),
        "information": (view.information, states.information_tokens),
        "lives": (view.lives, states.life_tokens),
        "deck": (view.deck, params.deck_size - np.asarray(states.deck_position)),
        "discarded": (view.discarded, states.discards),
        "legal": (facts.legal, legal),
    }
    for name, (read, truth) in checks.items():
        read, truth = np.asarray(read)[live], np.asarray(truth)[live]
        np.testing.assert_array_equal(read, truth, err_msg=name)
    own = np.take_along_axis(np.asarray(states.hands), a[..., None, None], axis=2)[
        :, :, 0
    ]
    # Every own card's identity is among those its hints allow.
    plausible = np.asarray(view.plausible)[:, :, 0]  # [N, T, H, T]
    present = own >= 0
    allowed = np.take_along_axis(plausible, np.maximum(own, 0)[..., None], -1)[..., 0]
    assert allowed[present & live[..., None]].all()
    # The bots allow only legal moves, the likeliest at logit 0.
    chosen = np.asarray(logits)[live].max(-1)
    assert (chosen == 0).all()
    allowed = np.asarray(logits)[live] > bots.REFUSED
    assert (np.asarray(legal)[live] >= allowed).all()


@pytest.mark.parametrize("name", ["iggi", "piers", "outer"])
def test_bots_without_color_tie_breaks_are_color_equivariant(name):
    """pi(sigma(obs))[sigma(a)] = pi(obs)[a] for every color permutation sigma
    (van den Bergh's most-information hint breaks ties by color order)."""
    preset, players, sizes = SIZES["3c3r"]
    env, params, (states, done, actor, _, _) = bot_games(
        preset, players, sizes, (name, name), num_games=8
    )
    policy = bots.bot(name, params)
    syms = env.symmetries
    live = np.asarray(~done)
    observe = jax.jit(jax.vmap(jax.vmap(env.observe)))(states)
    obs = jnp.take_along_axis(observe, actor[..., None, None], axis=2)[:, :, 0]
    obs = obs[live]
    policies = jax.jit(jax.vmap(policy))  # one program, not one per operation
    base = policies(obs)
    for g in range(1, syms.size):
        seen = obs[:, syms.observation[g]]
        permuted = policies(seen)[:, syms.actions[g]]
        np.testing.assert_array_equal(np.asarray(permuted), np.asarray(base))


def first_position(params, deck):
    state = reset(jax.random.key(0), params, deck=np.asarray(deck))
    env = make_env(
        "hanabi", preset="Hanabi-Full", colors=3, ranks=3, hand_size=3, hints=5
    )
    return env, state


def test_rules_on_a_hand_made_deal():
    """3 colors x 3 ranks, hands of 3: player 0 holds R1 R2 Y3 (unknown to it),
    player 1 holds G2 Y1 R1. Nothing is known, so no bot plays: IGGI hints the
    partner's first playable card (Y1) by rank, and so does Outer (its rule
    for the next player's playable cards); no own card is 60% playable at the
    start, so Piers and van den Bergh do not gamble and hint like IGGI. The
    lab's first reading of Outer lacked that rule and hinted the partner's
    first unknown card (G2) by color."""
    params = make_params("Hanabi-Full", 2, colors=3, ranks=3, hand_size=3, hints=5)
    r = params.num_ranks
    card = lambda color, rank: color * r + rank  # noqa: E731 (0-based rank)
    first = [card(0, 0), card(0, 1), card(1, 2), card(2, 1), card(1, 0), card(0, 0)]
    rest = list(params.sorted_deck())
    for c in first:
        rest.remove(c)
    env, state = first_position(params, first + rest)
    obs = env.observe(state)[0]
    hand = params.hand_size
    color_hint = 2 * hand + np.arange(params.num_colors)  # to the next player
    rank_hint = 2 * hand + params.num_color_hints + np.arange(r)
    # jitted, as the bots run: one program each, not one per operation
    policy = {name: jax.jit(bots.bot(name, params)) for name in bots.BOTS}
    chosen = {name: int(np.argmax(policy[name](obs))) for name in bots.BOTS}
    fired = {
        name: int(jax.jit(bots.rule_fired(name, params))(obs)) for name in bots.BOTS
    }
    assert chosen["iggi"] == rank_hint[0] and fired["iggi"] == 2  # tell_useful
    assert chosen["outer"] == rank_hint[0] and fired["outer"] == 2  # playable next
    assert chosen["piers"] == rank_hint[0] and fired["piers"] == 3  # tell_useful
    # Van den Bergh: no 60% card, no safe play, nothing surely useless: tells.
    assert fired["van_den_bergh"] == 3 and chosen["van_den_bergh"] == rank_hint[0]
    first = jax.jit(bots.bot("outer_v1", params))(obs)
    assert int(np.argmax(first)) == color_hint[2]  # tell_unknown, G2 by color
    # The partner, told "1", plays its first 1 (now surely playable); van den
    # Bergh's most-likely-playable rule keeps the last of equals (Y1, R1).
    state, _, _ = env.step(jax.random.key(0), state, jnp.asarray([rank_hint[0]]))
    obs = env.observe(state)[1]
    for name in bots.BOTS:
        logits = policy[name](obs)
        played = np.flatnonzero(np.asarray(logits) == 0)
        assert list(played) == [hand + (2 if name == "van_den_bergh" else 1)], name


def test_a_random_hint_names_a_random_card_of_the_next_player():
    """tell_randomly (IGGI's last rule) picks one of the next player's cards, then
    its color or its rank: on the hand-made deal (partner: G2 Y1 R1) the rank
    hint "1" is twice as likely as each other hint."""
    params = make_params("Hanabi-Full", 2, colors=3, ranks=3, hand_size=3, hints=5)
    r = params.num_ranks
    card = lambda color, rank: color * r + rank  # noqa: E731
    first = [card(0, 0), card(0, 1), card(1, 2), card(2, 1), card(1, 0), card(0, 0)]
    rest = list(params.sorted_deck())
    for c in first:
        rest.remove(c)
    env, state = first_position(params, first + rest)
    view = bot_view.read(env.observe(state)[0], params)
    weight = np.asarray(bots.tell_randomly(view, bot_view.facts(view, params), params))
    hand = params.hand_size
    colors = weight[2 * hand : 2 * hand + 3]
    ranks = weight[2 * hand + params.num_color_hints :][:3]
    assert list(colors) == [1, 1, 1] and list(ranks) == [2, 1, 0]
    assert weight[: 2 * hand].sum() == 0


def test_at_full_hint_tokens_no_bot_discards():
    """A discard is illegal with every hint token left: IGGI, whose last rules
    are discards, falls through to its final 'any legal action'."""
    params = make_params("Hanabi-Full", 2, colors=3, ranks=3, hand_size=3, hints=5)
    env = make_env(
        "hanabi", preset="Hanabi-Full", colors=3, ranks=3, hand_size=3, hints=5
    )
    state = env.reset(jax.random.key(3))
    obs = env.observe(state)[0]
    for name in bots.BOTS:
        logits = np.asarray(bots.bot(name, params)(obs))
        assert (logits[: params.hand_size] < 0).all(), name


def test_an_unknown_bot_is_refused():
    params = make_params("Hanabi-Full", 2)
    with pytest.raises(ValueError, match="unknown Hanabi bot 'smartbot'"):
        bots.bot("smartbot", params)


def test_self_play_on_full_hanabi_is_as_committed():
    """The bots' self-play on 2-player Hanabi as `benchmarks.hanabi_bots`
    recorded it (2,000 games each, docs/results/hanabi_bots): 400 more games
    land within 4 standard errors of each."""
    rows = json.loads((ROOT / "docs/results/hanabi_bots/selfplay_2p.json").read_text())
    params = make_params("Hanabi-Full", 2)
    for k, row in enumerate(rows):
        key = jax.random.key(100 + k)
        scores = bots.self_play([row["bot"]] * 2, params, key=key, num_games=400)
        se = np.hypot(scores.std(ddof=1) / np.sqrt(400), row["se"])
        assert abs(scores.mean() - row["mean"]) < 4 * se, row["bot"]
