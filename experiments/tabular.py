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
import sys
import time
from typing import Any

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import games
from experiments import plots
from experiments.config import TabularConfig, register_schemas, to_config
from experiments.results import RESULTS_FILE, run_metadata, write_json, write_npz
from marl.analysis import summarize_seeds
from marl.equivariance import policy_symmetries
from marl.exact import softmax_policy
from marl.exact_pg import ConfigError, make_trainer
from marl.symmetry import symmetry_group
from marl.theory import uniqueness_bound

log = logging.getLogger("experiments.tabular")
CONF_DIR = pathlib.Path(__file__).resolve().parent.parent / "conf"

USER_ERRORS = (
    ConfigError,
    games.GameFileError,
    games.GameSpecError,
    games.UnknownGameError,
)


def game_label(game: str, game_file: str | None) -> str:
    """The run's name in directory names: the file's stem, else the catalogue name."""
    return pathlib.Path(game_file).stem if game_file not in (None, "None") else game


def load_spec(config: TabularConfig) -> games.DecPOMDP | games.MatrixGame:
    if config.game_file is not None:
        return games.load_game_file(config.game_file)
    return games.make_spec(config.game)


def run(config: TabularConfig, run_dir: pathlib.Path) -> dict[str, Any]:
    """Trains, evaluates and writes every output of one run; returns the results."""
    started = time.time()
    spec = load_spec(config)
    game = games.compile_game(spec)
    log.info(
        "%s: %d agents, %s information states, %d histories; %d seeds x %d taus",
        game.name,
        game.num_agents,
        list(game.num_infostates),
        game.num_histories,
        config.seeds,
        len(config.taus),
    )

    group = symmetry_group(spec, permute_agents=config.permute_agents)
    symmetries = policy_symmetries(game, group)
    log.info(
        "%s: symmetry group of order %d (%d generators)",
        game.name,
        group.order,
        len(group.generators),
    )
    trainer = make_trainer(game, config.learner)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    taus = jnp.asarray(config.taus, dtype=jnp.float32)
    states = trainer.init(keys, taus)
    chunk_sizes = np.diff(
        np.linspace(0, config.learner.steps, config.progress_chunks + 1)
        .round()
        .astype(int)
    )
    done = 0
    for size in chunk_sizes:
        states = trainer.run(states, taus, int(size))
        done += int(size)
        converged = float(
            np.mean(np.asarray(states.grad_norm) < config.learner.grad_tol)
        )
        log.info(
            "%s: step %d/%d (%.0f s), converged %.0f%% of seeds x taus",
            game.name,
            done,
            config.learner.steps,
            time.time() - started,
            100 * converged,
        )

    policies = softmax_policy(states.logits)  # per agent [T, N, K_i, A_i]
    grad_norm = np.asarray(states.grad_norm)
    points = []
    matrices: dict[str, list[np.ndarray]] = {}
    for t, tau in enumerate(config.taus):
        point, mats = summarize_seeds(
            game,
            tuple(pi[t] for pi in policies),
            grad_norm[t],
            grad_tol=config.learner.grad_tol,
            convention_tol=config.convention_tol,
            tie_tol=config.tie_tol,
            max_assignments=config.max_assignments,
            symmetries=symmetries,
        )
        points.append({"tau": float(tau), **point})
        for name, matrix in mats.items():
            matrices.setdefault(name, []).append(matrix)
        log.info(
            "%s: tau=%-8g SP %.4f  XP %.4f±%.4f  greedy SP %.4f XP %.4f  "
            "conventions %d  equivariance error %.2g  converged %.0f%%",
            game.name,
            tau,
            point["sp"],
            point["xp"],
            point["xp_se"],
            point["sp_greedy_ties"],
            point["xp_greedy_ties"],
            point["num_conventions"],
            point["equivariance_error"],
            100 * point["converged_fraction"],
        )

    bound = None
    if isinstance(spec, games.MatrixGame) and spec.num_agents == 2:
        bound = uniqueness_bound(spec.payoff)
    results = {
        "game": game.name,
        "game_file": config.game_file,
        "description": spec.description,
        "num_agents": game.num_agents,
        "num_seeds": config.seeds,
        "uniqueness_bound": bound,
        "symmetry": {
            "order": group.order,
            "permute_agents": config.permute_agents,
            "num_generators": len(group.generators),
        },
        "points": points,
        "policy_labels": {
            "action_names": [list(a) for a in game.action_names],
            "infostates": [list(labels) for labels in game.infostate_labels],
        },
        "config": OmegaConf.to_container(OmegaConf.structured(config)),
        "metadata": {**run_metadata(), "seconds": round(time.time() - started, 2)},
    }
    write_npz(
        run_dir / "policies.npz",
        {
            "taus": np.asarray(config.taus),
            "grad_norm": grad_norm,
            **{f"agent{i}": np.asarray(pi) for i, pi in enumerate(policies)},
        },
    )
    if matrices:
        write_npz(
            run_dir / "crossplay.npz",
            {
                "taus": np.asarray(config.taus),
                **{name: np.stack(m) for name, m in matrices.items()},
            },
        )
    plots.save_sp_xp_figure(results, run_dir / "sp_xp_vs_tau.png")
    write_json(run_dir / RESULTS_FILE, results)
    log.info("%s: wrote %s", game.name, run_dir / RESULTS_FILE)
    return results


register_schemas()
OmegaConf.register_new_resolver("game_label", game_label, replace=True)


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="tabular")
def main(cfg: DictConfig) -> None:
    try:
        config = to_config(cfg, TabularConfig)
        run(config, pathlib.Path(HydraConfig.get().runtime.output_dir))
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
