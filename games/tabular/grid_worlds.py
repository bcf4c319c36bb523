"""The grid-world Dec-POMDP benchmarks, each a function of the horizon built
from its paper's definition: meeting in a 2x2 grid, cooperative box pushing,
Mars rovers. The registry, optima and MADP files are
`games.tabular.benchmarks`'.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from games.tabular.benchmark_problems import independent_agents, problem
from games.tabular.spec import DecPOMDP


def meeting_grid_2x2(horizon: int = 3) -> DecPOMDP:
    """Meeting in a 2x2 grid (Bernstein, Hansen, Zilberstein 2005, "Bounded policy
    iteration for decentralized POMDPs", IJCAI; the two-observation version of
    Amato, Bernstein, Zilberstein 2006), as MADP's GridSmall.

    Two agents start in opposite corners (agent 0 top right, agent 1 bottom left)
    and are rewarded 1 for every step that ends with both in the same cell. Each
    moves up, down, left, right or stays: a move goes its way with probability
    0.6 and each other way, or nowhere, with probability 0.1; a move into the
    border leaves the agent in place; staying is certain. Each agent sees only
    whether it is in the left or the right column.
    """
    cells = ("top-left", "top-right", "bottom-left", "bottom-right")
    moves = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1), 4: (0, 0)}

    def target(cell: int, move: int) -> int:
        row, col = divmod(cell, 2)
        row, col = row + moves[move][0], col + moves[move][1]
        return 2 * row + col if 0 <= row < 2 and 0 <= col < 2 else cell

    local = np.zeros((4, 5, 4))
    for cell in range(4):
        local[cell, 4, cell] = 1.0
        for move in range(4):
            for outcome in range(5):
                local[cell, move, target(cell, outcome)] += (
                    0.6 if outcome == move else 0.1
                )
    transition = independent_agents((local, local))
    together = np.array(
        [float(a == b) for a, b in itertools.product(range(4), repeat=2)]
    )
    column = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    observation = np.einsum("sk,tl->stkl", column, column).reshape(16, 2, 2)
    actions = ("up", "down", "left", "right", "stay")
    observations = ("left-column", "right-column")
    initial = np.zeros(16)
    initial[4 * cells.index("top-right") + cells.index("bottom-left")] = 1.0
    return problem(
        name="meeting_grid_2x2",
        horizon=horizon,
        initial=initial,
        transition=transition,
        observation=np.broadcast_to(observation, (5, 5, 16, 2, 2)).copy(),
        reward=transition @ together,
        state_names=tuple(f"{a},{b}" for a, b in itertools.product(cells, cells)),
        agent_names=("agent0", "agent1"),
        actions=actions,
        observations=observations,
        description="Meeting in a 2x2 grid (Bernstein et al. 2005).",
    )


_HEADINGS = "NESW"
_EMPTY, _WALL, _OTHER_AGENT, _SMALL_BOX, _LARGE_BOX = range(5)
"""What a box-pushing agent sees in front of it."""
_TURN_LEFT, _TURN_RIGHT, _FORWARD, _STAY = range(4)
_BOX_GOALS = ("leftBoxAtGoal", "rightBoxAtGoal", "bothSmallAtGoal", "largeBoxAtGoal")


def _box_state(place: Any) -> str:
    """A state's MADP name: s<cell><heading> of each agent (s1E4W)."""
    return "s" + "".join(f"{cell}{heading}" for cell, heading in place)


def _box_ahead(me: Any, them: Any) -> int:
    """What an agent at pose `me` sees in front, the other at `them`."""
    cell, heading = me
    if heading == "N":
        return _SMALL_BOX if cell in (1, 4) else _LARGE_BOX
    if heading == "S":
        return _WALL
    to = cell + (1 if heading == "E" else -1)
    if not 1 <= to <= 4:
        return _WALL
    return _OTHER_AGENT if to == them[0] else _EMPTY


def _box_act(pose: Any, action: int, front: int) -> Any:
    """An agent's pose after `action` succeeds (alone: no push, no collision)."""
    cell, heading = pose
    turn = {_TURN_LEFT: -1, _TURN_RIGHT: 1}.get(action)
    if turn is not None:
        return cell, _HEADINGS[(_HEADINGS.index(heading) + turn) % 4]
    if action == _FORWARD and front == _EMPTY:
        return cell + (1 if heading == "E" else -1), heading
    return pose


def _box_outcome(place: Any, actions: Any, front: Any) -> str:
    """The state after the joint actions that succeeded."""
    pushed = [
        a == _FORWARD and f == _SMALL_BOX for a, f in zip(actions, front, strict=True)
    ]
    if actions == (_FORWARD, _FORWARD) and front == (_LARGE_BOX, _LARGE_BOX):
        return "largeBoxAtGoal"
    if all(pushed):
        return "bothSmallAtGoal"
    if any(pushed):
        return (
            "leftBoxAtGoal" if place[pushed.index(True)][0] == 1 else "rightBoxAtGoal"
        )
    moved = tuple(
        _box_act(p, a, f) for p, a, f in zip(place, actions, front, strict=True)
    )
    if moved[0][0] == moved[1][0]:  # into one cell: both stay where they were
        moved = tuple((p[0], m[1]) for p, m in zip(place, moved, strict=True))
    return _box_state(moved)


def _box_reward(place: Any, joint: Any, front: Any) -> float:
    """The reward of the joint action as chosen."""
    if joint == (_FORWARD, _FORWARD) and front == (_LARGE_BOX, _LARGE_BOX):
        return 100.0 - 0.2
    value = -0.2
    for action, sees in zip(joint, front, strict=True):
        if action == _FORWARD:
            value += 10.0 if sees == _SMALL_BOX else (0.0 if sees == _EMPTY else -5.0)
    targets = [
        _box_act(p, a, f)[0] for p, a, f in zip(place, joint, front, strict=True)
    ]
    if (
        joint == (_FORWARD, _FORWARD)
        and front == (_EMPTY, _EMPTY)
        and targets[0] == targets[1]
    ):
        value -= 10.0
    return value


def box_pushing(horizon: int = 3) -> DecPOMDP:
    """Cooperative box pushing (Seuken and Zilberstein 2007, "Improved memory-
    bounded dynamic programming for decentralized POMDPs", UAI, Sec. 6), as MADP's
    boxPushingUAI07.

    Two agents stand in the four cells of a corridor (agent 0 always left of agent
    1), each facing N, E, S or W; north of cells 1 and 4 is a small box, north of
    cells 2 and 3 the large one. They start in cells 1 and 4 facing each other.
    Each turns left, turns right, moves forward or stays; a move or turn succeeds
    with probability 0.9, independently, and otherwise nothing happens. Moving
    north pushes the box in front into the goal: a small box alone, the large box
    only when both agents push it together. A box in the goal ends the episode's
    current round (states leftBoxAtGoal, rightBoxAtGoal, bothSmallAtGoal,
    largeBoxAtGoal), and the next step restarts from the start. Two agents moving
    into one cell both stay. Each agent sees what is in front of it: an empty
    cell, a wall, the other agent, a small box or the large box.

    The reward, of the joint action as chosen: -0.1 per agent per step, +10 per
    small box pushed, +100 for the large box, -5 per agent that moves into a wall,
    into the other agent, into the same cell as the other agent, or into the large
    box alone. As in the authors' problem data (and so in the published optima),
    one transition breaks the pattern: from s2E4W with both moving forward, when
    only agent 0 succeeds, agent 1 ends up facing south.
    """
    poses = [(cell, heading) for cell in range(1, 5) for heading in _HEADINGS]
    places = [(a, b) for a in poses for b in poses if a[0] < b[0]]
    state_names = _BOX_GOALS + tuple(_box_state(place) for place in places)
    index = {state: k for k, state in enumerate(state_names)}
    num_states = len(state_names)
    transition = np.zeros((num_states, 4, 4, num_states))
    reward = np.zeros((num_states, 4, 4))
    observation = np.zeros((4, 4, num_states, 5, 5))
    start = index["s1E4W"]
    transition[: len(_BOX_GOALS), :, :, start] = 1.0
    observation[:, :, : len(_BOX_GOALS), _EMPTY, _EMPTY] = 1.0
    for k, place in enumerate(places, start=len(_BOX_GOALS)):
        front = (_box_ahead(place[0], place[1]), _box_ahead(place[1], place[0]))
        observation[:, :, k, front[0], front[1]] = 1.0
        for joint in itertools.product(range(4), repeat=2):
            reward[(k, *joint)] = _box_reward(place, joint, front)
            for success in itertools.product((True, False), repeat=2):
                done = tuple(
                    a if ok else _STAY for a, ok in zip(joint, success, strict=True)
                )
                after = _box_outcome(place, done, front)
                if (
                    _box_state(place) == "s2E4W"
                    and joint == (_FORWARD, _FORWARD)
                    and success == (True, False)
                ):
                    after = "s3E4S"
                transition[(k, *joint, index[after])] += math.prod(
                    0.9 if ok else 0.1 for ok in success
                )
    initial = np.zeros(num_states)
    initial[start] = 1.0
    actions = ("turnLeft", "turnRight", "moveForward", "stay")
    observations = ("emptyField", "wall", "otherAgent", "smallBox", "largeBox")
    return problem(
        name="box_pushing",
        horizon=horizon,
        initial=initial,
        transition=transition,
        observation=observation,
        reward=reward,
        state_names=state_names,
        agent_names=("agent0", "agent1"),
        actions=actions,
        observations=observations,
        description="Cooperative box pushing (Seuken and Zilberstein 2007).",
    )


def mars_rovers(horizon: int = 3) -> DecPOMDP:
    """Mars rovers (Amato and Zilberstein 2009, "Achieving goals in decentralized
    POMDPs", AAMAS, Sec. 5), as MADP's Mars.

    Two rovers on a 2x2 grid (cells numbered down the columns: 0 top left, 1 bottom
    left, 2 top right, 3 bottom right) with a site in each cell; both start in cell
    0 with every site untouched. Each moves (up, down, left, right: succeeds with
    probability 0.9, into the border stays), drills or samples; drilling or
    sampling marks the rover's site as done. Rewards: -0.1 per move; at a done
    site -1 per rover working there; sampling a fresh site alone +2, drilling
    alone -10; both at one fresh site: the sites of cells 0 and 3 pay 6 for
    drilling together (1 for sampling together), those of cells 1 and 2 pay 2 for
    sampling together, mixed actions 0. A step that works the last site restarts
    the problem. Each rover sees its cell and whether its site is done.

    As in the authors' problem data (and so in the published optima), when the
    rovers work two different sites in one step the reward follows rover 0's
    action at both sites, and is 0 when rover 0 drills and both sites are fresh.
    """
    up, down, left, right, drill, sample = range(6)
    moves = {up: (-1, 0), down: (1, 0), left: (0, -1), right: (0, 1)}
    drill_sites = (0, 3)
    num_states = 4 * 4 * 16  # rover 0's cell, rover 1's cell, a done bit per site

    def moved(cell: int, move: int) -> int:
        row, col = cell % 2 + moves[move][0], cell // 2 + moves[move][1]
        return 2 * col + row if 0 <= row < 2 and 0 <= col < 2 else cell

    def alone(action: int, done: int) -> float:
        if action not in (drill, sample):
            return -0.1
        if done:
            return -1.0
        return 2.0 if action == sample else -10.0

    def together(joint: tuple[int, ...], cell: int, done: int) -> float:
        if done:
            return -2.0
        if cell in drill_sites:
            paying: dict[tuple[int, ...], float] = {
                (drill, drill): 6.0,
                (sample, sample): 1.0,
            }
            return paying.get(joint, 0.0)
        return 2.0 if joint == (sample, sample) else 0.0

    transition = np.zeros((num_states, 6, 6, num_states))
    reward = np.zeros((num_states, 6, 6))
    observation = np.zeros((6, 6, num_states, 8, 8))
    for state in range(num_states):
        cells, sites = (state // 64, state // 16 % 4), state % 16
        done = [sites >> cell & 1 for cell in cells]
        observation[:, :, state, cells[0] + 4 * done[0], cells[1] + 4 * done[1]] = 1.0
        for joint in itertools.product(range(6), repeat=2):
            working = [action in (drill, sample) for action in joint]
            if all(working) and cells[0] == cells[1]:
                value = together(joint, cells[0], done[0])
            elif all(working):
                value = alone(joint[0], done[0]) + alone(joint[0], done[1])
                value = 0.0 if joint[0] == drill and not any(done) else value
            else:
                value = alone(joint[0], done[0]) + alone(joint[1], done[1])
            reward[(state, *joint)] = value
            movers = [i for i in range(2) if not working[i]]
            for success in itertools.product((True, False), repeat=len(movers)):
                after_cells, after_sites = list(cells), sites
                for i in range(2):
                    if working[i]:
                        after_sites |= 1 << cells[i]
                for i, ok in zip(movers, success, strict=True):
                    after_cells[i] = moved(cells[i], joint[i]) if ok else cells[i]
                after = 64 * after_cells[0] + 16 * after_cells[1] + after_sites
                if any(working) and after_sites == 15:
                    after = 0  # every site done: start again
                transition[(state, *joint, after)] += math.prod(
                    0.9 if ok else 0.1 for ok in success
                )
    initial = np.zeros(num_states)
    initial[0] = 1.0
    actions = ("up", "down", "left", "right", "drill", "sample")
    observations = tuple(
        f"s{cell}{status}" for status in ("notSampled", "sampled") for cell in range(4)
    )
    return problem(
        name="mars_rovers",
        horizon=horizon,
        initial=initial,
        transition=transition,
        observation=observation,
        reward=reward,
        state_names=tuple(
            f"cells{s // 64}{s // 16 % 4}-done{s % 16:04b}" for s in range(num_states)
        ),
        agent_names=("rover0", "rover1"),
        actions=actions,
        observations=observations,
        description="Mars rovers (Amato and Zilberstein 2009).",
    )
