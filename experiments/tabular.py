"""Exact entropy-regularized policy gradient on a tabular game, many seeds x taus.

    python -m experiments.tabular game=lever seeds=32 taus=[0,0.1,1]
    python -m experiments.tabular game_file=my_game.yaml
    python -m experiments.tabular -m game=lever,climbing,penalty

Writes into the hydra run directory: results.json (docs/results.md), policies.npz,
crossplay.npz (2-player games) and sp_xp_vs_tau.png.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf

import games
from experiments import plots
from experiments.config import (
    CONF_DIR,
    TabularConfig,
    hydra_entry,
    learner_default,
    record_run,
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
from experiments.sections import (
    Sections,
    results_fields,
    split_arrays,
    stored_config,
)
from marl.tabular.analysis import summarize_seeds
from marl.tabular.certify import (
    Certificate,
    CertifiedTrainer,
    make_certified_trainer,
    policies_of,
    train_certified,
)
from marl.tabular.equivariance import PolicySymmetries, policy_symmetries
from marl.tabular.exact_pg import (
    ExactPGConfig,
    PGState,
    Trainer,
    constant_schedules,
    geometric_schedule,
    make_trainer,
)
from marl.tabular.matrix_pg import fastest_trainer
from marl.tabular.phase import Verdict, critical_tau, verdicts
from marl.tabular.sampled_pg import make_sampled_pg
from marl.tabular.symmetry import SymmetryGroup, symmetry_group
from marl.tabular.theory import uniqueness_bound
from marl.trainer import ConfigError

log = logging.getLogger("experiments.tabular")

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


def train_schedule(
    trainer: Trainer,
    keys: jax.Array,
    schedules: jax.Array,
    *,
    window: int,
    label: str,
) -> PGState:
    """Runs `schedules` (float[R, steps], e.g. annealing) for every seed, jitted in
    windows of `window` steps so that progress can be logged between them. Such
    runs have no fixed point to certify (`marl.tabular.certify` is for constant tau)."""
    started = time.time()
    states = trainer.init(keys, schedules.shape[0])
    steps = schedules.shape[1]
    for begin in range(0, steps, window):
        end = min(begin + window, steps)
        states = trainer.run(states, schedules[:, begin:end])
        log.info("%s: step %d/%d (%.0f s)", label, end, steps, time.time() - started)
    return states


def evaluate_runs(
    game: games.TabularGame,
    states: PGState,
    labels: list[dict[str, Any]],
    config: TabularConfig,
    symmetries: tuple[PolicySymmetries, PolicySymmetries],
    certificate: Certificate | None = None,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """One results point per run (leading axis of `states`), labelled by `labels`,
    and the stacked 2-player cross-play matrices. With a `certificate`, conventions
    count certified seeds only and each point says how many there were."""
    policies = policies_of(states.logits)  # per agent [R, N, K_i, A_i]
    grad_norm = np.asarray(states.grad_norm)
    points, matrices = [], {}
    for r, label in enumerate(labels):
        point, mats = summarize_seeds(
            game,
            tuple(pi[r] for pi in policies),
            grad_norm[r],
            certified=None if certificate is None else certificate.certified[r],
            convention_tol=config.convention_tol,
            tie_rtol=config.tie_rtol,
            equivariant_tol=config.equivariant_tol,
            max_assignments=config.max_assignments,
            symmetries=symmetries[0],
            seat_symmetries=symmetries[1],
        )
        certified = ""
        if certificate is not None:
            point["steps"] = int(certificate.steps[r])
            point["max_policy_change"] = float(certificate.policy_change[r].max())
            point["polished"] = int(certificate.polished[r].sum())
            certified = f"  certified {point['certified']}/{config.seeds}"
            if point["certified"] < config.seeds:
                certified += f" (UNCERTIFIED {config.seeds - point['certified']})"
        points.append({**label, **point})
        for name, matrix in mats.items():
            matrices.setdefault(name, []).append(matrix)
        log.info(
            "%s: %s  SP %.4f  XP %.4f (se %s)  tie-aware greedy SP %.4f XP %.4f  "
            "conventions %d%s  "
            "equivariance error %.2g",
            game.name,
            " ".join(f"{k}={v:g}" for k, v in label.items()),
            point["sp"],
            point["xp"],
            "n/a" if point["xp_se"] is None else f"{point['xp_se']:.2g}",
            point["sp_greedy_ties"],
            point["xp_greedy_ties"],
            point["num_conventions"],
            certified,
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
    if results_fields(previous) != results_fields(stored_config(config)):
        raise ConfigError(
            f"{run_dir} holds the results of a different configuration; choose "
            "another hydra.run.dir (or hydra.sweep.dir)"
        )
    return results


class Study(NamedTuple):
    """What every study of one run shares: the game, its symmetries, the seeds."""

    config: TabularConfig
    spec: games.DecPOMDP | games.MatrixGame
    game: games.TabularGame
    group: SymmetryGroup  # the group equivariance is measured against
    symmetries: tuple[PolicySymmetries, PolicySymmetries]  # (group, seat-keeping)
    keys: jax.Array
    bound: float | None  # the uniqueness bound (2-player matrix games)

    @property
    def upper(self) -> float:
        """Where the tau* bracket and annealing start (checked, not assumed)."""
        explicit = self.config.critical_tau.upper
        return explicit or self.bound or 10.0 * self.game.reward_range


def certified_grid(
    study: Study, learner_config: ExactPGConfig, label: str
) -> CertifiedTrainer:
    """The learner's trainers and Newton polish, built once and reused."""
    game, seat_symmetries = study.game, study.symmetries[1]
    return make_certified_trainer(game, learner_config, seat_symmetries, label=label)


def run_grid(
    study: Study, learner: CertifiedTrainer, taus: Any
) -> tuple[PGState, Certificate]:
    """Every seed at every tau, run until certified (`marl.tabular.certify`)."""
    return train_certified(study.game, learner, study.keys, np.asarray(taus))


def grid_study(
    study: Study, learner: CertifiedTrainer
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The tau grid of one learner: its results (points, and tau* when enabled),
    its policies and its cross-play matrices."""
    config = study.config
    states, certificate = run_grid(study, learner, config.taus)
    labels = [{"tau": float(t)} for t in config.taus]
    points, matrices = evaluate_runs(
        study.game, states, labels, config, study.symmetries, certificate
    )
    policies = policies_of(states.logits)  # per agent [T, N, K_i, A_i]
    results: dict[str, Any] = {"points": points}
    if config.critical_tau.enabled:
        grid_verdicts = verdicts(
            study.game,
            np.asarray(config.taus),
            policies,
            certificate,
            config.critical_tau.convention_tol,
        )
        results["critical_tau"] = tau_star_study(study, learner, grid_verdicts)
    arrays = {
        "grad_norm": np.asarray(states.grad_norm),
        "certified": certificate.certified,
        **{f"agent{i}": np.asarray(pi) for i, pi in enumerate(policies)},
    }
    return results, arrays, matrices


def tau_star_study(
    study: Study, learner: CertifiedTrainer, grid_verdicts: list[Verdict]
) -> dict[str, Any]:
    """tau* of one learner (`marl.tabular.phase.critical_tau`), started from its
    grid."""
    game, search, bound = study.game, study.config.critical_tau, study.bound
    upper_source = (
        "critical_tau.upper"
        if search.upper
        else "the uniqueness bound"
        if bound
        else "10 x the reward range"
    )
    log.info(
        "%s: tau* search from (%.4g, %.4g], the upper end from %s (both ends are "
        "checked)",
        learner.label,
        search.lower,
        study.upper,
        upper_source,
    )
    searching = learner._replace(label=f"{learner.label} tau* search")

    def agree_at(taus: np.ndarray) -> list[Verdict]:
        runs, certificate = run_grid(study, searching, taus)
        policies = policies_of(runs.logits)
        return verdicts(game, taus, policies, certificate, search.convention_tol)

    found = critical_tau(
        agree_at,
        lower=search.lower,
        upper=study.upper,
        rtol=search.rtol,
        points_per_round=search.points,
        known=grid_verdicts,
    )
    if found.tau_star is None:
        log.info("%s: tau* not found: %s", learner.label, "; ".join(found.notes))
    else:
        verdict = found.upper_verdict
        assert verdict is not None
        log.info(
            "%s: tau* in (%.4g, %.4g] (%d/%d seeds certified at the upper end, %d "
            "steps); sufficient bound %s",
            learner.label,
            found.lower,
            found.upper,
            verdict.certified,
            verdict.seeds,
            verdict.steps,
            bound,
        )
    return {
        **found.to_json(),
        "upper_start": study.upper,
        "upper_source": upper_source,
        "rtol": search.rtol,
        "tau_star_over_bound": (
            found.tau_star / bound if bound and found.tau_star else None
        ),
    }


def other_play_study(
    study: Study, self_play: dict[str, Any], matrices: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Exact Other-Play learners on the same tau grid (2-player games)."""
    game = study.game
    if study.group.order == 1:
        # J_OP averages J over the symmetry group: with none, it is J itself.
        log.info("%s: no symmetry, so Other-Play is self-play", game.name)
        copied = {f"other_play_{k}": v for k, v in matrices.items()}
        return {"points": self_play["points"], "same_as_self_play": True}, copied
    config = dataclasses.replace(study.config.learner, objective="otherplay")
    states, certificate = run_grid(
        study,
        certified_grid(study, config, f"{game.name} other-play"),
        study.config.taus,
    )
    labels = [{"tau": float(t)} for t in study.config.taus]
    points, op_matrices = evaluate_runs(
        game, states, labels, study.config, study.symmetries, certificate
    )
    renamed = {f"other_play_{k}": v for k, v in op_matrices.items()}
    return {"points": points, "same_as_self_play": False}, renamed


def weighting_study(study: Study) -> dict[str, Any]:
    """The grid (and tau*) with the other entropy weighting: 'uniform' weights
    every information state 1 (the concavity argument's), 'reach' by the
    probability of reaching it (the on-policy bonus). Matrix games have one
    information state per agent, where the two are the same."""
    learner = study.config.learner
    other = "uniform" if learner.entropy_weighting == "reach" else "reach"
    config = dataclasses.replace(learner, entropy_weighting=other)
    grid = certified_grid(study, config, f"{study.game.name} {other} weighting")
    results, _, _ = grid_study(study, grid)
    return {"entropy_weighting": other, **results}


def annealing_study(study: Study) -> list[dict[str, Any]]:
    """Runs whose tau decays geometrically, one per gradient-noise level."""
    game, config = study.game, study.config
    anneal = config.annealing
    tau_start = anneal.tau_start or study.upper
    runs = []
    for noise in anneal.grad_noise:
        anneal_config = dataclasses.replace(
            config.learner,
            steps=anneal.steps,
            max_steps=max(anneal.steps, config.learner.max_steps),
            grad_noise=noise,
            stay_equivariant=noise == 0,
        )
        trainer = fastest_trainer(game, anneal_config, study.symmetries[1])
        schedule = geometric_schedule(tau_start, anneal.tau_end, anneal.steps)[None]
        label = {"tau_start": tau_start, "tau_end": anneal.tau_end, "grad_noise": noise}
        states = train_schedule(
            trainer,
            study.keys,
            schedule,
            window=config.learner.window,
            label=f"{game.name} annealing noise={noise:g}",
        )
        points, _ = evaluate_runs(game, states, [label], config, study.symmetries)
        runs += points
    return runs


def sampled_study(study: Study) -> dict[str, Any]:
    """The sampled learner (`marl.tabular.sampled_pg`) at `sampled_taus`."""
    game, config = study.game, study.config
    taus = config.sampled_taus or config.taus
    trainer = make_trainer(make_sampled_pg(game, config.sampled))
    states = train_schedule(
        trainer,
        study.keys,
        constant_schedules(jnp.asarray(taus), config.sampled.steps),
        window=config.learner.window,
        label=f"{game.name} sampled",
    )
    labels = [{"tau": float(t)} for t in taus]
    points, _ = evaluate_runs(game, states, labels, config, study.symmetries)
    return {"points": points}


def prepare(config: TabularConfig) -> Study:
    """Loads and compiles the game and finds its symmetry group."""
    spec = load_spec(config)
    if spec.num_agents < 2:
        raise ConfigError(
            f"game '{spec.name}' has {spec.num_agents} player; cross-play needs 2 "
            "or more"
        )
    log.info("%s: compiling (engine %s)", spec.name, config.engine)
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
    log.info("%s: finding the symmetry group (nauty)", game.name)
    seat_group = symmetry_group(spec)
    group = (
        symmetry_group(spec, permute_agents=True)
        if config.permute_agents
        else seat_group
    )
    log.info(
        "%s: symmetry group of order %d (%d generators)",
        game.name,
        group.order,
        len(group.generators),
    )
    bound = None
    if isinstance(spec, games.MatrixGame) and spec.num_agents == 2:
        bound = uniqueness_bound(spec.payoff)
    return Study(
        config,
        spec,
        game,
        group,
        (policy_symmetries(game, group), policy_symmetries(game, seat_group)),
        jax.random.split(jax.random.key(config.seed), config.seeds),
        bound,
    )


def results_header(study: Study) -> dict[str, Any]:
    """What results.json says of the game and its symmetries, before the studies."""
    config, game, spec = study.config, study.game, study.spec
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
        "uniqueness_bound": study.bound,
        "entropy_weighting": config.learner.entropy_weighting,
        "symmetry": {
            "order": study.group.order,
            "permute_agents": config.permute_agents,
            "num_generators": len(study.group.generators),
        },
    }


def grid_section(study: Study) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The tau grid as a section: its results, and its arrays and cross-play
    matrices in one dict (`split_arrays` parts them again)."""
    learner = certified_grid(study, study.config.learner, study.game.name)
    self_play, arrays, matrices = grid_study(study, learner)
    return self_play, {
        **{f"arrays/{k}": np.asarray(v) for k, v in arrays.items()},
        **{f"matrices/{k}": np.asarray(v) for k, v in matrices.items()},
    }


def later_studies(study: Study) -> list[tuple[str, Callable[[Study], Any]]]:
    """The studies after the grid and Other-Play that the config asks for, by
    section name."""
    config, game = study.config, study.game
    studies = [
        (
            "other_weighting",
            config.compare_weightings and not game.is_matrix_game,
            weighting_study,
        ),
        ("annealing", config.annealing.enabled, annealing_study),
        ("sampled", config.run_sampled, sampled_study),
    ]
    return [(name, study_fn) for name, wanted, study_fn in studies if wanted]


def run_studies(
    study: Study, sections: Sections
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every study the config asks for, each one a section (reused on resume):
    the results, the grid's arrays and every cross-play matrix."""
    self_play, saved = sections.get("grid", partial(grid_section, study))
    arrays, matrices = split_arrays(saved, "arrays", "matrices")
    results = {**results_header(study), **self_play}
    if study.config.other_play and study.game.num_agents == 2:
        other_play = partial(other_play_study, study, self_play, matrices)
        results["other_play"], op_matrices = sections.get("other_play", other_play)
        matrices.update(op_matrices)
    for name, study_fn in later_studies(study):
        results[name], _ = sections.get(name, lambda fn=study_fn: (fn(study), {}))
    return results, arrays, matrices


def write_run(
    run_dir: pathlib.Path,
    study: Study,
    results: dict[str, Any],
    arrays: dict[str, np.ndarray],
    matrices: dict[str, np.ndarray],
    seconds: float,
) -> dict[str, Any]:
    """Writes the run directory (results.json last, so that it stands for a
    finished run) and returns the results as written."""
    config, game = study.config, study.game
    results = {
        **results,
        "policy_labels": {
            "action_names": [list(a) for a in game.action_names],
            "infostates": [list(labels) for labels in game.infostate_labels],
        },
        "config": OmegaConf.to_container(OmegaConf.structured(config)),
        "metadata": {**run_metadata(), "seconds": round(seconds, 2)},
    }
    taus = np.asarray(config.taus)
    write_npz(run_dir / "policies.npz", {"taus": taus, **arrays})
    if matrices:
        write_npz(run_dir / "crossplay.npz", {"taus": taus, **matrices})
    plots.save_sp_xp_figure(results, run_dir / "sp_xp_vs_tau.png")
    phase_keys = ("other_play", "critical_tau", "annealing", "sampled")
    if any(key in results for key in phase_keys):
        plots.save_phase_figure(results, run_dir / "phase_diagram.png")
    write_json(run_dir / RESULTS_FILE, results)
    return results


def run(config: TabularConfig, run_dir: pathlib.Path) -> dict[str, Any]:
    """Trains, evaluates and writes every output of one run; returns the results."""
    started = time.time()
    finished = finished_results(config, run_dir)  # refuses another config's
    if finished is not None and (config.skip_finished or config.resume):
        record_run(run_dir)  # the resubmission, in the run's log
        log.info("%s: already finished; nothing to do", run_dir / RESULTS_FILE)
        return finished
    sections = Sections(run_dir, config)
    if config.resume and not sections.finished():
        raise ConfigError(
            f"resume=true but {sections.dir} holds no finished section of this "
            "configuration; start it with resume=false"
        )
    study = prepare(config)
    record_run(run_dir)  # after the game's checks: a refused game leaves no trace
    if not config.resume:
        sections.remove()
    with sections.kept_on_interrupt(study.game.name):
        results, arrays, matrices = run_studies(study, sections)
    seconds = time.time() - started
    results = write_run(run_dir, study, results, arrays, matrices, seconds)
    sections.remove()
    log.info("%s: wrote %s", study.game.name, run_dir / RESULTS_FILE)
    return results


register_schemas()
OmegaConf.register_new_resolver("game_label", game_label, replace=True)
OmegaConf.register_new_resolver("learner_default", learner_default, replace=True)


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="tabular")
def hydra_main(cfg: DictConfig) -> None:
    run_or_exit(cfg, TabularConfig, run, USER_ERRORS)


main = hydra_entry(hydra_main)


if __name__ == "__main__":
    main()
