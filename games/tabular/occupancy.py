"""The recursion engine: a forward pass over joint action-observation histories
with the state marginalized, the occupancy state eta_t(s, h_1, ..., h_n) of
Dibangoye et al. 2016 ("Optimally solving Dec-POMDPs as continuous-state MDPs",
JAIR 55).

Cost and memory per step are |S_t| x prod_i |H_i^t| |A_i| |O_i|, where H_i^t are
agent i's reachable histories at step t (at most (|A_i||O_i|)^t) and S_t the
reachable states. `build_occupancy` finds those histories and lays out the arrays
(once, in NumPy, outside jit); `marl.tabular.exact` evaluates a policy on them. The last
occupancy is never built: the last two steps are contracted from eta_{T-2}, one
agent at a time (`agent_contractions`) or, where the model is large
(`model_first`), on opt_einsum's path of `last_two_steps_subscripts`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import string

import jax
import jax.numpy as jnp
import numpy as np
import opt_einsum
from opt_einsum.contract import PathInfo

from games.tabular.spec import DecPOMDP, action_slices, reachable_states

Layout = list[list[list[tuple]]]
"""Per agent and step, its reachable histories (own action-observation keys)."""
LegalLayout = list[list[np.ndarray]] | None
"""Per agent and step where it acts, bool[H_i^t, A_i]: its legal actions at each
of those histories (None: every action legal)."""

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
      moves:       float32[S_t, S_{t+1}, B_1, O_1, ..., B_n, O_n], T times O
                   laid out for the expansion (`marl.tabular.exact`), where
                   the step expands eta and this is no larger than what the
                   expansion writes; else None (`expand` then).
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
    moves: jax.Array | None = None


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
        largest intermediate of their contractions from eta_{T-2}, on
        opt_einsum's path (`last_two_steps_subscripts`) or one agent at a time
        (`ordered_floats`), whichever is larger. The distribution of play, built only on
        demand (`marl.tabular.crossplay.count_conventions`, one seed at a time), also
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
                return max(
                    peak,
                    operand,
                    ordered_floats(step, self.steps[t + 1]),
                    *(int(p.largest_intermediate) for p in paths),
                )
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
    occupancy eta_{T-2} without building eta_{T-1} (`marl.tabular.exact`): (step T-2's
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


MODEL_FIRST_FLOATS = 2**16
"""The last two steps' expected reward contracts the model (transition,
observations, last reward: [S, (B O A)_1, ..., (B O A)_n]) first when it has at
most this many floats or no more than the occupancy it meets
(`model_first`); else opt_einsum's path of `last_two_steps_subscripts`."""


def model_first(step: OccupancyStep, last: OccupancyStep) -> bool:
    """Whether the last two steps' reward is contracted model first: its model
    tensor [S, (B O A)_1, ..., (B O A)_n] is small (MODEL_FIRST_FLOATS) or no
    larger than the occupancy eta_{T-2}."""
    assert step.observation is not None
    n = len(step.histories)
    widths = step.reward.shape[1:]
    num_obs = step.observation.shape[n + 1 :]
    model = step.reward.shape[0] * math.prod(
        b * o * a
        for b, o, a in zip(widths, num_obs, last.reward.shape[1:], strict=True)
    )
    return model <= max(
        MODEL_FIRST_FLOATS, step.reward.shape[0] * math.prod(step.histories)
    )


def ordered_floats(step: OccupancyStep, last: OccupancyStep) -> int:
    """The largest per-policy intermediate of the last two steps' contractions
    one agent at a time (`agent_contractions`, keep None): the model's product
    with the last agent's factor [S, K_1..K_{n-1}, H_n] and eta's with that,
    [S, H_1..H_{n-1}, K_1..K_{n-1}], K_i = B_i O_i A_i (the reaches' K_i are
    smaller)."""
    assert step.observation is not None
    n = len(step.histories)
    ks = [
        b * o * a
        for b, o, a in zip(
            step.reward.shape[1:],
            step.observation.shape[n + 1 :],
            last.reward.shape[1:],
            strict=True,
        )
    ]
    states = step.reward.shape[0]
    rest = math.prod(ks[:-1])
    return states * rest * max(step.histories[-1], math.prod(step.histories[:-1]))


def agent_contractions(n: int, keep: int | None) -> tuple[list[int], list[str]]:
    """The order and the einsum subscripts of `marl.tabular.exact.contract_agents`:
    sum_{s, h, k} eta[s, h_1..h_n] prod_i F_i[h_i, k_i] M[s, k_1..k_n], every
    agent but `keep` summed out, one agent at a time from the last: first the
    model with that agent's factor ([s, k_..., h_j]), then eta with the result,
    its last history axis contracted (the minor one: no transpose of eta, the
    recursion's largest tensor), state s a batch axis throughout; then each
    other agent's factor, over its history and its k. The result keeps s (and
    agent `keep`'s h and k): summed over s by the caller."""
    hist = letters(n, "s")
    ks = letters(n, "s" + hist)
    order = [j for j in reversed(range(n)) if j != keep]
    if not order:
        return order, [f"s{hist},s{ks}->s{hist}{ks}"]
    first = order[0]
    ks_left = ks.replace(ks[first], "")
    hist_left = hist.replace(hist[first], "")
    subscripts = [
        f"s{ks},{hist[first]}{ks[first]}->s{ks_left}{hist[first]}",
        f"s{hist},s{ks_left}{hist[first]}->s{hist_left}{ks_left}",
    ]
    for j in order[1:]:
        after_h = hist_left.replace(hist[j], "")
        after_k = ks_left.replace(ks[j], "")
        subscripts.append(
            f"s{hist_left}{ks_left},{hist[j]}{ks[j]}->s{after_h}{after_k}"
        )
        hist_left, ks_left = after_h, after_k
    return order, subscripts


def path_search(n: int) -> str:
    """opt_einsum's path search for the last two steps' contractions of n agents:
    'optimal' (exhaustive) up to two agents; past that its search grows too fast
    (three agents: 3 minutes for one path) and 'dp' takes its place."""
    return "optimal" if n <= 2 else "dp"


def _last_two_steps_paths(step: OccupancyStep, last: OccupancyStep) -> tuple[list, int]:
    """opt_einsum's paths (`path_search`, as `marl.tabular.exact` contracts them)
    for the contractions of `last_two_steps_subscripts`, and the largest operand."""
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
        searched_path(subscripts, tuple(map(tuple, operands)), path_search(n))
        for subscripts, operands in [
            (now, [*shapes[: n + 1], step.reward.shape]),
            (later, [*shapes, *laid_out, last.reward.shape]),
            *((reach, shapes) for reach in reaches),
        ]
    ], max(math.prod(x) for x in [*shapes, *laid_out])


@functools.lru_cache(maxsize=1024)
def searched_path(
    subscripts: str, shapes: tuple[tuple[int, ...], ...], search: str
) -> PathInfo:
    """opt_einsum's path and its sizes for `subscripts` over operands of `shapes`,
    searched once per process: the exhaustive search of the last two steps'
    eight operands takes 0.3 to 0.9 s (Dec-Tiger, Mars rovers), each game's
    compilation asks twice (`Occupancy.peak_floats`, `recursion_cost`), and a
    test suite or a sweep compiles the same games again and again (the suite's
    tests/marl/tabular/test_exact.py spent half its time, 55 of 106 s, in it).
    The result is only read."""
    found = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize=search)
    return found[1]


def letters(count: int, skip: str = "") -> str:
    """`count` distinct einsum letters, avoiding those in `skip`."""
    pool = [c for c in string.ascii_letters if c not in skip]
    return "".join(pool[:count])


def _first_occupancy(game: DecPOMDP, states: np.ndarray) -> tuple[np.ndarray, Layout]:
    """Step 0: the occupancy [S_0, H_1, ..., H_n] over the reachable first
    states and, if the game has one, the first joint observation (each agent's
    histories the observations it can receive), and the layout it starts."""
    n = game.num_agents
    first = game.initial[states].reshape(-1, *([1] * n))
    if game.initial_observation is None:
        return first, [[[()]] for _ in range(n)]
    joint = game.initial_observation[states] * first  # [S_0, O_1..O_n]
    kept, layout = [], []
    for i in range(n):
        others = tuple(a for a in range(n + 1) if a != i + 1)
        seen = np.flatnonzero(joint.sum(axis=others) > 0)
        kept.append(seen)
        layout.append([[(("o", int(o)),) for o in seen]])
    return joint[np.ix_(np.arange(len(states)), *kept)], layout


def _uniform_policies(
    game: DecPOMDP,
    t: int,
    states: np.ndarray,
    located: list[np.ndarray],
    width: list[int],
    legal_layout: LegalLayout,
) -> list[np.ndarray]:
    """Per agent [H_i, B_i]: the uniform policy over its legal actions at step
    t (appending each acting agent's legal mask to `legal_layout`)."""
    uniform = []
    for i, where in enumerate(located):
        allowed = np.ones((where.shape[1], width[i]), dtype=bool)
        if legal_layout is not None and game.acting[t, i]:
            allowed = _history_legal(game, i, t, states, where)
            legal_layout[i].append(allowed)
        uniform.append(allowed / allowed.sum(axis=1, keepdims=True))
    return uniform


def _children_layout(
    parents: list[tuple], alive: np.ndarray, width: int, num_obs: int, acting: bool
) -> list[tuple]:
    """The histories of the next step kept (`alive`, indices into the parents'
    extensions by action and observation), each its parent's history with the
    agent's action (if it acts) and observation appended."""
    per_parent = width * num_obs
    return [
        parents[c // per_parent]
        + ((("a", (c // num_obs) % width),) if acting else ())
        + (("o", c % num_obs),)
        for c in alive
    ]


def _next_masses(
    game: DecPOMDP,
    t: int,
    eta: np.ndarray,
    uniform: list[np.ndarray],
    transition: np.ndarray,
    observation: np.ndarray,
    histories: tuple[int, ...],
    max_floats: int | None,
) -> tuple[list[np.ndarray], np.ndarray | None, jax.Array | None]:
    """From step t's occupancy under the uniform policies: per agent [S_t+1,
    extensions] its mass on each extension of its histories (the next step's
    candidates), the next occupancy (None at the step before the last, which
    is never built) and the step's laid-out moves (None where larger than the
    occupancy)."""
    n = game.num_agents
    next_states = transition.shape[-1]
    if t == game.horizon - 2:
        # The last occupancy is never built (`marl.tabular.exact` contracts the
        # last two steps from this one): each agent's reachable extensions are
        # read from its marginal over the next states, contracted from eta
        # like its reach.
        masses = [
            opt_einsum.contract(
                reach.replace("->", "->q"),
                eta,
                *uniform,
                transition,
                observation,
                optimize=path_search(n),
            ).reshape(next_states, -1)
            for reach in last_two_steps_subscripts(n)[2]
        ]
        return masses, None, None
    width = [u.shape[1] for u in uniform]
    _check_size(
        game, t, next_states, histories, width, game.num_observations, max_floats
    )
    decide = eta
    for i in range(n):
        decide = np.expand_dims(decide, axis=2 + 2 * i)
        shape = [1] * decide.ndim
        shape[1 + 2 * i : 3 + 2 * i] = uniform[i].shape
        decide = decide * uniform[i].reshape(shape)
    expanded = expand(np, decide, transition, observation, n)
    moves = laid_out_moves(transition, observation, n)
    step_moves = (
        jnp.asarray(moves, jnp.float32) if moves.size <= expanded.size else None
    )
    return [_marginal(expanded, i) for i in range(n)], expanded, step_moves


def build_occupancy(
    game: DecPOMDP, max_floats: int | None
) -> tuple[Occupancy, Layout, LegalLayout]:
    """The recursion's arrays, per agent and step the reachable histories, and
    with legal actions their masks, found by running the recursion once in NumPy
    under the uniform policy over legal actions (which reaches every history
    that any policy reaches)."""
    n = game.num_agents
    states = [np.flatnonzero(r) for r in reachable_states(game)]
    num_obs = game.num_observations
    eta, layout = _first_occupancy(game, states[0])
    initial = eta
    # Per agent [S_t, H_i^t]: where each of its histories of this step can be.
    located = [_marginal(eta, i) for i in range(n)]
    legal_layout: LegalLayout = None if game.legal is None else [[] for _ in range(n)]
    steps = []
    rows = [0] * n
    for t in range(game.horizon):
        acting = tuple(bool(game.acting[t, i]) for i in range(n))
        slices = action_slices(game, t)
        histories = tuple(len(layout[i][t]) for i in range(n))
        width = [game.num_actions[i] if acting[i] else 1 for i in range(n)]
        uniform = _uniform_policies(game, t, states[t], located, width, legal_layout)
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
        masses, expanded, step_moves = _next_masses(
            game, t, eta, uniform, transition, observation, histories, max_floats
        )
        kept = [np.flatnonzero(masses[i].sum(axis=0) > 0) for i in range(n)]
        for i, alive in enumerate(kept):
            located[i] = masses[i][:, alive]
            layout[i].append(
                _children_layout(layout[i][t], alive, width[i], num_obs[i], acting[i])
            )
        if expanded is not None:
            eta = expanded[np.ix_(np.arange(expanded.shape[0]), *kept)]
        steps.append(
            OccupancyStep(
                reward=jnp.asarray(reward, jnp.float32),
                transition=jnp.asarray(transition, jnp.float32),
                observation=jnp.asarray(observation, jnp.float32),
                children=tuple(jnp.asarray(c.astype(np.int32)) for c in kept),
                acting=acting,
                rows=step_rows,
                histories=histories,
                moves=step_moves,
            )
        )
    return (
        Occupancy(jnp.asarray(initial, jnp.float32), tuple(steps)),
        layout,
        legal_layout,
    )


def _marginal(eta: np.ndarray, agent: int) -> np.ndarray:
    """[S, H_agent]: an occupancy [S, H_1, ..., H_n] summed over the others."""
    others = tuple(1 + j for j in range(eta.ndim - 1) if j != agent)
    return eta.sum(axis=others)


def _history_legal(
    game: DecPOMDP, agent: int, t: int, states: np.ndarray, located: np.ndarray
) -> np.ndarray:
    """bool[H, A_agent]: the legal actions at each of the agent's histories of step
    t, from the states it can be in (`located`, [S_t, H], positive where
    possible); refuses a history whose states allow different actions."""
    assert game.legal is not None
    table = game.legal[agent][states].astype(np.int64)  # [S_t, A]
    there = (located > 0).astype(np.int64)
    allowed = there.T @ table  # [H, A]: how many of its states allow each action
    possible = there.sum(axis=0)[:, None]
    mixed = np.flatnonzero(((allowed > 0) & (allowed < possible)).any(axis=1))
    if mixed.size:
        h = int(mixed[0])
        where = states[np.flatnonzero(there[:, h])]
        rows = game.legal[agent][where]
        other = int(np.flatnonzero((rows != rows[0]).any(axis=1))[0])
        raise CompileError(legal_unseen(game, agent, t, where[0], where[other]))
    return allowed > 0


def legal_unseen(game: DecPOMDP, agent: int, t: int, one: int, other: int) -> str:
    """The refusal of a game whose agent cannot tell its legal actions."""
    names = game.state_names
    return (
        f"game '{game.name}': agent '{game.agent_names[agent]}' cannot tell its "
        f"legal actions at step {t}: states '{names[one]}' and '{names[other]}' "
        "allow different actions, and one of its information states can be in either"
    )


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


def laid_out_moves(transition: np.ndarray, observation: np.ndarray, n: int):
    """T[s, b, s'] O[b, s', o] as [S, S', B_1, O_1, ..., B_n, O_n] (`moves` of
    `OccupancyStep`)."""
    acts = letters(n, "sqz")
    obs = letters(n, "sqz" + acts)
    pairs = "".join(a + o for a, o in zip(acts, obs, strict=True))
    return np.einsum(f"s{acts}q,{acts}q{obs}->sq{pairs}", transition, observation)


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


def recursion_cost(occupancy: Occupancy) -> int:
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
