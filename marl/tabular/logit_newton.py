"""The fixed-point equation of the entropy-regularized flow in logit
coordinates, H(x, s) = x - log F(e^x, e^s) = 0 (x = log pi over the policy
variables of `marl.tabular.history_form`, s = log tau), and the local tools of
its continuation (`marl.tabular.continuation`): the residual and its exact
Jacobians (and a second path by central differences), the unit tangent of
the zero curve, Newton's corrector on a hyperplane, the fixed point at one tau
and from the uniform policy, a point's stability, and the kernel directions
along which branches leave a branch point.

Everything is float64 and unverified (`marl.tabular.verified` proves).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.linalg

from marl.tabular.history_form import (
    HistoryForm,
    point_log_jacobians,
    point_log_map,
)
from marl.tabular.verified import settle

DIFFERENCE = 1e-5
"""The step of the central differences in `difference_jacobians` (logits,
log tau)."""
NEWTON_TOL = 1e-10
"""|H| (max norm) at which Newton's corrector has converged."""
MAX_JACOBIANS = 12
"""Jacobians Newton's corrector takes before it gives up."""
MAX_ITERATIONS = 40
"""Its steps, Newton's and the chord's together, before it gives up."""
CHORD = 0.25
"""The factor by which a kept Jacobian's step must shrink the residual for
the next step to keep it."""
POLISH_TOL = 1e-13
"""Converged, the corrector goes on with its kept Jacobian while that
shrinks |H| and |H| is above this: chord steps cost no Jacobian and converge
only linearly, and the points they leave at NEWTON_TOL were 1e3 times less
exact than Newton's quadratic steps left them (an unstable fixed point's
neighbourhood is then left sooner by the search's damped iteration)."""


def residual(form: HistoryForm, y: np.ndarray) -> np.ndarray:
    """H(y) float64[n] at y = (x, s) float64[n + 1]."""
    x, s = y[:-1], y[-1]
    return x - point_log_map(form, math.exp(s), np.exp(x)[None])[0]


def jacobians(form: HistoryForm, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H_x float64[n, n], H_s float64[n]) at y, exact in float64
    (`history_form.point_log_jacobians`: one scatter over pairs of a
    history's decisions)."""
    x, s = y[:-1], y[-1]
    j_x, j_s = point_log_jacobians(form, math.exp(s), np.exp(x))
    return np.eye(x.size) - j_x, -j_s


def difference_jacobians(
    form: HistoryForm, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`jacobians` by central differences of log F in one batch (step
    DIFFERENCE: truncation and rounding both near 1e-10), the tests' second
    path to it."""
    x, s = y[:-1], y[-1]
    n = x.size
    h = DIFFERENCE
    shifts = np.concatenate([np.eye(n), -np.eye(n)]) * h
    points = np.exp(x + shifts)
    logs = point_log_map(form, math.exp(s), points)
    h_x = np.eye(n) - ((logs[:n] - logs[n:]) / (2 * h)).T
    ahead = point_log_map(form, math.exp(s + h), np.exp(x)[None])[0]
    behind = point_log_map(form, math.exp(s - h), np.exp(x)[None])[0]
    return h_x, -(ahead - behind) / (2 * h)


def expected_return(form: HistoryForm, z: np.ndarray) -> float:
    """The joint policy's expected return (float64[n] -> float)."""
    chance = (form.chance.lo + form.chance.hi) / 2
    returns = (form.returns.lo + form.returns.hi) / 2
    return float((chance * z[form.taken].prod(-1) * returns).sum())


def tangent(h_x: np.ndarray, h_s: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The unit kernel vector of [H_x H_s] with t . previous > 0."""
    n = h_x.shape[0]
    system = np.zeros((n + 1, n + 1))
    system[:n, :n], system[:n, n], system[n] = h_x, h_s, previous
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    try:
        t = np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        t = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return t / np.linalg.norm(t)


def _factored(
    h_x: np.ndarray, h_s: np.ndarray, normal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The LU factors of the bordered Jacobian [H_x H_s; normal]."""
    n = h_x.shape[0]
    system = np.zeros((n + 1, n + 1))
    system[:n, :n], system[:n, n], system[n] = h_x, h_s, normal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # singular
        return scipy.linalg.lu_factor(system, check_finite=False)


def _solve(
    factors: tuple[np.ndarray, np.ndarray], rhs: np.ndarray
) -> np.ndarray | None:
    """The step from the factors, or None where it is not finite or longer
    than 1 in some coordinate (a singular or far-off linearization)."""
    with np.errstate(all="ignore"):
        step = scipy.linalg.lu_solve(factors, rhs, check_finite=False)
    return step if np.isfinite(step).all() and np.abs(step).max() <= 1.0 else None


def newton(
    form: HistoryForm,
    y: np.ndarray,
    normal: np.ndarray,
    offset: float,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Newton's method on [H(y); normal . y - offset] = 0 from y; None if it
    does not converge within 12 Jacobians. A Jacobian is kept while each step
    shrinks the residual by CHORD (the chord method), and taken afresh at the
    iterate when one does not, or its step fails: `known` (H_x, H_s) at a
    point near y, such as the predictor's base, starts it, so that most of
    the tracer's steps need no Jacobian of their own (Dec-Tiger: 3 per point
    before, 1 now). Near a branch point the base's bordered Jacobian is
    nearly singular, stops contracting, and Newton's takes over (the chord
    alone, never refreshed, lost coordination_10's fold)."""
    factors = None
    fresh = 0
    previous = math.inf
    for _ in range(MAX_ITERATIONS):
        h = residual(form, y)
        if not np.isfinite(h).all():
            return None
        rhs = -np.append(h, float(normal @ y - offset))
        size = float(np.abs(rhs).max())
        if size < NEWTON_TOL and (
            factors is None or size < POLISH_TOL or size > CHORD * previous
        ):
            return y  # converged, and the kept Jacobian's cheap steps are done
        step = None
        if factors is not None and size <= CHORD * previous:
            step = _solve(factors, rhs)
        elif factors is None and known is not None:
            factors = _factored(*known, normal)
            step = _solve(factors, rhs)
        if step is None:
            if fresh == MAX_JACOBIANS:
                return None
            factors = _factored(*jacobians(form, y), normal)
            fresh += 1
            step = _solve(factors, rhs)
            if step is None:
                return None
        previous = size
        y = y + step
    h = residual(form, y)
    return y if np.isfinite(h).all() and np.abs(h).max() < 1e3 * NEWTON_TOL else None


def at_tau(form: HistoryForm, y: np.ndarray, tau: float) -> np.ndarray | None:
    """The fixed point at `tau` by Newton's method from y = (x, s) (e.g. a
    branch's nearest sample), as (log pi, log tau); None if it fails."""
    normal = np.zeros(y.size)
    normal[-1] = 1.0
    return newton(form, np.asarray(y, np.float64), normal, math.log(tau))


class Point(NamedTuple):
    y: np.ndarray  # (x, s)
    t: np.ndarray  # unit tangent
    eig: np.ndarray  # eigenvalues of H_x
    h_x: np.ndarray
    h_s: np.ndarray


def point_at(form: HistoryForm, y: np.ndarray, previous: np.ndarray) -> Point:
    h_x, h_s = jacobians(form, y)
    t = tangent(h_x, h_s, previous)
    return Point(y, t, eigenvalues(form, y, h_x), h_x, h_s)


def eigenvalues(form: HistoryForm, y: np.ndarray, h_x: np.ndarray) -> np.ndarray:
    """The eigenvalues complex[n] of H_x at y, from a matrix of the n - K
    dimensions where they can differ from 1 (K information states).

    H_x = I - P J, P the softmax's projection I - 1 f^T per information state
    (f = F(e^x), `history_form.point_log_jacobians`), so H_x is 1 on P's
    kernel (the K all-ones vectors): each information state contributes the
    eigenvalue 1 once. P = Q W^T with Q's columns e_i - (f_i / f_p) e_p for
    every variable i but p, the most probable of its information state, and
    (W^T x)_i = x_i - f^T x there; so P J has the nonzero eigenvalues of
    M = W^T (I - H_x) Q, and eig(H_x) = 1 - eig(M) and K ones. Away from 1
    they equal the full matrix's to about 1e-15 (box pushing at horizon 3),
    at a fifth of the time: a full solve also splits the K-fold eigenvalue 1
    of this non-normal matrix, slowly and to only about 1e-7."""
    n, k = form.size, form.num_infos
    tau = math.exp(y[-1])
    f = np.exp(point_log_map(form, tau, np.exp(y[:-1])[None])[0])
    starts = np.searchsorted(form.var_info, np.arange(k))
    most = np.maximum.reduceat(f, starts)[form.var_info] == f
    first = np.flatnonzero(most)
    first = first[np.unique(form.var_info[first], return_index=True)[1]]
    pivot = first[form.var_info]  # [n]: the most probable of each one's state
    rest = np.setdiff1d(np.arange(n), first)
    a = np.eye(n) - h_x
    aq = a[:, rest] - a[:, pivot[rest]] * (f[rest] / f[pivot[rest]])  # A Q
    by_state = np.add.reduceat(f[:, None] * aq, starts, axis=0)  # f^T A Q, [K]
    m = aq[rest] - by_state[form.var_info[rest]]
    return np.concatenate([1.0 - np.linalg.eigvals(m), np.ones(k)])


def unstable(eig: np.ndarray) -> int:
    """Eigenvalues of H_x with negative real part."""
    scale = 1e-9 * max(1.0, float(np.abs(eig).max()))
    return int((eig.real < -scale).sum())


def initial_point(form: HistoryForm, tau: float) -> np.ndarray:
    """y = (log pi, log tau) of the fixed point reached from the uniform policy
    by the damped iteration at `tau` (200 steps, then on to 5,000 if Newton's
    method at that tau does not converge from there), polished by Newton."""
    legal = (form.info_vars >= 0).sum(1)
    start = 1.0 / legal[form.var_info]
    normal = np.zeros(form.size + 1)
    normal[-1] = 1.0
    for steps in (200, 4_800):
        start = settle(form, tau, start, steps=steps)
        y = np.append(np.log(start), math.log(tau))
        polished = newton(form, y, normal, math.log(tau))
        if polished is not None:
            return polished
    raise ValueError(f"no fixed point found at tau = {tau:g} from the uniform policy")


def kernel_directions(
    h_x: np.ndarray, size: int, along: np.ndarray, limit: int
) -> list[np.ndarray]:
    """Unit directions in the (approximate) kernel of H_x, of dimension `size`,
    orthogonal to `along` (the old branch's tangent, x part): the projections
    of the coordinate axes onto it, distinct, and its basis where they do not
    span it; both signs, at most `limit` (module docstring)."""
    _, _, vh = np.linalg.svd(h_x)
    basis = vh[-size:].T  # [n, size]
    if np.linalg.norm(along) > 0:
        unit = along / np.linalg.norm(along)
        basis = basis - np.outer(unit, unit @ basis)
    q, _ = np.linalg.qr(basis)
    chosen: list[np.ndarray] = []
    for c in (q @ q.T).T:  # the projected axes
        norm = np.linalg.norm(c)
        if norm < 1e-3:
            continue
        c = c / norm
        if all(abs(float(c @ d)) < 0.999 for d in chosen):
            chosen.append(c)
    if len(chosen) < size:  # they do not span the kernel: its basis too
        chosen += [c for c in q.T if all(abs(float(c @ d)) < 0.999 for d in chosen)]
    both = [d for c in chosen for d in (c, -c)]
    return both[:limit]


def branch_signature(y: np.ndarray) -> np.ndarray:
    """A point (x, s) up to renaming the variables: its sorted logits and s
    (branches whose points share it are the same up to a symmetry)."""
    return np.append(np.sort(y[:-1]), y[-1])
