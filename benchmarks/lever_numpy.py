"""The NumPy references of the lever benchmark (`benchmarks.lever_phase_diagram`):
the same exact entropy-regularized gradient ascent as the project's learners,
written with NumPy and vectorized over every run, in three forms: the closed-form
matrix-game gradient in plain expressions and in place into preallocated buffers,
and the general path's own algorithm (the enumeration of terminal histories).

Import it after the benchmark has set OPENBLAS_NUM_THREADS (it imports NumPy).
"""

from __future__ import annotations

import numpy as np

from games.tabular import TabularGame

DTYPE = np.float32
"""Every path computes in float32 (JAX's default), so the timings compare like
with like."""


def numpy_log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the action axis 0 of float[A, R]."""
    shifted = logits - logits.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def softmax_ascent(
    log_p: np.ndarray, payoff_term: np.ndarray, tau: np.ndarray
) -> np.ndarray:
    """d/d theta [p^T q + tau H(p)] for p = softmax(theta), all float[A, R].

    dJ/dp = q - tau (log p + 1) and the softmax Jacobian diag(p) - p p^T give
    p * (u - <p, u>) with u = q - tau log p (the constant -tau cancels).
    log_p: log p; payoff_term: q, the expected payoff of each action; tau: float[R].
    """
    p = np.exp(log_p)
    u = payoff_term - tau * log_p
    return p * (u - (p * u).sum(axis=0, keepdims=True))


def numpy_scaled_gradient(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """grad J_tau / (reward_range + tau) for both players' logits.

    theta: float[A_0, R], phi: float[A_1, R] (action-major); payoff: float[A_0, A_1];
    run_taus: float[R]. J_tau(x, y) = x^T A y + tau (H(x) + H(y)) with
    x = softmax(theta), y = softmax(phi), the entropy-regularized objective of
    Forkel et al. 2025 (arXiv:2511.22581); the scaling is `marl.tabular.exact_pg`'s.
    """
    log_x, log_y = numpy_log_softmax(theta), numpy_log_softmax(phi)
    grad_theta = softmax_ascent(log_x, payoff @ np.exp(log_y), run_taus)
    grad_phi = softmax_ascent(log_y, payoff.T @ np.exp(log_x), run_taus)
    scale = reward_range + run_taus
    return grad_theta / scale, grad_phi / scale


def numpy_train_plain(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`steps` SGD ascent steps theta += lr * scaled gradient, both players at once.

    Shapes as `numpy_scaled_gradient`; returns the final (theta, phi).
    """
    for _ in range(steps):
        grad_theta, grad_phi = numpy_scaled_gradient(
            theta, phi, payoff, run_taus, reward_range
        )
        theta = theta + learning_rate * grad_theta
        phi = phi + learning_rate * grad_phi
    return theta, phi


def _softmax_into(
    logits: np.ndarray, log_p: np.ndarray, p: np.ndarray, row: np.ndarray
) -> None:
    """log_p, p <- log softmax, softmax of float[A, R] logits over axis 0 (one exp per
    element); row: float[1, R] scratch."""
    np.max(logits, axis=0, keepdims=True, out=row)
    np.subtract(logits, row, out=log_p)
    np.exp(log_p, out=p)
    np.sum(p, axis=0, keepdims=True, out=row)
    np.divide(p, row, out=p)
    np.log(row, out=row)
    np.subtract(log_p, row, out=log_p)


def _ascend_into(
    logits: np.ndarray,
    log_p: np.ndarray,
    p: np.ndarray,
    payoff: np.ndarray,
    other: np.ndarray,
    tau: np.ndarray,
    step: np.ndarray,
    u: np.ndarray,
    row: np.ndarray,
) -> None:
    """logits += step * p * (u - <p, u>), u = payoff @ other - tau log p (see
    `softmax_ascent`); log_p is overwritten (used as scratch), p is left intact."""
    np.matmul(payoff, other, out=u)
    np.multiply(log_p, tau, out=log_p)
    np.subtract(u, log_p, out=u)
    np.multiply(p, u, out=log_p)
    np.sum(log_p, axis=0, keepdims=True, out=row)
    np.subtract(u, row, out=u)
    np.multiply(u, p, out=u)
    np.multiply(u, step, out=u)
    np.add(logits, u, out=logits)


def numpy_train_inplace(
    theta: np.ndarray,
    phi: np.ndarray,
    payoff: np.ndarray,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`numpy_train_plain` with every intermediate written into preallocated buffers
    (ufunc `out=`), so no array is allocated inside the loop. Same math, same shapes.
    """
    theta, phi = theta.copy(), phi.copy()
    tau = run_taus[None, :]
    step = (learning_rate / (reward_range + tau)).astype(theta.dtype)
    payoff_t = np.ascontiguousarray(payoff.T)
    log_x, x, u_x = (np.empty_like(theta) for _ in range(3))
    log_y, y, u_y = (np.empty_like(phi) for _ in range(3))
    row = np.empty_like(tau)
    for _ in range(steps):
        _softmax_into(theta, log_x, x, row)
        _softmax_into(phi, log_y, y, row)
        # Both players ascend from the same (x, y): _ascend_into leaves p intact.
        _ascend_into(theta, log_x, x, payoff, y, tau, step, u_x, row)
        _ascend_into(phi, log_y, y, payoff_t, x, tau, step, u_y, row)
    return theta, phi


def enumeration_indicators(game: TabularGame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per agent, (visits float[Z, K_i], choices float[Z, K_i * A_i]): how often
    terminal history z passes information state h, and takes action b there."""
    out = []
    for (k, a), infostate, action in zip(
        game.policy_shapes, game.infostate, game.action, strict=True
    ):
        h, b = np.asarray(infostate), np.asarray(action)  # [Z, T_i]
        visits = np.zeros((h.shape[0], k), DTYPE)
        choices = np.zeros((h.shape[0], k * a), DTYPE)
        rows = np.arange(h.shape[0])
        for t in range(h.shape[1]):
            np.add.at(visits, (rows, h[:, t]), 1.0)
            np.add.at(choices, (rows, h[:, t] * a + b[:, t]), 1.0)
        out.append((visits, choices))
    return out


def numpy_enumeration_train(
    logits: list[np.ndarray],
    game: TabularGame,
    run_taus: np.ndarray,
    *,
    steps: int,
    learning_rate: float,
    reward_range: float,
) -> tuple[np.ndarray, ...]:
    """The general path's algorithm in NumPy: per run (float[R, K_i, A_i] logits),
    P(z) = chance(z) prod pi(a | h) over every terminal history, and the gradient
    of J_tau (reach weighting) by the policy-gradient theorem,

      dJ/dtheta[h, b] = sum_z P(z) (R(z) + tau S(z)) (n_zhb - n_zh pi(b | h))
                        - tau reach(h) pi(b | h) (log pi(b | h) + H(h)),

    n_zh, n_zhb the visits of h and choices of b there on z, S(z) the entropy
    summed over z's decisions, reach(h) = sum_z P(z) n_zh; dense products over
    histories (`enumeration_indicators`). Returns the final logits."""
    indicators = enumeration_indicators(game)
    chance = np.asarray(game.chance, DTYPE)
    returns = np.asarray(game.returns, DTYPE)
    tau = run_taus.astype(DTYPE)[:, None]
    step = (learning_rate / (reward_range + tau)).astype(DTYPE)[:, :, None]
    logits = [x.astype(DTYPE).copy() for x in logits]
    for _ in range(steps):
        log_pi = [x - x.max(-1, keepdims=True) for x in logits]
        log_pi = [x - np.log(np.exp(x).sum(-1, keepdims=True)) for x in log_pi]
        pi = [np.exp(x) for x in log_pi]
        entropy = [-(p * lp).sum(-1) for p, lp in zip(pi, log_pi, strict=True)]
        log_prob = np.log(chance)[None, :]
        path_entropy = np.zeros_like(log_prob)
        for lp, h, (visits, choices) in zip(log_pi, entropy, indicators, strict=True):
            log_prob = log_prob + lp.reshape(lp.shape[0], -1) @ choices.T
            path_entropy = path_entropy + h @ visits.T
        prob = np.exp(log_prob)  # [R, Z]
        weight = prob * (returns[None, :] + tau * path_entropy)
        for i, (visits, choices) in enumerate(indicators):
            shape = pi[i].shape
            score = (weight @ choices).reshape(shape) - (weight @ visits)[
                ..., None
            ] * pi[i]
            reach = (prob @ visits)[..., None]
            bonus = -reach * pi[i] * (log_pi[i] + entropy[i][..., None])
            logits[i] += step * (score + tau[..., None] * bonus)
    return tuple(logits)
