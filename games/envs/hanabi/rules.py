"""Hanabi rules as pure JAX functions, identical to hanabi-learning-environment.

The rules follow the C++ game of hanabi-learning-environment (HLE; Bard et al. 2020,
"The Hanabi challenge: a new frontier for AI research", and its reference code
`hanabi_lib/hanabi_game.cc`, `hanabi_state.cc`, `hanabi_hand.cc`), step for step:
the same move-uid order, dealing order, hand order, card knowledge, scoring and end
of game. `games.envs.hanabi.verify` replays thousands of recorded HLE games to check it.

Cards are ints `color * num_ranks + rank` (HLE's chance-outcome uid and the
canonical encoder's color-major card index). A deck is the sequence of card ids in
the order they are dealt.

Turn-based convention. Exactly one player acts per step: `state.current_player`
(int32 scalar, 0-based, absolute). `legal_actions(state, params)` is that player's
legal mask over all `params.num_actions` actions, as HLE's `legal_moves` for the
acting player; `step(state, action, params)` applies the current player's action.
Non-acting players choose nothing: a learner that keeps an action per player
(`[num_players]`) uses only `action[state.current_player]` and should not train
the others' choices at that step; `legal_actions_per_player` gives the
`bool[num_players, num_actions]` view in which the non-acting rows are all False
(HLE returns empty move lists for them). The reward is common to all players.

Illegal actions. `step` is jittable, so it cannot raise. An illegal action
(out of range, not legal in the state, or any action in a terminal state) is not
applied: `step` returns the state unchanged except for `illegal=True`, a reward
of 0, and `done=state.terminal`. A legal step sets `illegal=False`. Use
`checked_step` (eager) to raise `IllegalActionError` instead.

Terminal states. `legal_actions` is all False in a terminal state (HLE's
`legal_moves` keeps answering by the card rules there, but HLE's `rl_env` never
asks); with the masking guard of the house contract this samples nothing.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.params import HanabiParams

COLOR_CHARS = "RYGWB"  # HLE's color order (util.cc, kColorStr).

# HLE's HanabiMove types, in move-uid order (hanabi_game.cc, ConstructMove).
DISCARD, PLAY, REVEAL_COLOR, REVEAL_RANK = 0, 1, 2, 3


class IllegalActionError(ValueError):
    """`checked_step` was given an action that is not legal in the state."""


class HanabiState(NamedTuple):
    """One game of Hanabi (P players, H hand size, C colors, R ranks, D deck size).

    Hands are in HLE's order: oldest card at slot 0, a new card goes to the first
    empty slot, and removing a card shifts the later ones left; empty slots
    (after the deck runs out) hold -1 and sit at the end.
    """

    deck: jax.Array
    """int32[D]: card ids in the order they are dealt."""
    deck_position: jax.Array
    """int32[]: cards dealt so far; `D - deck_position` are left in the deck."""
    hands: jax.Array
    """int32[P, H]: card ids by absolute player, -1 for an empty slot."""
    color_plausible: jax.Array
    """bool[P, H, C]: colors a card may still have, given the hints so far
    (HLE's CardKnowledge; False in empty slots)."""
    rank_plausible: jax.Array
    """bool[P, H, R]: ranks a card may still have (False in empty slots)."""
    color_hinted: jax.Array
    """int32[P, H]: the color a hint revealed directly, -1 if none."""
    rank_hinted: jax.Array
    """int32[P, H]: the rank a hint revealed directly, -1 if none."""
    fireworks: jax.Array
    """int32[C]: cards played on each color's firework."""
    discards: jax.Array
    """int32[C * R]: discarded (or misplayed) copies of each card."""
    information_tokens: jax.Array
    """int32[]: hint tokens left."""
    life_tokens: jax.Array
    """int32[]: lives left."""
    current_player: jax.Array
    """int32[]: the player to act (absolute index)."""
    turns_to_play: jax.Array
    """int32[]: starts at P; each move made with an empty deck takes one, and the
    game ends at 0 (HLE's `turns_to_play_`)."""
    score: jax.Array
    """int32[]: HLE's score: the cards on the fireworks, or 0 once lives run out."""
    terminal: jax.Array
    """bool[]: the game is over."""
    illegal: jax.Array
    """bool[]: the action of the step that returned this state was illegal and was
    not applied (see the module docstring)."""
    last_player: jax.Array
    """int32[]: who made the last move (absolute), -1 before the first move."""
    last_action: jax.Array
    """int32[]: the last move's action id, -1 before the first move."""
    last_card: jax.Array
    """int32[]: the card played or discarded by the last move, -1 for a hint."""
    last_reveal: jax.Array
    """bool[H]: slots of the hinted hand that the last (hint) move touched (HLE's
    `reveal_bitmask`)."""
    last_scored: jax.Array
    """bool[]: the last move was a successful play."""
    last_information_token: jax.Array
    """bool[]: the last move (a discard, or a play completing a color) gained a
    hint token."""


def validate_deck(deck: np.ndarray | jax.Array, params: HanabiParams) -> np.ndarray:
    """Checks a concrete deck (or a batch of decks, `[..., D]`) and returns it.

    Every deck must be a permutation of the full deck's cards.
    """
    array = np.asarray(deck)
    if array.ndim < 1 or array.shape[-1] != params.deck_size:
        raise ValueError(
            f"a deck needs {params.deck_size} cards (shape [..., {params.deck_size}]),"
            f" got shape {list(array.shape)}"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"a deck holds integer card ids, got dtype {array.dtype}")
    rows = array.reshape(-1, params.deck_size)
    expected = np.bincount(params.sorted_deck(), minlength=params.num_card_types)
    for index, row in enumerate(rows):
        where = f" (deck {index} of the batch)" if array.ndim > 1 else ""
        outside = row[(row < 0) | (row >= params.num_card_types)]
        if outside.size:
            raise ValueError(
                f"a deck holds card ids 0..{params.num_card_types - 1}, got "
                f"{int(outside[0])}{where}"
            )
        counts = np.bincount(row, minlength=params.num_card_types)
        if not np.array_equal(counts, expected):
            card = int(np.flatnonzero(counts != expected)[0])
            color, rank = divmod(card, params.num_ranks)
            raise ValueError(
                f"a deck holds {expected[card]} copies of card {card} "
                f"({COLOR_CHARS[color]}{rank + 1}), got {counts[card]}{where}"
            )
    return array.astype(np.int32)


def shuffle(key: jax.Array, cards: jax.Array) -> jax.Array:
    """A random permutation of `cards` (int[D]) without a sort.

    Each card draws 32 random bits and goes to the position given by the number of
    cards with smaller bits (ties, of probability about D^2 / 2^33 per deck, broken
    by index): a D x D comparison and a scatter, about 6x faster on a CPU than
    `jax.random.permutation`'s sort, which dominated a step with auto-reset.
    """
    size = cards.shape[0]
    bits = jax.random.bits(key, (size,), jnp.uint32)
    index = jnp.arange(size)
    before = (bits[None, :] < bits[:, None]) | (
        (bits[None, :] == bits[:, None]) & (index[None, :] < index[:, None])
    )
    position = before.sum(axis=1)
    return jnp.zeros_like(cards).at[position].set(cards, unique_indices=True)


def reset(
    key: jax.Array,
    params: HanabiParams,
    deck: jax.Array | np.ndarray | None = None,
) -> HanabiState:
    """Shuffles (or takes) a deck, deals, and returns the first state.

    key: a PRNG key, used only to shuffle when `deck` is None.
    deck: optional int[D] card ids in deal order. A concrete deck is validated
      here; inside jit/vmap only its shape can be checked (validate batches with
      `validate_deck` first).

    HLE's chance player deals to the first player whose hand is not full, so
    player 0 gets `deck[:H]`, player 1 `deck[H:2H]`, and so on (HanabiState::
    PlayerToDeal). Player 0 starts: rl_env's presets leave HLE's
    `random_start_player` at its default, false.
    """
    num_players, hand_size = params.num_players, params.hand_size
    if deck is None:
        deck = shuffle(key, jnp.asarray(params.sorted_deck()))
    elif isinstance(deck, jax.core.Tracer):
        if tuple(deck.shape) != (params.deck_size,):
            raise ValueError(
                f"a deck needs {params.deck_size} cards, got shape {list(deck.shape)}"
            )
    else:
        deck = jnp.asarray(validate_deck(deck, params))
    deck = jnp.asarray(deck, jnp.int32)
    dealt = num_players * hand_size
    hands = deck[:dealt].reshape(num_players, hand_size)
    full = jnp.ones((num_players, hand_size), bool)
    zero = jnp.zeros((), jnp.int32)
    return HanabiState(
        deck=deck,
        deck_position=jnp.asarray(dealt, jnp.int32),
        hands=hands,
        color_plausible=jnp.broadcast_to(
            full[..., None], (*full.shape, params.num_colors)
        ),
        rank_plausible=jnp.broadcast_to(
            full[..., None], (*full.shape, params.num_ranks)
        ),
        color_hinted=jnp.full((num_players, hand_size), -1, jnp.int32),
        rank_hinted=jnp.full((num_players, hand_size), -1, jnp.int32),
        fireworks=jnp.zeros(params.num_colors, jnp.int32),
        discards=jnp.zeros(params.num_card_types, jnp.int32),
        information_tokens=jnp.asarray(params.max_information_tokens, jnp.int32),
        life_tokens=jnp.asarray(params.max_life_tokens, jnp.int32),
        current_player=zero,
        turns_to_play=jnp.asarray(num_players, jnp.int32),
        score=zero,
        terminal=jnp.asarray(False),
        illegal=jnp.asarray(False),
        last_player=jnp.asarray(-1, jnp.int32),
        last_action=jnp.asarray(-1, jnp.int32),
        last_card=jnp.asarray(-1, jnp.int32),
        last_reveal=jnp.zeros(hand_size, bool),
        last_scored=jnp.asarray(False),
        last_information_token=jnp.asarray(False),
    )


class DecodedAction(NamedTuple):
    """An action id split into HLE's move fields (int32 scalars)."""

    kind: jax.Array
    """DISCARD, PLAY, REVEAL_COLOR or REVEAL_RANK."""
    card_index: jax.Array
    """Hand slot of a play or discard (0 for a hint)."""
    target_offset: jax.Array
    """Hinted player relative to the hinter, 1 to P-1 (0 for a play or discard)."""
    value: jax.Array
    """Hinted color or rank (0 for a play or discard)."""


def decode_action(action: jax.Array | int, params: HanabiParams) -> DecodedAction:
    """Splits an action id (HLE's move uid) into its move fields.

    uid < H: discard slot uid; < 2H: play slot uid - H; then color hints
    `(offset - 1) * C + color`; then rank hints `(offset - 1) * R + rank`
    (hanabi_game.cc, ConstructMove). Out-of-range ids decode to something
    arbitrary; `legal_actions` rejects them.
    """
    hand_size, num_colors, num_ranks = (
        params.hand_size,
        params.num_colors,
        params.num_ranks,
    )
    action = jnp.asarray(action, jnp.int32)
    color_start = 2 * hand_size
    rank_start = color_start + params.num_color_hints
    kind = jnp.select(
        [action < hand_size, action < color_start, action < rank_start],
        [DISCARD, PLAY, REVEAL_COLOR],
        REVEAL_RANK,
    ).astype(jnp.int32)
    color_uid = jnp.maximum(action - color_start, 0)
    rank_uid = jnp.maximum(action - rank_start, 0)
    is_hint = kind >= REVEAL_COLOR
    card_index = jnp.where(is_hint, 0, action % hand_size)
    target_offset = jnp.select(
        [kind == REVEAL_COLOR, kind == REVEAL_RANK],
        [1 + color_uid // num_colors, 1 + rank_uid // num_ranks],
        0,
    )
    value = jnp.select(
        [kind == REVEAL_COLOR, kind == REVEAL_RANK],
        [color_uid % num_colors, rank_uid % num_ranks],
        0,
    )
    return DecodedAction(kind, card_index, target_offset.astype(jnp.int32), value)


@functools.lru_cache(maxsize=4096)
def describe_action(action: int, params: HanabiParams) -> str:
    """A readable name for an action id, e.g. 'play 2' or 'reveal color G to +1'.
    Kept per id and game: `decode_action` runs eagerly here, some milliseconds a
    call, and names are asked for many times over (micro Hanabi's observation
    names, 145 calls in a search)."""
    if not 0 <= action < params.num_actions:
        return f"action {action} (out of range 0..{params.num_actions - 1})"
    kind, index, offset, value = (int(x) for x in decode_action(action, params))
    if kind == DISCARD:
        return f"discard {index}"
    if kind == PLAY:
        return f"play {index}"
    if kind == REVEAL_COLOR:
        return f"reveal color {COLOR_CHARS[value]} to +{offset}"
    return f"reveal rank {value + 1} to +{offset}"


def _hands_by_offset(hands: jax.Array, player: jax.Array) -> jax.Array:
    """int[P, ...] rows reordered so that row k is player `(player + k) % P`."""
    num_players = hands.shape[0]
    return jnp.take(hands, (player + jnp.arange(num_players)) % num_players, axis=0)


def legal_actions(state: HanabiState, params: HanabiParams) -> jax.Array:
    """The current player's legal actions, bool[num_actions] in move-uid order.

    As HLE's HanabiState::MoveIsLegal: a discard needs a card in the slot and
    fewer hint tokens than the maximum; a play needs a card in the slot; a hint
    needs a token and at least one card of that color or rank in the target
    hand. All False in a terminal state.
    """
    num_ranks = params.num_ranks
    hand = state.hands[state.current_player]
    has_card = hand >= 0
    can_discard = has_card & (state.information_tokens < params.max_information_tokens)
    others = _hands_by_offset(state.hands, state.current_player)[1:]  # [P-1, H]
    present = others >= 0
    colors = jnp.where(present, others // num_ranks, -1)
    ranks = jnp.where(present, others % num_ranks, -1)
    color_hints = jnp.any(
        colors[:, :, None] == jnp.arange(params.num_colors), axis=1
    ).reshape(-1)
    rank_hints = jnp.any(ranks[:, :, None] == jnp.arange(num_ranks), axis=1).reshape(-1)
    can_hint = state.information_tokens > 0
    mask = jnp.concatenate(
        [can_discard, has_card, color_hints & can_hint, rank_hints & can_hint]
    )
    return mask & ~state.terminal


def legal_actions_per_player(state: HanabiState, params: HanabiParams) -> jax.Array:
    """bool[P, num_actions]: the current player's legal mask in its row, and all
    False rows for the players who do not act (HLE's per-player legal moves)."""
    acting = jnp.arange(params.num_players) == state.current_player
    return acting[:, None] & legal_actions(state, params)[None, :]


def _remove_slot(row: jax.Array, slot: jax.Array, empty: jax.Array) -> jax.Array:
    """Removes `row[slot]` (leading axis), shifts the later entries left and fills
    the last position with `empty` (HanabiHand::RemoveFromHand)."""
    size = row.shape[0]
    index = jnp.arange(size)
    shifted = jnp.take(row, jnp.minimum(index + (index >= slot), size - 1), axis=0)
    last = (index == size - 1).reshape((size,) + (1,) * (row.ndim - 1))
    return jnp.where(last, empty, shifted)


class _HandRow(NamedTuple):
    """One player's row of the state's hand arrays: cards and what is known."""

    cards: jax.Array  # int[H]
    color_plausible: jax.Array  # bool[H, C]
    rank_plausible: jax.Array  # bool[H, R]
    color_hinted: jax.Array  # int[H]
    rank_hinted: jax.Array  # int[H]


def _hand_row(state: HanabiState, player: jax.Array) -> _HandRow:
    return _HandRow(
        state.hands[player],
        state.color_plausible[player],
        state.rank_plausible[player],
        state.color_hinted[player],
        state.rank_hinted[player],
    )


def _after_card_move(
    row: _HandRow, slot: jax.Array, new_card: jax.Array, params: HanabiParams
) -> _HandRow:
    """The mover's row after the card in `slot` left it (the cards right of it
    move left) and `new_card` (-1: none, the deck is empty) was drawn into the
    first empty slot, knowing nothing of it."""
    draw = new_card >= 0
    new_slot = jnp.sum(row.cards >= 0) - 1  # the first empty slot after removal
    at_new = (jnp.arange(params.hand_size) == new_slot) & draw

    def refill(values: jax.Array, empty: jax.Array, fresh: jax.Array) -> jax.Array:
        removed = _remove_slot(values, slot, empty)
        where = at_new.reshape((-1,) + (1,) * (values.ndim - 1))
        return jnp.where(where, fresh, removed)

    colors, ranks = params.num_colors, params.num_ranks
    none = jnp.asarray(-1)
    return _HandRow(
        refill(row.cards, none, new_card),
        refill(row.color_plausible, jnp.zeros(colors, bool), jnp.ones(colors, bool)),
        refill(row.rank_plausible, jnp.zeros(ranks, bool), jnp.ones(ranks, bool)),
        refill(row.color_hinted, none, none),
        refill(row.rank_hinted, none, none),
    )


def _after_hint(
    row: _HandRow, move: DecodedAction, params: HanabiParams
) -> tuple[_HandRow, jax.Array]:
    """The target's row after a color or rank hint: every card learns whether
    it has the value (HanabiHand::RevealColor / RevealRank); and bool[H], the
    cards touched."""
    present = row.cards >= 0
    is_color = move.kind == REVEAL_COLOR
    value = jnp.where(
        is_color, row.cards // params.num_ranks, row.cards % params.num_ranks
    )
    touched = present & (value == move.value)

    def learn(plausible: jax.Array, applies: jax.Array) -> jax.Array:
        onehot = jnp.arange(plausible.shape[-1]) == move.value
        learned = jnp.where(touched[:, None], onehot, plausible & ~onehot)
        return jnp.where(applies & present[:, None], learned, plausible)

    hinted = _HandRow(
        row.cards,
        learn(row.color_plausible, is_color),
        learn(row.rank_plausible, ~is_color),
        jnp.where(is_color & touched, move.value, row.color_hinted),
        jnp.where(~is_color & touched, move.value, row.rank_hinted),
    )
    return hinted, touched


def _apply(state: HanabiState, action: jax.Array, params: HanabiParams) -> HanabiState:
    """The state after a legal `action` (HanabiState::ApplyMove, then the deal)."""
    num_ranks = params.num_ranks
    player = state.current_player
    move = decode_action(action, params)
    is_play = move.kind == PLAY
    is_discard = move.kind == DISCARD
    is_card_move = is_play | is_discard
    is_hint = ~is_card_move

    # A move made with an empty deck uses up one of the final round's turns.
    deck_was_empty = state.deck_position >= params.deck_size
    turns_to_play = state.turns_to_play - deck_was_empty.astype(jnp.int32)

    # Play or discard.
    card = state.hands[player][move.card_index]
    color, rank = card // num_ranks, card % num_ranks
    playable = state.fireworks[color] == rank
    scored = is_play & playable
    fireworks = state.fireworks.at[color].add(scored.astype(jnp.int32))
    completed = scored & (fireworks[color] == num_ranks)
    token_room = state.information_tokens < params.max_information_tokens
    gained_token = (is_discard | completed) & token_room
    lost_life = is_play & ~playable
    to_discards = is_discard | lost_life
    discards = state.discards.at[card].add((to_discards).astype(jnp.int32))
    draw = state.deck_position < params.deck_size
    new_card = jnp.where(
        draw, state.deck[jnp.minimum(state.deck_position, params.deck_size - 1)], -1
    )
    moved = _after_card_move(
        _hand_row(state, player), move.card_index, new_card, params
    )

    target = (player + move.target_offset) % params.num_players
    hinted, touched = _after_hint(_hand_row(state, target), move, params)

    # Write back the one row that changed.
    row = jnp.where(is_hint, target, player)
    new = jax.tree.map(lambda h, m: jnp.where(is_hint, h, m), hinted, moved)

    information_tokens = (
        state.information_tokens
        + gained_token.astype(jnp.int32)
        - is_hint.astype(jnp.int32)
    )
    life_tokens = state.life_tokens - lost_life.astype(jnp.int32)
    total = jnp.sum(fireworks)
    # HanabiState::Score and EndOfGameStatus.
    score = jnp.where(life_tokens <= 0, 0, total)
    terminal = (life_tokens < 1) | (score >= params.max_score) | (turns_to_play <= 0)

    return HanabiState(
        deck=state.deck,
        deck_position=state.deck_position + (is_card_move & draw).astype(jnp.int32),
        hands=state.hands.at[row].set(new.cards),
        color_plausible=state.color_plausible.at[row].set(new.color_plausible),
        rank_plausible=state.rank_plausible.at[row].set(new.rank_plausible),
        color_hinted=state.color_hinted.at[row].set(new.color_hinted),
        rank_hinted=state.rank_hinted.at[row].set(new.rank_hinted),
        fireworks=fireworks,
        discards=discards,
        information_tokens=information_tokens,
        life_tokens=life_tokens,
        current_player=(player + 1) % params.num_players,
        turns_to_play=turns_to_play,
        score=score.astype(jnp.int32),
        terminal=terminal,
        illegal=jnp.asarray(False),
        last_player=player,
        last_action=jnp.asarray(action, jnp.int32),
        last_card=jnp.where(is_card_move, card, -1),
        last_reveal=jnp.where(is_hint, touched, False),
        last_scored=scored,
        last_information_token=gained_token,
    )


def step(
    state: HanabiState, action: jax.Array | int, params: HanabiParams
) -> tuple[HanabiState, jax.Array, jax.Array]:
    """Applies the current player's action; returns (state, reward, done).

    action: int scalar, an id in HLE's move-uid order.
    reward: int32[], the change of HLE's score (`rl_env`'s reward): +1 per card
      played, minus the whole score when the last life is lost (HLE scores 0).
    done: bool[], the new state is terminal: lives ran out, every firework is
      complete, or each player has moved once after the deck ran out.

    An illegal action leaves the state as it was, with `illegal=True`, reward 0
    and done equal to `state.terminal` (module docstring).
    """
    action = jnp.asarray(action, jnp.int32)
    in_range = (action >= 0) & (action < params.num_actions)
    safe_action = jnp.clip(action, 0, params.num_actions - 1)
    legal = in_range & legal_actions(state, params)[safe_action]
    applied = _apply(state, safe_action, params)
    new_state = jax.tree.map(
        lambda new, old: jnp.where(legal, new, old), applied, state
    )
    new_state = new_state._replace(illegal=~legal)
    reward = jnp.where(legal, new_state.score - state.score, 0).astype(jnp.int32)
    return new_state, reward, new_state.terminal


def checked_step(
    state: HanabiState, action: int, params: HanabiParams
) -> tuple[HanabiState, jax.Array, jax.Array]:
    """`step` for one concrete (unbatched) state, raising IllegalActionError
    instead of flagging an illegal action. Eager only."""
    action = int(action)
    if bool(state.terminal):
        raise IllegalActionError(
            f"{describe_action(action, params)}: the game is over (no action is legal)"
        )
    if not 0 <= action < params.num_actions:
        raise IllegalActionError(
            f"action {action} is out of range: "
            f"the actions are 0..{params.num_actions - 1}"
        )
    mask = np.asarray(_jit_legal_actions(state, params))
    if not mask[action]:
        legal = ", ".join(f"{a}" for a in np.flatnonzero(mask))
        player = int(state.current_player)
        raise IllegalActionError(
            f"player {player} cannot {describe_action(action, params)} now "
            f"(action {action}); legal actions: [{legal}]"
        )
    return _jit_step(state, action, params)


# Compiled once per params (a static pytree) and state shape, for eager callers.
_jit_step = jax.jit(step)
_jit_legal_actions = jax.jit(legal_actions)
