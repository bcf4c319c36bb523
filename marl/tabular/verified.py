"""Verified fixed points of the entropy-regularized flow on two-player matrix
games: an interval Krawczyk test in float64 with every rounding accounted for.

For J_tau(x, y) = x^T A y + tau (H(x) + H(y)) the flow's fixed points are the
zeros of G(z) = z - F(z), z = (x, y), F(z) = (softmax(A y / tau),
softmax(A^T x / tau)) (the policies, not the logits, so there is no gauge).
Krawczyk's operator on a box Z around a candidate z~, with C any matrix (here
the inverse of G's Jacobian at z~),

    K(Z) = z~ - C G(z~) + (I - C G'(Z)) (Z - z~),

maps Z into its own interior only if G has exactly one zero in Z (Krawczyk
1969; Moore 1977): the test proves existence and uniqueness in the box
whenever K(Z), computed in interval arithmetic, lands strictly inside Z. Here
G'(Z) is an enclosure of the Jacobian over the whole box: I minus the blocks
S(p) A / tau and S(q) A^T / tau, S(p) = diag(p) - p p^T, with p and q the
softmax's exact range over the box (each component is monotone in every
input). Sums, products and quotients round outward by one unit in the last
place (IEEE arithmetic rounds each to nearest, within half a unit); `exp`
rounds outward by `EXP_ULPS` units, more than the error of numpy's exp.

`verify(A, tau, z)` polishes a candidate by Newton's method in float64, then
tries boxes of sup-norm radius 10^-12 up to 10^-1 and reports the largest
radius proven (the zero is unique in that box) and the smallest box's Krawczyk
image (where the zero is: within `enclosure` of the candidate in every
coordinate). Near a fold G' is singular at the fixed point and no box passes:
the test refuses, as it must. A saddle is a fixed point too and is proven as
one; whether it is stable is a separate, estimated, statement (`stable`: the
spectral radius of F's Jacobian at the candidate below 1, in float64).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

EXP_ULPS = 4
"""Units in the last place by which an interval `exp` is widened each way."""

RADII = tuple(10.0**-k for k in range(12, 0, -1))
"""The box radii tried, smallest first."""


class Interval(NamedTuple):
    """Arrays of lower and upper bounds (float64, same shape)."""

    lo: np.ndarray
    hi: np.ndarray


def _down(x: Any) -> Any:
    """The next float64 below (elementwise)."""
    return np.nextafter(x, -np.inf)


def _up(x: Any) -> Any:
    """The next float64 above (elementwise)."""
    return np.nextafter(x, np.inf)


def point(x: np.ndarray) -> Interval:
    x = np.asarray(x, np.float64)
    return Interval(x, x)


def add(a: Interval, b: Interval) -> Interval:
    return Interval(_down(a.lo + b.lo), _up(a.hi + b.hi))


def sub(a: Interval, b: Interval) -> Interval:
    return Interval(_down(a.lo - b.hi), _up(a.hi - b.lo))


def mul(a: Interval, b: Interval) -> Interval:
    products = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
    return Interval(_down(products.min(0)), _up(products.max(0)))


def exp(a: Interval) -> Interval:
    lo, hi = np.exp(a.lo), np.exp(a.hi)
    for _ in range(EXP_ULPS):
        lo, hi = _down(lo), _up(hi)
    return Interval(np.maximum(lo, 0.0), hi)


def matmul(m: np.ndarray, v: Interval) -> Interval:
    """A point matrix float[n, k] times an interval array [k] or [k, j]."""
    m = np.asarray(m, np.float64)
    lo_shape = (m.shape[0], *v.lo.shape[1:])
    total = Interval(np.zeros(lo_shape), np.zeros(lo_shape))
    for k in range(m.shape[1]):
        column = m[:, k].reshape(-1, *([1] * (v.lo.ndim - 1)))
        term = mul(
            point(np.broadcast_to(column, lo_shape)),
            Interval(
                np.broadcast_to(v.lo[k], lo_shape), np.broadcast_to(v.hi[k], lo_shape)
            ),
        )
        total = add(total, term)
    return total


def softmax(u: Interval) -> Interval:
    """The exact range of softmax over the box `u` [n], rounded outward:
    p_a = 1 / (1 + sum_{b != a} exp(u_b - u_a)) is decreasing in every u_b and
    increasing in u_a."""
    n = u.lo.size
    lo, hi = np.empty(n), np.empty(n)
    for a in range(n):
        others = np.arange(n) != a
        worst = exp(
            Interval(_down(u.lo[others] - u.hi[a]), _up(u.hi[others] - u.lo[a]))
        )
        low_sum, high_sum = np.float64(1.0), np.float64(1.0)
        for value in worst.hi:
            high_sum = _up(high_sum + value)
        for value in worst.lo:
            low_sum = _down(low_sum + value)
        lo[a] = _down(1.0 / high_sum)
        hi[a] = _up(1.0 / low_sum)
    return Interval(np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0))


def _scaled(v: Interval, tau: float) -> Interval:
    """v / tau for a positive float tau, rounded outward."""
    lo, hi = v.lo / tau, v.hi / tau
    return Interval(_down(lo), _up(hi))


def _split(z: Interval, n: int) -> tuple[Interval, Interval]:
    return Interval(z.lo[:n], z.hi[:n]), Interval(z.lo[n:], z.hi[n:])


def fixed_point_map(payoff: np.ndarray, tau: float, z: Interval) -> Interval:
    """F over the box z = (x, y): (softmax(A y / tau), softmax(A^T x / tau))."""
    n = payoff.shape[0]
    x, y = _split(z, n)
    p = softmax(_scaled(matmul(payoff, y), tau))
    q = softmax(_scaled(matmul(payoff.T, x), tau))
    return Interval(np.concatenate([p.lo, q.lo]), np.concatenate([p.hi, q.hi]))


def _softmax_jacobian(p: Interval) -> Interval:
    """S(p) = diag(p) - p p^T over the box p."""
    outer = mul(
        Interval(
            p.lo[:, None] * np.ones_like(p.lo)[None],
            p.hi[:, None] * np.ones_like(p.hi)[None],
        ),
        Interval(
            np.ones_like(p.lo)[:, None] * p.lo[None],
            np.ones_like(p.hi)[:, None] * p.hi[None],
        ),
    )
    diagonal = np.eye(p.lo.size, dtype=bool)
    lo = np.where(diagonal, p.lo[:, None] * np.ones_like(p.lo)[None], 0.0)
    hi = np.where(diagonal, p.hi[:, None] * np.ones_like(p.hi)[None], 0.0)
    return sub(Interval(lo, hi), outer)


def jacobian(payoff: np.ndarray, tau: float, z: Interval) -> Interval:
    """G'(Z) = I - F'(Z) over the box z, [n + m, n + m]."""
    n, m = payoff.shape
    x, y = _split(z, n)
    p = softmax(_scaled(matmul(payoff, y), tau))
    q = softmax(_scaled(matmul(payoff.T, x), tau))
    upper = _scaled(_interval_matmul(_softmax_jacobian(p), payoff), tau)  # [n, m]
    lower = _scaled(_interval_matmul(_softmax_jacobian(q), payoff.T), tau)  # [m, n]
    size = n + m
    lo, hi = np.zeros((size, size)), np.zeros((size, size))
    lo[:n, n:], hi[:n, n:] = -upper.hi, -upper.lo
    lo[n:, :n], hi[n:, :n] = -lower.hi, -lower.lo
    lo[np.diag_indices(size)] = 1.0
    hi[np.diag_indices(size)] = 1.0
    return Interval(lo, hi)


def _interval_matmul(a: Interval, m: np.ndarray) -> Interval:
    """An interval matrix [n, k] times a point matrix [k, j]."""
    product = matmul(m.T, Interval(a.lo.T, a.hi.T))  # (m^T a^T) = (a m)^T
    return Interval(product.lo.T, product.hi.T)


class Verdict(NamedTuple):
    """What the Krawczyk test proved about a candidate fixed point."""

    proven: bool
    """A fixed point exists and is unique in the box of `radius` (sup norm)."""
    radius: float | None
    """The largest radius tried whose box passed (None: none did)."""
    enclosure: float | None
    """The fixed point is within this of `candidate` in every coordinate (the
    Krawczyk image of the smallest box that passed)."""
    candidate: np.ndarray
    """(x, y) after Newton's polish."""
    residual: float
    """max |G(candidate)| in float64."""
    stable: bool
    """Estimated: the spectral radius of F's Jacobian at the candidate < 1."""
    reason: str
    """Why no box passed, or 'proven'."""


def _soft(u: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float64, no rounding control)."""
    e = np.exp(u - u.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _point_map(payoff: np.ndarray, tau: float, z: np.ndarray) -> np.ndarray:
    """F at points z float[..., n + m] (float64)."""
    n = payoff.shape[0]
    x, y = z[..., :n], z[..., n:]
    return np.concatenate([_soft(y @ payoff.T / tau), _soft(x @ payoff / tau)], -1)


def _point_jacobian(payoff: np.ndarray, tau: float, z: np.ndarray) -> np.ndarray:
    middle = jacobian(payoff, tau, point(z))
    return (middle.lo + middle.hi) / 2


def polish(payoff: np.ndarray, tau: float, z: np.ndarray, steps: int = 8) -> np.ndarray:
    """Newton's method on G from z (float64); stops where it stops improving."""
    z = np.asarray(z, np.float64)
    for _ in range(steps):
        g = z - _point_map(payoff, tau, z)
        try:
            z_next = z - np.linalg.solve(_point_jacobian(payoff, tau, z), g)
        except np.linalg.LinAlgError:
            return z
        if np.abs(z_next - _point_map(payoff, tau, z_next)).max() >= np.abs(g).max():
            return z
        z = z_next
    return z


def krawczyk_inside(
    payoff: np.ndarray, tau: float, center: np.ndarray, radius: float
) -> Interval | None:
    """K(Z) for the box of `radius` around `center` if it lies strictly inside
    the box (a proof of one fixed point there), else None."""
    box = Interval(_down(center - radius), _up(center + radius))
    jac_center = _point_jacobian(payoff, tau, center)
    try:
        c = np.linalg.inv(jac_center)
    except np.linalg.LinAlgError:
        return None
    g_center = sub(point(center), fixed_point_map(payoff, tau, point(center)))
    spread = jacobian(payoff, tau, box)
    size = center.size
    c_spread = matmul(c, spread)
    identity_minus = sub(point(np.eye(size)), c_spread)
    deviation = sub(box, point(center))
    image = add(
        sub(point(center), matmul(c, g_center)),
        _matvec_interval(identity_minus, deviation),
    )
    if (image.lo > box.lo).all() and (image.hi < box.hi).all():
        return image
    return None


def _matvec_interval(a: Interval, v: Interval) -> Interval:
    """An interval matrix [n, k] times an interval vector [k]."""
    total = Interval(np.zeros(a.lo.shape[0]), np.zeros(a.lo.shape[0]))
    for k in range(a.lo.shape[1]):
        column = Interval(a.lo[:, k], a.hi[:, k])
        entry = Interval(
            np.full(a.lo.shape[0], v.lo[k]), np.full(a.lo.shape[0], v.hi[k])
        )
        total = add(total, mul(column, entry))
    return total


def verify(payoff: np.ndarray, tau: float, candidate: np.ndarray) -> Verdict:
    """The Krawczyk test of a candidate fixed point (x, y) of the game `payoff`
    (float[n, m], the common payoff) at `tau` > 0 (module docstring)."""
    payoff = np.asarray(payoff, np.float64)
    if not tau > 0:
        raise ValueError(f"tau={tau}: the verified test needs tau > 0")
    z = polish(payoff, tau, np.asarray(candidate, np.float64))
    residual = float(np.abs(z - _point_map(payoff, tau, z)).max())
    jac_g = _point_jacobian(payoff, tau, z)
    stable = bool(np.abs(np.linalg.eigvals(np.eye(z.size) - jac_g)).max() < 1)
    images = {r: krawczyk_inside(payoff, tau, z, r) for r in RADII}
    passed = [r for r, image in images.items() if image is not None]
    if not passed:
        smallest = float(np.linalg.svd(jac_g, compute_uv=False).min())
        reason = (
            f"no box passed: residual |G| = {residual:.2g} after Newton's polish, "
            f"smallest singular value of G' {smallest:.2g} (near a fold it is 0)"
        )
        return Verdict(False, None, None, z, residual, stable, reason)
    image = images[passed[0]]
    assert image is not None
    enclosure = float(max(np.abs(image.lo - z).max(), np.abs(image.hi - z).max()))
    return Verdict(True, passed[-1], enclosure, z, residual, stable, "proven")


def settle(
    payoff: np.ndarray, tau: float, start: np.ndarray, steps: int = 100_000
) -> np.ndarray:
    """A candidate fixed point: the damped iteration z <- (z + F(z)) / 2 from
    `start` (float64) until it stops moving, or `steps` steps."""
    return settle_many(payoff, tau, np.asarray(start)[None], steps)[0]


def verify_seeds(
    payoff: np.ndarray, tau: float, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """The Krawczyk test of N seeds' policies (x float[N, n], y float[N, m]) at
    `tau`, JSON-ready: how many are proven fixed points, the smallest radius
    proven, whether all of them are one fixed point (each seed's enclosure lies
    in the first seed's box, which holds exactly one), and how many fixed points
    are proven distinct (their enclosures apart: two or more prove
    disagreement)."""
    payoff = np.asarray(payoff, np.float64)
    proven: list[tuple[np.ndarray, float, float, bool]] = []  # centre, r, e, stable
    for seed in range(x.shape[0]):
        start = np.concatenate([x[seed], y[seed]]).astype(np.float64)
        v = verify(payoff, tau, start)
        if v.proven and v.radius is not None and v.enclosure is not None:
            proven.append((v.candidate, v.radius, v.enclosure, v.stable))
    leaders: list[tuple[np.ndarray, float, float, bool]] = []
    for centre, _, enclosure, _ in proven:
        if all(
            np.abs(centre - other).max() > enclosure + other_enclosure
            for other, _, other_enclosure, _ in leaders
        ):
            leaders.append((centre, 0.0, enclosure, True))
    one = bool(proven) and all(
        np.abs(centre - proven[0][0]).max() + enclosure < proven[0][1]
        for centre, _, enclosure, _ in proven
    )
    return {
        "tau": float(tau),
        "seeds": int(x.shape[0]),
        "proven": len(proven),
        "stable": sum(stable for *_, stable in proven),
        "smallest_radius": min((radius for _, radius, _, _ in proven), default=None),
        "one_fixed_point": bool(one and len(proven) == x.shape[0]),
        "distinct_fixed_points": len(leaders),
        "method": "interval Krawczyk test in float64 (marl/tabular/verified.py)",
    }


def settle_many(
    payoff: np.ndarray, tau: float, starts: np.ndarray, steps: int = 20_000
) -> np.ndarray:
    """`settle` from S starts at once (float[S, n + m]): the damped iteration
    until every start stops moving, or `steps` steps."""
    payoff = np.asarray(payoff, np.float64)
    z = np.asarray(starts, np.float64).copy()
    for _ in range(steps):
        following = 0.5 * z + 0.5 * _point_map(payoff, tau, z)
        if np.abs(following - z).max() < 1e-15:
            return following
        z = following
    return z


def second_fixed_point_search(
    payoff: np.ndarray, tau: float, agreed: np.ndarray, starts: np.ndarray
) -> dict[str, Any]:
    """A targeted search for a fixed point other than `agreed` (float[n + m], a
    proven fixed point): the damped iteration from every start (float[S, n + m]),
    then the Krawczyk test of each distinct end. Reports how many starts, how
    many fixed points were proven and whether one of them is proven distinct
    from `agreed` (a second fixed point: uniqueness refuted there). Finding
    none is evidence, not a proof, of uniqueness."""
    payoff = np.asarray(payoff, np.float64)
    reference = verify(payoff, tau, agreed)
    ends = settle_many(payoff, tau, starts)
    distinct: list[np.ndarray] = []
    for end in ends:
        if all(np.abs(end - other).max() > 1e-9 for other in distinct):
            distinct.append(end)
    proven = [verify(payoff, tau, end) for end in distinct]
    proven = [v for v in proven if v.proven and v.enclosure is not None]
    others = []
    if reference.proven and reference.enclosure is not None:
        reach = reference.enclosure
        others = [
            v
            for v in proven
            if np.abs(v.candidate - reference.candidate).max()
            > (v.enclosure or 0.0) + reach
        ]
    return {
        "tau": float(tau),
        "starts": len(starts),
        "ends_tried": len(distinct),
        "proven_fixed_points": len(proven),
        "agreed_proven": reference.proven,
        "second_fixed_point": bool(others),
        "second_stable": bool(others and others[0].stable),
        "second": others[0].candidate.tolist() if others else None,
    }


def search_starts(
    payoff: np.ndarray, seeds: list[np.ndarray], softness: float = 0.05
) -> np.ndarray:
    """Starts for `second_fixed_point_search`: the seeds' policies (float[n + m]
    each: the conventions found elsewhere), the uniform policies (the symmetric
    start) and every pure joint action softened by `softness` towards uniform
    (the most asymmetric starts); float[S, n + m]."""
    n, m = payoff.shape
    uniform = np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    pure = []
    for a in range(n):
        for b in range(m):
            corner = np.concatenate([np.eye(n)[a], np.eye(m)[b]])
            pure.append((1 - softness) * corner + softness * uniform)
    return np.stack([*seeds, uniform, *pure])
