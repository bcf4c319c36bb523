"""HLE's canonical observation vector, for every player at once.

`canonical(state, params)` is, bit for bit, what hanabi-learning-environment's
`ObservationEncoder(game, CANONICAL).encode(state.observation(p))` gives for each
player p (`hanabi_lib/canonical_encoders.cc`, CanonicalObservationEncoder, with the
card-knowledge observation type that rl_env's presets use). Players appear in
observer-relative order: offset k means player `(p + k) % P`, offset 0 is p itself,
whose own cards are hidden (only its hints about them, the common card knowledge,
are shown).

Sections, in order (P players, H hand size, C colors, R ranks, D deck size,
T = C * R card types; 658 bits for the 2-player full game):

  hands          (P - 1) * H * T + P   others' cards one-hot, then for each
                                       player whether the hand is short a card
  board          D - P * H + T + info + life
                                       deck left (thermometer), fireworks (one-hot
                                       of the top rank per color), hint and life
                                       tokens (thermometers)
  discards       D                     per card type, a thermometer of the copies
                                       discarded (color-major, rank order)
  last action    P + 4 + P + C + R + H + H + T + 2
                                       the last non-deal move: who (relative), the
                                       type (play, discard, color hint, rank hint),
                                       target (relative), color, rank, the hinted
                                       slots, the slot played/discarded, the card,
                                       and whether a play scored / gained a token
  card knowledge P * H * (T + C + R)   per player and slot: the plausible cards
                                       (color plausible and rank plausible), and the
                                       color and rank revealed directly
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import DISCARD, PLAY, REVEAL_COLOR, HanabiState

# Position of each move type in the last-action section (canonical_encoders.cc,
# EncodeLastAction), indexed by the move-uid kinds DISCARD, PLAY, REVEAL_*.
_LAST_MOVE_TYPE_BIT = np.array([1, 0, 2, 3], np.int32)


def canonical_sections(params: HanabiParams) -> dict[str, int]:
    """The canonical vector's sections and their sizes, in order."""
    num_players, hand_size = params.num_players, params.hand_size
    cards = params.num_card_types
    return {
        "hands": (num_players - 1) * hand_size * cards + num_players,
        "board": params.deck_size
        - num_players * hand_size
        + cards
        + params.max_information_tokens
        + params.max_life_tokens,
        "discards": params.deck_size,
        "last_action": 2 * num_players
        + 4
        + params.num_colors
        + params.num_ranks
        + 2 * hand_size
        + cards
        + 2,
        "card_knowledge": num_players
        * hand_size
        * (cards + params.num_colors + params.num_ranks),
    }


def canonical_size(params: HanabiParams) -> int:
    """Length of one player's canonical vector (HLE's encoder shape)."""
    return sum(canonical_sections(params).values())


def _thermometer(value: jax.Array, size: int) -> jax.Array:
    """bool[size]: the first `value` entries set."""
    return jnp.arange(size) < value


def discard_layout(params: HanabiParams) -> tuple[np.ndarray, np.ndarray]:
    """For each bit of the discard section, its card id and copy number."""
    counts = np.tile(np.asarray(params.card_counts), params.num_colors)
    card = np.repeat(np.arange(params.num_card_types), counts)
    starts = np.cumsum(counts) - counts
    copy = np.arange(params.deck_size) - np.repeat(starts, counts)
    return card.astype(np.int32), copy.astype(np.int32)


def _encode_one(
    state: HanabiState, params: HanabiParams, observer: jax.Array
) -> jax.Array:
    """Player `observer`'s canonical vector, bool[canonical_size(params)]."""
    num_players, hand_size = params.num_players, params.hand_size
    num_colors, num_ranks = params.num_colors, params.num_ranks
    cards = params.num_card_types
    order = (observer + jnp.arange(num_players)) % num_players  # by offset

    # Hands: the other players' cards, then who is short a card.
    hands = state.hands[order]  # [P, H]
    present = hands >= 0
    one_hot_cards = jax.nn.one_hot(hands, cards, dtype=bool) & present[..., None]
    short = present.sum(axis=1) < hand_size
    hands_bits = [one_hot_cards[1:].reshape(-1), short]

    # Board.
    deck_left = params.deck_size - state.deck_position
    board_bits = [
        _thermometer(deck_left, params.deck_size - num_players * hand_size),
        jax.nn.one_hot(state.fireworks - 1, num_ranks, dtype=bool).reshape(-1),
        _thermometer(state.information_tokens, params.max_information_tokens),
        _thermometer(state.life_tokens, params.max_life_tokens),
    ]

    # Discards: bit j is set when copy `copy[j]` of card `card[j]` is discarded.
    card, copy = discard_layout(params)
    discard_bits = [state.discards[card] > copy]

    # Last action (zeros before the first move).
    has_last = state.last_action >= 0
    move_kind = jnp.select(
        [state.last_action < hand_size, state.last_action < 2 * hand_size],
        [DISCARD, PLAY],
        REVEAL_COLOR,
    )
    color_start = 2 * hand_size
    rank_start = color_start + params.num_color_hints
    is_color_hint = (state.last_action >= color_start) & (
        state.last_action < rank_start
    )
    is_rank_hint = state.last_action >= rank_start
    kind_bit = jnp.where(is_rank_hint, 3, jnp.asarray(_LAST_MOVE_TYPE_BIT)[move_kind])
    is_hint = is_color_hint | is_rank_hint
    is_card_move = has_last & ~is_hint
    hint_uid = jnp.where(
        is_color_hint, state.last_action - color_start, state.last_action - rank_start
    )
    hint_size = jnp.where(is_color_hint, num_colors, num_ranks)
    target_offset = 1 + hint_uid // hint_size
    hint_value = hint_uid % hint_size
    actor = (state.last_player - observer) % num_players
    target = (actor + target_offset) % num_players
    last_bits = [
        jnp.arange(num_players) == actor,
        jnp.arange(4) == kind_bit,
        (jnp.arange(num_players) == target) & is_hint,
        (jnp.arange(num_colors) == hint_value) & is_color_hint,
        (jnp.arange(num_ranks) == hint_value) & is_rank_hint,
        state.last_reveal & is_hint,
        (jnp.arange(hand_size) == state.last_action % hand_size) & is_card_move,
        (jnp.arange(cards) == state.last_card) & is_card_move,
        jnp.stack([state.last_scored, state.last_information_token])
        & (move_kind == PLAY)
        & ~is_hint,
    ]
    last_bits = [bits & has_last for bits in last_bits]

    # Card knowledge of every player's cards, the observer's own first.
    color_plausible = state.color_plausible[order]  # [P, H, C]
    rank_plausible = state.rank_plausible[order]  # [P, H, R]
    plausible = (color_plausible[..., :, None] & rank_plausible[..., None, :]).reshape(
        num_players, hand_size, cards
    )
    knowledge = jnp.concatenate(
        [
            plausible,
            jax.nn.one_hot(state.color_hinted[order], num_colors, dtype=bool),
            jax.nn.one_hot(state.rank_hinted[order], num_ranks, dtype=bool),
        ],
        axis=-1,
    )
    knowledge_bits = [(knowledge & present[..., None]).reshape(-1)]

    return jnp.concatenate(
        hands_bits + board_bits + discard_bits + last_bits + knowledge_bits
    )


def canonical(state: HanabiState, params: HanabiParams) -> jax.Array:
    """Every player's canonical observation, uint8[P, canonical_size(params)].

    Row p is HLE's canonical encoding of `state.observation(p)`: p's own cards are
    hidden, other players are listed by offset from p. Jittable; `jax.vmap` over
    states for a batch.
    """
    observers = jnp.arange(params.num_players)
    bits = jax.vmap(lambda p: _encode_one(state, params, p))(observers)
    return bits.astype(jnp.uint8)
