"""tau_unique's two costs, each beside the same algorithm done the older way, in
one run (issue 56):

- the continuation tracer's Jacobian (H_x, H_s), exact by pairs of a history's
  decisions (`continuation.jacobians`) against central differences of log F
  (`continuation.difference_jacobians`), on games from lever to Dec-Tiger;
- the whole-space branch-and-bound (`uniqueness.prove_unique`), BATCH boxes at a
  time against one box at a time (batch 1), on 3x3 coordination where its
  budget runs out (0.7357) and where it proves uniqueness (0.743), with the
  boxes examined;
- the verified test of seeds (`verified.verify_seeds`, as the tau* study runs it
  at every tau of its search), its scan of box radii skipping those that
  cannot pass (`verified.smallest_passing_radius`) against trying them all, on
  the search's starts: settled to fixed points (proofs) and as they are (most
  fail, as seeds still moving do);
- the search for a second fixed point and the verified test
  (`verified.settle_many`, `verified.verify_seeds`) over the histories merged by
  their decisions (`history_form.merged`, rigorous bounds: what the main job
  proves with) against every history.

Exits 1 when the two Jacobians differ by more than 1e-6 (relative), one proof
proves what the other does not (a proof examines one tree of boxes in any order:
the same count), or the two scans' or the two forms' verdicts differ.

    python -m benchmarks.uniqueness [--large] [--boxes 4000]

--large adds Dec-Tiger at horizon 3 (258 policy variables, 83,232 histories:
its differences take about a minute, its full scans several).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

import games.tabular as catalogue
from benchmarks.common import machine_lines
from experiments.harness.arguments import ArgumentParser
from marl.tabular import history_form as hf
from marl.tabular import logit_newton as ln
from marl.tabular import uniqueness as un
from marl.tabular import verified

T = TypeVar("T")
Game = tuple[str, int | None, float]  # name, horizon (None: its own), tau
GAMES: tuple[Game, ...] = (
    ("lever", None, 0.5),
    ("tiny_hanabi_b", None, 0.7),
    ("dectiger", 2, 20.0),
)
LARGE: tuple[Game, ...] = (("dectiger", 3, 20.0),)


def form_of(name: str, horizon: int | None) -> hf.HistoryForm:
    spec = catalogue.make_spec(name)
    if horizon is not None:
        spec = catalogue.set_horizon(spec, horizon)
    return hf.game_form(spec, catalogue.compile_game(spec))


def timed(fn: Callable[..., T], *args: Any, repeats: int) -> tuple[float, T]:
    """(the fastest of `repeats` calls in seconds, the last result)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def jacobian_rows(games: tuple[Game, ...], repeats: int) -> bool:
    print("The tracer's Jacobian (H_x, H_s) at the fixed point reached from uniform")
    print(
        f"{'game':<18}{'n':>5}{'histories':>11}{'exact ms':>10}"
        f"{'differences ms':>16}{'ratio':>8}{'max diff':>10}"
    )
    ok = True
    for name, horizon, tau in games:
        form = form_of(name, horizon)
        y = ln.initial_point(form, tau)
        exact_s, exact = timed(ln.jacobians, form, y, repeats=repeats)
        diff_s, diff = timed(ln.difference_jacobians, form, y, repeats=1)
        scale = max(1.0, float(np.abs(exact[0]).max()))
        gap = (
            max(
                float(np.abs(exact[0] - diff[0]).max()),
                float(np.abs(exact[1] - diff[1]).max()),
            )
            / scale
        )
        ok &= gap < 1e-6
        label = name if horizon is None else f"{name} h{horizon}"
        print(
            f"{label:<18}{form.size:>5}{form.taken.shape[0]:>11}"
            f"{1e3 * exact_s:>10.2f}{1e3 * diff_s:>16.2f}"
            f"{diff_s / exact_s:>8.1f}{gap:>10.1e}"
        )
    return ok


def proof_rows(boxes: int) -> bool:
    payoff = 2.0 * np.eye(3)
    form = hf.matrix_form(payoff)
    print(
        f"\nWhole-space branch-and-bound, 3x3 coordination (payoff 2I), "
        f"{boxes} boxes at most"
    )
    print(f"{'tau':>8}{'batch':>7}{'seconds':>9}{'boxes':>7}  result")
    ok = True
    for tau in (0.7357, 0.743):
        y = ln.initial_point(form, tau)
        v = verified.verify(form, tau, np.exp(y[:-1]))
        assert v.box is not None
        results = []
        for batch in (un.BATCH, 1):
            started = time.perf_counter()
            proof = un.prove_unique(
                form,
                tau,
                v.box,
                un.matrix_image(payoff, tau),
                max_boxes=boxes,
                max_seconds=math.inf,
                batch=batch,
            )
            seconds = time.perf_counter() - started
            results.append(proof.proven)
            result = "proven" if proof.proven else proof.reason
            print(f"{tau:>8}{batch:>7}{seconds:>9.2f}{proof.boxes:>7}  {result}")
        ok &= results[0] == results[1]
    return ok


def scan_rows(games: tuple[Game, ...], seeds: int) -> bool:
    print(
        f"\nThe verified test of {seeds} seeds: radii that cannot pass skipped, "
        "or all tried"
    )
    print(
        f"{'game':<18}{'starts':>9}{'skipping s':>12}{'all s':>9}{'ratio':>8}"
        f"{'proven':>8}  same verdicts"
    )
    ok = True
    floor = verified.smallest_passing_radius
    for name, horizon, tau in games:
        form = form_of(name, horizon)
        starts = verified.search_starts(form, [])[:seeds]
        label = name if horizon is None else f"{name} h{horizon}"
        for kind, candidates in (
            ("settled", verified.settle_many(form, tau, starts)),
            ("unsettled", starts),
        ):
            reports = []
            times = []
            for skip in (True, False):
                verified.smallest_passing_radius = (
                    floor if skip else (lambda center, newton: 0.0)
                )
                try:
                    started = time.perf_counter()
                    reports.append(verified.verify_seeds(form, tau, candidates))
                    times.append(time.perf_counter() - started)
                finally:
                    verified.smallest_passing_radius = floor
            keys = ("proven", "distinct_fixed_points", "smallest_radius")
            same = all(getattr(reports[0], k) == getattr(reports[1], k) for k in keys)
            ok &= same
            print(
                f"{label:<18}{kind:>9}{times[0]:>12.2f}{times[1]:>9.2f}"
                f"{times[1] / times[0]:>8.1f}{reports[0].proven:>8}  {same}"
            )
    return ok


def merged_rows(games: tuple[Game, ...], seeds: int) -> bool:
    print(
        f"\nThe search's damped steps ({verified.SEARCH_STEPS}) from {seeds} starts "
        "and the verified test of their ends: merged histories or every one"
    )
    print(
        f"{'game':<18}{'histories':>11}{'merged':>8}{'settle s':>10}{'all s':>8}"
        f"{'verify s':>10}{'all s':>8}{'ratio':>7}{'proven':>8}  same verdicts"
    )
    ok = True
    for name, horizon, tau in games:
        form = form_of(name, horizon)
        fewer = hf.merged(form)
        starts = verified.search_starts(form, [])[:seeds]
        settle, verify, reports, ends = [], [], [], []
        for f in (fewer, form):
            seconds, end = timed(
                verified.settle_many, f, tau, starts, verified.SEARCH_STEPS, repeats=1
            )
            settle.append(seconds)
            ends.append(end)
            seconds, report = timed(verified.verify_seeds, f, tau, end, repeats=1)
            verify.append(seconds)
            reports.append(report)
        keys = ("proven", "distinct_fixed_points", "stable")
        same = all(getattr(reports[0], k) == getattr(reports[1], k) for k in keys)
        same &= bool(np.abs(ends[0] - ends[1]).max() < verified.SETTLED)
        ok &= same
        label = name if horizon is None else f"{name} h{horizon}"
        ratio = (settle[1] + verify[1]) / (settle[0] + verify[0])
        print(
            f"{label:<18}{form.taken.shape[0]:>11}{fewer.taken.shape[0]:>8}"
            f"{settle[0]:>10.2f}{settle[1]:>8.2f}{verify[0]:>10.2f}{verify[1]:>8.2f}"
            f"{ratio:>7.1f}{reports[0].proven:>8}  {same}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.uniqueness", __doc__)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--boxes", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the scans")
    args = parser.parse_args(argv)
    parser.require_at_least(args, boxes=1, repeats=1, seeds=1)
    for line in machine_lines():
        print(line)
    ok = jacobian_rows(GAMES + (LARGE if args.large else ()), args.repeats)
    ok &= proof_rows(args.boxes)
    ok &= scan_rows(GAMES + (LARGE if args.large else ()), args.seeds)
    ok &= merged_rows(GAMES + (LARGE if args.large else ()), args.seeds)
    print("\nagreement:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
