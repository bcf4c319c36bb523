"""Analytic facts about entropy-regularized learning in tabular games."""

from __future__ import annotations

import numpy as np


def centring_projection(n: int) -> np.ndarray:
    """P = I - 11^T / n, the projection onto zero-sum directions of the simplex."""
    return np.eye(n) - np.full((n, n), 1.0 / n)


def uniqueness_bound(payoff: np.ndarray) -> float:
    """sigma_max(P_1 A P_2) / 2 for a 2-player common-payoff matrix game A.

    For tau above it, J_tau(x, y) = x^T A y + tau (H(x) + H(y)) is strictly concave
    on the product of simplices: on zero-sum directions v, -v^T grad^2 H v =
    sum v_i^2 / x_i >= ||v||_1^2 >= 2 ||v||_2^2, while the bilinear part has
    curvature at most sigma_max(P_1 A P_2). So J_tau has a single stationary point and
    the softmax gradient flow reaches it from every initialization (Forkel et al.
    2025, arXiv:2511.22581; the bound is a sufficient condition, not the critical
    tau*).
    """
    if payoff.ndim != 2:
        raise ValueError("uniqueness_bound needs a 2-player payoff matrix")
    rows, cols = payoff.shape
    centred = centring_projection(rows) @ payoff @ centring_projection(cols)
    return float(np.linalg.norm(centred, ord=2) / 2.0)
