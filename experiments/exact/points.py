"""The results points of a tabular run's seeds (docs/results.md): what
`marl.tabular.analysis.measure_seeds` measures of each run's seeds, shaped for
results.json, with the run's label and convergence, and logged."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

import games
from experiments.exact.tabular_config import TabularConfig
from marl.tabular.analysis import SeedsMeasure, measure_seeds
from marl.tabular.convergence import Convergence, policies_of
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact_pg import PGState

log = logging.getLogger("experiments.tabular")  # the entry point's log


def seeds_point(
    measured: SeedsMeasure,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A `SeedsMeasure` as a results point (docs/results.md names every
    field) and, for 2-player games, its cross-play matrices float[N, N] keyed
    `crossplay<kind>`."""
    point: dict[str, Any] = {}
    matrices: dict[str, np.ndarray] = {}
    for suffix, xp in measured.crossplay.items():
        point[f"sp{suffix}"] = xp.sp
        point[f"sp{suffix}_se"] = xp.sp_se
        point[f"xp{suffix}"] = xp.xp
        point[f"xp{suffix}_se"] = xp.xp_se
        if xp.matrix is not None:
            matrices[f"crossplay{suffix}"] = xp.matrix
        if measured.equivariance_errors is not None:
            errors = measured.equivariance_errors[suffix]
            point[f"equivariance_error{suffix}"] = float(errors.mean())
            point[f"equivariance_error{suffix}_max"] = float(errors.max())
    point["converged"] = measured.converged
    point["num_conventions"] = measured.num_conventions
    point["max_grad_norm"] = measured.max_grad_norm
    if measured.symmetrized is not None:
        point["greedified_from_group_average"] = measured.symmetrized
    if measured.other_play_values is not None:
        point["other_play_value"] = float(measured.other_play_values.mean())
        point["other_play_value_best"] = float(measured.other_play_values.max())
    point["best_sp"] = measured.best_sp
    point["best_sp_greedy"] = measured.best_sp_greedy
    return point, matrices


def finite_or_none(value: float) -> float | None:
    """A convergence figure for results.json: null where it was not measured
    (a contraction never estimated, a distance without a contraction below 1)."""
    return float(value) if np.isfinite(value) else None


def evaluate_runs(
    game: games.TabularGame,
    states: PGState,
    labels: list[dict[str, Any]],
    config: TabularConfig,
    symmetries: tuple[PolicySymmetries, PolicySymmetries],
    convergence: Convergence | None = None,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """One results point per run (leading axis of `states`), labelled by `labels`,
    and the stacked 2-player cross-play matrices. With a `convergence`, conventions
    count converged seeds only and each point says how many there were."""
    policies = policies_of(states.logits, game.legal)  # per agent [R, N, K_i, A_i]
    grad_norm = np.asarray(states.grad_norm)
    points: list[dict[str, Any]] = []
    matrices: dict[str, list[np.ndarray]] = {}
    for r, label in enumerate(labels):
        measured = measure_seeds(
            game,
            tuple(pi[r] for pi in policies),
            grad_norm[r],
            converged=None if convergence is None else convergence.converged[r],
            convention_tol=config.convention_tol,
            tie_rtol=config.tie_rtol,
            equivariant_tol=config.equivariant_tol,
            max_assignments=config.max_assignments,
            symmetries=symmetries[0],
            seat_symmetries=symmetries[1],
        )
        point, mats = seeds_point(measured)
        converged = ""
        if convergence is not None:
            point["steps"] = int(convergence.steps[r])
            point["max_distance"] = finite_or_none(convergence.distance[r].max())
            point["max_contraction"] = finite_or_none(
                np.nanmax(convergence.contraction[r], initial=-np.inf)
            )
            converged = f"  converged {point['converged']}/{config.seeds}"
            if point["converged"] < config.seeds:
                converged += f" (UNCONVERGED {config.seeds - point['converged']})"
        points.append({**label, **point})
        for name, matrix in mats.items():
            matrices.setdefault(name, []).append(matrix)
        log.info(
            "%s: %s  SP %.4f  XP %.4f (se %s)  tie-aware greedy SP %.4f XP %.4f  "
            "conventions %d%s  "
            "equivariance error %.2g",
            game.name,
            " ".join(f"{k}={v:g}" for k, v in label.items()),
            point["sp"],
            point["xp"],
            "n/a" if point["xp_se"] is None else f"{point['xp_se']:.2g}",
            point["sp_greedy_ties"],
            point["xp_greedy_ties"],
            point["num_conventions"],
            converged,
            point["equivariance_error"],
        )
    return points, {name: np.stack(m) for name, m in matrices.items()}
