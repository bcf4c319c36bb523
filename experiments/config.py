"""Typed, frozen, validated run configurations and their hydra schemas.

Hydra composes `conf/*.yaml` over these dataclasses (so an unknown key or a value
of the wrong type is refused while composing); `to_config` then builds the frozen
dataclass once, and `__post_init__` refuses impossible values with one line.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from marl.exact_pg import ConfigError, ExactPGConfig

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """One tabular experiment: a game, N seeds, a grid of entropy weights tau."""

    game: str = "lever"
    """Catalogue name (see `games.CATALOGUE`); ignored when `game_file` is set."""
    game_file: str | None = None
    """Path to a YAML game file (docs/game_files.md); takes precedence over `game`."""
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
    tie_tol: float = 1e-5
    """Probability gap within which tie-aware greedification keeps an action."""
    permute_agents: bool = False
    """Whether the symmetry group used for equivariance may swap interchangeable
    agents (seeds train separate seat policies, so the default is no)."""
    max_assignments: int = 100_000
    """For 3+ players: seat assignments of distinct seeds sampled for XP."""
    progress_chunks: int = 10
    """The run is jitted in this many chunks of steps, logging progress between."""

    def __post_init__(self) -> None:
        rules = {
            "seeds": (self.seeds >= 2, "must be >= 2 to measure cross-play"),
            "taus": (
                len(self.taus) > 0
                and all(math.isfinite(t) and t >= 0 for t in self.taus),
                "must be a non-empty list of finite numbers >= 0",
            ),
            "convention_tol": (self.convention_tol > 0, "must be > 0"),
            "tie_tol": (self.tie_tol >= 0, "must be >= 0"),
            "max_assignments": (self.max_assignments >= 1, "must be >= 1"),
            "progress_chunks": (
                1 <= self.progress_chunks <= self.learner.steps,
                "must be between 1 and learner.steps",
            ),
        }
        for field, (ok, rule) in rules.items():
            if not ok:
                raise ConfigError(
                    f"{field}={getattr(self, field)!r} is impossible ({rule})"
                )


def _writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses become read-only nodes; hydra must override them."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _writable(child)
    return node


def register_schemas() -> None:
    """Makes the schemas available to `defaults:` lists in conf/."""
    store = ConfigStore.instance()
    store.store(
        name="tabular_schema", node=_writable(OmegaConf.structured(TabularConfig))
    )


def to_config(cfg: DictConfig, schema: type[T]) -> T:
    """The frozen, validated dataclass of a composed config (hydra keys dropped)."""
    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    merged = OmegaConf.merge(_writable(OmegaConf.structured(schema)), plain)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]
