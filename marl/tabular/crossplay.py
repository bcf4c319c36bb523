"""Exact cross-play between independently trained tabular joint policies.

`policies` is a joint policy whose arrays carry a leading seed axis: per agent
float[N, K_i, A_i]. Seed i's agent-k policy plays seat k.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from games.tabular import TabularGame
from marl.tabular.exact import Policy, expected_return, play_distribution
from marl.tabular.exact_pg import update_bytes
from marl.trainer import map_in_blocks
from marl.xp_stats import (
    assignment_summary,
    matrix_summary,
    seat_assignments,
    standard_error,
)


class CrossPlay(NamedTuple):
    """Self-play (SP) and cross-play (XP) summaries.

    sp: mean over seeds of J(pi^i_1, ..., pi^i_n); sp_se its standard error.
    xp: mean of J over assignments of distinct seeds to seats (for 2 players, the
      off-diagonal mean of M[i, j] = J(pi^i_1, pi^j_2), both seat orders).
    xp_se: the jackknife standard error over seeds (`marl.xp_stats`; None for
      fewer than 3 seeds).
    matrix: float[N, N] for 2-player games, else None.
    """

    sp: float
    sp_se: float | None
    xp: float
    xp_se: float | None
    matrix: np.ndarray | None


def joint_returns(
    game: TabularGame, policies: Policy, assignments: jax.Array
) -> jax.Array:
    """Expected return of each seat assignment: float[M] for int[M, n] seed indices;
    on a CPU in the blocks the learner runs in (`marl.trainer.map_in_blocks`:
    Dec-Tiger's values at horizon 5 evaluate 2 to 3 times as fast in blocks of 3
    as 64 at once, docs/benchmarks.md)."""

    def one(seeds: jax.Array) -> jax.Array:
        joint = tuple(pi[seeds[k]] for k, pi in enumerate(policies))
        return expected_return(game, joint)

    return map_in_blocks(one, assignments, update_bytes(game))


def crossplay(
    game: TabularGame,
    policies: Policy,
    *,
    max_assignments: int = 100_000,
    rng: np.random.Generator | None = None,
) -> CrossPlay:
    """SP and XP of N seeds' joint policies (N >= 2), exactly for each assignment."""
    num_seeds = int(policies[0].shape[0])
    seeds = np.arange(num_seeds, dtype=np.int32)
    if game.num_agents == 2:
        pairs = np.stack(np.meshgrid(seeds, seeds, indexing="ij"), -1).reshape(-1, 2)
        matrix = np.asarray(_joint_returns_jit(game, policies, pairs)).reshape(
            num_seeds, num_seeds
        )
        summary = matrix_summary(matrix)
        return CrossPlay(
            summary["sp"],  # type: ignore[arg-type]
            summary["sp_se"],
            summary["xp"],  # type: ignore[arg-type]
            summary["xp_se"],
            matrix,
        )
    self_play = np.asarray(
        _joint_returns_jit(
            game, policies, np.repeat(seeds[:, None], game.num_agents, 1)
        )
    )
    rng = rng if rng is not None else np.random.default_rng(0)
    assignments = seat_assignments(num_seeds, game.num_agents, max_assignments, rng=rng)
    cross = np.asarray(_joint_returns_jit(game, policies, assignments))
    xp, xp_se = assignment_summary(cross, assignments, num_seeds)
    return CrossPlay(
        float(self_play.mean()), standard_error(self_play), xp, xp_se, None
    )


_joint_returns_jit = jax.jit(joint_returns)
_play_distribution_jit = jax.jit(play_distribution)


def count_conventions(game: TabularGame, policies: Policy, tol: float) -> int:
    """Number of distinct conventions among N seeds' joint policies.

    Two joint policies are the same convention when the total-variation distance of
    their distributions of play (`marl.tabular.exact.play_distribution`) is at most
    `tol`; this compares play wherever it happens and ignores choices at unreachable
    information states.
    Seeds are grouped greedily: each joins the first earlier group whose first
    member is within `tol`. One seed's distribution is built at a time (at
    Dec-Tiger's horizon 5 it has 15 million entries), and only the groups' first
    members are kept.
    """
    return conventions_at(game, policies, (tol,))[0]


def conventions_at(
    game: TabularGame, policies: Policy, tols: tuple[float, ...]
) -> list[int]:
    """`count_conventions` at each tolerance of `tols`, each seed's distribution
    of play built once."""
    leaders: list[list[np.ndarray]] = [[] for _ in tols]
    on_host = tuple(np.asarray(pi) for pi in policies)  # no slicing programs
    for seed in range(on_host[0].shape[0]):
        row = np.asarray(
            _play_distribution_jit(game, tuple(pi[seed] for pi in on_host))
        )
        for tol, kept in zip(tols, leaders, strict=True):
            if not any(0.5 * np.abs(leader - row).sum() <= tol for leader in kept):
                kept.append(row)
    return [len(kept) for kept in leaders]
