"""Convergence certificates: a small gradient is not a fixed point."""

from __future__ import annotations

import jax
import numpy as np

import games
from marl.tabular.certify import (
    gauge_basis,
    make_certified_trainer,
    policies_of,
    policy_change,
    train_certified,
)
from marl.tabular.crossplay import count_conventions
from marl.tabular.exact_pg import ExactPGConfig


def certify(game, config, taus, seeds=16):
    keys = jax.random.split(jax.random.key(0), seeds)
    learner = make_certified_trainer(game, config, label=game.name)
    return train_certified(game, learner, keys, np.asarray(taus))


def test_certification_waits_out_critical_slowing_down():
    """coordination_2 just above its fold (tau = 0.51, the fold at 0.5): after
    5,000 steps every seed's gradient is below grad_tol, the old "converged",
    yet most policies still move; continued on the flow every seed is certified
    at the one convention, and the Newton polish gets there in fewer steps."""
    game = games.make("coordination_2")
    _, short = certify(game, ExactPGConfig(max_steps=5000, newton_steps=0), [0.51])
    assert np.all(short.grad_norm < 1e-4) and short.certified.sum() < 8
    states, flow = certify(game, ExactPGConfig(newton_steps=0), [0.51])
    assert flow.certified.all() and flow.steps[0] > 5000
    policies = tuple(pi[0] for pi in policies_of(states.logits))
    assert count_conventions(game, policies, 1e-3) == 1
    _, newton = certify(game, ExactPGConfig(), [0.51])
    assert newton.certified.all() and newton.polished.any()
    assert newton.steps[0] < flow.steps[0]


def test_adam_runs_are_certified_on_the_flow():
    """Adam keeps moving by about its learning rate near a fixed point, so
    continued windows follow the flow (SGD); both give the same fixed point."""
    game = games.make("tiny_hanabi_b")
    adam = ExactPGConfig(optimizer="adam", learning_rate=0.05, steps=500)
    states, certificate = certify(game, adam, [1.0], seeds=4)
    assert certificate.certified.all() and certificate.steps[0] > 500
    sgd_states, sgd = certify(game, ExactPGConfig(), [1.0], seeds=4)
    assert sgd.certified.all()
    change = policy_change(policies_of(states.logits), policies_of(sgd_states.logits))
    assert float(np.max(change)) < 1e-4


def test_gauge_basis_spans_the_directions_that_move_the_softmax():
    for actions in (2, 3, 10):
        basis = gauge_basis(actions)
        np.testing.assert_allclose(basis.T @ basis, np.eye(actions - 1), atol=1e-6)
        np.testing.assert_allclose(basis.sum(0), 0.0, atol=1e-6)
