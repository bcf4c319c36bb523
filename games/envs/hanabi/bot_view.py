"""What a rule-based Hanabi bot (`games.envs.hanabi.bots`) reads of one seat's
HLE canonical observation (`View`, `read`), what its rules ask of that (`Facts`,
`facts`), and the pieces the rules are built of: a `Rule` maps (view, facts,
params) to the actions it allows, bool[A] or weights float32[A]; `plays`,
`discards` and `tell` turn chosen slots or cards into actions, `when` guards a
rule by a condition, and the rules both readings of the bots share
(`play_if_certain`, `play_safe`, `discard_oldest`, `discard_randomly`) are here.

P players, H slots, C colors, R ranks, T = C R card types, A actions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical_sections, discard_layout
from games.envs.hanabi.params import HanabiParams

SURE = 1.0 - 1e-6
"""A chance at least this high counts as certain."""


class View(NamedTuple):
    """What one seat sees, decoded from its canonical observation (offsets: 0 is
    the seat itself, k the player k seats after it; P players, H slots, C
    colors, R ranks, T = C R card types)."""

    others: jax.Array  # int32[P - 1, H]: the other players' cards, -1 empty
    fireworks: jax.Array  # int32[C]: cards played per color
    information: jax.Array  # int32[]: hint tokens
    lives: jax.Array  # int32[]: life tokens
    deck: jax.Array  # int32[]: cards left to draw
    discarded: jax.Array  # int32[T]: copies of each card discarded
    plausible: jax.Array  # bool[P, H, T]: identities the hints allow, by offset
    color_known: jax.Array  # bool[P, H]: a hint named the card's color
    rank_known: jax.Array  # bool[P, H]: a hint named its rank


def read(obs: jax.Array, params: HanabiParams) -> View:
    """One seat's `View` from its canonical observation uint8[O]."""
    players, hand = params.num_players, params.hand_size
    colors, ranks = params.num_colors, params.num_ranks
    types = params.num_card_types
    sizes = canonical_sections(params)
    starts = dict(zip(sizes, np.cumsum([0, *sizes.values()])[:-1], strict=True))
    bits = obs.astype(jnp.int32)

    def section(name: str, offset: int, size: int) -> jax.Array:
        start = int(starts[name]) + offset
        return bits[start : start + size]

    cards = section("hands", 0, (players - 1) * hand * types)
    cards = cards.reshape(players - 1, hand, types)
    others = jnp.where(cards.any(-1), jnp.argmax(cards, -1), -1).astype(jnp.int32)
    deck_bits = params.deck_size - players * hand
    tops = section("board", deck_bits, types).reshape(colors, ranks)
    fireworks = jnp.where(tops.any(-1), jnp.argmax(tops, -1) + 1, 0)
    information = section(
        "board", deck_bits + types, params.max_information_tokens
    ).sum()
    lives = section(
        "board",
        deck_bits + types + params.max_information_tokens,
        params.max_life_tokens,
    ).sum()
    card_of_bit, _ = discard_layout(params)
    discarded = jax.ops.segment_sum(
        section("discards", 0, params.deck_size), jnp.asarray(card_of_bit), types
    )
    knowledge = section("card_knowledge", 0, players * hand * (types + colors + ranks))
    knowledge = knowledge.reshape(players, hand, types + colors + ranks)
    return View(
        others=others,
        fireworks=fireworks.astype(jnp.int32),
        information=information,
        lives=lives,
        deck=section("board", 0, deck_bits).sum(),
        discarded=discarded.astype(jnp.int32),
        plausible=knowledge[..., :types] > 0,
        color_known=knowledge[..., types : types + colors].any(-1),
        rank_known=knowledge[..., types + colors :].any(-1),
    )


class Facts(NamedTuple):
    """What the rules ask of a `View` (H slots, T card types, A actions)."""

    legal: jax.Array  # bool[A]: the seat's legal actions
    present: jax.Array  # bool[H]: own slots holding a card
    playable: jax.Array  # bool[T]: the card would be played now
    useless: jax.Array  # bool[T]: the card can never be played
    chance_playable: jax.Array  # float32[H]: of each own card
    chance_useless: jax.Array  # float32[H]
    known_playable: jax.Array  # bool[P - 1, H]: its holder knows it is playable
    known_useless: jax.Array  # bool[P - 1, H]
    color_hint: jax.Array  # int32[P - 1, H]: the color hint naming the card
    rank_hint: jax.Array  # int32[P - 1, H]: the rank hint naming it
    color_sure: jax.Array  # bool[P, H]: one color is plausible (hinted or inferred)
    rank_sure: jax.Array  # bool[P, H]: one rank is plausible
    sure_color: jax.Array  # int32[P, H]: that color (where color_sure)
    sure_rank: jax.Array  # int32[P, H]: that rank, 0-based (where rank_sure)
    reach: jax.Array  # int32[C]: the highest firework each color can still reach
    possible: jax.Array  # bool[H, T]: own identities the hints allow with a copy unseen


def facts(view: View, params: HanabiParams) -> Facts:
    """The `Facts` of a seat's view."""
    players, hand = params.num_players, params.hand_size
    colors, ranks = params.num_colors, params.num_ranks
    types = params.num_card_types
    color = jnp.arange(types) // ranks
    rank = jnp.arange(types) % ranks
    copies = jnp.asarray(params.card_counts, jnp.int32)[rank]
    height = view.fireworks[color]
    playable = rank == height
    played = rank < height
    lost = (view.discarded >= copies).reshape(colors, ranks)
    below = jnp.cumsum(lost, axis=1) - lost  # lost copies of lower ranks
    useless = played | (below.reshape(types) > 0)
    present_others = view.others >= 0
    visible = (
        jnp.zeros(types, jnp.int32)
        .at[jnp.where(present_others, view.others, 0)]
        .add(present_others.astype(jnp.int32))
    )
    unseen = jnp.maximum(copies - view.discarded - played - visible, 0)

    own = view.plausible[0]  # [H, T]
    present = own.any(-1)
    weight = own * unseen  # [H, T]
    total = jnp.maximum(weight.sum(-1), 1)
    chance_playable = (weight * playable).sum(-1) / total
    chance_useless = (weight * useless).sum(-1) / total

    theirs = view.plausible[1:]  # [P - 1, H, T]
    known_playable = (theirs <= playable).all(-1) & present_others
    known_useless = (theirs <= useless).all(-1) & present_others

    offset = jnp.arange(players - 1)[:, None]
    card = jnp.maximum(view.others, 0)
    color_start = 2 * hand
    rank_start = color_start + params.num_color_hints
    color_hint = color_start + offset * colors + card // ranks
    rank_hint = rank_start + offset * ranks + card % ranks

    grid = view.plausible.reshape(players, hand, colors, ranks)
    color_set, rank_set = grid.any(-1), grid.any(-2)
    # fossgalaxy's HandUtils.getHighestScorePossible: below the lowest rank, at or
    # above the firework, whose copies are all discarded.
    open_ranks = jnp.arange(ranks) >= view.fireworks[:, None]
    blocked = lost & open_ranks
    reach = jnp.where(blocked.any(-1), jnp.argmax(blocked, -1), ranks)

    legal = jnp.zeros(params.num_actions, bool)
    legal = legal.at[:hand].set(
        present & (view.information < params.max_information_tokens)
    )
    legal = legal.at[hand : 2 * hand].set(present)
    hints = view.information > 0
    for ids in (color_hint, rank_hint):
        targets = jnp.where(present_others, ids, params.num_actions)
        legal = legal.at[targets.reshape(-1)].set(hints, mode="drop")
    return Facts(
        legal,
        present,
        playable,
        useless,
        chance_playable,
        chance_useless,
        known_playable,
        known_useless,
        color_hint.astype(jnp.int32),
        rank_hint.astype(jnp.int32),
        color_set.sum(-1) == 1,
        rank_set.sum(-1) == 1,
        jnp.argmax(color_set, -1).astype(jnp.int32),
        jnp.argmax(rank_set, -1).astype(jnp.int32),
        reach.astype(jnp.int32),
        own & (unseen > 0),
    )


Rule = Callable[[View, Facts, HanabiParams], jax.Array]
"""(view, facts, params) -> bool[A], the actions a rule allows (legal ones)."""


def first_of(mask: jax.Array) -> jax.Array:
    """bool[n]: only the first True of `mask` (none if it has none)."""
    return (jnp.arange(mask.size) == jnp.argmax(mask)) & mask.any()


def slot_actions(ids_from: int, slots: jax.Array, params: HanabiParams) -> jax.Array:
    """bool[A]: the actions `ids_from + s` for the slots s set in bool[H]."""
    mask = jnp.zeros(params.num_actions, bool)
    return mask.at[ids_from : ids_from + params.hand_size].set(slots)


def plays(slots: jax.Array, facts_: Facts, params: HanabiParams) -> jax.Array:
    return slot_actions(params.hand_size, slots, params) & facts_.legal


def discards(slots: jax.Array, facts_: Facts, params: HanabiParams) -> jax.Array:
    return slot_actions(0, slots, params) & facts_.legal


def play_if_certain(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    exact = view.plausible[0].sum(-1) == 1
    sure = (view.plausible[0] & f.playable).any(-1) & exact
    return plays(first_of(sure), f, params)


def play_safe(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return plays(first_of(f.present & (f.chance_playable >= SURE)), f, params)


def discard_oldest(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return discards(jnp.arange(params.hand_size) == 0, f, params)


def discard_randomly(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return discards(f.present, f, params)


def tell(
    cards: jax.Array, rank_first: jax.Array, f: Facts, params: HanabiParams
) -> jax.Array:
    """bool[A]: one hint about the first card set in bool[P - 1, H] (turn order,
    then oldest): its rank hint where `rank_first` (bool[P - 1, H]), else its
    color hint."""
    chosen = first_of(cards.reshape(-1))
    ids = jnp.where(rank_first, f.rank_hint, f.color_hint).reshape(-1)
    action = jnp.where(chosen.any(), ids[jnp.argmax(chosen)], params.num_actions)
    hint = jnp.zeros(params.num_actions, bool).at[action].set(True, mode="drop")
    return hint & f.legal


def when(condition: Callable[[View, HanabiParams], jax.Array], rule: Rule) -> Rule:
    """`rule` where `condition(view, params)` holds, else nothing."""

    def guarded(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        return rule(view, f, params) & condition(view, params)

    return guarded


def any_legal(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return f.legal


def lives_left(view: View, params: HanabiParams) -> jax.Array:
    return view.lives > 1


def few_hints(view: View, params: HanabiParams) -> jax.Array:
    return view.information < 4
