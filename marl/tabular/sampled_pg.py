"""Sampled policy gradient on tabular games: REINFORCE with a baseline and an
entropy bonus, optionally with PPO's clipped objective.

Episodes are drawn exactly from the compiled game: a terminal history z is sampled
with probability P(z) under the current joint policy, which gives its return and
every agent's (information state, action) decisions. Unlike the exact gradient,
the sampled one breaks exact symmetries, so it shows what noise does to the
picture at each tau.

REINFORCE: Williams 1992. PPO: Schulman et al. 2017, Eq. 7 (clipped surrogate).
The advantage is the entropy-regularized return of the sampled history minus a
leave-one-out baseline, so that REINFORCE's expected gradient is the exact
gradient of J_tau with the `reach` weighting at every tau (`surrogate`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from games.tabular import TabularGame
from marl.fields import check_fields
from marl.tabular.exact import Policy, history_probs, infostate_entropy, softmax_policy
from marl.tabular.exact_pg import PGState, init_state, make_optimizer
from marl.trainer import Learner, global_norm


@dataclasses.dataclass(frozen=True)
class SampledPGConfig:
    """Hyperparameters of the sampled learner."""

    steps: int = 5000
    """Policy updates per run (each on a fresh batch of episodes)."""
    batch_size: int = 64
    """Episodes sampled per update."""
    learning_rate: float = 0.5
    """Step size, in units of 1 / (reward_range + tau), as for the exact learner."""
    optimizer: str = "sgd"
    """'sgd' or 'adam'."""
    init_scale: float = 1.0
    """sigma of the N(0, sigma^2) initial logits."""
    clip: float = 0.0
    """PPO clip epsilon; 0 gives plain REINFORCE with a baseline."""
    epochs: int = 1
    """Gradient steps per batch (PPO reuses a batch; REINFORCE needs 1)."""

    def __post_init__(self) -> None:
        rules = {
            "steps": (self.steps >= 1, "must be >= 1"),
            "batch_size": (self.batch_size >= 2, "must be >= 2 for a baseline"),
            "learning_rate": (self.learning_rate > 0, "must be > 0"),
            "optimizer": (self.optimizer in ("sgd", "adam"), "must be 'sgd' or 'adam'"),
            "init_scale": (self.init_scale >= 0, "must be >= 0"),
            "clip": (self.clip >= 0, "must be >= 0"),
            "epochs": (
                self.epochs >= 1 and (self.clip > 0 or self.epochs == 1),
                "must be 1 without PPO clipping, >= 1 with it",
            ),
        }
        check_fields(self, rules, "sampled.")


def sample_histories(
    game: TabularGame, policy: Policy, *, key: jax.Array, batch_size: int
) -> jax.Array:
    """int[B] terminal histories drawn from P(z) under `policy` by inverting the
    cumulative distribution (B uniforms instead of B x Z Gumbel draws)."""
    cumulative = jnp.cumsum(history_probs(game, policy))
    u = jax.random.uniform(key, (batch_size,)) * cumulative[-1]
    index = jnp.searchsorted(cumulative, u, side="right")
    return jnp.minimum(index, cumulative.shape[0] - 1)


def path_entropy(game: TabularGame, policy: Policy, histories: jax.Array) -> jax.Array:
    """float[B]: the sum of H(pi_i(.|h)) over every decision on each sampled
    history; its expectation is the `reach` entropy term of J_tau."""
    return sum(  # type: ignore[return-value]
        jnp.sum(infostate_entropy(pi)[infostate[histories]], axis=-1)
        for pi, infostate in zip(policy, game.infostate, strict=True)
    )


def surrogate(
    game: TabularGame,
    logits: Policy,
    old_policy: Policy,
    histories: jax.Array,
    tau: jax.Array,
    clip: float,
) -> jax.Array:
    """The batch objective whose gradient is the sampled policy gradient (to ascend).

    Per decision (agent i, step t) of each sampled history z: advantage A(z) times
    log pi (REINFORCE) or PPO's min(ratio A, clip(ratio) A), plus tau times the
    entropy at the visited information state. The advantage is the regularized
    return R(z) + tau S(z), S(z) the entropy summed over z's decisions
    (`path_entropy`, held constant), minus the mean of the other histories'
    (a leave-one-out baseline, independent of z). So the REINFORCE gradient's
    expectation is exactly grad J_tau with the `reach` weighting: the score term
    gives grad E_z[R + tau S] with S held fixed, the bonus term E_z[grad tau S].
    Entropies of decisions before or beside a decision enter its advantage too;
    their score expectation is zero (they are fixed before it is drawn), so they
    add variance, not bias, like the rewards before it.
    """
    policy = softmax_policy(logits, game.legal)
    value = game.returns[histories] + tau * jax.lax.stop_gradient(
        path_entropy(game, policy, histories)
    )
    batch = histories.shape[0]
    advantage = value - (jnp.sum(value) - value) / (batch - 1)
    total = jnp.zeros(())
    for pi, old, infostate, action in zip(
        policy, old_policy, game.infostate, game.action, strict=True
    ):
        h, a = infostate[histories], action[histories]  # [B, T_i]
        prob = pi[h, a]
        if clip > 0:
            ratio = prob / old[h, a]
            gain = jnp.minimum(
                ratio * advantage[:, None],
                jnp.clip(ratio, 1 - clip, 1 + clip) * advantage[:, None],
            )
        else:
            gain = jnp.log(prob) * advantage[:, None]
        bonus = tau * infostate_entropy(pi)[h]
        total = total + jnp.sum(gain + bonus) / batch
    return total


def make_sampled_pg(game: TabularGame, config: SampledPGConfig) -> Learner:
    """The sampled learner as an `(init, update)` pair over `PGState`."""
    optimizer = make_optimizer(config.optimizer, config.learning_rate)

    def init(key: jax.Array) -> PGState:
        return init_state(game, optimizer.init, key=key, scale=config.init_scale)

    def update(state: PGState, tau: jax.Array) -> tuple[PGState, None]:
        key, sample_key = jax.random.split(state.key)
        old_policy = jax.lax.stop_gradient(softmax_policy(state.logits, game.legal))
        histories = sample_histories(
            game, old_policy, key=sample_key, batch_size=config.batch_size
        )
        scale = game.reward_range + tau

        def epoch(carry, _):
            logits, opt_state, _ = carry
            grad = jax.grad(surrogate, argnums=1)(
                game, logits, old_policy, histories, tau, config.clip
            )
            grad = jax.tree.map(lambda g: -g / scale, grad)  # optax minimizes
            updates, opt_state = optimizer.update(grad, opt_state, logits)
            return (
                optax.apply_updates(logits, updates),
                opt_state,
                global_norm(grad),
            ), None

        (logits, opt_state, norm), _ = jax.lax.scan(
            epoch,
            (state.logits, state.opt_state, jnp.zeros(())),
            None,
            length=config.epochs,
        )
        return PGState(logits, opt_state, norm, key), None

    return Learner(init, update)
