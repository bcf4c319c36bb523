"""Symmetries of tabular games: discovery with nauty, and their action on policies.

A symmetry relabels states, each agent's actions and observations, and (optionally)
the agents themselves, leaving the initial distribution, the transition,
observation and reward tables and the acting schedule unchanged (Hu et al. 2020,
Other-Play, Sec. 3; Forkel et al. 2025, arXiv:2511.22581). The automorphism group of
a vertex-coloured graph that encodes the game is exactly the game's symmetry group;
nauty (McKay & Piperno 2014, through pynauty) computes its generators and order.

Only what can happen is encoded: the game is unrolled in time over the states
reachable at each step, and an agent's action enters only at steps where it acts
and where it is legal, so tables read at a non-acting agent's placeholder action
0, or after an illegal action, constrain nothing; a symmetry maps the legal
joint actions of a state onto those of its image.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from games.tabular import DecPOMDP, MatrixGame, TabularGame
from games.tabular.spec import joint_legal, reachable_states

VALUE_DECIMALS = 9  # table entries equal after rounding get the same colour


@dataclasses.dataclass(frozen=True)
class Symmetry:
    """One relabelling. Agent i becomes agent `agents[i]`; its action a becomes
    action `actions[i][a]` and its observation o becomes `observations[i][o]` of that
    agent; state s becomes `states[s]`."""

    agents: tuple[int, ...]
    actions: tuple[tuple[int, ...], ...]
    observations: tuple[tuple[int, ...], ...]
    states: tuple[int, ...]

    def compose(self, other: Symmetry) -> Symmetry:
        """self after other: first apply `other`, then `self`."""
        return Symmetry(
            agents=tuple(self.agents[j] for j in other.agents),
            actions=tuple(
                tuple(self.actions[other.agents[i]][b] for b in other.actions[i])
                for i in range(len(other.agents))
            ),
            observations=tuple(
                tuple(
                    self.observations[other.agents[i]][o] for o in other.observations[i]
                )
                for i in range(len(other.agents))
            ),
            states=tuple(self.states[s] for s in other.states),
        )

    def map_history(self, agent: int, history: tuple) -> tuple:
        """An agent's own history (('o', o), ('a', a), ...) as its image sees it."""
        return tuple(
            (
                kind,
                self.observations[agent][k] if kind == "o" else self.actions[agent][k],
            )
            for kind, k in history
        )

    @property
    def is_identity(self) -> bool:
        return all(
            tuple(range(len(p))) == p
            for p in (self.agents, self.states, *self.actions, *self.observations)
        )


@dataclasses.dataclass(frozen=True)
class SymmetryGroup:
    """Generators and order of a game's symmetry group."""

    generators: tuple[Symmetry, ...]
    order: int
    identity: Symmetry

    def elements(self, max_size: int = 100_000) -> list[Symmetry]:
        """Every element (closure of the generators); refuses groups over max_size."""
        if self.order > max_size:
            raise ValueError(f"the group has {self.order} elements, over {max_size}")
        seen = {self.identity: None}
        frontier = [self.identity]
        while frontier:
            fresh = []
            for element in frontier:
                for generator in self.generators:
                    product = generator.compose(element)
                    if product not in seen:
                        seen[product] = None
                        fresh.append(product)
            frontier = fresh
        return list(seen)


def as_decpomdp(spec: DecPOMDP | MatrixGame) -> DecPOMDP:
    return spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec


class _Graph:
    """Vertices with hashable colours and undirected edges, for nauty."""

    def __init__(self) -> None:
        self.colours: list[tuple] = []
        self.edges: dict[int, list[int]] = {}

    def vertex(self, colour: tuple) -> int:
        self.colours.append(colour)
        return len(self.colours) - 1

    def edge(self, u: int, v: int) -> None:
        self.edges.setdefault(u, []).append(v)


def _value(x: float) -> float:
    return round(float(x), VALUE_DECIMALS)


def _encode(game: DecPOMDP, permute_agents: bool) -> tuple[_Graph, dict]:
    """The coloured graph whose automorphisms are the game's symmetries."""
    g = _Graph()
    n = game.num_agents
    reach = reachable_states(game)
    ever = np.any(reach, axis=0)
    labels: dict = {"state": {}, "agent": {}, "action": {}, "obs": {}}
    for s in np.flatnonzero(ever):
        labels["state"][int(s)] = g.vertex(("state", _value(game.initial[s])))
    for i in range(n):
        kind = (
            tuple(game.acting[:, i]),
            game.num_actions[i],
            len(game.observation_names[i]),
        )
        agent = g.vertex(("agent", kind if permute_agents else (i, kind)))
        labels["agent"][i] = agent
        for a in range(game.num_actions[i]):
            labels["action"][i, a] = v = g.vertex(("action",))
            g.edge(v, agent)
        for o in range(len(game.observation_names[i])):
            labels["obs"][i, o] = v = g.vertex(("obs",))
            g.edge(v, agent)
    timed: dict[tuple[int, int], int] = {}
    for t in range(game.horizon):
        for s in np.flatnonzero(reach[t]):
            timed[t, int(s)] = v = g.vertex(("at", t))
            g.edge(v, labels["state"][int(s)])

    def signals(anchor: int, table: np.ndarray, colour: str) -> None:
        """A vertex per joint observation of positive probability, joined to
        `anchor` and to each agent's observation in it."""
        for flat in np.flatnonzero(table):
            joint = np.unravel_index(flat, table.shape)
            u = g.vertex((colour, _value(table.flat[flat])))
            g.edge(u, anchor)
            for i, o in enumerate(joint):
                g.edge(u, labels["obs"][i, int(o)])

    if game.initial_observation is not None:
        for s in np.flatnonzero(reach[0]):
            signals(timed[0, int(s)], game.initial_observation[s], "first_seen")
    for t in range(game.horizon):
        acting = [i for i in range(n) if game.acting[t, i]]
        legal = joint_legal(game, t)
        for s in np.flatnonzero(reach[t]):
            for choice in itertools.product(
                *(range(game.num_actions[i]) for i in acting)
            ):
                joint = [0] * n
                for i, a in zip(acting, choice, strict=True):
                    joint[i] = a
                key = (int(s), *joint)
                if legal is not None and not legal[key]:
                    continue
                v = g.vertex(("joint", t, _value(game.reward[key])))
                g.edge(v, timed[t, int(s)])
                for i, a in zip(acting, choice, strict=True):
                    g.edge(v, labels["action"][i, a])
                if t + 1 == game.horizon:
                    continue
                for s_next in np.flatnonzero(game.transition[key]):
                    w = g.vertex(("next", _value(game.transition[(*key, s_next)])))
                    g.edge(w, v)
                    g.edge(w, timed[t + 1, int(s_next)])
                    signals(w, game.observation[tuple(joint)][s_next], "seen")
    return g, labels


def symmetry_group(
    spec: DecPOMDP | MatrixGame, *, permute_agents: bool = False
) -> SymmetryGroup:
    """The symmetry group of a game: nauty's generators and the exact order.

    `permute_agents` also allows relabelling interchangeable agents (same acting
    schedule and numbers of actions and observations).
    """
    import pynauty

    game = as_decpomdp(spec)
    graph, labels = _encode(game, permute_agents)
    cells: dict[tuple, set[int]] = {}
    for v, colour in enumerate(graph.colours):
        cells.setdefault(colour, set()).add(v)
    nauty_graph = pynauty.Graph(
        len(graph.colours),
        directed=False,
        adjacency_dict=graph.edges,
        vertex_coloring=[cells[c] for c in sorted(cells, key=repr)],
    )
    generators, _, _, _, _ = pynauty.autgrp(nauty_graph)
    identity = _identity(game)
    decoded = tuple(_decode(game, labels, perm, identity) for perm in generators)
    return SymmetryGroup(
        tuple(g for g in decoded if not g.is_identity),
        _exact_order(generators, labels),
        identity,
    )


def _exact_order(generators: list[list[int]], labels: dict) -> int:
    """The exact group order (nauty reports it as a float), by Schreier-Sims on the
    permutations restricted to the labelled vertices, on which the group acts
    faithfully: every other vertex is pinned down by its labelled neighbours."""
    from sympy.combinatorics import Permutation, PermutationGroup

    vertices = sorted(v for table in labels.values() for v in table.values())
    index = {v: k for k, v in enumerate(vertices)}
    restricted = [Permutation([index[p[v]] for v in vertices]) for p in generators]
    if not restricted:
        return 1
    return int(PermutationGroup(restricted).order())


def _identity(game: DecPOMDP) -> Symmetry:
    n = game.num_agents
    return Symmetry(
        agents=tuple(range(n)),
        actions=tuple(tuple(range(k)) for k in game.num_actions),
        observations=tuple(tuple(range(len(o))) for o in game.observation_names),
        states=tuple(range(game.num_states)),
    )


def _decode(
    game: DecPOMDP, labels: dict, perm: list[int], identity: Symmetry
) -> Symmetry:
    """Reads the relabelling of states, agents, actions, observations off a vertex
    permutation (unreachable states stay where they are)."""

    def inverse(table: dict) -> dict:
        return {v: k for k, v in table.items()}

    agent_of = inverse(labels["agent"])
    action_of = inverse(labels["action"])
    obs_of = inverse(labels["obs"])
    state_of = inverse(labels["state"])
    agents = tuple(agent_of[perm[labels["agent"][i]]] for i in range(game.num_agents))
    states = list(identity.states)
    for s, v in labels["state"].items():
        states[s] = state_of[perm[v]]
    return Symmetry(
        agents=agents,
        actions=tuple(
            tuple(
                action_of[perm[labels["action"][i, a]]][1]
                for a in range(game.num_actions[i])
            )
            for i in range(game.num_agents)
        ),
        observations=tuple(
            tuple(
                obs_of[perm[labels["obs"][i, o]]][1]
                for o in range(len(game.observation_names[i]))
            )
            for i in range(game.num_agents)
        ),
        states=tuple(states),
    )


def preserves_game(game: DecPOMDP, g: Symmetry, atol: float = 1e-9) -> bool:
    """Checks by direct table comparison that `g` is a symmetry (the brute-force
    definition, on reachable states and acting agents' actions)."""
    n = game.num_agents
    reach = reachable_states(game)
    ever = np.any(reach, axis=0)
    if any(ever[s] != ever[g.states[s]] for s in range(game.num_states)):
        return False
    if not np.allclose(game.initial[list(g.states)], game.initial, atol=atol):
        return False
    if any((game.acting[:, g.agents[i]] != game.acting[:, i]).any() for i in range(n)):
        return False

    def observed_alike(table: np.ndarray, image: np.ndarray) -> bool:
        """table[o] == image[g o] for every joint observation o."""
        for flat in range(table.size):
            joint = np.unravel_index(flat, table.shape)
            mapped = [0] * n
            for i, o in enumerate(joint):
                mapped[g.agents[i]] = g.observations[i][int(o)]
            if abs(image[tuple(mapped)] - table.flat[flat]) > atol:
                return False
        return True

    if game.initial_observation is not None:
        for s in np.flatnonzero(reach[0]):
            first = game.initial_observation
            if not observed_alike(first[s], first[g.states[s]]):
                return False
    for t in range(game.horizon):
        acting = [i for i in range(n) if game.acting[t, i]]
        legal = joint_legal(game, t)
        for s in np.flatnonzero(reach[t]):
            if not reach[t][g.states[s]]:
                return False
            for choice in itertools.product(
                *(range(game.num_actions[i]) for i in acting)
            ):
                joint, image = [0] * n, [0] * n
                for i, a in zip(acting, choice, strict=True):
                    joint[i] = a
                    image[g.agents[i]] = g.actions[i][a]
                key, key_image = (int(s), *joint), (g.states[s], *image)
                if legal is not None:
                    if legal[key] != legal[key_image]:
                        return False
                    if not legal[key]:
                        continue
                if abs(game.reward[key_image] - game.reward[key]) > atol:
                    return False
                if t + 1 < game.horizon:
                    moved = game.transition[key_image][list(g.states)]
                    if not np.allclose(moved, game.transition[key], atol=atol):
                        return False
                    for s_next in np.flatnonzero(game.transition[key]):
                        if not observed_alike(
                            game.observation[tuple(joint)][s_next],
                            game.observation[tuple(image)][g.states[s_next]],
                        ):
                            return False
    return True


def policy_maps(
    game: TabularGame, g: Symmetry
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per agent i, (infostate map int[K_i], action map int[A_i]) into agent g(i):
    (g pi)_{g(i)}(actions[a] | infostates[h]) = pi_i(a | h)."""
    maps = []
    for i, keys in enumerate(game.infostate_keys):
        target = {key: k for k, key in enumerate(game.infostate_keys[g.agents[i]])}
        infostates = np.array([target[g.map_history(i, key)] for key in keys], np.int32)
        maps.append((infostates, np.array(g.actions[i], np.int32)))
    return tuple(maps)
