"""Compiles a `DecPOMDP` into dense arrays over information states and histories.

Done once, outside jit, by enumerating every terminal history of positive chance
probability. Each agent's information states are its action-observation histories
at the steps where it acts (perfect recall). Afterwards the probability of history
z under a joint tabular policy is

    P(z) = chance(z) * prod_i prod_t pi_i(action_i[z, t] | infostate_i[z, t]),

so expected returns, entropies and their gradients are gathers and sums.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from games.spec import DecPOMDP, MatrixGame


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularGame:
    """A compiled game: arrays (pytree leaves) plus static metadata.

    Z terminal histories; agent i has K_i information states, A_i actions and
    decides T_i times per episode.
      chance:    float32[Z], probability of the history's chance events.
      returns:   float32[Z], summed reward of the history.
      infostate: per agent int32[Z, T_i], information state at its t-th decision.
      action:    per agent int32[Z, T_i], action taken at that decision.
    Static: per agent, `infostate_keys[i][k]` is information state k as the agent's
    own history, a tuple of ("o", observation) and ("a", action) index pairs, and
    `infostate_labels[i][k]` the same with names.
    """

    chance: jax.Array
    returns: jax.Array
    infostate: tuple[jax.Array, ...]
    action: tuple[jax.Array, ...]
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
    is_matrix_game: bool = dataclasses.field(metadata=dict(static=True))

    @property
    def num_agents(self) -> int:
        return len(self.num_infostates)

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(len(names) for names in self.action_names)

    @property
    def num_histories(self) -> int:
        return int(self.chance.shape[0])

    @property
    def policy_shapes(self) -> tuple[tuple[int, int], ...]:
        """Per agent, the shape [K_i, A_i] of its tabular policy."""
        return tuple(zip(self.num_infostates, self.num_actions, strict=True))

    @property
    def reward_range(self) -> float:
        """max - min of the history returns (1.0 for a constant game)."""
        returns = np.asarray(self.returns)
        spread = float(returns.max() - returns.min())
        return spread if spread > 0 else 1.0


@dataclasses.dataclass
class _Partial:
    """A history under construction (compile-time only)."""

    state: int
    prob: float
    ret: float
    views: list[tuple]  # per agent: its own observations and actions so far
    choices: list[list[tuple[int, int]]]  # per agent: (infostate, action) pairs


def compile_game(spec: DecPOMDP | MatrixGame) -> TabularGame:
    """Enumerates the terminal histories of `spec` into a `TabularGame`."""
    is_matrix = isinstance(spec, MatrixGame)
    game = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    n = game.num_agents
    infostate_ids: list[dict[tuple, int]] = [{} for _ in range(n)]
    labels: list[list[str]] = [[] for _ in range(n)]

    def observe(partials: list[_Partial]) -> list[_Partial]:
        """Branches each partial history on every agent's observation of its state."""
        out = []
        for partial in partials:
            options = [
                np.flatnonzero(game.observations[i][partial.state]) for i in range(n)
            ]
            for joint_obs in itertools.product(*options):
                prob = partial.prob
                for i, o in enumerate(joint_obs):
                    prob *= game.observations[i][partial.state, o]
                views = [
                    partial.views[i] + (("o", int(o)),) for i, o in enumerate(joint_obs)
                ]
                out.append(
                    _Partial(
                        partial.state,
                        prob,
                        partial.ret,
                        views,
                        [list(c) for c in partial.choices],
                    )
                )
        return out

    def infostate(agent: int, view: tuple) -> int:
        ids = infostate_ids[agent]
        if view not in ids:
            ids[view] = len(ids)
            labels[agent].append(_label(game, agent, view))
        return ids[view]

    partials = [
        _Partial(
            int(s),
            float(game.initial[s]),
            0.0,
            [() for _ in range(n)],
            [[] for _ in range(n)],
        )
        for s in np.flatnonzero(game.initial)
    ]
    partials = observe(partials)
    for t in range(game.horizon):
        acting = game.acting[t]
        action_sets = [
            range(game.num_actions[i]) if acting[i] else (0,) for i in range(n)
        ]
        after_actions = []
        for partial in partials:
            ids = [
                infostate(i, partial.views[i]) if acting[i] else -1 for i in range(n)
            ]
            for joint in itertools.product(*action_sets):
                views = [
                    partial.views[i] + (("a", a),) if acting[i] else partial.views[i]
                    for i, a in enumerate(joint)
                ]
                choices = [
                    partial.choices[i] + [(ids[i], a)]
                    if acting[i]
                    else partial.choices[i]
                    for i, a in enumerate(joint)
                ]
                ret = partial.ret + float(game.reward[(partial.state, *joint)])
                if t == game.horizon - 1:
                    after_actions.append(
                        _Partial(partial.state, partial.prob, ret, views, choices)
                    )
                    continue
                next_probs = game.transition[(partial.state, *joint)]
                for s_next in np.flatnonzero(next_probs):
                    after_actions.append(
                        _Partial(
                            int(s_next),
                            partial.prob * float(next_probs[s_next]),
                            ret,
                            views,
                            choices,
                        )
                    )
        partials = after_actions if t == game.horizon - 1 else observe(after_actions)

    def column(agent: int, k: int) -> np.ndarray:
        return np.array(
            [[c[k] for c in p.choices[agent]] for p in partials], dtype=np.int32
        ).reshape(len(partials), -1)

    return TabularGame(
        chance=jnp.asarray([p.prob for p in partials], dtype=jnp.float32),
        returns=jnp.asarray([p.ret for p in partials], dtype=jnp.float32),
        infostate=tuple(jnp.asarray(column(i, 0)) for i in range(n)),
        action=tuple(jnp.asarray(column(i, 1)) for i in range(n)),
        name=game.name,
        num_infostates=tuple(len(ids) for ids in infostate_ids),
        action_names=game.action_names,
        infostate_labels=tuple(tuple(agent_labels) for agent_labels in labels),
        infostate_keys=tuple(tuple(ids) for ids in infostate_ids),
        is_matrix_game=is_matrix,
    )


def _label(game: DecPOMDP, agent: int, view: tuple) -> str:
    """A readable name for an information state, e.g. 'cat > m0 > ...'."""
    words = []
    for kind, index in view:
        names = (
            game.observation_names[agent] if kind == "o" else game.action_names[agent]
        )
        words.append(names[index] if kind == "o" else f"[{names[index]}]")
    return " ".join(words)
