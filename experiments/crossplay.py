"""Cross-play of trained IPPO agents (any environment): every ordered pair,
stochastic and greedy.

    python -m experiments.crossplay outputs/ippo/<run>
    python -m experiments.crossplay multirun/ippo/<sweep> --games 5000
    python -m experiments.crossplay run_a run_b --out outputs/crossplay/mine

Loads the latest checkpoint of every seed and entropy coefficient of every IPPO run
(`python -m experiments.ippo`) under the given directories, plays every ordered
pair of agents (agent i in seat 0, agent j in the other seats; with 3+ players,
XP is over assignments of distinct agents to every seat) on common deals, in one
jitted batch per round of games, with the sampled policies and with the
greedified ones (argmax over legal actions; the measurements are
`marl.deep.evaluate`), and writes into the output directory.

How many games: by default each policy kind plays rounds until every pair's
standard error is at most `--target-se` (default 0.5% of the game's maximum
score; of the largest score of the first round where the game has none) or
`--max-games` per pair are played; `--games N` plays exactly N; `--max-minutes`
lowers the cap to what fits, measured on the first round. It prints its phases,
a predicted time after the first round, and progress with an ETA at least every
10 seconds. Ctrl-C keeps the rounds played in `partial.npz` (exit 130), as do
every 5 minutes of play and each kind's last round (for a run killed without
that chance); the same command run again goes on from them and ends as an
uninterrupted run would.
The games are played for the game's score (an environment's `scoring` options:
Overcooked without its shaped rewards). Into the output directory:

  results.json   the agents, the matrices (mean and standard error per cell),
                 and one point per group of agents trained alike (same run
                 configuration and entropy coefficient, any root seed): SP (the
                 diagonal), XP (off the diagonal), with standard errors, and the
                 symmetry measures (docs/crossplay.md);
  scores.npz     every game's score, float32[K, K, games] per policy kind
                 (the kinds may have played different numbers of games);
  crossplay.csv  the tidy table: one row per ordered pair and policy kind
                 (agents, groups, games, mean, SE, 95% interval);
  crossplay.png  the heatmaps; crossplay_groups.png the cross-play between
                 groups, each cell with its 95% interval.

`--bots iggi,piers` (or `all`) adds the game's rule-based partners (Hanabi:
`games.envs.hanabi.bots`), each a group of one agent, so that the table holds
every trained agent with every bot and the bots with each other; several run
directories give cross-run cross-play (the Other-Play runs against an entropy
grid, say) in the same evaluation.

The output directory defaults to `<dir>/crossplay` for a single directory given
(`<dir>/crossplay_update<N>` with `--step N`, the agents at a milestone), else
`outputs/crossplay/<date>`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import jax

from experiments.deep.agents import (
    CrossPlayError,
    Loaded,
    add_bots,
    load_agents,
    seat_policy,
)
from experiments.deep.crossplay_directory import (
    CrossplayDirectory,
    default_out,
    partial_key,
    print_summary,
)
from experiments.deep.crossplay_options import CrossplayOptions
from experiments.deep.crossplay_results import results_of
from experiments.deep.evaluation import (
    TARGET_SE_SHARE,
    EvaluationReporter,
    say,
    target_se,
)
from experiments.harness.entry import entry_point
from experiments.harness.results import (
    run_metadata,
)
from experiments.harness.rundir import Job
from marl.deep.checkpoint import CheckpointError
from marl.deep.evaluate import evaluate
from marl.deep.rounds import Interrupted, Sizing, round_size
from marl.fields import ConfigError
from marl.files import OutputDirError


@entry_point
def main(argv: list[str] | None = None) -> int:
    try:
        args = CrossplayOptions.parse(argv, __doc__ or "")
        # The output directory's lock (one writer) is held until the end.
        with Job(args.out or default_out(args.paths, args.step)) as job:
            return evaluate_into(args, CrossplayDirectory(job))
    except (CrossPlayError, ConfigError, CheckpointError, OutputDirError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def load_partners(args: CrossplayOptions) -> Loaded:
    """The agents of the runs given, and the bots asked for (`Loaded`: the
    agents, their parameters, the runs' config, the game, warnings)."""
    say("loading the agents")
    loaded = load_agents(args.paths, args.step)
    if not args.bots:
        return loaded
    agents, agent_params = add_bots(
        loaded.agents,
        loaded.params,
        loaded.env,
        args.bots.split(","),
        per_seat=not loaded.config.ippo.share_parameters,
    )
    return loaded._replace(agents=agents, params=agent_params)


def plan(
    args: CrossplayOptions, agents: list[Any], env: Any
) -> tuple[Sizing, EvaluationReporter]:
    """How many games, in rounds of how many (printed), and the progress lines."""
    cap = args.games or args.max_games
    rows = len(agents) ** 2
    if env.num_players >= 3:
        rows += len(agents) * args.max_assignments  # at most
    sizing = Sizing(
        round_games=args.round_games
        or round_size(rows, env.max_steps, cap, jax.default_backend()),
        max_games=cap,
        target_se=target_se(args, env),
    )
    sizing = sizing._replace(round_games=min(sizing.round_games, cap))
    aim = (
        f"{sizing.target_se:.3g}"
        if sizing.target_se is not None
        else f"{TARGET_SE_SHARE:.1%} of the first round's largest score"
    )
    print(
        f"{len(agents)} agents ({env.title}, {env.num_players} players) from "
        f"{len({a.run for a in agents})} runs; {len(agents) ** 2} ordered pairs, "
        f"sampled and greedy, in rounds of {sizing.round_games} games: "
        + (
            f"{cap:,} games per pair"
            if args.games is not None
            else f"until every pair's SE is at most {aim} or {cap:,} games"
        ),
        flush=True,
    )
    symmetric = env.symmetries.size > 1 and args.permutations > 1
    symmetry_rows = (
        2
        * len(agents)
        * min(args.permutations, env.symmetries.size)
        * args.symmetry_games
        if symmetric
        else 0
    )
    return sizing, EvaluationReporter(args, sizing, len(agents) ** 2, symmetry_rows)


def evaluate_into(args: CrossplayOptions, directory: CrossplayDirectory) -> int:
    """`main` in its output directory (`CrossplayDirectory`, its lock held
    from here or from `accept`): the phases above, in order."""
    started = time.time()
    loaded = load_partners(args)
    agents, agent_params, config, env = (
        loaded.agents,
        loaded.params,
        loaded.config,
        loaded.env,
    )
    if not args.force:
        directory.refuse_smaller(args.games or args.max_games, args.symmetry_games)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sizing, progress = plan(args, agents, env)
    directory.accept()
    key = partial_key(agents, args, sizing)
    resume = directory.resume(key, args, progress)
    # a long evaluation killed without Ctrl-C's chance to save still goes on
    progress.keep_rounds(
        lambda played: directory.keep_rounds(played, key), resume or {}
    )
    try:
        evaluation = evaluate(
            seat_policy(
                loaded.networks,
                env,
                scripted=bool(args.bots),
                encodings=loaded.encodings,
            ),
            agent_params,
            env,
            [agent.group for agent in agents],
            share_parameters=config.ippo.share_parameters,
            sizing=progress.sizing,
            seed=args.seed,
            permutations=args.permutations,
            symmetry_games=args.symmetry_games,
            pairs_per_batch=args.pairs_per_batch,
            max_assignments=args.max_assignments,
            resume=resume,
            report=progress.report,
            first_round=None if resume else progress.first_round,
            phase=progress.phase,
            convention_games=args.convention_games,
        )
    except Interrupted as interrupted:
        return directory.keep_interrupted(interrupted, key)
    results, arrays = results_of(
        evaluation, env, [agent.ent_coef for agent in agents], args.convention_tol
    )
    results["sizing"]["chosen_by"] = progress.chosen_by
    results["sizing"]["resumed"] = bool(resume)
    results = {
        **results,
        "env": config.env,
        "agents": [dataclasses.asdict(agent) for agent in agents],
        "warnings": loaded.warnings,
        "metadata": {**run_metadata(), "seconds": round(time.time() - started)},
    }
    out = directory.write(results, arrays, args.force, args.symmetry_games)
    print_summary(out, results)
    return 0


cli = main.cli
"""The program: `python -m experiments.crossplay`, the console script."""

if __name__ == "__main__":
    cli()
