"""Verified fixed points of the entropy-regularized flow: an interval Krawczyk
test in float64 with every rounding accounted for (`marl.tabular.intervals`), on
any tabular game small enough to enumerate (`marl.tabular.history_form`).

The fixed points are the zeros of G(z) = z - F(z), F the map of
`history_form`. Krawczyk's operator on a box Z around a candidate z~, with C
the inverse of G's Jacobian at z~,

    K(Z) = z~ - C G(z~) + (I - C G'(Z)) (Z - z~),

lies strictly inside Z only if G has exactly one zero in Z (Krawczyk 1969;
Moore 1977): the test proves existence and uniqueness in the box, G'(Z) being
enclosed over the whole box (`history_form.jacobian`).

`verify(form, tau, z)` polishes a candidate by the chord method (Newton's with
one Jacobian) in float64, then tries boxes z~ (1 +- r), relative so that
rarely played actions and rarely reached information states are boxed in their
own scale, for r in RADII, and reports the largest r proven (the zero is
unique in that box) and the Krawczyk image of the smallest (where the zero
is). Near a fold G' is singular at the fixed point and no box passes: the test
refuses, as it must. A saddle is a fixed point too and is proven one; whether
it is stable is a separate, estimated statement (`stable`: the spectral radius
of F's Jacobian at the candidate, before its polish, below 1, in float64).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from marl.tabular import intervals as iv
from marl.tabular.history_form import (
    HistoryForm,
    fixed_point_map,
    jacobian,
    point_jacobian,
    point_map,
    point_map_one,
    uniform,
)
from marl.tabular.intervals import Interval

RADII = tuple(10.0**-k for k in range(1, 13))
"""The relative box radii tried, largest first."""
SCAN_ORDER = (6, 3, 9, *range(12))
"""The order in which RADII are tried until one passes (the rest by bisection)."""


def polish(
    form: HistoryForm, tau: float, z: np.ndarray, steps: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """The chord method on G from z (float64): Newton's steps with G's Jacobian
    at z, computed once, until the residual stops falling. Returns the polished
    point and that Jacobian (C = its inverse serves the Krawczyk test: any C
    near G'^-1 does)."""
    z = np.asarray(z, np.float64)
    jac = point_jacobian(form, tau, z)
    try:
        inverse = np.linalg.inv(jac)
    except np.linalg.LinAlgError:
        return z, jac
    residual = np.abs(z - point_map_one(form, tau, z)).max()
    for _ in range(steps):
        if not residual > 0 or not np.isfinite(inverse).all():
            break
        z_next = z - inverse @ (z - point_map_one(form, tau, z))
        if not (z_next >= np.finfo(np.float64).tiny).all():
            break
        following = np.abs(z_next - point_map_one(form, tau, z_next)).max()
        if not following < residual:
            break
        z, residual = z_next, following
    return z, jac


# -- the test ------------------------------------------------------------------


def relative_box(center: np.ndarray, radius: float) -> Interval:
    """The box z~ (1 +- radius) around a positive `center`, rounded outward:
    relative, so that the rarely played actions and rarely reached
    information states of a fixed point are boxed in their own scale."""
    return Interval(iv.down(center * (1 - radius)), iv.up(center * (1 + radius)))


def krawczyk_inside(
    form: HistoryForm,
    tau: float,
    center: np.ndarray,
    box: Interval,
    c: np.ndarray,
    newton: Interval | None = None,
) -> Interval | None:
    """K(Z) for the box Z = `box` around `center` (C = c) if it lies strictly
    inside the box (a proof of one fixed point there), else None. `newton`,
    the center's part of K(Z) (`newton_part`), is the same for every box
    around one center: given, it is not computed again."""
    try:
        if newton is None:
            newton = newton_part(form, tau, center, c)
        return _krawczyk_image(form, tau, center, box, c, newton)[0]
    except ValueError:  # an interval divisor or logarithm reaches 0: no proof
        return None


def newton_part(
    form: HistoryForm, tau: float, center: np.ndarray, c: np.ndarray
) -> Interval:
    """center - C G(center), enclosed: K(Z)'s term that does not depend on Z."""
    g_center = iv.sub(iv.point(center), fixed_point_map(form, tau, iv.point(center)))
    return iv.sub(iv.point(center), iv.matmul(c, g_center))


def smallest_passing_radius(center: np.ndarray, newton: Interval) -> float:
    """A relative radius at or below which no box around `center` can pass:
    K(Z) is `newton` plus an interval about 0, so a box of relative radius r
    holds it only if r * center exceeds newton's distance from center in
    every coordinate. Taken a millionth low, so that rounding never rules out
    a box that would pass (ruling one out only costs a proof, never makes a
    false one)."""
    shift = np.maximum(newton.hi - center, center - newton.lo)
    return float((shift / center).max()) * (1 - 1e-6)


SPREAD_MARGIN = 1e-3
"""How far past 1 a row's spread ratio must be for `_krawczyk_image` to say
that larger boxes fail too: above what the boxes' rounding can move the ratio
between radii of RADII (a relative 2.3e-4 at 1e-12, less above)."""


def _krawczyk_image(
    form: HistoryForm,
    tau: float,
    center: np.ndarray,
    box: Interval,
    c: np.ndarray,
    newton: Interval,
) -> tuple[Interval | None, bool]:
    """K(Z) if it lies strictly inside Z (else None), and whether every
    larger box around `center` fails as well. K(Z) = newton + M (Z - center)
    with M = I - C J(Z); its width in coordinate i is at least
    sum_j |M_ij| w_j (w: Z's widths), so Z fails if that reaches w_i. J is
    an interval extension, monotone in the box, so a larger box Z' has
    |M'| >= |M| entrywise and widths w' in about the same proportion to w:
    where a row's ratio sum_j |M_ij| w_j / w_i is at least 1 + SPREAD_MARGIN,
    Z' fails too. (Skipping them can only cost a proof, never make one.)"""
    spread = jacobian(form, tau, box)
    identity_minus = iv.sub(iv.point(np.eye(center.size)), iv.matmul(c, spread))
    deviation = iv.sub(box, iv.point(center))
    image = iv.add(newton, iv.matmul(identity_minus, deviation))
    if (image.lo > box.lo).all() and (image.hi < box.hi).all():
        return image, False
    widths = box.hi - box.lo
    magnitude = np.maximum(np.abs(identity_minus.lo), np.abs(identity_minus.hi))
    grows = bool((magnitude @ widths >= (1 + SPREAD_MARGIN) * widths).any())
    return None, grows


class Verdict(NamedTuple):
    """What the Krawczyk test proved about a candidate fixed point."""

    proven: bool
    """A fixed point exists and is unique in `box`."""
    radius: float | None
    """The largest relative radius tried whose box passed (None: none did):
    the box is candidate (1 +- radius), coordinate by coordinate."""
    box: Interval | None
    """That box, where the fixed point is unique."""
    where: Interval | None
    """Where the fixed point is: the Krawczyk image of the smallest box that
    passed."""
    enclosure: float | None
    """max |fixed point - candidate| over the coordinates (from `where`)."""
    candidate: np.ndarray
    """The joint policy (float64[n]) after Newton's polish."""
    residual: float
    """max |G(candidate)| in float64."""
    stable: bool
    """Estimated: the spectral radius of F's Jacobian at the candidate (before
    the polish) < 1."""
    reason: str
    """Why no box passed, or 'proven'."""
    preconditioner: np.ndarray | None = None
    """C, the inverse of G's Jacobian at the candidate (for further boxes)."""


def verify(form: HistoryForm, tau: float, candidate: np.ndarray) -> Verdict:
    """The Krawczyk test of a candidate fixed point (float[n], `flatten`'s
    layout) at `tau` > 0 (module docstring). Relative radii of RADII are tried
    until one passes, those that cannot pass skipped (at or below
    `smallest_passing_radius`, or above a box whose spread alone was too
    wide: `_krawczyk_image`); from it, bisection finds the largest that
    passes (the radius proven); the image of the smallest box tried that
    passed is `where`."""
    if not tau > 0:
        raise ValueError(f"tau={tau}: the verified test needs tau > 0")
    with np.errstate(over="ignore", under="ignore"):
        return _verify(form, tau, np.asarray(candidate, np.float64))


UNDERFLOW = (
    "a probability of the candidate is 0 or subnormal in float64: tau is too "
    "small for the test (the log of the entropy and the relative boxes need "
    "positive normal numbers)"
)


def _verify(form: HistoryForm, tau: float, candidate: np.ndarray) -> Verdict:
    if not (candidate >= np.finfo(np.float64).tiny).all():
        residual = float(np.abs(candidate - point_map_one(form, tau, candidate)).max())
        return Verdict(
            False, None, None, None, None, candidate, residual, False, UNDERFLOW
        )
    try:
        z, jac_g = polish(form, tau, candidate)
    except ValueError as error:  # an interval divisor reaches 0 (a reach underflows)
        residual = float(np.abs(candidate - point_map_one(form, tau, candidate)).max())
        reason = f"the map's Jacobian cannot be enclosed at the candidate: {error}"
        return Verdict(
            False, None, None, None, None, candidate, residual, False, reason
        )
    residual = float(np.abs(z - point_map_one(form, tau, z)).max())
    if not (z >= np.finfo(np.float64).tiny).all():
        return Verdict(False, None, None, None, None, z, residual, False, UNDERFLOW)
    stable = bool(np.abs(np.linalg.eigvals(np.eye(z.size) - jac_g)).max() < 1)
    try:
        c = np.linalg.inv(jac_g)
    except np.linalg.LinAlgError:
        c = np.full_like(jac_g, np.nan)
    passes: dict[int, Interval | None] = {}
    newton: Interval | None = None
    floor, ceiling = math.inf, math.inf
    if np.isfinite(c).all():
        try:
            newton = newton_part(form, tau, z, c)
            floor = smallest_passing_radius(z, newton)
        except ValueError:  # an interval divisor or logarithm reaches 0
            pass

    def passed(k: int) -> bool:
        # a radius at or below the floor, or above a box whose spread alone
        # is too wide (`_krawczyk_image`), fails untried
        nonlocal ceiling
        if k not in passes:
            passes[k] = None
            if floor < RADII[k] < ceiling and newton is not None:
                box = relative_box(z, RADII[k])
                try:
                    passes[k], grows = _krawczyk_image(form, tau, z, box, c, newton)
                except ValueError:  # an interval divisor or logarithm reaches 0
                    grows = False
                if grows:
                    ceiling = min(ceiling, RADII[k])
        return passes[k] is not None

    found = None
    if np.isfinite(c).all():
        found = next((k for k in SCAN_ORDER if passed(k)), None)
    if found is None:
        smallest = float(np.linalg.svd(jac_g, compute_uv=False).min())
        reason = (
            f"no box passed: residual |G| = {residual:.2g} after Newton's polish, "
            f"smallest singular value of G' {smallest:.2g} (near a fold it is 0)"
        )
        return Verdict(False, None, None, None, None, z, residual, stable, reason)
    # The passing radii are (up to rounding) a run of RADII: too large a box
    # fails on the map's curvature, too small a one on the data's rounding. The
    # largest by bisection is the radius proven; the smallest box tried that
    # passed gives `where`.
    low, high = -1, found  # RADII[high] passes
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if passed(middle) else (middle, high)
    image = passes[max(k for k, p in passes.items() if p is not None)]
    assert image is not None
    enclosure = float(max(np.abs(image.lo - z).max(), np.abs(image.hi - z).max()))
    box = relative_box(z, RADII[high])
    return Verdict(
        True, RADII[high], box, image, enclosure, z, residual, stable, "proven", c
    )


WIDEN_BELOW = 1e-2
"""Seeds within this relative distance of a proven fixed point's candidate
are tried together in one box (`widened`)."""


def widened(form: HistoryForm, tau: float, v: Verdict, seeds: np.ndarray) -> Verdict:
    """`v` with its box grown to hold the seeds (float[M, n]) within
    WIDEN_BELOW of its candidate (relative, coordinate by coordinate), if the
    Krawczyk test passes on that box too (one test for all of them); else
    `v`."""
    near = seeds[np.all(np.abs(seeds - v.candidate) <= WIDEN_BELOW * v.candidate, 1)]
    if not len(near) or v.box is None or v.preconditioner is None:
        return v
    box = Interval(
        np.minimum(v.box.lo, iv.down(near.min(0))),
        np.maximum(v.box.hi, iv.up(near.max(0))),
    )
    if iv.inside(box, v.box):
        return v
    image = krawczyk_inside(form, tau, v.candidate, box, v.preconditioner)
    return v if image is None else v._replace(box=box)


class SeedsReport(NamedTuple):
    """What the Krawczyk test proved of N seeds at one tau (`verify_seeds`)."""

    tau: float
    seeds: int  # N
    proven: int  # seeds proven within `largest_distance` of a fixed point
    stable: int  # of those, at a fixed point proven stable
    smallest_radius: float | None  # the smallest box radius proven
    largest_distance: float | None  # sup norm, a seed to its fixed point
    tests_run: int  # tests of seeds (a seed inside a proven box needs none)
    one_fixed_point: bool  # every seed proven at one and the same fixed point
    distinct_fixed_points: int  # proven apart: two or more prove disagreement


METHOD = (
    "interval Krawczyk test in float64 (marl/tabular/verified.py), boxes "
    "relative to the candidate"
)
"""How the reports' proofs were made, for a results file."""


def verify_seeds(
    form: HistoryForm,
    tau: float,
    seeds: np.ndarray,
    progress: Callable[[str], None] | None = None,
) -> SeedsReport:
    """The Krawczyk test of N seeds' joint policies (float[N, n]) at `tau`. A
    seed inside the box of a fixed point already proven (which holds no other)
    is counted at that fixed point, within the distance from it to that fixed
    point's enclosure, and so is a seed whose Newton polish (`polish`,
    float64) lands in such a box (the distance is still the seed's own,
    proven; only the polish that picks the box is not); any other seed is put
    to the test itself, and its fixed point is a new one unless its enclosure
    lies in the box of one already proven. A new fixed point's box is grown to
    hold the seeds near it where the test passes there too (`widened`). The
    report (`SeedsReport`) says how many seeds are proven within
    `largest_distance` (sup norm) of a fixed point, the smallest radius
    proven, whether all of them are at one fixed point, how many fixed points
    are proven distinct (their `where`s apart: two or more prove
    disagreement) and how many tests of seeds were run. `progress` hears a
    line after each test of a seed (a test can take most of a minute on the
    largest games)."""
    seeds = np.asarray(seeds, np.float64)
    home = np.full(len(seeds), -1)
    leaders: list[Verdict] = []  # proven fixed points, distinct or not
    tests = 0
    for s in range(len(seeds)):
        if home[s] >= 0:
            continue
        home[s] = _polished_home(form, tau, seeds[s], leaders)
        if home[s] >= 0:
            continue
        tests += 1
        started = time.perf_counter()
        v = verify(form, tau, seeds[s])
        if progress is not None:
            progress(
                f"seed {s + 1} of {len(seeds)}: "
                f"{'proven' if v.proven else 'not proven'} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        if not v.proven:
            continue
        known = next(  # its fixed point is one already proven, unique there
            (k for k, w in enumerate(leaders) if iv.inside(v.where, w.box)),  # type: ignore[arg-type]
            None,
        )
        if known is None:
            leaders.append(widened(form, tau, v, seeds[home < 0]))
            known = len(leaders) - 1
        home[s] = known
        box = leaders[known].box
        assert box is not None
        inside = (home < 0) & np.all((box.lo <= seeds) & (seeds <= box.hi), axis=1)
        home[inside] = known
    distances = [
        float(
            np.maximum(
                np.abs(seed - leaders[k].where.lo),
                np.abs(seed - leaders[k].where.hi),
            ).max()
        )
        for seed, k in zip(seeds, home, strict=True)
        if k >= 0
    ]
    distinct: list[Verdict] = []
    for v in leaders:
        if all(iv.apart(v.where, other.where) for other in distinct):  # type: ignore[arg-type]
            distinct.append(v)
    proven = int((home >= 0).sum())
    return SeedsReport(
        tau=float(tau),
        seeds=len(seeds),
        proven=proven,
        stable=int(sum(leaders[k].stable for k in home if k >= 0)),
        smallest_radius=min((v.radius for v in leaders), default=None),  # type: ignore[type-var]
        largest_distance=max(distances, default=None),
        tests_run=tests,
        one_fixed_point=len(leaders) == 1 and proven == len(seeds),
        distinct_fixed_points=len(distinct),
    )


def _polished_home(
    form: HistoryForm, tau: float, seed: np.ndarray, leaders: list[Verdict]
) -> int:
    """The index of the proven fixed point whose box holds the seed's Newton
    polish, or -1 (none, or no leader yet). It stands in for the seed's own
    test, which costs many times more (box pushing h3: 48 s a seed) and on
    seeds at one fixed point proves the same zero again."""
    if not leaders or not (seed >= np.finfo(np.float64).tiny).all():
        return -1
    try:
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            z, _ = polish(form, tau, seed)
    except ValueError:
        return -1
    for k, v in enumerate(leaders):
        assert v.box is not None
        if bool(np.all((v.box.lo <= z) & (z <= v.box.hi))):
            return k
    return -1


# -- the search for a second fixed point --------------------------------------


def settle(
    form: HistoryForm, tau: float, start: np.ndarray, steps: int = 100_000
) -> np.ndarray:
    """A candidate fixed point: the damped iteration z <- (z + F(z)) / 2 from
    `start` (float64) until it stops moving, or `steps` steps."""
    return settle_many(form, tau, np.asarray(start)[None], steps)[0]


def settle_many(
    form: HistoryForm, tau: float, starts: np.ndarray, steps: int = 20_000
) -> np.ndarray:
    """`settle` from S starts (float[S, n]) at once: the damped iteration from
    each until it stops moving (1e-15), or `steps` steps."""
    z = np.asarray(starts, np.float64).copy()
    moving = np.arange(len(z))
    for _ in range(steps):
        if moving.size == 0:
            break
        following = 0.5 * z[moving] + 0.5 * point_map(form, tau, z[moving])
        still = np.abs(following - z[moving]).max(axis=1) >= 1e-15
        z[moving] = following
        moving = moving[still]
    return z


class SearchReport(NamedTuple):
    """What `second_fixed_point_search` found at one tau."""

    tau: float
    starts: int
    settled: int  # starts whose iteration settled (|G| < SETTLED)
    unsettled: int
    ends_tried: int  # distinct settled ends put to the test
    proven_fixed_points: int  # proven, their enclosures pairwise apart
    agreed_proven: bool  # the agreed fixed point itself passed the test
    second_fixed_point: bool  # a proven fixed point apart from the agreed one
    second_stable: bool  # and it is stable
    second: np.ndarray | None  # float[n]: that second fixed point's candidate


def second_fixed_point_search(
    form: HistoryForm,
    tau: float,
    agreed: np.ndarray,
    starts: np.ndarray,
    progress: Callable[[str], None] | None = None,
) -> SearchReport:
    """A targeted search for a fixed point other than `agreed` (float[n], a
    proven fixed point): the damped iteration from every start (float[S, n]),
    up to SEARCH_STEPS steps, then the Krawczyk test (after its Newton polish)
    of each distinct end that settled (|G| < SETTLED; ends closer than that
    are tried once). Reports how many starts, how many settled, how many
    fixed points were proven and whether one of them is proven distinct
    from `agreed` (a second fixed point: uniqueness refuted there). Finding
    none is evidence, not a proof, of uniqueness, and none at all from the
    starts that did not settle (`unsettled`): the proof over the whole space
    is `marl.tabular.uniqueness`'s. `progress` hears a line after the
    iteration and after each test."""
    say = progress or (lambda line: None)
    reference = verify(form, tau, agreed)
    say(f"the agreed fixed point {'proven' if reference.proven else 'not proven'}")
    ends = settle_many(form, tau, starts, SEARCH_STEPS)
    residuals = np.abs(ends - point_map(form, tau, ends)).max(axis=1)
    settled = [end for end, r in zip(ends, residuals, strict=True) if r < SETTLED]
    distinct: list[np.ndarray] = []
    for end in settled:
        if all(np.abs(end - other).max() > SETTLED for other in distinct):
            distinct.append(end)
    say(f"{len(settled)} of {len(starts)} starts settled, {len(distinct)} distinct")
    proven: list[Verdict] = []
    for k, end in enumerate(distinct):
        started = time.perf_counter()
        v = verify(form, tau, end)
        say(
            f"end {k + 1} of {len(distinct)}: "
            f"{'proven' if v.proven else 'not proven'} "
            f"({time.perf_counter() - started:.1f} s)"
        )
        if v.proven and all(iv.apart(v.where, o.where) for o in proven):  # type: ignore[arg-type]
            proven.append(v)  # (two ends proven at one fixed point count once)
    others = []
    if reference.proven:
        others = [v for v in proven if iv.apart(v.where, reference.where)]  # type: ignore[arg-type]
    return SearchReport(
        tau=float(tau),
        starts=len(starts),
        settled=len(settled),
        unsettled=len(starts) - len(settled),
        ends_tried=len(distinct),
        proven_fixed_points=len(proven),
        agreed_proven=bool(reference.proven),
        second_fixed_point=bool(others),
        second_stable=bool(others and others[0].stable),
        second=np.asarray(others[0].candidate) if others else None,
    )


SEARCH_STEPS = 500
"""Steps of the damped iteration from each start of the search (Newton's
polish in the test finishes what it leaves)."""
SETTLED = 1e-6
"""|G| below which an end of the search is put to the test."""
MAX_PURE_STARTS = 128
"""Up to this many pure joint policies, `search_starts` takes them all."""
DRAWN_STARTS = 16
"""Above MAX_PURE_STARTS, `search_starts` draws this many pure joint policies."""


def search_starts(
    form: HistoryForm, seeds: list[np.ndarray], softness: float = 0.05
) -> np.ndarray:
    """Starts for `second_fixed_point_search`: the seeds' policies (float[n]
    each: the conventions found elsewhere), the uniform policy (the symmetric
    start) and pure joint policies softened by `softness` towards uniform (the
    most asymmetric starts): all of them where there are at most
    MAX_PURE_STARTS, else DRAWN_STARTS drawn at random (seed 0); float[S, n]."""
    legal = (form.info_vars >= 0).sum(1)
    count = math.prod(int(a) for a in legal)
    if count <= MAX_PURE_STARTS:
        choices = np.stack(
            np.meshgrid(*(np.arange(a) for a in legal), indexing="ij"), -1
        ).reshape(-1, legal.size)
    else:
        rng = np.random.default_rng(0)
        choices = rng.integers(0, legal, size=(DRAWN_STARTS, legal.size))
    flat = uniform(form)
    pure = []
    for choice in choices:
        corner = np.zeros(form.size)
        corner[form.info_vars[np.arange(legal.size), choice]] = 1.0
        pure.append((1 - softness) * corner + softness * flat)
    return np.stack([*seeds, flat, *pure])
