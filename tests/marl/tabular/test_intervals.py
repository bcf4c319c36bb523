"""Interval arithmetic (marl/tabular/intervals.py): every operation encloses
the exact result, computed in rationals, and is rounded outward."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from marl.tabular import intervals as iv


def exact(x: float) -> Fraction:
    return Fraction(float(x))


def test_elementwise_operations_enclose_the_exact_results():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.uniform(0.1, 3.0, size=200)
    for op, rational in (
        (iv.add, lambda x, y: x + y),
        (iv.sub, lambda x, y: x - y),
        (iv.mul, lambda x, y: x * y),
        (iv.div, lambda x, y: x / y),
    ):
        out = op(iv.point(a), iv.point(b))
        for lo, hi, x, y in zip(out.lo, out.hi, a, b, strict=True):
            assert exact(lo) <= rational(exact(x), exact(y)) <= exact(hi)
            assert lo < hi  # rounded outward, never to a point


def test_operators_are_interval_arithmetic_and_a_tuple_is_refused():
    rng = np.random.default_rng(1)
    a = iv.Interval(*np.sort(rng.normal(size=(2, 50)), axis=0))
    b = iv.Interval(*np.sort(rng.uniform(0.1, 3.0, size=(2, 50)), axis=0))
    pairs = (
        (a + b, iv.add(a, b)),
        (a - b, iv.sub(a, b)),
        (a * b, iv.mul(a, b)),
        (a / b, iv.div(a, b)),
        (-a, iv.neg(a)),
        (2.0 * a, iv.mul(iv.point(2.0), a)),
        (1.0 - a, iv.sub(iv.point(1.0), a)),
        (1.0 / b, iv.div(iv.point(1.0), b)),
        (sum([a, b]), iv.add(iv.add(iv.point(0.0), a), b)),
    )
    for by_operator, by_function in pairs:
        assert isinstance(by_operator, iv.Interval)
        np.testing.assert_array_equal(by_operator.lo, by_function.lo)
        np.testing.assert_array_equal(by_operator.hi, by_function.hi)
    # As a NamedTuple, `a + (lo, hi)` once returned a 4-tuple without a word.
    with pytest.raises(TypeError, match="an Interval meets a tuple"):
        a + (a.lo, a.hi)  # noqa: RUF005 (the mistake this refuses)
    with pytest.raises(TypeError):
        a * [2.0]


def test_sums_of_many_terms_enclose_the_exact_sums():
    """Terms of mixed signs and magnitudes, where round-to-nearest loses digits:
    the a-priori bound covers whatever order numpy sums in."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(7, 300)) * 10.0 ** rng.integers(-8, 8, size=(7, 300))
    summed = iv.total(iv.point(values), axis=1)
    segments = rng.integers(0, 5, size=values.size)
    binned = iv.segment_sum(iv.point(values.ravel()), segments, 5)
    for k in range(7):
        true = sum(map(exact, values[k]))
        assert exact(summed.lo[k]) <= true <= exact(summed.hi[k])
    for k in range(5):
        true = sum(map(exact, values.ravel()[segments == k]))
        assert exact(binned.lo[k]) <= true <= exact(binned.hi[k])


def test_matrix_products_enclose_every_product_of_points_in_the_boxes():
    rng = np.random.default_rng(2)
    a_mid, b_mid = rng.normal(size=(6, 40)), rng.normal(size=(40, 5))
    a = iv.Interval(a_mid - 1e-3, a_mid + 1e-3)
    b = iv.Interval(b_mid - 1e-3, b_mid + 1e-3)
    product = iv.matmul(a, b)
    for _ in range(3):  # exact products of points of the boxes (corners too)
        x = rng.choice([0, 1], size=a_mid.shape) * 2e-3 + a.lo
        y = rng.uniform(b.lo, b.hi)
        for i, j in ((0, 0), (3, 4), (5, 2)):
            true = sum(exact(x[i, k]) * exact(y[k, j]) for k in range(40))
            assert exact(product.lo[i, j]) <= true <= exact(product.hi[i, j])
    pointwise = iv.matmul(a_mid, b_mid)  # points: only the rounding is added
    true = sum(exact(a_mid[1, k]) * exact(b_mid[k, 1]) for k in range(40))
    assert exact(pointwise.lo[1, 1]) <= true <= exact(pointwise.hi[1, 1])
    assert iv.width(pointwise).max() < 1e-12


def test_matrix_products_bound_subnormal_radii_apart_and_still_enclose():
    """A Jacobian's structural zeros rounded outward are [-TINY, TINY]: their
    radii are kept out of BLAS and bounded by row and column sums. The
    products of the boxes' corners, tiny entries at either end, stay inside,
    for a matrix and a vector on the right, and the radii stay small."""
    rng = np.random.default_rng(5)
    a_mid, b_mid = rng.normal(size=(6, 40)), rng.normal(size=(40, 5))
    a_zero, b_zero = rng.random((6, 40)) < 0.5, rng.random((40, 5)) < 0.5
    tiny = iv.TINY
    a = iv.Interval(
        np.where(a_zero, -tiny, a_mid - 1e-3), np.where(a_zero, tiny, a_mid + 1e-3)
    )
    b = iv.Interval(
        np.where(b_zero, -3 * tiny, b_mid), np.where(b_zero, 3 * tiny, b_mid)
    )
    for right in (b, iv.Interval(b.lo[:, 0], b.hi[:, 0])):
        product = iv.matmul(a, right)
        assert iv.width(product).max() < 1e-1
        for _ in range(3):
            x = np.where(rng.random(a.lo.shape) < 0.5, a.lo, a.hi)
            y = np.where(rng.random(right.lo.shape) < 0.5, right.lo, right.hi)
            for i in (0, 3, 5):
                row = [exact(x[i, k]) for k in range(40)]
                column = y if y.ndim == 1 else y[:, 2]
                true = sum(r * exact(c) for r, c in zip(row, column, strict=True))
                lo = product.lo[i] if product.lo.ndim == 1 else product.lo[i, 2]
                hi = product.hi[i] if product.hi.ndim == 1 else product.hi[i, 2]
                assert exact(lo) <= true <= exact(hi)
    point = iv.matmul(np.where(a_zero, 0.0, a_mid), b)  # a point matrix's radii are 0
    assert iv.width(point).max() < 1e-12
    # Only tiny radii: their bound alone must hold the product (40 terms of
    # up to 3 x 3 TINY exceed the underflow allowance of 2 x 40 TINY).
    big = np.full((2, 40), 3.0)
    zeros = iv.Interval(np.full(40, -3 * tiny), np.full(40, 3 * tiny))
    held = iv.matmul(big, zeros)
    true = 40 * exact(3.0) * exact(3 * tiny)
    assert exact(held.lo[0]) <= -true and true <= exact(held.hi[0])


def test_softmax_exp_and_log_enclose_their_values_at_points_of_the_box():
    rng = np.random.default_rng(3)
    u = rng.normal(size=6)
    box = iv.Interval(u - 0.1, u + 0.1)
    p = iv.softmax(box)
    for _ in range(50):
        x = rng.uniform(box.lo, box.hi)
        e = np.exp(x - x.max())
        assert iv.contains(p, e / e.sum())
    positive = iv.Interval(np.abs(u) + 0.5, np.abs(u) + 0.6)
    assert iv.contains(iv.log(positive), np.log(np.abs(u) + 0.55))
    assert iv.contains(iv.exp(box), np.exp(u))
    assert iv.inside(iv.Interval(u - 0.05, u), box)
    assert iv.apart(box, iv.Interval(u + 0.2, u + 0.3))


def test_bracket_ends_are_printed_rounded_outward():
    """Issue 56: coordination_3's (0.36016, 0.36426] was printed (0.36, 0.364],
    whose upper end lies below the fold it holds (0.364213). Lower ends round
    down, upper ends up; a decimal that fits is printed as written."""
    assert iv.bracket_text(0.36016, 0.36426) == "(0.3601, 0.3643]"
    assert iv.bracket_text(0.36016, 0.36426, digits=3) == "(0.36, 0.365]"
    assert iv.bracket_text(0.2, 0.5) == "(0.2, 0.5]"
    assert iv.end_text(2.972, "lower") == iv.end_text(2.972, "upper") == "2.972"
    assert iv.end_text(-0.123456, "lower") == "-0.1235"
    assert iv.end_text(-0.123456, "upper") == "-0.1234"
    assert iv.end_text(123456.0, "upper") == "1.235e+05"
    for value in np.random.default_rng(0).uniform(1e-3, 1e3, 200):
        assert float(iv.end_text(value, "lower")) <= value
        assert float(iv.end_text(value, "upper")) >= value
    with pytest.raises(ValueError, match="side"):
        iv.end_text(1.0, "middle")
