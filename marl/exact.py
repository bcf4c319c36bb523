"""Exact values of tabular joint policies.

A joint policy is a tuple with one array per agent, float[K_i, A_i] of action
probabilities (rows sum to one); logits have the same shapes. All functions are pure
and jittable; `game` is a compiled `games.TabularGame`, evaluated by its engine:
the occupancy recursion (`occupancy_pass`) or the enumeration of terminal
histories (`history_probs`); see `games.compile`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from games import TabularGame
from games.compile import Occupancy, expand, letters

Policy = tuple[jax.Array, ...]
ENTROPY_WEIGHTINGS = ("reach", "uniform")


def softmax_policy(logits: Policy) -> Policy:
    """Per agent, softmax over the action axis: float[K_i, A_i]."""
    return tuple(jax.nn.softmax(x, axis=-1) for x in logits)


def history_probs(game: TabularGame, policy: Policy) -> jax.Array:
    """P(z) for every terminal history z, float[Z]: chance times every decision."""
    prob = game.chance
    for pi, infostate, action in zip(policy, game.infostate, game.action, strict=True):
        prob = prob * jnp.prod(pi[infostate, action], axis=-1)
    return prob


def step_policies(
    policy: Policy, acting: tuple[bool, ...], rows: tuple[int, ...], histories
) -> tuple[jax.Array, ...]:
    """Per agent, its policy at one step, float[H_i, B_i]: its rows of the table
    if it acts, else probability 1 on the placeholder action."""
    return tuple(
        pi[start : start + count] if moves else jnp.ones((count, 1), dtype=pi.dtype)
        for pi, moves, start, count in zip(policy, acting, rows, histories, strict=True)
    )


def occupancy_pass(
    occupancy: Occupancy, policy: Policy
) -> tuple[jax.Array, tuple[jax.Array, ...], jax.Array]:
    """(E[sum_t discount^t r_t], per agent reach float[K_i], the distribution of
    play float[prod_i H_i B_i] over the last step's joint histories and joint
    actions, states summed out) by the forward recursion over occupancy states
    eta_t(s, h_1..h_n) (Dibangoye et al. 2016):

      eta_{t+1}(s', (h_i, a_i, o_i)_i) = sum_s eta_t(s, h) prod_i pi_i(a_i | h_i)
                                         T(s' | s, a) O(o | a, s'),
      E[r_t] = sum_{s, h, a} eta_t(s, h) prod_i pi_i(a_i | h_i) R(s, a).

    The reach of agent i's history h_i at step t is eta_t summed over the rest.
    """
    n = len(policy)
    eta = occupancy.initial
    value = jnp.zeros((), eta.dtype)
    reach: list[list[jax.Array]] = [[] for _ in range(n)]
    hb = letters(2 * n, "sqz")
    hist, acts = hb[0::2], hb[1::2]
    for step in occupancy.steps:
        factors = step_policies(policy, step.acting, step.rows, step.histories)
        for i in range(n):
            if step.acting[i]:
                reach[i].append(jnp.einsum(f"s{hist}->{hist[i]}", eta))
        terms = ",".join(f"{hist[i]}{acts[i]}" for i in range(n))
        value = value + jnp.einsum(
            f"s{hist},{terms},s{acts}->", eta, *factors, step.reward
        )
        if step.transition is None:
            play = jnp.einsum(f"s{hist},{terms}->{hb}", eta, *factors).ravel()
            break
        decide = jnp.einsum(f"s{hist},{terms}->s{hb}", eta, *factors)
        expanded = expand(jnp, decide, step.transition, step.observation, n)
        for i in range(n):
            expanded = jnp.take(expanded, step.children[i], axis=1 + i)
        eta = expanded
    return (
        value,
        tuple(
            jnp.concatenate(parts) if parts else jnp.zeros(0, eta.dtype)
            for parts in reach
        ),
        play,
    )


def play_distribution(game: TabularGame, policy: Policy) -> jax.Array:
    """The distribution of play, float[M]: over terminal histories (enumeration) or
    over the last step's joint action-observation histories and joint actions
    (recursion). The state path given the joint play does not depend on the
    policy, so either gives the same total-variation distance between policies."""
    if game.engine == "recursion":
        return occupancy_pass(game.occupancy, policy)[2]
    return history_probs(game, policy)


def expected_return(game: TabularGame, policy: Policy) -> jax.Array:
    """E[sum_t discount^t r_t] under the joint policy, a scalar."""
    if game.engine == "recursion":
        return occupancy_pass(game.occupancy, policy)[0]
    return jnp.dot(history_probs(game, policy), game.returns)


def infostate_entropy(pi: jax.Array) -> jax.Array:
    """Shannon entropy H(pi(.|h)) of each row, float[K]; 0 log 0 = 0."""
    return -jnp.sum(
        jnp.where(pi > 0, pi * jnp.log(jnp.where(pi > 0, pi, 1.0)), 0.0), -1
    )


def reach_probs(game: TabularGame, policy: Policy) -> Policy:
    """Per agent, float[K_i]: the probability that each information state is reached
    (summed over the histories through it; each is visited at most once)."""
    if game.engine == "recursion":
        return occupancy_pass(game.occupancy, policy)[1]
    prob = history_probs(game, policy)
    return tuple(
        jax.ops.segment_sum(
            jnp.broadcast_to(prob[:, None], infostate.shape).ravel(),
            infostate.ravel(),
            num_segments=pi.shape[0],
        )
        for pi, infostate in zip(policy, game.infostate, strict=True)
    )


def expected_entropy(
    game: TabularGame, policy: Policy, weighting: str = "reach"
) -> jax.Array:
    """The entropy term of J_tau, a scalar.

    reach:   E_pi[sum_t sum_i H(pi_i(.|h_i,t))], every information state weighted by
             the probability that the joint policy reaches it (the on-policy bonus
             that PPO and REINFORCE estimate).
    uniform: sum_i sum_h H(pi_i(.|h)) over all information states of positive
             chance probability, each weighted 1, reached or not.
    For a matrix game the two coincide.
    """
    if weighting not in ENTROPY_WEIGHTINGS:
        raise ValueError(f"entropy weighting must be one of {ENTROPY_WEIGHTINGS}")
    entropies = tuple(infostate_entropy(pi) for pi in policy)
    if weighting == "uniform":
        return sum(jnp.sum(h) for h in entropies)  # type: ignore[return-value]
    if game.engine == "recursion":
        reach = occupancy_pass(game.occupancy, policy)[1]
        return sum(  # type: ignore[return-value]
            jnp.dot(r, h) for r, h in zip(reach, entropies, strict=True)
        )
    prob = history_probs(game, policy)
    per_history = sum(
        jnp.sum(h[infostate], axis=-1)
        for h, infostate in zip(entropies, game.infostate, strict=True)
    )
    return jnp.dot(prob, per_history)


def regularized_objective(
    game: TabularGame,
    policy: Policy,
    tau: jax.Array | float,
    weighting: str = "reach",
) -> jax.Array:
    """J_tau(pi) = E[sum_t r_t] + tau * entropy term (see `expected_entropy`).

    Forkel et al. 2025 (arXiv:2511.22581), the entropy-regularized objective.
    """
    if game.engine == "recursion" and weighting == "reach":
        value, reach, _ = occupancy_pass(game.occupancy, policy)
        bonus = sum(
            jnp.dot(r, infostate_entropy(pi))
            for r, pi in zip(reach, policy, strict=True)
        )
        return value + tau * bonus
    return expected_return(game, policy) + tau * expected_entropy(
        game, policy, weighting
    )


def softmax_policy_gradient(game: TabularGame, logits: Policy) -> Policy:
    """d E[return] / d logits by the policy-gradient theorem, without autodiff.

    For softmax policies, grad_{theta_i(h, a)} = sum_{z through h} P(z) R(z)
    (1[a_i(z, h) = a] - pi_i(a | h)) (Williams 1992; Sutton et al. 2000). A second
    code path against which autodiff of J_0 is checked.
    """
    policy = softmax_policy(logits)
    weighted = history_probs(game, policy) * game.returns  # float[Z]
    grads = []
    for pi, infostate, action in zip(policy, game.infostate, game.action, strict=True):
        num_infostates, num_actions = pi.shape
        flat = (infostate * num_actions + action).ravel()
        w = jnp.broadcast_to(weighted[:, None], infostate.shape).ravel()
        taken = jax.ops.segment_sum(w, flat, num_segments=num_infostates * num_actions)
        through = jax.ops.segment_sum(w, infostate.ravel(), num_segments=num_infostates)
        grads.append(taken.reshape(pi.shape) - through[:, None] * pi)
    return tuple(grads)
