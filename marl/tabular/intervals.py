"""Interval arithmetic in float64 with every rounding accounted for, for the
verified fixed points of `marl.tabular.verified`.

An `Interval` is a pair of float64 arrays (lo, hi) that encloses the exact real
results. IEEE arithmetic rounds each operation to nearest (within half a unit in
the last place, ulp), so elementwise sums, products and quotients are rounded
outward by one ulp. `exp` and `log` are rounded outward by `ELEMENTARY_ULPS`,
more than the error of numpy's. Sums of many terms (`total`, `segment_sum`) and
matrix products (`matmul`) are computed by numpy and BLAS in round-to-nearest,
in whatever order they choose, and then widened by the a-priori bound on that
error: for k terms, |fl(sum x) - sum x| <= gamma_{k-1} sum |x|, gamma_k =
k u / (1 - k u), u = 2^-53 (Higham 2002, "Accuracy and Stability of Numerical
Algorithms", sections 3.1 and 4.2; it holds for any summation order and with
fused multiply-adds), plus k times the smallest subnormal for products that
underflow. Matrix products use the midpoint-radius form: A B lies within
mid(A) mid(B) +- (|mid A| rad B + rad A |mid B| + rad A rad B) (Rump 1999, "Fast
and parallel interval arithmetic").
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

import numpy as np

ELEMENTARY_ULPS = 4
"""Units in the last place by which an interval `exp` or `log` is widened each
way."""

UNIT_ROUNDOFF = 2.0**-53
TINY = 2.0**-1074
"""The smallest subnormal float64: the absolute error of a product that
underflows."""
SMALL = 2.0**-1000
"""Radii below this are bounded apart in `matmul` (about 1e-301)."""


class Interval(NamedTuple):
    """Arrays of lower and upper bounds (float64, same shape).

    The arithmetic operators are interval arithmetic, rounded outward (`add`,
    `sub`, `mul`, `div`, `neg`), never the tuple's concatenation or repetition.
    A number or array on the other side is the exact float64 it is (`point`):
    write `divide(a, 3.0)` or `a / point(3.0)`, never `a * (1 / 3)`, whose
    rounding of 1/3 would go unaccounted.
    """

    lo: np.ndarray
    hi: np.ndarray

    def __add__(self, other: object) -> Interval:
        return add(self, _operand(other))

    def __radd__(self, other: object) -> Interval:
        return add(_operand(other), self)

    def __sub__(self, other: object) -> Interval:
        return sub(self, _operand(other))

    def __rsub__(self, other: object) -> Interval:
        return sub(_operand(other), self)

    def __mul__(self, other: object) -> Interval:
        return mul(self, _operand(other))

    def __rmul__(self, other: object) -> Interval:
        return mul(_operand(other), self)

    def __truediv__(self, other: object) -> Interval:
        return div(self, _operand(other))

    def __rtruediv__(self, other: object) -> Interval:
        return div(_operand(other), self)

    def __neg__(self) -> Interval:
        return neg(self)

    def at(self, index: Any) -> Interval:
        """Both bounds indexed by `index` (numpy indexing)."""
        return Interval(self.lo[index], self.hi[index])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lo.shape


def down(x: Any) -> Any:
    """The next float64 below (elementwise)."""
    return np.nextafter(x, -np.inf)


def up(x: Any) -> Any:
    """The next float64 above (elementwise)."""
    return np.nextafter(x, np.inf)


def gamma(k: Any) -> Any:
    """Higham's gamma_k = k u / (1 - k u), elementwise, rounded up (k u < 0.01)."""
    k = np.asarray(k, np.float64)
    if (k * UNIT_ROUNDOFF >= 0.01).any():
        raise ValueError("too many terms for the a-priori rounding bound")
    return up(up(k * UNIT_ROUNDOFF) / down(1 - k * UNIT_ROUNDOFF))


def point(x: Any) -> Interval:
    x = np.asarray(x, np.float64)
    return Interval(x, x)


def _operand(x: object) -> Interval:
    """An operator's other side: an interval, or a number or array as a point
    (TypeError for anything else, such as a plain tuple)."""
    if isinstance(x, Interval):
        return x
    if isinstance(x, (int, float, np.number, np.ndarray)):
        return point(x)
    raise TypeError(
        f"an Interval meets a {type(x).__name__}: use point(...) or Interval(lo, hi)"
    )


def width(a: Interval) -> np.ndarray:
    return a.hi - a.lo


def contains(a: Interval, x: np.ndarray) -> bool:
    return bool(((a.lo <= x) & (x <= a.hi)).all())


def add(a: Interval, b: Interval) -> Interval:
    return Interval(down(a.lo + b.lo), up(a.hi + b.hi))


def sub(a: Interval, b: Interval) -> Interval:
    return Interval(down(a.lo - b.hi), up(a.hi - b.lo))


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo)


def mul(a: Interval, b: Interval) -> Interval:
    products = np.stack(
        np.broadcast_arrays(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
    )
    return Interval(down(products.min(0)), up(products.max(0)))


def div(a: Interval, b: Interval) -> Interval:
    """a / b for b > 0 everywhere (raises ValueError otherwise)."""
    if not (b.lo > 0).all():
        raise ValueError("an interval divisor reaches 0")
    quotients = np.stack(
        np.broadcast_arrays(a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi)
    )
    return Interval(down(quotients.min(0)), up(quotients.max(0)))


def scale(a: Interval, factor: float) -> Interval:
    """a * factor for a positive float."""
    return Interval(down(a.lo * factor), up(a.hi * factor))


def divide(a: Interval, divisor: float) -> Interval:
    """a / divisor for a positive float, each quotient rounded outward (not a
    product with 1 / divisor, whose own rounding would go unaccounted)."""
    if not divisor > 0:
        raise ValueError(f"divide needs a positive divisor, got {divisor}")
    return Interval(down(a.lo / divisor), up(a.hi / divisor))


def _widened(lo: np.ndarray, hi: np.ndarray) -> Interval:
    for _ in range(ELEMENTARY_ULPS):
        lo, hi = down(lo), up(hi)
    return Interval(lo, hi)


def exp(a: Interval) -> Interval:
    out = _widened(np.exp(a.lo), np.exp(a.hi))
    return Interval(np.maximum(out.lo, 0.0), out.hi)


def log(a: Interval) -> Interval:
    """log a for a > 0 everywhere (raises ValueError otherwise)."""
    if not (a.lo > 0).all():
        raise ValueError("an interval logarithm reaches 0")
    return _widened(np.log(a.lo), np.log(a.hi))


def _sum_bound(abs_sum: np.ndarray, count: Any) -> np.ndarray:
    """An upper bound on the rounding error of a float sum of `count` terms whose
    absolute values' computed sum is `abs_sum` (itself within gamma of exact)."""
    return up(up(abs_sum * gamma(np.asarray(count) + 1)) * 2.0)


def total(a: Interval, axis: int = -1) -> Interval:
    """The sum along `axis`."""
    count = a.lo.shape[axis]
    lo, hi = a.lo.sum(axis), a.hi.sum(axis)
    lo_err = _sum_bound(np.abs(a.lo).sum(axis), count)
    hi_err = _sum_bound(np.abs(a.hi).sum(axis), count)
    return Interval(down(lo - lo_err), up(hi + hi_err))


def segment_sum(a: Interval, segments: np.ndarray, num: int) -> Interval:
    """Sums of the entries of a (broadcast to `segments`' shape) into `num`
    bins by `segments` (int)."""
    flat = segments.ravel()
    a = Interval(*(np.broadcast_to(x, segments.shape) for x in a))
    count = np.bincount(flat, minlength=num)
    lo = np.bincount(flat, a.lo.ravel(), num)
    hi = np.bincount(flat, a.hi.ravel(), num)
    lo_err = _sum_bound(np.bincount(flat, np.abs(a.lo).ravel(), num), count)
    hi_err = _sum_bound(np.bincount(flat, np.abs(a.hi).ravel(), num), count)
    return Interval(down(lo - lo_err), up(hi + hi_err))


def midpoint_radius(a: Interval) -> tuple[np.ndarray, np.ndarray]:
    """(mid, rad) with [lo, hi] inside mid +- rad. A radius computed as 0 is
    exact (mid - lo and hi - mid are 0 only where lo = mid = hi) and is kept
    0: rounded up it would be the smallest subnormal, and BLAS on a matrix of
    subnormals (a point matrix's radii) is slow (a 608 x 608 point-by-interval
    product: 1.9 s, against 0.12 s with zeros)."""
    mid = (a.lo + a.hi) / 2
    raw = np.maximum(mid - a.lo, a.hi - mid)
    rad = np.where(raw == 0, 0.0, up(raw))
    return mid, rad


def _split(rad: np.ndarray) -> tuple[np.ndarray, float]:
    """`rad` with its entries below SMALL set to 0, and a bound on those
    entries (0 when none, else at least SMALL): so that no BLAS product
    meets a subnormal."""
    small = rad < SMALL
    if not small.any():
        return rad, 0.0
    floor = float(rad[small].max())
    return np.where(small, 0.0, rad), (SMALL if floor > 0 else 0.0)


def matmul(a: Interval | np.ndarray, b: Interval | np.ndarray) -> Interval:
    """a @ b for intervals or points (2-D @ 2-D or 2-D @ 1-D), by BLAS in the
    midpoint-radius form, widened by the a-priori bound on its rounding.

    Radii below SMALL (the outward rounding of a Jacobian's structural zeros
    is a subnormal) are bounded apart: with R = R' + (at most f), |mid A| R_B +
    R_A (|mid B| + R_B) <= |mid A| R_B' + R_A' (|mid B| + R_B') + f_B rows(|mid
    A| + R_A') + f_A cols(|mid B| + R_B') + k f_A f_B, rows and cols the sums
    along k. Box pushing's Krawczyk test spent 10.7 s in its 9 products with
    the Jacobian's structural zeros as subnormal radii, 0.37 s without."""
    a = a if isinstance(a, Interval) else point(a)
    b = b if isinstance(b, Interval) else point(b)
    a_mid, a_rad = midpoint_radius(a)
    b_mid, b_rad = midpoint_radius(b)
    a_rad, f_a = _split(a_rad)
    b_rad, f_b = _split(b_rad)
    k = a.lo.shape[-1]
    center = a_mid @ b_mid
    abs_a, abs_b = np.abs(a_mid), np.abs(b_mid)
    spread = abs_a @ b_rad + a_rad @ (abs_b + b_rad)
    if f_b:
        rows = (abs_a + a_rad).sum(-1) * f_b
        spread = spread + (rows[:, None] if b.lo.ndim == 2 else rows)
    if f_a:
        spread = spread + (abs_b + b_rad).sum(0) * f_a + k * f_a * f_b
    # The centre's rounding error is at most gamma_k |a_mid| |b_mid| (+ underflow);
    # the spread's own computed value is low by at most a factor (1 + gamma_k)
    # and the few sums after it (gamma_{k+8} covers them).
    g = gamma(k + 8)
    radius = up(
        up(spread * up(1 + 2 * g)) + up(up((abs_a @ abs_b) * 2 * g) + 2 * k * TINY)
    )
    return Interval(down(center - radius), up(center + radius))


def softmax(u: Interval) -> Interval:
    """The exact range of softmax over the box `u` [n], rounded outward:
    p_a = 1 / (1 + sum_{b != a} exp(u_b - u_a)) is decreasing in every u_b and
    increasing in u_a."""
    n = u.lo.size
    lo, hi = np.empty(n), np.empty(n)
    for a in range(n):
        others = np.arange(n) != a
        worst = exp(Interval(down(u.lo[others] - u.hi[a]), up(u.hi[others] - u.lo[a])))
        low_sum, high_sum = np.float64(1.0), np.float64(1.0)
        for value in worst.hi:
            high_sum = up(high_sum + value)
        for value in worst.lo:
            low_sum = down(low_sum + value)
        lo[a] = down(1.0 / high_sum)
        hi[a] = up(1.0 / low_sum)
    return Interval(np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0))


def inside(a: Interval, b: Interval) -> bool:
    """Box a lies in box b."""
    return bool((a.lo >= b.lo).all() and (a.hi <= b.hi).all())


def apart(a: Interval, b: Interval) -> bool:
    """Boxes a and b are disjoint (in some coordinate)."""
    return bool((a.hi < b.lo).any() or (b.hi < a.lo).any())


def end_text(value: float, side: str, digits: int = 4) -> str:
    """`value` printed to `digits` significant digits, rounded outward for the
    `side` ('lower' or 'upper') end of an interval: down for a lower end, up
    for an upper one, so that the printed interval holds the computed one. A
    float is read as its shortest decimal (repr: the decimal it was written
    as, for the taus of a config), so that 0.2 prints as 0.2 at either end."""
    if side not in ("lower", "upper"):
        raise ValueError(f"side must be 'lower' or 'upper', got {side!r}")
    if value == 0 or not np.isfinite(value):
        return f"{value:.{digits}g}"
    exact = Decimal(repr(float(value)))
    exponent = exact.adjusted() - digits + 1
    rounding = ROUND_FLOOR if side == "lower" else ROUND_CEILING
    rounded = exact.quantize(Decimal(1).scaleb(exponent), rounding=rounding)
    return f"{float(rounded):.{digits}g}"  # at most `digits` digits: exact


def bracket_text(lower: float, upper: float, digits: int = 4) -> str:
    """The half-open bracket (lower, upper], each end rounded outward
    (`end_text`)."""
    return f"({end_text(lower, 'lower', digits)}, {end_text(upper, 'upper', digits)}]"
