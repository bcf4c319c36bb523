"""Plain-Python reference values for tabular games, independent of
games.tabular.compile.

Walks the Dec-POMDP tree recursively from the spec, with policies given as
functions of each agent's own action-observation history.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np

import games
from games import DecPOMDP, MatrixGame
from marl.tabular.symmetry import Symmetry, as_decpomdp, preserves_game
from tests import small_horizon

# (agent, own history tuple) -> action probabilities
PolicyFn = Callable[[int, tuple], np.ndarray]


def tabular_policy(keys: tuple[list, ...], policy: tuple) -> PolicyFn:
    """A compiled game's policy (per agent [K_i, A_i], rows in the order of its
    `infostate_keys`) as a `PolicyFn`: rows looked up by history in a dict, from
    host copies (the walk asks for a row at every node)."""
    rows = [
        dict(zip(agent_keys, np.asarray(pi), strict=True))
        for agent_keys, pi in zip(keys, policy, strict=True)
    ]
    return lambda agent, history: rows[agent][history]


def small_spec(name: str) -> DecPOMDP | MatrixGame:
    """Catalogue game `name` at a size the tree walk covers in seconds: the
    benchmarks at horizon 2 and, past 16 states, started from an even mix of the
    first and the last state of their initial support (fire fighting walks 27
    first states x 9 joint actions x 27 next states x 4 joint observations)."""
    spec = games.make_spec(name, small_horizon(name))
    if isinstance(spec, DecPOMDP) and spec.num_states > 16:
        support = np.flatnonzero(spec.initial)
        initial = np.zeros_like(spec.initial)
        initial[support[0]] += 0.5
        initial[support[-1]] += 0.5  # the same state when it is the only one
        spec = dataclasses.replace(spec, initial=initial)
    return spec


def entropy(p: np.ndarray) -> float:
    return -sum(float(x) * math.log(float(x)) for x in p if x > 0)


def values(spec: DecPOMDP, policy: PolicyFn) -> tuple[float, float, dict]:
    """(expected discounted return, reach-weighted entropy, {(agent, history):
    reach}) by exhaustive recursion over states, joint observations and actions
    in the general model: a joint observation O(o | a, s') after every step but
    the last, and one of the first state if the game has `initial_observation`."""
    n = spec.num_agents
    reach: dict[tuple[int, tuple], float] = {}
    totals = {"ret": 0.0, "ent": 0.0}

    def observations(table: np.ndarray) -> list[tuple[tuple[int, ...], float]]:
        return [
            (tuple(int(o) for o in np.unravel_index(k, table.shape)), float(p))
            for k, p in enumerate(table.ravel())
            if p > 0
        ]

    def visit(t: int, state: int, seen: tuple, prob: float) -> None:
        choices = []
        for i in range(n):
            if spec.acting[t, i]:
                probs = policy(i, seen[i])
                reach[(i, seen[i])] = reach.get((i, seen[i]), 0.0) + prob
                totals["ent"] += prob * entropy(probs)
                choices.append([(a, float(probs[a])) for a in range(len(probs))])
            else:
                choices.append([(0, 1.0)])
        for joint in itertools.product(*choices):
            actions = tuple(a for a, _ in joint)
            p_act = prob * math.prod(q for _, q in joint)
            if p_act == 0:
                continue
            reward = float(spec.reward[(state, *actions)])
            totals["ret"] += p_act * spec.discount**t * reward
            if t + 1 == spec.horizon:
                continue
            after = tuple(
                seen[i] + (("a", actions[i]),) if spec.acting[t, i] else seen[i]
                for i in range(n)
            )
            for nxt in np.flatnonzero(spec.transition[(state, *actions)]):
                p_next = p_act * float(spec.transition[(state, *actions, nxt)])
                for obs, p_obs in observations(spec.observation[actions][nxt]):
                    histories = tuple(after[i] + (("o", obs[i]),) for i in range(n))
                    visit(t + 1, int(nxt), histories, p_next * p_obs)

    for s in np.flatnonzero(spec.initial):
        start = float(spec.initial[s])
        if spec.initial_observation is None:
            visit(0, int(s), tuple(() for _ in range(n)), start)
            continue
        for obs, p_obs in observations(spec.initial_observation[s]):
            histories = tuple((("o", obs[i]),) for i in range(n))
            visit(0, int(s), histories, start * p_obs)
    return totals["ret"], totals["ent"], reach


def brute_force_symmetries(
    spec: DecPOMDP | MatrixGame, *, permute_agents: bool = False
) -> Iterator[Symmetry]:
    """Every symmetry, by trying every relabelling (tiny games only)."""
    game = as_decpomdp(spec)
    n = game.num_agents
    agent_perms = (
        itertools.permutations(range(n)) if permute_agents else [tuple(range(n))]
    )
    for agents in agent_perms:
        if any(game.num_actions[i] != game.num_actions[agents[i]] for i in range(n)):
            continue
        per_agent_actions = [
            list(itertools.permutations(range(k))) for k in game.num_actions
        ]
        per_agent_obs = [
            list(itertools.permutations(range(len(o)))) for o in game.observation_names
        ]
        for actions in itertools.product(*per_agent_actions):
            for observations in itertools.product(*per_agent_obs):
                for states in itertools.permutations(range(game.num_states)):
                    g = Symmetry(
                        tuple(agents),
                        tuple(actions),
                        tuple(observations),
                        tuple(states),
                    )
                    if preserves_game(game, g):
                        yield g
