"""Lockstep check of the JAX Hanabi against hanabi-learning-environment (HLE).

    python -m experiments.hanabi_verify --players 2 --preset Hanabi-Full --games 500
    python -m experiments.hanabi_verify --players 2 3 4 5 --preset Hanabi-Full \\
        Hanabi-Small Hanabi-Very-Small --games 200

    python -m experiments.hanabi_verify --players 2 3 --preset Hanabi-Small \\
        --colors 3 --ranks 3 --hand-size 3 --hints 5 --lives 3 --games 200

plays `--games` random HLE games for every preset x player count (with any of the
sizes --colors, --ranks, --hand-size, --hints, --lives set over the preset's, as
`env.colors=...` does for training), replays them in
the JAX game and compares every state (`games.envs.hanabi.verify.verify`, which says
what is compared). Prints one summary line per preset and player count and the
first mismatches; the exit status is 0 when nothing differs, 1 on any mismatch and
2 on impossible arguments (one line on stderr). Needs
`hanabi_learning_environment`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from games.envs.hanabi.params import PRESETS, SIZES
from games.envs.hanabi.verify import verify


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = ArgumentParser(
        "experiments.hanabi_verify",
        "Replays random HLE games in the JAX Hanabi, state by state.",
    )
    parser.add_argument("--players", type=int, nargs="+", default=[2])
    parser.add_argument(
        "--preset", nargs="+", default=["Hanabi-Full"], choices=sorted(PRESETS)
    )
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None)
    for size in SIZES:
        parser.add_argument(
            f"--{size.replace('_', '-')}",
            type=int,
            default=None,
            help=f"the game's {size} over the preset's (as env.{size})",
        )
    args = parser.parse_args(argv)
    sizes = {size: getattr(args, size) for size in SIZES}
    parser.require_at_least(args, games=1, batch_size=1)
    failed = False
    for preset in args.preset:
        for players in args.players:
            try:
                report = verify(
                    preset, players, args.games, args.seed, args.batch_size, **sizes
                )
            except ValueError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            print(report.summary())
            for example in report.examples:
                print(f"  mismatch: {example}")
            failed |= not report.ok
    return 1 if failed else 0


cli = main.cli
"""The program: `python -m experiments.hanabi_verify`, the console script."""

if __name__ == "__main__":
    cli()
