"""The fixed-point set of the entropy-regularized flow over tau, traced by
pseudo-arclength continuation: a game's bifurcation diagram, every branch the
tracer meets, with its folds and branch points.

The flow's fixed points at tau are the zeros of

    H(x, s) = x - log F(e^x, e^s),

x = log pi over the policy variables of `marl.tabular.history_form` (legal
actions of every information state), s = log tau, F the map whose fixed points
are the flow's. In these logit coordinates H_x = I - D^-1 F' D at a fixed
point (D = diag pi): similar to G' = I - F', so it has the same eigenvalues
(the same folds, branch points and stability), and no probability has to be
representable for the point to be.

The continuation (Keller 1977; Allgower & Georg 1990, "Introduction to
Numerical Continuation Methods", ch. 2) follows y = (x, s) along the curve
H = 0: an Euler predictor along the tangent t (the kernel of [H_x H_s],
oriented as the last one), then Newton's corrector on [H(y); t.(y - y_pred)]
= 0 (from the base point's Jacobian, kept while it contracts: one Jacobian
per point, at the point, for its tangent and stability), over the histories
merged by their decisions; the step is halved when Newton fails, the tangent
turns by more than MAX_TURN, or stability changes over a step longer than
EVENT_STEP, and grown after easy steps.

What it reports, from the eigenvalues of H_x at each point:
- a *fold*: tau turns back (the tangent's s component changes sign); located
  by bisection on the arclength, so tau there is exact to the square of the
  step's precision;
- a *branch point*: a real eigenvalue of H_x crosses zero while tau does not
  turn (the count of eigenvalues with negative real part changes); located
  by bisection on that count;
- a *Hopf point*: a complex pair crosses the imaginary axis (noted only);
- *stability* of every sample: every eigenvalue of H_x with positive real
  part, so the soft best-response dynamics pi' = F(pi) - pi is attracted to
  it; on a common-payoff game its fixed points and their stability are those
  of J_tau's local maxima under the policy-gradient flow (both climb J_tau).

At a branch point the tracer switches branch along the kernel of H_x (its
singular vectors of the smallest singular values): the projection of every
coordinate axis onto the kernel, both signs (its basis too where those do not
span it). On a game with symmetries the projected axes are the axial
directions of the isotropy subgroups that single out one action (the
equivariant branching lemma: Golubitsky, Stewart & Schaeffer 1988, ch. XIII).
From each direction d, Newton's method on [H(y); d.(x - x*) - EPS] = 0 finds
a point of a new branch (d orthogonal to the old branch's tangent, so the old
one is left), and the branch is traced from there away from the branch point,
recursively to `max_depth`. Starts whose sorted logits and tau equal those of
one already traced, and branches that end where one already traced ends, are
counted as images under a symmetry (conjugates) and not kept. Fixed points
born at a fold that no branch point connects to the principal branch (lever's
0.9 lever) are found by starting from below: the fixed points reached at
tau_min from given starts, traced up in tau.

Everything is float64 and unverified: the diagram says where to look;
`marl.tabular.verified` proves fixed points. The equation's local tools
(residual, Jacobians, tangent, Newton's corrector) are
`marl.tabular.logit_newton`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from marl.tabular.history_form import HistoryForm, merged, point_log_map
from marl.tabular.logit_newton import (
    NEWTON_TOL,
    Point,
    branch_signature,
    eigenvalues,
    expected_return,
    initial_point,
    jacobians,
    kernel_directions,
    newton,
    point_at,
    tangent,
    unstable,
)
from marl.tabular.verified import settle_many

EPS = 1e-2
"""The offset along a kernel direction at which a new branch is looked for
(in logits)."""
MAX_TURN = 0.3
"""The largest angle (radians) between successive tangents of an accepted
step."""
EVENT_STEP = 0.01
"""The longest step across which stability may change: a longer one is halved
until it is this short, so that a step does not leap onto a nearby branch
(tiny Hanabi C: three false branch points at steps of 0.4, where the
corrector failed part way) or over a pair of folds."""
PROGRESS_SECONDS = 20.0
"""The longest a long branch goes without a line to `trace`'s `progress`."""
Say = Callable[[str], None]
"""Hears a line of where the tracer is (`trace`'s `progress`)."""


class Branch(NamedTuple):
    """One branch of fixed points, sampled in the order traced."""

    taus: np.ndarray  # float64[S]
    policies: np.ndarray  # float64[S, n]: the joint policy, `flatten`'s layout
    returns: np.ndarray  # float64[S]: its expected return (self-play value)
    stable: np.ndarray  # bool[S]: Re eig(H_x) > 0 (module docstring)
    parent: int  # the branch it leaves at a branch point (-1: the principal)
    depth: int  # branch switches from the principal branch
    stop: str  # why tracing stopped


class Bifurcation(NamedTuple):
    """A fold or a branch point met on `branch`."""

    kind: str  # "fold", "branch point" or "hopf"
    tau: float
    branch: int
    policy: np.ndarray  # float64[n]
    crossing: int  # eigenvalues of H_x crossing into Re < 0 there (signed)


class Diagram(NamedTuple):
    """The bifurcation diagram: branches, and the folds and branch points on
    them (each found once, on the branch that met it)."""

    branches: list[Branch]
    folds: list[Bifurcation]
    branch_points: list[Bifurcation]
    hopf: list[Bifurcation]
    conjugates: int  # branch starts skipped as images of traced ones
    notes: list[str]

    @property
    def principal(self) -> Branch:
        return self.branches[0]


class Settings(NamedTuple):
    """How far and how finely to trace."""

    tau_max: float = 10.0  # the principal branch starts here
    tau_min: float = 0.02  # no branch is followed below this
    max_steps: int = 600  # per branch
    max_branches: int = 24
    max_depth: int = 2  # branch switches from the principal branch
    max_directions: int = 24  # kernel directions tried per branch point
    step: float = 0.05  # first arclength step in (x, log tau)
    max_step: float = 0.4  # the longest, up to STEP_VARIABLES variables (`step_cap`)


DEFAULT = Settings()

STEP_VARIABLES = 40
"""Up to this many policy variables a step is at most `Settings.max_step` long;
above, the cap grows as the root of the count (`step_cap`): the same
root-mean-square move per variable. A branch's arclength in (x, log tau) is
mostly its logits' move, so a fixed cap made long branches of large games
crawl: box pushing at horizon 3 (608 variables) moved log tau by a median
0.003 a point, and three of its five branches stopped at `max_steps` before
reaching tau_min. Traced between 5x and 0.02x their returns' range, the
Dec-POMDP benchmarks (84 to 608 variables) kept every fold, branch point and
tau_unique with a cap of 1.6, in a third of the points; the symmetric matrix
games (at most 24 variables), whose branch points a long step can leap, keep
0.4 (docs/benchmarks_tracer.md)."""


def step_cap(settings: Settings, form: HistoryForm) -> float:
    """The longest step of a branch of `form` (`STEP_VARIABLES`)."""
    return settings.max_step * math.sqrt(max(1.0, form.size / STEP_VARIABLES))


def _step_from(form: HistoryForm, a: Point, length: float) -> Point | None:
    """The point of the branch at arclength ~`length` from `a` along its
    tangent (Newton on the hyperplane through the predictor), or None."""
    predictor = a.y + length * a.t
    y = newton(form, predictor, a.t, float(a.t @ predictor), (a.h_x, a.h_s))
    if y is None:
        return None
    return point_at(form, y, a.t)


def _locate(
    form: HistoryForm,
    a: Point,
    length: float,
    changed: Callable[[Point], bool],
    iterations: int = 40,
) -> Point:
    """Bisection on the arclength in (0, length] from `a` for where
    `changed(point)` first holds; the point just past it."""
    low, high = 0.0, length
    found = None
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        p = _step_from(form, a, middle)
        if p is None:
            break
        if changed(p):
            high, found = middle, p
        else:
            low = middle
        if high - low < 1e-10:
            break
    if found is None:
        found = _step_from(form, a, high)
    assert found is not None
    return found


def _turned(sign: float, p: Point) -> bool:
    """tau's direction at p is no longer `sign`'s."""
    return bool(p.t[-1] * sign <= 0)


def _crossed(before: int, p: Point) -> bool:
    """The count of unstable eigenvalues at p is no longer `before`."""
    return unstable(p.eig) != before


class _Trace(NamedTuple):
    branch: Branch
    events: list[tuple[str, Point, int]]  # (kind, point, crossing)


def trace_branch(
    form: HistoryForm,
    start: Point,
    settings: Settings,
    *,
    parent: int = -1,
    depth: int = 0,
    prefix: np.ndarray | None = None,
    progress: Say | None = None,
) -> _Trace:
    """Follows the branch from `start` along its tangent until tau leaves
    [tau_min, tau_max], a step fails at the smallest length, or max_steps;
    `progress` hears where it is at most every PROGRESS_SECONDS."""
    points = [start]
    said = time.perf_counter()
    events: list[tuple[str, Point, int]] = []
    length = settings.step
    stop = f"{settings.max_steps} steps"
    cap = step_cap(settings, form)
    low, high = math.log(settings.tau_min), math.log(settings.tau_max)
    a = start
    for _ in range(settings.max_steps):
        b = None
        while length >= 1e-7:
            b = _step_from(form, a, length)
            if (
                b is not None
                and float(a.t @ b.t) > math.cos(MAX_TURN)
                and (length <= EVENT_STEP or unstable(b.eig) == unstable(a.eig))
            ):
                break
            b = None
            length *= 0.5
        if b is None:
            stop = "the corrector failed at the smallest step (near a singular point)"
            break
        if a.t[-1] * b.t[-1] < 0:
            fold = _locate(form, a, length, functools.partial(_turned, a.t[-1]))
            events.append(("fold", fold, unstable(fold.eig) - unstable(a.eig)))
        elif unstable(b.eig) != unstable(a.eig):
            before = unstable(a.eig)
            point = _locate(form, a, length, functools.partial(_crossed, before))
            # Eigenvalues of a symmetric crossing cross together: at the point
            # located some may not have crossed yet. All are near 0 there.
            crossing = unstable(b.eig) - before
            small = 1e-6 * max(1.0, float(np.abs(point.eig).max()))
            near = int((np.abs(point.eig) < small).sum())
            crossing = int(np.sign(crossing)) * max(abs(crossing), near)
            smallest = np.sort(np.abs(point.eig))[: abs(crossing)]
            turning = point.eig[np.argsort(np.abs(point.eig.real))[: abs(crossing)]]
            real = bool(np.all(np.abs(turning.imag) <= 1e-6 + 1e-3 * smallest.max()))
            # The tangent at `point` is polluted by the kernel: a's is kept.
            events.append(
                ("branch point" if real else "hopf", point._replace(t=a.t), crossing)
            )
        points.append(b)
        a = b
        if progress is not None and time.perf_counter() - said > PROGRESS_SECONDS:
            said = time.perf_counter()
            progress(
                f"at tau = {math.exp(b.y[-1]):.4g} after {len(points)} points, "
                f"{len(events)} bifurcations"
            )
        if not low <= b.y[-1] <= high:
            # The last sample exactly at the end crossed: branches that leave
            # there are compared by it (`trace`).
            edge = low if b.y[-1] < low else high
            normal = np.zeros(b.y.size)
            normal[-1] = 1.0
            y = newton(form, b.y, normal, edge)
            if y is not None:
                points[-1] = point_at(form, y, b.t)
            stop = f"reached tau = {math.exp(edge):.6g}"
            break
        length = min(2 * length, cap)
    ys = np.stack([p.y for p in points])
    if prefix is not None:
        ys = np.concatenate([prefix[None], ys])
    policies = np.exp(ys[:, :-1])
    stable = np.array([unstable(p.eig) == 0 for p in points])
    if prefix is not None:
        stable = np.concatenate([[stable[0]], stable])
    branch = Branch(
        taus=np.exp(ys[:, -1]),
        policies=policies,
        returns=np.array([expected_return(form, z) for z in policies]),
        stable=stable,
        parent=parent,
        depth=depth,
        stop=stop,
    )
    return _Trace(branch, events)


def low_starts(
    form: HistoryForm,
    settings: Settings,
    starts: np.ndarray,
    progress: Say | None = None,
) -> list[Point]:
    """Fixed points at tau_min reached from `starts` (float[S, n] policies) by
    the damped iteration and Newton's polish, distinct up to their sorted
    logits, each with its tangent pointing up in tau. `progress` hears the
    end of the iteration and, at most every PROGRESS_SECONDS, the polish."""
    say: Say = progress or (lambda line: None)
    s = math.log(settings.tau_min)
    normal = np.zeros(form.size + 1)
    normal[-1] = 1.0
    found: list[Point] = []
    signatures: list[np.ndarray] = []
    with np.errstate(divide="ignore"):
        ends = settle_many(form, settings.tau_min, starts, 2_000)
        ends = ends[(ends > 0).all(1)]
        say(
            f"{len(ends)} of {len(starts)} starts settled with every probability "
            "> 0; up to 200 damped steps in logits"
        )
        # The iteration stops moving at 1e-15 absolute: its smallest
        # probabilities are then far off in logits; the same damped
        # iteration in logits brings them in reach of Newton's steps. A start
        # whose logits stop moving (by NEWTON_TOL) is done: Dec-Tiger's
        # settle in 5 steps, and the other 195 took a fifth of its trace.
        logits = np.log(ends)
        moving = np.arange(len(logits))
        said = time.perf_counter()
        for k in range(200):
            if moving.size == 0:
                break
            if time.perf_counter() - said > PROGRESS_SECONDS:
                said = time.perf_counter()
                say(f"damped step {k} of 200 in logits")
            following = 0.5 * logits[moving] + 0.5 * point_log_map(
                form, settings.tau_min, np.exp(logits[moving])
            )
            still = np.abs(following - logits[moving]).max(axis=1) >= NEWTON_TOL
            logits[moving] = following
            moving = moving[still]
        say(f"polishing {len(logits)} starts by Newton's method")
        said = time.perf_counter()
        for done, x in enumerate(logits):
            if time.perf_counter() - said > PROGRESS_SECONDS:
                said = time.perf_counter()
                say(f"polished {done} of {len(logits)}; {len(found)} distinct")
            y = newton(form, np.append(x, s), normal, s)
            if y is None:
                continue
            signature = branch_signature(y)
            if any(np.abs(signature - o).max() < 1e-6 for o in signatures):
                continue
            signatures.append(signature)
            found.append(point_at(form, y, normal))
    return found


def _new_branches(
    form: HistoryForm,
    p: Point,
    crossing: int,
    settings: Settings,
    seen: list[np.ndarray],
) -> tuple[list[Point], int]:
    """The first points of the branches leaving the branch point `p` along its
    kernel directions, each a step EPS off the old branch (its tangent pointing
    away), that no branch begun before (`seen`, extended here) starts at; and
    how many were such repeats (the same branch, or its image under a
    symmetry)."""
    starts: list[Point] = []
    repeated = 0
    for d in kernel_directions(p.h_x, abs(crossing), p.t[:-1], settings.max_directions):
        normal = np.append(d, 0.0)
        guess = p.y + EPS * normal
        y = newton(form, guess, normal, float(normal @ p.y) + EPS)
        if y is None or np.abs(y - guess).max() > 5 * EPS:
            continue  # none near, or one far off (the old branch)
        signature = branch_signature(y)
        if any(np.abs(signature - other).max() < 1e-6 for other in seen):
            repeated += 1
            continue
        seen.append(signature)
        h_x, h_s = jacobians(form, y)
        t = tangent(h_x, h_s, normal)
        starts.append(Point(y, t, eigenvalues(form, y, h_x), h_x, h_s))
    return starts, repeated


def trace(
    form: HistoryForm,
    settings: Settings = DEFAULT,
    starts: np.ndarray | None = None,
    progress: Say | None = None,
) -> Diagram:
    """The bifurcation diagram of `form` between settings.tau_min and
    tau_max: the principal branch from tau_max (where the fixed point reached
    from the uniform policy is taken to be unique; `marl.tabular.verified`
    proves it), and the branches met at its branch points, recursively; then
    the branch through each fixed point at tau_min reached from `starts`
    (policies float[S, n], e.g. `verified.search_starts`) that no branch
    traced already ends at, traced up in tau: a fixed point born at a fold
    that no branch point connects to the principal branch is found only so.
    `progress` hears each branch begun, the starts from below, and where a
    long branch is, so that a long trace never runs silent. It traces
    `history_form.merged(form)`: the same map over fewer histories."""
    say: Say = progress or (lambda line: None)
    form = merged(form)
    y0 = initial_point(form, settings.tau_max)
    backwards = np.zeros(form.size + 1)
    backwards[-1] = -1.0
    start = point_at(form, y0, backwards)
    queue: list[tuple[Point, int, int, np.ndarray | None]] = [(start, -1, 0, None)]
    seeded = False
    branches: list[Branch] = []
    folds: list[Bifurcation] = []
    points: list[Bifurcation] = []
    hopf: list[Bifurcation] = []
    seen: list[np.ndarray] = []  # the starts of branches
    # The points at tau's ends that a branch has reached, the principal
    # branch's start at tau_max included: a branch met through a branch point
    # that climbs to tau_max along the principal branch is the principal
    # branch again, not a second fixed point above every fold.
    ends: list[np.ndarray] = [branch_signature(start.y)]
    conjugates = 0
    notes: list[str] = []
    while queue or not seeded:
        if not queue:
            seeded = True
            if starts is not None:
                say(f"settling {len(starts)} starts at tau = {settings.tau_min:.4g}")
            lows = [] if starts is None else low_starts(form, settings, starts, say)
            for p in lows:
                if not any(
                    np.abs(branch_signature(p.y) - e).max() < 1e-6 for e in ends
                ):
                    queue.append((p, -1, 0, None))
            continue
        if len(branches) >= settings.max_branches:
            notes.append(
                f"stopped at {settings.max_branches} branches; {len(queue)} starts "
                "left untraced"
            )
            break
        first, parent, depth, prefix = queue.pop(0)
        index = len(branches)
        say(
            f"branch {index + 1} from tau = {math.exp(first.y[-1]):.4g}"
            + ("" if parent < 0 else f" (off branch {parent + 1})")
            + f"; {len(queue)} more queued"
        )
        found = trace_branch(
            form,
            first,
            settings,
            parent=parent,
            depth=depth,
            prefix=prefix,
            progress=functools.partial(_branch_line, say, index),
        )
        if found.branch.stop.startswith("reached"):
            last = found.branch
            end = branch_signature(np.log(np.append(last.policies[-1], last.taus[-1])))
            if any(np.abs(end - other).max() < 1e-6 for other in ends):
                conjugates += 1  # the same branch, or its image, from another start
                continue
            ends.append(end)
        index = len(branches)
        branches.append(found.branch)
        for kind, p, crossing in found.events:
            event = Bifurcation(
                kind, math.exp(p.y[-1]), index, np.exp(p.y[:-1]), crossing
            )
            {"fold": folds, "branch point": points, "hopf": hopf}[kind].append(event)
            if kind != "branch point" or depth >= settings.max_depth:
                continue
            children, repeated = _new_branches(form, p, crossing, settings, seen)
            conjugates += repeated
            queue.extend((child, index, depth + 1, p.y) for child in children)
    return Diagram(branches, folds, points, hopf, conjugates, notes)


def _branch_line(say: Say, index: int, line: str) -> None:
    say(f"branch {index + 1}: {line}")


def unique_above(diagram: Diagram) -> float:
    """The largest tau at which the diagram holds a fixed point off the
    principal branch (the tau of its highest fold or branch point): above it
    the principal branch is the only fixed point the tracer met. An estimate,
    not a proof."""
    taus = [b.tau for b in (*diagram.folds, *diagram.branch_points)]
    for branch in diagram.branches[1:]:
        taus.append(float(branch.taus.max()))
    return max(taus, default=0.0)
