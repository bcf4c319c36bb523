"""Plain-Python reference values for tabular games, independent of games.compile.

Walks the Dec-POMDP tree recursively from the spec, with policies given as
functions of each agent's own action-observation history.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from games import DecPOMDP

# (agent, own history tuple) -> action probabilities
PolicyFn = Callable[[int, tuple], np.ndarray]


def entropy(p: np.ndarray) -> float:
    return -sum(float(x) * math.log(float(x)) for x in p if x > 0)


def values(spec: DecPOMDP, policy: PolicyFn) -> tuple[float, float, dict]:
    """(expected return, reach-weighted entropy, {(agent, history): reach}) by
    exhaustive recursion over states, observations and actions."""
    n = spec.num_agents
    reach: dict[tuple[int, tuple], float] = {}
    totals = {"ret": 0.0, "ent": 0.0}

    def visit(t: int, state: int, histories: tuple, prob: float) -> None:
        # Every agent observes the current state.
        obs_options = [np.flatnonzero(spec.observations[i][state]) for i in range(n)]
        for joint_obs in itertools.product(*obs_options):
            p_obs = prob * math.prod(
                float(spec.observations[i][state, o]) for i, o in enumerate(joint_obs)
            )
            seen = tuple(
                histories[i] + (("o", int(o)),) for i, o in enumerate(joint_obs)
            )
            choices = []
            for i in range(n):
                if spec.acting[t, i]:
                    probs = policy(i, seen[i])
                    reach[(i, seen[i])] = reach.get((i, seen[i]), 0.0) + p_obs
                    totals["ent"] += p_obs * entropy(probs)
                    choices.append([(a, float(probs[a])) for a in range(len(probs))])
                else:
                    choices.append([(0, 1.0)])
            for joint in itertools.product(*choices):
                actions = tuple(a for a, _ in joint)
                p_act = p_obs * math.prod(q for _, q in joint)
                if p_act == 0:
                    continue
                totals["ret"] += p_act * float(spec.reward[(state, *actions)])
                if t + 1 == spec.horizon:
                    continue
                after = tuple(
                    seen[i] + (("a", actions[i]),) if spec.acting[t, i] else seen[i]
                    for i in range(n)
                )
                for nxt in np.flatnonzero(spec.transition[(state, *actions)]):
                    p_next = p_act * float(spec.transition[(state, *actions, nxt)])
                    visit(t + 1, int(nxt), after, p_next)

    for s in np.flatnonzero(spec.initial):
        visit(0, int(s), tuple(() for _ in range(n)), float(spec.initial[s]))
    return totals["ret"], totals["ent"], reach
