"""Checked in the reference: a trained agent played inside hanabi-learning-environment.

    python -m experiments.hle_check outputs/ippo/<run> --games 2000
    python -m experiments.hle_check outputs/ippo/<run> --greedy --matched-decks

loads one agent (entropy coefficient `--ent-index`, seed `--seed-index`, the
latest checkpoint) from an IPPO run directory (`python -m experiments.ippo env=hanabi`,
docs/ippo.md), plays N games with it in the JAX game (`marl.deep.play.play`)
and N games in HLE's C++ game (`marl.deep.hle_play.play_hle`), and prints both
mean scores with their standard errors. They agree when

    |mean_jax - mean_hle| <= 2 sqrt(se_jax^2 + se_hle^2)

(two combined standard errors; se = sample standard deviation / sqrt(N)); the
exit status is 1 when they do not. By default HLE deals from its own random deck
(seeded with `--seed`) and the two sides sample their moves from independent
keys, so the two means are independent estimates of the agent's score.
`--matched-decks` deals HLE the decks the JAX game dealt and samples with the
same keys: then every game must score exactly the same on both sides (greedy or
not), which is checked too.

How HLE is stepped, and why agreement means the agent's score does not depend
on our reimplementation of the game: `marl.deep.hle_play`.

Errors (HLE not installed, a directory without a run or checkpoints, an index
out of range) end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import pathlib
import sys
from collections.abc import Sequence

import jax

from experiments.deep.agents import (
    Agent,
    CrossPlayError,
    group_key,
    group_labels,
    load_run,
    seat_policy,
)
from experiments.deep.ippo_runs import CONFIG_FILE, IPPORunConfig, read_run_config
from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from experiments.harness.results import format_estimate
from games.envs import hanabi
from games.envs.hanabi.environment import environment, game_params
from marl.deep.checkpoint import CheckpointError
from marl.deep.hle_play import (
    AGREEMENT_SES,
    Agreement,
    HleCheckError,
    check,
    import_pyhanabi,
)
from marl.deep.ippo import IPPOConfig
from marl.deep.networks import Network
from marl.deep.play import Seats, identity_seats, seat_params
from marl.fields import ConfigError


@functools.cache
def per_seat_policy(ippo: IPPOConfig, params: hanabi.HanabiParams) -> Network:
    """The per-seat `Network` of a run (one object per configuration, so
    that the jitted plays above compile once per process)."""
    return seat_policy(ippo, environment(params))


def hanabi_params(config: IPPORunConfig) -> hanabi.HanabiParams:
    """The Hanabi game of a run on the hanabi environment."""
    options = {k: v for k, v in config.env.items() if k != "name"}
    if options.pop("observation", None) not in (None, "canonical"):
        raise HleCheckError(
            f"env.observation={config.env['observation']}: HLE hands the agents "
            "its canonical observations; the HLE check needs a run that observes them"
        )
    return game_params(**options)


def load_agent(
    run_dir: pathlib.Path, ent_index: int, seed_index: int
) -> tuple[Agent, IPPORunConfig, Seats]:
    """The agent at entropy coefficient `ent_index`, seed `seed_index` of the
    latest checkpoint in an IPPO run directory, its run's config, and the seats
    it plays in (the agent in every seat; shared parameters repeated per seat)."""
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise HleCheckError(
            f"{run_dir} is not an IPPO run directory (no {CONFIG_FILE})"
        )
    config = read_run_config(run_dir)
    if not 0 <= ent_index < len(config.ent_coefs):
        raise HleCheckError(
            f"--ent-index {ent_index} is out of range: the run has "
            f"{len(config.ent_coefs)} entropy coefficients {config.ent_coefs}"
        )
    if not 0 <= seed_index < config.seeds:
        raise HleCheckError(
            f"--seed-index {seed_index} is out of range: the run has "
            f"{config.seeds} seeds"
        )
    if config.env_name != "hanabi":
        raise HleCheckError(
            f"{run_dir} trained on {config.env_name}; the HLE check plays Hanabi"
        )
    params = hanabi_params(config)
    net_params, step = load_run(run_dir, config)  # leaves [E, S, ...]
    num_players = params.num_players

    agent = jax.tree.map(lambda x: x[ent_index, seed_index], net_params)
    seats = seat_params(agent, num_players, config.ippo.share_parameters)
    coef = config.ent_coefs[ent_index]
    agent = Agent(
        str(run_dir), coef, seed_index, step, group_labels([group_key(config, coef)])[0]
    )
    return agent, config, identity_seats(seats, environment(params))


def report(agreement: Agreement, matched_decks: bool) -> list[str]:
    """The printed lines: both means, the criterion, the verdict."""
    jax_mean, jax_se = agreement.mean_and_se(agreement.jax_scores)
    hle_mean, hle_se = agreement.mean_and_se(agreement.hle_scores)
    n = len(agreement.jax_scores)
    verdict = "agree" if agreement.agree else "DISAGREE"
    lines = [
        f"JAX game: mean score {format_estimate(jax_mean, jax_se, 4)} (standard error)",
        f"HLE:      mean score {format_estimate(hle_mean, hle_se, 4)} (standard error)",
        f"difference {agreement.difference:+.4f}; criterion |difference| <= "
        f"{AGREEMENT_SES:g} sqrt(se_jax^2 + se_hle^2) = {agreement.bound:.4f}: "
        f"{verdict}",
    ]
    if matched_decks:
        lines.append(
            f"identical per-game scores on the same decks: {agreement.identical}/{n}"
        )
    return lines


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 agree, 1 disagree,
    2 error)."""
    parser = ArgumentParser("experiments.hle_check", __doc__)
    parser.add_argument("run_dir", type=pathlib.Path, help="an IPPO run directory")
    parser.add_argument("--games", type=int, default=1000, help="games per side")
    parser.add_argument(
        "--greedy", action="store_true", help="argmax over legal moves, not sampled"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ent-index", type=int, default=0)
    parser.add_argument("--seed-index", type=int, default=0)
    parser.add_argument(
        "--matched-decks",
        action="store_true",
        help="deal HLE the JAX game's decks and sample with the same keys; every "
        "game must then score the same",
    )
    args = parser.parse_args(argv)
    try:
        if args.games < 2:
            raise HleCheckError(f"--games {args.games}: need at least 2")
        if args.seed < 0:
            raise HleCheckError(f"--seed {args.seed}: must be >= 0")
        agent, config, seats = load_agent(args.run_dir, args.ent_index, args.seed_index)
        import_pyhanabi()
    except (HleCheckError, CrossPlayError, ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    ippo = config.ippo
    params = hanabi_params(config)
    print(
        f"agent: {args.run_dir}, seed {args.seed_index}, ent_coef {agent.ent_coef:g}, "
        f"update {agent.step}; {config.describe_env()}, "
        f"{ippo.network}{'' if ippo.share_parameters else ' per seat'}; "
        f"{args.games} games per side, {'greedy' if args.greedy else 'sampled'}, "
        f"{'the same decks and keys' if args.matched_decks else 'independent decks'}"
    )
    agreement = check(
        per_seat_policy(ippo, params),
        seats,
        params,
        seed=args.seed,
        num_games=args.games,
        greedy=args.greedy,
        matched_decks=args.matched_decks,
    )
    for line in report(agreement, args.matched_decks):
        print(line)
    ok = agreement.agree
    if args.matched_decks:
        ok &= agreement.identical == args.games
    return 0 if ok else 1


cli = main.cli
"""The program: `python -m experiments.hle_check`, the console script."""

if __name__ == "__main__":
    cli()
