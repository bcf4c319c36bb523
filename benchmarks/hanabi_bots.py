"""The rule-based Hanabi partners' self-play beside published figures.

    python -m benchmarks.hanabi_bots                  # 2,000 games per bot, full Hanabi
    python -m benchmarks.hanabi_bots --games 500 --players 3 --out bots.json

Plays each bot of `games.envs.hanabi.bots` with copies of itself under HLE's
rules (a game lost on its last life scores 0) and prints the mean score with
its standard error beside the self-play reported for the same rule lists by
LARG's jax-aht (HANABI.md, "Rule-based", full 2-player Hanabi, JaxMARL's game;
read at commit ebcf28d). Both are implementations of Walton-Rivers et al.
(2017)'s rules; where the rules leave a choice open they differ (docs/ippo.md,
"Rule-based partners").
"""

from __future__ import annotations

import argparse
import json
import pathlib

from benchmarks.common import machine_lines

JAX_AHT = {"iggi": 11.7, "piers": 11.6, "outer": 0.0, "van_den_bergh": 9.3}
"""Self-play on full 2-player Hanabi reported by LARG/jax-aht (HANABI.md)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--players", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, help="also write the rows here")
    args = parser.parse_args(argv)
    for line in machine_lines():
        print(line)
    import jax
    import numpy as np

    from games.envs.hanabi.bots import BOTS, self_play
    from games.envs.hanabi.params import make_params

    params = make_params("Hanabi-Full", args.players)
    print(f"Hanabi-Full, {args.players} players, {args.games} games per bot")
    print(f"{'bot':<15} {'ours':>16} {'jax-aht':>8}  {'perfect':>8} {'zero':>6}")
    rows = []
    for k, name in enumerate(BOTS):
        key = jax.random.fold_in(jax.random.key(args.seed), k)
        scores = self_play([name] * args.players, params, key=key, num_games=args.games)
        mean, se = (
            float(scores.mean()),
            float(scores.std(ddof=1) / np.sqrt(scores.size)),
        )
        theirs = JAX_AHT[name] if args.players == 2 else None
        rows.append(
            {
                "bot": name,
                "players": args.players,
                "games": args.games,
                "mean": round(mean, 4),
                "se": round(se, 4),
                "perfect": float(np.mean(scores == params.max_score)),
                "zero": float(np.mean(scores == 0)),
                "jax_aht": theirs,
            }
        )
        print(
            f"{name:<15} {mean:>9.2f} +- {se:.2f} "
            f"{'-' if theirs is None else f'{theirs:.1f}':>8}  "
            f"{rows[-1]['perfect']:>8.1%} {rows[-1]['zero']:>6.1%}",
            flush=True,
        )
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
