"""Finite tabular game specifications: common-payoff matrix games and Dec-POMDPs.

A spec is plain NumPy data, validated once on construction.
`games.tabular.compile` turns a spec into dense arrays over information states
and terminal histories; everything downstream works on those arrays.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

PROBABILITY_ATOL = 1e-6


class GameSpecError(ValueError):
    """A game specification is malformed; the message names the field and problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _default_names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{k}" for k in range(count))


def _check_names(field: str, names: tuple[str, ...], count: int) -> None:
    if len(names) != count:
        raise GameSpecError(field, f"has {len(names)} names, expected {count}")
    if len(set(names)) != len(names):
        raise GameSpecError(field, "names must be distinct")


LARGEST_VALUE = 1e30
"""The largest |reward| or |payoff| a game may hold: values are computed in
float32 (largest 3.4e38), and the returns sum rewards over a history, their
products with probabilities and the learners' gradients must stay finite."""


def check_values(field: str, table: np.ndarray) -> None:
    """Refuses non-finite rewards or payoffs, and any beyond +-LARGEST_VALUE."""
    if not np.all(np.isfinite(table)):
        raise GameSpecError(field, "contains a non-finite number")
    largest = float(np.max(np.abs(table))) if table.size else 0.0
    if largest > LARGEST_VALUE:
        raise GameSpecError(
            field,
            f"holds {largest:.3g}, beyond the +-{LARGEST_VALUE:.0e} that float32 "
            "computations allow; rescale it",
        )


def check_distribution(field: str, table: np.ndarray, axis: int = -1) -> None:
    """Checks that `table` holds probability distributions along `axis`."""
    if not np.all(np.isfinite(table)):
        raise GameSpecError(field, "contains a non-finite number")
    if np.any(table < 0):
        index = tuple(int(k) for k in np.argwhere(table < 0)[0])
        raise GameSpecError(field, f"entry {list(index)} is negative")
    sums = table.sum(axis=axis)
    bad = np.argwhere(np.atleast_1d(np.abs(sums - 1.0) > PROBABILITY_ATOL))
    if bad.size:
        index = tuple(int(k) for k in bad[0]) if sums.ndim else ()
        where = f" at {list(index)}" if index else ""
        raise GameSpecError(
            field, f"probabilities{where} sum to {float(sums[index]):.6g}, not 1"
        )


def _check_shape(field: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise GameSpecError(
            field, f"has shape {list(array.shape)}, expected {list(shape)}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class DecPOMDP:
    """A finite-horizon decentralized POMDP with a common reward.

    The standard model of the planning literature (Oliehoek and Amato 2016, "A
    Concise Introduction to Decentralized POMDPs", Sec. 2.4; Bernstein et al. 2002).
    Shapes (S states, n agents, A_i actions and O_i observations of agent i):
      initial:      float[S], the distribution of the first state.
      transition:   float[S, A_1, ..., A_n, S], next-state distribution.
      observation:  float[A_1, ..., A_n, S, O_1, ..., O_n]: O(joint observation |
        joint action, next state), correlated across agents. Received after every
        step but the last.
      initial_observation: float[S, O_1, ..., O_n] or None: the joint observation
        of the first state, or None for the standard model (no observation before
        the first action).
      reward:       float[S, A_1, ..., A_n], the common reward R(s, joint action).
      acting:       bool[horizon, n]: who chooses at each step. An agent that does
        not act takes its action 0 and has no information state at that step
        (turn-based games such as Tiny Hanabi).
      discount:     the return is sum_t discount^t r_t (1 for finite-horizon
        planning problems).
      legal:        per agent bool[S, A_i] or None (every action legal): which of
        agent i's actions it may take in state s, at the steps where it acts. An
        agent must be able to tell its legal actions from what it has seen: the
        compile step refuses a game where two states that one of its information
        states can be in allow different actions. Policies put no probability on
        illegal actions, and their entropy is over the legal ones (Hanabi: no
        hint without an information token).

    Games where every agent observes the current state through its own table
    (the lab's YAML format) are one case: see `observing_states`.
    """

    name: str
    horizon: int
    initial: np.ndarray
    transition: np.ndarray
    observation: np.ndarray
    initial_observation: np.ndarray | None
    reward: np.ndarray
    acting: np.ndarray
    state_names: tuple[str, ...]
    agent_names: tuple[str, ...]
    action_names: tuple[tuple[str, ...], ...]
    observation_names: tuple[tuple[str, ...], ...]
    discount: float = 1.0
    description: str = ""
    legal: tuple[np.ndarray, ...] | None = None

    @property
    def num_agents(self) -> int:
        return len(self.agent_names)

    @property
    def num_states(self) -> int:
        return int(self.initial.shape[0])

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(len(names) for names in self.action_names)

    @property
    def num_observations(self) -> tuple[int, ...]:
        return tuple(len(names) for names in self.observation_names)

    def __post_init__(self) -> None:
        if (
            isinstance(self.horizon, bool)
            or not isinstance(self.horizon, int)
            or self.horizon < 1
        ):
            raise GameSpecError(
                "horizon", f"must be a positive integer, got {self.horizon!r}"
            )
        num_agents = len(self.agent_names)
        if num_agents < 1:
            raise GameSpecError("agents", "a game needs at least one agent")
        _check_names("agents", self.agent_names, num_agents)
        num_states = self.initial.shape[0] if self.initial.ndim == 1 else -1
        if num_states < 1:
            raise GameSpecError("initial", "must be a non-empty list of probabilities")
        _check_names("states", self.state_names, num_states)
        if len(self.action_names) != num_agents:
            raise GameSpecError(
                "actions", f"expected one list per agent ({num_agents})"
            )
        if len(self.observation_names) != num_agents:
            raise GameSpecError(
                "observations", f"expected one list per agent ({num_agents})"
            )
        for i, names in enumerate(self.action_names):
            if len(names) < 1:
                raise GameSpecError(f"agents[{i}].actions", "needs at least one action")
            _check_names(f"agents[{i}].actions", names, len(names))
        for i, names in enumerate(self.observation_names):
            if len(names) < 1:
                raise GameSpecError(
                    f"agents[{i}].observations", "needs at least one observation"
                )
            _check_names(f"agents[{i}].observations", names, len(names))
        num_actions, num_obs = self.num_actions, self.num_observations
        check_distribution("initial", self.initial)
        _check_shape(
            "transition", self.transition, (num_states, *num_actions, num_states)
        )
        check_distribution("transition", self.transition)
        _check_shape("reward", self.reward, (num_states, *num_actions))
        check_values("reward", self.reward)
        _check_shape(
            "observation", self.observation, (*num_actions, num_states, *num_obs)
        )
        _check_joint_distribution("observation", self.observation, num_agents)
        if self.initial_observation is not None:
            _check_shape(
                "initial_observation",
                self.initial_observation,
                (num_states, *num_obs),
            )
            _check_joint_distribution(
                "initial_observation", self.initial_observation, num_agents
            )
        _check_shape("acting", self.acting, (self.horizon, num_agents))
        if self.acting.dtype != np.bool_:
            raise GameSpecError("acting", "must hold booleans")
        if not self.acting.any():
            raise GameSpecError("acting", "no agent acts at any step")
        if not math.isfinite(self.discount) or not 0 < self.discount <= 1:
            raise GameSpecError("discount", f"must be in (0, 1], got {self.discount!r}")
        if self.legal is not None:
            _check_legal(self.legal, num_states, num_actions, self.acting)


def _check_legal(
    legal: tuple[np.ndarray, ...],
    num_states: int,
    num_actions: tuple[int, ...],
    acting: np.ndarray,
) -> None:
    if len(legal) != len(num_actions):
        raise GameSpecError(
            "legal", f"expected one table per agent ({len(num_actions)})"
        )
    for i, table in enumerate(legal):
        _check_shape(f"legal[{i}]", table, (num_states, num_actions[i]))
        if table.dtype != np.bool_:
            raise GameSpecError(f"legal[{i}]", "must hold booleans")
        if acting[:, i].any() and not table.any(axis=1).all():
            s = int(np.flatnonzero(~table.any(axis=1))[0])
            raise GameSpecError(f"legal[{i}]", f"state {s} allows no action")


def joint_legal(game: DecPOMDP, t: int) -> np.ndarray | None:
    """bool[S, B_1, ..., B_n]: whether each joint action over `action_slices(game,
    t)` is legal in each state (every acting agent's action legal), or None when
    every action is legal."""
    if game.legal is None:
        return None
    joint = np.ones((game.num_states,) + (1,) * game.num_agents, dtype=bool)
    for i, table in enumerate(game.legal):
        if game.acting[t, i]:
            shape = [game.num_states] + [1] * game.num_agents
            shape[1 + i] = table.shape[1]
            joint = joint & table.reshape(shape)
    return joint


def _check_joint_distribution(field: str, table: np.ndarray, num_agents: int) -> None:
    """Checks that the last `num_agents` axes of `table` hold joint distributions."""
    flat = table.reshape(*table.shape[: table.ndim - num_agents], -1)
    check_distribution(field, flat)


def observing_states(
    observations: tuple[np.ndarray, ...], num_actions: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent state observations as the general model's joint tables.

    `observations[i]` is float[S, O_i]: what agent i observes in a state, the
    current one included, independently of the others. Returns (observation
    float[A_1..A_n, S, O_1..O_n], initial_observation float[S, O_1..O_n]): the
    product of the agents' tables, independent of the joint action.
    """
    joint = observations[0]
    for table in observations[1:]:
        joint = joint[..., None] * table.reshape(
            table.shape[0], *([1] * (joint.ndim - 1)), table.shape[1]
        )
    observation = np.broadcast_to(joint, (*num_actions, *joint.shape)).copy()
    return observation, joint


def action_slices(game: DecPOMDP, t: int) -> tuple:
    """Index over the joint-action axes at step t: every action of an acting
    agent, the placeholder action 0 of the others."""
    return tuple(
        slice(None) if game.acting[t, i] else slice(0, 1)
        for i in range(game.num_agents)
    )


def reachable_states(game: DecPOMDP) -> list[np.ndarray]:
    """Per step t, bool[S]: the states reachable at t under some joint action."""
    reach = [game.initial > 0]
    for t in range(game.horizon - 1):
        moves = game.transition[reach[-1]][(slice(None), *action_slices(game, t))]
        legal = joint_legal(game, t)
        if legal is not None:
            moves = moves * legal[reach[-1]][..., None]
        reach.append(moves.reshape(-1, game.num_states).max(axis=0) > 0)
    return reach


def with_horizon(spec: DecPOMDP, horizon: int) -> DecPOMDP:
    """The same Dec-POMDP planned for another horizon. Only games whose agents all
    act at every step can change horizon (a turn schedule is part of the game)."""
    if horizon == spec.horizon:
        return spec
    if not spec.acting.all():
        raise GameSpecError(
            "horizon",
            f"game '{spec.name}' has a turn schedule for horizon {spec.horizon}; "
            "its horizon cannot change",
        )
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise GameSpecError("horizon", f"must be a positive integer, got {horizon!r}")
    return dataclasses.replace(
        spec, horizon=horizon, acting=np.ones((horizon, spec.num_agents), dtype=bool)
    )


@dataclasses.dataclass(frozen=True, eq=False)
class MatrixGame:
    """A one-shot common-payoff game; axis k of `payoff` is player k's action."""

    name: str
    payoff: np.ndarray
    action_names: tuple[tuple[str, ...], ...]
    description: str = ""

    @property
    def num_agents(self) -> int:
        return self.payoff.ndim

    def __post_init__(self) -> None:
        if self.payoff.ndim < 1 or 0 in self.payoff.shape:
            raise GameSpecError("payoff", "must be a non-empty nested list of numbers")
        check_values("payoff", self.payoff)
        if len(self.action_names) != self.payoff.ndim:
            raise GameSpecError(
                "action_names", f"expected one list per player ({self.payoff.ndim})"
            )
        for k, names in enumerate(self.action_names):
            _check_names(f"action_names[{k}]", names, self.payoff.shape[k])

    def to_decpomdp(self) -> DecPOMDP:
        """The same game as a one-state, one-step Dec-POMDP."""
        n = self.num_agents
        return DecPOMDP(
            name=self.name,
            horizon=1,
            initial=np.ones(1),
            transition=np.ones((1, *self.payoff.shape, 1)),
            observation=np.ones((*self.payoff.shape, 1, *([1] * n))),
            initial_observation=np.ones((1, *([1] * n))),
            reward=self.payoff[None].astype(np.float64),
            acting=np.ones((1, n), dtype=bool),
            state_names=("s",),
            agent_names=_default_names("player", n),
            action_names=self.action_names,
            observation_names=tuple(("none",) for _ in range(n)),
            description=self.description,
        )


def matrix_game(
    name: str,
    payoff: np.ndarray | list,
    action_names: tuple[tuple[str, ...], ...] | None = None,
    description: str = "",
) -> MatrixGame:
    """Builds a validated `MatrixGame`; default action names are `a0, a1, ...`."""
    table = np.asarray(payoff, dtype=np.float64)
    if action_names is None:
        action_names = tuple(_default_names("a", size) for size in table.shape)
    return MatrixGame(name, table, action_names, description)


def card_game(
    name: str,
    payoff: np.ndarray | list,
    card_probs: tuple[np.ndarray | list, np.ndarray | list] | None = None,
    names: dict[str, tuple[str, ...]] | None = None,
    description: str = "",
) -> DecPOMDP:
    """A two-player, two-step card game in the style of Tiny Hanabi.

    Each player is dealt a private card (independently, `card_probs[k]`, uniform by
    default); player 0 sees its card and acts; player 1 sees its card and player 0's
    action, and acts. `payoff[c0, c1, a0, a1]` is the common reward.

    Foerster et al. 2019 (BAD), Sec. 5.1; Sokota et al. 2021 (Tiny Hanabi suite).
    """
    table = np.asarray(payoff, dtype=np.float64)
    if table.ndim != 4:
        raise GameSpecError("payoff", "a card game's payoff is [card0][card1][a0][a1]")
    num_cards0, num_cards1, num_actions0, num_actions1 = table.shape
    if card_probs is None:
        probs0 = np.full(num_cards0, 1.0 / num_cards0)
        probs1 = np.full(num_cards1, 1.0 / num_cards1)
    else:
        probs0, probs1 = (np.asarray(p, dtype=np.float64) for p in card_probs)
    names = names or {}
    cards0 = names.get("cards0", _default_names("c", num_cards0))
    cards1 = names.get("cards1", _default_names("c", num_cards1))
    actions0 = names.get("actions0", _default_names("a", num_actions0))
    actions1 = names.get("actions1", _default_names("a", num_actions1))

    # States: the deals (c0, c1), then the deals with player 0's action (c0, c1, a0).
    deals = [(c0, c1) for c0 in range(num_cards0) for c1 in range(num_cards1)]
    after = [(c0, c1, a0) for c0, c1 in deals for a0 in range(num_actions0)]
    num_states = len(deals) + len(after)
    deal_index = {deal: k for k, deal in enumerate(deals)}
    after_index = {key: len(deals) + k for k, key in enumerate(after)}

    initial = np.zeros(num_states)
    for (c0, c1), k in deal_index.items():
        initial[k] = probs0[c0] * probs1[c1]
    transition = np.zeros((num_states, num_actions0, num_actions1, num_states))
    reward = np.zeros((num_states, num_actions0, num_actions1))
    for (c0, c1), k in deal_index.items():
        for a0 in range(num_actions0):
            transition[k, a0, :, after_index[(c0, c1, a0)]] = 1.0
    for (c0, c1, a0), k in after_index.items():
        transition[k, :, :, k] = 1.0  # never used: the game ends after step 2.
        reward[k, 0, :] = table[c0, c1, a0, :]  # player 0 does not act: action 0.

    # Player 0 observes its card; player 1 observes its card and then a0 too.
    obs0 = np.zeros((num_states, num_cards0))
    obs1 = np.zeros((num_states, num_cards1 * (1 + num_actions0)))
    for (c0, c1), k in deal_index.items():
        obs0[k, c0] = 1.0
        obs1[k, c1] = 1.0
    for (c0, c1, a0), k in after_index.items():
        obs0[k, c0] = 1.0
        obs1[k, num_cards1 + c1 * num_actions0 + a0] = 1.0
    obs1_names = tuple(cards1) + tuple(
        f"{card}&{action}" for card in cards1 for action in actions0
    )
    state_names = tuple(f"{cards0[c0]},{cards1[c1]}" for c0, c1 in deals) + tuple(
        f"{cards0[c0]},{cards1[c1]},{actions0[a0]}" for c0, c1, a0 in after
    )
    observation, initial_observation = observing_states(
        (obs0, obs1), (num_actions0, num_actions1)
    )
    return DecPOMDP(
        name=name,
        horizon=2,
        initial=initial,
        transition=transition,
        observation=observation,
        initial_observation=initial_observation,
        reward=reward,
        acting=np.array([[True, False], [False, True]]),
        state_names=state_names,
        agent_names=("player0", "player1"),
        action_names=(tuple(actions0), tuple(actions1)),
        observation_names=(tuple(cards0), obs1_names),
        description=description,
    )
