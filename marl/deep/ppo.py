"""Proximal policy optimization's pieces, independent of the game: generalized
advantage estimation, the clipped loss and the entropy bonus's accounting.

`marl.deep.ippo` builds its learner from them; tests check them directly.
Shapes: T steps, B decisions, A actions; `...` any leading shape.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from marl.deep.networks import action_log_prob, masked_entropy

ENTROPY_ACCOUNTINGS = ("acting", "all_agents")
"""What `entropy_term` can reward: see its docstring and docs/ippo.md."""


class PPOBatch(NamedTuple):
    """The per-decision inputs of `ppo_loss`, any leading shape [...]."""

    legal: jax.Array  # bool[..., A]
    action: jax.Array  # int32[...]
    log_prob: jax.Array  # float32[...]: log pi_old(action)
    value: jax.Array  # float32[...]: V_old
    advantage: jax.Array  # float32[...]
    target: jax.Array  # float32[...]: value target (GAE advantage + V_old)


class LossInfo(NamedTuple):
    """Scalars describing one `ppo_loss` evaluation."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array  # mean entropy per acting decision, whatever the accounting
    approx_kl: jax.Array  # mean of (r - 1) - log r, an estimate of KL(old || new)
    clip_fraction: jax.Array  # fraction of decisions with |r - 1| > clip_eps


def gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    last_value: jax.Array,
    gamma: float | jax.Array,
    lam: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimates and value targets, a reverse `lax.scan`.

    rewards, values: float[T, ...]; dones: bool[T, ...] (the episode ended with
    step t, so nothing is bootstrapped across it); last_value: float[...], the value
    of the state after the last step. Returns (advantages, targets), float[T, ...]:

        delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t
        A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}       (A_T = 0)
        target_t = A_t + V_t                                 (the lambda-return)

    Schulman et al. 2016, "High-dimensional continuous control using generalized
    advantage estimation", Eq. 16, with the sum cut at episode ends.
    """
    not_done = 1.0 - dones.astype(values.dtype)
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + gamma * next_values * not_done - values

    def body(
        next_advantage: jax.Array, step: tuple[jax.Array, jax.Array]
    ) -> tuple[jax.Array, jax.Array]:
        delta, keep = step
        advantage = delta + gamma * lam * keep * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        body, jnp.zeros_like(last_value), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values


def entropy_term(entropy: jax.Array, accounting: str, num_players: int) -> jax.Array:
    """The entropy the bonus rewards, from the acting decisions' entropies float[B].

    'acting': mean_b H_b, the mean over acting decisions.
    'all_agents': the mean over all B P seat rows of the B steps, where the P - 1
    waiting seats' rows are a forced no-op with entropy 0 (JaxMARL's Hanabi gives a
    waiting seat exactly one legal action, the no-op, and averages `pi.entropy()`
    over every seat's row): sum_b H_b / (B P), the acting mean divided by P.
    `num_players` is the seat rows per decision: P in a turn-based game, 1 in a
    simultaneous-move one (every row decides; `marl.deep.ippo` passes P / D).
    """
    if accounting == "acting":
        return jnp.mean(entropy)
    if accounting == "all_agents":
        return jnp.mean(entropy) / num_players
    raise ValueError(f"unknown entropy accounting {accounting!r}")


def ppo_loss(
    logits: jax.Array,
    values: jax.Array,
    batch: PPOBatch,
    *,
    ent_coef: float | jax.Array,
    clip_eps: float,
    vf_coef: float,
    clip_value: bool = True,
    entropy_accounting: str = "acting",
    num_players: int = 2,
) -> tuple[jax.Array, LossInfo]:
    """PPO's loss on a batch of acting decisions, to be minimized.

    logits: float[..., A] (unmasked; masked here by `batch.legal`); values:
    float[...]. With r = pi(a) / pi_old(a) and advantages A:

        L_clip = -mean min(r A, clip(r, 1 - eps, 1 + eps) A)
        L_V = 1/2 mean max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2)
        L = L_clip + c_V L_V - c_H entropy_term(H)

    (Schulman et al. 2017, Eq. 7 and Eq. 9; the clipped value loss is PPO2's. With
    `clip_value=False`, L_V = 1/2 mean (V - G)^2.) Advantages are used as given
    (standardize them before, see `IPPOConfig.normalize_advantages`).
    """
    log_prob = action_log_prob(logits, batch.legal, batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    policy_loss = -jnp.mean(
        jnp.minimum(ratio * batch.advantage, clipped_ratio * batch.advantage)
    )
    squared = jnp.square(values - batch.target)
    if clip_value:
        clipped = batch.value + jnp.clip(values - batch.value, -clip_eps, clip_eps)
        squared = jnp.maximum(squared, jnp.square(clipped - batch.target))
    value_loss = 0.5 * jnp.mean(squared)
    entropy = masked_entropy(logits, batch.legal)
    bonus = entropy_term(entropy, entropy_accounting, num_players)
    loss = policy_loss + vf_coef * value_loss - ent_coef * bonus
    info = LossInfo(
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy=jnp.mean(entropy),
        approx_kl=jnp.mean((ratio - 1.0) - log_ratio),
        clip_fraction=jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
    )
    return loss, info
