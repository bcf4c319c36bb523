"""The catalogue of tabular games, each with its source.

`CATALOGUE[name]()` builds the spec; `games.make(name)` compiles it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from games.tabular.benchmarks import BENCHMARK_OPTIMA, BENCHMARKS
from games.tabular.spec import (
    DecPOMDP,
    MatrixGame,
    card_game,
    matrix_game,
    observing_states,
)


def coordination(num_actions: int) -> MatrixGame:
    """Pure coordination: 1 if both players pick the same action, else 0.

    The canonical game with many equivalent conventions (Hu et al. 2020, Other-Play).
    """
    return matrix_game(
        f"coordination_{num_actions}",
        np.eye(num_actions),
        description=f"Pure coordination on {num_actions} actions (Hu et al. 2020).",
    )


def lever() -> MatrixGame:
    """The lever game: nine levers pay 1.0 on a match, one pays 0.9; mismatches 0.

    Hu, Lerer, Peysakhovich, Foerster 2020, "Other-Play for zero-shot coordination",
    Sec. 1 and Fig. 1.
    """
    return matrix_game(
        "lever",
        np.diag([1.0] * 9 + [0.9]),
        description="Other-Play lever game (Hu et al. 2020): 9 levers pay 1, one 0.9.",
    )


def climbing() -> MatrixGame:
    """Climbing game. Claus & Boutilier 1998, "The dynamics of reinforcement
    learning in cooperative multiagent systems", Table 3."""
    return matrix_game(
        "climbing",
        [[11, -30, 0], [-30, 7, 6], [0, 0, 5]],
        description="Climbing game (Claus & Boutilier 1998).",
    )


def penalty(k: float = -100.0) -> MatrixGame:
    """Penalty game with penalty k. Claus & Boutilier 1998, Table 4."""
    return matrix_game(
        "penalty",
        [[10, 0, k], [0, 2, 0], [k, 0, 10]],
        description=f"Penalty game, k = {k} (Claus & Boutilier 1998).",
    )


def qtran_one_step() -> MatrixGame:
    """The non-monotonic one-step matrix game of Son et al. 2019 (QTRAN), Table 1."""
    return matrix_game(
        "qtran_one_step",
        [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]],
        description="QTRAN one-step matrix game (Son et al. 2019).",
    )


def qmix_two_step() -> DecPOMDP:
    """The two-step game of Rashid et al. 2018 (QMIX), Fig. 3.

    In the first state, agent 0's action picks state 2A (action 0) or 2B (action 1);
    agent 1's action does not matter. Both agents see the state. In 2A every joint
    action pays 7; in 2B the payoff is [[0, 1], [1, 8]]. Optimum 8.
    """
    reward = np.zeros((3, 2, 2))
    reward[1] = 7.0
    reward[2] = [[0.0, 1.0], [1.0, 8.0]]
    transition = np.zeros((3, 2, 2, 3))
    transition[0, 0, :, 1] = 1.0
    transition[0, 1, :, 2] = 1.0
    transition[1, :, :, 1] = 1.0  # the game ends after step 2: never used
    transition[2, :, :, 2] = 1.0
    state_names = ("start", "2A", "2B")
    observation, initial_observation = observing_states((np.eye(3), np.eye(3)), (2, 2))
    return DecPOMDP(
        name="qmix_two_step",
        horizon=2,
        initial=np.array([1.0, 0.0, 0.0]),
        transition=transition,
        observation=observation,
        initial_observation=initial_observation,
        reward=reward,
        acting=np.ones((2, 2), dtype=bool),
        state_names=state_names,
        agent_names=("agent0", "agent1"),
        action_names=(("a", "b"), ("a", "b")),
        observation_names=(state_names, state_names),
        description="QMIX two-step game (Rashid et al. 2018); optimum 8.",
    )


def lewis_signalling() -> DecPOMDP:
    """Two-state Lewis signalling game: a sender sees cat or dog (1/2 each) and sends
    one of two messages; a receiver sees the message and guesses; 1 if right.

    Lewis 1969, "Convention"; Skyrms 2010, "Signals". Optimum 1; the best policy
    equivariant under relabelling messages is 0.5.
    """
    payoff = np.zeros((2, 1, 2, 2))
    for world in range(2):
        payoff[world, 0, :, world] = 1.0
    return card_game(
        "lewis_signalling",
        payoff,
        names={
            "cards0": ("cat", "dog"),
            "cards1": ("nothing",),
            "actions0": ("m0", "m1"),
            "actions1": ("guess_cat", "guess_dog"),
        },
        description="Lewis signalling game with two states and two messages.",
    )


# Tiny Hanabi suite A-F: two players, each dealt one card uniformly; player 0 acts
# seeing its card, player 1 acts seeing its card and player 0's action. Tables are
# payoff[c0][c1][a0][a1]. Sokota, Lockhart, Timbers, et al. 2021, "Solving
# Common-Payoff Games with Approximate Policy Iteration" (AAAI), Sec. 6; games
# credited to Neil Burch and Nolan Bard. Game E is the BAD paper's matrix game.
TINY_HANABI_PAYOFFS = {
    "a": [[[[0, 1], [0, 0]], [[0, 1], [3, 2]]], [[[3, 3], [3, 2]], [[2, 0], [3, 3]]]],
    "b": [[[[1, 0], [1, 0]], [[0, 1], [0, 1]]], [[[0, 1], [0, 0]], [[1, 0], [1, 0]]]],
    "c": [[[[3, 0], [0, 3]], [[2, 0], [3, 3]]], [[[2, 2], [3, 0]], [[0, 1], [0, 2]]]],
    "d": [[[[3, 0], [1, 3]], [[3, 0], [3, 0]]], [[[3, 2], [0, 2]], [[0, 1], [0, 0]]]],
    "e": [
        [[[10, 0, 0], [4, 8, 4], [10, 0, 0]], [[0, 0, 10], [4, 8, 4], [0, 0, 10]]],
        [[[0, 0, 10], [4, 8, 4], [0, 0, 0]], [[10, 0, 0], [4, 8, 4], [10, 0, 0]]],
    ],
    "f": [
        [[[0, 3], [3, 2]], [[0, 0], [0, 1]], [[3, 1], [2, 1]]],
        [[[0, 2], [0, 1]], [[1, 2], [1, 2]], [[0, 1], [0, 3]]],
        [[[1, 3], [1, 2]], [[0, 3], [2, 2]], [[3, 1], [3, 0]]],
    ],
}
TINY_HANABI_OPTIMA = {"a": 2.25, "b": 1.0, "c": 2.5, "d": 2.5, "e": 10.0, "f": 7 / 3}


def tiny_hanabi(variant: str) -> DecPOMDP:
    """Tiny Hanabi game `variant` in a..f (Sokota et al. 2021); see the table above."""
    return card_game(
        f"tiny_hanabi_{variant}",
        TINY_HANABI_PAYOFFS[variant],
        description=(
            f"Tiny Hanabi {variant.upper()} (Sokota et al. 2021); optimum "
            f"{TINY_HANABI_OPTIMA[variant]:.4g}."
        ),
    )


def bad_game() -> DecPOMDP:
    """The two-step card game of Foerster et al. 2019, "Bayesian Action Decoder for
    Deep Multi-Agent Reinforcement Learning", Sec. 5.1 (also OpenSpiel's default
    `tiny_hanabi`, and Tiny Hanabi E). Optimum 10; 8 without signalling."""
    return card_game(
        "bad",
        TINY_HANABI_PAYOFFS["e"],
        description="BAD matrix game (Foerster et al. 2019); optimum 10.",
    )


CATALOGUE: dict[str, Callable[[], DecPOMDP | MatrixGame]] = {
    "coordination_2": functools.partial(coordination, 2),
    "coordination_3": functools.partial(coordination, 3),
    "coordination_10": functools.partial(coordination, 10),
    "lever": lever,
    "climbing": climbing,
    "penalty": penalty,
    "qtran_one_step": qtran_one_step,
    "qmix_two_step": qmix_two_step,
    "lewis_signalling": lewis_signalling,
    "bad": bad_game,
    **{
        f"tiny_hanabi_{v}": functools.partial(tiny_hanabi, v)
        for v in TINY_HANABI_PAYOFFS
    },
    **BENCHMARKS,
}

HORIZON_FACTORIES: dict[str, Callable[..., DecPOMDP]] = dict(BENCHMARKS)
"""Games whose factory takes the horizon (`factory(horizon)`; a turn schedule or
a cut follows it): the benchmarks. (The micro Hanabi sizes take it too; they
join the catalogue in `games/__init__`, where both rooms are open.)"""


def optimum(name: str, horizon: int) -> float | None:
    """The published optimal value of catalogue game `name` at `horizon`, if known."""
    if name in BENCHMARK_OPTIMA:
        return BENCHMARK_OPTIMA[name].get(horizon)
    if name.startswith("tiny_hanabi_") and horizon == 2:
        return TINY_HANABI_OPTIMA[name.removeprefix("tiny_hanabi_")]
    return None
