"""The lab's first reading of the four bots' rule lists (`bots.VARIANTS`, the
bots of every result made before 2026-11-27): what a seat could infer from
every hint and unseen copy counts as known, ties go to the first card, hints
are drawn uniformly among the legal ones, and Outer lacks tell_playable_next.
`games.envs.hanabi.bots` plays them by name (`iggi_v1`, ...) beside the
originals; docs/agents.md says where the two readings differ and by how much.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from games.envs.hanabi.bot_view import (
    SURE,
    Facts,
    Rule,
    View,
    discard_oldest,
    discard_randomly,
    discards,
    few_hints,
    first_of,
    lives_left,
    play_if_certain,
    play_safe,
    plays,
    tell,
    when,
)
from games.envs.hanabi.params import HanabiParams


def play_probably_safe_v1(threshold: float) -> Rule:
    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        chance = jnp.where(f.present, f.chance_playable, -1.0)
        best = jnp.argmax(chance)
        enough = chance[best] > 0 if threshold == 0 else chance[best] >= threshold
        slots = (jnp.arange(params.hand_size) == best) & enough
        return plays(slots, f, params)

    return rule


def osawa_discard_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    return discards(first_of(f.present & (f.chance_useless >= SURE)), f, params)


def discard_probably_useless_v1(threshold: float) -> Rule:
    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        chance = jnp.where(f.present, f.chance_useless, -1.0)
        best = jnp.argmax(chance)
        enough = chance[best] >= min(threshold, SURE)
        slots = (jnp.arange(params.hand_size) == best) & enough & f.present[best]
        return discards(slots, f, params)

    return rule


def tell_useful_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.playable[jnp.maximum(view.others, 0)]
    return tell(cards & ~f.known_playable, ~view.rank_known[1:], f, params)


def tell_dispensable_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    cards = (view.others >= 0) & f.useless[jnp.maximum(view.others, 0)]
    return tell(cards & ~f.known_useless, ~view.rank_known[1:], f, params)


def tell_unknown_v1(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    unknown = ~view.color_known[1:] | ~view.rank_known[1:]
    cards = (view.others >= 0) & unknown
    return tell(cards, view.color_known[1:], f, params)


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
    return first_of(hints & (gain == jnp.where(hints, gain, -1).max()))


def _deck_empty_with_lives(view: View, params: HanabiParams) -> jax.Array:
    """Piers' first condition as the lab first read it: the deck is empty."""
    return (view.lives > 1) & (view.deck == 0)


RULES: dict[str, tuple[Rule, ...]] = {
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
        when(lives_left, play_probably_safe_v1(0.6)),
        tell_useful_v1,
        when(few_hints, tell_dispensable_v1),
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
        when(lives_left, play_probably_safe_v1(0.6)),
        play_safe,
        discard_probably_useless_v1(1.0),
        tell_useful_v1,
        tell_dispensable_v1,
        tell_most_information_v1,
        discard_probably_useless_v1(0.0),
        tell_randomly_v1,
    ),
}
"""Each first-reading bot's rules in order (`bots.RULES` holds them too)."""
