"""Rule-based Hanabi partners that no training wrote: IGGI, Piers, Outer and Van
den Bergh, from the rule lists of Walton-Rivers, Williams, Bartle, Perez-Liebana
and Lucas (2017), "Evaluating and modelling Hanabi-playing agents" (van den
Bergh's rules after van den Bergh, Hommelberg, Kosters and Spieksma 2016).

A bot is a pure function of one seat's HLE canonical observation
(`games.envs.hanabi.encoding.canonical`): `observation uint8[O] -> logits
float32[A]`, 0 on the actions that its first applicable rule allows and
`REFUSED` elsewhere, so it plays anywhere a trained network does (cross-play,
replays, the symmetry measures: seen through a color permutation, a bot is its
color-permuted copy). It reads only what the seat sees: the other hands, the
fireworks, the discards, the tokens, the deck's size and the hints about every
hand. Any HLE size works (colors, ranks, hand size, tokens, 2-5 players).

Rules (each a set of actions, empty where it does not apply; a bot plays the
first non-empty one; "a card's identity is possible" means the hints allow it
and a copy of it is unseen by the seat):

  play_if_certain        the oldest own card whose color and rank are both known
                         and that is playable
  play_safe              the oldest own card every possible identity of which is
                         playable
  play_probably_safe(p)  the own card most likely playable (possible identities
                         weighted by their unseen copies), if that chance is
                         >= p (p = 0: > 0)
  osawa_discard          the oldest own card every possible identity of which is
                         useless (already played, or unreachable because every
                         copy of a lower rank of its color is discarded)
  discard_probably_useless(p)  the own card most likely useless, if >= p
  discard_oldest         own slot 0 (HLE keeps the oldest card first)
  discard_randomly       any own card
  tell_useful            the first other player (in turn order) with a playable
                         card whose holder does not know it is playable: its
                         rank if the rank is not known, else its color (the
                         oldest such card)
  tell_dispensable       the same for a useless card whose holder does not know
                         it is useless
  tell_unknown           the oldest card of the first other player with its
                         color or rank unknown: the color if unknown, else the rank
  tell_most_information  the hint that rules out most (card, color or rank)
                         possibilities (the first such)
  tell_randomly          any hint

The bots (Walton-Rivers et al. 2017, section IV; where a rule picks among
several actions the published text leaves the choice open, the table above
fixes it):

  iggi           play_if_certain, play_safe, tell_useful, osawa_discard,
                 discard_oldest
  piers          [lives > 1 and the deck empty] play_probably_safe(0),
                 play_safe, [lives > 1] play_probably_safe(0.6), tell_useful,
                 [hint tokens < 4] tell_dispensable, osawa_discard,
                 discard_oldest, tell_randomly, discard_randomly
  outer          play_safe, osawa_discard, tell_unknown, tell_randomly,
                 discard_randomly
  van_den_bergh  [lives > 1] play_probably_safe(0.6), play_safe,
                 discard_probably_useless(1), tell_useful, tell_dispensable,
                 tell_most_information, discard_probably_useless(0)

Every bot ends with tell_randomly and then "any legal action", so that it never
runs out of moves (at full hint tokens a discard is illegal, with none a hint
is) and never plays a card blind where a hint is possible.
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
"""The rule-based partners, in the order results list them."""

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


def play_probably_safe(threshold: float) -> Rule:
    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        chance = jnp.where(f.present, f.chance_playable, -1.0)
        best = jnp.argmax(chance)
        enough = chance[best] > 0 if threshold == 0 else chance[best] >= threshold
        slots = (jnp.arange(params.hand_size) == best) & enough
        return _play(slots, f, params)

    return rule


def osawa_discard(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _discard(_first(f.present & (f.chance_useless >= SURE)), f, params)


def discard_probably_useless(threshold: float) -> Rule:
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


def tell_useful(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.playable[jnp.maximum(view.others, 0)]
    return _tell(cards & ~f.known_playable, ~view.rank_known[1:], f, params)


def tell_dispensable(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.useless[jnp.maximum(view.others, 0)]
    return _tell(cards & ~f.known_useless, ~view.rank_known[1:], f, params)


def tell_unknown(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    unknown = ~view.color_known[1:] | ~view.rank_known[1:]
    cards = (view.others >= 0) & unknown
    return _tell(cards, view.color_known[1:], f, params)


def _hints(f: Facts, params: HanabiParams) -> jax.Array:
    """bool[A]: the legal hints."""
    return f.legal & (jnp.arange(params.num_actions) >= 2 * params.hand_size)


def tell_randomly(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return _hints(f, params)


def tell_most_information(view: View, f: Facts, params: HanabiParams) -> jax.Array:
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


def when(condition: Callable[[View, HanabiParams], jax.Array], rule: Rule) -> Rule:
    """`rule` where `condition(view, params)` holds, else nothing."""

    def guarded(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        return rule(view, f, params) & condition(view, params)

    return guarded


def _any_legal(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return f.legal


def _lives_left(view: View, params: HanabiParams) -> jax.Array:
    return view.lives > 1


RULES: dict[str, tuple[Rule, ...]] = {
    "iggi": (play_if_certain, play_safe, tell_useful, osawa_discard, discard_oldest),
    "piers": (
        when(lambda v, p: (v.lives > 1) & (v.deck == 0), play_probably_safe(0.0)),
        play_safe,
        when(_lives_left, play_probably_safe(0.6)),
        tell_useful,
        when(lambda v, p: v.information < 4, tell_dispensable),
        osawa_discard,
        discard_oldest,
        tell_randomly,
        discard_randomly,
    ),
    "outer": (play_safe, osawa_discard, tell_unknown, tell_randomly, discard_randomly),
    "van_den_bergh": (
        when(_lives_left, play_probably_safe(0.6)),
        play_safe,
        discard_probably_useless(1.0),
        tell_useful,
        tell_dispensable,
        tell_most_information,
        discard_probably_useless(0.0),
    ),
}


def bot(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """The bot `name` (one of `BOTS`) for the game `params`: canonical
    observation uint8[O] -> logits float32[A] (0 on the actions of its first
    applicable rule, `REFUSED` elsewhere; sampled, a uniform choice among them)."""
    if name not in RULES:
        raise ValueError(f"unknown Hanabi bot {name!r}; the bots: {', '.join(BOTS)}")
    rules = (*RULES[name], tell_randomly, _any_legal)

    def policy(obs: jax.Array) -> jax.Array:
        view = read(obs, params)
        f = facts(view, params)
        masks = jnp.stack([rule(view, f, params) for rule in rules])
        chosen = masks[jnp.argmax(masks.any(-1))]
        return jnp.where(chosen, 0.0, REFUSED).astype(jnp.float32)

    return policy


def rule_fired(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """obs -> int32[], the index of the rule of bot `name` that decides (past
    its rule list: the closing tell_randomly, then "any legal action"): for
    tests and replays."""
    rules = (*RULES[name], tell_randomly, _any_legal)

    def which(obs: jax.Array) -> jax.Array:
        view = read(obs, params)
        f = facts(view, params)
        masks = jnp.stack([rule(view, f, params) for rule in rules])
        return jnp.argmax(masks.any(-1)).astype(jnp.int32)

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
