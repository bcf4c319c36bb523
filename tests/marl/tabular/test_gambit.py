"""Gambit as a second opinion (issue 56): on a matrix game the lab's fixed
point at tau is the logit quantal response equilibrium at lambda = 1/tau
(McKelvey & Palfrey 1995), and Gambit (pygambit, `qre.logit_solve_branch`)
follows its principal branch from lambda = 0. Every point Gambit samples on
that branch, up to the lab's first fold or branch point on it, must equal the
lab's principal branch (the continuation tracer's, corrected by Newton at
Gambit's lambda) to 1e-8 (they agree to about 1e-11). On Tiny Hanabi, built
as Gambit extensive-form games, the lab's fixed point is the agent QRE of the
game whose payoffs carry the later decision's entropy bonus, not of the game
itself."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest

import games.tabular as catalogue
from games.tabular.catalogue import TINY_HANABI_PAYOFFS
from marl.tabular import continuation as ct
from marl.tabular import history_form as hf
from marl.tabular import logit_newton as ln
from marl.tabular.matrix_pg import payoff_matrix

if TYPE_CHECKING:
    import pygambit

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
    import pygambit  # here: 1.5 s to import, paid by the xdist worker that runs this

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
        ours = ln.at_tau(form, y, 1 / lam)
        assert ours is not None
        residual = np.abs(gambit - hf.point_map_one(form, 1 / lam, gambit)).max()
        assert residual < 1e-10  # Gambit's point is a fixed point of ours
        np.testing.assert_allclose(np.exp(ours[:-1]), gambit, rtol=0, atol=1e-8)


# -- sequential games: the agent QRE of the entropy-augmented game ----------


def card_game_efg(payoff: np.ndarray, later_bonus: np.ndarray, path) -> pygambit.Game:
    """Tiny Hanabi (`games.tabular.spec.card_game`: cards dealt uniformly,
    player 0 sees its card c0 and acts, player 1 sees its card c1 and a0 and
    acts) as a Gambit extensive-form game written in Gambit's .efg format,
    with payoffs payoff[c0, c1, a0, a1] + later_bonus[c1, a0] for both
    players. Player 0's information sets are numbered c0 + 1, player 1's
    c1 * A0 + a0 + 1."""
    c0s, c1s, a0s, a1s = payoff.shape
    deals = " ".join(
        f'"d{c0}{c1}" 1/{c0s * c1s}' for c0 in range(c0s) for c1 in range(c1s)
    )
    lines = ['EFG 2 R "tiny hanabi" { "0" "1" }', '""', f'c "" 1 "" {{ {deals} }} 0']
    outcome = 0
    for c0 in range(c0s):
        for c1 in range(c1s):
            actions0 = " ".join(f'"a{a}"' for a in range(a0s))
            lines.append(f'p "" 1 {c0 + 1} "" {{ {actions0} }} 0')
            for a0 in range(a0s):
                actions1 = " ".join(f'"a{a}"' for a in range(a1s))
                lines.append(f'p "" 2 {c1 * a0s + a0 + 1} "" {{ {actions1} }} 0')
                for a1 in range(a1s):
                    outcome += 1
                    u = f"{payoff[c0, c1, a0, a1] + later_bonus[c1, a0]:.17f}"
                    lines.append(f't "" {outcome} "" {{ {u}, {u} }}')
    path.write_text("\n".join(lines) + "\n")
    import pygambit

    return pygambit.read_efg(str(path))


def agent_qre(game: pygambit.Game, tau: float) -> list[np.ndarray]:
    """Gambit's agent logit QRE at lambda = 1/tau: per player [infosets, A]."""
    import pygambit

    (qre,) = pygambit.qre.logit_solve_lambda(game, lam=[1 / tau])
    return [
        np.array([[p for _, p in action] for _, action in qre.profile[player]])
        for player in game.players
    ]


def lab_fixed_point(name: str, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The lab's fixed point at tau from the uniform policy (the principal
    branch), in the card game's layout: pi0[c0, a0], pi1[c1 * A0 + a0, a1]
    (the compiled game's information states found by their labels)."""
    spec = catalogue.make_spec(name)
    game = catalogue.compile_game(spec)
    form = hf.game_form(spec, game)
    z = np.exp(ln.initial_point(form, tau)[:-1])
    per_agent = [
        z[form.var_index[i]] for i in range(2)
    ]  # [K_i, A_i] (every action legal)
    a0s = len(game.action_names[0])
    pi0 = np.empty_like(per_agent[0])
    for k, label in enumerate(game.infostate_labels[0]):
        pi0[int(label[1:])] = per_agent[0][k]
    pi1 = np.empty_like(per_agent[1])
    for k, label in enumerate(game.infostate_labels[1]):
        own, seen = label.split()
        pi1[int(own[1:]) * a0s + int(seen.split("&a")[1])] = per_agent[1][k]
    return pi0, pi1


@pytest.mark.parametrize("variant", ["a", "b", "c", "d", "f"])
def test_the_labs_fixed_point_is_the_agent_qre_of_the_entropy_augmented_game(
    variant, tmp_path
):
    """With the reach weighting, player 1's entropy at (c1, a0) enters player
    0's soft value, so the lab's fixed point is not the agent QRE of Tiny
    Hanabi itself: it is the agent QRE of the game whose payoffs carry that
    bonus, tau H(pi1(. | c1, a0)), evaluated at the fixed point (a
    consistency check: Gambit at lambda = 1/tau reproduces the lab's policy
    from those payoffs). Gambit's QRE of the plain game differs."""
    tau = 1.0
    payoff = np.asarray(TINY_HANABI_PAYOFFS[variant], np.float64)
    c1s, a0s = payoff.shape[1], payoff.shape[2]
    pi0, pi1 = lab_fixed_point(f"tiny_hanabi_{variant}", tau)
    entropy = -(pi1 * np.log(pi1)).sum(-1).reshape(c1s, a0s)
    augmented = agent_qre(card_game_efg(payoff, tau * entropy, tmp_path / "a.efg"), tau)
    np.testing.assert_allclose(augmented[0], pi0, atol=1e-8)
    np.testing.assert_allclose(augmented[1], pi1, atol=1e-8)
    plain = agent_qre(card_game_efg(payoff, 0 * entropy, tmp_path / "p.efg"), tau)
    gap = max(np.abs(plain[0] - pi0).max(), np.abs(plain[1] - pi1).max())
    # A 7.7e-4, B 4.5e-3, C 1.2e-2, D 4.9e-2, F 5.7e-2 (max over policies).
    assert gap > 1e-4
