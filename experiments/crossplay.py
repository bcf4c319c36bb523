"""Cross-play of trained IPPO agents (any environment): every ordered pair,
stochastic and greedy.

    python -m experiments.crossplay outputs/ippo/<run>
    python -m experiments.crossplay multirun/ippo/<sweep> --games 5000
    python -m experiments.crossplay run_a run_b --out outputs/crossplay/mine

Loads the latest checkpoint of every seed and entropy coefficient of every IPPO run
(`python -m experiments.ippo`) under the given directories, plays every ordered
pair of agents (agent i in seat 0, agent j in the other seats; with 3+ players,
XP is over assignments of distinct agents to every seat) for `--games` games
on common deals, in one jitted batch, with the sampled policies and with the
greedified ones (argmax over legal actions; the measurements are
`marl.deep.evaluate`), and writes into the output directory.
The games are played for the game's score (an environment's `scoring` options:
Overcooked without its shaped rewards). Into the output directory:

  results.json   the agents, the matrices (mean and standard error per cell),
                 and one point per group of agents trained alike (same run
                 configuration and entropy coefficient, any root seed): SP (the
                 diagonal), XP (off the diagonal), with standard errors, and the
                 symmetry measures (docs/ippo.md, "Cross-play");
  scores.npz     every game's score, float32[K, K, games] per policy kind;
  crossplay.png  the heatmaps.

The output directory defaults to `<dir>/crossplay` for a single directory given,
else `outputs/crossplay/<date>`.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import sys
import time
from typing import Any

import numpy as np

from experiments.agents import CrossPlayError, load_agents, seat_policy
from experiments.config import ArgumentParser, as_program, interruptible
from experiments.plots import PANEL, plot_crossplay_heatmap, plt, save_figure
from experiments.results import (
    RESULTS_FILE,
    format_estimate,
    read_results,
    run_metadata,
    write_json,
    write_npz,
)
from marl.deep.checkpoint import CheckpointError
from marl.deep.evaluate import KINDS, evaluate
from marl.fields import ConfigError
from marl.files import OutputDirError, check_writable


def save_heatmaps(results: dict[str, Any], path: pathlib.Path) -> None:
    """The sampled and argmax-greedy cross-play matrices side by side, one colour
    scale, the blocks of agents trained alike named on the axes."""
    fig, axes = plt.subplots(
        1, 2, figsize=(2 * PANEL[0], PANEL[1] + 0.6), constrained_layout=True
    )
    matrices = [np.asarray(results[f"matrix{kind}"]) for kind in KINDS]
    limits = (min(m.min() for m in matrices), max(m.max() for m in matrices))
    groups = [agent["group"] for agent in results["agents"]]
    for ax, kind, matrix in zip(axes, KINDS, matrices, strict=True):
        title = f"{results['game']}\n{'argmax-greedy' if kind else 'sampled'} policies"
        plot_crossplay_heatmap(ax, matrix, title, limits, blocks=groups)
        ax.set_xlabel("agent in seat 2")
        ax.set_ylabel("agent in seat 1")
    save_figure(fig, path)


def refuse_smaller(out: pathlib.Path, games: int, symmetry_games: int) -> None:
    """Refuses to replace an evaluation in `out` that played more games per pair
    (or per permutation) than this one would, unless the user says --force."""
    try:
        previous = read_results(out / RESULTS_FILE)
    except (OSError, ValueError):
        return  # nothing (readable) to keep
    if not isinstance(previous, dict):
        return
    before = previous.get("num_games") or 0
    symmetry = previous.get("symmetry") or {}
    before_symmetry = symmetry.get("num_games") or 0
    if before > games or before_symmetry > symmetry_games:
        raise CrossPlayError(
            f"{out / RESULTS_FILE} holds a larger evaluation ({before} games per "
            f"pair, {before_symmetry} per permutation) than --games {games} "
            f"--symmetry-games {symmetry_games}; add --force to replace it, or "
            "--out elsewhere"
        )


def default_out(paths: list[str]) -> pathlib.Path:
    if len(paths) == 1:
        return pathlib.Path(paths[0]) / "crossplay"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return pathlib.Path("outputs") / "crossplay" / stamp


def format_points(points: list[dict[str, Any]], failure: str | None) -> str:
    cell = format_estimate

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"{'group':<28} {'seeds':>5}  {'SP':>20}  {'XP':>20}  "
        f"{'SP argmax-greedy':>20}  {'XP argmax-greedy':>20}  "
        f"{'SP perfect':>10}  {'SP lost outright':>16}"
    ]
    for p in points:
        lines.append(
            f"{p['group']:<28} {p['num_seeds']:>5}  {cell(p['sp'], p['sp_se']):>20}  "
            f"{cell(p['xp'], p['xp_se']):>20}  "
            f"{cell(p['sp_greedy'], p['sp_greedy_se']):>20}  "
            f"{cell(p['xp_greedy'], p['xp_greedy_se']):>20}  "
            f"{percent(p.get('sp_perfect')):>10}  "
            f"{percent(p.get(f'sp_{failure}')):>16}"
        )
    return "\n".join(lines)


@interruptible
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.crossplay", __doc__)
    parser.add_argument("paths", nargs="+", help="IPPO run directories or sweeps")
    parser.add_argument("--games", type=int, default=5000, help="games per pair")
    parser.add_argument("--seed", type=int, default=0, help="deals and sampling")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        help="output directory (unset: <dir>/crossplay for one directory given, "
        "else outputs/crossplay/<date>)",
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=8,
        help="symmetries of the game for the symmetry measures (Hanabi: color "
        "permutations), the identity included (all of them when there are fewer); "
        "< 2 turns the measures off",
    )
    parser.add_argument(
        "--symmetry-games", type=int, default=500, help="games per permutation"
    )
    parser.add_argument(
        "--max-assignments",
        type=int,
        default=1000,
        help="3+ players: assignments of distinct agents to seats played per group "
        "for XP (all of them when there are fewer)",
    )
    parser.add_argument(
        "--pairs-per-batch",
        type=int,
        default=None,
        help="pairs played side by side (all when unset; lower it to save memory)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier evaluation in the output directory that played "
        "more games (by default that is refused)",
    )
    args = parser.parse_args(argv)
    started = time.time()
    try:
        for name in ("games", "pairs_per_batch", "max_assignments"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise CrossPlayError(f"--{name.replace('_', '-')}={value} must be >= 1")
        if args.symmetry_games < 0:
            raise CrossPlayError(f"--symmetry-games={args.symmetry_games} must be >= 0")
        agents, agent_params, config, warnings = load_agents(args.paths)
        out = args.out or default_out(args.paths)
        check_writable(out)  # before the work, not after it
        if not args.force:
            refuse_smaller(out, args.games, args.symmetry_games)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(
            f"{len(agents)} agents ({config.scoring_environment.title}, "
            f"{config.scoring_environment.num_players} players) "
            f"from {len({a.run for a in agents})} runs; {len(agents) ** 2} ordered "
            f"pairs x {args.games} games, sampled and greedy"
        )
        env = config.scoring_environment
        results, arrays = evaluate(
            seat_policy(config.ippo, env),
            agent_params,
            env,
            [agent.group for agent in agents],
            [agent.ent_coef for agent in agents],
            share_parameters=config.ippo.share_parameters,
            num_games=args.games,
            seed=args.seed,
            permutations=args.permutations,
            symmetry_games=args.symmetry_games,
            pairs_per_batch=args.pairs_per_batch,
            max_assignments=args.max_assignments,
        )
    except (CrossPlayError, ConfigError, CheckpointError, OutputDirError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = {
        **results,
        "env": config.env,
        "agents": [dataclasses.asdict(agent) for agent in agents],
        "warnings": warnings,
    }
    results["metadata"] = {**run_metadata(), "seconds": round(time.time() - started)}
    write_json(out / RESULTS_FILE, results)
    write_npz(out / "scores.npz", arrays)
    save_heatmaps(results, out / "crossplay.png")
    print(format_points(results["points"], results["failure"]))
    print(f"wrote {out / RESULTS_FILE}, {out / 'scores.npz'}, {out / 'crossplay.png'}")
    return 0


cli = as_program(main)
"""The program: `python -m experiments.crossplay`, the console script."""

if __name__ == "__main__":
    cli()
