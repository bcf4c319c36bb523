"""Symmetry measures of trained agents at play (`marl.deep.play`): an agent
against its own transformed copies `sigma^-1 o pi o sigma` (Hanabi: the color
permutations), by score (`permuted_copy_scores`) and by policy at the decisions
it visits (`visited_equivariance_tv`). Shapes as in `marl.deep.play`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from games.envs.contract import Environment, Symmetries
from marl.deep.networks import Network, Params, masked_log_probs, masked_logits
from marl.deep.play import (
    Decision,
    Seats,
    choose,
    deal,
    decide,
    identity_seats,
    identity_tables,
    play,
    step_games,
)


def _partner_seats(
    seat_params: Params, env: Environment, observation: jax.Array, actions: jax.Array
) -> Seats:
    """Seat 0 plays as itself, every other seat through the tables given."""
    own_observation, own_actions = identity_tables(env)
    partners = env.num_players - 1
    return Seats(
        seat_params,
        jnp.stack([jnp.asarray(own_observation)] + [observation] * partners),
        jnp.stack([jnp.asarray(own_actions)] + [actions] * partners),
    )


def permuted_copy_scores(
    policy: Network,
    seat_params: Params,
    syms: Symmetries,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool,
) -> jax.Array:
    """An agent with its own transformed copies: scores float32[G, N].

    seat_params: leaves [P, ...], the agent in every seat. Row g seats the agent
    itself at seat 0 and `sigma_g^-1 o pi o sigma_g` at every other seat (syms:
    G symmetries' tables; the identity's row is self-play). A policy that is
    equivariant under every sigma scores the same in every row, up to sampling
    noise.
    """

    def one(tables: tuple[jax.Array, jax.Array]) -> jax.Array:
        seats = _partner_seats(seat_params, env, *tables)
        return play(policy, seats, env, key=key, num_games=num_games, greedy=greedy)

    return jax.lax.map(one, (jnp.asarray(syms.observation), jnp.asarray(syms.actions)))


def value_gaps(
    policy: Network,
    seats: Seats,
    env: Environment,
    games: Any,
    decision: Decision,
    key: jax.Array,
) -> jax.Array:
    """float32[N, D]: how much each deciding seat's choice matters to the agent,
    max_a Q(a) - min_a Q(a) over its legal actions, Q(a) = r(s, a) + V(s'_a)
    (the other deciding seats at their argmax; `visited_equivariance_tv`)."""
    num_games, deciding, num_actions = decision.logits.shape
    greedy = jnp.argmax(masked_logits(decision.logits, decision.legal), -1)
    env_keys = jax.random.split(key, num_games)

    def lookahead(seat: jax.Array, action: jax.Array) -> jax.Array:
        actions = greedy.at[:, seat].set(action)  # [N, D]
        after, reward, done = jax.vmap(env.step)(env_keys, games, actions)
        following = decide(
            policy, seats, env, after, decision.carry, jnp.zeros(num_games, bool)
        )
        value = following.values.mean(-1)
        return reward.astype(jnp.float32) + jnp.where(done, 0.0, value)  # [N]

    q = jax.vmap(
        lambda seat: jax.vmap(lambda a: lookahead(seat, a))(jnp.arange(num_actions))
    )(jnp.arange(deciding))  # [D, A, N]
    q = jnp.moveaxis(q, -1, 0)  # [N, D, A]
    high = jnp.where(decision.legal, q, -jnp.inf).max(-1)
    low = jnp.where(decision.legal, q, jnp.inf).min(-1)
    return jnp.where(decision.legal.any(-1), high - low, 0.0)


class VisitedGap(NamedTuple):
    """An agent against its transformed copies on the decisions it visits."""

    tv: jax.Array  # float32[G]: the mean total variation between the policies
    argmax: jax.Array  # float32[G]: how often their argmax actions differ
    weighted: jax.Array  # float32[G]: the TV weighted by the choice's value gap


def transformed_copies(
    seat_params: Params, syms: Symmetries, env: Environment
) -> Seats:
    """The agent in every seat of G games, game g through symmetry g: leaves
    [G, P, ...] (`decide` vmapped over G plays them all)."""
    observation, actions = identity_tables(env)
    num_syms, num_players = jnp.asarray(syms.observation).shape[0], env.num_players
    return Seats(
        jax.tree.map(lambda x: jnp.broadcast_to(x, (num_syms, *x.shape)), seat_params),
        jnp.broadcast_to(
            jnp.asarray(syms.observation)[:, None],
            (num_syms, num_players, observation.size),
        ),
        jnp.broadcast_to(
            jnp.asarray(syms.actions)[:, None], (num_syms, num_players, actions.size)
        ),
    )


def policy_gaps(mine: Decision, theirs: Decision) -> tuple[jax.Array, jax.Array]:
    """The total variation between the agent's policy and each transformed
    copy's, float32[G, N, D], and whether their argmax actions differ, bool
    [G, N, D], over the agent's legal actions."""
    p = jnp.exp(masked_log_probs(mine.logits, mine.legal))
    q = jnp.exp(masked_log_probs(theirs.logits, mine.legal))
    tv = 0.5 * jnp.abs(p[None] - q).sum(-1)
    flips = jnp.argmax(masked_logits(mine.logits, mine.legal), -1) != jnp.argmax(
        masked_logits(theirs.logits, mine.legal), -1
    )
    return tv, flips


def visited_equivariance_tv(
    policy: Network,
    seat_params: Params,
    syms: Symmetries,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
) -> VisitedGap:
    """How far an agent is from equivariance on the states it visits.

    The agent plays N games of self-play (stochastically). At every decision its
    policy pi(. | o_{1:t}) is compared with each transformed copy's
    `sigma^-1 o pi o sigma` (which sees every seat's whole history transformed,
    so recurrent memories are transformed too) by total variation,
    TV = 1/2 sum_a |pi(a) - pi_sigma(a)|, and by whether their argmax actions
    differ. Returns, for each of the G symmetries of `syms`, the mean TV and the
    argmax-disagreement rate over visited decisions, float32[G] each; 0 for the
    identity, and TV 0 for all of them exactly when the agent is equivariant on
    the visited states. The TV mixes how stochastic the policy is with how
    asymmetric: an agent with the same convention-free noise at every state has
    a TV of that noise; the argmax rate counts only changed choices.

    The weighted TV counts each decision by how much its choice matters to the
    agent itself: the gap max_a Q(a) - min_a Q(a) over the legal actions, with
    Q(a) = r(s, a) + V(s'_a) the one-step lookahead of the agent's own critic
    (s'_a the game after the deciding seat plays a, every other deciding seat its
    argmax, with the step's own chance; V the next deciding seats' mean value, 0
    once the game ends): sum(gap * TV) / sum(gap) over visited decisions (0 when
    no choice mattered). Asymmetry where every action is worth the same counts
    nothing. It costs one extra step and forward pass per action and decision.
    """
    num_syms = jnp.asarray(syms.observation).shape[0]
    copies = transformed_copies(seat_params, syms, env)
    own = identity_seats(seat_params, env)
    games, act_key = deal(env, key=key, num_games=num_games)
    carry = policy.initial_carry(num_games)
    copy_carry = jnp.broadcast_to(carry, (num_syms, *carry.shape))
    decide_copies = jax.vmap(decide, in_axes=(None, 0, None, None, 0, None))

    def body(loop: tuple) -> tuple:
        t, games, carry, copy_carry, first, live, total, count, weights = loop
        mine = decide(policy, own, env, games, carry, first)
        theirs = decide_copies(policy, copies, env, games, copy_carry, first)
        tv, flips = policy_gaps(mine, theirs)
        step_key = jax.random.fold_in(act_key, t)
        weight = value_gaps(
            policy, own, env, games, mine, jax.random.fold_in(step_key, 1)
        )  # [N, D]
        gaps = jnp.stack(
            [tv, flips.astype(jnp.float32), tv * weight[None]], -1
        )  # [G, N, D, 3]
        total = total + jnp.where(live[:, None, None], gaps, 0.0).sum((-3, -2))
        count = count + live.sum() * tv.shape[-1]
        weights = weights + jnp.where(live[:, None], weight, 0.0).sum()
        action = choose(mine.logits, mine.legal, greedy=False, key=step_key)
        games, _, done = step_games(
            env, games, action, live, jax.random.fold_in(step_key, 1)
        )
        live = live & ~done
        return (
            t + 1,
            games,
            mine.carry,
            theirs.carry,
            jnp.zeros_like(first),
            live,
            total,
            count,
            weights,
        )

    def running(loop: tuple) -> jax.Array:
        t, *_, live, _, _, _ = loop
        return live.any() & (t < env.max_steps)

    loop = (
        jnp.zeros((), jnp.int32),
        games,
        carry,
        copy_carry,
        jnp.ones(num_games, bool),
        jnp.ones(num_games, bool),
        jnp.zeros((num_syms, 3), jnp.float32),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), jnp.float32),
    )
    *_, total, count, weights = jax.lax.while_loop(running, body, loop)
    mean = total[:, :2] / jnp.maximum(count, 1)
    weighted = jnp.where(weights > 0, total[:, 2] / jnp.maximum(weights, 1e-30), 0.0)
    return VisitedGap(mean[:, 0], mean[:, 1], weighted)
