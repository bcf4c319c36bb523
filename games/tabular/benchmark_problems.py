"""The small Dec-POMDP benchmarks of the MADP toolbox, each a function of the
horizon built from its paper's definition: Dec-Tiger, the broadcast channel,
recycling robots, fire fighting; and `problem`, the standard two-agent model
they and the grid worlds (`games.tabular.grid_worlds`) are written in. The
registry, optima and MADP files are `games.tabular.benchmarks`'.
"""

from __future__ import annotations

import itertools

import numpy as np

from games.tabular.spec import DecPOMDP


def problem(
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
    return problem(
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
    return problem(
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


def independent_agents(local: tuple[np.ndarray, ...]) -> np.ndarray:
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
    return problem(
        name="recycling_robots",
        horizon=horizon,
        initial=np.array([1.0, 0.0, 0.0, 0.0]),
        transition=independent_agents((local, local)),
        observation=_own_local_state((2, 2), (3, 3)),
        reward=reward,
        state_names=tuple(f"{a}-{b}" for a, b in itertools.product(levels, levels)),
        agent_names=("robot0", "robot1"),
        actions=actions,
        observations=levels,
        description="Recycling robots (Amato et al. 2007).",
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
    return problem(
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
