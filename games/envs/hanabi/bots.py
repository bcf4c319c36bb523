"""Rule-based Hanabi partners that no training wrote: IGGI, Piers, Outer and Van
den Bergh, from the rule lists of Walton-Rivers, Williams, Bartle, Perez-Liebana
and Lucas (2017), "Evaluating and modelling Hanabi-playing agents" (van den
Bergh's rules after van den Bergh, Hommelberg, Kosters and Spieksma 2016), each
rule deciding as the class of the same name in the authors' framework
(fossgalaxy/hanabi; `benchmarks/fossgalaxy.py` replays its games against these,
docs/agents.md).

A bot is a pure function of one seat's HLE canonical observation
(`games.envs.hanabi.encoding.canonical`): `observation uint8[O] -> logits
float32[A]`, finite on the actions its first applicable rule allows (the log
of each one's weight relative to the likeliest: 0 for a rule that picks one
action or draws uniformly) and `REFUSED` elsewhere, so it plays anywhere a
trained network does (cross-play, replays, the symmetry measures: seen through
a color permutation, a bot is its color-permuted copy). It reads only what the
seat sees: the other hands, the fireworks, the discards, the tokens, the deck's
size and the hints about every hand. Any HLE size works (colors, ranks, hand
size, tokens, 2-5 players).

Rules (each weights the actions it allows, none where it does not apply; a
card's color or rank is "sure" where one value of it is plausible; "possible"
identities are those the hints allow with a copy unseen by the seat; slots go
oldest first, HLE's order, where the framework goes by position):

  play_if_certain          the first own card sure in color and rank, playable
  play_safe                the first own card whose possible identities are all
                           playable
  play_probably_safe(p)    the last own card of the highest chance of being
                           playable (possible identities weighted by their
                           unseen copies), if that chance is >= p
  osawa_discard            the first own card useless by its sure color and rank
                           alone, else the first sure in color whose lowest
                           possible rank its color can no longer reach
  discard_probably_useless(p)  the last own card most likely useless, if >= p
  discard_oldest           own slot 0
  discard_randomly         any own card
  tell_useful              the first playable card of another player (turn
                           order) not sure in both: its rank if not sure, else
                           its color
  tell_playable_next       the same for the next player's cards only
  tell_unknown             the next player's first card not sure in both: its
                           color if not sure, else its rank
  tell_dispensable         the first other card one hint shows useless
  tell_most_information    the hint touching most cards not yet sure in the
                           hinted attribute (ranks before colors; the first)
  tell_randomly            a card of the next player at random, then its color
                           or its rank at random

The bots (Walton-Rivers et al. 2017, section IV, as the framework builds them):

  iggi           play_if_certain, play_safe, tell_useful, osawa_discard,
                 discard_oldest, tell_randomly
  piers          [lives > 1 and no card unseen] play_probably_safe(0),
                 play_safe, [lives > 1] play_probably_safe(0.6), tell_useful,
                 [hint tokens < 4] tell_dispensable, osawa_discard,
                 discard_oldest, tell_randomly, discard_randomly
  outer          play_safe, osawa_discard, tell_playable_next, tell_unknown,
                 discard_randomly
  van_den_bergh  [lives > 1] play_probably_safe(0.6), [else] play_safe,
                 discard_probably_useless(1), tell_useful,
                 tell_most_information, discard_probably_useless(0)

Where no rule applies (the framework would stop the game) a bot takes any
legal action. With 3 or more players the framework's tell_dispensable and
tell_most_information go through the other players from seat 0, which a
seat's observation does not show; here they go in turn order (the same with
2). `VARIANTS` keeps the lab's first reading of the lists (`*_v1` rules:
knowledge inferred from every hint and unseen copy, the first of equals,
uniform random hints, Outer without tell_playable_next), the bots of every
result made before 2026-11-27.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical, canonical_sections, discard_layout
from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import legal_actions, reset, step

BOTS = ("iggi", "piers", "outer", "van_den_bergh")
"""The rule-based partners, as fossgalaxy/hanabi's agents decide, in the order
results list them."""

VARIANTS = ("iggi_v1", "piers_v1", "outer_v1", "van_den_bergh_v1")
"""The lab's first reading of the same rule lists (until 2026-11-27), kept so
that results made with them can be made again."""

REFUSED = -1e9
"""The logit of an action a bot does not take (finite, so a bot's log-policy
stays finite where the measures take it)."""

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


def _first(mask: jax.Array) -> jax.Array:
    """bool[n]: only the first True of `mask` (none if it has none)."""
    return (jnp.arange(mask.size) == jnp.argmax(mask)) & mask.any()


def _slots(ids_from: int, slots: jax.Array, params: HanabiParams) -> jax.Array:
    """bool[A]: the actions `ids_from + s` for the slots s set in bool[H]."""
    mask = jnp.zeros(params.num_actions, bool)
    return mask.at[ids_from : ids_from + params.hand_size].set(slots)


def _play(slots: jax.Array, facts_: Facts, params: HanabiParams) -> jax.Array:
    return _slots(params.hand_size, slots, params) & facts_.legal


def _discard(slots: jax.Array, facts_: Facts, params: HanabiParams) -> jax.Array:
    return _slots(0, slots, params) & facts_.legal


def play_if_certain(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    exact = view.plausible[0].sum(-1) == 1
    sure = (view.plausible[0] & f.playable).any(-1) & exact
    return _play(_first(sure), f, params)


def play_safe(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _play(_first(f.present & (f.chance_playable >= SURE)), f, params)


# The lab's first reading of the rules (`VARIANTS`): what a seat could infer
# from every hint and unseen copy counts as known, ties go to the first card.


def play_probably_safe_v1(threshold: float) -> Rule:
    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        chance = jnp.where(f.present, f.chance_playable, -1.0)
        best = jnp.argmax(chance)
        enough = chance[best] > 0 if threshold == 0 else chance[best] >= threshold
        slots = (jnp.arange(params.hand_size) == best) & enough
        return _play(slots, f, params)

    return rule


def osawa_discard_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _discard(_first(f.present & (f.chance_useless >= SURE)), f, params)


def discard_probably_useless_v1(threshold: float) -> Rule:
    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        chance = jnp.where(f.present, f.chance_useless, -1.0)
        best = jnp.argmax(chance)
        enough = chance[best] >= min(threshold, SURE)
        slots = (jnp.arange(params.hand_size) == best) & enough & f.present[best]
        return _discard(slots, f, params)

    return rule


def discard_oldest(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _discard(jnp.arange(params.hand_size) == 0, f, params)


def discard_randomly(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _discard(f.present, f, params)


def _tell(
    cards: jax.Array, rank_first: jax.Array, f: Facts, params: HanabiParams
) -> jax.Array:
    """bool[A]: one hint about the first card set in bool[P - 1, H] (turn order,
    then oldest): its rank hint where `rank_first` (bool[P - 1, H]), else its
    color hint."""
    chosen = _first(cards.reshape(-1))
    ids = jnp.where(rank_first, f.rank_hint, f.color_hint).reshape(-1)
    action = jnp.where(chosen.any(), ids[jnp.argmax(chosen)], params.num_actions)
    hint = jnp.zeros(params.num_actions, bool).at[action].set(True, mode="drop")
    return hint & f.legal


def tell_useful_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.playable[jnp.maximum(view.others, 0)]
    return _tell(cards & ~f.known_playable, ~view.rank_known[1:], f, params)


def tell_dispensable_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.useless[jnp.maximum(view.others, 0)]
    return _tell(cards & ~f.known_useless, ~view.rank_known[1:], f, params)


def tell_unknown_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    unknown = ~view.color_known[1:] | ~view.rank_known[1:]
    cards = (view.others >= 0) & unknown
    return _tell(cards, view.color_known[1:], f, params)


def _hints(f: Facts, params: HanabiParams) -> jax.Array:
    """bool[A]: the legal hints."""
    return f.legal & (jnp.arange(params.num_actions) >= 2 * params.hand_size)


def tell_randomly_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _hints(f, params)


def tell_most_information_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """The hint that removes most (card, value) possibilities: a hint of value v
    about attribute X removes from each touched card every other plausible
    value of X, and v from each untouched card where v was plausible."""
    players, hand = params.num_players, params.hand_size
    colors, ranks = params.num_colors, params.num_ranks
    grid = view.plausible[1:].reshape(players - 1, hand, colors, ranks)
    present = view.others >= 0
    card = jnp.maximum(view.others, 0)
    gains = []
    for plausible, value, size in (
        (grid.any(-1), card // ranks, colors),
        (grid.any(-2), card % ranks, ranks),
    ):
        values = jnp.arange(size)
        touched = (value[..., None] == values) & present[..., None]  # [P-1, H, V]
        count = plausible.sum(-1, keepdims=True)  # [P-1, H, 1]
        removed = jnp.where(touched, count - 1, plausible & present[..., None])
        gains.append(removed.sum(1).reshape(-1))  # [(P-1) V], hint-id order
    gain = jnp.concatenate([jnp.zeros(2 * hand, jnp.int32), *gains])
    hints = _hints(f, params)
    return _first(hints & (gain == jnp.where(hints, gain, -1).max()))


# The rules as fossgalaxy/hanabi's classes decide (named in each docstring). A card's
# color or rank is "sure" when one value of it is plausible (hinted, or inferred
# from the hints that missed it); slots go in HLE's order (oldest first).


def _last_best(chance: jax.Array, allowed: jax.Array) -> jax.Array:
    """bool[H]: the last slot of the highest `chance` among `allowed` (the
    original's loops keep a slot whose chance is >= the best so far)."""
    score = jnp.where(allowed, chance, -1.0)
    hand = chance.size
    last = hand - 1 - jnp.argmax(score[::-1])
    return (jnp.arange(hand) == last) & allowed.any()


def play_probably_safe(threshold: float) -> Rule:
    """PlayProbablySafeCard: the last own card with the highest chance of being
    playable, if that chance is >= threshold (0 plays a card whatever its chance)."""

    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        allowed = f.present & (f.chance_playable >= threshold)
        return _play(_last_best(f.chance_playable, allowed), f, params)

    return rule


def discard_probably_useless(threshold: float) -> Rule:
    """DiscardProbablyUselessCard: the last own card with the highest chance of
    being useless, if that chance is >= threshold."""

    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        allowed = f.present & (f.chance_useless >= threshold)
        return _discard(_last_best(f.chance_useless, allowed), f, params)

    return rule


def osawa_discard(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """OsawaDiscard: the first own card its holder knows is useless from its sure
    color and rank alone (its color complete; both sure and already played; its
    rank sure and at most the lowest firework; both sure and above what its color
    can reach), else the first whose color is sure and whose lowest possible rank
    (copies unseen) is above what that color can reach."""
    colors, ranks = params.num_colors, params.num_ranks
    color, rank = f.sure_color[0], f.sure_rank[0] + 1
    color_sure, rank_sure = f.color_sure[0], f.rank_sure[0]
    height, reach = view.fireworks[color], f.reach[color]
    both = color_sure & rank_sure
    safe = (
        (color_sure & (height == ranks))
        | (both & (rank <= height))
        | (rank_sure & (rank <= view.fireworks.min()))
        | (both & (rank > reach))
    )
    possible_ranks = f.possible.reshape(-1, colors, ranks).any(-2)  # [H, R]
    lowest = jnp.argmax(possible_ranks, -1) + 1
    beyond = color_sure & possible_ranks.any(-1) & (lowest > reach)
    slots = jnp.where((safe & f.present).any(), safe, beyond) & f.present
    return _discard(_first(slots), f, params)


def tell_useful(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellAnyoneAboutUsefulCard: the first playable card (turn order, then
    slots) whose color or rank is not sure to its holder: its rank if that is not
    sure, else its color."""
    return _tell(_useful(view, f), ~f.rank_sure[1:], f, params)


def _useful(view: View, f: Facts) -> jax.Array:
    """bool[P - 1, H]: the other players' playable cards not sure in both."""
    unsure = ~(f.color_sure[1:] & f.rank_sure[1:])
    return (view.others >= 0) & f.playable[jnp.maximum(view.others, 0)] & unsure


def _next_player(cards: jax.Array) -> jax.Array:
    """bool[P - 1, H]: `cards` of the next player only."""
    return cards & (jnp.arange(cards.shape[0]) == 0)[:, None]


def tell_playable_next(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellPlayableCardOuter: tell_useful for the next player's cards only."""
    return _tell(_next_player(_useful(view, f)), ~f.rank_sure[1:], f, params)


def tell_unknown(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellUnknown: the next player's first card whose color or rank is not
    sure: its color if that is not sure, else its rank."""
    cards = (view.others >= 0) & ~(f.color_sure[1:] & f.rank_sure[1:])
    return _tell(_next_player(cards), f.color_sure[1:], f, params)


def tell_dispensable(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellDispensable: the first other card (turn order, then slots) that one
    hint shows useless: its color where the color is complete and not sure; its
    rank where the rank is at most the lowest firework and not sure; the missing
    one of the two where exactly one is sure and the card is already played."""
    ranks = params.num_ranks
    card = jnp.maximum(view.others, 0)
    height = view.fireworks[card // ranks]
    rank = card % ranks + 1
    color_sure, rank_sure = f.color_sure[1:], f.rank_sure[1:]
    by_color = ~color_sure & (height == ranks)
    by_rank = ~rank_sure & (rank <= view.fireworks.min())
    by_missing = (color_sure ^ rank_sure) & (rank <= height)
    cards = (view.others >= 0) & (by_color | by_rank | by_missing)
    return _tell(cards, ~by_color & (by_rank | color_sure), f, params)


def tell_most_information(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellMostInformation(new information): the hint that touches most cards
    whose hinted attribute is not yet sure (per player in turn order: ranks, then
    colors; the first such), if it touches any."""
    players, hand = params.num_players, params.hand_size
    colors, ranks = params.num_colors, params.num_ranks
    present = view.others >= 0
    card = jnp.maximum(view.others, 0)
    new_rank = (card % ranks)[..., None] == jnp.arange(ranks)
    new_color = (card // ranks)[..., None] == jnp.arange(colors)
    by_rank = (new_rank & (present & ~f.rank_sure[1:])[..., None]).sum(1)
    by_color = (new_color & (present & ~f.color_sure[1:])[..., None]).sum(1)
    gain = jnp.concatenate([by_rank, by_color], axis=1).reshape(-1)
    offset = jnp.arange(players - 1)[:, None]
    rank_ids = 2 * hand + params.num_color_hints + offset * ranks + jnp.arange(ranks)
    color_ids = 2 * hand + offset * colors + jnp.arange(colors)
    ids = jnp.concatenate([rank_ids, color_ids], axis=1).reshape(-1)
    best = jnp.argmax(gain)
    action = jnp.where(gain[best] > 0, ids[best], params.num_actions)
    hint = jnp.zeros(params.num_actions, bool).at[action].set(True, mode="drop")
    return hint & f.legal


def tell_randomly(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellRandomly: one of the next player's cards at random, then its color or
    its rank at random: float32[A], each hint weighted by the cards it names."""
    present = (view.others[0] >= 0).astype(jnp.float32)
    weight = jnp.zeros(params.num_actions, jnp.float32)
    weight = weight.at[f.color_hint[0]].add(present).at[f.rank_hint[0]].add(present)
    return weight * f.legal


def when(condition: Callable[[View, HanabiParams], jax.Array], rule: Rule) -> Rule:
    """`rule` where `condition(view, params)` holds, else nothing."""

    def guarded(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        return rule(view, f, params) & condition(view, params)

    return guarded


def _any_legal(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return f.legal


def _lives_left(view: View, params: HanabiParams) -> jax.Array:
    return view.lives > 1


def _deck_empty_with_lives(view: View, params: HanabiParams) -> jax.Array:
    """Piers' first condition as the lab first read it: the deck is empty."""
    return (view.lives > 1) & (view.deck == 0)


def _unseen_empty_with_lives(view: View, params: HanabiParams) -> jax.Array:
    """Piers' first condition as the framework evaluates it: its agents count
    their own unknown cards among the deck's, so "the deck is empty" holds only
    once the seat holds no card (and the rule never plays)."""
    own = view.plausible[0].any(-1).sum()
    return (view.lives > 1) & (view.deck + own == 0)


def _few_hints(view: View, params: HanabiParams) -> jax.Array:
    return view.information < 4


RULES: dict[str, tuple[Rule, ...]] = {
    "iggi": (
        play_if_certain,
        play_safe,
        tell_useful,
        osawa_discard,
        discard_oldest,
        tell_randomly,
    ),
    "piers": (
        when(_unseen_empty_with_lives, play_probably_safe(0.0)),
        play_safe,
        when(_lives_left, play_probably_safe(0.6)),
        tell_useful,
        when(_few_hints, tell_dispensable),
        osawa_discard,
        discard_oldest,
        tell_randomly,
        discard_randomly,
    ),
    "outer": (
        play_safe,
        osawa_discard,
        tell_playable_next,
        tell_unknown,
        discard_randomly,
    ),
    "van_den_bergh": (
        when(_lives_left, play_probably_safe(0.6)),
        when(lambda v, p: v.lives <= 1, play_safe),
        discard_probably_useless(1.0),
        tell_useful,
        tell_most_information,
        discard_probably_useless(0.0),
    ),
    "iggi_v1": (
        play_if_certain,
        play_safe,
        tell_useful_v1,
        osawa_discard_v1,
        discard_oldest,
        tell_randomly_v1,
    ),
    "piers_v1": (
        when(_deck_empty_with_lives, play_probably_safe_v1(0.0)),
        play_safe,
        when(_lives_left, play_probably_safe_v1(0.6)),
        tell_useful_v1,
        when(_few_hints, tell_dispensable_v1),
        osawa_discard_v1,
        discard_oldest,
        tell_randomly_v1,
        discard_randomly,
        tell_randomly_v1,
    ),
    "outer_v1": (
        play_safe,
        osawa_discard_v1,
        tell_unknown_v1,
        tell_randomly_v1,
        discard_randomly,
        tell_randomly_v1,
    ),
    "van_den_bergh_v1": (
        when(_lives_left, play_probably_safe_v1(0.6)),
        play_safe,
        discard_probably_useless_v1(1.0),
        tell_useful_v1,
        tell_dispensable_v1,
        tell_most_information_v1,
        discard_probably_useless_v1(0.0),
        tell_randomly_v1,
    ),
}
"""Each bot's rules in order; a bot plays the first that allows an action, and
"any legal action" where none does."""


def _choices(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """obs -> float32[K + 1, A]: the weight each of bot `name`'s K rules, then
    "any legal action", puts on each action (0: not allowed)."""
    if name not in RULES:
        raise ValueError(
            f"unknown Hanabi bot {name!r}; the bots: {', '.join(BOTS)} "
            f"(and the lab's first readings: {', '.join(VARIANTS)})"
        )
    rules = (*RULES[name], _any_legal)

    def weights(obs: jax.Array) -> jax.Array:
        view = read(obs, params)
        f = facts(view, params)
        return jnp.stack([rule(view, f, params).astype(jnp.float32) for rule in rules])

    return weights


def bot(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """The bot `name` (one of `BOTS` or `VARIANTS`) for the game `params`:
    canonical observation uint8[O] -> logits float32[A] (on the actions of its
    first applicable rule the log of their weight relative to the largest, so
    the most likely is 0; `REFUSED` elsewhere)."""
    choices = _choices(name, params)

    def policy(obs: jax.Array) -> jax.Array:
        weights = choices(obs)
        chosen = weights[jnp.argmax((weights > 0).any(-1))]
        relative = chosen / chosen.max()
        logits = jnp.where(chosen > 0, jnp.log(jnp.maximum(relative, 1e-30)), REFUSED)
        return logits.astype(jnp.float32)

    return policy


def rule_fired(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """obs -> int32[], the index in `RULES[name]` of the rule that decides
    (len(RULES[name]) for "any legal action"): for tests and replays."""
    choices = _choices(name, params)

    def which(obs: jax.Array) -> jax.Array:
        return jnp.argmax((choices(obs) > 0).any(-1)).astype(jnp.int32)

    return which


def self_play(
    names: Sequence[str], params: HanabiParams, *, key: jax.Array, num_games: int
) -> np.ndarray:
    """The scores float32[N] of N games of the bots `names` (one per seat, in
    seat order) under HLE's rules, each sampling among its rule's actions."""
    if len(names) != params.num_players:
        raise ValueError(f"{params.num_players} players need as many bots: {names}")
    policies = [bot(name, params) for name in names]

    def one(key: jax.Array) -> jax.Array:
        def body(carry: tuple) -> tuple:
            state, key = carry
            key, sub = jax.random.split(key)
            actor = state.current_player
            obs = canonical(state, params)[actor]
            logits = jax.lax.switch(actor, policies, obs)
            legal = legal_actions(state, params)
            action = jax.random.categorical(sub, jnp.where(legal, logits, -jnp.inf))
            state, _, _ = step(state, action, params)
            return state, key

        deal, key = jax.random.split(key)
        state, _ = jax.lax.while_loop(
            lambda carry: ~carry[0].terminal, body, (reset(deal, params), key)
        )
        return state.score.astype(jnp.float32)

    keys = jax.random.split(key, num_games)
    return np.asarray(jax.jit(jax.vmap(one))(keys))
