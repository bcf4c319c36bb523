"""What trained agents' conventions are, compared: conditional action matrices
P(partner's next action | my action) from counts of consecutive decisions
(`marl.deep.play.action_transitions`), a distance between two agents' matrices,
the same distance up to a symmetry of the game (Hanabi: a color permutation),
and agents grouped into conventions by it.

The distance between agents i and j is the total variation between their
conditional rows, weighted by how often the agents take each action:

    d(i, j) = sum_a (w_i(a) + w_j(a)) / 2 * TV(P_i(. | a), P_j(. | a)),

w(a) the share of an agent's decisions that were a; a row that only one of the
two agents ever reaches counts as TV 1 (one answers it, the other never takes
it). d is 0 for agents whose answers agree wherever they act, at most 1. The
aligned distance is the smallest d(i, sigma(j)) over the symmetries sigma of the
game, sigma(j) the agent j with its actions renamed: two agents that hold the
same convention up to the colors they use are 0 apart.

Shapes: K agents, A actions, G symmetries.
"""

from __future__ import annotations

import numpy as np


def conditional(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows normalized and row weights of counts float[..., A, A]: the
    conditional matrix P(b | a) (rows never reached are 0) and w(a), the share
    of the counted decisions that were a."""
    rows = counts.sum(-1, keepdims=True)
    probs = np.where(rows > 0, counts / np.maximum(rows, 1e-30), 0.0)
    total = rows.sum(-2, keepdims=True)
    weights = (rows / np.maximum(total, 1e-30))[..., 0]
    return probs, weights


def distance(first: np.ndarray, second: np.ndarray) -> float:
    """d between two agents' counts float[A, A] (module docstring)."""
    p, w = conditional(first)
    q, v = conditional(second)
    seen_p, seen_q = w > 0, v > 0
    tv = 0.5 * np.abs(p - q).sum(-1)
    tv = np.where(seen_p & seen_q, tv, np.where(seen_p | seen_q, 1.0, 0.0))
    return float(((w + v) / 2 * tv).sum())


def renamed(counts: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """An agent's counts float[A, A] with its actions renamed by a symmetry:
    entry (a, b) becomes the count of (actions[a], actions[b])."""
    return counts[np.ix_(actions, actions)]


def distances(counts: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
    """float[K, K] of d between every two agents' counts float[K, A, A]; with
    `actions` int[G, A] (the symmetries' action renamings, the identity among
    them), the aligned distance: the least d(i, sigma(j)) over them."""
    tables = np.arange(counts.shape[-1])[None] if actions is None else actions
    counts = np.asarray(counts, np.float64)
    size = counts.shape[0]
    p, w = conditional(counts)  # [K, A, A], [K, A]
    # Every agent renamed by every symmetry: [G, K, A, A] and [G, K, A].
    q, v = conditional(counts[:, tables[:, :, None], tables[:, None, :]].swapaxes(0, 1))
    out = np.zeros((size, size))
    for i in range(size):
        tv = 0.5 * np.abs(p[i] - q).sum(-1)  # [G, K, A]
        seen_p, seen_q = w[i] > 0, v > 0
        tv = np.where(seen_p & seen_q, tv, np.where(seen_p | seen_q, 1.0, 0.0))
        out[i] = ((w[i] + v) / 2 * tv).sum(-1).min(0)
    np.fill_diagonal(out, 0.0)
    return np.minimum(out, out.T)  # the least over sigma and its inverse


def split_half(per_game: np.ndarray) -> np.ndarray:
    """float[K]: each agent's noise floor, d between the counts of its even and
    its odd games (float[K, N, A, A] game by game; the same agent, two
    independent halves). Two agents' d measured on N games each sits about
    1/sqrt(2) of this above their true distance when they play alike."""
    per_game = np.asarray(per_game, np.float64)
    even, odd = per_game[:, 0::2].sum(1), per_game[:, 1::2].sum(1)
    return np.array([distance(a, b) for a, b in zip(even, odd, strict=True)])


def stable_count(heights: np.ndarray, floor: float) -> tuple[int, float, float] | None:
    """The convention count that holds over the widest range of tolerances
    above the noise floor `floor`, from merge heights float[K - 1]
    (`merge_heights`): (count, low, high), the count `clusters` finds for
    every tolerance in (low, high]; None for one agent. The range for a single
    convention (above the last height) is unbounded and not counted; a group
    whose last height is at or below the floor gets count 1 over (floor,
    inf)."""
    size = len(heights) + 1
    if size < 2:
        return None
    edges = np.concatenate([[0.0], np.sort(heights)])
    best: tuple[int, float, float] | None = None
    for i in range(size - 1):  # count size - i on (edges[i], edges[i + 1]]
        low, high = max(edges[i], floor), edges[i + 1]
        if high > low and (best is None or high - low > best[2] - best[1]):
            best = (size - i, float(low), float(high))
    return best if best is not None else (1, float(floor), float("inf"))


def bootstrap_counts(
    per_game: np.ndarray,
    actions: np.ndarray | None,
    tolerances: np.ndarray,
    *,
    draws: int,
    seed: int,
) -> np.ndarray:
    """int[draws, T]: the number of conventions among K agents at each
    tolerance, over `draws` resamplings of each agent's games with replacement
    (float[K, N, A, A] game by game; `actions` as in `distances`): a
    game-level bootstrap of a count."""
    rng = np.random.default_rng(seed)
    per_game = np.asarray(per_game, np.float64)
    size, games = per_game.shape[:2]
    out = np.zeros((draws, len(tolerances)), int)
    for r in range(draws):
        picks = rng.integers(0, games, (size, games))
        counts = np.stack([per_game[k, picks[k]].sum(0) for k in range(size)])
        between = distances(counts, actions)
        out[r] = [max(clusters(between, t)) + 1 for t in tolerances]
    return out


def clusters(between: np.ndarray, tolerance: float) -> list[int]:
    """Agents grouped into conventions: the connected components of "d <
    tolerance" (single linkage) over float[K, K]; a label per agent, the
    labels numbered by first appearance."""
    size = between.shape[0]
    labels = [-1] * size
    count = 0
    for start in range(size):
        if labels[start] >= 0:
            continue
        labels[start], stack = count, [start]
        while stack:
            i = stack.pop()
            for j in range(size):
                if labels[j] < 0 and between[i, j] < tolerance:
                    labels[j] = count
                    stack.append(j)
        count += 1
    return labels


def merge_heights(between: np.ndarray) -> np.ndarray:
    """float[K - 1], ascending: the distances at which `clusters` joins two
    conventions as its tolerance grows (the edges of a minimum spanning tree of
    float[K, K], single linkage), so that for every tolerance t
    `clusters(between, t)` finds K - (number of heights < t) conventions. A
    count that rests on one tolerance is read against these: it holds from the
    height below t (exclusive) to the one at or above it (inclusive)."""
    size = between.shape[0]
    if size < 2:
        return np.zeros(0)
    joined = np.zeros(size, bool)
    joined[0] = True
    nearest = np.asarray(between[0], np.float64).copy()
    heights = []
    for _ in range(size - 1):
        candidates = np.where(joined, np.inf, nearest)
        j = int(np.argmin(candidates))
        heights.append(candidates[j])
        joined[j] = True
        nearest = np.minimum(nearest, between[j])
    return np.sort(np.asarray(heights))
