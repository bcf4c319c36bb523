"""The rule-based Hanabi partners' self-play beside their original implementation
and published figures, and a rule-for-rule replay of the originals' games.

    python -m benchmarks.hanabi_bots                    # 2,000 games per bot
    python -m benchmarks.hanabi_bots --original ~/src/fossgalaxy-hanabi \\
        --traces 20 --out docs/results/hanabi_bots/selfplay_2p.json
    python -m benchmarks.hanabi_bots --games 500 --players 3 --bots iggi,outer

Plays each bot of `games.envs.hanabi.bots` with copies of itself under HLE's
rules (a game lost on its last life scores 0), again with every hand read in
the original framework's positions (`benchmarks.fossgalaxy.self_play_by_position`),
and the lab's first reading of the same rules (`bots.VARIANTS`), and prints the
mean scores with their standard errors beside the self-play LARG's jax-aht
reports for its implementations (HANABI.md, "Rule-based", full 2-player Hanabi,
read at commit ebcf28d).

With `--original PATH` (a checkout of fossgalaxy/hanabi, never copied here) it
compiles Walton-Rivers et al.'s own agents (`benchmarks.fossgalaxy`), plays as
many games of each in their framework (its zero-life scoring, HLE's rule), and
with `--traces N` records N of their games per bot and replays them move by
move in the lab's Hanabi, counting the moves the lab's bot allows on the same
observation (slots in the framework's positions). `--traces-out FILE` keeps
those records (gzipped) for the tests.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import tempfile

from benchmarks.common import machine_lines
from experiments.harness.arguments import ArgumentParser

JAX_AHT = {"iggi": 11.7, "piers": 11.6, "outer": 0.0, "van_den_bergh": 9.3}
"""Self-play on full 2-player Hanabi reported by LARG/jax-aht (HANABI.md)."""


def _mean_se(scores) -> tuple[float, float]:
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    return float(scores.mean()), float(scores.std(ddof=1) / np.sqrt(scores.size))


def _ours(name: str, params, key, games: int, *, by_position: bool = False) -> dict:
    import numpy as np

    from benchmarks.fossgalaxy import self_play_by_position
    from games.envs.hanabi.bots import self_play

    if by_position:
        scores = self_play_by_position(name, params, key=key, num_games=games)
    else:
        scores = self_play(
            [name] * params.num_players, params, key=key, num_games=games
        )
    mean, se = _mean_se(scores)
    return {
        "mean": round(mean, 4),
        "se": round(se, 4),
        "perfect": float(np.mean(scores == params.max_score)),
        "zero": float(np.mean(scores == 0)),
    }


def _originals(args, params, rows: list[dict]) -> str:
    """Plays and replays the original agents into `rows`; returns the traces."""
    from benchmarks import fossgalaxy

    with tempfile.TemporaryDirectory() as tmp:
        classes = fossgalaxy.build(args.original, pathlib.Path(tmp) / "classes")
        traces = []
        for row in rows:
            name = row["bot"]
            text = fossgalaxy.play(
                classes, name, players=args.players, games=args.games
            )
            mean, se = _mean_se(fossgalaxy.scores(text))
            row["original"] = {"mean": round(mean, 4), "se": round(se, 4)}
            if args.traces:
                text = fossgalaxy.play(
                    classes,
                    name,
                    players=args.players,
                    games=args.traces,
                    first_seed=10**6,
                    trace=True,
                )
                traces.append(f"bot {name}\n{text}")
                decisions = [
                    d
                    for game in fossgalaxy.games(text)
                    for d in fossgalaxy.replay(game, name, params)
                ]
                row["replay"] = {
                    "games": args.traces,
                    "moves": len(decisions),
                    "allowed": sum(d.agrees for d in decisions),
                }
    return "".join(traces)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.hanabi_bots", __doc__)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--players", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bots", default="all", help="comma-separated bots to play (default: all)"
    )
    parser.add_argument(
        "--original",
        type=pathlib.Path,
        help="a checkout of fossgalaxy/hanabi: play its agents beside ours",
    )
    parser.add_argument(
        "--traces", type=int, default=0, help="with --original: games to replay"
    )
    parser.add_argument("--traces-out", type=pathlib.Path, help="keep them here")
    parser.add_argument("--out", type=pathlib.Path, help="also write the rows here")
    args = parser.parse_args(argv)
    parser.require_at_least(args, games=2, traces=0)
    if (args.traces or args.traces_out) and args.original is None:
        parser.error("--traces and --traces-out need --original")
    for line in machine_lines():
        print(line)
    import jax

    from games.envs.hanabi.bots import BOTS, VARIANTS
    from games.envs.hanabi.params import make_params

    chosen = BOTS if args.bots == "all" else tuple(args.bots.split(","))
    if not set(chosen) <= set(BOTS):
        parser.error(f"--bots {args.bots}: the bots are {', '.join(BOTS)}")
    params = make_params("Hanabi-Full", args.players)
    print(f"Hanabi-Full, {args.players} players, {args.games} games per bot")
    rows = []
    for k, (name, first) in enumerate(zip(BOTS, VARIANTS, strict=True)):
        if name not in chosen:
            continue
        key = jax.random.fold_in(jax.random.key(args.seed), k)
        rows.append(
            {
                "bot": name,
                "players": args.players,
                "games": args.games,
                **_ours(name, params, key, args.games),
                "by_position": _ours(name, params, key, args.games, by_position=True),
                "v1": _ours(first, params, key, args.games),
                "jax_aht": JAX_AHT[name] if args.players == 2 else None,
            }
        )
    if args.original is not None:
        traces = _originals(args, params, rows)
        if args.traces_out is not None:
            args.traces_out.write_bytes(gzip.compress(traces.encode(), mtime=0))
    print(table(rows))
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


def table(rows: list[dict]) -> str:
    """The rows as the benchmark prints them (the tests recompute it): each
    bot's self-play with HLE's hands (oldest card first), with the framework's
    (a drawn card takes the place of the one it replaces), the lab's first
    reading, the original agents, the gap between the two with the framework's
    hands in standard errors, jax-aht's figure, and the replayed moves."""

    def cell(result: dict | None) -> str:
        return f"{result['mean']:>7.2f} +- {result['se']:.2f}" if result else "-"

    lines = [
        f"{'bot':<14} {'ours':>14} {'ours, by pos.':>14} {'first reading':>14} "
        f"{'original':>14} {'gap/SE':>7} {'jax-aht':>8}  replayed moves allowed"
    ]
    for row in rows:
        original, replay = row.get("original"), row.get("replay")
        gap = "-"
        if original:
            se = (row["by_position"]["se"] ** 2 + original["se"] ** 2) ** 0.5
            gap = f"{(row['by_position']['mean'] - original['mean']) / se:+.1f}"
        aht = "-" if row["jax_aht"] is None else f"{row['jax_aht']:.1f}"
        moves = (
            f"{replay['allowed']} of {replay['moves']} ({replay['games']} games)"
            if replay
            else "-"
        )
        lines.append(
            f"{row['bot']:<14} {cell(row):>14} {cell(row['by_position']):>14} "
            f"{cell(row['v1']):>14} {cell(original):>14} {gap:>7} {aht:>8}  {moves}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
