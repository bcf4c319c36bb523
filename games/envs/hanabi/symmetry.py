"""Color permutations: Hanabi's symmetries, on states, observations and actions.

Relabelling the colors of every card by a permutation `sigma` of the C colors
maps a game of Hanabi to another game with the same rules, scores and legal
moves: color is only ever compared for equality. So `sigma` acts on

  * states: card ids `c * R + r -> sigma[c] * R + r` in the deck, the hands, the
    discard counts and the last move's card; the firework of color c becomes the
    firework of `sigma[c]`; card knowledge (the plausible colors and the color a
    hint revealed) is relabelled the same way;
  * actions: "reveal color c to +k" becomes "reveal color sigma[c] to +k";
    discards, plays and rank hints are unchanged;
  * observations: a fixed permutation of feature indices, the same for the
    canonical encoding and for the v0 belief (they share one layout).

These are the symmetries that Other-Play samples in Hanabi (Hu et al. 2020,
"'Other-Play' for zero-shot coordination", ICML), as implemented by the SAD/OBL
fork of HLE (github.com/hengyuan-hu/hanabi-learning-environment at 273c5ca,
`canonical_encoders.cc`, `shuffle_color` / `color_permute`; SAD's
`cpp/hanabi_env.cc` maps legal color hints to `colorPermute[color]`). This module
keeps the fork's convention: a card of color c is encoded at the index of color
`sigma[c]` (fireworks of color c' read color `sigma^-1[c']`), so
`permute_observation(obs, sym)` is what the fork's encoder writes with
`color_permute = sigma`, and a color hint's move uid becomes that of `sigma[c]`.

Equivariance laws (tests/games/envs/test_hanabi_symmetry.py checks them for all 120
permutations of the full game): with `g = permute_state(., sym)`,

  canonical(g(s)) == permute_observation(canonical(s), sym)       (and v0_belief)
  legal_actions(g(s)) == permute_action_values(legal_actions(s), sym)
  step(g(s), permute_action(a, sym)) == (g(s'), r, done)  where step(s, a) = s', r, done

A `ColorPermutation` holds every index table the maps need, built once with
numpy outside jit (`color_permutation`, `all_color_permutations`). The maps are
gathers: jittable, and `vmap`-able over states and over a stacked
`ColorPermutation` (one random symmetry per environment:
`jax.tree.map(lambda t: t[index], all_color_permutations(params))` with
`index` int[B], then `jax.vmap(permute_state)`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical_sections
from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import HanabiState


class ColorPermutation(NamedTuple):
    """A color permutation and its index tables (int32, numpy or jax).

    "New of old" tables map an old index to its image; `*_inverse` map back.
    Observations are permuted by gathering, `new_obs = obs[..., observation]`.
    The functions of this module take one permutation; `all_color_permutations`
    stacks them along a leading axis, to index or `vmap` over.
    """

    colors: jax.Array | np.ndarray
    """int32[C]: the new color of old color c (sigma)."""
    colors_inverse: jax.Array | np.ndarray
    """int32[C]: sigma^-1."""
    cards: jax.Array | np.ndarray
    """int32[T]: the new card id of old card id t (color-major ids)."""
    cards_inverse: jax.Array | np.ndarray
    """int32[T]."""
    actions: jax.Array | np.ndarray
    """int32[A]: the new action id of old action id a (HLE's move uids)."""
    actions_inverse: jax.Array | np.ndarray
    """int32[A]."""
    observation: jax.Array | np.ndarray
    """int32[O]: gather indices, `new_obs[i] = obs[observation[i]]`."""
    observation_inverse: jax.Array | np.ndarray
    """int32[O]: the gather of sigma^-1."""


def _card_table(colors: np.ndarray, params: HanabiParams) -> np.ndarray:
    """int32[T]: new card id of each old card id."""
    card = np.arange(params.num_card_types)
    color, rank = np.divmod(card, params.num_ranks)
    return (colors[color] * params.num_ranks + rank).astype(np.int32)


def _action_table(colors: np.ndarray, params: HanabiParams) -> np.ndarray:
    """int32[A]: new move uid of each old move uid (only color hints move)."""
    table = np.arange(params.num_actions)
    start = 2 * params.hand_size
    uid = np.arange(params.num_color_hints)
    offset, color = np.divmod(uid, params.num_colors)
    table[start + uid] = start + offset * params.num_colors + colors[color]
    return table.astype(np.int32)


def _observation_gather(colors: np.ndarray, params: HanabiParams) -> np.ndarray:
    """int32[O]: for each new feature index, the old index it is read from.

    Built section by section from the canonical layout (encoding.py); a block
    indexed by color c (or card id t) moves to the block of sigma[c] (or of the
    permuted card), so new block sigma[c] reads old block c.
    """
    num_players, hand_size = params.num_players, params.hand_size
    num_colors, num_ranks = params.num_colors, params.num_ranks
    cards = params.num_card_types
    inverse = np.argsort(colors)
    card_inverse = np.argsort(_card_table(colors, params))
    parts: list[np.ndarray] = []
    start = 0

    def block(size: int, gather: np.ndarray | None = None) -> None:
        nonlocal start
        index = np.arange(size) if gather is None else gather
        parts.append(start + index)
        start += size

    # Hands: card one-hots of the other players' slots, then the short-hand bits.
    for _ in range((num_players - 1) * hand_size):
        block(cards, card_inverse)
    block(num_players)
    # Board: deck thermometer; one rank one-hot per color; tokens.
    block(params.deck_size - num_players * hand_size)
    block(
        num_colors * num_ranks,
        (inverse[:, None] * num_ranks + np.arange(num_ranks)).reshape(-1),
    )
    block(params.max_information_tokens + params.max_life_tokens)
    # Discards: a thermometer block per card id, sized by its rank's copies.
    copies = np.tile(np.asarray(params.card_counts), num_colors)
    block_start = np.cumsum(copies) - copies
    block(
        params.deck_size,
        np.concatenate(
            [block_start[card_inverse[t]] + np.arange(copies[t]) for t in range(cards)]
        ),
    )
    # Last action: actor, type, target; hinted color; rank, reveal and slot bits;
    # the card played or discarded; scored and token bits.
    block(2 * num_players + 4)
    block(num_colors, inverse)
    block(num_ranks + 2 * hand_size)
    block(cards, card_inverse)
    block(2)
    # Card knowledge (or v0 belief): per player and slot, cards, colors, ranks.
    for _ in range(num_players * hand_size):
        block(cards, card_inverse)
        block(num_colors, inverse)
        block(num_ranks)

    gather = np.concatenate(parts).astype(np.int32)
    assert start == sum(canonical_sections(params).values()) == gather.size
    return gather


def color_permutation(
    colors: Sequence[int] | np.ndarray, params: HanabiParams
) -> ColorPermutation:
    """The tables of the permutation sending color c to `colors[c]` (numpy).

    Raises ValueError unless `colors` is a permutation of 0..C-1.
    """
    sigma = np.asarray(colors)
    if sigma.shape != (params.num_colors,) or not np.array_equal(
        np.sort(sigma), np.arange(params.num_colors)
    ):
        raise ValueError(
            f"a color permutation of {params.num_colors} colors is a reordering of "
            f"0..{params.num_colors - 1}, got {sigma.tolist()}"
        )
    sigma = sigma.astype(np.int32)
    inverse = np.argsort(sigma).astype(np.int32)
    cards = _card_table(sigma, params)
    actions = _action_table(sigma, params)
    observation = _observation_gather(sigma, params)
    return ColorPermutation(
        colors=sigma,
        colors_inverse=inverse,
        cards=cards,
        cards_inverse=np.argsort(cards).astype(np.int32),
        actions=actions,
        actions_inverse=np.argsort(actions).astype(np.int32),
        observation=observation,
        observation_inverse=np.argsort(observation).astype(np.int32),
    )


def all_color_permutations(params: HanabiParams) -> ColorPermutation:
    """Every color permutation, stacked: each table gains a leading axis of C!
    entries (120 for 5 colors) in lexicographic order, the identity first."""
    each = [
        color_permutation(sigma, params)
        for sigma in itertools.permutations(range(params.num_colors))
    ]
    return ColorPermutation(*(np.stack(tables) for tables in zip(*each, strict=True)))


def compose_permutations(
    first: ColorPermutation, second: ColorPermutation
) -> ColorPermutation:
    """The permutation "apply `first`, then `second`" (second o first).

    Works on numpy or jax tables of one permutation each (no batch axes).
    """
    return ColorPermutation(
        colors=second.colors[first.colors],
        colors_inverse=first.colors_inverse[second.colors_inverse],
        cards=second.cards[first.cards],
        cards_inverse=first.cards_inverse[second.cards_inverse],
        actions=second.actions[first.actions],
        actions_inverse=first.actions_inverse[second.actions_inverse],
        # new[i] = mid[second.obs[i]] = old[first.obs[second.obs[i]]]
        observation=first.observation[second.observation],
        observation_inverse=second.observation_inverse[first.observation_inverse],
    )


def invert_permutation(sym: ColorPermutation) -> ColorPermutation:
    """The inverse permutation (its tables swapped)."""
    return ColorPermutation(
        colors=sym.colors_inverse,
        colors_inverse=sym.colors,
        cards=sym.cards_inverse,
        cards_inverse=sym.cards,
        actions=sym.actions_inverse,
        actions_inverse=sym.actions,
        observation=sym.observation_inverse,
        observation_inverse=sym.observation,
    )


def _map_ids(table: jax.Array | np.ndarray, ids: jax.Array) -> jax.Array:
    """`table[ids]` where ids >= 0, and -1 (empty, none) kept as it is."""
    return jnp.where(ids >= 0, jnp.asarray(table)[jnp.maximum(ids, 0)], ids)


def permute_state(state: HanabiState, sym: ColorPermutation) -> HanabiState:
    """The state with every color c relabelled `sym.colors[c]` (module docstring).

    Deck, hands, discards, fireworks, card knowledge and the last move's card and
    action change; positions, tokens, players, scores and flags do not.
    """
    colors_inverse = jnp.asarray(sym.colors_inverse)
    return state._replace(
        deck=_map_ids(sym.cards, state.deck),
        hands=_map_ids(sym.cards, state.hands),
        color_plausible=state.color_plausible[..., colors_inverse],
        color_hinted=_map_ids(sym.colors, state.color_hinted),
        fireworks=state.fireworks[..., colors_inverse],
        discards=state.discards[..., jnp.asarray(sym.cards_inverse)],
        last_action=_map_ids(sym.actions, state.last_action),
        last_card=_map_ids(sym.cards, state.last_card),
    )


def permute_action(action: jax.Array | int, sym: ColorPermutation) -> jax.Array:
    """The image of action id(s) (any shape); -1 (no action) is kept."""
    return _map_ids(sym.actions, jnp.asarray(action, jnp.int32))


def permute_action_values(values: jax.Array, sym: ColorPermutation) -> jax.Array:
    """Per-action arrays `[..., A]` (legal masks, logits, policies) relabelled so
    that entry `sym.actions[a]` of the result is entry `a` of `values`."""
    return jnp.asarray(values)[..., jnp.asarray(sym.actions_inverse)]


def permute_observation(obs: jax.Array, sym: ColorPermutation) -> jax.Array:
    """Canonical or v0-belief vectors `[..., O]` of a state, as observed in the
    permuted state: `obs[..., sym.observation]`."""
    return jnp.asarray(obs)[..., jnp.asarray(sym.observation)]
