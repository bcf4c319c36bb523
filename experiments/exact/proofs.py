"""The proofs of the tau* study (`experiments.exact.studies.tau_star_study`):
the verified test of a tau* bracket's ends (`marl.tabular.verified`: each end's
seeds put to the interval Krawczyk test, and a targeted search for a second
fixed point above the bracket), and tau_unique beside it (the bifurcation
diagram of `marl.tabular.continuation`, the proofs of
`marl.tabular.uniqueness`). Their fields are docs/results.md's
`critical_tau.proven_ends` and `critical_tau.uniqueness`."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import games
from marl.tabular import continuation, history_form, intervals, logit_newton, verified
from marl.tabular import uniqueness as uniqueness_proofs
from marl.tabular.converging import ConvergingTrainer
from marl.tabular.phase import CriticalTau

log = logging.getLogger("experiments.tabular")  # the entry point's log


def applies(converging: ConvergingTrainer, game: games.TabularGame) -> bool:
    """Whether the verified test's map is the learner's: self-play with the
    reach weighting (on a matrix game every weighting is it)."""
    weighting = converging.config.entropy_weighting
    return converging.config.objective == "selfplay" and (
        weighting == "reach" or game.is_matrix_game
    )


def proof_form(
    spec: games.DecPOMDP | games.MatrixGame, game: games.TabularGame
) -> history_form.HistoryForm:
    """The game's form for the verified tests, the searches and the trace: its
    histories that take the same decisions merged, with rigorous bounds
    (`history_form.merged`; Dec-Tiger at horizon 3: 83,232 histories to
    11,664)."""
    return history_form.merged(history_form.game_form(spec, game))


def agreement_test(
    spec: games.DecPOMDP | games.MatrixGame,
    game: games.TabularGame,
    converging: ConvergingTrainer,
) -> Callable[[float, tuple[np.ndarray, ...]], bool] | None:
    """`agrees(tau, policies)`: whether the verified test proves every seed of
    `policies` (per agent float[N, K_i, A]) at one and the same fixed point at
    `tau`; None where the test does not apply (`applies`) or the game is too
    large for it. The game's form is built once, at the first call."""
    if not applies(converging, game) or history_form.too_large(spec, game) is not None:
        return None
    forms: list[history_form.HistoryForm] = []

    def agrees(tau: float, policies: tuple[np.ndarray, ...]) -> bool:
        if not forms:
            forms.append(proof_form(spec, game))
        seeds = history_form.flatten(forms[0], policies)
        started = time.perf_counter()
        log.info(
            "%s: the verified test of %d seeds at tau = %.4g",
            converging.label,
            len(seeds),
            tau,
        )
        report = verified.verify_seeds(forms[0], tau, seeds, say(converging.label))
        log.info(
            "%s: at tau = %.4g %s (%d tests, %.1f s)",
            converging.label,
            tau,
            "every seed is proven at one fixed point"
            if report.one_fixed_point
            else f"{report.proven} of {len(seeds)} seeds proven at "
            f"{report.distinct_fixed_points} fixed points",
            report.tests_run,
            time.perf_counter() - started,
        )
        return report.one_fixed_point

    return agrees


def seeds_json(report: verified.SeedsReport) -> dict[str, Any]:
    """A verified test of seeds as the results file holds it."""
    return {**report._asdict(), "method": verified.METHOD}


def search_json(report: verified.SearchReport) -> dict[str, Any]:
    """A second-fixed-point search as the results file holds it."""
    second = None if report.second is None else report.second.tolist()
    return {**report._asdict(), "second": second}


def critical_tau_json(found: CriticalTau) -> dict[str, Any]:
    """A tau* search as the results file holds it: its verdicts as objects,
    its tuples as lists."""
    fields = found._asdict()
    for end in ("lower_verdict", "upper_verdict"):
        verdict = fields[end]
        fields[end] = None if verdict is None else verdict._asdict()
    fields["proven_agreements"] = list(found.proven_agreements)
    fields["agreement_intervals"] = [list(i) for i in found.agreement_intervals]
    return fields


def proof_json(proof: uniqueness_proofs.Proof) -> dict[str, Any]:
    """A branch-and-bound attempt as the results file holds it (its witness,
    an array, left out)."""
    fields = proof._asdict()
    fields.pop("witness")
    return fields


def say(label: str) -> Callable[[str], None]:
    """A line of where a verified test is, in the log."""
    return lambda line: log.info("%s: verified test: %s", label, line)


def proven_ends(
    spec: games.DecPOMDP | games.MatrixGame,
    game: games.TabularGame,
    converging: ConvergingTrainer,
    found: CriticalTau,
    policies: dict[float, tuple[np.ndarray, ...]],
    grid_taus: Any,
    diagram: continuation.Diagram | None = None,
) -> dict[str, Any] | None:
    """The verified test (`marl.tabular.verified.verify_seeds`) of the seeds at
    both ends of the bracket: at the upper end every seed proven at one and the
    same fixed point proves the agreement; at the lower end two or more fixed
    points proven distinct prove the disagreement. Then a targeted search for a
    second fixed point at the upper end and the grid point above it, started
    also from the fixed points of `diagram`'s branches there. None where
    the search found no bracket, and for Other-Play and the uniform weighting
    (the map verified is self-play's with the reach weighting); {"skipped":
    why} for games too large for the test (`history_form.too_large`). Where it
    is None or skipped, the ends rest on the estimated check of
    `marl.tabular.convergence`."""
    if not applies(converging, game) or found.tau_star is None:
        return None
    if (why := history_form.too_large(spec, game)) is not None:
        log.info(
            "%s: the ends are not put to the verified test: %s", converging.label, why
        )
        return {"skipped": why}
    started = time.perf_counter()
    form = proof_form(spec, game)
    ends: dict[str, dict[str, Any] | None] = {}
    for name, tau in (("lower", found.lower), ("upper", found.upper)):
        if tau not in policies or tau <= 0:
            ends[name] = None
            continue
        log.info(
            "%s: the verified test of the %s end %.4g", converging.label, name, tau
        )
        ends[name] = seeds_json(
            verified.verify_seeds(
                form,
                tau,
                history_form.flatten(form, policies[tau]),
                say(converging.label),
            )
        )
    upper, lower = ends["upper"], ends["lower"]
    searches = second_fixed_point_searches(
        form, converging.label, found, policies, grid_taus, diagram
    )
    log.info(
        "%s: the verified test of the bracket's ends took %.1f s",
        converging.label,
        time.perf_counter() - started,
    )
    lower_agrees = bool(lower and lower["one_fixed_point"])
    if lower_agrees:
        log.info(
            "%s: at the bracket's lower end %.4g every seed is proven at one fixed "
            "point: the lower end is no disagreement, the seeds agree below the "
            "bracket",
            converging.label,
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


def second_fixed_point_searches(
    form: history_form.HistoryForm,
    label: str,
    found: CriticalTau,
    policies: dict[float, tuple[np.ndarray, ...]],
    grid_taus: Any,
    diagram: continuation.Diagram | None,
) -> list[dict[str, Any]]:
    """`proven_ends`' search for a second fixed point at the bracket's upper
    end and the grid point above it (`verified.second_fixed_point_search`),
    started from the conventions found below tau*, the search's own starts
    and the fixed points of `diagram`'s branches there; results-ready."""
    searches: list[dict[str, Any]] = []
    if found.upper not in policies:
        return searches
    seeds = []
    if found.lower in policies:  # the conventions found below tau*
        seeds = list(history_form.flatten(form, policies[found.lower]))
    starts = verified.search_starts(form, seeds)
    above = [t for t in grid_taus if t > found.upper]
    for tau in [found.upper, *([min(above)] if above else [])]:
        agreed = history_form.flatten(form, policies.get(tau, policies[found.upper]))[0]
        # The tracer's branches where they cross tau start the search too.
        on_branches = (
            uniqueness_proofs.fixed_points_at(form, diagram, float(tau))
            if diagram is not None
            else np.empty((0, form.size))
        )
        log.info(
            "%s: searching for a second fixed point at tau = %.4g (%d starts)",
            label,
            tau,
            len(starts) + len(on_branches),
        )
        report = verified.second_fixed_point_search(
            form,
            float(tau),
            agreed,
            np.concatenate([starts, on_branches.reshape(-1, form.size)]),
            say(label),
        )
        searches.append(search_json(report) | {"branch_starts": len(on_branches)})
    return searches


def uniqueness(
    spec: games.DecPOMDP | games.MatrixGame,
    game: games.TabularGame,
    converging: ConvergingTrainer,
    seeds: tuple[np.ndarray, ...] | None,
    *,
    agree_lower: float | None = None,
    max_boxes: int = 4_000,
) -> tuple[dict[str, Any] | None, continuation.Diagram | None]:
    """tau_unique beside tau_agree (issue 56): the game's bifurcation diagram
    (`marl.tabular.continuation.trace`, from 5x down to 0.02x the returns'
    range, or half tau*'s lower end `agree_lower` where that is lower,
    started also from the uniqueness search's starts and the seeds' policies
    `seeds` found below tau*), and the bracket of where the fixed
    point becomes unique over the whole policy space
    (`marl.tabular.uniqueness.tau_unique`: two fixed points proven distinct
    at its lower end, uniqueness proven by branch-and-bound at its upper end,
    on 2-player matrix games; elsewhere the upper end is the tracer's).
    The results.json section `critical_tau.uniqueness` and the diagram; (None,
    None) where the map is not the learner's (`applies`), ({"skipped": why},
    None) for games over the tracer's or the verified test's limits
    (`history_form.too_large_to_trace`)."""
    if not applies(converging, game):
        return None, None
    why = history_form.too_large_to_trace(spec, game)
    if why is not None:
        log.info("%s: no bifurcation diagram: %s", converging.label, why)
        return {"skipped": why}, None
    form = proof_form(spec, game)
    started = time.perf_counter()
    span = float(form.returns.hi.max() - form.returns.lo.min()) or 1.0
    lowest = 0.02 * span if not agree_lower else min(0.02 * span, agree_lower / 2)
    settings = continuation.Settings(tau_max=5.0 * span, tau_min=lowest)
    found_seeds = [] if seeds is None else list(history_form.flatten(form, seeds))
    starts = verified.search_starts(form, found_seeds)
    log.info(
        "%s: tracing the fixed points from tau = %.4g down to %.4g (%d starts from "
        "below)",
        converging.label,
        settings.tau_max,
        settings.tau_min,
        len(starts),
    )
    try:
        diagram = continuation.trace(
            form,
            settings,
            starts,
            progress=lambda line: log.info("%s: tracing: %s", converging.label, line),
        )
    except (ValueError, np.linalg.LinAlgError) as error:  # no start, or singular
        log.info(
            "%s: no bifurcation diagram: the tracer failed: %s", converging.label, error
        )
        return {"skipped": f"the tracer failed: {error}"}, None
    traced = time.perf_counter() - started
    matrix = isinstance(spec, games.MatrixGame) and np.ndim(spec.payoff) == 2
    image_at = None
    if matrix:
        payoff = np.asarray(spec.payoff, np.float64)

        def image_at(tau: float) -> uniqueness_proofs.Image:
            return uniqueness_proofs.matrix_image(payoff, tau)

    log.info(
        "%s: %d branches, %d folds, %d branch points in %.1f s; proving where the "
        "fixed point becomes unique",
        converging.label,
        len(diagram.branches),
        len(diagram.folds),
        len(diagram.branch_points),
        traced,
    )
    # A budget in boxes, not seconds: the same run gives the same bracket on
    # any machine and under any load (a resumed run is compared with it).
    bracket = uniqueness_proofs.tau_unique(
        form, diagram, image_at, max_seconds=math.inf, max_boxes=max_boxes
    )
    seconds = time.perf_counter() - started
    if bracket.upper is None:
        log.info(
            "%s: the tracer met no second fixed point between tau = %.4g and %.4g, "
            "and no whole-space proof applies: tau_unique not bracketed (%.1f s)",
            converging.label,
            settings.tau_min,
            settings.tau_max,
            seconds,
        )
    else:
        log.info(
            "%s: tau_unique in %s (lower end %s, upper end %s; %.1f s)",
            converging.label,
            intervals.bracket_text(bracket.lower or 0.0, bracket.upper),
            "proven" if bracket.lower_proven else "estimated",
            "proven" if bracket.upper_proven else "not proven",
            seconds,
        )

    found = uniqueness_json(form, diagram, bracket, settings, matrix, traced, seconds)
    return found, diagram


def uniqueness_json(
    form: history_form.HistoryForm,
    diagram: continuation.Diagram,
    bracket: uniqueness_proofs.UniqueBracket,
    settings: continuation.Settings,
    matrix: bool,
    traced: float,
    seconds: float,
) -> dict[str, Any]:
    """The results.json section `critical_tau.uniqueness` (docs/results.md)."""

    def event(b: continuation.Bifurcation) -> dict[str, Any]:
        return {
            "tau": b.tau,
            "branch": b.branch,
            "crossing": b.crossing,
            "return": logit_newton.expected_return(form, b.policy),
        }

    return {
        "estimate": bracket.estimate,
        "lower": bracket.lower,
        "upper": bracket.upper,
        "lower_proven": bracket.lower_proven,
        "upper_proven": bracket.upper_proven,
        "lower_fixed_points": bracket.lower_fixed_points,
        "method": (
            "pseudo-arclength continuation (marl/tabular/continuation.py); lower "
            "end: interval Krawczyk test of two fixed points; upper end: interval "
            "branch-and-bound over the whole policy space "
            + "(2-player matrix games; marl/tabular/uniqueness.py)"
        ),
        "boxes": sum(a.boxes for a in bracket.attempts),
        "seconds": seconds,
        "trace_seconds": traced,
        "attempts": [proof_json(a) for a in bracket.attempts],
        "folds": [event(b) for b in diagram.folds],
        "branch_points": [event(b) for b in diagram.branch_points],
        "hopf": [event(b) for b in diagram.hopf],
        "conjugates": diagram.conjugates,
        "tau_range": [settings.tau_min, settings.tau_max],
        "notes": [*diagram.notes, *bracket.notes],
        "diagram": [
            {
                "parent": b.parent,
                "stop": b.stop,
                "taus": np.round(b.taus, 8).tolist(),
                "returns": np.round(b.returns, 8).tolist(),
                "stable": b.stable.astype(int).tolist(),
            }
            for b in diagram.branches
        ],
    }
