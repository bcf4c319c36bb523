"""A trained IPPO agent read at a compiled micro Hanabi's information states.

`visited_policies` plays the agent with itself in the JAX game and follows each
player's own history as the compiled game lays it out (`games.hanabi_tabular`:
the kept sections of HLE's observation after every step, and the player's own
move when it acts), through the trie of its information-state keys
(`games.tabular.infostates`, reached through the bridge itself, so that the deep
side imports no tabular room): at every decision the mover's policy is added to
the row of the information state it is in. Every step is a few array
operations over all games; any number of players and deciding seats.
`distances` compares the policies read with the exact learner's fixed points.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games import TabularGame, hanabi_tabular
from games.envs.hanabi.params import HanabiParams
from marl.deep import play
from marl.deep.networks import masked_logits


class Visited(NamedTuple):
    """What self-play games of one agent reached, per player i."""

    policies: list[np.ndarray]
    """float64[K_i, A]: the mean policy at each information state (zeros where
    never reached)."""
    visits: list[np.ndarray]
    """float64[K_i]: how many decisions were taken there."""
    score: float
    """The mean self-play score of the games."""
    missed: int
    """Decisions taken at a history the compiled game does not have (0 when
    `env` plays the compiled game)."""


@functools.lru_cache(maxsize=8)
def _batched_step(env: Any) -> Any:
    """The environment's step over a batch of games, jitted once per
    environment: every agent of a comparison plays through it, as through
    `play.decide` (one program per policy and environment, the agent's seats
    an argument)."""
    return jax.jit(jax.vmap(env.step))


def visited_policies(
    agent: Any,
    policy: Any,
    env: Any,
    params: HanabiParams,
    compiled: hanabi_tabular.CompiledHanabi,
    game: TabularGame,
    *,
    shared: bool,
    key: jax.Array,
    num_games: int,
) -> Visited:
    """`num_games` games of `agent` with itself over the compiled game's horizon,
    read at its information states (`compiled` and `game`: the same micro
    Hanabi, compiled and on the same turns as `env`)."""
    num_players = game.num_agents
    seats = play.identity_seats(play.seat_params(agent, num_players, shared), env)
    step = _batched_step(env)
    tries = hanabi_tabular.infostate_indexes(compiled, game)
    sums = [np.zeros(shape) for shape in game.policy_shapes]
    visits = [np.zeros(shape[0]) for shape in game.policy_shapes]
    states, act_key = play.deal(env, key=key, num_games=num_games)
    carry = policy.initial_carry(num_games)
    first = jnp.ones(num_games, bool)
    nodes = np.stack([index.start(num_games) for index in tries], axis=1)  # [N, P]

    def observe(nodes: np.ndarray, states: Any) -> np.ndarray:
        seen = hanabi_tabular.observation_ids(
            getattr(states, "game", states), params, compiled
        )
        return np.stack(
            [tries[i].observe(nodes[:, i], seen[:, i]) for i in range(num_players)],
            axis=1,
        )

    nodes = observe(nodes, states)
    score, missed = np.zeros(num_games), 0
    for t in range(game.horizon):
        live = ~np.asarray(getattr(states, "game", states).terminal)
        decision = play.decide(policy, seats, env, states, carry, first)
        masked = masked_logits(decision.logits, decision.legal)  # [N, D, A]
        dist = np.asarray(jax.nn.softmax(masked, axis=-1), np.float64)
        step_key = jax.random.fold_in(act_key, t)
        actions = np.asarray(jax.random.categorical(step_key, masked, axis=-1))
        actions = np.where(live[:, None], actions, 0).astype(np.int32)  # [N, D]
        movers = np.asarray(decision.actors)  # [N, D]
        for d in range(movers.shape[1]):
            for i in range(num_players):
                acts = movers[:, d] == i
                at = tries[i].infostate(nodes[:, i])
                here = acts & live & (at >= 0)
                missed += int((acts & live & (at < 0)).sum())
                np.add.at(sums[i], at[here], dist[here, d])
                np.add.at(visits[i], at[here], 1.0)
                nodes[:, i] = tries[i].act(nodes[:, i], actions[:, d], acts)
        states, reward, _ = step(
            jax.random.split(jax.random.fold_in(step_key, 1), num_games),
            states,
            jnp.asarray(actions),
        )
        score += np.asarray(reward)
        carry, first = decision.carry, jnp.zeros_like(first)
        if t < game.horizon - 1:
            nodes = observe(nodes, states)
    policies = [
        s / np.maximum(v, 1)[:, None] for s, v in zip(sums, visits, strict=True)
    ]
    return Visited(policies, visits, float(score.mean()), missed)


def distances(visited: Visited, fixed_points: list[np.ndarray]) -> np.ndarray:
    """float[...]: the mean total variation, over the decisions of the agent's
    play, between its policies and each exact policy of `fixed_points` (per
    player float[..., K_i, A], any leading axes: taus, seeds)."""
    total = sum(float(v.sum()) for v in visited.visits)
    tv = sum(
        (0.5 * np.abs(p - e).sum(axis=-1)) @ v
        for p, v, e in zip(visited.policies, visited.visits, fixed_points, strict=True)
    )
    return np.asarray(tv) / total
