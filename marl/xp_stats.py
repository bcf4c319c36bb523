"""Self-play and cross-play summaries of N seeds, with standard errors that are
honest about what the seeds share; one summary for the tabular and the sampled
halves.

Cross-play (XP) is the mean over ordered pairs (for n players, assignments) of
distinct seeds. Its cells are not independent: every cell of seed k's row and
column shares seed k. Treating the N per-seed XP means as independent draws
(`std / sqrt(N)`) ignores that they share cells and underestimates the error
(about 2x when the seeds' own effects dominate; tests/marl/test_xp_stats.py). The
standard error here is the jackknife over seeds: the mean recomputed without
each seed in turn, var = (N - 1) / N * sum_k (XP_-k - mean)^2, the standard
variance estimate of a U-statistic (Efron and Stein 1981: it never
underestimates on average). It needs N >= 3; with fewer seeds it is None.

Whether XP falls short of SP is tested on the gap SP - XP: its jackknife standard
error (both means left without seed k, so the error counts that SP and XP share
seeds) and the one-sided p-value of a t test with N - 1 degrees of freedom,
P(T >= gap / se) under "XP = SP" (the jackknife's usual t reference; Efron and
Tibshirani 1993, ch. 11).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np


def standard_error(values: np.ndarray) -> float | None:
    """std(ddof=1) / sqrt(n) of independent values; None for fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    return float(np.std(values, ddof=1) / np.sqrt(values.size))


DEGENERATE_RTOL = 1e-6
"""A jackknife error below this fraction of the values' scale is round-off."""


def jackknife_se(
    leave_one_out: np.ndarray, cells: np.ndarray | None = None
) -> float | None:
    """The jackknife standard error from the N leave-one-seed-out estimates.

    None for N < 3, and None where the jackknife is degenerate: the estimates
    agree to round-off although the `cells` they average differ (two seeds on
    one convention and two on another: leaving out any one seed gives the same
    XP, yet XP is far from certain). Cells that are all equal give 0."""
    values = np.asarray(leave_one_out, dtype=np.float64)
    n = values.size
    if n < 3:
        return None
    se = float(np.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))
    if cells is not None:
        cells = np.asarray(cells, dtype=np.float64)
        scale = max(1.0, float(np.abs(cells).max(initial=0.0)))
        if se <= DEGENERATE_RTOL * scale:
            return None if np.ptp(cells) > DEGENERATE_RTOL * scale else 0.0
    return se


def gap_p_value(gap: float, se: float | None, num_seeds: int) -> float | None:
    """One-sided p-value that XP is below SP: P(T >= gap / se), T a Student t
    with num_seeds - 1 degrees of freedom; None without a positive error."""
    if se is None or not se > 0:
        return None
    from scipy import special  # here: 0.1 s of every entry point's start else

    return float(special.stdtr(num_seeds - 1, -gap / se))  # = scipy.stats.t.sf


def matrix_summary(matrix: np.ndarray) -> dict[str, float | None]:
    """Self-play and cross-play of a 2-player cross-play matrix float[N, N]
    (M[i, j]: seed i in seat 1, seed j in seat 2).

    sp, sp_se: the diagonal's mean and standard error; xp: the mean over both
    seat orders of every pair of distinct seeds, xp_se its jackknife over seeds;
    xp_gap = sp - xp, xp_gap_se its jackknife over seeds and xp_gap_p the
    one-sided p-value of XP < SP (`gap_p_value`). Errors need N >= 3 and a
    jackknife that is not degenerate (`jackknife_se`; else None)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    diagonal = np.diag(matrix)
    summary: dict[str, float | None] = {
        "sp": float(diagonal.mean()),
        "sp_se": standard_error(diagonal),
        "xp": None,
        "xp_se": None,
        "xp_gap": None,
        "xp_gap_se": None,
        "xp_gap_p": None,
    }
    if n < 2:
        return summary
    off = matrix * ~np.eye(n, dtype=bool)
    total = off.sum()
    xp = float(total / (n * (n - 1)))
    gap = float(diagonal.mean()) - xp
    summary["xp"], summary["xp_gap"] = xp, gap
    if n >= 3:
        with_seed = off.sum(0) + off.sum(1)  # the cells each seed is in
        xp_without = (total - with_seed) / ((n - 1) * (n - 2))
        sp_without = (diagonal.sum() - diagonal) / (n - 1)
        cells = matrix[~np.eye(n, dtype=bool)]
        summary["xp_se"] = jackknife_se(xp_without, cells)
        summary["xp_gap_se"] = jackknife_se(
            sp_without - xp_without, np.concatenate([diagonal, cells])
        )
        summary["xp_gap_p"] = gap_p_value(gap, summary["xp_gap_se"], n)
    return summary


def assignment_summary(
    cross: np.ndarray, assignments: np.ndarray, num_seeds: int
) -> tuple[float, float | None]:
    """(xp, xp_se) from the returns float[M] of assignments int[M, n] of distinct
    seeds to seats (3+ players): the mean, and the jackknife over seeds (each
    seed left out with every assignment it takes part in)."""
    cross = np.asarray(cross, dtype=np.float64)
    total, count = cross.sum(), cross.size
    sums = np.zeros(num_seeds)
    counts = np.zeros(num_seeds)
    for seat in range(assignments.shape[1]):
        np.add.at(sums, assignments[:, seat], cross)
        np.add.at(counts, assignments[:, seat], 1)
    kept = counts < count  # a seed in every assignment cannot be left out
    leave_one_out = (total - sums[kept]) / (count - counts[kept])
    return float(total / count), jackknife_se(leave_one_out, cross)


def seat_assignments(
    num_seeds: int, num_agents: int, max_assignments: int, *, rng: np.random.Generator
) -> np.ndarray:
    """int[M, n] ordered tuples of distinct seeds: all N!/(N-n)! of them when that is
    at most `max_assignments`, else that many drawn uniformly (with replacement)."""
    total = math.perm(num_seeds, num_agents)
    if total <= max_assignments:
        return np.array(
            list(itertools.permutations(range(num_seeds), num_agents)), dtype=np.int32
        ).reshape(total, num_agents)
    draws = [rng.permutation(num_seeds)[:num_agents] for _ in range(max_assignments)]
    return np.array(draws, dtype=np.int32)


def group_gap(matrix: np.ndarray, members: np.ndarray) -> float:
    """SP - XP of the agents `members` (int[U]) of a cross-play matrix
    float[K, K] over more agents: the mean of their diagonal cells minus the
    mean over the ordered pairs of distinct members (both seat orders)."""
    sub = np.asarray(matrix, np.float64)[np.ix_(members, members)]
    n = len(members)
    xp = (sub.sum() - np.trace(sub)) / (n * (n - 1))
    return float(np.trace(sub) / n - xp)


def boundary_gap(matrix: np.ndarray, members: np.ndarray, side: np.ndarray) -> float:
    """Cross-play within minus cross-play across a boundary between two kinds
    of agent (two implementations, say) among `members` (int[U]) of a matrix
    float[K, K], `side` int[K] (0 or 1) naming each agent's kind: the mean of
    the two kinds' own XP (each over its ordered pairs of distinct members)
    less the mean of the two seat orders across (kind 0 in seat 1 with kind 1
    in seat 2, and the reverse), each block weighed alike. Zero when a cell is
    any additive function of its two agents (a seat-1 skill plus a seat-2
    skill, per agent): what it measures is the agreement that the boundary
    loses, not a difference of skill. Each kind needs at least two members."""
    members = np.asarray(members)
    kinds = np.asarray(side)[members]
    blocks = [members[kinds == k] for k in (0, 1)]
    if min(len(b) for b in blocks) < 2:
        raise ValueError(f"need >= 2 members of each kind: {[len(b) for b in blocks]}")
    m = np.asarray(matrix, np.float64)

    def within(b: np.ndarray) -> float:
        sub = m[np.ix_(b, b)]
        return float((sub.sum() - np.trace(sub)) / (len(b) * (len(b) - 1)))

    across = (m[np.ix_(*blocks)].mean() + m[np.ix_(blocks[1], blocks[0])].mean()) / 2
    return (within(blocks[0]) + within(blocks[1])) / 2 - float(across)


def boundary_permutation_test(
    matrix: np.ndarray, members: np.ndarray, side: np.ndarray
) -> dict[str, float | int]:
    """Does the boundary between the two kinds of `members` cost cross-play?
    The one-sided exact p-value of `boundary_gap` under the null that the
    kinds' labels are exchangeable among the members: the share of the
    relabelings that keep each kind's count (all C(U, U_0) of them, the
    observed one among them) whose gap reaches the observed one. For a
    boundary whose two sides play alike, whatever their skill."""
    members = np.asarray(members)
    kinds = np.asarray(side)[members]
    first = int((kinds == 0).sum())
    observed = boundary_gap(matrix, members, side)
    labels = np.zeros(len(side), np.int64)
    gaps = []
    for chosen in itertools.combinations(range(len(members)), first):
        labels[members] = 1
        labels[members[list(chosen)]] = 0
        gaps.append(boundary_gap(matrix, members, labels))
    at_least = int((np.array(gaps) >= observed - 1e-12).sum())
    return {
        "gap": observed,
        "p_value": at_least / len(gaps),
        "relabelings": len(gaps),
    }


def seed_permutation_test(
    matrix: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    draws: int = 100_000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] | None = None,
) -> dict[str, float | int | bool]:
    """The pre-registered test of docs/studies/hanabi_3c3r_preregistered.md:
    does the low coefficient's group leave a larger cross-play gap than the
    high one's? `matrix` float[K, K] is one cross-play of every agent (M[i, j]:
    agent i in seat 1, agent j in seat 2); seed unit u (a root seed and a seed
    index, trained at both coefficients from one start) has its agents
    `low[u]` and `high[u]`. The statistic is T = gap(low) - gap(high)
    (`group_gap`: XP over every pair of distinct units, those of different
    roots counted as any other; or `statistic`, any function of a group's
    agents, e.g. `boundary_gap`'s). Under the null that a unit's two agents are
    exchangeable, swapping them in any subset of units leaves T's distribution
    unchanged: the one-sided p-value is the share of relabelings (each unit
    swapped with probability 1/2) whose T* >= T, counting the observed one;
    exact, over all 2**U relabelings, when there are at most `draws` of them,
    else (1 + #{T* >= T}) / (1 + draws) over `draws` random ones (seeded)."""
    low, high = np.asarray(low), np.asarray(high)
    units = len(low)
    if units != len(high) or units < 2:
        raise ValueError(f"need >= 2 units with one agent at each coefficient: {units}")
    gap = statistic or (lambda members: group_gap(matrix, members))
    observed = gap(low) - gap(high)
    exact = 2**units <= draws
    if exact:
        flips = np.array(list(itertools.product((False, True), repeat=units)))
    else:
        flips = np.random.default_rng(seed).random((draws, units)) < 0.5
    stats_ = np.array(
        [gap(np.where(f, high, low)) - gap(np.where(f, low, high)) for f in flips]
    )
    # The observed relabeling is among the exact ones; a random draw adds it.
    at_least = int((stats_ >= observed - 1e-12).sum())
    p = at_least / len(flips) if exact else (1 + at_least) / (1 + draws)
    return {
        "statistic": float(observed),
        "gap_low": gap(low),
        "gap_high": gap(high),
        "p_value": float(p),
        "relabelings": len(flips),
        "exact": bool(exact),
        "units": int(units),
    }
