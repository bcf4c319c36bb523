"""The critical entropy weight tau*: the smallest tau above which every seed
reaches the same joint policy, as a converged quantity.

Agreement at a tau is a verdict on converged seeds (`marl.tabular.convergence`):
'agree' when every seed is converged and they form one convention, 'disagree' when the
converged seeds form two or more, 'uncertain' otherwise (some seed never reached a
converged fixed point). The search verifies both ends of its bracket, widening
them when a check fails, and reports agreement that is not monotone in tau as
intervals instead of hiding it by bisection. `settled_critical_tau` lets a
proof settle 'uncertain' verdicts (the verified test of
`marl.tabular.verified`, passed in as a function of tau).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import numpy as np

from games.tabular import TabularGame
from marl.tabular.convergence import policies_of
from marl.tabular.converging import ConvergingTrainer, train_until_converged
from marl.tabular.crossplay import conventions_at
from marl.tabular.exact import Policy

AGREE, DISAGREE, UNCERTAIN = "agree", "disagree", "uncertain"

TOLERANCE_FACTOR = 4.0
"""How far from convention_tol (either way) a verdict's convention count is
also taken (`Consensus.near_tolerance`)."""


class Consensus(NamedTuple):
    """Whether the seeds agree at one tau, and on what evidence."""

    tau: float
    status: str  # AGREE, DISAGREE or UNCERTAIN
    converged: int  # seeds converged at a fixed point
    seeds: int
    conventions: int  # among the converged seeds (0 when none is)
    steps: int  # steps the run took
    near_tolerance: bool = False
    """The converged seeds count a different number of conventions at
    convention_tol / TOLERANCE_FACTOR or x TOLERANCE_FACTOR: two of them lie
    within a few tolerances of each other, so the verdict rests on where the
    tolerance merges them."""
    proven: bool = False
    """The verdict is the verified test's (`marl.tabular.verified`): an
    'uncertain' estimate whose seeds are all proven at one fixed point is
    AGREE (`proven_agreement`)."""


def proven_agreement(verdict: Consensus) -> Consensus:
    """`verdict` (of seeds the verified test proves all at one fixed point) as
    agreement: the estimate's counts kept, the status AGREE and `proven`."""
    return verdict._replace(status=AGREE, proven=True)


def verdicts(
    game: TabularGame,
    taus: np.ndarray,
    policies: Policy,
    converged_runs: np.ndarray,
    steps_run: np.ndarray,
    convention_tol: float,
) -> list[Consensus]:
    """One verdict per tau from the seeds' policies (per agent [T, N, K_i, A_i]),
    which of them are converged (bool[T, N]) and the steps each tau ran (int[T],
    a `Convergence`'s `converged` and `steps`)."""
    found = []
    on_host = tuple(np.asarray(pi) for pi in policies)  # no slicing programs
    for t, tau in enumerate(np.asarray(taus).tolist()):
        converged = np.asarray(converged_runs[t])
        count = int(converged.sum())
        tols = (
            convention_tol,
            convention_tol / TOLERANCE_FACTOR,
            convention_tol * TOLERANCE_FACTOR,
        )
        counts = (
            conventions_at(game, tuple(pi[t][converged] for pi in on_host), tols)
            if count
            else [0, 0, 0]
        )
        conventions = counts[0]
        if conventions >= 2:
            status = DISAGREE
        elif count == len(converged):
            status = AGREE
        else:
            status = UNCERTAIN
        steps = int(steps_run[t])
        near = len(set(counts)) > 1
        found.append(
            Consensus(tau, status, count, len(converged), conventions, steps, near)
        )
    return found


def converged_verdicts(
    game: TabularGame,
    converging: ConvergingTrainer,
    keys: jax.Array,
    taus: np.ndarray,
    *,
    convention_tol: float,
) -> list[Consensus]:
    """Runs the seeds at `taus` until converged
    (`marl.tabular.converging.train_until_converged`) and gives the verdicts."""
    states, convergence = train_until_converged(game, converging, keys, taus)
    policies = policies_of(states.logits, game.legal)
    return verdicts(
        game, taus, policies, convergence.converged, convergence.steps, convention_tol
    )


class CriticalTau(NamedTuple):
    """tau* lies in (lower, upper]; `tau_star` is `upper`, or None when the seeds
    were never converged to agree (then `notes` says why)."""

    tau_star: float | None
    lower: float
    upper: float
    lower_verdict: Consensus | None
    upper_verdict: Consensus | None
    evaluations: int  # taus run by the search (the grid's are not counted)
    notes: list[str]  # widened ends, failed checks, non-monotone agreement
    agreement_intervals: list[tuple[float, float]]  # over every tau seen
    proven_agreements: tuple[float, ...] = ()
    """The taus whose 'uncertain' verdict the verified test settled as
    agreement (`settled_critical_tau`)."""


def agreement_intervals(seen: Iterable[Consensus]) -> list[tuple[float, float]]:
    """The maximal runs of consecutive taus (in order) whose verdict is AGREE, as
    (first, last) tau pairs; more than one means agreement is not monotone."""
    intervals: list[tuple[float, float]] = []
    start: float | None = None
    last = 0.0
    for verdict in sorted(seen, key=lambda v: v.tau):
        if verdict.status == AGREE:
            start = verdict.tau if start is None else start
            last = verdict.tau
        elif start is not None:
            intervals.append((start, last))
            start = None
    if start is not None:
        intervals.append((start, last))
    return intervals


def final_bracket(
    seen: dict[float, Consensus], lower: float, upper: float
) -> tuple[float, float]:
    """(lo, hi]: lo the largest tau in [lower, upper] without agreement, hi the
    smallest agreeing tau above it (the last crossing into agreement)."""
    inside = sorted(t for t in seen if lower <= t <= upper)
    lo = max((t for t in inside if seen[t].status != AGREE), default=lower)
    hi = min(t for t in inside if t > lo and seen[t].status == AGREE)
    return lo, hi


def known_ends(
    seen: dict[float, Consensus], lower: float, upper: float, notes: list[str]
) -> tuple[float, float]:
    """The search's starting ends, moved onto verdicts already known where those
    settle them: the upper end down to the largest known tau at or below it when
    the seeds agree there, the lower end up to the smallest known tau at or above
    it when they disagree, every seed converged, there (a grid whose taus lie inside the
    bracket then costs the search no end evaluation). Agreement above the moved
    upper end was never looked for between the grid's taus either, so tau* is the
    same last crossing into agreement; an end whose known verdict would not
    settle it stays where it was, to be evaluated. Each move is noted."""
    below = [t for t in seen if t <= upper]
    if below and seen[max(below)].status == AGREE and max(below) < upper:
        notes.append(
            f"upper end {max(below):.8g} instead of {upper:.8g}: the seeds already "
            "agree there"
        )
        upper = max(below)
    above = [t for t in seen if lower <= t < upper]
    if above and seen[min(above)].status == DISAGREE and min(above) > lower:
        notes.append(
            f"lower end {min(above):.8g} instead of {lower:.8g}: the seeds already "
            "disagree, every seed converged, there"
        )
        lower = min(above)
    return lower, upper


def bracket_notes(
    seen: dict[float, Consensus], lo: float, hi: float, lower: float, upper: float
) -> list[str]:
    """What the final bracket (lo, hi] rests on, in words: the search's lower
    end uncertain, a bracket's lower end that is no disagreement of converged
    seeds, an end whose verdict rests on the
    convention tolerance, agreement that is not monotone in tau."""
    notes = []
    if seen[lower].status == UNCERTAIN:
        notes.append(
            f"lower end {lower:.4g} is uncertain, not a disagreement of "
            f"converged seeds ({seen[lower].converged}/{seen[lower].seeds} "
            "seeds converged)"
        )
    end = seen.get(lo)
    if end is not None and end.status != DISAGREE and lo != lower:
        notes.append(
            f"the bracket's lower end {lo:.4g} is '{end.status}', not a "
            f"disagreement of converged seeds ({end.converged}/{end.seeds} "
            "seeds converged, "
            f"{end.conventions} conventions)"
        )
    for name, tau in (("lower", lo), ("upper", hi)):
        verdict = seen.get(tau)
        if verdict is not None and verdict.near_tolerance:
            notes.append(
                f"the {name} end's verdict rests on the convention tolerance: "
                f"at {tau:.4g} the converged seeds count a different number of "
                f"conventions at {TOLERANCE_FACTOR:g}x smaller or larger "
                "tolerances"
            )
    intervals = agreement_intervals(v for v in seen.values() if v.tau <= upper)
    if len(intervals) > 1:
        notes.append(
            "agreement is not monotone in tau: seeds agree on "
            + ", ".join(f"[{a:.4g}, {b:.4g}]" for a, b in intervals)
            + "; tau* is the start of the last interval"
        )
    return notes


def critical_tau(
    agree_at: Callable[[np.ndarray], list[Consensus]],
    *,
    lower: float,
    upper: float,
    rtol: float = 0.02,
    points_per_round: int = 8,
    known: Iterable[Consensus] = (),
    widen_factor: float = 4.0,
    max_widenings: int = 3,
) -> CriticalTau:
    """tau* to a relative tolerance `rtol`, from verdicts `agree_at(taus)` (see
    `converged_verdicts`; `known`: verdicts of the same seeds and learner already
    run, e.g. the phase grid's).

    0. Ends the known verdicts already settle cost nothing (`known_ends`).
    1. The upper end must be agreement of converged seeds; if not, it is multiplied by
       `widen_factor` (at most `max_widenings` times) and the notes say so.
    2. The lower end must not be agreement; if it is, and every verdict seen
       between the ends agrees, it is divided likewise; agreement at every
       tau seen down to the last lower end gives tau_star None. Agreement at
       the lower end below a verdict that is not agreement leaves the lower
       end where it is: the bracket is still the last crossing (step 3).
    3. The bracket is (lo, hi] around the last crossing into agreement below the
       upper end (`final_bracket`): taus that agree below a disagreeing or
       uncertain one are not taken for tau*, and `agreement_intervals` lists
       every run of agreement seen.
    4. Each round evaluates `points_per_round` taus spaced evenly in log tau
       inside (lo, hi) as one batch, until hi / lo <= 1 + rtol.
    """
    if not 0 < lower < upper:
        raise ValueError(f"need 0 < lower < upper, got {lower}, {upper}")
    seen = {v.tau: v for v in known}
    notes: list[str] = []
    evaluations = 0

    def evaluate(taus: Iterable[float]) -> None:
        nonlocal evaluations
        new = np.array(sorted({float(t) for t in taus} - set(seen)))
        if len(new):
            evaluations += len(new)
            seen.update({v.tau: v for v in agree_at(new)})

    def result(tau_star: float | None, lo: float, hi: float) -> CriticalTau:
        return CriticalTau(
            tau_star,
            lo,
            hi,
            seen.get(lo),
            seen.get(hi),
            evaluations,
            notes,
            agreement_intervals(seen.values()),
        )

    lower, upper = known_ends(seen, lower, upper, notes)
    evaluate([upper])
    for _ in range(max_widenings):
        if seen[upper].status == AGREE:
            break
        previous = seen[upper]
        upper *= widen_factor
        notes.append(
            f"upper end widened to {upper:.4g}: at {previous.tau:.4g} the verdict "
            f"was '{previous.status}' ({previous.converged}/{previous.seeds} seeds "
            f"converged, {previous.conventions} conventions)"
        )
        evaluate([upper])
    if seen[upper].status != AGREE:
        notes.append(
            f"no agreement of converged seeds up to tau = {upper:.4g}: tau* not found"
        )
        return result(None, lower, upper)
    evaluate([lower])

    def agree_between() -> bool:  # every verdict seen between the ends agrees
        return all(v.status == AGREE for t, v in seen.items() if lower < t < upper)

    for _ in range(max_widenings):
        if seen[lower].status != AGREE or not agree_between():
            break
        lower /= widen_factor
        notes.append(f"seeds agree at the lower end; widened it to {lower:.4g}")
        evaluate([lower])
    if seen[lower].status == AGREE:
        if agree_between():
            notes.append(f"seeds agree at every tau tried down to {lower:.4g}")
            return result(None, 0.0, lower)
        notes.append(
            f"seeds agree at the lower end {lower:.4g} but not at every tau "
            "above it: tau* is the last crossing into agreement"
        )
    lo, hi = final_bracket(seen, lower, upper)
    while hi / lo > 1 + rtol:
        evaluate(np.geomspace(lo, hi, points_per_round + 2)[1:-1])
        lo, hi = final_bracket(seen, lower, upper)
    notes.extend(bracket_notes(seen, lo, hi, lower, upper))
    return result(hi, lo, hi)


def settled_critical_tau(
    agree_at: Callable[[np.ndarray], list[Consensus]],
    proves_agreement: Callable[[float], bool] | None,
    *,
    lower: float,
    upper: float,
    known: Iterable[Consensus] = (),
    max_proofs: int = 8,
    **search: Any,
) -> CriticalTau:
    """`critical_tau` on verdicts that the verified test settles: an 'uncertain'
    verdict (some seed unconverged), known or new, at a tau where
    `proves_agreement(tau)` holds (every seed proven at one fixed point) is
    agreement (`proven_agreement`), so the bracket's ends are crossings of
    agreement estimated or proven. Only taus above every disagreement of
    converged seeds seen are put to the test, at most `max_proofs` of them:
    the known ones first (the largest first), then new ones as the search meets
    them; the rest stay 'uncertain'. `search`: critical_tau's rtol, points_per_round,
    widen_factor, max_widenings. `proven` lists the taus settled so."""
    proven: list[float] = []
    known = sorted(known, key=lambda v: v.tau, reverse=True)
    # Below a disagreement of converged seeds no crossing is looked for: no
    # test is spent there.
    floor = max((v.tau for v in known if v.status == DISAGREE), default=0.0)
    tried = 0

    def settled(verdict: Consensus) -> Consensus:
        nonlocal tried
        if (
            proves_agreement is None
            or verdict.status != UNCERTAIN
            or verdict.tau <= floor
            or tried >= max_proofs
        ):
            return verdict
        tried += 1
        if not proves_agreement(verdict.tau):
            return verdict
        proven.append(verdict.tau)
        return proven_agreement(verdict)

    def evaluate(taus: np.ndarray) -> list[Consensus]:
        nonlocal floor
        found = agree_at(taus)
        floor = max([floor, *(v.tau for v in found if v.status == DISAGREE)])
        return [settled(v) for v in sorted(found, key=lambda v: -v.tau)]

    found = critical_tau(
        evaluate,
        lower=lower,
        upper=upper,
        known=[settled(v) if lower <= v.tau <= upper else v for v in known],
        **search,
    )
    if proven:
        found.notes.append(
            "'uncertain' verdicts (some seed unconverged) that the verified test "
            "proves to be agreement, every seed at one fixed point, at tau = "
            + ", ".join(f"{t:.4g}" for t in sorted(proven))
        )
    return found._replace(proven_agreements=tuple(sorted(proven)))
