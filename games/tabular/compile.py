"""Compiles a `DecPOMDP` into the dense arrays the exact engines work on.

Done once, outside jit. Two engines evaluate a joint tabular policy exactly:

- **recursion** (`games.tabular.occupancy`): a forward pass over joint
  action-observation histories with the state marginalized (the occupancy state
  of Dibangoye et al. 2016); polynomial in the states, exponential in the
  horizon in the histories.
- **enumeration** (`chance`, `returns`, `infostate`, `action`): every terminal
  history of positive chance probability, state path included, so that

      P(z) = chance(z) * prod_i prod_t pi_i(action_i[z, t] | infostate_i[z, t]).

  Exponential in the horizon in the states as well; kept for small games, where
  it is fastest, and for the sampled learner, which draws whole histories.

Both share one policy layout: agent i's information states are its own
action-observation histories at the steps where it acts (perfect recall), ordered
by step, those of positive probability only; a policy is float[K_i, A_i].
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.tabular.occupancy import (
    CompileError,
    Layout,
    LegalLayout,
    Occupancy,
    build_occupancy,
    legal_unseen,
    recursion_cost,
)
from games.tabular.spec import (
    DecPOMDP,
    MatrixGame,
    action_slices,
    joint_legal,
    reachable_states,
)

ENGINES = ("auto", "recursion", "enumeration")
MAX_ENUMERATED_HISTORIES = 2_000_000
"""Above this many terminal histories the enumeration is refused."""
AUTO_ENUMERATED_HISTORIES = 20_000
"""'auto' also enumerates (for the sampled learner) up to this many histories."""
AUTO_RECURSION_FLOATS = 2**27
"""Under 'auto', a game whose histories can be enumerated skips the recursion
when one of its occupancies would exceed this many floats (turn-based games with
many observations, such as the compiled micro Hanabi: few histories, yet joint
histories times states beyond any memory)."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularGame:
    """A compiled game: arrays (pytree leaves) plus static metadata.

    Agent i has K_i information states and A_i actions. `occupancy` holds the
    forward recursion; the enumeration (Z terminal histories; agent i decides T_i
    times per episode) is present when the game is small enough:
      chance:    float32[Z], probability of the history's chance events.
      returns:   float32[Z], discounted return of the history.
      infostate: per agent int32[Z, T_i], information state at its t-th decision.
      action:    per agent int32[Z, T_i], action taken at that decision.
    parent / parent_action: per agent int32[K_i], the agent's previous decision
    (information state, action) on the way to each information state, -1 at its
    first decision (sequence form: Koller, Megiddo, von Stengel 1994).
    legal: per agent bool[K_i, A_i], the actions allowed at each information
    state, or None when every action is (`DecPOMDP.legal`).
    Static: `engine` ('recursion' or 'enumeration') is the one values use;
    `infostate_keys[i][k]` is information state k as the agent's own history, a
    tuple of ("o", observation) and ("a", action) index pairs, and
    `infostate_labels[i][k]` the same with names; `decision_rows[i]` the
    (start, stop) rows of each of agent i's decision steps, in order.
    """

    occupancy: Occupancy
    # The enumeration's arrays are None when it was not built (`has_histories`).
    chance: jax.Array
    returns: jax.Array
    infostate: tuple[jax.Array, ...]
    action: tuple[jax.Array, ...]
    parent: tuple[jax.Array, ...]
    parent_action: tuple[jax.Array, ...]
    legal: tuple[jax.Array, ...] | None
    name: str = dataclasses.field(metadata=dict(static=True))
    num_infostates: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))
    action_names: tuple[tuple[str, ...], ...] = dataclasses.field(
        metadata=dict(static=True)
    )
    infostate_labels: tuple[tuple[str, ...], ...] = dataclasses.field(
        metadata=dict(static=True)
    )
    infostate_keys: tuple[tuple[tuple, ...], ...] = dataclasses.field(
        metadata=dict(static=True)
    )
    decision_rows: tuple[tuple[tuple[int, int], ...], ...] = dataclasses.field(
        metadata=dict(static=True)
    )
    is_matrix_game: bool = dataclasses.field(metadata=dict(static=True))
    engine: str = dataclasses.field(metadata=dict(static=True))
    reward_span: float = dataclasses.field(metadata=dict(static=True))
    horizon: int = dataclasses.field(metadata=dict(static=True))

    @property
    def num_agents(self) -> int:
        return len(self.num_infostates)

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(len(names) for names in self.action_names)

    @property
    def num_histories(self) -> int:
        if self.chance is None:
            raise CompileError(
                f"game '{self.name}' was compiled without enumerating its histories"
            )
        return int(self.chance.shape[0])

    @property
    def has_histories(self) -> bool:
        return self.chance is not None

    @property
    def policy_shapes(self) -> tuple[tuple[int, int], ...]:
        """Per agent, the shape [K_i, A_i] of its tabular policy."""
        return tuple(zip(self.num_infostates, self.num_actions, strict=True))

    @property
    def reward_range(self) -> float:
        """max - min of the achievable returns (1.0 for a constant game); with the
        recursion, an upper bound: the sum over steps of each step's reward spread."""
        return self.reward_span


def compile_game(
    spec: DecPOMDP | MatrixGame,
    engine: str = "auto",
    max_floats: int | None = None,
) -> TabularGame:
    """Compiles `spec` for the exact engines.

    engine: 'recursion' (the occupancy forward pass), 'enumeration' (terminal
    histories), or 'auto': the enumeration when it is cheaper than the
    recursion, else the recursion. Histories are also enumerated under 'auto'
    when there are few (AUTO_ENUMERATED_HISTORIES), for the sampled learner.
    max_floats: refuse (CompileError) a recursion whose largest intermediate
    would exceed this many floats for one evaluation. Under 'auto' a game with
    few enough histories is enumerated instead, without building its recursion,
    when the recursion would exceed this or AUTO_RECURSION_FLOATS.
    """
    if engine not in ENGINES:
        raise CompileError(f"engine must be one of {ENGINES}, got {engine!r}")
    is_matrix = isinstance(spec, MatrixGame)
    game = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    n = game.num_agents
    num_histories = count_histories(game)
    enumerable = num_histories <= MAX_ENUMERATED_HISTORIES
    limit = max_floats
    if engine != "recursion" and enumerable:
        limit = min(limit or AUTO_RECURSION_FLOATS, AUTO_RECURSION_FLOATS)
    try:
        occupancy, layout, legal_layout = build_occupancy(game, limit)
    except CompileError:
        if engine == "recursion" or not enumerable:
            raise
        return _enumerated_only(game, is_matrix)
    keys = [
        [key for t in range(game.horizon) if game.acting[t, i] for key in layout[i][t]]
        for i in range(n)
    ]
    key_index = [{key: k for k, key in enumerate(agent_keys)} for agent_keys in keys]
    enumeration_cost = num_histories * (1 + int(game.acting.sum()))
    occupancy_cost = recursion_cost(occupancy)
    if engine == "auto":
        cheaper = enumeration_cost <= occupancy_cost
        allowed = num_histories <= MAX_ENUMERATED_HISTORIES
        engine = "enumeration" if cheaper and allowed else "recursion"
    enumerate_now = (
        engine == "enumeration" or num_histories <= AUTO_ENUMERATED_HISTORIES
    )
    if enumerate_now and num_histories > MAX_ENUMERATED_HISTORIES:
        raise CompileError(
            f"game '{game.name}' has {num_histories:,} terminal histories, over the "
            f"enumeration's limit of {MAX_ENUMERATED_HISTORIES:,}; use the recursion"
        )
    histories = _enumerate(game, key_index)[0] if enumerate_now else None
    return _compiled(
        game,
        is_matrix,
        occupancy,
        histories,
        layout,
        legal_layout,
        engine if histories is not None else "recursion",
    )


def _enumerated_only(game: DecPOMDP, is_matrix: bool) -> TabularGame:
    """The enumeration alone: its walk finds the histories (and legal actions)
    that the recursion would have laid out."""
    histories, layout, legal_layout = _enumerate(game, None)
    return _compiled(
        game, is_matrix, None, histories, layout, legal_layout, "enumeration"
    )


def _compiled(
    game: DecPOMDP,
    is_matrix: bool,
    occupancy: Occupancy | None,
    histories: Histories | None,
    layout: Layout,
    legal_layout: LegalLayout,
    engine: str,
) -> TabularGame:
    n = game.num_agents
    keys = [
        [key for t in range(game.horizon) if game.acting[t, i] for key in layout[i][t]]
        for i in range(n)
    ]
    key_index = [{key: k for k, key in enumerate(agent_keys)} for agent_keys in keys]
    parents = [_parents(agent_keys, key_index[i]) for i, agent_keys in enumerate(keys)]
    rows = []
    for i in range(n):
        spans, start = [], 0
        for t in range(game.horizon):
            if game.acting[t, i]:
                spans.append((start, start + len(layout[i][t])))
                start += len(layout[i][t])
        rows.append(tuple(spans))
    arrays: tuple = (None,) * 4  # the enumeration's, when it was built
    if histories is not None:
        arrays = (
            jnp.asarray(histories.chance, jnp.float32),
            jnp.asarray(histories.returns, jnp.float32),
            tuple(map(jnp.asarray, histories.infostate)),
            tuple(map(jnp.asarray, histories.action)),
        )
    return TabularGame(
        occupancy=occupancy,  # type: ignore[arg-type]
        chance=arrays[0],
        returns=arrays[1],
        infostate=arrays[2],
        action=arrays[3],
        parent=tuple(jnp.asarray(p[0]) for p in parents),
        parent_action=tuple(jnp.asarray(p[1]) for p in parents),
        legal=None
        if legal_layout is None
        else tuple(
            jnp.asarray(np.concatenate([np.zeros((0, width), bool), *masks]))
            for width, masks in zip(game.num_actions, legal_layout, strict=True)
        ),
        name=game.name,
        num_infostates=tuple(len(agent_keys) for agent_keys in keys),
        action_names=game.action_names,
        infostate_labels=tuple(
            tuple(_label(game, i, key) for key in agent_keys)
            for i, agent_keys in enumerate(keys)
        ),
        infostate_keys=tuple(tuple(agent_keys) for agent_keys in keys),
        decision_rows=tuple(rows),
        is_matrix_game=is_matrix,
        engine=engine,
        reward_span=_return_spread(game),
        horizon=game.horizon,
    )


def _return_spread(game: DecPOMDP) -> float:
    """max - min of the returns of terminal histories of positive probability, by
    dynamic programming over (step, state); 1.0 for a constant game."""
    reach = reachable_states(game)
    best = worst = np.zeros(game.num_states)
    for t in range(game.horizon - 1, -1, -1):
        slices = action_slices(game, t)
        reward = game.reward[(slice(None), *slices)] * game.discount**t
        reward = reward.reshape(game.num_states, -1)
        legal = joint_legal(game, t)
        allowed = True if legal is None else legal.reshape(game.num_states, -1)
        if t < game.horizon - 1:
            moves = (
                game.transition[(slice(None), *slices)].reshape(
                    game.num_states, -1, game.num_states
                )
                > 0
            )
            ahead_best = np.where(moves, best[None, None], -np.inf).max(-1)
            ahead_worst = np.where(moves, worst[None, None], np.inf).min(-1)
        else:
            ahead_best = ahead_worst = np.zeros_like(reward)
        best = np.where(
            reach[t], np.where(allowed, reward + ahead_best, -np.inf).max(-1), -np.inf
        )
        worst = np.where(
            reach[t], np.where(allowed, reward + ahead_worst, np.inf).min(-1), np.inf
        )
    start = game.initial > 0
    spread = float(best[start].max() - worst[start].min())
    return spread if spread > 0 else 1.0


def count_histories(game: DecPOMDP) -> int:
    """The number of terminal histories of positive chance probability (state
    paths, joint actions and joint observations), by a counting recursion."""
    n = game.num_agents
    count = (game.initial > 0).astype(np.float64)
    if game.initial_observation is not None:
        count = count * (game.initial_observation.reshape(game.num_states, -1) > 0).sum(
            axis=1
        )
    for t in range(game.horizon):
        slices = action_slices(game, t)
        legal = joint_legal(game, t)
        if t == game.horizon - 1:
            if legal is not None:
                return round(count @ legal.reshape(game.num_states, -1).sum(-1))
            choices = math.prod(
                game.num_actions[i] if game.acting[t, i] else 1 for i in range(n)
            )
            return round(count.sum() * choices)
        moves = game.transition[(slice(None), *slices)] > 0  # [S, B..., S']
        moves = moves.reshape(game.num_states, -1, game.num_states)
        if legal is not None:
            moves = moves & legal.reshape(game.num_states, -1, 1)
        observed = game.observation[slices] > 0  # [B..., S', O...]
        branches = observed.reshape(moves.shape[1], game.num_states, -1).sum(-1)
        count = np.einsum("s,sbq,bq->q", count, moves * 1.0, branches * 1.0)
    raise AssertionError("unreachable")


def _parents(keys: list[tuple], index: dict[tuple, int]) -> tuple[np.ndarray, ...]:
    """Per information state, the agent's previous decision (state, action) on the
    way to it, -1 for its first decision."""
    parent = np.full(len(keys), -1, np.int32)
    parent_action = np.full(len(keys), -1, np.int32)
    for k, key in enumerate(keys):
        for cut in range(len(key) - 1, -1, -1):
            if key[cut][0] == "a":
                parent[k] = index[key[:cut]]
                parent_action[k] = key[cut][1]
                break
    return parent, parent_action


def _initial_partials(game: DecPOMDP) -> list[tuple]:
    """The partial histories before the first step: (state, prob, discounted
    return, each agent's views, each agent's choices), one per initial state
    and, where the game has one, initial observation."""
    n, num_obs = game.num_agents, game.num_observations
    empty = tuple(() for _ in range(n))
    partials: list[tuple] = []
    for s in np.flatnonzero(game.initial):
        if game.initial_observation is None:
            partials.append((int(s), float(game.initial[s]), 0.0, empty, empty))
            continue
        table = game.initial_observation[s]
        for flat in np.flatnonzero(table):
            first = np.unravel_index(flat, num_obs)
            views = tuple((("o", int(o)),) for o in first)
            prob = float(game.initial[s]) * float(table.flat[flat])
            partials.append((int(s), prob, 0.0, views, empty))
    return partials


def _met_legal(
    game: DecPOMDP, met: list[list[dict[tuple, tuple[np.ndarray | None, int]]]]
) -> LegalLayout:
    """The legal actions of the information states the walk met (per agent,
    per acting step: bool[states, A_i]); None for a game without them."""
    if game.legal is None:
        return None
    return [
        [
            np.asarray([step[view][0] for view in step], dtype=np.bool_).reshape(
                len(step), game.num_actions[i]
            )
            for t, step in enumerate(met[i])
            if game.acting[t, i]
        ]
        for i in range(game.num_agents)
    ]


def _enumerate(
    game: DecPOMDP, key_index: list[dict[tuple, int]] | None
) -> tuple[Histories, Layout, LegalLayout]:
    """Every terminal history of positive chance probability, as arrays (chance,
    returns, per agent infostate and action columns). Without `key_index` the
    walk lays out the information states itself (per agent and step, in the order
    first met) with their legal actions; else it returns `key_index`'s."""
    n = game.num_agents
    # Per agent and step: its views there, in the order first met, and the
    # legal actions of each (and a state that has them).
    met: list[list[dict[tuple, tuple[np.ndarray | None, int]]]] = [
        [{} for _ in range(game.horizon)] for _ in range(n)
    ]
    num_obs = game.num_observations
    partials = _initial_partials(game)
    for t in range(game.horizon):
        acting = game.acting[t]
        options = [range(game.num_actions[i]) if acting[i] else (0,) for i in range(n)]
        scale = game.discount**t
        after = []
        legal = joint_legal(game, t)
        for state, prob, ret, views, choices in partials:
            for i in range(n):
                if acting[i] and key_index is None:
                    _meet(game, met[i][t], i, t, views[i], state)
            for joint in itertools.product(*options):
                if legal is not None and not legal[(state, *joint)]:
                    continue
                seen = tuple(
                    views[i] + (("a", a),) if acting[i] else views[i]
                    for i, a in enumerate(joint)
                )
                chosen = tuple(
                    choices[i] + ((views[i], a),) if acting[i] else choices[i]
                    for i, a in enumerate(joint)
                )
                value = ret + scale * float(game.reward[(state, *joint)])
                if t == game.horizon - 1:
                    after.append((state, prob, value, seen, chosen))
                    continue
                moves = game.transition[(state, *joint)]
                signals = game.observation[joint]  # [S', O_1..O_n]
                for nxt in np.flatnonzero(moves):
                    table = signals[nxt]
                    for flat in np.flatnonzero(table):
                        obs = np.unravel_index(flat, num_obs)
                        after.append(
                            (
                                int(nxt),
                                prob * float(moves[nxt]) * float(table.flat[flat]),
                                value,
                                tuple(
                                    seen[i] + (("o", int(o)),)
                                    for i, o in enumerate(obs)
                                ),
                                chosen,
                            )
                        )
        partials = after

    layout: Layout = [[list(step) for step in agent] for agent in met]
    legal_layout: LegalLayout = None
    if key_index is None:
        legal_layout = _met_legal(game, met)
        key_index = [
            {key: k for k, key in enumerate(key for step in agent for key in step)}
            for agent in layout
        ]

    def column(agent: int, k: int) -> np.ndarray:
        index = key_index[agent]
        return np.array(
            [[index[c[0]] if k == 0 else c[1] for c in p[4][agent]] for p in partials],
            dtype=np.int32,
        ).reshape(len(partials), -1)

    arrays = Histories(
        np.array([p[1] for p in partials], dtype=np.float64),
        np.array([p[2] for p in partials], dtype=np.float64),
        tuple(column(i, 0) for i in range(n)),
        tuple(column(i, 1) for i in range(n)),
    )
    return arrays, layout, legal_layout


class Histories(NamedTuple):
    """The enumeration in NumPy: chance and returns in float64 (each a product
    or sum over the history of the spec's float64 numbers, rounded once per
    operation), per agent the information state and action of its decisions
    (int32[Z, T_i]); `TabularGame`'s fields of the same names, before float32."""

    chance: np.ndarray
    returns: np.ndarray
    infostate: tuple[np.ndarray, ...]
    action: tuple[np.ndarray, ...]


def float64_histories(spec: DecPOMDP | MatrixGame, game: TabularGame) -> Histories:
    """`spec`'s terminal histories in the policy layout of `game` (its
    compilation), in float64: for computations that the float32 of the engines
    would spoil (`marl.tabular.verified`)."""
    decpomdp = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    count = count_histories(decpomdp)
    if count > MAX_ENUMERATED_HISTORIES:
        raise CompileError(
            f"game '{game.name}' has {count:,} terminal histories, over the "
            f"enumeration's limit of {MAX_ENUMERATED_HISTORIES:,}"
        )
    key_index = [{key: k for k, key in enumerate(keys)} for keys in game.infostate_keys]
    return _enumerate(decpomdp, key_index)[0]


def _meet(
    game: DecPOMDP, seen: dict, agent: int, t: int, view: tuple, state: int
) -> None:
    """Records `view` among the agent's views at step t (with its legal actions,
    which must be those of every state met there)."""
    legal = None if game.legal is None else game.legal[agent]
    if view not in seen:
        seen[view] = (None if legal is None else legal[state], state)
        return
    allowed, first = seen[view]
    if legal is not None and not np.array_equal(allowed, legal[state]):
        raise CompileError(legal_unseen(game, agent, t, first, state))


def _label(game: DecPOMDP, agent: int, view: tuple) -> str:
    """A readable name for an information state, e.g. 'cat [m0] ...'."""
    words = []
    for kind, index in view:
        names = (
            game.observation_names[agent] if kind == "o" else game.action_names[agent]
        )
        words.append(names[index] if kind == "o" else f"[{names[index]}]")
    return " ".join(words) if words else "(start)"
