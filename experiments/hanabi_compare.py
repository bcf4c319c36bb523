"""The exact phase diagram of a micro Hanabi beside IPPO on the same game.

    python -m experiments.hanabi_compare <tabular run> <ippo run> \
        [--crossplay <crossplay dir>] [--games 4000] [--out <dir>]

The tabular run is `experiments.tabular` on a catalogue game of
`games.hanabi_tabular.MICRO`; the IPPO run is `experiments.ippo` on the same size
(preset hanabi_micro_cpu) and, optionally, its `experiments.crossplay`. For
every IPPO agent, self-play games in the JAX game follow each player's own
history (the compiled game's information states: the kept sections of HLE's
observation and its own moves), read the agent's policy at every information
state it reaches, and measure its total variation from the exact policy of every
seed at every tau of the tabular run, weighted by how often IPPO's play reaches
each state (the mean over its decisions; `tv_by_tau`: from the nearest seed's,
i.e. the nearest fixed point). Writes `hanabi_compare.json` and prints the two
halves' tables side by side (docs/hanabi_exact.md).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import games
from experiments.deep.agents import CrossPlayError, load_agents, played, seat_policy
from experiments.deep.micro_hanabi_visits import distances, visited_policies
from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from experiments.harness.results import read_results, run_metadata, write_json
from games import hanabi_tabular
from games.envs.hanabi.environment import game_params
from games.envs.hanabi.params import HanabiParams
from marl.deep.checkpoint import CheckpointError
from marl.fields import ConfigError
from marl.files import OutputDirError, check_writable
from marl.tabular import exact

TABLE_FIELDS = ("sp", "xp", "sp_greedy", "xp_greedy", "equivariance_error")


class CompareError(ValueError):
    """The two runs cannot be set side by side."""


def load_tabular(run: pathlib.Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A tabular run's results and policies, refused in one line unless they
    are a micro Hanabi's."""
    try:
        results = read_results(run / "results.json")
        game, points = results["game"], results["points"]
    except FileNotFoundError:
        raise CompareError(f"{run}: no results.json of a tabular run") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CompareError(f"{run}/results.json is unreadable ({error})") from None
    if game not in hanabi_tabular.MICRO:
        raise CompareError(
            f"{run} is a run of {game!r}, not a micro Hanabi "
            f"({', '.join(hanabi_tabular.MICRO)})"
        )
    try:
        with np.load(run / "policies.npz") as stored:
            players = sum(1 for k in stored.files if k.startswith("agent"))
            names = ("taus", *(f"agent{i}" for i in range(players)))
            arrays = {k: stored[k] for k in names}
    except (OSError, ValueError, KeyError) as error:
        raise CompareError(f"{run}/policies.npz is unreadable ({error})") from None
    if not isinstance(points, list) or len(points) != len(arrays["taus"]):
        raise CompareError(f"{run}: results.json and policies.npz do not match")
    return results, arrays


def hanabi_params(config: Any, run: pathlib.Path) -> tuple[HanabiParams, int]:
    """The Hanabi size an IPPO run's agents play, and the turns its games last
    (the game's bound, or the run's `env.max_turns` cut)."""
    options = dict(played(config))
    if options.pop("name", "hanabi") != "hanabi":
        raise CompareError(f"{run} is not a Hanabi run")
    if options.get("observation") not in (None, "canonical"):
        raise CompareError(
            f"{run} observes the v0 belief; the comparison plays its agents on "
            "the canonical observation"
        )
    params = game_params(**options)
    cut = options.get("max_turns")
    return params, min(cut or params.max_game_length, params.max_game_length)


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.hanabi_compare", __doc__)
    parser.add_argument("tabular", type=pathlib.Path, help="tabular run directory")
    parser.add_argument("ippo", type=pathlib.Path, help="IPPO run directory")
    parser.add_argument(
        "--crossplay",
        type=pathlib.Path,
        default=None,
        help="the IPPO run's experiments.crossplay directory, for its SP and XP",
    )
    parser.add_argument(
        "--games", type=int, default=4000, help="self-play games per IPPO agent"
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=None,
        help="output directory (the IPPO run's)",
    )
    args = parser.parse_args(argv)
    started = time.time()
    try:
        if args.games < 1:
            raise CompareError(f"--games={args.games} must be >= 1")
        out = args.out or args.ippo
        check_writable(out)
        report = compare(args.tabular, args.ippo, args.crossplay, args.games)
    except (
        CompareError,
        CrossPlayError,
        ConfigError,
        CheckpointError,
        OutputDirError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report["metadata"] = {**run_metadata(), "seconds": round(time.time() - started)}
    write_json(out / "hanabi_compare.json", report)
    print(tables(report))
    print(f"wrote {out / 'hanabi_compare.json'}")
    return 0


def coefficient_summary(
    rows: list[dict[str, Any]], taus: np.ndarray
) -> list[dict[str, Any]]:
    """The agents' rows averaged per entropy coefficient: self-play, exact
    value, the distance to the exact fixed points by tau and the nearest tau."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["ent_coef"], []).append(row)
    summary = []
    for coef, members in sorted(groups.items()):
        tv = np.mean([r["tv_by_tau"] for r in members], axis=0)
        summary.append(
            {
                "ent_coef": coef,
                "seeds": len(members),
                "self_play": float(np.mean([r["self_play"] for r in members])),
                "exact_value": float(np.mean([r["exact_value"] for r in members])),
                "tv_by_tau": tv.tolist(),
                "nearest_tau": float(taus[int(np.argmin(tv))]),
                "nearest_tv": float(np.min(tv)),
            }
        )
    return summary


def agent_measures(
    visited: Any, fixed_points: list[np.ndarray], game: Any, taus: np.ndarray
) -> dict[str, Any]:
    """One IPPO agent's policy read at the exact game's information states
    (`visited`) against the exact fixed points float[T, N, K_i, A] per seat:
    its self-play score, the read policy's exact value, and its distance to
    the nearest seed's fixed point at every tau."""
    # [T, N]: from every exact seed's fixed point at every tau; the nearest
    # seed is the nearest fixed point (above tau* every seed is the one).
    tvs = distances(visited, fixed_points)
    tv = tvs.min(axis=1).tolist()
    # The read policy's exact value (unreached rows uniform over the legal
    # moves, where IPPO's own play never goes): its self-play score again,
    # if the information states were followed as the compile step lays them.
    read = tuple(
        jnp.asarray(np.where(v[:, None] > 0, p, m / m.sum(1, keepdims=True)))
        for p, v, m in zip(
            visited.policies,
            visited.visits,
            (np.asarray(x, float) for x in game.legal),
            strict=True,
        )
    )
    return {
        "self_play": visited.score,
        "exact_value": float(exact.expected_return(game, read)),
        "tv_by_tau": tv,
        "tv_mean_over_seeds_by_tau": tvs.mean(axis=1).tolist(),
        "nearest_tau": float(taus[int(np.argmin(tv))]),
        "nearest_tv": float(min(tv)),
    }


def compare(
    tabular: pathlib.Path,
    ippo: pathlib.Path,
    crossplay: pathlib.Path | None,
    num_games: int,
) -> dict[str, Any]:
    results, arrays = load_tabular(tabular)
    name, horizon = results["game"], results["horizon"]
    loaded = load_agents([str(ippo)])
    agents, params, config = loaded.agents, loaded.params, loaded.config
    size = hanabi_tabular.micro_params(**hanabi_tabular.MICRO[name])
    env_params, turns = hanabi_params(config, ippo)
    if env_params != size:
        raise CompareError(
            f"{ippo} plays {env_params}, not the size of {name} ({size})"
        )
    if horizon != turns:
        raise CompareError(
            f"{tabular} plays {name} over {horizon} turns but {ippo} over {turns}; "
            f"train IPPO with env.max_turns={horizon}"
        )
    compiled = hanabi_tabular.micro(name, horizon)
    game = games.compile_game(compiled.spec)
    env = config.scoring_environment
    policy = seat_policy(config.ippo, env)
    taus = arrays["taus"]
    fixed_points = [
        arrays[f"agent{i}"] for i in range(game.num_agents)
    ]  # [T, N, K_i, A]
    rows = []
    for k, agent in enumerate(agents):
        one = jax.tree.map(lambda x, k=k: x[k], params)
        visited = visited_policies(
            one,
            policy,
            env,
            env_params,
            compiled,
            game,
            shared=config.ippo.share_parameters,
            key=jax.random.key(k),
            num_games=num_games,
        )
        if visited.missed:
            raise CompareError(
                f"{ippo}: {visited.missed} decisions of agent {k} at histories "
                f"{name} does not have; is it the same game?"
            )
        rows.append(
            {
                "ent_coef": agent.ent_coef,
                "seed": agent.seed,
                **agent_measures(visited, fixed_points, game, taus),
            }
        )
    summary = coefficient_summary(rows, taus)
    if crossplay is not None:
        points = json.loads((crossplay / "results.json").read_text())["points"]
        by_coef = {p["ent_coef"]: p for p in points}
        for entry in summary:
            point = by_coef.get(entry["ent_coef"], {})
            for field in TABLE_FIELDS:
                entry[field] = point.get(field)
    return {
        "game": name,
        "horizon": horizon,
        "num_games": num_games,
        "taus": taus.tolist(),
        "exact": [
            {field: point.get(field) for field in ("tau", *TABLE_FIELDS)}
            | {
                "converged": point.get("converged"),
                "num_conventions": point.get("num_conventions"),
            }
            for point in results["points"]
        ],
        "critical_tau": results.get("critical_tau"),
        "ippo": summary,
        "ippo_agents": rows,
    }


def _cell(value: Any) -> str:
    return (
        "-"
        if value is None
        else f"{value:.3f}"
        if isinstance(value, float)
        else str(value)
    )


def tables(report: dict[str, Any]) -> str:
    head = ("tau", *TABLE_FIELDS, "converged", "num_conventions")
    lines = [f"exact, {report['game']} over {report['horizon']} turns"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for point in report["exact"]:
        lines.append("| " + " | ".join(_cell(point.get(f)) for f in head) + " |")
    head = (
        "ent_coef",
        "seeds",
        "self_play",
        "exact_value",
        *TABLE_FIELDS,
        "nearest_tau",
        "nearest_tv",
    )
    lines += ["", "IPPO on the same game", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for entry in report["ippo"]:
        lines.append("| " + " | ".join(_cell(entry.get(f)) for f in head) + " |")
    return "\n".join(lines)


cli = main.cli


if __name__ == "__main__":
    cli()
