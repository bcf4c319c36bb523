"""Watch trained agents play: replays of chosen pairs, as pages, records and GIFs.

    python -m experiments.replay results/hanabi/3c3r
    python -m experiments.replay results/hanabi/3c3r --seats 0.1:0 iggi --games 3
    python -m experiments.replay results/overcooked/overcooked_cpu --greedy

Plays `--games` games of the agents named by `--seats`, one per seat: an
entropy coefficient and a seed of the run (`0.1:3`), or a rule-based partner of
the game (`iggi`, `piers`, `outer`, `van_den_bergh` for Hanabi); by default
seeds 0, 1, ... of the run's last coefficient. Writes into `--out` (default
`<run dir>/replays`), for game k:

  Hanabi      game_<k>.html, a self-contained page (both hands with what each
              holder knows, fireworks, discards, tokens, every move with the
              mover's most likely actions and what a hint touched; buttons,
              arrow keys, `#step=N`); game_<k>.json, the game's record
              (`games.envs.hanabi.replay.game_record`); game_<k>.hanablive.json
              where hanab.live has the variant (5 ranks, the standard hands
              and tokens), which its replay viewer imports;
  Overcooked  game_<k>.gif, the episode drawn by JaxMARL's visualizer, and
              game_<k>.json (actions, rewards, score).

Agents act as in `experiments.deep.players` (sampled, or `--greedy`); the deals come
from `--seed`.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from experiments.deep.agents import CrossPlayError
from experiments.deep.ippo_runs import read_run_config
from experiments.deep.players import Game, Player, bot, load, play_game
from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from games.envs.contract import Environment
from marl.deep.checkpoint import CheckpointError
from marl.fields import ConfigError
from marl.files import OutputDirError, atomic_write_bytes, check_writable


def seated(run: pathlib.Path, specs: list[str], step: int | None) -> list[Player]:
    """The players of `--seats`: `coef:seed` of the run, or a bot's name."""
    agents = load(run, step=step)
    env = agents[0].env
    if not specs:
        last = agents[-1].agent.ent_coef  # the run's last coefficient
        ours = [a for a in agents if a.agent.ent_coef == last]
        return [ours[p % len(ours)] for p in range(env.num_players)]
    if len(specs) != env.num_players:
        raise CrossPlayError(
            f"--seats names {len(specs)} players; {env.title} seats {env.num_players}"
        )
    players = []
    for spec in specs:
        if ":" not in spec:
            players.append(bot(env, spec))
            continue
        coef, _, seed = spec.partition(":")
        try:
            chosen = load(run, ent_coef=float(coef), seed=int(seed), step=step)
        except ValueError as error:
            if isinstance(error, CrossPlayError):
                raise
            raise CrossPlayError(
                f"--seats {spec}: write an entropy coefficient and a seed, 0.1:3"
            ) from None
        players.append(chosen[0])
    return players


def hanabi_files(
    env: Environment, params: Any, game: Game, players: list[Player]
) -> dict[str, bytes]:
    from games.envs.hanabi.replay import game_record, hanab_live, html_page

    actors = [a[0] for a in game.actors]
    actions = [a[0] for a in game.actions]
    probs = [p[0] for p in game.probs]
    names = [p.name for p in players]
    record = game_record(params, game.states, actors, actions, probs, names, env.title)
    files = {
        ".html": html_page(record).encode(),
        ".json": json.dumps(record, indent=1).encode(),
    }
    live = hanab_live(params, game.states, actions)
    if live is not None:
        files[".hanablive.json"] = json.dumps(live, indent=1).encode()
    return files


def overcooked_files(game: Game, players: list[Player]) -> dict[str, bytes]:
    import io

    import imageio
    from jaxmarl.viz.overcooked_v2_visualizer import OvercookedV2Visualizer

    states = jax.tree.map(lambda *xs: np.stack(xs), *game.states)
    frames = np.asarray(OvercookedV2Visualizer().render_sequence(states))
    buffer = io.BytesIO()
    imageio.mimsave(buffer, list(frames), format="GIF", duration=0.25, loop=0)
    record = {
        "players": [p.name for p in players],
        "actions": [list(a) for a in game.actions],
        "rewards": game.rewards,
        "score": game.score,
    }
    return {".gif": buffer.getvalue(), ".json": json.dumps(record).encode()}


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser("experiments.replay", __doc__)
    parser.add_argument("run_dir", type=pathlib.Path, help="an IPPO run directory")
    parser.add_argument(
        "--seats",
        nargs="+",
        default=[],
        help="one per seat: coef:seed of the run (0.1:3) or a bot's name (iggi)",
    )
    parser.add_argument("--games", type=int, default=1, help="games to play")
    parser.add_argument("--greedy", action="store_true", help="argmax, not sampled")
    parser.add_argument("--seed", type=int, default=0, help="deals and sampling")
    parser.add_argument("--step", type=int, help="the agents at this update")
    parser.add_argument("--out", type=pathlib.Path, help="default: <run>/replays")
    args = parser.parse_args(argv)
    try:
        if args.games < 1:
            raise CrossPlayError(f"--games={args.games} must be >= 1")
        players = seated(args.run_dir, args.seats, args.step)
        out = args.out or args.run_dir / "replays"
        check_writable(out)
        config = read_run_config(args.run_dir)
    except (CrossPlayError, ConfigError, CheckpointError, OutputDirError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    env = players[0].env
    hanabi = config.env["name"] == "hanabi"
    if not hanabi and not env.simultaneous:
        print(f"error: no replay drawing for {env.title}", file=sys.stderr)
        return 2
    print(f"{env.title}: " + " vs ".join(p.name for p in players), flush=True)
    for k in range(args.games):
        game = play_game(
            players,
            key=jax.random.fold_in(jax.random.key(args.seed), k),
            greedy=args.greedy,
        )
        if hanabi:
            from games.envs.hanabi.environment import game_params

            options = {k: v for k, v in config.env.items() if k != "name"}
            files = hanabi_files(env, game_params(**options), game, players)
        else:
            files = overcooked_files(game, players)
        out.mkdir(parents=True, exist_ok=True)
        for suffix, data in files.items():
            atomic_write_bytes(out / f"game_{k}{suffix}", data)
        print(
            f"game {k}: score {game.score:g} in {len(game.actions)} steps; wrote "
            + ", ".join(f"game_{k}{suffix}" for suffix in files)
            + f" in {out}"
        )
    return 0


cli = main.cli
"""The program: `python -m experiments.replay`, the console script."""

if __name__ == "__main__":
    cli()
