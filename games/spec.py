"""Finite tabular game specifications: common-payoff matrix games and Dec-POMDPs.

A spec is plain NumPy data, validated once on construction. `games.compile` turns a
spec into dense arrays over information states and terminal histories; everything
downstream works on those arrays.
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


def _check_distribution(field: str, table: np.ndarray, axis: int = -1) -> None:
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

    Shapes (S states, n agents, A_i actions and O_i observations of agent i):
      initial:      float[S], the distribution of the first state.
      transition:   float[S, A_1, ..., A_n, S], next-state distribution.
      observations: per agent, float[S, O_i]: what agent i observes in a state
        (including the first one). Actions are observed only through the state.
      reward:       float[S, A_1, ..., A_n], the common reward of a joint action.
      acting:       bool[horizon, n]: who chooses at each step. An agent that does
        not act takes its action 0 and has no information state at that step
        (turn-based games such as Tiny Hanabi).

    Bernstein et al. 2002, "The complexity of decentralized control of MDPs".
    """

    name: str
    horizon: int
    initial: np.ndarray
    transition: np.ndarray
    observations: tuple[np.ndarray, ...]
    reward: np.ndarray
    acting: np.ndarray
    state_names: tuple[str, ...]
    agent_names: tuple[str, ...]
    action_names: tuple[tuple[str, ...], ...]
    observation_names: tuple[tuple[str, ...], ...]
    description: str = ""

    @property
    def num_agents(self) -> int:
        return len(self.agent_names)

    @property
    def num_states(self) -> int:
        return int(self.initial.shape[0])

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(len(names) for names in self.action_names)

    def __post_init__(self) -> None:
        if not isinstance(self.horizon, int) or self.horizon < 1:
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
        if len(self.observations) != num_agents:
            raise GameSpecError(
                "observations", f"expected one table per agent ({num_agents})"
            )
        for i, names in enumerate(self.action_names):
            if len(names) < 1:
                raise GameSpecError(f"agents[{i}].actions", "needs at least one action")
            _check_names(f"agents[{i}].actions", names, len(names))
        num_actions = self.num_actions
        _check_distribution("initial", self.initial)
        _check_shape(
            "transition", self.transition, (num_states, *num_actions, num_states)
        )
        _check_distribution("transition", self.transition)
        _check_shape("reward", self.reward, (num_states, *num_actions))
        if not np.all(np.isfinite(self.reward)):
            raise GameSpecError("reward", "contains a non-finite number")
        for i, (table, names) in enumerate(
            zip(self.observations, self.observation_names, strict=True)
        ):
            field = f"agents[{i}].observation"
            _check_shape(field, table, (num_states, len(names)))
            _check_distribution(field, table)
            _check_names(f"agents[{i}].observations", names, len(names))
        _check_shape("acting", self.acting, (self.horizon, num_agents))
        if self.acting.dtype != np.bool_:
            raise GameSpecError("acting", "must hold booleans")


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
        if not np.all(np.isfinite(self.payoff)):
            raise GameSpecError("payoff", "contains a non-finite number")
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
            observations=tuple(np.ones((1, 1)) for _ in range(n)),
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
    return DecPOMDP(
        name=name,
        horizon=2,
        initial=initial,
        transition=transition,
        observations=(obs0, obs1),
        reward=reward,
        acting=np.array([[True, False], [False, True]]),
        state_names=state_names,
        agent_names=("player0", "player1"),
        action_names=(tuple(actions0), tuple(actions1)),
        observation_names=(tuple(cards0), obs1_names),
        description=description,
    )


def horizon_steps(spec: DecPOMDP) -> int:
    """Number of agent decisions in one episode (sum of the acting mask)."""
    return int(math.fsum(spec.acting.ravel()))
