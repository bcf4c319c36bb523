"""The verified test of a tau* bracket's ends (`marl.tabular.verified`): each
end's seeds put to the interval Krawczyk test, and a targeted search for a
second fixed point above the bracket. Part of the tau* study
(`experiments.exact.studies.tau_star_study`); its fields are docs/results.md's
`critical_tau.proven_ends`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import games
from marl.tabular import history_form, verified
from marl.tabular.convergence import ConvergingTrainer
from marl.tabular.phase import CriticalTau

log = logging.getLogger("experiments.tabular")  # the entry point's log


def applies(learner: ConvergingTrainer, game: games.TabularGame) -> bool:
    """Whether the verified test's map is the learner's: self-play with the
    reach weighting (on a matrix game every weighting is it)."""
    weighting = learner.config.entropy_weighting
    return learner.config.objective == "selfplay" and (
        weighting == "reach" or game.is_matrix_game
    )


def agreement_test(
    spec: games.DecPOMDP | games.MatrixGame,
    game: games.TabularGame,
    learner: ConvergingTrainer,
) -> Callable[[float, tuple[np.ndarray, ...]], bool] | None:
    """`agrees(tau, policies)`: whether the verified test proves every seed of
    `policies` (per agent float[N, K_i, A]) at one and the same fixed point at
    `tau`; None where the test does not apply (`applies`) or the game is too
    large for it. The game's form is built once, at the first call."""
    if not applies(learner, game) or history_form.too_large(spec, game) is not None:
        return None
    forms: list[history_form.HistoryForm] = []

    def agrees(tau: float, policies: tuple[np.ndarray, ...]) -> bool:
        if not forms:
            forms.append(history_form.game_form(spec, game))
        seeds = history_form.flatten(forms[0], policies)
        return bool(verified.verify_seeds(forms[0], tau, seeds)["one_fixed_point"])

    return agrees


def proven_ends(
    spec: games.DecPOMDP | games.MatrixGame,
    game: games.TabularGame,
    learner: ConvergingTrainer,
    found: CriticalTau,
    policies: dict[float, tuple[np.ndarray, ...]],
    grid_taus: Any,
) -> dict[str, Any] | None:
    """The verified test (`marl.tabular.verified.verify_seeds`) of the seeds at
    both ends of the bracket: at the upper end every seed proven at one and the
    same fixed point proves the agreement; at the lower end two or more fixed
    points proven distinct prove the disagreement. Then a targeted search for a
    second fixed point at the upper end and the grid point above it. None where
    the search found no bracket, and for Other-Play and the uniform weighting
    (the map verified is self-play's with the reach weighting); {"skipped":
    why} for games too large for the test (`history_form.too_large`). Where it
    is None or skipped, the ends rest on the estimated check of
    `marl.tabular.convergence`."""
    if not applies(learner, game) or found.tau_star is None:
        return None
    if (why := history_form.too_large(spec, game)) is not None:
        log.info(
            "%s: the ends are not put to the verified test: %s", learner.label, why
        )
        return {"skipped": why}
    started = time.perf_counter()
    form = history_form.game_form(spec, game)
    ends: dict[str, dict[str, Any] | None] = {}
    for name, tau in (("lower", found.lower), ("upper", found.upper)):
        if tau not in policies or tau <= 0:
            ends[name] = None
            continue
        ends[name] = verified.verify_seeds(
            form, tau, history_form.flatten(form, policies[tau])
        )
    upper, lower = ends["upper"], ends["lower"]
    searches = []
    if found.upper in policies:
        seeds = []
        if found.lower in policies:  # the conventions found below tau*
            seeds = list(history_form.flatten(form, policies[found.lower]))
        starts = verified.search_starts(form, seeds)
        above = [t for t in grid_taus if t > found.upper]
        for tau in [found.upper, *([min(above)] if above else [])]:
            agreed = history_form.flatten(
                form, policies.get(tau, policies[found.upper])
            )[0]
            searches.append(
                verified.second_fixed_point_search(form, float(tau), agreed, starts)
            )
    log.info(
        "%s: the verified test of the bracket's ends took %.1f s",
        learner.label,
        time.perf_counter() - started,
    )
    lower_agrees = bool(lower and lower["one_fixed_point"])
    if lower_agrees:
        log.info(
            "%s: at the bracket's lower end %.4g every seed is proven at one fixed "
            "point: the lower end is no disagreement, the seeds agree below the "
            "bracket",
            learner.label,
            found.lower,
        )
    return {
        **ends,
        "uniqueness_search": searches,
        "upper_agreement_proven": bool(upper and upper["one_fixed_point"]),
        "lower_disagreement_proven": bool(
            lower and lower["distinct_fixed_points"] >= 2
        ),
        "lower_agreement_proven": lower_agrees,
    }
