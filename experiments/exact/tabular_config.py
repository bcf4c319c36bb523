"""The tabular entry point's config: `TabularConfig` (with the tau* search and
annealing sections) and its hydra schema, and the exact learner's defaults by
the game's source (`learner_default`, the resolver conf/tabular.yaml reads)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

import games
from experiments.harness.compose import writable
from marl.fields import check_fields
from marl.tabular.exact_pg import ExactPGConfig
from marl.tabular.sampled_pg import SampledPGConfig


@dataclasses.dataclass(frozen=True)
class CriticalTauConfig:
    """Bracketing search for tau*, the smallest tau at which all seeds agree
    (with `critical_tau` in `studies`)."""

    lower: float = 1e-3
    """Start of the bracket (seeds must disagree here)."""
    upper: float | None = None
    """End of the bracket (seeds must agree); default: the uniqueness bound for
    2-player matrix games, else 10 x the reward range."""
    rtol: float = 0.02
    """Relative width of the final bracket."""
    convention_tol: float = 1e-3
    """Total-variation distance within which two seeds count as agreeing."""
    points: int = 8
    """Taus per round (one vmapped batch); each round shrinks the bracket's log
    width by points + 1."""

    def __post_init__(self) -> None:
        rules = {
            "lower": (self.lower > 0, "must be > 0"),
            "upper": (
                self.upper is None or self.upper > self.lower,
                f"must be null or > critical_tau.lower={self.lower}",
            ),
            "rtol": (self.rtol > 0, "must be > 0"),
            "convention_tol": (self.convention_tol > 0, "must be > 0"),
            "points": (self.points >= 1, "must be >= 1"),
        }
        check_fields(self, rules, "critical_tau.")


@dataclasses.dataclass(frozen=True)
class AnnealingConfig:
    """Runs whose tau decays geometrically from tau_start to tau_end (with
    `annealing` in `studies`)."""

    tau_start: float | None = None
    """Default: the critical-tau bracket's upper end."""
    tau_end: float = 1e-3
    steps: int = 20000
    grad_noise: list[float] = dataclasses.field(default_factory=lambda: [0.0, 1e-3])
    """One annealing run per noise level; 0 follows the exact flow and keeps the
    logits equivariant (see ExactPGConfig.stay_equivariant)."""

    def __post_init__(self) -> None:
        rules = {
            "tau_end": (self.tau_end > 0, "must be > 0"),
            "tau_start": (
                self.tau_start is None or self.tau_start > self.tau_end,
                f"must be null or > annealing.tau_end={self.tau_end}",
            ),
            "steps": (self.steps >= 1, "must be >= 1"),
            "grad_noise": (
                len(self.grad_noise) > 0 and all(x >= 0 for x in self.grad_noise),
                "must be a non-empty list of numbers >= 0",
            ),
        }
        check_fields(self, rules, "annealing.")


# The exact learner's defaults (conf/tabular.yaml reads them through the
# `learner_default` resolver, so any `learner.*` override wins). The catalogue's
# games follow the gradient flow of the paper (SGD). The Dec-POMDP benchmarks
# start with Adam: their rewards span hundreds (Dec-Tiger at horizon 4: 484) and
# SGD needs tens of thousands of steps there. Adam never settles on a fixed point,
# so after `steps` the runs continue with entropy-regularized natural policy
# gradient, which converges them in tens of steps (marl/tabular/convergence.py).
# NPG from the start (learner.optimizer=npg) is faster still, but its basins are
# not the flow's: on Dec-Tiger its seeds agree from a lower tau (docs/tabular.md,
# "Fixed points by NPG").
LEARNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "game": {
        "optimizer": "sgd",
        "learning_rate": 0.5,
        "steps": 5000,
        "window": 500,
        "max_steps": 20000,
        "policy_tol": 1e-5,
    },
    "benchmark": {
        "optimizer": "adam",
        "learning_rate": 0.05,
        "steps": 150,
        "window": 50,
        "max_steps": 2000,
        # float32 resolves an NPG step to about 1e-7 of the reward range, and
        # near-pure fixed points at small tau contract by ~1e-3 per step: a bound
        # of 1e-4 is what the benchmarks' rewards (spans of hundreds) allow there.
        "policy_tol": 1e-4,
    },
}


def learner_default(field: str, game: str, game_file: str | None) -> Any:
    """The default of `learner.<field>` for a game: the benchmark settings for the
    catalogue's Dec-POMDP benchmarks and .dpomdp files, the flow's otherwise."""
    planning = (
        game_file.endswith((".dpomdp", ".dpomdp.gz"))
        if game_file
        else game in games.BENCHMARKS
    )
    return LEARNER_DEFAULTS["benchmark" if planning else "game"][field]


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """One tabular experiment: a game, N seeds, a grid of entropy weights tau."""

    game: str = "lever"
    """Catalogue name (see `games.CATALOGUE`); not with `game_file`."""
    game_file: str | None = None
    """Path to a YAML game file or a MADP .dpomdp / .dpomdp.gz file
    (docs/game_files.md), instead of `game` (both on the command line are
    refused)."""
    horizon: int | None = None
    """Planning horizon of a Dec-POMDP; null: the game's own (a .dpomdp file has
    none and needs one). A matrix game has horizon 1."""
    engine: str = "auto"
    """Exact engine: 'recursion' (occupancy states), 'enumeration' (terminal
    histories), or 'auto', the cheaper by a work estimate
    (games.tabular.compile.compile_game)."""
    seeds: int = 32
    """Independent seeds (random initial logits) per tau."""
    taus: list[float] = dataclasses.field(
        default_factory=lambda: [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    )
    """Entropy weights, one learner run per seed per tau (a vmap axis)."""
    seed: int = 0
    """Root PRNG seed; seed k's key is split from it, shared across taus."""
    learner: ExactPGConfig = dataclasses.field(default_factory=ExactPGConfig)
    convention_tol: float = 1e-2
    """Total-variation distance below which two seeds share a convention."""
    tie_rtol: float = 1e-5
    """Greedification (marl/tabular/greedy.py) treats actions whose probability is
    within this fraction of the row's largest as tied."""
    equivariant_tol: float = 1e-4
    """A seed whose equivariance error is at most this is greedified from its
    group average, so that float32 noise cannot break its ties."""
    permute_agents: bool = False
    """Whether the symmetry group used for equivariance may swap interchangeable
    agents (seeds train separate seat policies, so the default is no)."""
    max_assignments: int = 100_000
    """For 3+ players: seat assignments of distinct seeds sampled for XP."""
    studies: list[str] = dataclasses.field(default_factory=list)
    """Optional studies beside the tau grid, by name (the registry
    `experiments.exact.studies.STUDIES`; they run in its order, each a section of
    results.json): `critical_tau` (tau* by bracketing, in every grid; settings
    in `critical_tau`), `other_play` (exact Other-Play on the same grid, 2
    players), `other_weighting` (the grid and tau* with the other entropy
    weighting of `learner.entropy_weighting`; Dec-POMDPs, in matrix games they
    coincide), `annealing` (settings in `annealing`), `equivariant_ascent` (J
    ascended inside the equivariant policies from every seed: the best value an
    equivariant policy reaches, for the price of equivariance) and `sampled`
    (the sampled learner at `sampled_taus`). The phase presets ask for all."""
    critical_tau: CriticalTauConfig = dataclasses.field(
        default_factory=CriticalTauConfig
    )
    annealing: AnnealingConfig = dataclasses.field(default_factory=AnnealingConfig)
    sampled: SampledPGConfig = dataclasses.field(default_factory=SampledPGConfig)
    sampled_taus: list[float] | None = None
    """Default: the same grid as `taus`."""
    resume: bool = False
    """Continue an interrupted run in the same hydra.run.dir: the sections it
    finished (the tau grid, Other-Play, the other weighting, annealing, the
    sampled learner; kept in `<run dir>/sections/` as each finishes) are reused
    and the rest computed, ending where an uninterrupted run ends. A finished run
    of the same configuration is left as it is. False starts afresh."""
    skip_finished: bool = False
    """When the run directory already holds the results.json of this configuration
    (every field but this one and `resume`; a game file's contents are not
    compared), keep it and run nothing: a resubmitted sweep (fixed
    hydra.sweep.dir) redoes only the runs that did not finish (docs/cluster.md)."""

    def __post_init__(self) -> None:
        rules = {
            "seeds": (self.seeds >= 2, "must be >= 2 to measure cross-play"),
            "taus": (
                len(self.taus) > 0
                and all(math.isfinite(t) and t >= 0 for t in self.taus),
                "must be a non-empty list of finite numbers >= 0",
            ),
            "horizon": (self.horizon is None or self.horizon >= 1, "must be >= 1"),
            "engine": (
                self.engine in ("auto", "recursion", "enumeration"),
                "must be 'auto', 'recursion' or 'enumeration'",
            ),
            "convention_tol": (self.convention_tol > 0, "must be > 0"),
            "tie_rtol": (0 <= self.tie_rtol < 1, "must be in [0, 1)"),
            "equivariant_tol": (self.equivariant_tol >= 0, "must be >= 0"),
            "max_assignments": (self.max_assignments >= 1, "must be >= 1"),
            "sampled_taus": (
                self.sampled_taus is None
                or all(math.isfinite(t) and t >= 0 for t in self.sampled_taus),
                "must be a list of finite numbers >= 0",
            ),
        }
        check_fields(self, rules)


def register_schemas() -> None:
    """Makes the schemas available to `defaults:` lists in conf/."""
    store = ConfigStore.instance()
    store.store(
        name="tabular_schema", node=writable(OmegaConf.structured(TabularConfig))
    )
