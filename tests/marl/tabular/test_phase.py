"""marl.tabular.phase.settled_critical_tau on verdicts made by hand: the estimate
agrees from tau = 1 on, leaves a seed unconverged ('uncertain') on [0.5, 1) and
disagrees below; the verified test proves agreement from 0.7 on. The settled
search finds the crossing at 0.7, the plain one at 1; proofs are spent only
above the last disagreement and within their budget."""

from __future__ import annotations

import numpy as np

from marl.tabular.phase import (
    AGREE,
    UNCERTAIN,
    Consensus,
    critical_tau,
    proven_agreement,
    settled_critical_tau,
)


def estimate(tau: float) -> Consensus:
    status = "agree" if tau >= 1 else "uncertain" if tau >= 0.5 else "disagree"
    converged = 7 if status == UNCERTAIN else 8
    return Consensus(float(tau), status, converged, 8, 1 if tau >= 0.5 else 3, 500)


def agree_at(taus: np.ndarray) -> list[Consensus]:
    return [estimate(t) for t in taus]


class Prover:
    def __init__(self, at: float = 0.7) -> None:
        self.at, self.asked = at, []

    def __call__(self, tau: float) -> bool:
        self.asked.append(tau)
        return tau >= self.at


def test_the_settled_search_finds_the_proven_crossing():
    kwargs = dict(lower=0.01, upper=4.0, rtol=0.02)
    plain = critical_tau(agree_at, **kwargs)
    assert plain.lower < 1 <= plain.upper and not plain.proven_agreements
    prover = Prover()
    found = settled_critical_tau(agree_at, prover, max_proofs=100, **kwargs)
    assert found.lower < 0.7 <= found.upper and found.upper / found.lower <= 1.02
    assert found.upper_verdict.status == AGREE and found.upper_verdict.proven
    assert found.upper_verdict.converged == 7  # the estimate's counts kept
    assert found.lower_verdict.status == UNCERTAIN
    assert found.proven_agreements and min(found.proven_agreements) >= 0.7
    assert all(0.5 <= t < 1 for t in prover.asked)  # never below a disagreement
    assert "proves to be agreement" in found.notes[-1]
    # Without a test, the same search as critical_tau's.
    same = settled_critical_tau(agree_at, None, **kwargs)
    assert (same.lower, same.upper) == (plain.lower, plain.upper)


def test_proofs_stay_within_their_budget_and_above_every_disagreement():
    # A known disagreement at 0.9 (agreement not monotone): nothing below it is
    # put to the test.
    known = [estimate(0.6), estimate(0.8), Consensus(0.9, "disagree", 8, 8, 2, 500)]
    prover = Prover()
    found = settled_critical_tau(
        agree_at, prover, lower=0.01, upper=4.0, rtol=0.02, known=known, max_proofs=3
    )
    assert len(prover.asked) <= 3 and all(t > 0.9 for t in prover.asked)
    assert found.lower >= 0.9 and found.upper <= 1.0 + 1e-12
    assert proven_agreement(estimate(0.6)).status == AGREE


def test_a_test_that_proves_nothing_leaves_the_estimates_bracket():
    prover = Prover(at=10.0)
    found = settled_critical_tau(
        agree_at, prover, lower=0.01, upper=4.0, rtol=0.02, max_proofs=4
    )
    assert found.lower < 1 <= found.upper and not found.proven_agreements
    assert len(prover.asked) == 4


def test_agreement_at_the_lower_end_does_not_hide_a_disagreement_above_it():
    """Issue 56, tiny Hanabi A: the seeds agree at the grid's lowest tau and
    above 0.3, and disagree on [0.15, 0.3). The bracket is the last crossing
    into agreement, not 'agree everywhere'."""

    def at(tau: float) -> Consensus:
        status = "disagree" if 0.15 <= tau < 0.3 else "agree"
        return Consensus(float(tau), status, 8, 8, 2 if status == "disagree" else 1, 9)

    grid = [at(t) for t in (0.05, 0.2, 0.5, 1.0)]
    found = critical_tau(
        lambda taus: [at(t) for t in taus], lower=0.05, upper=1.0, known=grid
    )
    assert found.tau_star is not None
    assert found.lower < 0.3 <= found.upper <= 0.3 * 1.02
    assert found.lower_verdict.status == "disagree"
    assert any("not at every tau above it" in note for note in found.notes)
    assert found.agreement_intervals[0][0] == 0.05
