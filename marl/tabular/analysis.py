"""What is measured of a batch of seeds at one tau (`measure_seeds`): SP/XP
stochastic and greedified, equivariance, Other-Play values, conventions found,
and convergence."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

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


class SeedsMeasure(NamedTuple):
    """What is measured of N seeds' final joint policies (`measure_seeds`);
    `experiments.exact.points` shapes it for results.json (docs/results.md).
    Policy kinds, by suffix: "" the trained policies, "_greedy" their argmax
    greedification, "_greedy_ties" the tie-aware one."""

    crossplay: dict[str, CrossPlay]
    """SP and XP of each kind (`marl.tabular.crossplay.crossplay`)."""
    equivariance_errors: dict[str, np.ndarray] | None
    """float[N] per kind: each seed's equivariance error (None without the
    game's symmetries)."""
    converged: int | None
    """How many seeds converged (None: no fixed point to converge to)."""
    num_conventions: int
    """Conventions among the converged seeds (all seeds when `converged` is
    None; 0 when none converged)."""
    max_grad_norm: float
    symmetrized: int | None
    """Seeds greedified from their group average (None without symmetries)."""
    other_play_values: np.ndarray | None
    """float[N]: each seed's Other-Play value J_OP (2 agents with
    `seat_symmetries`, else None)."""
    best_sp: float
    best_sp_greedy: float


def measure_seeds(
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
) -> SeedsMeasure:
    """The `SeedsMeasure` of N seeds' final joint policies (per agent
    float[N, K_i, A_i]).

    With `symmetries`, also each kind's equivariance errors; with
    `seat_symmetries` (the group keeping agents in their seats) and two
    agents, the Other-Play value J_OP of each seed.

    `converged` (bool[N], `marl.tabular.convergence`) says which seeds converged
    to a fixed point; conventions are counted among those only. None for runs that
    have no fixed point to converge to (annealing, the sampled learner): then every
    seed counts.
    """
    scores = _device_scores(
        game, policies, tie_rtol, equivariant_tol, symmetries, seat_symmetries
    )
    kinds = {
        suffix: crossplay(game, joint, max_assignments=max_assignments)
        for suffix, joint in scores["kinds"].items()
    }
    if converged is None:
        count = count_conventions(game, policies, convention_tol)
    elif converged.any():
        chosen = tuple(np.asarray(pi)[converged] for pi in policies)
        count = count_conventions(game, chosen, convention_tol)
    else:
        count = 0
    return SeedsMeasure(
        crossplay=kinds,
        equivariance_errors=None
        if symmetries is None
        else {
            suffix: np.asarray(errors)
            for suffix, errors in scores["equivariance_errors"].items()
        },
        converged=None if converged is None else int(np.sum(converged)),
        num_conventions=count,
        max_grad_norm=float(np.max(grad_norm)),
        symmetrized=int(np.sum(scores["symmetrized"]))
        if "symmetrized" in scores
        else None,
        other_play_values=np.asarray(scores["other_play_values"])
        if "other_play_values" in scores
        else None,
        best_sp=float(np.max(np.asarray(scores["returns"]))),
        best_sp_greedy=float(np.max(np.asarray(scores["returns_greedy"]))),
    )
