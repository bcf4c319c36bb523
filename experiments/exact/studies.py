"""The studies of a tabular run (`python -m experiments.tabular`), apart from
its entry point: `prepare` loads and compiles the game and finds its symmetry
group (a `Context`), then each study trains and evaluates on it: the tau grid
(`grid_study`), and the optional studies a run names in `studies`, from the
registry `STUDIES` in the order they run: tau* (with every grid), exact
Other-Play, the other entropy weighting, annealing, the equivariant ascent and
the sampled learner. Each optional study is a function of the `Context` and the
grid's `Grid` that returns its results (a section of results.json,
docs/results.md) and its cross-play matrices (`StudyResult`): a new study is
one function and one line of `STUDIES`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from experiments.exact.points import evaluate_runs
from experiments.exact.proofs import (
    agreement_test,
    critical_tau_json,
    proven_ends,
    uniqueness,
)
from experiments.exact.tabular_config import TabularConfig
from experiments.exact.training import convergence_progress, train_schedule
from marl.fields import ConfigError
from marl.tabular.convergence import Convergence, policies_of
from marl.tabular.converging import (
    ConvergingTrainer,
    make_converging_trainer,
    train_until_converged,
)
from marl.tabular.equivariance import PolicySymmetries, policy_symmetries
from marl.tabular.exact_pg import ExactPGConfig, PGState, geometric_schedule
from marl.tabular.intervals import bracket_text
from marl.tabular.matrix_pg import fastest_trainer
from marl.tabular.phase import (
    TOLERANCE_FACTOR,
    Consensus,
    CriticalTau,
    settled_critical_tau,
    verdicts,
)
from marl.tabular.sampled_pg import make_sampled_pg
from marl.tabular.symmetry import SymmetryGroup, symmetry_group
from marl.tabular.theory import uniqueness_bound
from marl.trainer import constant_schedules, make_trainer

log = logging.getLogger("experiments.tabular")  # the entry point's log

MAX_FLOATS = 500_000_000
"""Largest occupancy (floats, one evaluation) a run compiles: 2 GiB in float32."""


def load_spec(config: TabularConfig) -> games.DecPOMDP | games.MatrixGame:
    if config.game_file is not None:
        return games.load_any_file(config.game_file, config.horizon)
    return games.make_spec(config.game, config.horizon)


class Context(NamedTuple):
    """What every study of one run shares: the game, its symmetries, the seeds."""

    config: TabularConfig
    spec: games.DecPOMDP | games.MatrixGame
    game: games.TabularGame
    group: SymmetryGroup  # the group equivariance is measured against
    symmetries: tuple[PolicySymmetries, PolicySymmetries]  # (group, seat-keeping)
    keys: jax.Array
    bound: float | None  # the uniqueness bound (2-player matrix games)
    order_with_agent_swaps: int  # the group's order when agents may be swapped

    @property
    def upper(self) -> float:
        """Where the tau* bracket and annealing start (checked, not assumed)."""
        explicit = self.config.critical_tau.upper
        return explicit or self.bound or 10.0 * self.game.reward_range


def converged_grid(
    ctx: Context, learner_config: ExactPGConfig, label: str
) -> ConvergingTrainer:
    """The learner's trainers and Newton polish, built once and reused."""
    game, seat_symmetries = ctx.game, ctx.symmetries[1]
    return make_converging_trainer(game, learner_config, seat_symmetries, label=label)


def run_grid(
    ctx: Context, converging: ConvergingTrainer, taus: Any
) -> tuple[PGState, Convergence]:
    """Every seed at every tau, run until converged (`marl.tabular.convergence`)."""
    return train_until_converged(
        ctx.game, converging, ctx.keys, np.asarray(taus), convergence_progress(log)
    )


def grid_study(
    ctx: Context, converging: ConvergingTrainer
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The tau grid of one converging trainer: its results (points), its arrays
    (policies, convergence checks, steps) and its cross-play matrices."""
    config = ctx.config
    states, convergence = run_grid(ctx, converging, config.taus)
    labels = [{"tau": float(t)} for t in config.taus]
    points, matrices = evaluate_runs(
        ctx.game, states, labels, config, ctx.symmetries, convergence
    )
    policies = policies_of(states.logits, ctx.game.legal)  # [T, N, K_i, A_i]
    arrays = {
        "grad_norm": np.asarray(states.grad_norm),
        "converged": convergence.converged,
        "steps": np.asarray(convergence.steps),
        **{f"agent{i}": np.asarray(pi) for i, pi in enumerate(policies)},
    }
    return {"points": points}, arrays, matrices


def grid_verdicts(ctx: Context, arrays: dict[str, np.ndarray]) -> list[Consensus]:
    """The verdict at each tau of a grid, from its arrays (`grid_study`)."""
    game = ctx.game
    policies = tuple(arrays[f"agent{i}"] for i in range(game.num_agents))
    return verdicts(
        game,
        np.asarray(ctx.config.taus),
        policies,
        arrays["converged"],
        arrays["steps"],
        ctx.config.critical_tau.convention_tol,
    )


def _log_search(label: str, found: CriticalTau, bound: float | None) -> None:
    """The tau* search's notes and bracket, in the log."""
    for note in found.notes:
        log.info("%s: tau* search: %s", label, note)
    if found.tau_star is None:
        log.info("%s: tau* not found: %s", label, "; ".join(found.notes))
        return
    verdict = found.upper_verdict
    assert verdict is not None
    log.info(
        "%s: tau* in %s (%d/%d seeds converged at the upper end, %d steps); "
        "sufficient bound %s",
        label,
        bracket_text(found.lower, found.upper),
        verdict.converged,
        verdict.seeds,
        verdict.steps,
        bound,
    )


def tau_star_study(
    ctx: Context,
    converging: ConvergingTrainer,
    grid_verdicts: list[Consensus],
    grid_arrays: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """tau* of one learner (`marl.tabular.phase.settled_critical_tau`), started
    from its grid: where the game is small enough, an 'uncertain' verdict above
    every disagreement is put to the verified test and counts as agreement when
    it proves every seed at one fixed point; then both ends are put to the test
    (`proven_ends`)."""
    game, search, bound = ctx.game, ctx.config.critical_tau, ctx.bound
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
        converging.label,
        search.lower,
        ctx.upper,
        upper_source,
    )
    searching = converging._replace(label=f"{converging.label} tau* search")

    seen_policies: dict[float, tuple[np.ndarray, ...]] = {}
    if grid_arrays is not None:
        for t, tau in enumerate(np.asarray(ctx.config.taus).tolist()):
            seen_policies[float(tau)] = tuple(
                np.asarray(grid_arrays[f"agent{i}"][t]) for i in range(game.num_agents)
            )

    def agree_at(taus: np.ndarray) -> list[Consensus]:
        runs, convergence = run_grid(ctx, searching, taus)
        policies = policies_of(runs.logits, game.legal)
        for t, tau in enumerate(np.asarray(taus).tolist()):
            seen_policies[float(tau)] = tuple(np.asarray(pi[t]) for pi in policies)
        return verdicts(
            game,
            taus,
            policies,
            convergence.converged,
            convergence.steps,
            search.convention_tol,
        )

    agrees = agreement_test(ctx.spec, game, converging)
    found = settled_critical_tau(
        agree_at,
        None
        if agrees is None
        else lambda tau: tau in seen_policies and agrees(tau, seen_policies[tau]),
        lower=search.lower,
        upper=ctx.upper,
        rtol=search.rtol,
        points_per_round=search.points,
        known=grid_verdicts,
    )
    _log_search(converging.label, found, bound)
    unique, diagram = uniqueness(
        ctx.spec,
        ctx.game,
        converging,
        seen_policies.get(found.lower),
        agree_lower=found.lower if found.tau_star is not None else None,
    )
    return {
        **critical_tau_json(found),
        "upper_start": ctx.upper,
        "upper_source": upper_source,
        "rtol": search.rtol,
        "tolerances": {
            "convention_tol": search.convention_tol,
            "convention_tol_checked_at": [
                search.convention_tol / TOLERANCE_FACTOR,
                search.convention_tol * TOLERANCE_FACTOR,
            ],
            "policy_tol": converging.config.policy_tol,
            "rtol": search.rtol,
        },
        "tau_star_over_bound": (
            found.tau_star / bound if bound and found.tau_star else None
        ),
        "uniqueness": unique,
        "proven_ends": proven_ends(
            ctx.spec,
            ctx.game,
            converging,
            found,
            seen_policies,
            ctx.config.taus,
            diagram,
        ),
    }


StudyResult = tuple[Any, dict[str, np.ndarray]]  # results, cross-play matrices
"""What a study returns: its section of results.json and its cross-play
matrices by name (none: {})."""


class Grid(NamedTuple):
    """What the tau grid gives the studies after it."""

    results: dict[str, Any]  # its points
    arrays: dict[str, np.ndarray]  # its policies, convergence checks and steps
    matrices: dict[str, np.ndarray]  # its cross-play matrices
    converging: ConvergingTrainer | None  # None: the grid was read from its section


def critical_tau_study(ctx: Context, grid: Grid) -> StudyResult:
    """tau* of the run's learner, started from the grid's verdicts."""
    converging = grid.converging or converged_grid(
        ctx, ctx.config.learner, ctx.game.name
    )
    verdicts_ = grid_verdicts(ctx, grid.arrays)
    return tau_star_study(ctx, converging, verdicts_, grid.arrays), {}


def other_play_study(ctx: Context, grid: Grid) -> StudyResult:
    """Exact Other-Play learners on the same tau grid (2-player games)."""
    game = ctx.game
    if ctx.group.order == 1:
        # J_OP averages J over the symmetry group: with none, it is J itself.
        log.info("%s: no symmetry, so Other-Play is self-play", game.name)
        copied = {f"other_play_{k}": v for k, v in grid.matrices.items()}
        return {"points": grid.results["points"], "same_as_self_play": True}, copied
    config = dataclasses.replace(ctx.config.learner, objective="otherplay")
    states, convergence = run_grid(
        ctx,
        converged_grid(ctx, config, f"{game.name} other-play"),
        ctx.config.taus,
    )
    labels = [{"tau": float(t)} for t in ctx.config.taus]
    points, op_matrices = evaluate_runs(
        game, states, labels, ctx.config, ctx.symmetries, convergence
    )
    renamed = {f"other_play_{k}": v for k, v in op_matrices.items()}
    return {"points": points, "same_as_self_play": False}, renamed


def weighting_study(ctx: Context, grid: Grid) -> StudyResult:
    """The grid (and tau*) with the other entropy weighting: 'uniform' weights
    every information state 1 (the concavity argument's), 'reach' by the
    probability of reaching it (the on-policy bonus). Matrix games have one
    information state per agent, where the two are the same."""
    learner = ctx.config.learner
    other = "uniform" if learner.entropy_weighting == "reach" else "reach"
    config = dataclasses.replace(learner, entropy_weighting=other)
    converging = converged_grid(ctx, config, f"{ctx.game.name} {other} weighting")
    results, arrays, _ = grid_study(ctx, converging)
    if "critical_tau" in ctx.config.studies:
        verdicts_ = grid_verdicts(ctx, arrays)
        results["critical_tau"] = tau_star_study(ctx, converging, verdicts_, arrays)
    return {"entropy_weighting": other, **results}, {}


def annealing_study(ctx: Context, grid: Grid) -> StudyResult:
    """Runs whose tau decays geometrically, one per gradient-noise level."""
    game, config = ctx.game, ctx.config
    anneal = config.annealing
    tau_start = anneal.tau_start or ctx.upper
    runs = []
    for noise in anneal.grad_noise:
        anneal_config = dataclasses.replace(
            config.learner,
            steps=anneal.steps,
            max_steps=max(anneal.steps, config.learner.max_steps),
            grad_noise=noise,
            stay_equivariant=noise == 0,
        )
        trainer = fastest_trainer(game, anneal_config, ctx.symmetries[1])
        schedule = geometric_schedule(tau_start, anneal.tau_end, anneal.steps)[None]
        label = {"tau_start": tau_start, "tau_end": anneal.tau_end, "grad_noise": noise}
        states = train_schedule(
            trainer,
            ctx.keys,
            schedule,
            window=config.learner.window,
            label=f"{game.name} annealing noise={noise:g}",
        )
        points, _ = evaluate_runs(game, states, [label], config, ctx.symmetries)
        runs += points
    return runs, {}


EQUIVARIANT_ASCENT_STEPS = 500
"""The fewest steps of the equivariant ascent (`equivariant_ascent_study`)."""


def equivariant_ascent_study(ctx: Context, grid: Grid) -> StudyResult:
    """The best value over equivariant policies, for the price of equivariance:
    J (tau = 0) ascended from every seed with the logits projected onto the
    equivariant subspace of the seat-keeping group after every step
    (`ExactPGConfig.stay_equivariant`), `learner.steps` steps of the learner's
    optimizer but at least EQUIVARIANT_ASCENT_STEPS (the benchmarks' 150 Adam
    steps start a converged run; alone they leave Dec-Tiger's ascent at 1.09
    against 5.19 after 500). `best_value` is the better of the best seed's J and
    the seeds' mean J after tie-aware greedification (which keeps an equivariant policy
    equivariant): a lower bound on the best equivariant value, as ascent finds
    local maxima."""
    game, config = ctx.game, ctx.config
    steps = max(config.learner.steps, EQUIVARIANT_ASCENT_STEPS)
    ascent = dataclasses.replace(
        config.learner,
        stay_equivariant=True,
        grad_noise=0.0,
        steps=steps,
        max_steps=max(steps, config.learner.max_steps),
    )
    trainer = fastest_trainer(game, ascent, ctx.symmetries[1])
    states = train_schedule(
        trainer,
        ctx.keys,
        constant_schedules(jnp.zeros(1), ascent.steps),
        window=ascent.window,
        label=f"{game.name} equivariant ascent",
    )
    (point,), _ = evaluate_runs(game, states, [{"tau": 0.0}], config, ctx.symmetries)
    return {
        "best_value": max(point["best_sp"], point["sp_greedy_ties"]),
        "mean_value": point["sp"],
        "steps": ascent.steps,
        "point": point,
    }, {}


def sampled_study(ctx: Context, grid: Grid) -> StudyResult:
    """The sampled learner (`marl.tabular.sampled_pg`) at `sampled_taus`."""
    game, config = ctx.game, ctx.config
    taus = config.sampled_taus or config.taus
    trainer = make_trainer(make_sampled_pg(game, config.sampled))
    states = train_schedule(
        trainer,
        ctx.keys,
        constant_schedules(jnp.asarray(taus), config.sampled.steps),
        window=config.learner.window,
        label=f"{game.name} sampled",
    )
    labels = [{"tau": float(t)} for t in taus]
    points, _ = evaluate_runs(game, states, labels, config, ctx.symmetries)
    return {"points": points}, {}


def prepare(config: TabularConfig) -> Context:
    """Loads and compiles the game and finds its symmetry group."""
    check_studies(config)
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
    if "sampled" in config.studies and not game.has_histories:
        raise games.CompileError(
            f"studies names 'sampled', whose learner draws whole histories, and game "
            f"'{game.name}' at horizon {horizon} has too many to enumerate"
        )
    log.info("%s: finding the symmetry group (nauty)", game.name)
    seat_group = symmetry_group(spec)
    swap_group = symmetry_group(spec, permute_agents=True)
    group = swap_group if config.permute_agents else seat_group
    log.info(
        "%s: symmetry group of order %d (%d generators)",
        game.name,
        group.order,
        len(group.generators),
    )
    bound = None
    if isinstance(spec, games.MatrixGame) and spec.num_agents == 2:
        bound = uniqueness_bound(spec.payoff)
    return Context(
        config,
        spec,
        game,
        group,
        (policy_symmetries(game, group), policy_symmetries(game, seat_group)),
        jax.random.split(jax.random.key(config.seed), config.seeds),
        bound,
        swap_group.order,
    )


Wanted = Callable[[TabularConfig, games.TabularGame], bool]


class OptionalStudy(NamedTuple):
    """One entry of `STUDIES`."""

    applies: Wanted  # whether it runs on this game (a run skips it otherwise)
    run: Callable[[Context, Grid], StudyResult]


def always(config: TabularConfig, game: games.TabularGame) -> bool:
    return True


STUDIES: dict[str, OptionalStudy] = {
    "critical_tau": OptionalStudy(always, critical_tau_study),
    "other_play": OptionalStudy(
        lambda config, game: game.num_agents == 2, other_play_study
    ),
    "other_weighting": OptionalStudy(
        lambda config, game: not game.is_matrix_game, weighting_study
    ),
    "annealing": OptionalStudy(always, annealing_study),
    "equivariant_ascent": OptionalStudy(always, equivariant_ascent_study),
    "sampled": OptionalStudy(always, sampled_study),
}
"""The optional studies a run may name in `studies` (TabularConfig), by section
name, in the order they run, each after the grid as a section of its own
(critical_tau also brackets tau* of the other weighting's grid, in that
study's section)."""


def check_studies(config: TabularConfig) -> None:
    """`studies` names only studies of `STUDIES`, in one line."""
    unknown = [name for name in config.studies if name not in STUDIES]
    if unknown:
        raise ConfigError(
            f"studies={list(config.studies)} names {unknown[0]!r}, which is not a "
            f"study; the studies are {', '.join(STUDIES)}"
        )


def later_studies(
    ctx: Context,
) -> list[tuple[str, Callable[[Context, Grid], StudyResult]]]:
    """The studies after the grid that the config asks for and that apply to
    its game, in the order of `STUDIES`."""
    return [
        (name, entry.run)
        for name, entry in STUDIES.items()
        if name in ctx.config.studies and entry.applies(ctx.config, ctx.game)
    ]
