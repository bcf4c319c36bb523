"""Exact entropy-regularized policy gradient on a tabular game, many seeds x taus.

    python -m experiments.tabular game=lever seeds=32 taus=[0,0.1,1]
    python -m experiments.tabular game_file=my_game.yaml
    python -m experiments.tabular -m game=lever,climbing,penalty

Writes into the hydra run directory: results.json (docs/results.md), policies.npz,
crossplay.npz (2-player games) and sp_xp_vs_tau.png.
"""

from __future__ import annotations

import logging
import pathlib
import time
from functools import partial
from typing import Any

import numpy as np
from omegaconf import OmegaConf

import games
from experiments.exact.studies import (
    STUDIES,
    Context,
    Grid,
    converged_grid,
    grid_study,
    later_studies,
    prepare,
)
from experiments.exact.tabular_config import (
    LEARNER_DEFAULTS,
    TabularConfig,
    learner_default,
    register_schemas,
)
from experiments.exact.tabular_directory import TabularDirectory, split_arrays
from experiments.harness.compose import override_key
from experiments.harness.entry import hydra_entry_point
from experiments.harness.help import hydra_help
from experiments.harness.results import RESULTS_FILE, run_metadata
from experiments.harness.rundir import Job
from experiments.reports import phase_plots, plots
from marl.fields import ConfigError
from marl.tabular.converging import ConvergingTrainer

log = logging.getLogger("experiments.tabular")

USER_ERRORS = (
    ConfigError,
    games.GameFileError,
    games.GameSpecError,
    games.UnknownGameError,
    games.CompileError,
)


def game_label(game: str, game_file: str | None) -> str:
    """The run's name in directory names: the file's stem, else the catalogue name."""
    if game_file in (None, "None"):
        return game
    name = pathlib.Path(str(game_file)).name
    for suffix in (".gz", ".dpomdp", ".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name


def results_header(ctx: Context) -> dict[str, Any]:
    """What results.json says of the game and its symmetries, before the studies."""
    config, game, spec = ctx.config, ctx.game, ctx.spec
    horizon = 1 if isinstance(spec, games.MatrixGame) else spec.horizon
    return {
        "game": game.name,
        "game_file": config.game_file,
        "description": spec.description,
        "num_agents": game.num_agents,
        "num_seeds": config.seeds,
        "horizon": horizon,
        "optimum": (
            games.optimum(config.game, horizon) if config.game_file is None else None
        ),
        "engine": game.engine,
        "uniqueness_bound": ctx.bound,
        "entropy_weighting": config.learner.entropy_weighting,
        "symmetry": {
            "order": ctx.group.order,
            "order_with_agent_swaps": ctx.order_with_agent_swaps,
            "permute_agents": config.permute_agents,
            "num_generators": len(ctx.group.generators),
        },
    }


def grid_section(
    ctx: Context, trainers: list[ConvergingTrainer]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The tau grid as a section: its results, and its arrays and cross-play
    matrices in one dict (`split_arrays` parts them again); its converging
    trainer is appended to `trainers` for the studies after it."""
    converging = converged_grid(ctx, ctx.config.learner, ctx.game.name)
    trainers.append(converging)
    self_play, arrays, matrices = grid_study(ctx, converging)
    return self_play, {
        **{f"arrays/{k}": np.asarray(v) for k, v in arrays.items()},
        **{f"matrices/{k}": np.asarray(v) for k, v in matrices.items()},
    }


def run_studies(
    ctx: Context, directory: TabularDirectory
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every study the config asks for, each one a section (reused on resume):
    the results, the grid's arrays and every cross-play matrix."""
    trainers: list[ConvergingTrainer] = []  # the grid's, unless read from disk
    self_play, saved = directory.section("grid", partial(grid_section, ctx, trainers))
    arrays, matrices = split_arrays(saved, "arrays", "matrices")
    grid = Grid(self_play, dict(arrays), dict(matrices), next(iter(trainers), None))
    results = {**results_header(ctx), **self_play}
    for name, study_fn in later_studies(ctx):
        results[name], more = directory.section(name, partial(study_fn, ctx, grid))
        matrices.update(more)
    return results, arrays, matrices


def completed(ctx: Context, results: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The studies' results with what results.json adds: the policies' labels,
    the config and the run's metadata."""
    game = ctx.game
    return {
        **results,
        "policy_labels": {
            "action_names": [list(a) for a in game.action_names],
            "infostates": [list(labels) for labels in game.infostate_labels],
        },
        "config": OmegaConf.to_container(OmegaConf.structured(ctx.config)),
        "metadata": {**run_metadata(), "seconds": round(seconds, 2)},
    }


def figures(results: dict[str, Any], run_dir: pathlib.Path) -> None:
    """sp_xp_vs_tau.png, and phase_diagram.png when a study drew a phase."""
    plots.save_sp_xp_figure(results, run_dir / "sp_xp_vs_tau.png")
    phase_keys = ("other_play", "critical_tau", "annealing", "sampled")
    if any(key in results for key in phase_keys):
        phase_plots.save_phase_figure(results, run_dir / "phase_diagram.png")


def one_game_named(config: TabularConfig) -> None:
    """Refuses `game=` given on the command line beside `game_file=` (the file
    would win, and the named game be ignored without a word)."""
    from hydra.core.hydra_config import HydraConfig

    if config.game_file is None or not HydraConfig.initialized():
        return
    for override in HydraConfig.get().overrides.task:
        if override_key(override) == "game":
            raise ConfigError(
                f"{override} and game_file={config.game_file} both name the game; "
                "give one of them"
            )


def run(config: TabularConfig, where: pathlib.Path | Job) -> dict[str, Any]:
    """Trains, evaluates and writes every output of one run in `where` (a run
    directory, or a hydra job's); returns the results."""
    started = time.time()
    one_game_named(config)
    directory = TabularDirectory(where, config)
    run_dir = directory.path
    finished = directory.finished()  # refuses another config's
    if finished is not None and (config.skip_finished or config.resume):
        directory.accept(fresh=False)  # the resubmission, in the run's log
        log.info("%s: already finished; nothing to do", run_dir / RESULTS_FILE)
        return finished
    directory.check_resume()
    ctx = prepare(config)
    directory.accept()  # after the game's checks: a refused game leaves no trace
    with directory.kept_on_interrupt():
        results, arrays, matrices = run_studies(ctx, directory)
    results = completed(ctx, results, time.time() - started)
    directory.write(results, arrays, matrices, figures)
    log.info("%s: wrote %s", ctx.game.name, run_dir / RESULTS_FILE)
    return results


register_schemas()
OmegaConf.register_new_resolver("game_label", game_label, replace=True)
OmegaConf.register_new_resolver("learner_default", learner_default, replace=True)


def help_text() -> str:
    """`python -m experiments.tabular --help`."""
    learner = ", ".join(
        f"{kind} ({', '.join(f'{k}={v}' for k, v in values.items())})"
        for kind, values in LEARNER_DEFAULTS.items()
    )
    by_game = "the game's default (see 'Learner defaults')"
    return hydra_help(
        "experiments.tabular",
        __doc__,
        "[--config-name tabular|phase|benchmark_phase] [key=value ...] [-m]",
        [
            ("Games (game=...)", ", ".join(games.CATALOGUE)),
            (
                "Dec-POMDP benchmarks (game=..., with horizon=...)",
                ", ".join(games.BENCHMARKS),
            ),
            (
                "Game files (game_file=...)",
                "a YAML matrix game or Dec-POMDP, or a MADP .dpomdp / .dpomdp.gz file "
                "(docs/game_files.md; examples/ has one of each)",
            ),
            (
                "Config files (--config-name)",
                "tabular (the default: one tau grid), phase (the phase diagram: "
                "every ctx), benchmark_phase (the phase diagram sized for the "
                "Dec-POMDP benchmarks at horizon 3); -m sweeps comma-separated "
                "values (docs/tabular.md)",
            ),
            (
                "Studies (studies=[...])",
                f"{', '.join(STUDIES)} (experiments/exact/studies.py)",
            ),
            (
                "Learner defaults",
                f"by kind of game: {learner}; the benchmarks and .dpomdp files "
                "take the second",
            ),
        ],
        TabularConfig,
        {f"learner.{field}": by_game for field in LEARNER_DEFAULTS["game"]},
    )


main = hydra_entry_point("tabular", TabularConfig, run, USER_ERRORS, help_text)
cli = main.cli
"""The program: `python -m experiments.tabular`, the console script."""


if __name__ == "__main__":
    cli()
