"""Overcooked V2 (JaxMARL's, Gessler et al. 2025) wrapped to the environment
contract (`games.envs.contract`). Needs the optional extra:
`pip install -e '.[overcooked]'`
(the `jaxmarl` package); JaxMARL is imported only when an Overcooked environment
is made, and none of its code is copied here.

What the wrapper decides:

- Simultaneous moves: both cooks act at every step (D = P), six actions each
  (right, down, left, up, stay, interact), all always legal.
- The common reward is JaxMARL's delivery reward (20 per correct dish, shared)
  plus `reward_shaping` times the sum of both cooks' shaped rewards (JaxMARL's
  SHAPED_REWARDS: ingredient into a pot, dish or plate picked up, ...); with
  `reward_shaping=0` the reward is the game's score, which is what cross-play
  reports.
- Observations are JaxMARL's default grid encoding (height x width x channels,
  egocentric in the channel order: own layers first), flattened, as uint8.
- Symmetries: every reflection of the grid (rows, columns, both) combined with a
  relabelling of the ingredients that maps the layout onto itself, keeps every
  cook's start cell (seats are not exchanged: Other-Play's symmetries act on each
  seat's own view), and maps the set of possible recipes onto itself. A layout
  like `fun_symmetries` (ingredient piles 0 and 1 mirrored across the middle row,
  recipes 000 and 111) has one besides the identity; `cramped_room` has none
  (its mirror exchanges the two cooks' start cells and the plate pile with the
  serving cell).

Episodes last `max_steps` steps (JaxMARL's 400 by default); nothing ends earlier.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import sys
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.contract import (
    Environment,
    EnvironmentOptionError,
    Symmetries,
    reject_options,
)

OPTIONS = ("layout", "max_steps", "reward_shaping", "agent_view_size")

# JaxMARL's codes (overcooked_v2/common.py), fixed by its observation layout.
_PILE_BASE = 10  # StaticObject.INGREDIENT_PILE_BASE
_ACTIONS = ("right", "down", "left", "up", "stay", "interact")
_DIRECTIONS = ("up", "down", "right", "left")  # Direction's order
_ROW_FLIP = {"up": "down", "down": "up"}
_COLUMN_FLIP = {"right": "left", "left": "right"}
_STATIC_LAYERS = 6  # wall, goal, pot, recipe indicator, button indicator, plates


@dataclasses.dataclass(frozen=True)
class GridSymmetry:
    """A reflection of the grid and a relabelling of the ingredients."""

    flip_rows: bool
    flip_columns: bool
    ingredients: tuple[int, ...]
    """The new label of ingredient i."""

    @property
    def name(self) -> str:
        parts = [
            part
            for part, on in (("rows", self.flip_rows), ("columns", self.flip_columns))
            if on
        ]
        moved = [f"{i}->{j}" for i, j in enumerate(self.ingredients) if i != j]
        words = ("flip " + "+".join(parts)) if parts else "identity"
        return words + (" ingredients " + ",".join(moved) if moved else "")

    def direction(self, name: str) -> str:
        if self.flip_rows:
            name = _ROW_FLIP.get(name, name)
        if self.flip_columns:
            name = _COLUMN_FLIP.get(name, name)
        return name


def relabel_static(static: Any, ingredients: tuple[int, ...]) -> jax.Array:
    """Static object codes with ingredient pile i made pile `ingredients[i]`."""
    table = jnp.asarray(ingredients, jnp.int32)
    piles = static >= _PILE_BASE
    relabelled = _PILE_BASE + table[jnp.maximum(static - _PILE_BASE, 0)]
    return jnp.where(piles, relabelled, static).astype(jnp.asarray(static).dtype)


def relabel_bits(value: jax.Array, ingredients: tuple[int, ...]) -> jax.Array:
    """JaxMARL's dynamic-object codes (plate bit, cooked bit, then two bits per
    ingredient count) with ingredient i's count moved to `ingredients[i]`."""
    out = value & 3
    for i, j in enumerate(ingredients):
        out = out | (((value >> (2 + 2 * i)) & 3) << (2 + 2 * j))
    return out


def _reflect(grid: Any, sym: GridSymmetry) -> Any:
    """A [rows, columns, ...] array (NumPy or JAX) reflected by `sym`."""
    if sym.flip_rows:
        grid = grid[::-1]
    if sym.flip_columns:
        grid = grid[:, ::-1]
    return grid


def grid_symmetries(layout: Any) -> list[GridSymmetry]:
    """The layout's symmetries (module docstring), the identity first."""
    static = np.asarray(layout.static_objects)
    height, width = static.shape
    recipes = {tuple(sorted(r)) for r in np.asarray(layout.possible_recipes).tolist()}
    found = []
    for flip_rows, flip_columns in itertools.product((False, True), repeat=2):
        for ingredients in itertools.permutations(range(layout.num_ingredients)):
            sym = GridSymmetry(flip_rows, flip_columns, ingredients)
            image = relabel_static(_reflect(static, sym), ingredients)
            starts_kept = all(
                (
                    width - 1 - x if flip_columns else x,
                    height - 1 - y if flip_rows else y,
                )
                == (x, y)
                for x, y in layout.agent_positions
            )
            mapped = {tuple(sorted(ingredients[i] for i in r)) for r in recipes}
            if np.array_equal(image, static) and starts_kept and mapped == recipes:
                found.append(sym)
    return found


def _channel_sources(sym: GridSymmetry, num_ingredients: int, extra: int) -> np.ndarray:
    """For each observation channel, the channel of the untransformed
    observation it is read from (JaxMARL's default encoding's channel order)."""
    inverse = np.argsort(sym.ingredients)  # label j comes from ingredient inverse[j]
    direction_source = [
        _DIRECTIONS.index(sym.direction(d)) for d in _DIRECTIONS
    ]  # the flips are involutions: sigma^-1 = sigma

    def items(offset: int) -> list[int]:  # plate, cooked, then one per ingredient
        return [offset, offset + 1] + [offset + 2 + int(i) for i in inverse]

    def cook(offset: int) -> list[int]:  # position, 4 directions, inventory
        return [offset] + [offset + 1 + d for d in direction_source] + items(offset + 5)

    per_cook = 7 + num_ingredients
    sources = cook(0) + cook(per_cook)
    offset = 2 * per_cook
    sources += list(range(offset, offset + _STATIC_LAYERS))
    offset += _STATIC_LAYERS
    sources += [offset + int(i) for i in inverse]  # ingredient piles
    offset += num_ingredients
    sources += items(offset)  # items on the grid
    offset += 2 + num_ingredients
    sources += items(offset)  # the recipe shown by indicators
    offset += 2 + num_ingredients
    sources += list(range(offset, offset + extra))
    return np.asarray(sources, np.int32)


def symmetry_tables(
    syms: list[GridSymmetry], obs_shape: tuple[int, int, int], num_ingredients: int
) -> Symmetries:
    """The contract's index tables of grid symmetries, for observations of
    `obs_shape` (rows, columns, channels)."""
    rows, columns, channels = obs_shape
    index = np.arange(rows * columns * channels, dtype=np.int32).reshape(obs_shape)
    extra = channels - (25 + 5 * num_ingredients - 1)
    observation, actions = [], []
    for sym in syms:
        gathered = _reflect(index, sym)[
            ..., _channel_sources(sym, num_ingredients, extra)
        ]
        observation.append(gathered.reshape(-1))
        actions.append([_ACTIONS.index(sym.direction(a)) for a in _ACTIONS])
    action_table = np.asarray(actions, np.int32)
    return Symmetries(
        observation=np.stack(observation),
        actions=action_table,
        actions_inverse=np.argsort(action_table, axis=1).astype(np.int32),
        names=tuple(sym.name for sym in syms),
    )


def permute_state(state: Any, sym: GridSymmetry, height: int, width: int) -> Any:
    """A JaxMARL Overcooked V2 state transformed by `sym`."""
    grid = _reflect(state.grid, sym)
    grid = jnp.stack(
        [
            relabel_static(grid[..., 0], sym.ingredients),
            relabel_bits(grid[..., 1], sym.ingredients),
            grid[..., 2],
        ],
        -1,
    )
    agents = state.agents
    pos = agents.pos
    x = width - 1 - pos.x if sym.flip_columns else pos.x
    y = height - 1 - pos.y if sym.flip_rows else pos.y
    direction = jnp.asarray(
        [_DIRECTIONS.index(sym.direction(d)) for d in _DIRECTIONS], agents.dir.dtype
    )[agents.dir]
    agents = agents.replace(
        pos=pos.replace(x=x, y=y),
        dir=direction,
        inventory=relabel_bits(agents.inventory, sym.ingredients),
    )
    return state.replace(
        grid=grid, agents=agents, recipe=relabel_bits(state.recipe, sym.ingredients)
    )


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silences file descriptor 1 while JaxMARL is first imported: it announces
    its optional submodules there (one of its modules rebinds `sys.stdout`
    during the import, so `contextlib.redirect_stdout` does not catch it). That
    module leaves `sys.stdout` and `sys.stderr` bound to the process's own
    streams, which would undo any redirection the caller made (a notebook's, a
    test's); both are put back as they were."""
    streams = sys.stdout, sys.stderr
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout, sys.stderr = streams


def layouts() -> tuple[str, ...]:
    """The names of JaxMARL's Overcooked V2 layouts."""
    with _quiet_stdout():
        from jaxmarl.environments.overcooked_v2.layouts import overcooked_v2_layouts

    return tuple(overcooked_v2_layouts)


def make(
    layout: str = "cramped_room",
    max_steps: int = 400,
    reward_shaping: float = 1.0,
    agent_view_size: int | None = None,
    **options: Any,
) -> Environment:
    """Overcooked V2 on JaxMARL's layout `layout` as an `Environment`.

    max_steps: the episode's length. reward_shaping: the weight of the shaped
    rewards in the common reward (0: the score). agent_view_size: None for the
    whole grid, else how many cells each cook sees in every direction.
    """
    reject_options("overcooked", options, OPTIONS)
    try:
        with _quiet_stdout():
            from jaxmarl.environments.overcooked_v2 import OvercookedV2
            from jaxmarl.environments.overcooked_v2.layouts import (
                overcooked_v2_layouts,
            )
    except ImportError as error:
        raise EnvironmentOptionError(
            f"env=overcooked needs JaxMARL: pip install -e '.[overcooked]' ({error})"
        ) from None
    if layout not in overcooked_v2_layouts:
        raise EnvironmentOptionError(
            f"env.layout={layout!r} is not a JaxMARL Overcooked V2 layout; choose one "
            f"of {', '.join(overcooked_v2_layouts)}"
        )
    if not isinstance(max_steps, int) or max_steps < 1:
        raise EnvironmentOptionError(f"env.max_steps={max_steps!r} must be >= 1")
    if not np.isfinite(reward_shaping) or reward_shaping < 0:
        raise EnvironmentOptionError(
            f"env.reward_shaping={reward_shaping!r} must be finite and >= 0"
        )
    if agent_view_size is not None and agent_view_size < 1:
        raise EnvironmentOptionError(
            f"env.agent_view_size={agent_view_size!r} must be >= 1 or null"
        )
    game = OvercookedV2(
        layout=layout, max_steps=max_steps, agent_view_size=agent_view_size
    )
    spec: Any = game.layout
    num_players = game.num_agents
    obs_shape: Any = tuple(np.asarray(game.obs_shape).tolist())
    syms = grid_symmetries(spec)
    tables = symmetry_tables(syms, obs_shape, spec.num_ingredients)
    shaping = float(reward_shaping)

    def reset(key: jax.Array) -> Any:
        return game.reset(key)[1]

    def step(key: jax.Array, state: Any, actions: jax.Array) -> tuple:
        moves = {f"agent_{i}": actions[i] for i in range(num_players)}
        _, state, rewards, dones, info = game.step_env(key, state, moves)
        shaped = sum(info["shaped_reward"][f"agent_{i}"] for i in range(num_players))
        reward = rewards["agent_0"] + shaping * shaped
        return state, jnp.asarray(reward, jnp.float32), dones["__all__"]

    def observe(state: Any) -> jax.Array:
        obs = game.get_obs(state)
        seats = jnp.stack([obs[f"agent_{i}"] for i in range(num_players)])
        return seats.reshape(num_players, -1).astype(jnp.uint8)

    legal = np.ones((num_players, len(_ACTIONS)), bool)
    seats = np.arange(num_players, dtype=np.int32)
    return Environment(
        name="overcooked",
        title=f"Overcooked V2 {layout}",
        num_players=num_players,
        num_actions=len(_ACTIONS),
        obs_size=int(np.prod(obs_shape)),
        obs_dtype=jnp.uint8,
        simultaneous=True,
        max_steps=max_steps,
        reset=reset,
        step=step,
        observe=observe,
        legal_actions=lambda state: jnp.asarray(legal),
        actors=lambda state: jnp.asarray(seats),
        failed=lambda state: jnp.zeros((), bool),
        failure=None,
        max_score=None,
        symmetries=tables,
        permute_state=lambda state, g: permute_state(
            state, syms[g], spec.height, spec.width
        ),
        scoring=(("reward_shaping", 0.0),),
    )
