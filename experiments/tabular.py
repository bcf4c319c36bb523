"""Exact entropy-regularized policy gradient on a tabular game, many seeds x taus.

    python -m experiments.tabular game=lever seeds=32 taus=[0,0.1,1]
    python -m experiments.tabular game_file=my_game.yaml
    python -m experiments.tabular -m game=lever,climbing,penalty

Writes into the hydra run directory: results.json (docs/results.md), policies.npz,
crossplay.npz (2-player games) and sp_xp_vs_tau.png.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import pathlib
import time
from typing import Any

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf

import games
from experiments import plots
from experiments.config import (
    TabularConfig,
    learner_default,
    register_schemas,
    run_or_exit,
)
from experiments.results import (
    RESULTS_FILE,
    read_results,
    run_metadata,
    write_json,
    write_npz,
)
from marl.analysis import summarize_seeds
from marl.equivariance import PolicySymmetries, policy_symmetries
from marl.exact import softmax_policy
from marl.exact_pg import (
    ConfigError,
    ExactPGConfig,
    PGState,
    Trainer,
    constant_schedules,
    geometric_schedule,
    make_trainer,
)
from marl.matrix_pg import fastest_trainer
from marl.phase import critical_tau, policies_agree
from marl.sampled_pg import make_sampled_pg
from marl.symmetry import symmetry_group
from marl.theory import uniqueness_bound

log = logging.getLogger("experiments.tabular")
policies_of = jax.jit(softmax_policy)
"""Softmax of a batch of logits, one compiled program per shape."""
CONF_DIR = pathlib.Path(__file__).resolve().parent.parent / "conf"

MAX_FLOATS = 500_000_000
"""Largest occupancy (floats, one evaluation) a run compiles: 2 GiB in float32."""
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


def load_spec(config: TabularConfig) -> games.DecPOMDP | games.MatrixGame:
    if config.game_file is not None:
        return games.load_any_file(config.game_file, config.horizon)
    return games.make_spec(config.game, config.horizon)


def train_with_progress(
    trainer: Trainer,
    keys: jax.Array,
    schedules: jax.Array,
    *,
    chunks: int,
    label: str,
    grad_tol: float,
) -> PGState:
    """Runs `schedules` (float[R, steps]) for every seed, jitted in `chunks` pieces
    so that progress can be logged between them."""
    started = time.time()
    states = trainer.init(keys, schedules.shape[0])
    steps = schedules.shape[1]
    bounds = np.linspace(0, steps, min(chunks, steps) + 1).round().astype(int)
    for begin, end in itertools.pairwise(bounds):
        states = trainer.run(states, schedules[:, begin:end])
        converged = float(np.mean(np.asarray(states.grad_norm) < grad_tol))
        log.info(
            "%s: step %d/%d (%.0f s), gradient below tolerance for %.0f%%",
            label,
            end,
            steps,
            time.time() - started,
            100 * converged,
        )
    return states


def evaluate_runs(
    game: games.TabularGame,
    states: PGState,
    labels: list[dict[str, Any]],
    config: TabularConfig,
    symmetries: tuple[PolicySymmetries, PolicySymmetries],
    grad_tol: float,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """One results point per run (leading axis of `states`), labelled by `labels`,
    and the stacked 2-player cross-play matrices."""
    policies = policies_of(states.logits)  # per agent [R, N, K_i, A_i]
    grad_norm = np.asarray(states.grad_norm)
    points, matrices = [], {}
    for r, label in enumerate(labels):
        point, mats = summarize_seeds(
            game,
            tuple(pi[r] for pi in policies),
            grad_norm[r],
            grad_tol=grad_tol,
            convention_tol=config.convention_tol,
            tie_tol=config.tie_tol,
            max_assignments=config.max_assignments,
            symmetries=symmetries[0],
            seat_symmetries=symmetries[1],
        )
        points.append({**label, **point})
        for name, matrix in mats.items():
            matrices.setdefault(name, []).append(matrix)
        log.info(
            "%s: %s  SP %.4f  XP %.4f±%.4f  greedy SP %.4f XP %.4f  conventions %d  "
            "equivariance error %.2g",
            game.name,
            " ".join(f"{k}={v:g}" for k, v in label.items()),
            point["sp"],
            point["xp"],
            point["xp_se"],
            point["sp_greedy_ties"],
            point["xp_greedy_ties"],
            point["num_conventions"],
            point["equivariance_error"],
        )
    return points, {name: np.stack(m) for name, m in matrices.items()}


def finished_results(
    config: TabularConfig, run_dir: pathlib.Path
) -> dict[str, Any] | None:
    """The results.json that `run_dir` already holds for this configuration, or
    None when it holds none or an unreadable one (the run is redone); results of
    another configuration are refused."""
    path = run_dir / RESULTS_FILE
    try:
        results = read_results(path)
        previous = dict(results["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # Through JSON, as results.json stored it.
    current = json.loads(
        json.dumps(OmegaConf.to_container(OmegaConf.structured(config)))
    )
    for fields in (previous, current):
        fields.pop("skip_finished", None)
    if previous != current:
        raise ConfigError(
            f"{run_dir} holds the results of a different configuration; choose "
            "another hydra.run.dir (or hydra.sweep.dir)"
        )
    return results


def run(config: TabularConfig, run_dir: pathlib.Path) -> dict[str, Any]:
    """Trains, evaluates and writes every output of one run; returns the results."""
    started = time.time()
    if config.skip_finished:
        finished = finished_results(config, run_dir)
        if finished is not None:
            log.info("%s: already finished; nothing to do", run_dir / RESULTS_FILE)
            return finished
    spec = load_spec(config)
    game = games.compile_game(spec, engine=config.engine, max_floats=MAX_FLOATS)
    horizon = 1 if isinstance(spec, games.MatrixGame) else spec.horizon
    log.info(
        "%s: horizon %d, %d agents, %s information states, %s engine; "
        "%d seeds x %d taus",
        game.name,
        horizon,
        game.num_agents,
        list(game.num_infostates),
        game.engine,
        config.seeds,
        len(config.taus),
    )
    if config.run_sampled and not game.has_histories:
        raise games.CompileError(
            f"run_sampled: the sampled learner draws whole histories, and game "
            f"'{game.name}' at horizon {horizon} has too many to enumerate"
        )
    seat_group = symmetry_group(spec)
    group = (
        symmetry_group(spec, permute_agents=True)
        if config.permute_agents
        else (seat_group)
    )
    seat_symmetries = policy_symmetries(game, seat_group)
    symmetries = (policy_symmetries(game, group), seat_symmetries)
    log.info(
        "%s: symmetry group of order %d (%d generators)",
        game.name,
        group.order,
        len(group.generators),
    )
    bound = None
    if isinstance(spec, games.MatrixGame) and spec.num_agents == 2:
        bound = uniqueness_bound(spec.payoff)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    progress = dict(chunks=config.progress_chunks, grad_tol=config.learner.grad_tol)
    tau_labels = [{"tau": float(t)} for t in config.taus]

    def grid(
        learner_config: ExactPGConfig,
        label: str,
        taus: Any = config.taus,
        trainer: Trainer | None = None,
    ) -> PGState:
        trainer = trainer or fastest_trainer(game, learner_config, seat_symmetries)
        schedules = constant_schedules(jnp.asarray(taus), learner_config.steps)
        return train_with_progress(trainer, keys, schedules, label=label, **progress)

    grid_trainer = fastest_trainer(game, config.learner, seat_symmetries)
    states = grid(config.learner, game.name, trainer=grid_trainer)
    points, matrices = evaluate_runs(
        game, states, tau_labels, config, symmetries, config.learner.grad_tol
    )
    grid_policies = policies_of(states.logits)  # per agent [T, N, K_i, A_i]
    results: dict[str, Any] = {
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
        "uniqueness_bound": bound,
        "symmetry": {
            "order": group.order,
            "permute_agents": config.permute_agents,
            "num_generators": len(group.generators),
        },
        "points": points,
    }
    arrays = {
        "taus": np.asarray(config.taus),
        "grad_norm": np.asarray(states.grad_norm),
        **{f"agent{i}": np.asarray(pi) for i, pi in enumerate(grid_policies)},
    }

    if config.other_play and game.num_agents == 2 and group.order == 1:
        # J_OP averages J over the symmetry group: with none, it is J itself.
        log.info("%s: no symmetry, so Other-Play is self-play", game.name)
        results["other_play"] = {"points": points, "same_as_self_play": True}
        matrices.update({f"other_play_{k}": v for k, v in list(matrices.items())})
    elif config.other_play and game.num_agents == 2:
        op_config = dataclasses.replace(config.learner, objective="otherplay")
        op_states = grid(op_config, f"{game.name} other-play")
        op_points, op_matrices = evaluate_runs(
            game, op_states, tau_labels, config, symmetries, config.learner.grad_tol
        )
        results["other_play"] = {"points": op_points, "same_as_self_play": False}
        matrices.update({f"other_play_{k}": v for k, v in op_matrices.items()})

    upper = config.critical_tau.upper or bound or 10.0 * game.reward_range
    if config.critical_tau.enabled:
        search = config.critical_tau

        def agree_at(taus: np.ndarray) -> np.ndarray:
            # The grid's trainer, in the grid's chunks, with progress logged.
            runs = grid(config.learner, f"{game.name} tau* search", taus, grid_trainer)
            return policies_agree(game, policies_of(runs.logits), search.convention_tol)

        found = critical_tau(
            game,
            config.learner,
            keys=keys,
            lower=search.lower,
            upper=upper,
            rtol=search.rtol,
            convention_tol=search.convention_tol,
            points_per_round=search.points,
            known=(
                np.asarray(config.taus),
                policies_agree(game, grid_policies, search.convention_tol),
            ),
            agree_at=agree_at,
        )
        results["critical_tau"] = {
            "tau_star": found.upper,
            **found._asdict(),
            "rtol": config.critical_tau.rtol,
        }
        log.info(
            "%s: tau* in (%.4g, %.4g]; sufficient bound %s",
            game.name,
            found.lower,
            found.upper,
            bound,
        )

    if config.annealing.enabled:
        anneal = config.annealing
        tau_start = anneal.tau_start or upper
        runs = []
        for noise in anneal.grad_noise:
            anneal_config = dataclasses.replace(
                config.learner,
                steps=anneal.steps,
                grad_noise=noise,
                stay_equivariant=noise == 0,
            )
            trainer = fastest_trainer(game, anneal_config, seat_symmetries)
            schedule = geometric_schedule(tau_start, anneal.tau_end, anneal.steps)[None]
            label = {
                "tau_start": tau_start,
                "tau_end": anneal.tau_end,
                "grad_noise": noise,
            }
            anneal_states = train_with_progress(
                trainer,
                keys,
                schedule,
                label=f"{game.name} annealing noise={noise:g}",
                **progress,
            )
            anneal_points, _ = evaluate_runs(
                game, anneal_states, [label], config, symmetries, np.inf
            )
            runs += anneal_points
        results["annealing"] = runs

    if config.run_sampled:
        sampled_taus = config.sampled_taus or config.taus
        trainer = make_trainer(make_sampled_pg(game, config.sampled))
        schedules = constant_schedules(jnp.asarray(sampled_taus), config.sampled.steps)
        sampled_states = train_with_progress(
            trainer, keys, schedules, label=f"{game.name} sampled", **progress
        )
        sampled_points, _ = evaluate_runs(
            game,
            sampled_states,
            [{"tau": float(t)} for t in sampled_taus],
            config,
            symmetries,
            np.inf,
        )
        results["sampled"] = {"points": sampled_points}

    results.update(
        {
            "policy_labels": {
                "action_names": [list(a) for a in game.action_names],
                "infostates": [list(labels) for labels in game.infostate_labels],
            },
            "config": OmegaConf.to_container(OmegaConf.structured(config)),
            "metadata": {**run_metadata(), "seconds": round(time.time() - started, 2)},
        }
    )
    write_npz(run_dir / "policies.npz", arrays)
    if matrices:
        write_npz(
            run_dir / "crossplay.npz", {"taus": np.asarray(config.taus), **matrices}
        )
    plots.save_sp_xp_figure(results, run_dir / "sp_xp_vs_tau.png")
    if any(
        key in results for key in ("other_play", "critical_tau", "annealing", "sampled")
    ):
        plots.save_phase_figure(results, run_dir / "phase_diagram.png")
    write_json(run_dir / RESULTS_FILE, results)
    log.info("%s: wrote %s", game.name, run_dir / RESULTS_FILE)
    return results


register_schemas()
OmegaConf.register_new_resolver("game_label", game_label, replace=True)
OmegaConf.register_new_resolver("learner_default", learner_default, replace=True)


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="tabular")
def main(cfg: DictConfig) -> None:
    run_or_exit(cfg, TabularConfig, run, USER_ERRORS)


if __name__ == "__main__":
    main()
