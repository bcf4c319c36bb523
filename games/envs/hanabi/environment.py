"""Hanabi as an implementation of the environment contract (`games.envs.contract`).

Turn-based (one deciding seat, `current_player`), every seat observing HLE's
canonical encoding (uint8; or, with `observation="v0_belief"`, the v0-belief
encoding of SAD/OBL and JaxMARL, float32, `games.envs.hanabi.belief`), the
common reward of HLE (the change in score, the
score lost when the last life token goes), and the color permutations as its
symmetries (C! of them, the identity first). `step` takes the contract's key and
ignores it: all of Hanabi's randomness is in the deck dealt at `reset`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.contract import Environment, Symmetries, reject_options
from games.envs.hanabi.belief import v0_belief
from games.envs.hanabi.bots import BOTS, bot
from games.envs.hanabi.encoding import canonical, canonical_size
from games.envs.hanabi.params import SIZES, HanabiParams, game_title, make_params
from games.envs.hanabi.rules import (
    REVEAL_COLOR,
    REVEAL_RANK,
    HanabiState,
    decode_action,
    legal_actions,
    reset,
    step,
)
from games.envs.hanabi.symmetry import (
    ColorPermutation,
    all_color_permutations,
    permute_state,
)

OPTIONS = ("preset", "num_players", *SIZES, "max_turns", "observation")
OBSERVATIONS = ("canonical", "v0_belief")
"""What a seat observes: HLE's canonical vector, or the v0 belief in place of its
card-knowledge section (same size and layout, so the same color permutation)."""


def touched_plays(
    state: HanabiState, action: jax.Array, params: HanabiParams
) -> jax.Array:
    """bool[A]: the next player's "play slot s" actions for the slots that the
    hint `action` (by the current player) touched in that player's hand; all
    False for a play, a discard, or a hint to another player (3+ players)."""
    kind, _, offset, value = decode_action(action, params)
    players = params.num_players
    target = (state.current_player + offset) % players
    cards = state.hands[target]  # int32[H], -1 empty
    colors, ranks = cards // params.num_ranks, cards % params.num_ranks
    touched = (cards >= 0) & jnp.where(
        kind == REVEAL_COLOR, colors == value, ranks == value
    )
    answers = ((kind == REVEAL_COLOR) | (kind == REVEAL_RANK)) & (offset == 1)
    plays = jnp.zeros(params.num_actions, bool)
    slots = params.hand_size + jnp.arange(params.hand_size)  # "play s" ids
    return plays.at[slots].set(touched & answers)


class CutState(NamedTuple):
    """A game cut after `max_turns` turns: the game and the turns played."""

    game: HanabiState
    turn: jax.Array  # int32[]


def color_symmetries(params: HanabiParams) -> tuple[Symmetries, ColorPermutation]:
    """Every color permutation as the contract's tables, and HLE-level tables."""
    perms = all_color_permutations(params)
    names = tuple(
        "colors " + "".join(str(int(c)) for c in np.asarray(colors))
        for colors in np.asarray(perms.colors)
    )
    tables = Symmetries(
        observation=np.asarray(perms.observation, np.int32),
        actions=np.asarray(perms.actions, np.int32),
        actions_inverse=np.asarray(perms.actions_inverse, np.int32),
        names=names,
    )
    return tables, perms


def environment(
    params: HanabiParams,
    title: str = "Hanabi",
    max_turns: int | None = None,
    observation: str = "canonical",
) -> Environment:
    """Hanabi with the game constants `params` as an `Environment` (`title`: the
    preset's name, what results call the game). With `max_turns` the game is cut
    after that many turns, its score so far kept (the exact engine's horizon of
    a compiled micro Hanabi, docs/hanabi_exact.md); its state is then a
    `CutState`. `observation`: one of `OBSERVATIONS`."""
    if observation not in OBSERVATIONS:
        raise ValueError(
            f"env.observation={observation!r}: choose one of {', '.join(OBSERVATIONS)}"
        )
    full = _environment(params, title, observation)
    if max_turns is None or max_turns >= params.max_game_length:
        return full
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r} must be a positive whole number")

    def cut_step(
        key: jax.Array, state: CutState, actions: jax.Array
    ) -> tuple[CutState, jax.Array, jax.Array]:
        game, reward, done = full.step(key, state.game, actions)
        turn = state.turn + 1
        return CutState(game, turn), reward, done | (turn >= max_turns)

    return dataclasses.replace(
        full,
        title=f"{title}, cut after {max_turns} turns",
        max_steps=max_turns,
        reset=lambda key: CutState(full.reset(key), jnp.zeros((), jnp.int32)),
        step=cut_step,
        observe=lambda state: full.observe(state.game),
        legal_actions=lambda state: full.legal_actions(state.game),
        actors=lambda state: full.actors(state.game),
        failed=lambda state: full.failed(state.game),
        permute_state=lambda state, g: state._replace(
            game=full.permute_state(state.game, g)
        ),
        touched_plays=lambda state, action: touched_plays(state.game, action, params),
    )


def _environment(params: HanabiParams, title: str, observation: str) -> Environment:
    symmetries, perms = color_symmetries(params)
    belief = observation == "v0_belief"

    def env_reset(key: jax.Array) -> HanabiState:
        return reset(key, params)

    def env_step(
        key: jax.Array, state: HanabiState, actions: jax.Array
    ) -> tuple[HanabiState, jax.Array, jax.Array]:
        del key  # the deck dealt at reset holds all of the game's chance
        state, reward, done = step(state, actions[0], params)
        return state, reward.astype(jnp.float32), done

    def one_permutation(g: int) -> ColorPermutation:
        return ColorPermutation(*(np.asarray(table)[g] for table in perms))

    return Environment(
        name="hanabi",
        title=title,
        num_players=params.num_players,
        num_actions=params.num_actions,
        obs_size=canonical_size(params),  # = v0_belief_size(params)
        obs_dtype=jnp.float32 if belief else jnp.uint8,
        simultaneous=False,
        max_steps=params.max_game_length,
        reset=env_reset,
        step=env_step,
        observe=lambda state: (v0_belief if belief else canonical)(state, params),
        legal_actions=lambda state: legal_actions(state, params)[None],
        actors=lambda state: state.current_player[None].astype(jnp.int32),
        failed=lambda state: state.life_tokens < 1,
        failure="lost_lives",
        max_score=params.max_score,
        symmetries=symmetries,
        permute_state=lambda state, g: permute_state(state, one_permutation(g)),
        touched_plays=lambda state, action: touched_plays(state, action, params),
        # The bots read the canonical encoding.
        scripted=() if belief else tuple((name, bot(name, params)) for name in BOTS),
    )


def game_params(
    preset: str = "Hanabi-Full", num_players: int = 2, **options: Any
) -> HanabiParams:
    """The game constants of `make(preset, num_players, **options)` (its
    `max_turns` and `observation` change what is played or seen, not the game)."""
    reject_options("hanabi", options, OPTIONS)
    sizes = {k: v for k, v in options.items() if k not in ("max_turns", "observation")}
    return make_params(preset, num_players, **sizes)


def make(
    preset: str = "Hanabi-Full", num_players: int = 2, **options: Any
) -> Environment:
    """The registry's factory: HLE's `preset` (`games.envs.hanabi.PRESETS`) for
    `num_players` players, with any of the sizes `games.envs.hanabi.params.SIZES`
    (colors, ranks, hand_size, hints, lives) set over the preset's (None keeps
    the preset's), `max_turns` and `observation` (`OBSERVATIONS`; None:
    canonical)."""
    params = game_params(preset, num_players, **options)
    observation = options.get("observation") or "canonical"
    game = game_title(params, preset)
    seen = f", {observation} observation" if observation != "canonical" else ""
    env = environment(params, game + seen, options.get("max_turns"), observation)
    return dataclasses.replace(env, game=env.title.replace(seen, "", 1))
