"""Playing N games of an environment for IPPO's rollouts: auto-reset, every seat's
observation, Other-Play's symmetries, and the rollout itself.

`rollout(policy, net_params, state, env, *, key, num_steps)` plays T steps of N
games with the current policy (a `lax.scan`), starting a new episode wherever one
ends, and returns the games' state and the `Transition` a PPO update trains on
(`marl.deep.ippo`). The environment is any `games.envs.Environment`: a turn-based
game gives one decision per step (D = 1, the acting seat's), a simultaneous-move game
one per seat (D = P). Shapes: N games, T steps, P seats, D deciding seats, O
observation size, A actions, H recurrent state size, G symmetries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from games.envs.contract import Environment, Symmetries
from marl.deep.networks import Network, Params, action_log_prob, sample_action


class RolloutState(NamedTuple):
    """What the games carry from one rollout to the next (N games)."""

    env_state: Any
    """The environment's state, every leaf with a leading [N]."""
    carry: jax.Array
    """float32[N, P, H]: every seat's recurrent state."""
    first: jax.Array
    """bool[N]: the current state starts an episode (the memory is reset)."""
    episode_return: jax.Array
    """float32[N]: reward so far in each game's episode."""
    symmetry: jax.Array
    """int32[N, P]: the symmetry (an index into the environment's
    `Symmetries`, 0 the identity) through which each seat plays the current
    episode; all 0 without Other-Play."""


class Transition(NamedTuple):
    """One rollout, time-major: every field has leading [T, N]."""

    obs: jax.Array  # [T, N, P, O]: every seat's observation
    actors: jax.Array  # int32[T, N, D]: the deciding seats
    first: jax.Array  # bool[T, N]: the observation starts an episode
    legal: jax.Array  # bool[T, N, D, A]: the deciding seats' legal actions
    action: jax.Array  # int32[T, N, D]
    # (With Other-Play, obs, legal and action are as the seat saw and chose them,
    # in its transformed game.)
    log_prob: jax.Array  # float32[T, N, D]: log pi_old(action)
    value: jax.Array  # float32[T, N, D]: V_old of each deciding seat's observation
    reward: jax.Array  # float32[T, N]: the common reward
    done: jax.Array  # bool[T, N]: the episode ended with this step
    finished_return: jax.Array  # float32[T, N]: the episode's return where done


def env_step(
    env: Environment, state: Any, actions: jax.Array, *, key: jax.Array
) -> tuple[Any, jax.Array, jax.Array]:
    """`env.step` for one game, starting a new episode (`env.reset(key)`) when the
    step ends the current one. Returns (state, float32 reward, bool done)."""
    next_state, reward, done = env.step(jax.random.fold_in(key, 1), state, actions)
    fresh = env.reset(key)
    state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, next_state)
    return state, reward.astype(jnp.float32), done


def observe(
    env: Environment,
    env_state: Any,
    symmetries: Symmetries | None = None,
    symmetry: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For N games: every seat's observation [N, P, O], the deciding seats' legal
    masks bool[N, D, A] and the deciding seats int32[N, D].

    With `symmetries` and `symmetry` int32[N, P], each seat's observation and each
    deciding seat's legal mask are those of the game transformed by the seat's
    symmetry (Other-Play).
    """
    obs = jax.vmap(env.observe)(env_state)
    legal = jax.vmap(env.legal_actions)(env_state)
    actors = jax.vmap(env.actors)(env_state)
    if symmetries is not None and symmetry is not None:
        obs = jnp.take_along_axis(
            obs, jnp.asarray(symmetries.observation)[symmetry], axis=-1
        )
        own = jnp.take_along_axis(symmetry, actors, axis=1)  # [N, D]
        legal = jnp.take_along_axis(
            legal, jnp.asarray(symmetries.actions_inverse)[own], axis=-1
        )
    return obs, legal, actors


def reset_games(
    env: Environment,
    policy: Network,
    num_envs: int,
    *,
    key: jax.Array,
    num_symmetries: int = 1,
) -> RolloutState:
    """N fresh episodes, zero memories, zero returns; with `num_symmetries` G > 1
    (Other-Play), each seat but seat 0 draws a symmetry index in [0, G)."""
    symmetry = jnp.zeros((num_envs, env.num_players), jnp.int32)
    if num_symmetries > 1:
        key, symmetry_key = jax.random.split(key)
        symmetry = draw_symmetries(
            symmetry_key, num_envs, env.num_players, num_symmetries
        )
    env_state = jax.vmap(env.reset)(jax.random.split(key, num_envs))
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
    seat through a uniformly drawn symmetry index (Other-Play's partner)."""
    drawn = jax.random.randint(key, (num_envs, num_players), 0, num_symmetries)
    return drawn.at[:, 0].set(0).astype(jnp.int32)


def symmetry_tables(env: Environment, other_play: bool) -> Symmetries | None:
    """The environment's symmetries for Other-Play, or None (no Other-Play, or
    the identity is the only symmetry)."""
    if not other_play or env.symmetries.size < 2:
        return None
    return env.symmetries


def _deciding(symmetry: jax.Array, actors: jax.Array) -> jax.Array:
    """Each deciding seat's symmetry index, int32[N, D]."""
    return jnp.take_along_axis(symmetry, actors, axis=1)


def rollout(
    policy: Network,
    net_params: Params,
    state: RolloutState,
    env: Environment,
    *,
    key: jax.Array,
    num_steps: int,
    symmetries: Symmetries | None = None,
) -> tuple[RolloutState, Transition]:
    """Plays `num_steps` steps of N games with the current policy, starting a new
    episode wherever one ends (auto-reset). Returns the games' state after the
    last step and the Transition with leading [T, N].

    With `symmetries` (Other-Play), seat p of game n sees its observation through
    symmetry `state.symmetry[n, p]` and acts in that transformed game; its action
    is mapped back before the step, and new symmetries are drawn for every new
    episode.
    """
    num_envs = state.first.shape[0]
    act = jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0))

    def one_step(
        games: RolloutState, step_key: jax.Array
    ) -> tuple[RolloutState, Transition]:
        act_key, reset_key = jax.random.split(step_key)
        obs, legal, actors = observe(env, games.env_state, symmetries, games.symmetry)
        if symmetries is not None:
            reset_key, symmetry_key = jax.random.split(reset_key)
        carry, logits, value = act(net_params, games.carry, obs, actors, games.first)
        action = sample_action(logits, legal, key=act_key)
        log_prob = action_log_prob(logits, legal, action)
        real_action = action
        if symmetries is not None:
            inverse = jnp.asarray(symmetries.actions_inverse)
            real_action = jnp.take_along_axis(
                inverse[_deciding(games.symmetry, actors)], action[..., None], -1
            )[..., 0]
        env_state, reward, done = jax.vmap(lambda s, a, k: env_step(env, s, a, key=k))(
            games.env_state, real_action, jax.random.split(reset_key, num_envs)
        )
        symmetry = games.symmetry
        if symmetries is not None:
            fresh = draw_symmetries(
                symmetry_key, num_envs, env.num_players, symmetries.size
            )
            symmetry = jnp.where(done[:, None], fresh, symmetry)
        episode_return = games.episode_return + reward
        transition = Transition(
            obs=obs,
            actors=actors,
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
    policy: Network,
    net_params: Params,
    state: RolloutState,
    env: Environment,
    symmetries: Symmetries | None = None,
) -> jax.Array:
    """V of each game's current state from each deciding seat, float32[N, D]."""
    obs, _, actors = observe(env, state.env_state, symmetries, state.symmetry)
    act = jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0))
    return act(net_params, state.carry, obs, actors, state.first)[2]
