"""Hanabi, exactly: a micro Hanabi compiled from the lab's rules into a tabular
Dec-POMDP for the exact engines.

The one module that joins the two rooms of `games/`: it plays the JAX game of
`games.envs.hanabi` (HLE's rules step for step) over every reachable situation
and writes what it finds as a `games.tabular.DecPOMDP`, so that the exact wing
(tau* brackets, conventions, nauty's symmetry group, Other-Play) and the deep
wing (IPPO on `env=hanabi` of the same size) study one game.

The model (2 players, turn-based: player t % 2 moves at turn t):
  states       every reachable `HanabiState` without its deck order: the cards
               still in the deck are a uniformly shuffled multiset, so the next
               card drawn is card c with probability (copies of c left) / (cards
               left). States reached by different histories merge.
  transition   the rules' `step` for each legal move and each card it may draw.
  reward       the rules' reward, the change of HLE's score.
  observation  after every turn each player receives two sections of its HLE
               canonical observation of the new state: the hands (the partner's
               cards) and the last move (what was played, discarded or hinted,
               the card, whether it scored). The rest of the canonical vector
               (board, discards, card knowledge) follows from those and the
               player's own moves: tests/games/test_hanabi_tabular.py checks that
               at every information state the whole vector is determined, so the
               information states are HLE's.
  legal        the rules' legal moves; once the game is over (lives out, every
               firework complete, or the last round played) the state absorbs,
               and the mover's only move is its first (`legal`, no choice).
  horizon      the game's own bound (`HanabiParams.max_game_length`), or fewer
               turns: the game is cut after `horizon` turns, its score so far kept.

Sizes are refused in one line before any work when the rules refuse them (HLE's
ranges) or when they are beyond what the dense tables hold (`LIMITS`).
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical, canonical_sections
from games.envs.hanabi.params import HanabiParams, make_params
from games.envs.hanabi.rules import (
    COLOR_CHARS,
    HanabiState,
    describe_action,
    legal_actions,
    reset,
    step,
)
from games.tabular.compile import CompileError, TabularGame
from games.tabular.infostates import InfostateIndex
from games.tabular.spec import DecPOMDP

LIMITS = {"num_players": 2, "hand_size": 1, "num_colors": 2, "num_ranks": 2}
"""The largest sizes compiled: 2 players with hands of one card, at most 2
colors and 2 ranks (any tokens HLE allows). Beyond them the states run into the
tens of thousands, and the dense transition table alone (states^2 x actions^2)
would not fit in memory."""
MAX_STATES = 3000
"""Reachable states at most; a larger game is refused as soon as it is found."""
KEY_FIELDS = tuple(f for f in HanabiState._fields if f not in ("deck", "illegal"))
"""What makes a state: everything but the deck order (a multiset follows from
the rest) and the flag of an illegal step (never taken)."""


MICRO = {
    "hanabi_micro": dict(colors=2, ranks=1, hints=1, lives=1),
    "hanabi_micro_2l": dict(colors=2, ranks=1, hints=1, lives=2),
}
"""The catalogue's micro sizes, whole games (2 colors of one rank, 3 copies each;
a hand of one card): the color swap is their symmetry. Any horizon cuts them."""


def micro_spec(name: str, horizon: int | None = None) -> DecPOMDP:
    """Catalogue game `name` of MICRO over `horizon` turns (None: the whole game)."""
    return micro(name, horizon).spec


@functools.lru_cache(maxsize=8)
def micro(name: str, horizon: int | None = None) -> CompiledHanabi:
    """`compile_hanabi` of MICRO's size `name`, built once per process."""
    return compile_hanabi(micro_params(**MICRO[name]), horizon, name=name)


def micro_params(
    colors: int, ranks: int, hints: int, lives: int, hand_size: int = 1
) -> HanabiParams:
    """HLE's parameters of a micro size, refused in one line if HLE refuses them
    or if they exceed `LIMITS`."""
    params = make_params(
        "Hanabi-Small",
        2,
        colors=colors,
        ranks=ranks,
        hand_size=hand_size,
        hints=hints,
        lives=lives,
    )
    check_size(params)
    return params


def check_size(params: HanabiParams) -> None:
    for field, limit in LIMITS.items():
        value = getattr(params, field)
        if field == "num_players" and value != limit:
            raise CompileError(
                f"exact Hanabi is compiled for 2 players, got num_players={value}"
            )
        if value > limit:
            raise CompileError(
                f"exact Hanabi: {field}={value} is over the limit of {limit} "
                "(the states would not fit the dense tables)"
            )


class _Found(NamedTuple):
    """The reachable states and their moves, as the search left them."""

    states: list[dict[str, np.ndarray]]  # per state, its fields
    moves: dict[tuple[int, int], list[tuple[int, float]]]  # (s, a) -> [(s', p)]
    reward: dict[tuple[int, int], float]  # (s, a) -> reward
    legal: np.ndarray  # bool[S, A] of the mover
    initial: dict[int, float]


def _key(fields: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(fields[f]).tobytes() for f in KEY_FIELDS)


def _unstack(batch: HanabiState) -> list[dict[str, np.ndarray]]:
    arrays = {f: np.asarray(getattr(batch, f)) for f in HanabiState._fields}
    size = arrays["hands"].shape[0]
    return [{f: a[k] for f, a in arrays.items()} for k in range(size)]


def _stack(rows: list[dict[str, np.ndarray]], pad: bool = True) -> HanabiState:
    """The rows as one batch, padded (with the first row) to a power of two so that
    the batched rules compile for few sizes."""
    size = 1 << (len(rows) - 1).bit_length() if pad else len(rows)
    rows = rows + rows[:1] * (size - len(rows))
    return HanabiState(
        **{f: jnp.asarray(np.stack([r[f] for r in rows])) for f in HanabiState._fields}
    )


def _left_in_deck(fields: dict[str, np.ndarray], params: HanabiParams) -> np.ndarray:
    """int[C * R]: copies of each card still in the deck."""
    counts = np.tile(np.asarray(params.card_counts), params.num_colors)
    hands = fields["hands"][fields["hands"] >= 0]
    played = [
        color * params.num_ranks + rank
        for color, top in enumerate(fields["fireworks"])
        for rank in range(int(top))
    ]
    used = np.bincount(
        np.concatenate([hands, np.asarray(played, np.int64)]).astype(np.int64),
        minlength=params.num_card_types,
    )
    return counts - used - fields["discards"]


_batch_step = jax.jit(jax.vmap(step, in_axes=(0, 0, None)), static_argnums=2)
_batch_legal = jax.jit(jax.vmap(legal_actions, in_axes=(0, None)), static_argnums=1)
_batch_reset = jax.jit(jax.vmap(reset, in_axes=(None, None, 0)), static_argnums=1)
"""The rules batched over states (over decks, `reset`), one program per batch
size and game for the whole process: every search (each size and horizon
compiled) reuses their traces. (Made per search, each search traced them anew:
a second whole-game search of `hanabi_micro` took 3.1 s, 1.7 with these, about
1 with `describe_action` kept too; measured beside a suite run.)"""


def _search(params: HanabiParams, horizon: int) -> _Found:
    """Every state reachable in `horizon` turns, breadth first, one batched call
    of the rules per turn."""
    num_actions = params.num_actions
    sorted_deck = params.sorted_deck()
    index: dict[bytes, int] = {}
    states: list[dict[str, np.ndarray]] = []

    def add(fields: dict[str, np.ndarray]) -> int:
        key = _key(fields)
        if key not in index:
            if len(states) >= MAX_STATES:
                raise CompileError(
                    f"exact Hanabi {params.num_colors}c x {params.num_ranks}r, "
                    f"{params.max_information_tokens} hints, {params.max_life_tokens} "
                    f"lives at horizon {horizon}: over the limit of {MAX_STATES:,} "
                    "states; cut the game shorter (horizon=...)"
                )
            index[key] = len(states)
            states.append(fields)
        return index[key]

    # The deals: the first two cards of a shuffled deck.
    initial: dict[int, float] = {}
    counts = np.bincount(sorted_deck, minlength=params.num_card_types)
    deals = []
    for first, second in itertools.product(range(params.num_card_types), repeat=2):
        left = counts.copy()
        prob = left[first] / left.sum()
        left[first] -= 1
        prob *= left[second] / left.sum()
        if prob > 0:
            deck = np.concatenate([[first, second], np.delete(sorted_deck, [0, 1])])
            deals.append((deck, prob))
    decks = jnp.asarray(np.stack([d for d, _ in deals]), jnp.int32)
    starts = _unstack(_batch_reset(jax.random.key(0), params, decks))
    for fields, (_, prob) in zip(starts, deals, strict=True):
        s = add(fields)
        initial[s] = initial.get(s, 0.0) + float(prob)

    moves: dict[tuple[int, int], list[tuple[int, float]]] = {}
    reward: dict[tuple[int, int], float] = {}
    legal_rows: dict[int, np.ndarray] = {}
    frontier = sorted(initial)
    for turn in range(horizon):
        final = turn == horizon - 1  # its moves' rewards count, not where they lead
        fresh = [s for s in frontier if s not in legal_rows]
        rows, labels = [], []
        if fresh:
            mask = np.asarray(_batch_legal(_stack([states[s] for s in fresh]), params))
            for s, legal in zip(fresh, mask, strict=False):
                legal_rows[s] = legal
                if not states[s]["terminal"]:
                    rows_of, labels_of = _moves(states[s], legal, params)
                    rows += rows_of
                    labels += [(s, a, prob) for a, prob in labels_of]
        if rows:
            actions = np.zeros(1 << (len(rows) - 1).bit_length(), np.int32)
            actions[: len(labels)] = [a for _, a, _ in labels]
            after, gains, _ = _batch_step(_stack(rows), jnp.asarray(actions), params)
            for fields, gain, (s, a, prob) in zip(
                _unstack(after), np.asarray(gains), labels, strict=False
            ):
                reward[s, a] = float(gain)
                if final:
                    continue
                fields["illegal"] = np.asarray(False)
                fields["deck"] = np.zeros(params.deck_size, np.int32)
                moves.setdefault((s, a), []).append((add(fields), prob))
        if not final:
            frontier = sorted(
                {
                    nxt
                    for s in frontier
                    for a in np.flatnonzero(legal_rows[s])
                    for nxt, _ in moves.get((s, int(a)), [])
                }
                | {s for s in frontier if states[s]["terminal"]}
            )
    legal = np.stack([legal_rows[s] for s in range(len(states))])
    for s, fields in enumerate(states):
        if fields["terminal"]:  # it absorbs; the mover's first move, no choice
            legal[s] = np.arange(num_actions) == 0
    return _Found(states, moves, reward, legal, initial)


def _moves(
    fields: dict[str, np.ndarray], legal: np.ndarray, params: HanabiParams
) -> tuple[list[dict[str, np.ndarray]], list[tuple[int, float]]]:
    """A state's legal moves with every card each may draw: the states to step
    (their decks holding that card next) and (action, probability) labels."""
    left = _left_in_deck(fields, params)
    position = int(fields["deck_position"])
    rows, labels = [], []
    for a in np.flatnonzero(legal):
        draws = a < 2 * params.hand_size and position < params.deck_size
        for card in np.flatnonzero(left) if draws else [-1]:
            deck = np.zeros(params.deck_size, np.int32)
            prob = 1.0
            if card >= 0:
                deck[position] = card
                prob = float(left[card] / left.sum())
            rows.append({**fields, "deck": deck})
            labels.append((int(a), prob))
    return rows, labels


def _card(card: int, params: HanabiParams) -> str:
    return f"{COLOR_CHARS[card // params.num_ranks]}{card % params.num_ranks + 1}"


def _state_name(k: int, fields: dict[str, np.ndarray], params: HanabiParams) -> str:
    hands = " ".join(
        "".join(_card(int(c), params) for c in hand if c >= 0) or "-"
        for hand in fields["hands"]
    )
    board = "".join(
        f"{COLOR_CHARS[c]}{int(top)}" for c, top in enumerate(fields["fireworks"])
    )
    left = params.deck_size - int(fields["deck_position"])
    end = " over" if fields["terminal"] else ""
    return (
        f"s{k} [{hands}] {board} {int(fields['information_tokens'])}h "
        f"{int(fields['life_tokens'])}l deck {left}{end}"
    )


def _observation_name(
    fields: dict[str, np.ndarray], player: int, params: HanabiParams
) -> str:
    """What `player` sees of a state: its partner's hand and the last move."""
    partner = fields["hands"][1 - player]
    sees = "".join(_card(int(c), params) for c in partner if c >= 0) or "-"
    action = int(fields["last_action"])
    if action < 0:
        return f"sees {sees}"
    who = "I" if int(fields["last_player"]) == player else "partner"
    move = describe_action(action, params).replace(" to +1", "")
    card = int(fields["last_card"])
    shown = f" {_card(card, params)}" if card >= 0 else ""
    scored = " scored" if fields["last_scored"] else ""
    return f"sees {sees}; {who}: {move}{shown}{scored}"


def observation_keys(
    states: list[dict[str, np.ndarray]], params: HanabiParams
) -> np.ndarray:
    """object[S, 2]: per state and player, the hands and last-move sections of its
    HLE canonical observation, as bytes (what the player receives)."""
    return observation_bytes(_stack(states), params)[: len(states)]


def kept_sections(batch: HanabiState, params: HanabiParams) -> np.ndarray:
    """uint8[N, P, B]: the hands and last-move sections of every player's HLE
    canonical observation in a batch of JAX states (leading axis N)."""
    sections = canonical_sections(params)
    offsets = np.cumsum([0, *sections.values()])
    where = dict(zip(sections, itertools.pairwise(offsets), strict=False))
    bits = np.asarray(_batch_canonical(batch, params))
    kept = np.concatenate(
        [np.arange(*where["hands"]), np.arange(*where["last_action"])]
    )
    return np.ascontiguousarray(bits[..., kept])


def observation_bytes(batch: HanabiState, params: HanabiParams) -> np.ndarray:
    """`observation_keys` of a batch of JAX states (leading axis N): object[N, P]."""
    rows = kept_sections(batch, params)
    keys = np.empty(rows.shape[:2], object)
    for s, p in np.ndindex(*keys.shape):
        keys[s, p] = rows[s, p].tobytes()
    return keys


def observation_ids(
    batch: HanabiState, params: HanabiParams, compiled: CompiledHanabi
) -> np.ndarray:
    """int64[N, P]: the compiled game's observation id of what each player
    receives in a batch of JAX states, -1 where the compiled game never gives it
    (vectorized: the kept sections compared as whole byte strings)."""
    rows = kept_sections(batch, params)
    as_bytes = np.dtype((np.void, rows.shape[-1] * rows.itemsize))
    keys = rows.view(as_bytes)[..., 0]  # [N, P]
    ids = np.full(keys.shape, -1, np.int64)
    for player, known in enumerate(compiled.observation_ids):
        table = np.frombuffer(b"".join(known), as_bytes)
        values = np.fromiter(known.values(), np.int64, len(known))
        order = np.argsort(table)
        table, values = table[order], values[order]
        at = np.minimum(np.searchsorted(table, keys[:, player]), len(table) - 1)
        ids[:, player] = np.where(table[at] == keys[:, player], values[at], -1)
    return ids


_batch_canonical = jax.jit(jax.vmap(canonical, in_axes=(0, None)), static_argnums=1)


class CompiledHanabi(NamedTuple):
    """A compiled micro Hanabi and what ties it to the JAX game."""

    spec: DecPOMDP
    states: list[dict[str, np.ndarray]]
    """Per spec state, its `HanabiState` fields (the deck order left out)."""
    observation_ids: tuple[dict[bytes, int], ...]
    """Per player, the spec's observation id of each observation it may receive
    (the bytes of the kept sections, `observation_keys`)."""


def hanabi_spec(
    params: HanabiParams, horizon: int | None = None, name: str | None = None
) -> DecPOMDP:
    """The micro Hanabi of `params` as a Dec-POMDP over `horizon` turns (None: the
    whole game, `params.max_game_length` turns). See the module docstring."""
    return compile_hanabi(params, horizon, name).spec


def compile_hanabi(
    params: HanabiParams, horizon: int | None = None, name: str | None = None
) -> CompiledHanabi:
    """`hanabi_spec` with the states and observation ids behind it."""
    check_size(params)
    bound = params.max_game_length
    if horizon is None:
        horizon = bound
    if (
        isinstance(horizon, bool)
        or not isinstance(horizon, int)
        or not (1 <= horizon <= bound)
    ):
        raise CompileError(
            f"exact Hanabi: horizon={horizon!r} must be 1 to {bound}, the most "
            "turns a game of this size lasts"
        )
    found = _search(params, horizon)
    states, num_actions = found.states, params.num_actions
    size = len(states)
    transition = np.zeros((size, num_actions, num_actions, size))
    reward = np.zeros((size, num_actions, num_actions))
    for s, fields in enumerate(states):
        mover = int(fields["current_player"])
        for a in range(num_actions):
            at = (s, a, slice(None)) if mover == 0 else (s, slice(None), a)
            reward[at] = found.reward.get((s, a), 0.0)
            for nxt, prob in found.moves.get((s, a), [(s, 1.0)]):
                transition[(*at, nxt)] += prob
    keys = observation_keys(states, params)
    ids, names, seen_by = [], [], []
    for player in range(2):
        seen: dict[bytes, int] = {}
        labels: list[str] = []
        for s, key in enumerate(keys[:, player]):
            if key not in seen:
                seen[key] = len(seen)
                label = _observation_name(states[s], player, params)
                labels.append(label if label not in labels else f"{label} #{len(seen)}")
        ids.append(np.array([seen[k] for k in keys[:, player]]))
        names.append(tuple(labels))
        seen_by.append(seen)
    joint = np.zeros((size, len(names[0]), len(names[1])))
    joint[np.arange(size), ids[0], ids[1]] = 1.0
    observation = np.broadcast_to(joint, (num_actions, num_actions, *joint.shape))
    initial = np.zeros(size)
    for s, prob in found.initial.items():
        initial[s] = prob
    over = np.array([bool(f["terminal"]) for f in states])
    movers = np.array([int(f["current_player"]) for f in states])
    legal = tuple(
        np.where(((movers == i) & ~over)[:, None], found.legal, True)
        & np.where(over[:, None], np.arange(num_actions) == 0, True)
        for i in range(2)
    )
    actions = tuple(
        describe_action(a, params).replace(" to +1", "") for a in range(num_actions)
    )
    spec = DecPOMDP(
        name=name or default_name(params, horizon),
        horizon=horizon,
        initial=initial,
        transition=transition,
        observation=observation,  # a read-only view: every action alike
        initial_observation=joint,
        reward=reward,
        acting=np.arange(horizon)[:, None] % 2 == np.arange(2)[None, :],
        state_names=tuple(_state_name(k, f, params) for k, f in enumerate(states)),
        agent_names=("player0", "player1"),
        action_names=(actions, actions),
        observation_names=tuple(names),
        legal=legal,
        description=(
            f"Hanabi {params.num_colors} colors x {params.num_ranks} ranks, hands of "
            f"{params.hand_size}, {params.max_information_tokens} hints, "
            f"{params.max_life_tokens} lives, cut after {horizon} turns; compiled "
            "from the rules of games.envs.hanabi (HLE's)"
        ),
    )
    return CompiledHanabi(spec, states, tuple(seen_by))


def default_name(params: HanabiParams, horizon: int) -> str:
    return (
        f"hanabi_{params.num_colors}c{params.num_ranks}r_"
        f"{params.max_information_tokens}h{params.max_life_tokens}l_t{horizon}"
    )


def infostate_indexes(
    compiled: CompiledHanabi, game: TabularGame
) -> tuple[InfostateIndex, ...]:
    """Per player, the trie of the compiled game's information-state keys
    (`game = compile_game(compiled.spec)`), to follow JAX games' histories in
    it: `observation_ids` of every state, each player's own moves."""
    return tuple(
        InfostateIndex.of(keys, compiled.spec.num_observations[i], game.num_actions[i])
        for i, keys in enumerate(game.infostate_keys)
    )
