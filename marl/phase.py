"""The critical entropy weight tau*: the smallest tau at which every seed reaches
the same joint policy, by bracketing on a log scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games import TabularGame
from marl.crossplay import count_conventions
from marl.exact import softmax_policy
from marl.exact_pg import ExactPGConfig, Trainer, constant_schedules
from marl.matrix_pg import fastest_trainer


class CriticalTau(NamedTuple):
    """tau* lies in (lower, upper]; `upper` is the reported value."""

    lower: float
    upper: float
    evaluations: int


def seeds_agree(
    game: TabularGame,
    config: ExactPGConfig,
    trainer: Trainer,
    *,
    keys: jax.Array,
    taus: np.ndarray,
    convention_tol: float,
) -> np.ndarray:
    """bool[T]: whether all seeds end in one convention at each tau."""
    schedules = constant_schedules(jnp.asarray(taus), config.steps)
    states = trainer.run(trainer.init(keys, len(taus)), schedules)
    return policies_agree(game, softmax_policy(states.logits), convention_tol)


def policies_agree(
    game: TabularGame, policies: tuple[jax.Array, ...], convention_tol: float
) -> np.ndarray:
    """bool[T]: whether the seeds' policies, per agent [T, N, K_i, A_i], are one
    convention at each of the T taus."""
    return np.array(
        [
            count_conventions(game, tuple(pi[t] for pi in policies), convention_tol)
            == 1
            for t in range(policies[0].shape[0])
        ]
    )


def narrow_bracket(
    lower: float, upper: float, taus: np.ndarray, agree: np.ndarray
) -> tuple[float, float]:
    """The bracket (lower, upper] narrowed by taus already run with the same seeds
    and learner, `agree[k]` telling whether the seeds agreed at taus[k]: the first
    agreeing tau inside becomes `upper`, the last disagreeing one below it
    `lower` (the same monotonicity `critical_tau` assumes)."""
    for tau, agrees in sorted(zip(taus.tolist(), agree.tolist(), strict=True)):
        if not lower < tau < upper:
            continue
        if agrees:
            return lower, tau
        lower = tau
    return lower, upper


def critical_tau(
    game: TabularGame,
    config: ExactPGConfig,
    *,
    keys: jax.Array,
    lower: float,
    upper: float,
    rtol: float = 0.02,
    points_per_round: int = 8,
    convention_tol: float = 1e-3,
    known: tuple[np.ndarray, np.ndarray] | None = None,
    agree_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> CriticalTau:
    """Finds tau* to a relative tolerance `rtol`, given seeds disagree at `lower`
    and agree at `upper` (uniqueness is assumed monotone in tau between them).

    `known`, (taus, agree) from runs of the same seeds and learner (the phase
    grid), narrows the bracket first (`narrow_bracket`). Each round evaluates
    `points_per_round` taus spaced evenly in log tau inside the bracket as one
    vmapped batch, so the bracket shrinks by that factor per round.

    `agree_at(taus)` -> bool[T] runs the seeds at those taus and says where they
    agree (default: `seeds_agree` with `fastest_trainer(game, config)`, all steps
    in one call). The tabular entry point passes its own: the phase grid's
    trainer, run in the grid's chunks with progress logged.
    """
    if not 0 < lower < upper:
        raise ValueError(f"need 0 < lower < upper, got {lower}, {upper}")
    if known is not None:
        lower, upper = narrow_bracket(lower, upper, *known)
    if agree_at is None:
        trainer = fastest_trainer(game, config)

        def run_and_compare(taus: np.ndarray) -> np.ndarray:
            return seeds_agree(
                game,
                config,
                trainer,
                keys=keys,
                taus=taus,
                convention_tol=convention_tol,
            )

        agree_at = run_and_compare
    evaluations = 0
    while upper / lower > 1 + rtol:
        inner = np.geomspace(lower, upper, points_per_round + 2)[1:-1]
        agree = agree_at(inner)
        evaluations += len(inner)
        first = int(np.argmax(agree)) if agree.any() else len(inner)
        lower = float(inner[first - 1]) if first > 0 else lower
        upper = float(inner[first]) if first < len(inner) else upper
    return CriticalTau(lower, upper, evaluations)
