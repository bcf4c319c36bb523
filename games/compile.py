"""Compiles a `DecPOMDP` into the dense arrays the exact engines work on.

Done once, outside jit. Two engines evaluate a joint tabular policy exactly:

- **recursion** (`Occupancy`): a forward pass over joint action-observation
  histories with the state marginalized, the occupancy state
  eta_t(s, h_1, ..., h_n) of Dibangoye et al. 2016 ("Optimally solving Dec-POMDPs
  as continuous-state MDPs", JAIR 55). Cost and memory per step are
  |S_t| x prod_i |H_i^t| |A_i| |O_i|, where H_i^t are agent i's reachable
  histories at step t (at most (|A_i||O_i|)^t) and S_t the reachable states.
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
import string

import jax
import jax.numpy as jnp
import numpy as np
import opt_einsum

from games.spec import DecPOMDP, MatrixGame

ENGINES = ("auto", "recursion", "enumeration")
MAX_ENUMERATED_HISTORIES = 2_000_000
"""Above this many terminal histories the enumeration is refused."""
AUTO_ENUMERATED_HISTORIES = 20_000
"""'auto' also enumerates (for the sampled learner) up to this many histories."""
FLOAT_BYTES = 4


class CompileError(ValueError):
    """A game cannot be compiled as asked (too large, wrong engine)."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OccupancyStep:
    """Step t of the forward recursion, restricted to what can happen.

    S_t reachable states, H_i histories of agent i at step t, B_i = A_i if agent i
    acts at t else 1 (its placeholder action 0), O_i observations.
      reward:      float32[S_t, B_1..B_n], discount^t R(s, joint action).
      transition:  float32[S_t, B_1..B_n, S_{t+1}] (absent at the last step).
      observation: float32[B_1..B_n, S_{t+1}, O_1..O_n] (absent at the last step).
      children:    per agent int32[H_i^{t+1}]: which flat (h, b, o) index of
                   [H_i, B_i, O_i] each history of step t+1 extends.
    Static: `acting[i]`, and `rows[i]`, the first row of step t's information
    states in agent i's policy table.
    """

    reward: jax.Array
    transition: jax.Array | None
    observation: jax.Array | None
    children: tuple[jax.Array, ...]
    acting: tuple[bool, ...] = dataclasses.field(metadata=dict(static=True))
    rows: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))
    histories: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Occupancy:
    """The forward recursion: eta_0 = `initial` float32[S_0, H_1^0..H_n^0] and one
    `OccupancyStep` per step."""

    initial: jax.Array
    steps: tuple[OccupancyStep, ...]

    @property
    def peak_floats(self) -> int:
        """Largest intermediate of one evaluation of the value and reach (floats):
        for every step but the last two, the decision tensor [S_t, (H B)_1, ...]
        or the expanded occupancy [S_{t+1}, (H B O)_1, ...]; for the last two, the
        largest intermediate of their contractions from eta_{T-2}
        (`last_two_steps_subscripts`). The distribution of play, built only on
        demand (`marl.crossplay.count_conventions`, one seed at a time), also
        builds the last occupancy and the table [(H B)_1, ..., (H B)_n]."""
        peak = 0
        for t, step in enumerate(self.steps):
            states = step.reward.shape[0]
            widths = step.reward.shape[1:]
            if step.observation is None:
                return max(
                    peak,
                    states
                    * math.prod(
                        h * b for h, b in zip(step.histories, widths, strict=True)
                    ),
                )
            if self.steps[t + 1].observation is None:
                paths, operand = _last_two_steps_paths(step, self.steps[t + 1])
                return max(peak, operand, *(int(p.largest_intermediate) for p in paths))
            peak = max(
                peak,
                states
                * math.prod(h * b for h, b in zip(step.histories, widths, strict=True)),
            )
            num_obs = step.observation.shape[-len(step.histories) :]
            after = step.observation.shape[len(step.histories)]
            expand = after * math.prod(
                h * b * o
                for h, b, o in zip(step.histories, widths, num_obs, strict=True)
            )
            peak = max(peak, expand, states * expand // max(after, 1))
        return peak


def last_two_steps_subscripts(n: int) -> tuple[str, str, tuple[str, ...]]:
    """Einsum subscripts that give the last two steps of the recursion from the
    occupancy eta_{T-2} without building eta_{T-1} (`marl.exact`): (step T-2's
    expected reward, step T-1's expected reward, per agent step T-1's reach over
    its (h, b, o) extensions of step T-2's histories). The operands, in order:
    eta [S, H_1..H_n], the n policies [H_i, B_i] of step T-2, T [S, B.., S'],
    O [B.., S', O_1..O_n], the n policies of step T-1 laid out as
    [H_i, B_i, O_i, A_i] and the last reward [S', A_1..A_n] (the reaches take the
    operands up to O)."""
    hb = letters(2 * n, "sqz")
    hist, acts = hb[0::2], hb[1::2]
    obs = letters(n, "sqz" + hb)
    final = letters(n, "sqz" + hb + obs)
    now = f"s{hist}," + ",".join(f"{hist[i]}{acts[i]}" for i in range(n))
    moves = f"{now},s{acts}q,{acts}q{obs}"
    own = [hist[i] + acts[i] + obs[i] for i in range(n)]
    laid_out = ",".join(o + f for o, f in zip(own, final, strict=True))
    return (
        f"{now},s{acts}->",
        f"{moves},{laid_out},q{final}->",
        tuple(f"{moves}->{own[i]}" for i in range(n)),
    )


def _last_two_steps_paths(step: OccupancyStep, last: OccupancyStep) -> tuple[list, int]:
    """opt_einsum's optimal paths (jnp.einsum's with optimize='optimal') for the
    contractions of `last_two_steps_subscripts`, and the largest operand."""
    assert step.transition is not None and step.observation is not None
    n = len(step.histories)
    widths = step.reward.shape[1:]
    num_obs = step.observation.shape[n + 1 :]
    laid_out = list(
        zip(step.histories, widths, num_obs, last.reward.shape[1:], strict=True)
    )
    shapes = [
        (step.reward.shape[0], *step.histories),
        *zip(step.histories, widths, strict=True),
        step.transition.shape,
        step.observation.shape,
    ]
    now, later, reaches = last_two_steps_subscripts(n)
    return [
        opt_einsum.contract_path(
            subscripts, *operands, shapes=True, optimize="optimal"
        )[1]
        for subscripts, operands in [
            (now, [*shapes[: n + 1], step.reward.shape]),
            (later, [*shapes, *laid_out, last.reward.shape]),
            *((reach, shapes) for reach in reaches),
        ]
    ], max(math.prod(x) for x in [*shapes, *laid_out])


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


def letters(count: int, skip: str = "") -> str:
    """`count` distinct einsum letters, avoiding those in `skip`."""
    pool = [c for c in string.ascii_letters if c not in skip]
    return "".join(pool[:count])


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
    would exceed this many floats for one evaluation.
    """
    if engine not in ENGINES:
        raise CompileError(f"engine must be one of {ENGINES}, got {engine!r}")
    is_matrix = isinstance(spec, MatrixGame)
    game = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    n = game.num_agents
    occupancy, layout = _build_occupancy(game, max_floats)
    keys = [
        [key for t in range(game.horizon) if game.acting[t, i] for key in layout[i][t]]
        for i in range(n)
    ]
    key_index = [{key: k for k, key in enumerate(agent_keys)} for agent_keys in keys]
    num_histories = count_histories(game)
    enumeration_cost = num_histories * (1 + int(game.acting.sum()))
    recursion_cost = _recursion_cost(occupancy)
    if engine == "auto":
        cheaper = enumeration_cost <= recursion_cost
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
    histories = _enumerate(game, key_index) if enumerate_now else None
    parents = [_parents(agent_keys, key_index[i]) for i, agent_keys in enumerate(keys)]
    rows = []
    for i in range(n):
        spans, start = [], 0
        for t in range(game.horizon):
            if game.acting[t, i]:
                spans.append((start, start + len(layout[i][t])))
                start += len(layout[i][t])
        rows.append(tuple(spans))
    return TabularGame(
        occupancy=occupancy,
        chance=None if histories is None else histories[0],  # type: ignore[arg-type]
        returns=None if histories is None else histories[1],  # type: ignore[arg-type]
        infostate=None if histories is None else histories[2],  # type: ignore[arg-type]
        action=None if histories is None else histories[3],  # type: ignore[arg-type]
        parent=tuple(jnp.asarray(p[0]) for p in parents),
        parent_action=tuple(jnp.asarray(p[1]) for p in parents),
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
        engine=engine if histories is not None else "recursion",
        reward_span=_return_spread(game),
        horizon=game.horizon,
    )


def _return_spread(game: DecPOMDP) -> float:
    """max - min of the returns of terminal histories of positive probability, by
    dynamic programming over (step, state); 1.0 for a constant game."""
    reach = _reachable_states(game)
    best = worst = np.zeros(game.num_states)
    for t in range(game.horizon - 1, -1, -1):
        slices = _action_slices(game, t)
        reward = game.reward[(slice(None), *slices)] * game.discount**t
        reward = reward.reshape(game.num_states, -1)
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
        best = np.where(reach[t], (reward + ahead_best).max(-1), -np.inf)
        worst = np.where(reach[t], (reward + ahead_worst).min(-1), np.inf)
    start = game.initial > 0
    spread = float(best[start].max() - worst[start].min())
    return spread if spread > 0 else 1.0


def _action_slices(game: DecPOMDP, t: int) -> tuple:
    return tuple(
        slice(None) if game.acting[t, i] else slice(0, 1)
        for i in range(game.num_agents)
    )


def _reachable_states(game: DecPOMDP) -> list[np.ndarray]:
    """Per step, bool[S]: reachable under some joint action."""
    reach = [game.initial > 0]
    for t in range(game.horizon - 1):
        moves = game.transition[reach[-1]][(slice(None), *_action_slices(game, t))]
        reach.append(moves.reshape(-1, game.num_states).max(axis=0) > 0)
    return reach


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
        slices = _action_slices(game, t)
        if t == game.horizon - 1:
            choices = math.prod(
                game.num_actions[i] if game.acting[t, i] else 1 for i in range(n)
            )
            return round(count.sum() * choices)
        moves = game.transition[(slice(None), *slices)] > 0  # [S, B..., S']
        moves = moves.reshape(game.num_states, -1, game.num_states)
        observed = game.observation[slices] > 0  # [B..., S', O...]
        branches = observed.reshape(moves.shape[1], game.num_states, -1).sum(-1)
        count = np.einsum("s,sbq,bq->q", count, moves * 1.0, branches * 1.0)
    raise AssertionError("unreachable")


def _build_occupancy(
    game: DecPOMDP, max_floats: int | None
) -> tuple[Occupancy, list[list[list[tuple]]]]:
    """The recursion's arrays, and per agent and step the reachable histories,
    found by running the recursion once in NumPy under the uniform policy (which
    reaches every history that any policy reaches)."""
    n = game.num_agents
    reach_states = _reachable_states(game)
    states = [np.flatnonzero(r) for r in reach_states]
    num_obs = game.num_observations
    # Step 0: the first state and, if any, the first joint observation.
    first = game.initial[states[0]]
    layout: list[list[list[tuple]]] = [[] for _ in range(n)]
    if game.initial_observation is None:
        eta = first.reshape(-1, *([1] * n))
        for i in range(n):
            layout[i].append([()])
    else:
        joint = game.initial_observation[states[0]] * first.reshape(
            -1, *([1] * n)
        )  # [S_0, O_1..O_n]
        kept = []
        for i in range(n):
            others = tuple(a for a in range(n + 1) if a != i + 1)
            seen = np.flatnonzero(joint.sum(axis=others) > 0)
            kept.append(seen)
            layout[i].append([(("o", int(o)),) for o in seen])
        eta = joint[np.ix_(np.arange(len(states[0])), *kept)]
    initial = eta
    steps = []
    rows = [0] * n
    for t in range(game.horizon):
        acting = tuple(bool(game.acting[t, i]) for i in range(n))
        slices = _action_slices(game, t)
        histories = tuple(len(layout[i][t]) for i in range(n))
        reward = game.reward[states[t]][(slice(None), *slices)] * game.discount**t
        step_rows = tuple(rows)
        for i in range(n):
            if acting[i]:
                rows[i] += histories[i]
        if t == game.horizon - 1:
            steps.append(
                OccupancyStep(
                    reward=jnp.asarray(reward, jnp.float32),
                    transition=None,
                    observation=None,
                    children=tuple(jnp.zeros(0, jnp.int32) for _ in range(n)),
                    acting=acting,
                    rows=step_rows,
                    histories=histories,
                )
            )
            break
        transition = game.transition[states[t]][(slice(None), *slices)][
            ..., states[t + 1]
        ]
        observation = game.observation[slices][..., states[t + 1], *([slice(None)] * n)]
        width = [game.num_actions[i] if acting[i] else 1 for i in range(n)]
        if t == game.horizon - 2:
            # The last occupancy is never built (`marl.exact` contracts the last
            # two steps from this one): each agent's reachable extensions are
            # read from its marginal, contracted from eta like its reach.
            uniform = [
                np.full((h, b), 1.0 / b) for h, b in zip(histories, width, strict=True)
            ]
            masses = [
                np.einsum(
                    reach, eta, *uniform, transition, observation, optimize="optimal"
                ).ravel()
                for reach in last_two_steps_subscripts(n)[2]
            ]
        else:
            _check_size(
                game, t, len(states[t + 1]), histories, width, num_obs, max_floats
            )
            # Uniform policy: every action of an acting agent has probability 1/B_i.
            decide = eta
            for i in range(n):
                decide = np.expand_dims(decide, axis=2 + 2 * i) / width[i]
                decide = np.repeat(decide, width[i], axis=2 + 2 * i)
            expanded = expand(np, decide, transition, observation, n)
            masses = [
                expanded.sum(axis=tuple(a for a in range(expanded.ndim) if a != 1 + i))
                for i in range(n)
            ]
        children = []
        kept = []
        for i in range(n):
            alive = np.flatnonzero(masses[i] > 0)
            children.append(alive.astype(np.int32))
            kept.append(alive)
            hb = width[i] * num_obs[i]
            layout[i].append(
                [
                    layout[i][t][c // hb]
                    + ((("a", (c // num_obs[i]) % width[i]),) if acting[i] else ())
                    + (("o", c % num_obs[i]),)
                    for c in alive
                ]
            )
        if t < game.horizon - 2:
            eta = expanded[np.ix_(np.arange(expanded.shape[0]), *kept)]
        steps.append(
            OccupancyStep(
                reward=jnp.asarray(reward, jnp.float32),
                transition=jnp.asarray(transition, jnp.float32),
                observation=jnp.asarray(observation, jnp.float32),
                children=tuple(jnp.asarray(c) for c in children),
                acting=acting,
                rows=step_rows,
                histories=histories,
            )
        )
    return Occupancy(jnp.asarray(initial, jnp.float32), tuple(steps)), layout


def _check_size(game, t, next_states, histories, width, num_obs, max_floats) -> None:
    if max_floats is None:
        return
    size = next_states * math.prod(
        h * b * o for h, b, o in zip(histories, width, num_obs, strict=True)
    )
    if size > max_floats:
        raise CompileError(
            f"game '{game.name}' at horizon {game.horizon}: the occupancy after step "
            f"{t + 1} has {size:,} entries ({size * FLOAT_BYTES / 2**30:.1f} GiB), "
            f"over the limit of {max_floats:,}; try a shorter horizon"
        )


def expand(xp, decide, transition, observation, n: int):
    """eta_{t+1} before pruning: [S', (H B O)_1, ..., (H B O)_n] from the decision
    tensor [S, H_1, B_1, ..., H_n, B_n] (occupancy times policies).

    sum_s decide[s, h, b] T[s, b, s'] O[b, s', o], each agent's (h, b, o) flattened.
    """
    hb = letters(2 * n, "sqz")
    obs = letters(n, "sqz" + hb)
    acts = hb[1::2]
    moved = xp.einsum(f"s{hb},s{acts}q->q{hb}", decide, transition)
    out = "q" + "".join(hb[2 * i : 2 * i + 2] + obs[i] for i in range(n))
    expanded = xp.einsum(f"q{hb},{acts}q{obs}->{out}", moved, observation)
    shape = expanded.shape
    return expanded.reshape(
        shape[0], *(math.prod(shape[1 + 3 * i : 4 + 3 * i]) for i in range(n))
    )


def _recursion_cost(occupancy: Occupancy) -> int:
    """A work estimate comparable to the enumeration's Z x decisions: the floats
    touched per evaluation, plus a fixed cost per step for the operations. The
    last two steps' contractions count a third of their intermediates' floats:
    on the 2-core CPU of docs/tabular.md they are about three times cheaper per
    float than the enumeration's gathers (box pushing and Mars rovers at horizon
    3 and 4 set the factor: it picks the faster engine for each)."""
    total = 0
    for t, step in enumerate(occupancy.steps):
        states, widths = step.reward.shape[0], step.reward.shape[1:]
        total += 64
        if step.observation is not None and occupancy.steps[t + 1].observation is None:
            paths, _ = _last_two_steps_paths(step, occupancy.steps[t + 1])
            return total + sum(sum(p.size_list) for p in paths) // 3
        total += states * math.prod(
            h * b for h, b in zip(step.histories, widths, strict=True)
        )
        if step.transition is not None and step.observation is not None:
            after = step.transition.shape[-1]
            total += (
                after
                * math.prod(h * b for h, b in zip(step.histories, widths, strict=True))
                * (states + math.prod(step.observation.shape[-len(step.histories) :]))
            )
    return total


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


def _enumerate(game: DecPOMDP, key_index: list[dict[tuple, int]]) -> tuple:
    """Every terminal history of positive chance probability, as arrays."""
    n = game.num_agents
    num_obs = game.num_observations
    # A partial history: (state, prob, discounted return, views, choices).
    partials: list[tuple] = []
    for s in np.flatnonzero(game.initial):
        empty = tuple(() for _ in range(n))
        if game.initial_observation is None:
            partials.append((int(s), float(game.initial[s]), 0.0, empty, empty))
            continue
        table = game.initial_observation[s]
        for flat in np.flatnonzero(table):
            first = np.unravel_index(flat, num_obs)
            views = tuple((("o", int(o)),) for o in first)
            prob = float(game.initial[s]) * float(table.flat[flat])
            partials.append((int(s), prob, 0.0, views, empty))
    for t in range(game.horizon):
        acting = game.acting[t]
        options = [range(game.num_actions[i]) if acting[i] else (0,) for i in range(n)]
        scale = game.discount**t
        after = []
        for state, prob, ret, views, choices in partials:
            ids = [key_index[i][views[i]] if acting[i] else -1 for i in range(n)]
            for joint in itertools.product(*options):
                seen = tuple(
                    views[i] + (("a", a),) if acting[i] else views[i]
                    for i, a in enumerate(joint)
                )
                chosen = tuple(
                    choices[i] + ((ids[i], a),) if acting[i] else choices[i]
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

    def column(agent: int, k: int) -> jax.Array:
        table = np.array(
            [[c[k] for c in p[4][agent]] for p in partials], dtype=np.int32
        ).reshape(len(partials), -1)
        return jnp.asarray(table)

    return (
        jnp.asarray([p[1] for p in partials], dtype=jnp.float32),
        jnp.asarray([p[2] for p in partials], dtype=jnp.float32),
        tuple(column(i, 0) for i in range(n)),
        tuple(column(i, 1) for i in range(n)),
    )


def _label(game: DecPOMDP, agent: int, view: tuple) -> str:
    """A readable name for an information state, e.g. 'cat [m0] ...'."""
    words = []
    for kind, index in view:
        names = (
            game.observation_names[agent] if kind == "o" else game.action_names[agent]
        )
        words.append(names[index] if kind == "o" else f"[{names[index]}]")
    return " ".join(words) if words else "(start)"
