"""The environment contract of the sampled half, and the registry of environments.

An environment is a handful of pure functions over an explicit state pytree, its
game constants (static, or a pytree) bound in when it is made (gymnax passes them
as an argument; here `reset(key)` and `step(key, state, actions)` close over
them), each seat's observation, the deciding seats'
legal actions, which seats decide this step, the common reward and the episode's
end. IPPO (`marl.deep.ippo`), the rollout, play, cross-play, the equivariance measures
and the cost estimate are written once against it; Hanabi
(`games.envs.hanabi.environment`) and Overcooked V2 (`games.envs.overcooked`)
implement it.

Who decides. A step has D deciding seats, fixed per environment: D = 1 for a
turn-based game (the acting seat, `actors(state)` its index) and D = P for a
simultaneous-move game (`actors(state) = arange(P)`). Every array about decisions
carries that [D] axis, so one code path trains both kinds: turn-based games train
the acting seat's decision, simultaneous ones every seat's.

Symmetries. The game's symmetries are index tables on observations and actions
(`Symmetries`, leading [G], row 0 the identity), used by Other-Play and by the
equivariance measures: seat p seeing the game through symmetry g is given
`obs[observation[g]]` (the observation of the transformed state) and its logit of
real action a is its output at `actions[g, a]`. `permute_state` applies a symmetry
to a state; the conformance test (`tests/games/envs/test_environments.py`)
checks that the tables commute with `step` and `observe` through it.

Adding an environment: a module under `games/envs/` with a function that returns an
`Environment`, registered in `ENVIRONMENTS` below, and a config group
`conf/env/<name>.yaml` (docs/architecture.md).

Shapes: P seats, D deciding seats per step, O observation size (flat), A actions,
G symmetries.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

State = Any
"""An environment's state: a pytree, every leaf an array."""


class Symmetries(NamedTuple):
    """G symmetries of a game as index tables (int32, leading [G], row 0 the
    identity)."""

    observation: np.ndarray
    """int32[G, O]: the observation of the transformed state is
    `obs[observation[g]]`."""
    actions: np.ndarray
    """int32[G, A]: the image of real action a (so the transformed game's logits,
    read at `actions[g]`, are the real game's)."""
    actions_inverse: np.ndarray
    """int32[G, A]: the preimage, `actions_inverse[g, actions[g, a]] = a`."""
    names: tuple[str, ...]
    """A short name per symmetry, for logs and figures."""

    @property
    def size(self) -> int:
        """G, the number of symmetries."""
        return int(self.observation.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class Environment:
    """One environment with its params bound: sizes and pure functions.

    Every function is for one game (no batch axis); `vmap` batches it. The params
    are bound here so that callers never need to know their type; each function
    is also pure in (key, state). Compared and hashed by identity (a cache key).
    """

    name: str
    """Registry name (e.g. 'hanabi')."""
    title: str
    """The game as results and figures name it (Hanabi: the preset,
    'Hanabi-Very-Small'; Overcooked: 'Overcooked V2 cramped_room')."""
    num_players: int
    """P seats."""
    num_actions: int
    """A actions per decision."""
    obs_size: int
    """O, the length of a seat's flat observation."""
    obs_dtype: Any
    """The observation's dtype (uint8 where values are small counts)."""
    simultaneous: bool
    """Every seat decides at every step (D = P); else one seat per step (D = 1)."""
    max_steps: int
    """An upper bound on an episode's steps (a played game that runs past it is
    stopped there)."""
    reset: Callable[[jax.Array], State]
    """key -> the first state of an episode."""
    step: Callable[[jax.Array, State, jax.Array], tuple[State, jax.Array, jax.Array]]
    """(key, state, actions int32[D]) -> (state, common reward float32[], episode
    ended bool[])."""
    observe: Callable[[State], jax.Array]
    """state -> every seat's observation [P, O] (obs_dtype)."""
    legal_actions: Callable[[State], jax.Array]
    """state -> bool[D, A], the deciding seats' legal actions."""
    actors: Callable[[State], jax.Array]
    """state -> int32[D], the deciding seats."""
    failed: Callable[[State], jax.Array]
    """state -> bool[], the episode was lost outright (Hanabi: the last life
    token is gone); always False where a game has no such end."""
    failure: str | None
    """What results call the fraction of `failed` episodes (Hanabi:
    'lost_lives'); None where an episode cannot be lost outright."""
    max_score: int | None
    """The highest score, where scores are integers from 0 to it (Hanabi: colors
    x ranks), so results count the episodes per score; else None."""
    symmetries: Symmetries
    """The game's symmetries (at least the identity)."""
    permute_state: Callable[[State, int], State]
    """(state, g) -> the state transformed by symmetry g (g a Python int)."""
    scoring: tuple[tuple[str, Any], ...] = ()
    """Options that make the common reward the game's score, which evaluation
    plays (Overcooked: reward_shaping=0, no shaped rewards); empty where the
    training reward is the score."""
    touched_plays: Callable[[State, jax.Array], jax.Array] | None = None
    """Turn-based games with hints: (state, action int32[]) -> bool[A], the
    actions of the next deciding seat that play what `action` touched (Hanabi:
    a hint to that player touches the cards of its color or rank; playing one of
    them answers the hint); None where the game has no such notion. Read by the
    hint-meaning table of cross-play (`marl.deep.play.action_transitions`)."""
    game: str = ""
    """The game apart from how a seat observes it: environments with the same
    `game` share states, actions and rewards, so seats observing through
    different encodings can play one game (Hanabi: the title without its
    observation); empty: the title."""
    scripted: tuple[tuple[str, Callable[[jax.Array], jax.Array]], ...] = ()
    """Rule-based policies of the game, partners that no training wrote: (name,
    one seat's observation [O] -> logits float32[A]), played like a trained
    agent (`marl.deep.networks.with_scripted`; Hanabi: IGGI, Piers, Outer and
    Van den Bergh, `games.envs.hanabi.bots`); empty where the game has none."""

    @property
    def num_deciders(self) -> int:
        """D: deciding seats per step."""
        return self.num_players if self.simultaneous else 1


def identity_symmetry(obs_size: int, num_actions: int) -> Symmetries:
    """The trivial group: the identity's tables only."""
    return Symmetries(
        observation=np.arange(obs_size, dtype=np.int32)[None],
        actions=np.arange(num_actions, dtype=np.int32)[None],
        actions_inverse=np.arange(num_actions, dtype=np.int32)[None],
        names=("identity",),
    )


def seen_through(envs: Sequence[Environment]) -> Environment:
    """One game (`Environment.game`) observed through E encodings at once, for
    seats that each observe through their own (cross-play of agents trained on
    different encodings, `marl.deep.networks.with_encodings`): a seat's
    observation is the E encodings' [O] concatenated, float32[E O], the
    symmetries' observation tables likewise (encoding e's table shifted by
    e O), and the rule-based partners read the first encoding that has them.
    States, actions, rewards and the rest are the first environment's. The
    environments must share `game`, O, A and the symmetries' action tables;
    else ValueError, one line."""
    first = envs[0]
    games = {env.game or env.title for env in envs}
    if len(games) > 1:
        raise ValueError(f"one game is observed through encodings: {sorted(games)}")
    for env in envs[1:]:
        if env.obs_size != first.obs_size or env.num_actions != first.num_actions:
            raise ValueError(
                f"{env.title} and {first.title} differ in observation or action size"
            )
        if not np.array_equal(env.symmetries.actions, first.symmetries.actions):
            raise ValueError(f"{env.title} and {first.title} differ in symmetries")
    size = first.obs_size
    observers = [env.observe for env in envs]

    def observe(state: State) -> jax.Array:
        return jax.numpy.concatenate(
            [jax.numpy.asarray(o(state), jax.numpy.float32) for o in observers], -1
        )

    reader = next((e for e, env in enumerate(envs) if env.scripted), None)
    segment = (
        slice(0, 0) if reader is None else slice(reader * size, (reader + 1) * size)
    )
    scripted = () if reader is None else envs[reader].scripted

    def reading(script: Callable[[jax.Array], jax.Array]) -> Callable:
        return lambda obs: script(obs[segment].astype(envs[reader or 0].obs_dtype))

    tables = np.concatenate(
        [
            np.asarray(env.symmetries.observation) + e * size
            for e, env in enumerate(envs)
        ],
        -1,
    ).astype(np.int32)
    return dataclasses.replace(
        first,
        title=first.game or first.title,
        obs_size=size * len(envs),
        obs_dtype=jax.numpy.float32,
        observe=observe,
        symmetries=first.symmetries._replace(observation=tables),
        scripted=tuple((name, reading(script)) for name, script in scripted),
    )


class UnknownEnvironmentError(KeyError):
    """An environment name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class EnvironmentOptionError(ValueError):
    """An option an environment does not have, or an impossible value."""


ENVIRONMENTS: dict[str, str] = {
    "hanabi": "games.envs.hanabi.environment:make",
    "overcooked": "games.envs.overcooked:make",
}
"""Registry: name -> 'module:function' of a factory `make(**options) ->
Environment`. Imported on use, so an optional dependency (JaxMARL for
Overcooked) is needed only by the environment that uses it."""


def make_env(name: str, **options: Any) -> Environment:
    """The environment `name` made with `options` (each factory documents its
    own; an unknown option raises EnvironmentOptionError)."""
    if name not in ENVIRONMENTS:
        raise UnknownEnvironmentError(
            f"unknown environment '{name}'; registered: {', '.join(ENVIRONMENTS)}"
        )
    module, function = ENVIRONMENTS[name].split(":")
    factory = getattr(importlib.import_module(module), function)
    return factory(**options)


def reject_options(name: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    """Raises EnvironmentOptionError naming the first option not in `known`."""
    for option in options:
        if option not in known:
            raise EnvironmentOptionError(
                f"env.{option}: {name} has no such option (it has: {', '.join(known)})"
            )
