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

`optimizer: npg` is entropy-regularized natural policy gradient (policy mirror
descent) instead: every agent moves, at every information state h,

    theta_i(h, .) <- (1 - eta tau) theta_i(h, .) + eta Q_i(h, .),

with Q_i(h, a) the soft value of action a at h (expected reward to the end plus tau
times the entropy bonus of every later information state, given h, a and the
others' policies) and eta = learning_rate / (tau + reward_range / npg_greed). See
`natural_direction` for the exact form on the reach-weighted, finite-horizon
objective and for what happens where the weighting gives an information state no
weight (Cen, Cheng, Chen, Wei, Chi 2021, "Fast global convergence of natural policy
gradient methods with entropy regularization"; the independent multi-agent case:
Cen, Chen, Chi 2022, "Independent natural policy gradient methods for potential
games"). Its fixed points are the gradient flow's: pi_i(.|h) = softmax(Q_i(h, .) /
tau) at every information state the weighting weighs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from games.tabular import TabularGame
from marl.fields import ConfigError, check_fields
from marl.tabular.equivariance import PolicySymmetries, project
from marl.tabular.exact import (
    Policy,
    expected_entropy,
    reach_probs,
    regularized_objective,
    softmax_policy,
)
from marl.tabular.other_play import other_play_return
from marl.trainer import (
    Learner,
    constant_schedules,
    global_norm,
    make_trainer,
)

OPTIMIZERS = ("sgd", "adam", "npg")


@dataclasses.dataclass(frozen=True)
class ExactPGConfig:
    """Hyperparameters of the exact learner."""

    steps: int = 5000
    """Gradient steps per run."""
    learning_rate: float = 0.5
    """Step size, in units of 1 / (reward_range + tau) (NPG: of
    1 / (tau + reward_range / npg_greed), see `npg_step_size`)."""
    optimizer: str = "sgd"
    """'sgd' approximates the gradient flow; 'adam' is faster but not a flow;
    'npg' is entropy-regularized natural policy gradient (policy mirror descent,
    see the module docstring): same fixed points, reached in far fewer steps."""
    init_scale: float = 1.0
    """sigma of the N(0, sigma^2) initial logits."""
    entropy_weighting: str = "reach"
    """'reach': on-policy expected entropy (the default); 'uniform': every
    information state weighted 1. See `marl.tabular.exact.expected_entropy`."""
    policy_tol: float = 1e-5
    """Convergence: a seed is at a fixed point when its bound on the
    total-variation distance to one, at any information state the objective
    weighs, is below this (`marl.tabular.convergence`)."""
    window: int = 500
    """Steps per jitted chunk of a run; progress is logged and convergence checks are
    checked after each."""
    max_steps: int = 50000
    """A constant-tau run with an unconverged seed continues (with NPG), window
    by window, up to this many steps."""
    npg_greed: float = 30.0
    """NPG only: the step is learning_rate / (tau + reward_range / npg_greed)
    (`npg_step_size`). Large: fast, near-best responses at small tau, which may
    jump between basins far from a fixed point; small: steps no larger than a
    few flow steps'."""
    objective: str = "selfplay"
    """'selfplay': J_tau; 'otherplay': Other-Play's J_OP + tau * entropy term."""
    grad_noise: float = 0.0
    """Std of Gaussian noise added to each scaled gradient entry (0: exact flow)."""
    stay_equivariant: bool = False
    """Project the logits onto the equivariant subspace after every step. The exact
    flow started there never leaves it; this removes the floating-point noise that
    would otherwise break an unstable symmetric branch (e.g. when annealing)."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "steps": (self.steps >= 1, "must be >= 1"),
                "learning_rate": (self.learning_rate > 0, "must be > 0"),
                "optimizer": (
                    self.optimizer in OPTIMIZERS,
                    "must be 'sgd', 'adam' or 'npg'",
                ),
                "init_scale": (self.init_scale >= 0, "must be >= 0"),
                "entropy_weighting": (
                    self.entropy_weighting in ("reach", "uniform"),
                    "must be 'reach' or 'uniform'",
                ),
                "policy_tol": (self.policy_tol > 0, "must be > 0"),
                "window": (self.window >= 1, "must be >= 1"),
                "objective": (
                    self.objective in ("selfplay", "otherplay"),
                    "must be 'selfplay' or 'otherplay'",
                ),
                "grad_noise": (self.grad_noise >= 0, "must be >= 0"),
                "npg_greed": (self.npg_greed > 0, "must be > 0"),
            },
            "learner.",
        )
        if self.max_steps < self.steps:  # both named: either may be the one set
            raise ConfigError(
                f"learner.steps={self.steps} is more than learner.max_steps="
                f"{self.max_steps}, which bounds training and the convergence checks "
                "together: raise learner.max_steps with it"
            )


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
    """Per agent, float[K_i, A_i] logits drawn from N(0, scale^2); 0 at illegal
    actions."""
    keys = jax.random.split(key, game.num_agents)
    logits = tuple(
        scale * jax.random.normal(k, shape)
        for k, shape in zip(keys, game.policy_shapes, strict=True)
    )
    if game.legal is None:
        return logits
    return tuple(jnp.where(m, x, 0.0) for x, m in zip(logits, game.legal, strict=True))


Objective = Callable[[Policy, jax.Array], jax.Array]
"""(policy, tau float32[]) -> the value a learner ascends, float[]."""
Direction = Callable[[Policy, jax.Array], tuple[Policy, jax.Array]]
"""(logits, tau) -> (an ascent direction per agent float[K_i, A_i], the scaled
gradient norm the step reports, float[])."""


def make_objective(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Objective:
    """The objective the learner ascends: J_tau (`entropy_weighting`), or
    Other-Play's J_OP + tau * entropy term (`marl.tabular.other_play`), which
    needs the game's seat-keeping `symmetries`."""
    weighting = config.entropy_weighting
    if config.objective == "otherplay":
        if symmetries is None:
            raise ValueError("the Other-Play objective needs the game's symmetries")

        def other_play(policy: Policy, tau: jax.Array) -> jax.Array:
            value = other_play_return(game, policy, symmetries)
            return value + tau * expected_entropy(game, policy, weighting)

        return other_play
    return lambda policy, tau: regularized_objective(game, policy, tau, weighting)


def gradient_direction(game: TabularGame, objective: Objective) -> Direction:
    """grad_theta objective / (reward_range + tau), per agent float[K_i, A_i]:
    the gradient flow's direction (SGD and Adam follow it), and its norm."""

    def direction(logits: Policy, tau: jax.Array) -> tuple[Policy, jax.Array]:
        def value(x: Policy) -> jax.Array:
            return objective(softmax_policy(x, game.legal), tau)

        scale = game.reward_range + tau
        grad = jax.tree.map(lambda g: g / scale, jax.grad(value)(logits))
        return grad, global_norm(grad)

    return direction


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """optax SGD or Adam (both learners' `optimizer` field); NPG keeps no state of
    its own and takes SGD's (empty) one."""
    return (optax.adam if name == "adam" else optax.sgd)(learning_rate)


REACH_FLOOR = 1e-30
"""Under the reach weighting, information states reached with at most this
probability get no natural step: their soft values (dJ/dpi) / reach are 0 / 0 in
float32 (the gradient flow does not move them either)."""


def entropy_weights(game: TabularGame, policy: Policy, weighting: str) -> Policy:
    """Per agent float[K_i]: the weight of each information state's entropy in
    J_tau, its reach probability or 1 (`marl.tabular.exact.expected_entropy`)."""
    if weighting == "uniform":
        return tuple(jnp.ones(pi.shape[0], pi.dtype) for pi in policy)
    return reach_probs(game, policy)


class NaturalStep(NamedTuple):
    """What one natural policy-gradient step needs, per agent."""

    direction: Policy  # float[K_i, A_i]: (d objective / d pi) / w
    gradient: Policy  # float[K_i, A_i]: d objective / d logits (the flow's)
    weights: Policy  # float[K_i]: w, the entropy weight of each information state


def natural_direction(
    game: TabularGame,
    logits: Policy,
    tau: jax.Array,
    objective: Objective,
    weighting: str,
) -> NaturalStep:
    """The natural policy-gradient direction of the learner's objective.

    With w(h) the weight of h's entropy in J_tau (reach or 1), the derivative of
    J_tau with respect to the probability pi_i(a|h) is

        reach:   w(h) [Q_i(h, a) - tau (log pi_i(a|h) + 1)],
        uniform: reach(h) Q^r_i(h, a) - tau (log pi_i(a|h) + 1),

    where Q_i(h, a) is the soft value (rewards from h's step on, plus tau times
    the reach-weighted entropy of every later information state of every agent,
    given h and a) and Q^r_i the value of the rewards alone (under the uniform
    weighting later entropies do not depend on pi). The direction is that
    derivative divided by w(h): Q_i(h, a) - tau (log pi + 1), or with the uniform
    weighting reach(h) Q^r_i(h, a) - tau (log pi + 1), whose soft value is thus
    reach(h) Q^r. The logit gradient is w(h) pi (d - <pi, d>): dividing by the
    Fisher information w(h) (diag pi - pi pi^T) of the softmax at h gives d up to
    a constant per row (Kakade 2001), and theta + eta d equals
    (1 - eta tau) theta + eta Q up to such a constant. At a fixed point
    Q - tau log pi is constant in a, i.e. pi = softmax(Q / tau): the stationary
    points of J_tau, those of the gradient flow. Information states of weight
    at most REACH_FLOOR (unreached, under the reach weighting) get direction 0
    and keep their policy, as under the flow. Illegal actions get direction 0.
    """
    policy = softmax_policy(logits, game.legal)

    def value(p: Policy) -> tuple[jax.Array, Policy]:
        weights = entropy_weights(game, p, weighting)
        return objective(p, tau), jax.lax.stop_gradient(weights)

    by_policy, weights = jax.grad(value, has_aux=True)(policy)
    # The entropy's derivative -tau (log pi + 1) came from the rounded float32
    # probabilities; log_softmax of the logits is exact to float32, which keeps
    # the direction's noise near a fixed point ~10x lower (convergence.check_step).
    legal = game.legal or (None,) * len(logits)
    direction = tuple(
        jnp.where(
            (w[:, None] > REACH_FLOOR) if m is None else (w[:, None] > REACH_FLOOR) & m,
            g / jnp.maximum(w, REACH_FLOOR)[:, None]
            + tau
            * (jnp.log(jnp.where(pi > 0, pi, 1.0)) - jax.nn.log_softmax(x, where=m)),
            0,
        )
        for g, w, pi, x, m in zip(
            by_policy, weights, policy, logits, legal, strict=True
        )
    )
    gradient = tuple(
        pi * (g - jnp.sum(pi * g, axis=-1, keepdims=True))
        for pi, g in zip(policy, by_policy, strict=True)
    )
    return NaturalStep(direction, gradient, weights)


def centred(logits: Policy, legal: Policy | None = None) -> Policy:
    """Each row minus its mean: the same softmax, and logits that stay bounded.
    With `legal`, the mean over the legal actions, and 0 at the others."""
    if legal is None:
        return tuple(x - jnp.mean(x, axis=-1, keepdims=True) for x in logits)
    return tuple(
        jnp.where(m, x - jnp.mean(x, axis=-1, keepdims=True, where=m), 0.0)
        for x, m in zip(logits, legal, strict=True)
    )


def npg_step_size(game: TabularGame, tau: jax.Array, greed: float) -> jax.Array:
    """eta / learning_rate = 1 / (tau + reward_range / greed).

    eta tau is the fraction of the way from theta to Q / tau that one step goes
    (exactly so for one agent), so the learning rate is that fraction when tau is
    above reward_range / greed: at most 1, or the step overshoots the soft-greedy
    policy. Below, the step is capped at a logit move of `greed` times the soft
    values over the reward range: a near-best response when greed is large
    (tau = 0 is unregularized NPG), a step no larger than a few flow steps' when
    it is 1 (`ExactPGConfig.npg_greed`)."""
    return 1.0 / (tau + game.reward_range / greed)


def mirror_step(logits: Policy, move: Policy, legal: Policy | None = None) -> Policy:
    """theta + move, centred over the legal actions: one NPG step (`npg_direction`)."""
    return centred(tuple(x + m for x, m in zip(logits, move, strict=True)), legal)


MAX_LOGIT_MOVE = 5.0
"""The largest change of one logit in one NPG step. Where an information state's
weight w is tiny but the objective's derivative there is not (Other-Play: the
partner's relabelled policies reach states the seed's own play hardly does),
(dJ / dpi) / w is huge; the cap keeps such steps finite. At a fixed point the
centred direction is 0, so the cap changes no fixed point and no step near one."""


def npg_direction(
    game: TabularGame,
    objective: Objective,
    weighting: str,
    *,
    learning_rate: float,
    greed: float,
) -> Direction:
    """NPG's logit move: `learning_rate` times the centred natural direction
    (`natural_direction`) times `npg_step_size(greed)`, each entry capped at
    MAX_LOGIT_MOVE; and the scaled logit-gradient norm, as the flow's learners
    report it. Applied by `mirror_ascent`."""

    def direction(logits: Policy, tau: jax.Array) -> tuple[Policy, jax.Array]:
        step = natural_direction(game, logits, tau, objective, weighting)
        size = learning_rate * npg_step_size(game, tau, greed)
        # Overflowed entries (a derivative over a weight near REACH_FLOOR) are
        # clipped to finite values before centring, or one inf would make its
        # row nan.
        finite = tuple(
            jnp.nan_to_num(d, posinf=1e30, neginf=-1e30) for d in step.direction
        )
        move = tuple(
            jnp.clip(d * size, -MAX_LOGIT_MOVE, MAX_LOGIT_MOVE)
            for d in centred(finite, game.legal)
        )
        return move, global_norm(step.gradient) / (game.reward_range + tau)

    return direction


def npg_map(
    game: TabularGame, move: Direction, logits: Policy, tau: jax.Array
) -> Policy:
    """One NPG step of `move` (`npg_direction`) as a map of the logits (no
    noise, no projection): the map whose fixed points and Jacobian the
    convergence check measures."""
    return mirror_step(logits, move(logits, tau)[0], game.legal)


class Ascent(NamedTuple):
    """How a direction moves the logits, optax-style: `init(logits)` is the
    state it keeps, `apply(logits, direction, state) -> (logits, state)` one
    step."""

    init: Callable[[Policy], optax.OptState]
    apply: Callable[[Policy, Policy, optax.OptState], tuple[Policy, optax.OptState]]


def optax_ascent(optimizer: optax.GradientTransformation) -> Ascent:
    """Ascent along the direction through an optax optimizer (which minimizes:
    it is given the direction negated)."""

    def apply(
        logits: Policy, direction: Policy, state: optax.OptState
    ) -> tuple[Policy, optax.OptState]:
        ascent = jax.tree.map(jnp.negative, direction)
        updates, state = optimizer.update(ascent, state, logits)
        return optax.apply_updates(logits, updates), state

    return Ascent(optimizer.init, apply)


def mirror_ascent(legal: Policy | None) -> Ascent:
    """The mirror step theta + move, centred over the legal actions (NPG's).
    It keeps no state of its own and carries plain SGD's (empty) one, so that
    the states of an SGD learner and of its NPG continuation are one pytree and
    pass between them (`marl.tabular.convergence`)."""
    return Ascent(
        optax.sgd(1.0).init,
        lambda logits, move, state: (mirror_step(logits, move, legal), state),
    )


def add_noise(
    direction: Policy, key: jax.Array, scale: float
) -> tuple[Policy, jax.Array]:
    """The direction plus N(0, scale^2) per entry, and the key carried on (at
    scale 0 the key is untouched: no threefry in the program)."""
    if scale == 0:
        return direction, key
    key, noise_key = jax.random.split(key)
    keys = jax.random.split(noise_key, len(direction))
    return tuple(
        d + scale * jax.random.normal(k, d.shape)
        for d, k in zip(direction, keys, strict=True)
    ), key


def init_state(
    game: TabularGame,
    opt_init: Callable[[Policy], optax.OptState],
    *,
    key: jax.Array,
    scale: float,
) -> PGState:
    """Random N(0, scale^2) logits, a fresh optimizer state (`opt_init`) and a
    key for the learner's own randomness (gradient noise or episode sampling)."""
    init_key, own_key = jax.random.split(key)
    logits = init_logits(game, key=init_key, scale=scale)
    grad_norm = jnp.asarray(jnp.inf, jnp.float32)  # strongly typed, like the updates'
    return PGState(logits, opt_init(logits), grad_norm, own_key)


def compose(
    game: TabularGame,
    direction: Direction,
    ascent: Ascent,
    *,
    init_scale: float,
    grad_noise: float = 0.0,
    projection: Callable[[Policy], Policy] | None = None,
) -> Learner:
    """An exact learner as an `(init, update)` pair, chained optax-style: each
    step takes the `direction` (gradient or natural), adds `grad_noise`, moves
    by the `ascent` (an optax optimizer or the mirror step) and applies the
    `projection` (the equivariant subspace, or none)."""

    def init(key: jax.Array) -> PGState:
        return init_state(game, ascent.init, key=key, scale=init_scale)

    def update(state: PGState, tau: jax.Array) -> tuple[PGState, None]:
        move, norm = direction(state.logits, tau)
        move, key = add_noise(move, state.key, grad_noise)
        logits, opt_state = ascent.apply(state.logits, move, state.opt_state)
        if projection is not None:
            logits = projection(logits)
        return PGState(logits, opt_state, norm, key), None

    return Learner(init, update, update_bytes(game))


def npg_learner(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
    *,
    learning_rate: float,
    greed: float,
) -> Learner:
    """`config`'s learner (objective, weighting, noise, projection) with NPG's
    direction and mirror step at `learning_rate` and `greed`, whatever its own
    optimizer: the convergence check's continuation."""
    objective = make_objective(game, config, symmetries)
    move = npg_direction(
        game,
        objective,
        config.entropy_weighting,
        learning_rate=learning_rate,
        greed=greed,
    )
    return compose(game, move, mirror_ascent(game.legal), **extras(config, symmetries))


def extras(
    config: ExactPGConfig, symmetries: PolicySymmetries | None
) -> dict[str, Any]:
    """`compose`'s keywords of a config: the initial scale, the gradient noise and
    the equivariant projection (`stay_equivariant`, which needs `symmetries`)."""
    projection = None
    if config.stay_equivariant:
        if symmetries is None:
            raise ValueError("stay_equivariant needs the game's symmetries")
        projection = functools.partial(project, symmetries=symmetries)
    return {
        "init_scale": config.init_scale,
        "grad_noise": config.grad_noise,
        "projection": projection,
    }


def make_exact_pg(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Learner:
    """The exact learner for `game` as an `(init, update)` pair, composed from
    `config` (`compose`): NPG's direction and mirror step, or the gradient
    through optax's SGD or Adam. `symmetries` (the group keeping agents in
    place) is needed by Other-Play and `stay_equivariant`."""
    if config.optimizer == "npg":
        return npg_learner(
            game,
            config,
            symmetries,
            learning_rate=config.learning_rate,
            greed=config.npg_greed,
        )
    objective = make_objective(game, config, symmetries)
    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    return compose(
        game,
        gradient_direction(game, objective),
        optax_ascent(optimizer),
        **extras(config, symmetries),
    )


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
