"""Per-tau summaries of a batch of seeds: SP/XP stochastic and greedified,
conventions found, and convergence."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from games import TabularGame
from marl.crossplay import CrossPlay, count_conventions, crossplay
from marl.equivariance import PolicySymmetries, equivariance_error
from marl.exact import Policy, expected_return
from marl.greedy import greedify, greedify_ties
from marl.other_play import other_play_return


def summarize_seeds(
    game: TabularGame,
    policies: Policy,
    grad_norm: np.ndarray,
    *,
    grad_tol: float,
    convention_tol: float,
    tie_tol: float,
    max_assignments: int,
    symmetries: PolicySymmetries | None = None,
    seat_symmetries: PolicySymmetries | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores of N seeds' final joint policies (per agent float[N, K_i, A_i]).

    With `symmetries`, also each kind's equivariance error (mean and max over seeds);
    with `seat_symmetries` (the group keeping agents in their seats) and two
    agents, the Other-Play value J_OP of the seeds (mean and best).

    Returns the JSON-ready point (see docs/results.md for every field) and, for
    2-player games, the cross-play matrices float[N, N] keyed by policy kind.
    """
    kinds: dict[str, Policy] = {
        "": policies,
        "_greedy": greedify(policies),
        "_greedy_ties": greedify_ties(policies, tie_tol),
    }
    point: dict[str, Any] = {}
    matrices: dict[str, np.ndarray] = {}
    for suffix, joint in kinds.items():
        scores: CrossPlay = crossplay(game, joint, max_assignments=max_assignments)
        point[f"sp{suffix}"] = scores.sp
        point[f"sp{suffix}_se"] = scores.sp_se
        point[f"xp{suffix}"] = scores.xp
        point[f"xp{suffix}_se"] = scores.xp_se
        if scores.matrix is not None:
            matrices[f"crossplay{suffix}"] = scores.matrix
        if symmetries is not None:
            errors = np.asarray(
                jax.vmap(lambda *pi: equivariance_error(pi, symmetries))(*joint)
            )
            point[f"equivariance_error{suffix}"] = float(errors.mean())
            point[f"equivariance_error{suffix}_max"] = float(errors.max())
    point["num_conventions"] = count_conventions(game, policies, convention_tol)
    point["converged_fraction"] = float(np.mean(np.asarray(grad_norm) < grad_tol))
    point["max_grad_norm"] = float(np.max(grad_norm))
    if seat_symmetries is not None and game.num_agents == 2:
        op_values = np.asarray(
            jax.vmap(lambda *pi: other_play_return(game, pi, seat_symmetries))(
                *policies
            )
        )
        point["other_play_value"] = float(op_values.mean())
        point["other_play_value_best"] = float(op_values.max())
    point["best_sp"] = float(
        np.max(np.asarray(jax.vmap(lambda *pi: expected_return(game, pi))(*policies)))
    )
    point["best_sp_greedy"] = float(
        np.max(
            np.asarray(
                jax.vmap(lambda *pi: expected_return(game, pi))(*kinds["_greedy"])
            )
        )
    )
    return point, matrices
