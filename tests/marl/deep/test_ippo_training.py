"""IPPO end to end on the JAX Hanabi: it learns, and many seeds run in one jit."""

from __future__ import annotations

import jax
import numpy as np

from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep.ippo import IPPOConfig, make_train, seed_keys

VERY_SMALL = hanabi.make_params("Hanabi-Very-Small", 2)


def test_ippo_improves_over_the_random_policy_on_very_small_hanabi():
    # 40 updates of 64 games x 32 steps per seed, two seeds in one jitted vmap.
    config = IPPOConfig(
        num_envs=64,
        num_steps=32,
        total_timesteps=64 * 32 * 40,
        hidden_sizes=(64, 64),
        lr=1e-3,
    )
    train = jax.vmap(make_train(config, environment(VERY_SMALL)), in_axes=(0, None))
    states, metrics = jax.jit(train)(seed_keys(0, 2), 0.01)
    returns = np.asarray(metrics.return_sum) / np.maximum(metrics.episodes, 1)
    assert returns.shape == (2, 40)
    # The first rollout is played by the initial, near-uniform policy (the policy
    # head starts at 0.01 scale): random play loses its single life quickly.
    first = returns[:, 0]
    last = np.asarray(
        metrics.return_sum[:, -10:].sum(1) / metrics.episodes[:, -10:].sum(1)
    )
    assert np.all(first < 0.2), first
    assert np.all(last > first + 0.5), (first, last)
    entropy = np.asarray(metrics.entropy)
    assert np.all(entropy[:, -1] < entropy[:, 0])
    assert np.all(np.isfinite(np.asarray(metrics.value_loss)))
    assert np.all(np.asarray(states.update) == 40)
