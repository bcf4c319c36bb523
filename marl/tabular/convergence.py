"""Convergence checks for the exact learner, without windows (the runs that
continue until every seed passes one are `marl.tabular.converging`'s). The
check is an estimate, not a proof (the proofs are `marl.tabular.verified`'s,
for 2-player matrix games).

A seed at a constant tau is *converged* to a fixed point when its logits theta
satisfy, for the entropy-regularized natural policy-gradient map U (one NPG step
of learning rate CHECK_RATE, `marl.tabular.exact_pg.npg_map`, whose fixed points
are the gradient flow's):

  estimated distance = step / (1 - contraction) < policy_tol,

all in one norm, the largest first-order total-variation change a logit move
makes to the policy at an information state the objective weighs (`tv_size`):
`step` is U's move in it, and `contraction` estimates the spectral radius of U's
Jacobian there by POWER_ITERATIONS steps of power iteration on Jacobian-vector
products in that norm (restricted to the logit directions that change the
policy: weighed information states, actions likelier than VISIBLE_PROB, no
shift of a row), taking the largest growth ratio of the last POWER_WINDOW
steps plus its drift from the window before, and only once that drift is
small (SETTLE_FRACTION). A Euclidean power
iteration over all logits, the estimate before, read 1.02 after 48 steps at
fixed points of spectral radius 0.998 (qmix_two_step at tau = 0.001: transient
growth of a non-normal map, and logits of vanishing actions decaying at the
slowest rate), so it called them saddles.

Were U a contraction of that rate on a ball around theta holding the fixed
point, Banach's a-posteriori bound would make the distance at most
step / (1 - contraction). What is measured is the rate at theta alone, so the
distance is an estimate: near a fold the rate can change within the ball
(docs/tabular.md, "Proven or estimated"). It does catch what matters most in
practice: a seed creeping towards a fixed point near a fold (critical slowing
down: tiny steps and a contraction near 1) is not converged until it is truly
there, and a saddle (contraction above 1) never is. Contraction below 1 also
makes the fixed point a strict local maximum of J_tau, the flow's stable kind:
U's Jacobian is I + eta F^-1 H, F the Fisher information, H the Hessian of
J_tau. Nothing is dense, so the check costs the same at any size: about
3 * POWER_ITERATIONS gradient evaluations, run once a run's every seed has a
step below policy_tol. States reached with probability at most REACH_FLOOR
are not weighed, by the step, the contraction or the update.

At tau = 0 a pure equilibrium is a fixed point only as a limit (the logits grow
for ever and the Jacobian is the identity to float32 precision), so there (and
at taus up to NEUTRAL_TAU reward ranges) a seed is converged when its step is
below policy_tol and its settled contraction is at most 1 + NEUTRAL_SLACK: mixed
saddles, whose Jacobian grows some direction, are still refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.tabular import TabularGame
from marl.tabular.equivariance import PolicySymmetries
from marl.tabular.exact import Policy, softmax_policy
from marl.tabular.exact_pg import (
    REACH_FLOOR,
    Direction,
    ExactPGConfig,
    entropy_weights,
    make_objective,
    npg_direction,
    npg_map,
    update_bytes,
)
from marl.trainer import (
    MEMORY_BUDGET_BYTES,
    global_norm,
)

CHECK_RATE = 0.5
"""Learning rate of the NPG map the convergence check measures: half a step towards
softmax(Q / tau), so a stable fixed point's Jacobian has its eigenvalues in
(0, 1) where the learner's rate-1 map might overshoot."""
POWER_ITERATIONS = 48
"""Jacobian-vector products per contraction estimate, at first."""
MAX_POWER_DOUBLINGS = 3
"""A run checked again after an unsettled estimate runs twice the power
iterations of its last check, up to 2**MAX_POWER_DOUBLINGS x POWER_ITERATIONS
(`power_iterations`): where a second eigenvalue lies close to the first (0.92
against 0.95 on box pushing at tau = 1.8, whose seeds sit at steps of 1e-7),
48 iterations leave the ratios drifting at every check, and the same check
(same start, same point) repeated for thousands of steps settles nothing."""
VISIBLE_PROB = 1e-7
"""Actions less likely than this are left out of the contraction's directions:
to first order they change the policy by less than float32 resolves near
probability one (6e-8)."""
POWER_WINDOW = 8
"""The last power iterations whose growth ratios make the estimate: the
contraction is their largest; the largest of the POWER_WINDOW before is its
convergence test. (A map with complex or alternating leading eigenvalues makes
the ratios oscillate from one iteration to the next, in a TV norm even near a
fixed point; the largest over a window is steady where single ratios are not.)"""
SETTLE_FRACTION = 0.5
"""The power iteration has settled when the largest growth ratios of its last
two windows of POWER_WINDOW iterations differ (their drift) by at most
SETTLE_FRACTION x |1 - rate| (or NEUTRAL_SLACK, whichever is wider), and the
contraction reported is the last window's largest plus that drift: the trend
carried one window on. Where the ratios converge geometrically by half a window
per window (a second eigenvalue 0.92 of the first; box pushing at tau = 3 is
so), the drift left is about the drift seen, so 1 - contraction is not
overstated. An unsettled estimate converges no seed; the run continues and is
checked again, with more iterations (MAX_POWER_DOUBLINGS)."""
MOST_POWER_ITERATIONS = POWER_ITERATIONS * 2**MAX_POWER_DOUBLINGS
"""The most power iterations a check runs (`power_iterations`)."""
NEUTRAL_SLACK = 1e-3
"""At tau = 0, how far above 1 the contraction of a pure equilibrium may read."""
NEUTRAL_TAU = 1e-4
"""Seeds at taus up to this many reward ranges are checked as at tau = 0: there the
fixed points are pure to within float32's resolution of the soft values, and
the contraction 1 - O(tau / range) cannot be told from 1."""
JVP_FACTOR = 3
"""Memory of a Jacobian-vector product of the NPG map over a gradient's."""
policies_of = jax.jit(softmax_policy)
"""Softmax of a batch of logits (and the game's legal actions, or None), one
compiled program per shape."""


class Convergence(NamedTuple):
    """Per run r (a tau) and seed n of a grid, at its end."""

    converged: np.ndarray  # bool[R, N]
    grad_norm: np.ndarray  # float[R, N], scaled, at the last step
    step: np.ndarray  # float[R, N], policy change of one check step (inf: unchecked)
    contraction: np.ndarray  # float[R, N], spectral radius estimate (nan: unchecked)
    settled: np.ndarray  # bool[R, N], the power iteration passed its test
    distance: np.ndarray  # float[R, N], estimated distance to the fixed point
    steps: np.ndarray  # int[R], steps run


@jax.jit
def policy_change(before: Policy, after: Policy) -> jax.Array:
    """float[...]: the largest total-variation distance between two batches of
    policies (per agent [..., K_i, A_i]) at any information state."""
    per_agent = [
        0.5 * jnp.max(jnp.sum(jnp.abs(a - b), axis=-1), axis=-1)
        for a, b in zip(before, after, strict=True)
    ]
    return jnp.max(jnp.stack(per_agent), axis=0)


def check_move(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Direction:
    """The move of the NPG map the convergence check measures: the learner's
    objective and weighting, learning rate CHECK_RATE, no noise, and the default
    greed (larger steps resolve smaller distances in float32)."""
    return npg_direction(
        game,
        make_objective(game, config, symmetries),
        config.entropy_weighting,
        learning_rate=CHECK_RATE,
        greed=ExactPGConfig.npg_greed,
    )


def weighed_rows(
    game: TabularGame, logits: Policy, config: ExactPGConfig
) -> tuple[jax.Array, ...]:
    """Per agent bool[K_i]: the information states the objective weighs."""
    weights = entropy_weights(
        game, softmax_policy(logits, game.legal), config.entropy_weighting
    )
    return tuple(w > REACH_FLOOR for w in weights)


def tv_size(policy: Policy, move: Policy, rows: tuple[jax.Array, ...]) -> jax.Array:
    """float[]: the largest total-variation change that the logit move m makes to
    `policy` at an information state of `rows` (per agent bool[K_i]), to first
    order: max 0.5 sum_a |pi_a (m_a - <pi, m>)|. The one norm of the check: of
    its step, of its power iteration and so of its distance estimate."""
    changes = [
        jnp.max(
            jnp.where(
                r,
                0.5
                * jnp.sum(
                    jnp.abs(pi * (m - jnp.sum(pi * m, axis=-1, keepdims=True))),
                    axis=-1,
                ),
                0.0,
            )
        )
        for pi, m, r in zip(policy, move, rows, strict=True)
    ]
    return jnp.max(jnp.stack(changes))


def check_step(
    game: TabularGame,
    logits: Policy,
    tau: jax.Array,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> jax.Array:
    """float[]: the `tv_size` of one check step's logit move (the convergence
    check's `step`). Computed from the move itself rather than as a difference of
    two policies, it stays accurate where the policies' float32 rounding (about
    1e-7) would swamp it."""
    move = check_move(game, config, symmetries)(logits, tau)[0]
    policy = softmax_policy(logits, game.legal)
    return tv_size(policy, move, weighed_rows(game, logits, config))


def contraction(
    game: TabularGame,
    logits: Policy,
    tau: jax.Array,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
    *,
    key: jax.Array,
    iterations: int | jax.Array = POWER_ITERATIONS,
) -> tuple[jax.Array, jax.Array]:
    """(float[], bool[]): the spectral radius of the check map's Jacobian at
    `logits` on the logit directions that change the policy, by `iterations`
    steps of power iteration on Jacobian-vector products (from 2 x
    POWER_WINDOW to MOST_POWER_ITERATIONS, traced or not: one program for every
    count), measured in the step's norm (`tv_size`): the largest growth ratio
    of the last POWER_WINDOW iterations plus its drift from the largest of the
    window before; and whether that drift is small (SETTLE_FRACTION). The
    directions are those of
    the weighed information states' actions likelier than VISIBLE_PROB, each
    row's probability-weighted mean taken out (a shift of a row's logits
    changes no policy): the rest can change the policy by no more than float32
    resolves, but at small tau their logits decay at the Jacobian's slowest
    rate, 1 - eta tau, which a power iteration over them would report instead
    of the policy's."""
    weighed = weighed_rows(game, logits, config)
    policy = softmax_policy(logits, game.legal)
    visible = tuple(
        r[:, None] & (pi > VISIBLE_PROB) for r, pi in zip(weighed, policy, strict=True)
    )

    def restrict(v: Policy) -> Policy:
        # Probabilities that underflowed to 0 in float32 give 0 * inf = nan in the
        # second derivatives of their entropy; their true tangent is ~0.
        kept = tuple(
            jnp.where(m & jnp.isfinite(x), x, 0.0)
            for x, m in zip(v, visible, strict=True)
        )
        return tuple(
            jnp.where(m, x - jnp.sum(pi * x, axis=-1, keepdims=True), 0.0)
            for x, pi, m in zip(kept, policy, visible, strict=True)
        )

    move = check_move(game, config, symmetries)

    def apply(v: Policy) -> Policy:
        def mapped(x: Policy) -> Policy:
            return npg_map(game, move, x, tau)

        return restrict(jax.jvp(mapped, (logits,), (v,))[1])

    def unit(v: Policy) -> Policy:
        scale = jnp.maximum(global_norm(v), 1e-30)
        return tuple(x / scale for x in v)

    keys = jax.random.split(key, len(logits))
    start = unit(
        restrict(
            tuple(
                jax.random.normal(k, x.shape) for k, x in zip(keys, logits, strict=True)
            )
        )
    )

    def iterate(v: Policy, _) -> tuple[Policy, jax.Array]:
        # Scaled to Euclidean length 1 (numerically steady); the growth is the
        # ratio of the step's norm after and before, as if scaled in that norm.
        after = apply(v)
        size = jnp.maximum(tv_size(policy, v, weighed), 1e-30)
        return unit(after), tv_size(policy, after, weighed) / size

    def body(i: jax.Array, carry: tuple[Policy, jax.Array]) -> tuple:
        v, growth = carry
        v, ratio = iterate(v, None)
        return v, growth.at[i].set(ratio)

    count = jnp.asarray(iterations, jnp.int32)
    _, growth = jax.lax.fori_loop(
        0, count, body, (start, jnp.zeros(MOST_POWER_ITERATIONS, jnp.float32))
    )
    last = jax.lax.dynamic_slice_in_dim(growth, count - POWER_WINDOW, POWER_WINDOW)
    before = jax.lax.dynamic_slice_in_dim(
        growth, count - 2 * POWER_WINDOW, POWER_WINDOW
    )
    rate = jnp.max(last)
    drift = jnp.abs(rate - jnp.max(before))
    width = jnp.maximum(SETTLE_FRACTION * jnp.abs(1.0 - rate), NEUTRAL_SLACK)
    return rate + drift, drift <= width


class TrainingProgress(NamedTuple):
    """Where `train_until_converged` is, after each window (for a caller to
    show: marl/ does not log)."""

    label: str
    step: int  # the most steps any tau has run
    max_steps: int
    elapsed: float  # seconds since the start
    compiled: tuple[float, int]  # (elapsed, step) after the first window
    converged: int  # seeds converged, over every tau
    seeds: int  # seeds x taus
    measuring: int = 0  # > 0: the runs whose contraction is about to be measured
    iterations: int = 0  # and its power iterations


def converged_by(
    step: np.ndarray,
    radius: np.ndarray,
    settled: np.ndarray,
    taus: np.ndarray,
    config: ExactPGConfig,
    reward_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(converged bool[R, N], distance float[R, N]) from the check's step,
    contraction and whether its power iteration settled, per seed (see the
    module docstring; taus at most NEUTRAL_TAU reward ranges count as tau = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(settled & (radius < 1.0), step / (1.0 - radius), np.inf)
    tiny = np.asarray(taus)[:, None] <= NEUTRAL_TAU * reward_range
    neutral = tiny & settled & (radius <= 1.0 + NEUTRAL_SLACK)
    converged = (distance < config.policy_tol) | (neutral & (step < config.policy_tol))
    return converged, np.where(neutral & ~np.isfinite(distance), step, distance)


class Checks(NamedTuple):
    """The convergence check's two measurements over a grid's seeds, compiled once."""

    step: Callable[[Policy, np.ndarray, np.ndarray], np.ndarray]
    """(logits per agent [R, N, K_i, A_i], runs int[M], their taus float[M]) ->
    step float[M, N]"""
    contraction: Callable[..., tuple[np.ndarray, np.ndarray]]
    """(logits, runs, taus, iterations=POWER_ITERATIONS) -> (contraction
    float[M, N], settled bool[M, N])"""


@partial(jax.jit, static_argnames=("padded", "size"))
def seed_chunk(
    logits: Policy, run: jax.Array, start: jax.Array, *, padded: int, size: int
) -> Policy:
    """Seeds [start, start + size) of run `run` of a grid's logits (per agent
    [R, N, K_i, A_i]), its N seeds first padded to `padded` by repeating its first:
    one program per grid shape, whichever run and chunk (no shape depends on
    which runs a check measures, so checking a few runs compiles nothing new)."""

    def one(x: jax.Array) -> jax.Array:
        seeds = x[run]
        seeds = jnp.concatenate([seeds, jnp.repeat(seeds[:1], padded - len(seeds), 0)])
        return jax.lax.dynamic_slice_in_dim(seeds, start, size)

    return tuple(one(x) for x in logits)


def make_checks(
    game: TabularGame,
    config: ExactPGConfig,
    symmetries: PolicySymmetries | None = None,
) -> Checks:
    """`check_step` and `contraction` for every seed of the runs asked for: runs
    one after another, seeds vmapped in chunks that fit MEMORY_BUDGET_BYTES (a
    contraction estimate holds about JVP_FACTOR gradient evaluations' memory)."""

    def step_one(logits: Policy, tau: jax.Array) -> jax.Array:
        return check_step(game, logits, tau, config, symmetries)

    def radius_one(
        logits: Policy, tau: jax.Array, key: jax.Array, iterations: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        return contraction(
            game, logits, tau, config, symmetries, key=key, iterations=iterations
        )

    # One program for every count of power iterations (`power_iterations`).
    radii = jax.jit(jax.vmap(radius_one, in_axes=(0, None, 0, None)))

    steps_of = jax.jit(jax.vmap(step_one, in_axes=(0, None)))
    chunk = int(
        np.clip(MEMORY_BUDGET_BYTES // max(JVP_FACTOR * update_bytes(game), 1), 1, 4096)
    )

    def per_run(function: Callable, *, keyed: bool) -> Callable:
        """`function` over runs and seed chunks (with a key per chunk and the
        power iterations where `keyed`): an array [M, N] per output."""

        def measure(
            logits: Policy,
            runs: np.ndarray,
            taus: np.ndarray,
            iterations: int = POWER_ITERATIONS,
        ) -> tuple:
            if not 2 * POWER_WINDOW <= iterations <= MOST_POWER_ITERATIONS:
                raise ValueError(f"{iterations} power iterations: out of range")
            num_seeds = logits[0].shape[1]
            size = min(chunk, num_seeds)
            padded = -(-num_seeds // size) * size
            keys = jax.random.split(jax.random.key(0), padded).reshape(-1, size)
            outs: list[np.ndarray] = []
            for i, (r, tau) in enumerate(zip(runs, taus, strict=True)):
                for k in range(0, padded, size):
                    part = seed_chunk(
                        logits, np.int32(r), np.int32(k), padded=padded, size=size
                    )
                    extra = (keys[k // size], np.int32(iterations)) if keyed else ()
                    got = function(part, np.float32(tau), *extra)
                    got = got if isinstance(got, tuple) else (got,)
                    if not outs:
                        outs = [np.zeros((len(runs), padded), x.dtype) for x in got]
                    for out, x in zip(outs, got, strict=True):
                        out[i, k : k + size] = np.asarray(x)
            return tuple(out[:, :num_seeds] for out in outs)

        return measure

    step_of, contraction_of = (
        per_run(steps_of, keyed=False),
        per_run(radii, keyed=True),
    )
    return Checks(lambda *args: step_of(*args)[0], contraction_of)


def power_iterations(unsettled_checks: int) -> int:
    """The power iterations of a run's next contraction check after that many
    checks in a row that left a seed unsettled (MAX_POWER_DOUBLINGS)."""
    return POWER_ITERATIONS * 2 ** min(unsettled_checks, MAX_POWER_DOUBLINGS)


def measure(
    checks: Checks,
    logits: Policy,
    runs: np.ndarray,
    taus: np.ndarray,
    tol: float,
    iterations: int = POWER_ITERATIONS,
    before: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, contraction, settled), each [M, N], of runs `runs` (at `taus`):
    every seed's step, and the contraction (`iterations` power iterations) of
    the runs whose every seed has a step below `tol` (nan and not settled for
    the others: unchecked). `before` hears how many runs' contraction is
    measured, before it is (the longest part of a check)."""
    step = checks.step(logits, runs, taus)
    radius = np.full(step.shape, np.nan, np.float32)
    settled = np.zeros(step.shape, bool)
    small = (step < tol).all(axis=1)
    if small.any():
        if before is not None:
            before(int(small.sum()))
        radius[small], settled[small] = checks.contraction(
            logits, runs[small], taus[small], iterations
        )
    return step, radius, settled
