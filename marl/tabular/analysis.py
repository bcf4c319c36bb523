"""Per-tau summaries of a batch of seeds: SP/XP stochastic and greedified,
conventions found, and convergence."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import numpy as np

from games.tabular import TabularGame
from marl.tabular.crossplay import CrossPlay, count_conventions, crossplay
from marl.tabular.equivariance import PolicySymmetries, equivariance_error
from marl.tabular.exact import Policy, expected_return
from marl.tabular.greedy import greedify, greedify_ties, symmetrize
from marl.tabular.other_play import other_play_return


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _device_scores(
    game: TabularGame,
    policies: Policy,
    tie_rtol: float,
    equivariant_tol: float,
    symmetries: PolicySymmetries | None,
    seat_symmetries: PolicySymmetries | None,
) -> dict[str, Any]:
    """The seeds' greedified policies, equivariance errors, Other-Play values and
    self-play returns, in one program (compiled once per study: the symmetries
    are static, hashed by identity). Seeds equivariant to within
    `equivariant_tol` are greedified from their group average
    (`marl.tabular.greedy.symmetrize`)."""
    scores: dict[str, Any] = {}
    to_greedify = policies
    if symmetries is not None:
        to_greedify, averaged = jax.vmap(
            lambda *pi: symmetrize(pi, symmetries, equivariant_tol)
        )(*policies)
        scores["symmetrized"] = averaged
    kinds = {
        "": policies,
        "_greedy": greedify(to_greedify, tie_rtol),
        "_greedy_ties": greedify_ties(to_greedify, tie_rtol),
    }
    scores["kinds"] = kinds
    if symmetries is not None:
        scores["equivariance_errors"] = {
            suffix: jax.vmap(lambda *pi: equivariance_error(pi, symmetries))(*joint)
            for suffix, joint in kinds.items()
        }
    if seat_symmetries is not None and game.num_agents == 2:
        scores["other_play_values"] = jax.vmap(
            lambda *pi: other_play_return(game, pi, seat_symmetries)
        )(*policies)
    returns = jax.vmap(lambda *pi: expected_return(game, pi))
    scores["returns"] = returns(*policies)
    scores["returns_greedy"] = returns(*kinds["_greedy"])
    return scores


def summarize_seeds(
    game: TabularGame,
    policies: Policy,
    grad_norm: np.ndarray,
    *,
    converged: np.ndarray | None,
    convention_tol: float,
    tie_rtol: float,
    equivariant_tol: float,
    max_assignments: int,
    symmetries: PolicySymmetries | None = None,
    seat_symmetries: PolicySymmetries | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores of N seeds' final joint policies (per agent float[N, K_i, A_i]).

    With `symmetries`, also each kind's equivariance error (mean and max over seeds);
    with `seat_symmetries` (the group keeping agents in their seats) and two
    agents, the Other-Play value J_OP of the seeds (mean and best).

    `converged` (bool[N], `marl.tabular.convergence`) says which seeds converged
    to a fixed point; conventions are counted among those only. None for runs that
    have no fixed point to converge to (annealing, the sampled learner): then every
    seed counts.

    Returns the JSON-ready point (see docs/results.md for every field) and, for
    2-player games, the cross-play matrices float[N, N] keyed by policy kind.
    """
    scores = _device_scores(
        game, policies, tie_rtol, equivariant_tol, symmetries, seat_symmetries
    )
    point: dict[str, Any] = {}
    matrices: dict[str, np.ndarray] = {}
    for suffix, joint in scores["kinds"].items():
        xp: CrossPlay = crossplay(game, joint, max_assignments=max_assignments)
        point[f"sp{suffix}"] = xp.sp
        point[f"sp{suffix}_se"] = xp.sp_se
        point[f"xp{suffix}"] = xp.xp
        point[f"xp{suffix}_se"] = xp.xp_se
        if xp.matrix is not None:
            matrices[f"crossplay{suffix}"] = xp.matrix
        if symmetries is not None:
            errors = np.asarray(scores["equivariance_errors"][suffix])
            point[f"equivariance_error{suffix}"] = float(errors.mean())
            point[f"equivariance_error{suffix}_max"] = float(errors.max())
    if converged is None:
        point["converged"] = None
        point["num_conventions"] = count_conventions(game, policies, convention_tol)
    else:
        point["converged"] = int(np.sum(converged))
        point["num_conventions"] = (
            count_conventions(
                game,
                tuple(np.asarray(pi)[converged] for pi in policies),
                convention_tol,
            )
            if converged.any()
            else 0
        )
    point["max_grad_norm"] = float(np.max(grad_norm))
    if "symmetrized" in scores:
        point["greedified_from_group_average"] = int(np.sum(scores["symmetrized"]))
    if "other_play_values" in scores:
        op_values = np.asarray(scores["other_play_values"])
        point["other_play_value"] = float(op_values.mean())
        point["other_play_value_best"] = float(op_values.max())
    point["best_sp"] = float(np.max(np.asarray(scores["returns"])))
    point["best_sp_greedy"] = float(np.max(np.asarray(scores["returns_greedy"])))
    return point, matrices
