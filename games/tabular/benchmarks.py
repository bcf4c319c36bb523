"""The standard Dec-POMDP benchmarks: each a function of the horizon, built from
its paper's definition and equal to the MADP toolbox's file of it (tested when
`../shared/dpomdp` is present), with the published optima per horizon.

`games.tabular.catalogue` adds them to the catalogue; docs/tabular.md describes them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from games.tabular.spec import DecPOMDP

# Standard Dec-POMDP benchmarks. Optimal values of the undiscounted finite-horizon
# problems, per horizon, from the table at masplan.org ("Optimal values for
# finite-horizon Dec-POMDPs", which credits most of them to GMAA*-Cluster:
# Oliehoek, Spaan, Whiteson 2009, "Lossless clustering of histories in
# decentralized POMDPs", AAMAS; and the incremental expansion of GMAA*-ICE:
# Oliehoek, Spaan, Amato, Whiteson 2013, JAIR 46), which sets the discount to 1
# whatever a file says. A horizon missing here has no optimum we could source, and
# results say so (null). Mars rovers at horizon 5 (13.26, in earlier versions of
# this table) had no source and is dropped.
BENCHMARK_OPTIMA: dict[str, dict[int, float]] = {
    "dectiger": {
        2: -4.0,
        3: 5.190812,
        4: 4.802755,
        5: 7.026451,
        6: 10.381625,
    },
    "broadcast_channel": {
        2: 2.0,
        3: 2.99,
        4: 3.89,
        5: 4.79,
        6: 5.69,
        7: 6.59,
        8: 7.49,
        9: 8.39,
        10: 9.29,
    },
    "recycling_robots": {2: 7.0, 3: 10.660125, 4: 13.38, 5: 16.486},
    "meeting_grid_2x2": {2: 0.91, 3: 1.550444, 4: 2.241577, 5: 2.970496, 6: 3.717168},
    "fire_fighting": {2: -4.383496, 3: -5.736969, 4: -6.578834, 5: -7.069874},
    "box_pushing": {2: 17.6, 3: 66.081, 4: 98.593613},
    "mars_rovers": {2: 5.8, 3: 9.38, 4: 10.1808},
}


def _problem(
    *, horizon: int, actions: tuple[str, ...], observations: tuple[str, ...], **fields
) -> DecPOMDP:
    """A benchmark in the standard model: two agents with the same action and
    observation names, both acting at every step, nothing seen before the first
    action (Oliehoek and Amato 2016, Sec. 2.4)."""
    return DecPOMDP(
        horizon=horizon,
        initial_observation=None,
        acting=np.ones((horizon, 2), dtype=bool),
        action_names=(actions, actions),
        observation_names=(observations, observations),
        **fields,
    )


def dectiger(horizon: int = 3) -> DecPOMDP:
    """Decentralized tiger (Nair, Tambe, Yokoo, Pynadath, Marsella 2003, "Taming
    decentralized POMDPs", IJCAI, Sec. 3).

    A tiger is behind the left or the right door (1/2 each). Each agent listens or
    opens a door. Both listening leaves the tiger in place; each agent then hears
    it on the correct side with probability 0.85, independently. Any opening
    resets the tiger uniformly and both observations are then uninformative.
    Rewards: both listen -2; both open the treasure door +20, the tiger door -50;
    different doors -100; one opens (the other listens) the treasure door +9, the
    tiger door -101.
    """
    hear = 0.85
    listen, left, right = 0, 1, 2
    transition = np.full((2, 3, 3, 2), 0.5)
    transition[:, listen, listen] = np.eye(2)
    observation = np.full((3, 3, 2, 2, 2), 0.25)
    for tiger in range(2):
        correct = (
            np.array([hear, 1 - hear]) if tiger == 0 else np.array([1 - hear, hear])
        )
        observation[listen, listen, tiger] = np.outer(correct, correct)
    reward = np.zeros((2, 3, 3))
    for tiger, (tiger_door, treasure_door) in enumerate(((left, right), (right, left))):
        reward[tiger, listen, listen] = -2.0
        reward[tiger, treasure_door, treasure_door] = 20.0
        reward[tiger, tiger_door, tiger_door] = -50.0
        reward[tiger, left, right] = reward[tiger, right, left] = -100.0
        for mine in (0, 1):
            for door, value in ((treasure_door, 9.0), (tiger_door, -101.0)):
                joint = [listen, listen]
                joint[mine] = door
                reward[(tiger, *joint)] = value
    actions = ("listen", "open-left", "open-right")
    observations = ("hear-left", "hear-right")
    return _problem(
        name="dectiger",
        horizon=horizon,
        initial=np.array([0.5, 0.5]),
        transition=transition,
        observation=observation,
        reward=reward,
        state_names=("tiger-left", "tiger-right"),
        agent_names=("agent0", "agent1"),
        actions=actions,
        observations=observations,
        description="Dec-Tiger (Nair et al. 2003).",
    )


def broadcast_channel(horizon: int = 3) -> DecPOMDP:
    """Multi-access broadcast channel (Hansen, Bernstein, Zilberstein 2004,
    "Dynamic programming for partially observable stochastic games", AAAI;
    Ooi and Wornell 1996), as in the MADP toolbox.

    Each of two nodes has a one-message buffer (state S<b0><b1>, start S11) and
    sends or waits. A node that sends empties its buffer; an empty buffer refills
    with a new message with probability 0.9 (node 0) or 0.1 (node 1) at each step.
    Reward 1 when exactly one node sends and it had a message. Each node observes
    'Collision' with probability 0.9 when both send and 0.1 otherwise,
    independently of the other.
    """
    arrival = (0.9, 0.1)
    send, wait = 0, 1
    transition = np.zeros((4, 2, 2, 4))
    reward = np.zeros((4, 2, 2))
    for state, joint in itertools.product(
        range(4), itertools.product(range(2), repeat=2)
    ):
        buffers = (state // 2, state % 2)
        per_node = []
        for node in range(2):
            full = buffers[node] == 1 and joint[node] == wait
            per_node.append(
                np.array([0.0, 1.0])
                if full
                else np.array([1 - arrival[node], arrival[node]])
            )
        transition[(state, *joint)] = np.outer(*per_node).ravel()
        senders = [node for node in range(2) if joint[node] == send]
        if len(senders) == 1 and buffers[senders[0]] == 1:
            reward[(state, *joint)] = 1.0
    observation = np.zeros((2, 2, 4, 2, 2))
    for joint in itertools.product(range(2), repeat=2):
        collide = 0.9 if joint == (send, send) else 0.1
        heard = np.array([collide, 1 - collide])
        observation[joint] = np.outer(heard, heard)
    actions = ("send", "wait")
    observations = ("Collision", "No-Collision")
    return _problem(
        name="broadcast_channel",
        horizon=horizon,
        initial=np.array([0.0, 0.0, 0.0, 1.0]),
        transition=transition,
        observation=observation,
        reward=reward,
        state_names=("S00", "S01", "S10", "S11"),
        agent_names=("agent0", "agent1"),
        actions=actions,
        observations=observations,
        description="Broadcast channel (Hansen et al. 2004).",
    )


def _independent_agents(local: tuple[np.ndarray, ...]) -> np.ndarray:
    """The joint transition of agents whose local states move independently.

    `local[i]` is float[L_i, A_i, L_i]: agent i's next local state given its own
    local state and action. The joint state is the tuple of local states in C
    order (agent 0 most significant); returns float[S, A_1..A_n, S].
    """
    n = len(local)
    letters = "abcdefghijklmnopqrstuvwxyz"
    state, action, after = letters[:n], letters[n : 2 * n], letters[2 * n : 3 * n]
    terms = [f"{state[i]}{action[i]}{after[i]}" for i in range(n)]
    joint = np.einsum(f"{','.join(terms)}->{state}{action}{after}", *local)
    num_states = int(np.prod([table.shape[0] for table in local]))
    num_actions = tuple(table.shape[1] for table in local)
    return joint.reshape(num_states, *num_actions, num_states)


def _own_local_state(
    local_sizes: tuple[int, ...], num_actions: tuple[int, ...]
) -> np.ndarray:
    """O(o | a, s'): every agent observes its own local state after each step.

    The joint state is the C-ordered tuple of local states (see
    `_independent_agents`); returns float[A_1..A_n, S, L_1..L_n].
    """
    identity = np.eye(int(np.prod(local_sizes))).reshape(-1, *local_sizes)
    return np.broadcast_to(identity, (*num_actions, *identity.shape)).copy()


def recycling_robots(horizon: int = 3) -> DecPOMDP:
    """Recycling robots (Amato, Bernstein, Zilberstein 2007, "Optimizing memory-
    bounded controllers for decentralized POMDPs", UAI, Sec. 6), as in the
    authors' problem data and the MADP toolbox.

    Each of two robots has a battery, high or low, and sees only its own level after
    each step. It waits and recharges (the battery becomes high, reward 0),
    searches for a small can (reward 2) or searches for the big can, which pays 5
    only when both robots search for it in the same step. Searching drains a high
    battery to low with probability 0.3 (small) or 0.5 (big); from a low battery
    the robot runs out with probability 0.2 (small) or 0.3 (big): it is carried
    back to its charger (battery high) at a cost of 10, and no can is collected in
    that step by either robot.
    """
    high, low = 0, 1
    wait, small, big = 0, 1, 2
    drain = {small: 0.3, big: 0.5}
    run_out = {small: 0.2, big: 0.3}
    local = np.zeros((2, 3, 2))
    local[:, wait, high] = 1.0
    for search in (small, big):
        local[high, search] = [1 - drain[search], drain[search]]
        local[low, search] = [run_out[search], 1 - run_out[search]]
    reward = np.zeros((4, 3, 3))
    for state, joint in itertools.product(
        range(4), itertools.product(range(3), repeat=2)
    ):
        batteries = (state // 2, state % 2)
        out = [
            run_out[a] if level == low and a != wait else 0.0
            for level, a in zip(batteries, joint, strict=True)
        ]
        collected = sum(2.0 for a in joint if a == small)
        if joint == (big, big):
            collected = 5.0
        reward[(state, *joint)] = (1 - out[0]) * (1 - out[1]) * collected - 10.0 * sum(
            out
        )
    actions = ("wait-and-recharge", "search-small", "search-big")
    levels = ("high", "low")
    return _problem(
        name="recycling_robots",
        horizon=horizon,
        initial=np.array([1.0, 0.0, 0.0, 0.0]),
        transition=_independent_agents((local, local)),
        observation=_own_local_state((2, 2), (3, 3)),
        reward=reward,
        state_names=tuple(f"{a}-{b}" for a, b in itertools.product(levels, levels)),
        agent_names=("robot0", "robot1"),
        actions=actions,
        observations=levels,
        description="Recycling robots (Amato et al. 2007).",
    )


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
    transition = _independent_agents((local, local))
    together = np.array(
        [float(a == b) for a, b in itertools.product(range(4), repeat=2)]
    )
    column = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    observation = np.einsum("sk,tl->stkl", column, column).reshape(16, 2, 2)
    actions = ("up", "down", "left", "right", "stay")
    observations = ("left-column", "right-column")
    initial = np.zeros(16)
    initial[4 * cells.index("top-right") + cells.index("bottom-left")] = 1.0
    return _problem(
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


def fire_fighting(horizon: int = 3) -> DecPOMDP:
    """Fire fighting with 2 agents, 3 houses in a row and 3 fire levels (Oliehoek,
    Spaan, Whiteson, Vlassis 2008, "Exploiting locality of interaction in factored
    Dec-POMDPs", AAMAS, Sec. 2), as MADP's fireFighting_2_3_3.

    The state is each house's fire level 0..2, uniform at the start. Each agent
    goes to a house and fights its fire. A house with no agent catches fire from a
    burning neighbour with probability 0.8, and a burning one grows by a level with
    probability 0.8 if a neighbour burns and 0.4 otherwise. One agent lowers the
    level by one, for certain when no neighbour burns and with probability 0.6
    otherwise; two agents put the fire out. The reward is minus the sum of the next
    fire levels. Each agent then sees flames at its house with probability 0.2, 0.5
    or 0.8 at level 0, 1 or 2.

    MADP's file also keeps each agent's house in the state (432 states; the house
    is the last action, so it adds nothing); here the state is the fire levels
    alone (27 states). As in MADP, the transition probabilities are rounded to two
    decimals (rows still sum to 1) and the rewards are computed before rounding;
    the published optima are those of this model (at horizon 2, -4.383496 against
    -4.383579 unrounded).
    """
    houses, levels = 3, 3
    flames = np.array([0.2, 0.5, 0.8])

    def house_step(level: int, neighbour_burns: bool, fighters: int) -> np.ndarray:
        after = np.zeros(levels)
        up = min(level + 1, levels - 1)
        if fighters == 0:
            grow = 0.8 if neighbour_burns else (0.4 if level > 0 else 0.0)
            after[up] += grow
            after[level] += 1 - grow
        elif fighters == 1:
            lower = 0.6 if neighbour_burns else 1.0
            after[max(level - 1, 0)] += lower
            after[level] += 1 - lower
        else:
            after[0] = 1.0
        return after

    configurations = list(itertools.product(range(levels), repeat=houses))
    num_states = len(configurations)
    transition = np.zeros((num_states, houses, houses, num_states))
    reward = np.zeros((num_states, houses, houses))
    observation = np.zeros((houses, houses, num_states, 2, 2))
    burden = np.array([-float(sum(fire)) for fire in configurations])
    for state, fire in enumerate(configurations):
        for joint in itertools.product(range(houses), repeat=2):
            per_house = [
                house_step(
                    fire[h],
                    any(fire[k] > 0 for k in (h - 1, h + 1) if 0 <= k < houses),
                    joint.count(h),
                )
                for h in range(houses)
            ]
            after = np.einsum("i,j,k->ijk", *per_house).ravel()
            transition[(state, *joint)] = after
            reward[(state, *joint)] = after @ burden
            seen = [np.array([flames[fire[h]], 1 - flames[fire[h]]]) for h in joint]
            observation[(*joint, state)] = np.outer(*seen)
    actions = tuple(f"go{h + 1}" for h in range(houses))
    observations = ("flames", "noFlames")
    return _problem(
        name="fire_fighting",
        horizon=horizon,
        initial=np.full(num_states, 1.0 / num_states),
        transition=np.round(transition, 2),
        observation=observation,
        reward=reward,
        state_names=tuple("_".join(f"f{x}" for x in fire) for fire in configurations),
        agent_names=("agent0", "agent1"),
        actions=actions,
        observations=observations,
        description="Fire fighting, 2 agents, 3 houses (Oliehoek et al. 2008).",
    )


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
    headings = "NESW"
    empty, wall, other_agent, small_box, large_box = range(5)
    turn_left, turn_right, forward, stay = range(4)
    goals = ("leftBoxAtGoal", "rightBoxAtGoal", "bothSmallAtGoal", "largeBoxAtGoal")
    poses = [(cell, heading) for cell in range(1, 5) for heading in headings]
    places = [(a, b) for a in poses for b in poses if a[0] < b[0]]

    def name(place) -> str:
        return "s" + "".join(f"{cell}{heading}" for cell, heading in place)

    state_names = goals + tuple(name(place) for place in places)
    index = {state: k for k, state in enumerate(state_names)}
    num_states = len(state_names)

    def ahead(me, them) -> int:
        cell, heading = me
        if heading == "N":
            return small_box if cell in (1, 4) else large_box
        if heading == "S":
            return wall
        to = cell + (1 if heading == "E" else -1)
        if not 1 <= to <= 4:
            return wall
        return other_agent if to == them[0] else empty

    def act(pose, action: int, front: int):
        cell, heading = pose
        turn = {turn_left: -1, turn_right: 1}.get(action)
        if turn is not None:
            return cell, headings[(headings.index(heading) + turn) % 4]
        if action == forward and front == empty:
            return cell + (1 if heading == "E" else -1), heading
        return pose

    def outcome(place, actions, front) -> str:
        pushed = [
            a == forward and f == small_box for a, f in zip(actions, front, strict=True)
        ]
        if actions == (forward, forward) and front == (large_box, large_box):
            return "largeBoxAtGoal"
        if all(pushed):
            return "bothSmallAtGoal"
        if any(pushed):
            return (
                "leftBoxAtGoal"
                if place[pushed.index(True)][0] == 1
                else "rightBoxAtGoal"
            )
        moved = tuple(
            act(p, a, f) for p, a, f in zip(place, actions, front, strict=True)
        )
        if moved[0][0] == moved[1][0]:  # into one cell: both stay where they were
            moved = tuple((p[0], m[1]) for p, m in zip(place, moved, strict=True))
        return name(moved)

    def chosen_reward(place, joint, front) -> float:
        if joint == (forward, forward) and front == (large_box, large_box):
            return 100.0 - 0.2
        value = -0.2
        for action, sees in zip(joint, front, strict=True):
            if action == forward:
                value += 10.0 if sees == small_box else (0.0 if sees == empty else -5.0)
        targets = [act(p, a, f)[0] for p, a, f in zip(place, joint, front, strict=True)]
        if (
            joint == (forward, forward)
            and front == (empty, empty)
            and targets[0] == targets[1]
        ):
            value -= 10.0
        return value

    transition = np.zeros((num_states, 4, 4, num_states))
    reward = np.zeros((num_states, 4, 4))
    observation = np.zeros((4, 4, num_states, 5, 5))
    start = index["s1E4W"]
    transition[: len(goals), :, :, start] = 1.0
    observation[:, :, : len(goals), empty, empty] = 1.0
    for k, place in enumerate(places, start=len(goals)):
        front = (ahead(place[0], place[1]), ahead(place[1], place[0]))
        observation[:, :, k, front[0], front[1]] = 1.0
        for joint in itertools.product(range(4), repeat=2):
            reward[(k, *joint)] = chosen_reward(place, joint, front)
            for success in itertools.product((True, False), repeat=2):
                done = tuple(
                    a if ok else stay for a, ok in zip(joint, success, strict=True)
                )
                after = outcome(place, done, front)
                if (
                    name(place) == "s2E4W"
                    and joint == (forward, forward)
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
    return _problem(
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
    return _problem(
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


BENCHMARKS: dict[str, Callable[..., DecPOMDP]] = {
    "dectiger": dectiger,
    "broadcast_channel": broadcast_channel,
    "recycling_robots": recycling_robots,
    "meeting_grid_2x2": meeting_grid_2x2,
    "fire_fighting": fire_fighting,
    "box_pushing": box_pushing,
    "mars_rovers": mars_rovers,
}
"""Catalogue games with a `horizon` parameter, and the MADP file each equals."""
BENCHMARK_FILES = {
    "dectiger": "dectiger.dpomdp",
    "broadcast_channel": "broadcastChannel.dpomdp",
    "recycling_robots": "recycling.dpomdp",
    "meeting_grid_2x2": "GridSmall.dpomdp",
    "fire_fighting": "fireFighting_2_3_3.dpomdp.gz",
    "box_pushing": "boxPushingUAI07.dpomdp.gz",
    "mars_rovers": "Mars.dpomdp.gz",
}
