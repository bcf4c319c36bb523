"""Playing N Hanabi games for IPPO's rollouts: auto-reset, every seat's
observation, Other-Play's color permutations, and the rollout itself.

`rollout(policy, net_params, state, params, *, key, num_steps)` plays T steps of
N games with the current policy (a `lax.scan`), dealing a new game wherever one
ends, and returns the games' state and the `Transition` a PPO update trains on
(`marl.ippo`). Shapes: N games, T steps, P players, O observation size, A
actions, H recurrent state size.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from games import hanabi
from marl.networks import Params, Policy, action_log_prob, sample_action


class RolloutState(NamedTuple):
    """What the games carry from one rollout to the next (N games)."""

    env_state: hanabi.HanabiState
    """Every leaf with a leading [N]."""
    carry: jax.Array
    """float32[N, P, H]: every seat's recurrent state."""
    first: jax.Array
    """bool[N]: the current state starts an episode (the memory is reset)."""
    episode_return: jax.Array
    """float32[N]: reward so far in each game's episode."""
    symmetry: jax.Array
    """int32[N, P]: the color permutation (an index into
    `hanabi.all_color_permutations`, 0 the identity) through which each seat
    plays the current episode; all 0 without Other-Play."""


class Transition(NamedTuple):
    """One rollout, time-major: every field has leading [T, N]."""

    obs: jax.Array  # uint8[T, N, P, O]: every seat's canonical observation
    actor: jax.Array  # int32[T, N]: the acting seat
    first: jax.Array  # bool[T, N]: the observation starts an episode
    legal: jax.Array  # bool[T, N, A]: the acting seat's legal actions
    action: jax.Array  # int32[T, N]
    # (With Other-Play, obs, legal and action are as the seat saw and chose them,
    # in its permuted game.)
    log_prob: jax.Array  # float32[T, N]: log pi_old(action)
    value: jax.Array  # float32[T, N]: V_old of the acting seat's observation
    reward: jax.Array  # float32[T, N]: the common reward
    done: jax.Array  # bool[T, N]: the episode ended with this step
    finished_return: jax.Array  # float32[T, N]: the episode's return where done


def env_step(
    state: hanabi.HanabiState,
    action: jax.Array,
    params: hanabi.HanabiParams,
    *,
    key: jax.Array,
) -> tuple[hanabi.HanabiState, jax.Array, jax.Array]:
    """`hanabi.step` for one game, dealing a new game (shuffled with `key`) when the
    step ends the episode. Returns (state, float32 reward, bool done)."""
    next_state, reward, done = hanabi.step(state, action, params)
    fresh = hanabi.reset(key, params)
    state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, next_state)
    return state, reward.astype(jnp.float32), done


def observe(
    env_state: hanabi.HanabiState,
    params: hanabi.HanabiParams,
    symmetries: hanabi.ColorPermutation | None = None,
    symmetry: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For N games: every seat's observation uint8[N, P, O], the acting seat's
    legal mask bool[N, A] and the acting seat int32[N].

    With `symmetries` (tables with leading [G]) and `symmetry` int32[N, P], each
    seat's observation and the acting seat's legal mask are those of the game
    permuted by the seat's permutation (Other-Play).
    """
    obs = jax.vmap(hanabi.canonical, in_axes=(0, None))(env_state, params)
    legal = jax.vmap(hanabi.legal_actions, in_axes=(0, None))(env_state, params)
    actor = env_state.current_player
    if symmetries is not None and symmetry is not None:
        obs = jnp.take_along_axis(
            obs, jnp.asarray(symmetries.observation)[symmetry], axis=-1
        )
        own = symmetry[jnp.arange(actor.shape[0]), actor]
        legal = jnp.take_along_axis(
            legal, jnp.asarray(symmetries.actions_inverse)[own], axis=-1
        )
    return obs, legal, actor


def reset_games(
    params: hanabi.HanabiParams,
    policy: Policy,
    num_envs: int,
    *,
    key: jax.Array,
    num_symmetries: int = 1,
) -> RolloutState:
    """N freshly dealt games, zero memories, zero returns; with `num_symmetries`
    G > 1 (Other-Play), each seat but seat 0 draws a permutation index in [0, G)."""
    symmetry = jnp.zeros((num_envs, params.num_players), jnp.int32)
    if num_symmetries > 1:
        key, symmetry_key = jax.random.split(key)
        symmetry = draw_symmetries(
            symmetry_key, num_envs, params.num_players, num_symmetries
        )
    env_state = jax.vmap(hanabi.reset, in_axes=(0, None))(
        jax.random.split(key, num_envs), params
    )
    return RolloutState(
        env_state=env_state,
        carry=policy.initial_carry(num_envs),
        first=jnp.ones(num_envs, bool),
        episode_return=jnp.zeros(num_envs, jnp.float32),
        symmetry=symmetry,
    )


def draw_symmetries(
    key: jax.Array, num_envs: int, num_players: int, num_symmetries: int
) -> jax.Array:
    """int32[N, P]: seat 0 plays as itself (index 0, the identity), every other
    seat through a uniformly drawn permutation index (Other-Play's partner)."""
    drawn = jax.random.randint(key, (num_envs, num_players), 0, num_symmetries)
    return drawn.at[:, 0].set(0).astype(jnp.int32)


def symmetry_tables(
    params: hanabi.HanabiParams, other_play: bool
) -> hanabi.ColorPermutation | None:
    """Every color permutation's tables (leading [C!]) for Other-Play, else None."""
    if not other_play or params.num_colors < 2:
        return None
    return hanabi.all_color_permutations(params)


def rollout(
    policy: Policy,
    net_params: Params,
    state: RolloutState,
    params: hanabi.HanabiParams,
    *,
    key: jax.Array,
    num_steps: int,
    symmetries: hanabi.ColorPermutation | None = None,
) -> tuple[RolloutState, Transition]:
    """Plays `num_steps` steps of N games with the current policy, dealing a new
    game wherever one ends (auto-reset). Returns the games' state after the last
    step and the Transition with leading [T, N].

    With `symmetries` (Other-Play, tables with leading [G]), seat p of game n sees
    its observation through permutation `state.symmetry[n, p]` and acts in that
    permuted game; its action is mapped back before the step, and a new
    permutation is drawn for every new episode.
    """
    num_envs = state.first.shape[0]
    act = jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0))

    def one_step(
        games: RolloutState, step_key: jax.Array
    ) -> tuple[RolloutState, Transition]:
        act_key, reset_key = jax.random.split(step_key)
        obs, legal, actor = observe(games.env_state, params, symmetries, games.symmetry)
        if symmetries is not None:
            reset_key, symmetry_key = jax.random.split(reset_key)
            own = games.symmetry[jnp.arange(num_envs), actor]  # [N]
        carry, logits, value = act(net_params, games.carry, obs, actor, games.first)
        action = sample_action(logits, legal, key=act_key)
        log_prob = action_log_prob(logits, legal, action)
        real_action = action
        if symmetries is not None:
            real_action = jnp.take_along_axis(
                jnp.asarray(symmetries.actions_inverse)[own], action[:, None], -1
            )[:, 0]
        env_state, reward, done = jax.vmap(
            lambda s, a, k: env_step(s, a, params, key=k)
        )(games.env_state, real_action, jax.random.split(reset_key, num_envs))
        symmetry = games.symmetry
        if symmetries is not None:
            count = jnp.asarray(symmetries.colors).shape[0]
            fresh = draw_symmetries(symmetry_key, num_envs, params.num_players, count)
            symmetry = jnp.where(done[:, None], fresh, symmetry)
        episode_return = games.episode_return + reward
        transition = Transition(
            obs=obs,
            actor=actor,
            first=games.first,
            legal=legal,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            done=done,
            finished_return=jnp.where(done, episode_return, 0.0),
        )
        games = RolloutState(
            env_state=env_state,
            carry=carry,
            first=done,
            episode_return=jnp.where(done, 0.0, episode_return),
            symmetry=symmetry,
        )
        return games, transition

    return jax.lax.scan(one_step, state, jax.random.split(key, num_steps))


def bootstrap_value(
    policy: Policy,
    net_params: Params,
    state: RolloutState,
    params: hanabi.HanabiParams,
    symmetries: hanabi.ColorPermutation | None = None,
) -> jax.Array:
    """V of each game's current state from its acting seat, float32[N]."""
    obs, _, actor = observe(state.env_state, params, symmetries, state.symmetry)
    act = jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0))
    return act(net_params, state.carry, obs, actor, state.first)[2]
