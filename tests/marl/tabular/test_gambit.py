"""Gambit as a second opinion (issue 56): on a matrix game the lab's fixed
point at tau is the logit quantal response equilibrium at lambda = 1/tau
(McKelvey & Palfrey 1995), and Gambit (pygambit, `qre.logit_solve_branch`)
follows its principal branch from lambda = 0. Every point Gambit samples on
that branch, up to the lab's first fold or branch point on it, must equal the
lab's principal branch (the continuation tracer's, corrected by Newton at
Gambit's lambda) to 1e-8 (they agree to about 1e-11)."""

from __future__ import annotations

import math

import numpy as np
import pygambit
import pytest

import games.tabular as catalogue
from marl.tabular import continuation as ct
from marl.tabular import history_form as hf
from marl.tabular.matrix_pg import payoff_matrix

MATRIX_GAMES = [
    "coordination_2",
    "coordination_3",
    "coordination_10",
    "lever",
    "climbing",
    "penalty",
    "qtran_one_step",
]


def gambit_points(
    payoff: np.ndarray, lams: np.ndarray
) -> list[tuple[float, np.ndarray]]:
    """(lambda, both players' strategies float64[n + m]) on Gambit's principal
    logit QRE branch of the common-payoff game, at (Gambit's nearest to) each
    of `lams`."""
    game = pygambit.StrategicGame.from_arrays(payoff, payoff)
    points = []
    for qre in pygambit.qre.logit_solve_lambda(game, lam=[float(x) for x in lams]):
        profile = qre.profile
        mixed = [
            float(probability)
            for player in game.players
            for _, probability in profile[player]
        ]
        points.append((float(qre.lam), np.array(mixed)))
    return points


@pytest.mark.parametrize("name", MATRIX_GAMES)
def test_gambit_logit_branch_is_the_labs_principal_branch(name):
    payoff = payoff_matrix(catalogue.make(name)).astype(np.float64)
    form = hf.matrix_form(payoff)
    scale = float(np.abs(payoff).max())
    settings = ct.Settings(tau_max=20.0 * scale, tau_min=0.02 * scale, max_depth=0)
    diagram = ct.trace(form, settings)
    principal = diagram.principal
    first = max(
        (b.tau for b in (*diagram.folds, *diagram.branch_points) if b.branch == 0),
        default=settings.tau_min,
    )
    # Short of the first singular point, where both sides' corrections lose
    # accuracy with the Jacobian's conditioning.
    lams = np.geomspace(1 / settings.tau_max, 0.95 / first, 12)
    for lam, gambit in gambit_points(payoff, lams):
        s = -math.log(lam)
        k = int(np.argmin(np.abs(np.log(principal.taus) - s)))
        y = np.append(np.log(principal.policies[k]), math.log(principal.taus[k]))
        ours = ct.at_tau(form, y, 1 / lam)
        assert ours is not None
        residual = np.abs(gambit - hf.point_map_one(form, 1 / lam, gambit)).max()
        assert residual < 1e-10  # Gambit's point is a fixed point of ours
        np.testing.assert_allclose(np.exp(ours[:-1]), gambit, rtol=0, atol=1e-8)
