"""Exact entropy-regularized softmax policy gradient on tabular games.

Gradient ascent on J_tau (see `marl.exact.regularized_objective`) with respect to
the softmax logits, from N(0, sigma^2) initial logits. Seeds and entropy weights tau
are `vmap` axes of one jitted call. Plain SGD with a small step follows the gradient
flow d theta / dt = grad J_tau(theta) of Forkel et al. 2025 (arXiv:2511.22581).

The gradient is divided by (reward_range + tau) before the optimizer sees it. For
the gradient flow this is only a change of clock (same trajectories, same fixed
points), and it lets one learning rate serve games with payoffs of any scale and
every tau on a grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from games import TabularGame
from marl.exact import Policy, regularized_objective, softmax_policy


class ConfigError(ValueError):
    """An impossible hyperparameter; the message names the field."""


@dataclasses.dataclass(frozen=True)
class ExactPGConfig:
    """Hyperparameters of the exact learner."""

    steps: int = 5000
    """Gradient steps per run."""
    learning_rate: float = 0.5
    """Step size, in units of 1 / (reward_range + tau)."""
    optimizer: str = "sgd"
    """'sgd' approximates the gradient flow; 'adam' is faster but not a flow."""
    init_scale: float = 1.0
    """sigma of the N(0, sigma^2) initial logits."""
    entropy_weighting: str = "reach"
    """'reach': on-policy expected entropy (the default); 'uniform': every
    information state weighted 1. See `marl.exact.expected_entropy`."""
    grad_tol: float = 1e-4
    """A seed has converged when its scaled gradient norm ends below this."""

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "learning_rate": self.learning_rate > 0,
            "optimizer": self.optimizer in ("sgd", "adam"),
            "init_scale": self.init_scale >= 0,
            "entropy_weighting": self.entropy_weighting in ("reach", "uniform"),
            "grad_tol": self.grad_tol > 0,
        }
        for field, ok in checks.items():
            if not ok:
                raise ConfigError(
                    f"learner.{field}={getattr(self, field)!r} is impossible "
                    f"({_FIELD_RULES[field]})"
                )


_FIELD_RULES = {
    "steps": "must be >= 1",
    "learning_rate": "must be > 0",
    "optimizer": "must be 'sgd' or 'adam'",
    "init_scale": "must be >= 0",
    "entropy_weighting": "must be 'reach' or 'uniform'",
    "grad_tol": "must be > 0",
}


class ExactPGState(NamedTuple):
    """One seed's learner state."""

    logits: Policy  # per agent float[K_i, A_i]
    opt_state: optax.OptState
    grad_norm: jax.Array  # float[], scaled gradient norm at the last step


class Learner(NamedTuple):
    """A pure `(init, update)` pair; `update` takes tau so it can be vmapped."""

    init: Callable[[jax.Array], ExactPGState]
    update: Callable[[ExactPGState, jax.Array], ExactPGState]


def init_logits(game: TabularGame, *, key: jax.Array, scale: float) -> Policy:
    """Per agent, float[K_i, A_i] logits drawn from N(0, scale^2)."""
    keys = jax.random.split(key, game.num_agents)
    return tuple(
        scale * jax.random.normal(k, shape)
        for k, shape in zip(keys, game.policy_shapes, strict=True)
    )


def scaled_gradient(
    game: TabularGame, logits: Policy, tau: jax.Array, config: ExactPGConfig
) -> Policy:
    """grad_theta J_tau / (reward_range + tau), per agent float[K_i, A_i]."""

    def objective(x: Policy) -> jax.Array:
        return regularized_objective(
            game, softmax_policy(x), tau, config.entropy_weighting
        )

    scale = game.reward_range + tau
    return jax.tree.map(lambda g: g / scale, jax.grad(objective)(logits))


def global_norm(tree: Policy) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def make_exact_pg(game: TabularGame, config: ExactPGConfig) -> Learner:
    """The exact learner for `game` as an `(init, update)` pair."""
    optimizer = (optax.sgd if config.optimizer == "sgd" else optax.adam)(
        config.learning_rate
    )

    def init(key: jax.Array) -> ExactPGState:
        logits = init_logits(game, key=key, scale=config.init_scale)
        return ExactPGState(logits, optimizer.init(logits), jnp.asarray(jnp.inf))

    def update(state: ExactPGState, tau: jax.Array) -> ExactPGState:
        grad = scaled_gradient(game, state.logits, tau, config)
        ascent = jax.tree.map(jnp.negative, grad)  # optax minimizes
        updates, opt_state = optimizer.update(ascent, state.opt_state, state.logits)
        return ExactPGState(
            optax.apply_updates(state.logits, updates), opt_state, global_norm(grad)
        )

    return Learner(init, update)


def run_steps(
    learner: Learner, state: ExactPGState, tau: jax.Array, num_steps: int
) -> ExactPGState:
    """`num_steps` updates of one seed at one tau, as a `lax.scan`."""

    def body(carry: ExactPGState, _: None) -> tuple[ExactPGState, None]:
        return learner.update(carry, tau), None

    return jax.lax.scan(body, state, None, length=num_steps)[0]


class Trainer(NamedTuple):
    """Jitted batch functions over a [num_taus, num_seeds] grid of runs."""

    init: Callable[[jax.Array, jax.Array], ExactPGState]
    """(keys [N], taus [T]) -> states with leading axes [T, N]."""
    run: Callable[[ExactPGState, jax.Array, int], ExactPGState]
    """(states, taus [T], num_steps) -> states; num_steps is static."""


def make_trainer(game: TabularGame, config: ExactPGConfig) -> Trainer:
    """Batch init and run for seeds x taus; the seeds share keys across taus, so the
    tau axis changes nothing but tau."""
    learner = make_exact_pg(game, config)

    def init(keys: jax.Array, taus: jax.Array) -> ExactPGState:
        states = jax.vmap(learner.init)(keys)
        return jax.tree.map(
            lambda x: jnp.broadcast_to(x, (taus.shape[0], *x.shape)), states
        )

    def run(states: ExactPGState, taus: jax.Array, num_steps: int) -> ExactPGState:
        def one(state: ExactPGState, tau: jax.Array) -> ExactPGState:
            return run_steps(learner, state, tau, num_steps)

        over_seeds = jax.vmap(one, in_axes=(0, None))
        return jax.vmap(over_seeds, in_axes=(0, 0))(states, taus)

    return Trainer(jax.jit(init), jax.jit(run, static_argnums=2))


def train(
    game: TabularGame, config: ExactPGConfig, *, keys: jax.Array, taus: jax.Array
) -> ExactPGState:
    """Runs every seed (keys [N, 2]) at every tau (taus [T]) for `config.steps`.

    Returns the final states with leading axes [T, N].
    """
    trainer = make_trainer(game, config)
    taus = jnp.asarray(taus, dtype=jnp.float32)
    return trainer.run(trainer.init(keys, taus), taus, config.steps)
