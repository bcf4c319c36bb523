"""Uniqueness of the fixed point over the whole policy space at one tau,
proven by interval branch-and-bound (issue 56): no fixed point anywhere but
the one a Krawczyk box holds.

Every fixed point z = F(z) in a box Z lies in F(Z), so Z can be replaced by
Z n F(Z) (a contraction, repeated while it shrinks the box), and a box whose
contraction is empty holds none. Boxes are also cut to the simplices (each
information state's probabilities sum to 1). Starting from the whole policy
space, the search contracts, excludes and bisects boxes (the widest
coordinate first) until every box left lies inside `unique`, a box where
`marl.tabular.verified`'s Krawczyk test proved exactly one fixed point: then
the fixed point is unique over the whole space. Where boxes remain when the
budget runs out, nothing is proven and the count says how far it got.

The enclosure F(Z) comes from `image`: for a 2-player matrix game
`matrix_image`, whose soft values differ by linear functions of the partner's
policy, bounded over the box and simplex together by weak duality (so the
entropies, the same for every action, cancel exactly). Other games have no
enclosure here: `history_form.fixed_point_map` encloses each action's entropy
terms apart, too loosely to end the search (tiny Hanabi B at tau = 3: 29
boxes left after 15 s), so `tau_unique` takes the tracer's upper end there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from marl.tabular import continuation as ct
from marl.tabular import intervals as iv
from marl.tabular import logit_newton as ln
from marl.tabular import verified
from marl.tabular.history_form import HistoryForm
from marl.tabular.intervals import Interval

Image = Callable[[Interval], Interval]
"""F over a batch of boxes [B, n]: their images, a box holding F(Z) for each."""


class Proof(NamedTuple):
    """What the branch-and-bound proved at one tau."""

    tau: float
    proven: bool  # the fixed point is unique over the whole policy space
    boxes: int  # boxes examined
    left: int  # boxes neither excluded nor inside `unique` when it stopped
    seconds: float
    reason: str  # 'proven', or why not
    witness: np.ndarray | None = None
    """The middle of a box too small to split that lies outside `unique`:
    the candidate of a second fixed point (for `verified.verify`)."""


def to_simplices(form: HistoryForm, box: Interval) -> Interval | None:
    """`box` [n] cut to the product of simplices: z_a >= 1 - sum_{b != a} hi_b
    and z_a <= 1 - sum_{b != a} lo_b at each information state (rounded
    outward); None if no point of the box is a policy."""
    lo, hi, ok = _cut(form, box.lo[None], box.hi[None])
    return Interval(lo[0], hi[0]) if ok[0] else None


def _cut(
    form: HistoryForm, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`to_simplices` of a batch of boxes [B, n] at once: their cut bounds and
    which hold a policy, bool[B]."""
    rows = form.info_vars  # [K, A], -1 padded: padding sums as exact zeros
    legal = rows >= 0
    at = np.where(legal, rows, 0)
    lows = np.where(legal, lo[:, at], 0.0)  # [B, K, A]
    highs = np.where(legal, hi[:, at], 0.0)
    sum_hi = iv.total(Interval(highs, highs)).hi  # rounded up
    sum_lo = iv.total(Interval(lows, lows)).lo  # rounded down
    ok = np.asarray(((sum_lo <= 1.0) & (sum_hi >= 1.0)).all(-1))
    others_hi = iv.up(sum_hi[..., None] - highs)  # >= the others' largest sum
    others_lo = iv.down(sum_lo[..., None] - lows)  # <= their least
    lo, hi = lo.copy(), hi.copy()
    lo[:, rows[legal]] = np.maximum(lows, iv.down(1.0 - others_hi))[:, legal]
    hi[:, rows[legal]] = np.minimum(highs, iv.up(1.0 - others_lo))[:, legal]
    ok &= ~(lo > hi).any(-1)
    return np.maximum(lo, 0.0), np.minimum(hi, 1.0), ok


def whole_space(form: HistoryForm, tau: float) -> Interval:
    """A box holding every fixed point at `tau`: the simplices, each
    probability at least the least a softmax of soft values can give (their
    spread is at most the returns' plus tau times the largest entropy a
    history collects), so that logarithms are defined."""
    legal = (form.info_vars >= 0).sum(1)
    widest = int(legal.max())
    spread = float(iv.up(form.returns.hi.max() - form.returns.lo.min()))
    entropy = form.taken.shape[1] * math.log(widest)
    exponent = iv.up(iv.up(spread / tau) + iv.up(entropy * 1.0000001))
    growth = iv.exp(iv.point(np.array([exponent]))).hi[0]  # rounded outward
    least = iv.down(1.0 / iv.up(1.0 + iv.up((widest - 1) * growth)))
    lo = np.full(form.size, float(least))
    return Interval(lo, np.ones(form.size))


def linear_range(
    c: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on c . z over {lo <= z <= hi, sum z = 1} for each row of c
    [..., m] and box lo, hi [..., m] (broadcast; rigorous): for any lambda,
    c . z = lambda + sum (c_i - lambda) z_i <= lambda + sum max((c_i - lambda)
    lo_i, (c_i - lambda) hi_i) (weak duality); lambda is the greedy solution's
    marginal coefficient, where the bound is tight, and the float sum is
    widened by its rounding bound."""
    return (-_upper(-c, lo, hi), _upper(c, lo, hi))


def _upper(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    c, lo, hi = np.broadcast_arrays(c, lo, hi)
    order = np.argsort(-c, axis=-1)
    widths = np.take_along_axis(hi - lo, order, -1)
    mass = 1.0 - lo.sum(-1, keepdims=True)
    filled = np.cumsum(widths, -1)
    marginal = np.minimum((filled < mass).sum(-1), c.shape[-1] - 1)
    lam = np.take_along_axis(np.take_along_axis(c, order, -1), marginal[..., None], -1)
    shifted = c - lam
    terms = np.maximum(shifted * lo, shifted * hi)
    value = lam[..., 0] + terms.sum(-1)
    scale = np.abs(lam[..., 0]) + (
        (np.abs(c) + np.abs(lam)) * np.maximum(np.abs(lo), np.abs(hi))
    ).sum(-1)
    error = iv.gamma(c.shape[-1] + 4) * scale + c.shape[-1] * iv.TINY
    return iv.up(value + error)


def matrix_image(payoff: np.ndarray, tau: float) -> Image:
    """F over a batch of boxes [B, n + m] of a 2-player common-payoff matrix
    game (`matrix_form`'s layout: player 1's n probabilities, then player 2's
    m): p_a = 1 / (1 + sum_{b != a} exp((Q_b - Q_a) / tau)), each difference
    a linear function of the partner's policy (`linear_range`)."""
    payoff = np.asarray(payoff, np.float64)
    n = payoff.shape[0]

    def one(rows: np.ndarray, partner: Interval) -> Interval:
        # differences[b, a] = (A_b - A_a) . partner; exact in float64 for the
        # catalogue's payoffs (small integers and tenths): widened anyway.
        diff = rows[:, None, :] - rows[None, :, :]  # [k, k, m]
        low, high = linear_range(
            diff, partner.lo[:, None, None, :], partner.hi[:, None, None, :]
        )  # [B, k, k]
        slack = iv.gamma(2) * np.abs(rows).max() * 2
        d = iv.divide(Interval(iv.down(low - slack), iv.up(high + slack)), tau)
        e = iv.exp(d)  # [B, b, a]
        k = rows.shape[0]
        # sum over b != a, per a: the columns with their diagonal left out
        off = ~np.eye(k, dtype=bool).T
        columns = [np.swapaxes(x, -1, -2)[:, off].reshape(-1, k, k - 1) for x in e]
        lo_sum = iv.total(Interval(columns[0], columns[0]))
        hi_sum = iv.total(Interval(columns[1], columns[1]))
        denominator = Interval(iv.down(1.0 + lo_sum.lo), iv.up(1.0 + hi_sum.hi))
        return iv.div(iv.point(np.ones(k)), denominator)

    def image(boxes: Interval) -> Interval:
        first = one(payoff, boxes.at(np.s_[:, n:]))
        second = one(payoff.T, boxes.at(np.s_[:, :n]))
        return Interval(
            np.concatenate([first.lo, second.lo], -1),
            np.concatenate([first.hi, second.hi], -1),
        )

    return image


def _contract(
    form: HistoryForm, image: Image, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z <- Z n F(Z) for a batch of boxes [B, n], each cut to the simplices,
    while it shrinks the box by more than a tenth: the boxes and which may
    hold a fixed point, bool[B] (False: the contraction emptied it)."""
    lo, hi = lo.copy(), hi.copy()
    alive = np.ones(len(lo), bool)
    going = np.arange(len(lo))
    for _ in range(50):
        if not going.size:
            break
        mapped = image(Interval(lo[going], hi[going]))
        new_lo = np.maximum(lo[going], mapped.lo)
        new_hi = np.minimum(hi[going], mapped.hi)
        cut_lo, cut_hi, ok = _cut(form, new_lo, new_hi)
        ok &= ~(new_lo > new_hi).any(-1)
        alive[going[~ok]] = False
        shrunk = (cut_hi - cut_lo).max(-1) <= 0.9 * (hi[going] - lo[going]).max(-1)
        lo[going[ok]], hi[going[ok]] = cut_lo[ok], cut_hi[ok]
        going = going[ok & shrunk]
    return lo, hi, alive


BATCH = 256
"""Boxes taken from the branch-and-bound's stack at a time (numpy's overhead
is paid per batch, not per box)."""


def prove_unique(
    form: HistoryForm,
    tau: float,
    unique: Interval,
    image: Image,
    *,
    max_boxes: int = 20_000,
    max_seconds: float = 60.0,
    batch: int = BATCH,
) -> Proof:
    """Branch-and-bound over the whole policy space at `tau` (module
    docstring), `batch` boxes at a time (the last ones pushed, so depth
    first): proven when every box left lies inside `unique`. Each box's
    children depend on it alone, so a proof examines one tree of boxes, the
    same count whatever `batch`; only where the search stops short (budget,
    witness) does the order matter."""
    started = time.perf_counter()
    first = to_simplices(form, whole_space(form, tau))
    stack = (np.empty((0, form.size)),) * 2
    if first is not None:
        stack = (first.lo[None], first.hi[None])
    boxes = 0

    def inside(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return np.asarray((lo >= unique.lo).all(-1) & (hi <= unique.hi).all(-1))

    while len(stack[0]):
        seconds = time.perf_counter() - started
        if boxes >= max_boxes or seconds > max_seconds:
            left = len(stack[0])
            return Proof(
                tau,
                False,
                boxes,
                left,
                seconds,
                f"budget spent ({max_boxes} boxes or {max_seconds:g} s): "
                f"{left} boxes left",
            )
        take = min(batch, max_boxes - boxes, len(stack[0]))
        lo, hi = stack[0][-take:], stack[1][-take:]
        stack = (stack[0][:-take], stack[1][:-take])
        boxes += take
        keep = ~inside(lo, hi)
        lo, hi, alive = _contract(form, image, lo[keep], hi[keep])
        keep = alive & ~inside(lo, hi)
        lo, hi = lo[keep], hi[keep]
        widths = hi - lo
        k = np.argmax(widths, -1)
        split = widths[np.arange(len(k)), k]
        if (split < 1e-12).any():
            tiny = int(np.argmax(split < 1e-12))
            return Proof(
                tau,
                False,
                boxes,
                len(stack[0]) + len(lo),
                time.perf_counter() - started,
                "a box too small to split holds a point outside the unique box "
                "(perhaps a second fixed point)",
                0.5 * (lo[tiny] + hi[tiny]),
            )
        rows = np.arange(len(k))
        middle = 0.5 * (lo[rows, k] + hi[rows, k])
        lower_hi, upper_lo = hi.copy(), lo.copy()
        lower_hi[rows, k], upper_lo[rows, k] = middle, middle
        # Each box's lower half below its upper half, so the upper is taken first.
        halves_lo = np.stack([lo, upper_lo], 1).reshape(-1, form.size)
        halves_hi = np.stack([lower_hi, hi], 1).reshape(-1, form.size)
        halves_lo, halves_hi, ok = _cut(form, halves_lo, halves_hi)
        stack = (
            np.concatenate([stack[0], halves_lo[ok]]),
            np.concatenate([stack[1], halves_hi[ok]]),
        )
    return Proof(tau, True, boxes, 0, time.perf_counter() - started, "proven")


# -- tau_unique: where the fixed point becomes unique ----------------------

UPPER_STEPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.3, 1.0, 3.0)
"""Relative steps above the tracer's estimate at which uniqueness over the
whole space is tried, smallest first."""
LOWER_STEPS = (0.002, 0.01, 0.05)
"""Relative steps below it at which two distinct fixed points are tried."""


class UniqueBracket(NamedTuple):
    """tau_unique in (lower, upper]: two distinct fixed points at `lower`
    (proven by the Krawczyk test where `lower_proven`), one over the whole
    policy space at `upper` (proven by `prove_unique` where `upper_proven`),
    from the tracer's `estimate` (`continuation.unique_above`)."""

    estimate: float
    lower: float | None
    upper: float | None
    lower_proven: bool
    upper_proven: bool
    lower_fixed_points: int  # distinct fixed points proven at `lower`
    attempts: list[Proof]  # the whole-space proofs tried, in order
    notes: list[str]


def crossing_points(diagram: ct.Diagram, tau: float) -> list[np.ndarray]:
    """Each branch's samples nearest to where it crosses `tau` (one per
    crossing), as (log pi, log tau) starts for `continuation.at_tau`."""
    starts = []
    for branch in diagram.branches:
        side = np.sign(branch.taus - tau)
        for k in np.nonzero(side[:-1] * side[1:] <= 0)[0]:
            near = (
                k
                if abs(branch.taus[k] - tau) < abs(branch.taus[k + 1] - tau)
                else k + 1
            )
            starts.append(
                np.append(np.log(branch.policies[near]), np.log(branch.taus[near]))
            )
    return starts


def fixed_points_at(form: HistoryForm, diagram: ct.Diagram, tau: float) -> np.ndarray:
    """The fixed points at `tau` on the diagram's branches (Newton from each
    crossing), float[M, n]."""
    found = [ln.at_tau(form, y, tau) for y in crossing_points(diagram, tau)]
    return np.array([np.exp(y[:-1]) for y in found if y is not None])


def _lower_end(
    form: HistoryForm, diagram: ct.Diagram, estimate: float
) -> tuple[float, bool, int]:
    """(tau, proven, fixed points): the first of LOWER_STEPS below `estimate`
    where the Krawczyk test proves two or more distinct fixed points on the
    diagram's branches, or the first step's tau, unproven."""
    for step in LOWER_STEPS:
        tau = estimate * (1 - step)
        points = fixed_points_at(form, diagram, tau)
        if len(points) < 2:
            continue
        verdict = verified.verify_seeds(form, tau, points)
        if verdict.distinct_fixed_points >= 2:
            return tau, True, verdict.distinct_fixed_points
    return estimate * (1 - LOWER_STEPS[0]), False, 0


def tau_unique(
    form: HistoryForm,
    diagram: ct.Diagram,
    image_at: Callable[[float], Image] | None,
    *,
    max_seconds: float = 60.0,
    max_boxes: int = 20_000,
) -> UniqueBracket:
    """The bracket of tau_unique around the tracer's estimate: below it, the
    first of LOWER_STEPS where the Krawczyk test proves two distinct fixed
    points on the diagram's branches; above it, the first of UPPER_STEPS
    where the branch-and-bound proves the principal branch's fixed point the
    only one (`image_at(tau)` encloses F; the budget is shared by every try;
    None: no proof is tried, the upper end is the estimate's).
    Where the diagram met no second fixed point, uniqueness is tried from the
    diagram's lowest tau up, doubling."""
    started = time.perf_counter()
    estimate = ct.unique_above(diagram)
    notes: list[str] = []
    lower, lower_proven, count = None, False, 0
    if estimate > 0:
        lower, lower_proven, count = _lower_end(form, diagram, estimate)
        if not lower_proven:
            notes.append(
                "no two fixed points proven distinct just below the estimate: "
                "the lower end is the tracer's"
            )
        candidates = [estimate * (1 + step) for step in UPPER_STEPS]
    else:
        low = float(diagram.principal.taus.min())
        high = float(diagram.principal.taus.max())
        candidates = [low * 2.0**k for k in range(64) if low * 2.0**k < high]
        if image_at is not None:
            notes.append(
                "the tracer met no second fixed point: uniqueness tried from its "
                "lowest tau up"
            )
        else:
            notes.append("the tracer met no second fixed point")
    attempts: list[Proof] = []
    upper, upper_proven = (candidates[-1] if candidates else None), False
    if image_at is None:
        notes.append(
            "no whole-space proof: its enclosure is built for 2-player matrix "
            "games (the history form's, which encloses each action's entropy "
            "terms apart, excluded too few boxes: on tiny Hanabi B at tau = 3, "
            "29 boxes left after 15 s)"
        )
        upper = estimate * (1 + UPPER_STEPS[0]) if estimate > 0 else None
        candidates = []
    for tau in candidates:
        left = max_seconds - (time.perf_counter() - started)
        if left <= 0:
            notes.append("the whole-space proofs' budget is spent")
            break
        principal = fixed_points_at(
            form, ct.Diagram([diagram.principal], [], [], [], 0, []), tau
        )
        if not len(principal):
            continue
        v = verified.verify(form, tau, principal[0])
        if not v.proven or v.box is None:
            notes.append(
                f"the principal fixed point at {tau:.6g} is not proven: {v.reason}"
            )
            continue
        # A quarter of the budget each: a failure near the fold leaves
        # time for the larger taus, where the proof is quicker.
        assert image_at is not None  # no candidates otherwise
        proof = prove_unique(
            form,
            tau,
            v.box,
            image_at(tau),
            max_boxes=max_boxes,
            max_seconds=min(left, max_seconds / 4),
        )
        attempts.append(proof)
        if proof.proven:
            upper, upper_proven = tau, True
            break
        if proof.witness is not None:
            second = verified.verify(form, tau, proof.witness)
            if (
                second.where is not None
                and v.where is not None
                and iv.apart(second.where, v.where)
            ):
                notes.append(
                    f"a second fixed point the tracer did not meet is proven at "
                    f"{tau:.6g} (found by the branch-and-bound)"
                )
                if lower is None or tau > lower:
                    lower, lower_proven, count = tau, True, 2
    return UniqueBracket(
        estimate, lower, upper, lower_proven, upper_proven, count, attempts, notes
    )
