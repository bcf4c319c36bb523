"""IPPO's pieces against hand computations and plain loops: GAE, the PPO loss,
entropy accounting, legal-action masking, the networks and the config."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marl.deep.ippo import IPPOConfig
from marl.deep.networks import (
    _orthonormal_columns,
    action_log_prob,
    make_policy,
    masked_entropy,
    masked_log_probs,
    orthogonal,
    sample_action,
    with_networks,
)
from marl.deep.ppo import PPOBatch, entropy_term, gae, ppo_loss
from marl.fields import ConfigError


def gae_loop(rewards, values, dones, last_value, gamma, lam):
    """Schulman et al. 2016, Eq. 16, one environment at a time, backwards."""
    steps, envs = rewards.shape
    advantages = np.zeros((steps, envs))
    for env in range(envs):
        running = 0.0
        for t in reversed(range(steps)):
            next_value = last_value[env] if t == steps - 1 else values[t + 1, env]
            keep = 1.0 - float(dones[t, env])
            delta = rewards[t, env] + gamma * next_value * keep - values[t, env]
            running = delta + gamma * lam * keep * running
            advantages[t, env] = running
    return advantages, advantages + values


def test_gae_matches_a_python_loop():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(9, 4)).astype(np.float32)
    values = rng.normal(size=(9, 4)).astype(np.float32)
    dones = rng.random((9, 4)) < 0.3
    last_value = rng.normal(size=4).astype(np.float32)
    advantages, targets = gae(
        jnp.asarray(rewards),
        jnp.asarray(values),
        jnp.asarray(dones),
        jnp.asarray(last_value),
        0.9,
        0.8,
    )
    expected, expected_targets = gae_loop(rewards, values, dones, last_value, 0.9, 0.8)
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, expected_targets, rtol=1e-5, atol=1e-5)


def test_gae_lambda_one_gives_the_discounted_return_minus_the_value():
    rewards = jnp.asarray([[1.0], [0.0], [2.0], [1.0]])
    values = jnp.asarray([[0.5], [0.25], [3.0], [1.0]])
    dones = jnp.asarray([[False], [True], [False], [False]])
    _, targets = gae(rewards, values, dones, jnp.asarray([4.0]), 0.5, 1.0)
    # Episode 1 ends at t=1: G_0 = 1 + 0.5 * 0, G_1 = 0; episode 2 is cut at the
    # rollout's end and bootstrapped: G_3 = 1 + 0.5 * 4, G_2 = 2 + 0.5 * G_3.
    np.testing.assert_allclose(targets[:, 0], [1.0, 0.0, 3.5, 3.0])


def test_ppo_loss_on_hand_computed_values():
    logits = jnp.asarray([[0.0, 0.0, 0.0], [0.0, math.log(3.0), 5.0]])
    batch = PPOBatch(
        legal=jnp.asarray([[True, True, True], [True, True, False]]),
        action=jnp.asarray([0, 1]),
        log_prob=jnp.log(jnp.asarray([0.25, 0.5])),
        value=jnp.asarray([0.5, 0.5]),
        advantage=jnp.asarray([1.0, -2.0]),
        target=jnp.asarray([2.0, 0.0]),
    )
    values = jnp.asarray([1.0, 0.0])
    loss, info = ppo_loss(
        logits, values, batch, ent_coef=0.01, clip_eps=0.2, vf_coef=0.5
    )
    # pi = (1/3, 1/3, 1/3) and (1/4, 3/4, 0): ratios 4/3 and 3/2, both clipped.
    # Surrogates: min(4/3 * 1, 1.2 * 1) = 1.2; min(1.5 * -2, 1.2 * -2) = -3.
    assert info.policy_loss == pytest.approx(-(1.2 - 3.0) / 2, rel=1e-6)
    # Values clipped to 0.5 +- 0.2: max((1-2)^2, (0.7-2)^2) = 1.69 and
    # max((0-0)^2, (0.3-0)^2) = 0.09.
    assert info.value_loss == pytest.approx(0.5 * (1.69 + 0.09) / 2, rel=1e-5)
    entropy = (math.log(3) + (0.25 * math.log(4) + 0.75 * math.log(4 / 3))) / 2
    assert info.entropy == pytest.approx(entropy, rel=1e-6)
    kl = ((1 / 3 - math.log(4 / 3)) + (0.5 - math.log(1.5))) / 2
    assert info.approx_kl == pytest.approx(kl, rel=1e-5)
    assert info.clip_fraction == 1.0
    assert loss == pytest.approx(0.9 + 0.5 * 0.445 - 0.01 * entropy, rel=1e-6)
    _, unclipped = ppo_loss(
        logits,
        values,
        batch,
        ent_coef=0.01,
        clip_eps=0.2,
        vf_coef=0.5,
        clip_value=False,
    )
    assert unclipped.value_loss == pytest.approx(0.5 * (1.0 + 0.0) / 2)


def test_ppo_loss_gradient_is_the_policy_gradient_inside_the_clip_range():
    # At r = 1 (new = old policy) the clipped surrogate's gradient is
    # -A grad log pi(a); with one decision, A = 1 and no other terms:
    # d/dz_j [-log softmax(z)_a] = pi_j - [j == a].
    logits = jnp.asarray([[0.3, -0.2, 0.1]])
    legal = jnp.ones((1, 3), bool)
    old = action_log_prob(logits, legal, jnp.asarray([2]))
    batch = PPOBatch(
        legal, jnp.asarray([2]), old, jnp.zeros(1), jnp.ones(1), jnp.zeros(1)
    )

    def loss(z):
        return ppo_loss(z, jnp.zeros(1), batch, ent_coef=0.0, clip_eps=0.2, vf_coef=0)[
            0
        ]

    expected = jax.nn.softmax(logits) - jnp.asarray([[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(jax.grad(loss)(logits), expected, rtol=1e-5, atol=1e-7)


def test_entropy_accounting_both_ways_on_a_hand_made_batch():
    # Two steps of a 2-player game with 3 actions. JaxMARL's encoding adds a 4th
    # action, the no-op, the only legal action of the waiting seat.
    legal = jnp.asarray(
        [
            [[True, True, True, False], [False, False, False, True]],  # seat 0 acts
            [[False, False, False, True], [True, False, True, False]],  # seat 1 acts
        ]
    )
    logits = jnp.asarray(
        [
            [[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 0.5]],
            [[0.2, 0.1, 0.3, -1.0], [0.7, 9.0, 0.7, 0.0]],
        ]
    )
    acting = jnp.asarray([[True, False], [False, True]])
    rows = masked_entropy(logits, legal)  # [steps, seats]
    np.testing.assert_allclose(rows[~acting], 0.0, atol=1e-7)  # forced no-ops
    decisions = rows[acting]
    np.testing.assert_allclose(decisions, [math.log(3), math.log(2)], rtol=1e-6)

    per_decision = entropy_term(decisions, "acting", num_players=2)
    all_agents = entropy_term(decisions, "all_agents", num_players=2)
    assert per_decision == pytest.approx((math.log(3) + math.log(2)) / 2, rel=1e-6)
    assert all_agents == pytest.approx((math.log(3) + math.log(2)) / 4, rel=1e-6)
    # JaxMARL's `pi.entropy().mean()` over every seat's row is the same number.
    assert all_agents == pytest.approx(float(rows.mean()), rel=1e-6)

    # In the loss the difference is exactly ent_coef * (H - H / P).
    batch = PPOBatch(
        legal[acting][:, :3],
        jnp.asarray([0, 2]),
        jnp.log(jnp.asarray([1 / 3, 1 / 2])),
        jnp.zeros(2),
        jnp.zeros(2),
        jnp.zeros(2),
    )
    kwargs = dict(ent_coef=0.1, clip_eps=0.2, vf_coef=0.5, num_players=2)
    acting_loss, _ = ppo_loss(logits[acting][:, :3], jnp.zeros(2), batch, **kwargs)
    all_loss, _ = ppo_loss(
        logits[acting][:, :3],
        jnp.zeros(2),
        batch,
        entropy_accounting="all_agents",
        **kwargs,
    )
    gap = float(all_loss - acting_loss)
    assert gap == pytest.approx(0.1 * float(per_decision - all_agents), rel=1e-5)


def test_masking_guard_keeps_an_all_masked_row_finite():
    logits = jnp.asarray([[1.0, -2.0, 0.5, 3.0], [0.1, 0.2, 0.3, 0.4]])
    legal = jnp.asarray([[False, False, False, False], [False, True, False, True]])
    log_probs = masked_log_probs(logits, legal)
    assert bool(jnp.all(jnp.isfinite(log_probs[0])))  # guard: uniform over all
    np.testing.assert_allclose(jnp.exp(log_probs[0]), 0.25, rtol=1e-6)
    assert bool(jnp.all(jnp.isneginf(log_probs[1, jnp.asarray([0, 2])])))
    entropy = masked_entropy(logits, legal)
    assert bool(jnp.all(jnp.isfinite(entropy)))

    def objective(z):
        return (
            masked_entropy(z, legal).sum()
            + action_log_prob(z, legal, jnp.asarray([2, 3])).sum()
        )

    grads = jax.grad(objective)(logits)
    assert bool(jnp.all(jnp.isfinite(grads)))
    np.testing.assert_array_equal(grads[1, jnp.asarray([0, 2])], 0.0)

    keys = jax.random.split(jax.random.key(0), 2000)
    actions = jax.vmap(lambda k: sample_action(logits, legal, key=k))(keys)
    assert set(np.unique(actions[:, 1]).tolist()) == {1, 3}
    assert set(np.unique(actions[:, 0]).tolist()) <= {0, 1, 2, 3}


def test_orthogonal_initializer_gives_scaled_orthonormal_matrices():
    # Shapes of one block, several, several and a narrower last one, and wide.
    for shape in [(40, 16), (16, 16), (16, 40), (96, 64), (120, 77), (77, 120)]:
        w = orthogonal(2.0)(jax.random.key(1), shape)
        gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
        np.testing.assert_allclose(gram, 4.0 * np.eye(min(shape)), atol=1e-5)
    # The Q of LAPACK's QR (float64, R's diagonal made positive), column for column.
    for shape in [(96, 64), (120, 77), (77, 77)]:
        a = jax.random.normal(jax.random.key(3), shape)
        q, r = np.linalg.qr(np.asarray(a, np.float64))
        np.testing.assert_allclose(
            _orthonormal_columns(a), q * np.sign(np.diag(r)), atol=1e-5
        )
    batched = jax.vmap(lambda k: orthogonal()(k, (8, 8)))(
        jax.random.split(jax.random.key(2), 3)
    )
    assert not np.allclose(batched[0], batched[1])


@pytest.mark.parametrize(
    ("gru_size", "share"), [(4, False), (4, True), (0, False), (0, True)]
)
def test_policy_evaluate_agrees_with_stepping_and_resets_memory_at_first(
    gru_size, share
):
    policy = make_policy(
        num_players=2,
        num_actions=5,
        obs_size=7,
        hidden_sizes=(8,),
        gru_size=gru_size,
        share_parameters=share,
    )
    params = jax.jit(policy.init)(jax.random.key(0))
    evaluate = jax.jit(policy.evaluate)
    if not share:  # one parameter set per seat
        assert all(x.shape[0] == 2 for x in jax.tree.leaves(params))
    steps, envs = 6, 3
    keys = jax.random.split(jax.random.key(1), 3)
    obs = jax.random.bernoulli(keys[0], 0.5, (steps, envs, 2, 7)).astype(jnp.uint8)
    actor = jax.random.randint(keys[1], (steps, envs, 1), 0, 2)  # one decides
    first = jnp.zeros((steps, envs), bool).at[0].set(True).at[3, 1].set(True)
    carry0 = jax.random.normal(keys[2], (envs, 2, gru_size))  # wiped at first[0]
    logits, values = evaluate(params, carry0, obs, actor, first)

    carry = policy.initial_carry(envs)
    step = jax.jit(jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0)))
    for t in range(steps):
        carry, step_logits, step_values = step(
            params, carry, obs[t], actor[t], first[t]
        )
        np.testing.assert_allclose(logits[t], step_logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(values[t], step_values, rtol=1e-5, atol=1e-6)

    # Environment 1 starts an episode at t = 3: from there its outputs do not
    # depend on anything before.
    tail_logits, _ = evaluate(
        params, carry0[1:2], obs[3:, 1:2], actor[3:, 1:2], first[3:, 1:2]
    )
    np.testing.assert_allclose(tail_logits[:, 0], logits[3:, 1], rtol=1e-5, atol=1e-6)


def test_ippo_config_refuses_impossible_values_in_one_line():
    cases = {
        "gamma": dict(gamma=1.5),
        "num_minibatches": dict(network="gru", num_envs=6, num_minibatches=4),
        "entropy_accounting": dict(entropy_accounting="everyone"),
        "total_timesteps": dict(total_timesteps=10),
        "hidden_sizes": dict(hidden_sizes=[64, 0]),
    }
    for field, kwargs in cases.items():
        with pytest.raises(ConfigError, match=f"ippo.{field}=") as error:
            IPPOConfig(**kwargs)
        assert "\n" not in str(error.value)
    config = IPPOConfig(num_envs=8, num_steps=4, total_timesteps=100)
    assert config.batch_size == 32 and config.num_updates == 3
    assert IPPOConfig(hidden_sizes=[3, 4]).hidden_sizes == (3, 4)


def test_the_shared_mlp_has_one_torso_for_both_heads():
    """`shared_mlp` with widths (16, 8): a torso of 16 units, then 8 per head
    (JaxMARL's shape); the plain MLP has two whole stacks. The parameter counts
    say which, and a changed torso moves both heads."""
    from games.envs import hanabi
    from games.envs.hanabi.environment import environment
    from marl.deep.ippo import make_policy_for

    env = environment(hanabi.make_params("Hanabi-Very-Small", 2))
    obs, actions = env.obs_size, env.num_actions
    counts = {}
    for network in ("mlp", "shared_mlp"):
        config = IPPOConfig(network=network, hidden_sizes=(16, 8))
        params = make_policy_for(config, env).init(jax.random.key(0))
        counts[network] = sum(x.size for x in jax.tree.leaves(params))
    heads = 2 * (16 * 8 + 8) + (8 * actions + actions) + (8 + 1)
    assert counts["shared_mlp"] == (obs * 16 + 16) + heads
    assert counts["mlp"] == 2 * (obs * 16 + 16) + heads
    with pytest.raises(ConfigError, match="'mlp', 'shared_mlp' or 'gru'"):
        IPPOConfig(network="cnn")


def test_with_networks_plays_each_seat_by_its_own_network_and_memory():
    """A feed-forward network and a recurrent one (per-seat parameters), seat
    0 played by the recurrent and seat 1 by the feed-forward: over a few
    steps, each seat's logits and value are its own network's, run alone on
    its own parameters and memory; the union's carry is theirs side by side;
    the other network's parameters (zeros) change nothing."""
    common = {"num_players": 2, "num_actions": 5, "obs_size": 7}
    plain = make_policy(**common, hidden_sizes=(8,), share_parameters=False)
    recurrent = make_policy(
        **common, hidden_sizes=(6,), gru_size=4, share_parameters=False
    )
    union = with_networks([plain, recurrent])
    own = [plain.init(jax.random.key(0)), recurrent.init(jax.random.key(1))]
    # seat 0 is the recurrent agent, seat 1 the feed-forward one: each seat
    # holds its own network's parameters and zeros in the other
    zero_at = (0, 1)  # network 0 (feed-forward) zero at seat 0, network 1 at 1
    params = {
        "networks": tuple(
            jax.tree.map(lambda x, k=k: x.at[k].set(0.0), p)
            for p, k in zip(own, zero_at, strict=True)
        ),
        "which": jnp.asarray([1, 0], jnp.int32),
    }
    steps = [jax.jit(n.step) for n in (union, recurrent, plain)]
    carry = union.initial_carry(1)[0]
    assert carry.shape == (2, 4)
    memory = recurrent.initial_carry(1)[0]
    obs = jax.random.bernoulli(jax.random.key(2), 0.5, (4, 2, 7)).astype(jnp.uint8)
    for t in range(4):
        actors = jnp.asarray([t % 2])
        first = jnp.asarray(t == 0)
        carry, logits, value = steps[0](params, carry, obs[t], actors, first)
        memory, want_r, value_r = steps[1](own[1], memory, obs[t], actors, first)
        _, want_p, value_p = steps[2](own[0], jnp.zeros((2, 0)), obs[t], actors, first)
        want, want_value = (want_r, value_r) if t % 2 == 0 else (want_p, value_p)
        np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value, want_value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(carry[0], memory[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="two or more"):
        with_networks([plain])
