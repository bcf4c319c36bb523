"""A compiled game's information states, followed along many histories at once.

`TabularGame.infostate_keys[i][k]` is agent i's information state k as its own
history: a tuple of ("o", observation) and ("a", action) pairs, an observation
after every step and its own action at every step it acts
(`games.tabular.compile`). `InfostateIndex` turns those keys into a trie whose
nodes are every prefix of a key, so that a batch of histories grown one symbol
at a time is a batch of node ids (`start`, then `extend`) and the information
state each has reached is one lookup (`infostate`): no tuple is built per
history, and a step of N histories is a few NumPy operations. A history that
leaves the game's histories (an observation the game never gives there) is node
-1 from then on, and has no information state.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class InfostateIndex:
    """The trie of one agent's information-state keys.

    Symbols: observation o is o, action a is `num_observations + a`. Node 0 is
    the empty history; `edges` holds `parent * num_symbols + symbol` sorted,
    `children` the node each leads to, and `infostates[node]` the information
    state a node is (-1 for a prefix that is none)."""

    num_observations: int
    num_symbols: int
    edges: np.ndarray
    children: np.ndarray
    infostates: np.ndarray

    @classmethod
    def of(cls, keys: tuple[tuple, ...], num_observations: int, num_actions: int):
        """The trie of `keys` (one agent's `infostate_keys`)."""
        num_symbols = num_observations + num_actions
        node_of: dict[tuple[int, int], int] = {}
        infostates = [-1]
        for k, key in enumerate(keys):
            node = 0
            for kind, value in key:
                symbol = value if kind == "o" else num_observations + value
                child = node_of.get((node, symbol))
                if child is None:
                    child = node_of[(node, symbol)] = len(infostates)
                    infostates.append(-1)
                node = child
            infostates[node] = k
        edges = np.array(
            [parent * num_symbols + symbol for parent, symbol in node_of], np.int64
        )
        children = np.array(list(node_of.values()), np.int64)
        order = np.argsort(edges)
        return cls(
            num_observations,
            num_symbols,
            edges[order],
            children[order],
            np.array(infostates, np.int64),
        )

    def start(self, num: int) -> np.ndarray:
        """int64[num]: `num` empty histories."""
        return np.zeros(num, np.int64)

    def extend(
        self, nodes: np.ndarray, symbols: np.ndarray, grow: np.ndarray | None = None
    ) -> np.ndarray:
        """The nodes after appending `symbols` (int[N]) to the histories at
        `nodes` (int[N]); where `grow` (bool[N]) is False a history stays as it
        is."""
        nodes, symbols = np.asarray(nodes, np.int64), np.asarray(symbols, np.int64)
        if not len(self.edges):  # a game of one decision: only the empty history
            return (
                np.full_like(nodes, -1) if grow is None else np.where(grow, -1, nodes)
            )
        wanted = nodes * self.num_symbols + symbols
        at = np.minimum(np.searchsorted(self.edges, wanted), len(self.edges) - 1)
        known = (nodes >= 0) & (symbols >= 0) & (symbols < self.num_symbols)
        found = known & (self.edges[at] == wanted)
        after = np.where(found, self.children[at], -1)
        return after if grow is None else np.where(grow, after, nodes)

    def observe(self, nodes: np.ndarray, observations: np.ndarray) -> np.ndarray:
        """`extend` by an observation each (-1: one the game never gives)."""
        observations = np.asarray(observations, np.int64)
        known = (observations >= 0) & (observations < self.num_observations)
        return self.extend(nodes, np.where(known, observations, -1))

    def act(
        self, nodes: np.ndarray, actions: np.ndarray, acting: np.ndarray | None = None
    ) -> np.ndarray:
        """`extend` by an own action each, where `acting` (default: all)."""
        symbols = self.num_observations + np.asarray(actions, np.int64)
        return self.extend(nodes, symbols, acting)

    def infostate(self, nodes: np.ndarray) -> np.ndarray:
        """int64[N]: the information state at each node (-1: none)."""
        nodes = np.asarray(nodes, np.int64)
        return np.where(nodes >= 0, self.infostates[np.maximum(nodes, 0)], -1)
