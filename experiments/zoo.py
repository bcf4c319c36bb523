"""Keeps trained agents with the code: a run's agents as a zoo
(`experiments.deep.zoo`), their network parameters in float16 beside the run's
config.yaml, which cross-play, replays and `experiments.deep.players.load` read
as they read the run.

    python -m experiments.zoo ~/.cache/prereg_3c3r/root_0 zoo/hanabi_3c3r
    python -m experiments.zoo <run_dir> <zoo_dir> --step 1200

At the run's latest checkpoint common to every seed, or at update `--step` (a
milestone). Refuses to write over an existing zoo unless `--force`; prints the
size written.
"""

from __future__ import annotations

import pathlib
import sys

from experiments.deep import zoo
from experiments.deep.agents import CrossPlayError, find_runs, load_run
from experiments.deep.ippo_runs import read_run_config
from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from experiments.harness.results import git_revision
from marl.files import OutputDirError, check_writable


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.zoo", __doc__)
    parser.add_argument("run", type=pathlib.Path, help="an IPPO run directory")
    parser.add_argument("out", type=pathlib.Path, help="the zoo directory to write")
    parser.add_argument("--step", type=int, help="the update to keep (a milestone)")
    parser.add_argument("--force", action="store_true", help="replace a zoo in out")
    args = parser.parse_args(argv)
    try:
        if not args.run.is_dir() or args.run not in find_runs([str(args.run)]):
            raise CrossPlayError(f"{args.run} is not an IPPO run directory")
        if zoo.is_zoo(args.run):
            raise CrossPlayError(f"{args.run} is a zoo already")
        if zoo.is_zoo(args.out) and not args.force:
            raise CrossPlayError(f"{args.out} holds a zoo; --force replaces it")
        check_writable(args.out.parent if not args.out.exists() else args.out)
        config = read_run_config(args.run)
        params, step = load_run(args.run, config, args.step)
        source = {
            "run": args.run.resolve().name,
            "step": step,
            "commit": git_revision(),
        }
        size = zoo.write_zoo(args.out, config, params, step, source)
    except (CrossPlayError, zoo.ZooError, OutputDirError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    agents = len(config.ent_coefs) * config.seeds
    print(
        f"wrote {args.out}: {agents} agents (ent_coefs "
        f"{', '.join(f'{c:g}' for c in config.ent_coefs)} x {config.seeds} seeds) "
        f"at update {step}, {size / 1e6:.2f} MB"
    )
    return 0


cli = main.cli
"""The program: `python -m experiments.zoo`, the console script."""

if __name__ == "__main__":
    cli()
