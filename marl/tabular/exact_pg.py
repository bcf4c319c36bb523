"""Exact entropy-regularized softmax policy gradient on tabular games.

Gradient ascent on J_tau (see `marl.tabular.exact.regularized_objective`) with
respect to the softmax logits, from N(0, sigma^2) initial logits. Seeds and entropy
weights tau are `vmap` axes of one jitted call. Plain SGD with a small step follows
the gradient flow d theta / dt = grad J_tau(theta) of Forkel et al. 2025
(arXiv:2511.22581).

The gradient is divided by (reward_range + tau) before the optimizer sees it. For
the gradient flow this is only a change of clock (same trajectories, same fixed
points), and it lets one learning rate serve games with payoffs of any scale and
every tau on a grid.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from games.tabular import TabularGame
from marl.tabular.equivariance import PolicySymmetries, project
from marl.tabular.exact import (
    Policy,
    expected_entropy,
    regularized_objective,
    softmax_policy,
)
from marl.tabular.other_play import other_play_return
from marl.trainer import (
    ConfigError,
    Learner,
    constant_schedules,
    global_norm,
    make_trainer,
)


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
    information state weighted 1. See `marl.tabular.exact.expected_entropy`."""
    grad_tol: float = 1e-4
    """Certificate, part one: the scaled gradient norm at the end is below this
    (`marl.tabular.certify`)."""
    policy_tol: float = 1e-5
    """Certificate, part two: over the last `window` steps the policy moved less
    than this (largest total-variation distance at any information state)."""
    window: int = 500
    """Steps per jitted chunk of a run; progress is logged and certificates are
    checked after each."""
    max_steps: int = 50000
    """A constant-tau run with an uncertified seed continues, window by window,
    up to this many steps."""
    newton_steps: int = 20
    """Newton steps of the polish before each continued window (0: none; only
    for games with at most `marl.tabular.certify.NEWTON_MAX_PARAMS` free logits)."""
    objective: str = "selfplay"
    """'selfplay': J_tau; 'otherplay': Other-Play's J_OP + tau * entropy term."""
    grad_noise: float = 0.0
    """Std of Gaussian noise added to each scaled gradient entry (0: exact flow)."""
    stay_equivariant: bool = False
    """Project the logits onto the equivariant subspace after every step. The exact
    flow started there never leaves it; this removes the floating-point noise that
    would otherwise break an unstable symmetric branch (e.g. when annealing)."""

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "learning_rate": self.learning_rate > 0,
            "optimizer": self.optimizer in ("sgd", "adam"),
            "init_scale": self.init_scale >= 0,
            "entropy_weighting": self.entropy_weighting in ("reach", "uniform"),
            "grad_tol": self.grad_tol > 0,
            "policy_tol": self.policy_tol > 0,
            "window": self.window >= 1,
            "max_steps": self.max_steps >= self.steps,
            "newton_steps": self.newton_steps >= 0,
            "objective": self.objective in ("selfplay", "otherplay"),
            "grad_noise": self.grad_noise >= 0,
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
    "policy_tol": "must be > 0",
    "window": "must be >= 1",
    "max_steps": "must be >= learner.steps",
    "newton_steps": "must be >= 0",
    "objective": "must be 'selfplay' or 'otherplay'",
    "grad_noise": "must be >= 0",
}


class PGState(NamedTuple):
    """One seed's state, for the exact and the sampled learners alike."""

    logits: Policy  # per agent float[K_i, A_i]
    opt_state: optax.OptState
    grad_norm: jax.Array  # float[], scaled gradient norm at the last step
    key: jax.Array  # the learner's own randomness


AUTODIFF_FACTOR = 6
"""Memory of a gradient evaluation over its forward pass's largest tensor (the
forward intermediates kept for the backward pass, and their cotangents)."""


def update_bytes(game: TabularGame) -> int:
    """Estimated bytes of one gradient evaluation of the exact objective."""
    if game.engine == "recursion":
        floats = game.occupancy.peak_floats
    else:
        floats = game.num_histories * (2 + sum(x.shape[1] for x in game.infostate))
    return 4 * AUTODIFF_FACTOR * floats


def init_logits(game: TabularGame, *, key: jax.Array, scale: float) -> Policy:
    """Per agent, float[K_i, A_i] logits drawn from N(0, scale^2)."""
    keys = jax.random.split(key, game.num_agents)
    return tuple(
        scale * jax.random.normal(k, shape)
        for k, shape in zip(keys, game.policy_shapes, strict=True)
    )


def learner_objective(
    game: TabularGame,
    policy: Policy,
    tau: jax.Array,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> jax.Array:
    """The objective the learner ascends: J_tau, or Other-Play's
    J_OP + tau * entropy term (`marl.tabular.other_play`)."""
    if config.objective == "otherplay":
        if symmetries is None:
            raise ValueError("the Other-Play objective needs the game's symmetries")
        value = other_play_return(game, policy, symmetries)
        return value + tau * expected_entropy(game, policy, config.entropy_weighting)
    return regularized_objective(game, policy, tau, config.entropy_weighting)


def scaled_gradient(
    game: TabularGame,
    logits: Policy,
    tau: jax.Array,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Policy:
    """grad_theta objective / (reward_range + tau), per agent float[K_i, A_i]."""

    def objective(x: Policy) -> jax.Array:
        return learner_objective(game, softmax_policy(x), tau, config, symmetries)

    scale = game.reward_range + tau
    return jax.tree.map(lambda g: g / scale, jax.grad(objective)(logits))


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """optax SGD or Adam (both learners' `optimizer` field)."""
    return (optax.sgd if name == "sgd" else optax.adam)(learning_rate)


def init_state(
    game: TabularGame,
    optimizer: optax.GradientTransformation,
    *,
    key: jax.Array,
    scale: float,
) -> PGState:
    """Random N(0, scale^2) logits, a fresh optimizer state and a key for the
    learner's own randomness (gradient noise or episode sampling)."""
    init_key, own_key = jax.random.split(key)
    logits = init_logits(game, key=init_key, scale=scale)
    grad_norm = jnp.asarray(jnp.inf, jnp.float32)  # strongly typed, like the updates'
    return PGState(logits, optimizer.init(logits), grad_norm, own_key)


def make_exact_pg(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Learner:
    """The exact learner for `game` as an `(init, update)` pair. `symmetries` (the
    group keeping agents in place) is needed by Other-Play and `stay_equivariant`."""
    needs_symmetries = config.stay_equivariant or config.objective != "selfplay"
    if symmetries is None and needs_symmetries:
        raise ValueError("this configuration needs the game's symmetries")
    equivariant = symmetries if config.stay_equivariant else None
    optimizer = make_optimizer(config.optimizer, config.learning_rate)

    def init(key: jax.Array) -> PGState:
        return init_state(game, optimizer, key=key, scale=config.init_scale)

    def update(state: PGState, tau: jax.Array) -> tuple[PGState, None]:
        grad = scaled_gradient(game, state.logits, tau, config, symmetries)
        norm = global_norm(grad)
        key = state.key  # untouched without noise: no threefry in the program
        if config.grad_noise > 0:
            key, noise_key = jax.random.split(state.key)
            keys = jax.random.split(noise_key, len(grad))
            grad = tuple(
                g + config.grad_noise * jax.random.normal(k, g.shape)
                for g, k in zip(grad, keys, strict=True)
            )
        ascent = jax.tree.map(jnp.negative, grad)  # optax minimizes
        updates, opt_state = optimizer.update(ascent, state.opt_state, state.logits)
        logits = optax.apply_updates(state.logits, updates)
        if equivariant is not None:
            logits = project(logits, equivariant)
        return PGState(logits, opt_state, norm, key), None

    return Learner(init, update, update_bytes(game))


def geometric_schedule(tau_start: float, tau_end: float, num_steps: int) -> jax.Array:
    """Annealing: tau decays geometrically from tau_start to tau_end, float[steps]."""
    fraction = jnp.linspace(0.0, 1.0, num_steps)
    return tau_start * (tau_end / tau_start) ** fraction


def train(
    game: TabularGame,
    config: ExactPGConfig,
    *,
    keys: jax.Array,
    taus: jax.Array,
    symmetries: PolicySymmetries | None = None,
    mesh: Mesh | None = None,
) -> PGState:
    """Runs every seed (keys [N]) at every tau (taus [T]) for `config.steps`,
    split over the devices of `mesh` (default: all, see `make_trainer`).

    Returns the final states with leading axes [T, N].
    """
    trainer = make_trainer(make_exact_pg(game, config, symmetries), mesh)
    schedules = constant_schedules(taus, config.steps)
    return trainer.run(trainer.init(keys, schedules.shape[0]), schedules)[0]
