"""The continuation tracer (`marl.tabular.continuation.trace`, the main job's
tau_unique study) at this checkout beside an older commit, in one run (issue
60: box pushing's trace was most of the main job's time).

Each tree traces the same games from the same starts (the uniqueness
search's, `verified.search_starts`) between 5x and 0.02x the returns' range,
as `experiments.exact.proofs.uniqueness` does without the seeds; each in a
subprocess of its own, the trees in turns. Printed per game and tree: the
seconds, the points traced and the seconds per point, and whether the two
diagrams are the same (branches, points per branch, stability of every point,
folds, branch points, Hopf points, and where the fixed point is unique above:
counts exactly, the taus to `--rtol`, 0 for bit for bit; with `--events`,
the events and tau_unique only). Exits 1 when they differ.

    python -m benchmarks.tracer --against 3b7a217                  # box pushing h3
    python -m benchmarks.tracer --against 3b7a217 --games mars_rovers:2 dectiger:2
    python -m benchmarks.tracer --against 3b7a217 --rtol 1e-8
    python -m benchmarks.tracer --against 165f5b9 --events --rtol 1e-8  # step rule

Figures: docs/benchmarks_tracer.md.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks.common import ROOT, extract, load_average, machine_text
from experiments.harness.arguments import ArgumentParser

TRACE = """
import json, sys, time
import games
from marl.tabular import continuation, history_form, verified

name, horizon, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
spec = games.make_spec(name, horizon)
form = history_form.game_form(spec, games.compile_game(spec))
span = float(form.returns.hi.max() - form.returns.lo.min()) or 1.0
settings = continuation.Settings(tau_max=5.0 * span, tau_min=0.02 * span)
starts = verified.search_starts(form, [])
began = time.perf_counter()
diagram = continuation.trace(form, settings, starts)
seconds = time.perf_counter() - began
events = lambda found: [[e.kind, e.tau, e.branch, e.crossing] for e in found]
json.dump({
    "seconds": seconds,
    "points": [len(b.taus) for b in diagram.branches],
    "stable": [b.stable.tolist() for b in diagram.branches],
    "folds": events(diagram.folds),
    "branch_points": events(diagram.branch_points),
    "hopf": events(diagram.hopf),
    "unique_above": continuation.unique_above(diagram),
}, open(out, "w"))
"""
"""The trace as either tree runs it: only functions both trees have."""

SAME = ("points", "stable", "folds", "branch_points", "hopf", "unique_above")
"""What two trees' diagrams must agree on."""
EVENTS = ("folds", "branch_points", "hopf", "unique_above")
"""What they must agree on with `--events`: each event's kind, tau and crossing
(not its branch's number), in order of tau, and tau_unique's end."""


def events_only(found: dict[str, Any]) -> dict[str, Any]:
    """`found` with each event as (kind, tau, crossing), sorted by tau: two
    traces that sample a branch differently (another step rule) may number
    their branches differently."""
    out = dict(found)
    for key in ("folds", "branch_points", "hopf"):
        out[key] = sorted(([k, t, c] for k, t, _, c in found[key]), key=lambda e: e[1])
    return out


def same(mine: Any, theirs: Any, rtol: float) -> bool:
    """Equal lists of equal shape, whose floats are within `rtol` of each
    other (relatively) and everything else equal."""
    if isinstance(mine, list) and isinstance(theirs, list):
        return len(mine) == len(theirs) and all(
            same(a, b, rtol) for a, b in zip(mine, theirs, strict=True)
        )
    if isinstance(mine, float) and isinstance(theirs, float):
        return mine == theirs or abs(mine - theirs) <= rtol * max(
            abs(mine), abs(theirs)
        )
    return type(mine) is type(theirs) and mine == theirs


def traced(tree: pathlib.Path, game: str, out: pathlib.Path) -> dict[str, Any]:
    """`TRACE` of `game` ("name:horizon") run in `tree` (a subprocess)."""
    name, horizon = game.split(":")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", TRACE, name, horizon, str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: the trace of {game} in {tree}: {last}")
    return json.loads(out.read_text())


def row(game: str, tree: str, found: dict[str, Any]) -> str:
    points = sum(found["points"])
    return (
        f"{game:<18} {tree:<16} {found['seconds']:8.1f} {points:7d} "
        f"{1e3 * found['seconds'] / max(points, 1):9.1f} "
        f"{len(found['points']):9d} {len(found['folds']):6d}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.tracer", __doc__)
    parser.add_argument(
        "--against", metavar="REV", required=True, help="a git revision to compare"
    )
    parser.add_argument(
        "--games",
        nargs="+",
        default=["box_pushing:3"],
        metavar="NAME:HORIZON",
        help="catalogue games at a horizon (default: box_pushing:3)",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=0.0,
        help="how far apart two taus may be, relatively, and be the same (default 0: "
        "bit for bit)",
    )
    parser.add_argument(
        "--events",
        action="store_true",
        help="compare only the events (folds, branch points, Hopf points: kind, tau, "
        "crossing) and tau_unique, not the points: for a change of the step rule",
    )
    args = parser.parse_args(argv)
    parser.require_at_least(args, rtol=0)
    for game in args.games:
        name, _, horizon = game.partition(":")
        if not (name and horizon.isdigit() and int(horizon) >= 1):
            parser.error(f"--games {game}: not NAME:HORIZON (a horizon >= 1)")
    keys = EVENTS if args.events else SAME
    print(f"machine: {machine_text()}")
    print(f"load average (1, 5, 15 min) at the start: {load_average()}")
    print(
        f"{'game':<18} {'tree':<16} {'seconds':>8} {'points':>7} {'ms/point':>9} "
        f"{'branches':>9} {'folds':>6}"
    )
    differ = False
    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(temporary)
        trees = {"this checkout": ROOT, args.against: extract(args.against, work)}
        for game in args.games:
            found = {}
            for label, tree in trees.items():
                found[label] = traced(tree, game, work / "trace.json")
                print(row(game, label, found[label]), flush=True)
            mine, theirs = found.values()
            if args.events:
                mine, theirs = events_only(mine), events_only(theirs)
            changed = [
                key for key in keys if not same(mine[key], theirs[key], args.rtol)
            ]
            differ |= bool(changed)
            print(
                f"{game}: the diagrams "
                + (f"differ in {', '.join(changed)}" if changed else "are the same")
                + f"; {theirs['seconds'] / mine['seconds']:.2f}x",
                flush=True,
            )
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
