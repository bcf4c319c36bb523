"""Games, in two rooms that never import each other (tests/test_layers.py):

- `games.tabular`: Dec-POMDP and matrix-game specs, compiled for the exact
  engines; the catalogue, the Dec-POMDP benchmarks, YAML and .dpomdp files.
  `games.make(name)` is a compiled catalogue game.
- `games.envs`: the environment contract of the deep wing and its environments
  (Hanabi, Overcooked V2). `games.make_env(name, **options)` is an environment.

The names below are the rooms' public ones, gathered here for convenience.
"""

import functools
import types
from collections.abc import Callable, Mapping

from games import hanabi_tabular, tabular
from games.envs import Environment, Symmetries, make_env
from games.tabular import (
    BENCHMARKS,
    CompileError,
    DecPOMDP,
    GameFileError,
    GameSpecError,
    MatrixGame,
    TabularGame,
    UnknownGameError,
    card_game,
    compile_game,
    load_any_file,
    load_dpomdp,
    load_game_file,
    matrix_game,
    optimum,
    parse_game,
    set_horizon,
    with_horizon,
)

CATALOGUE: Mapping[str, Callable[[], DecPOMDP | MatrixGame]] = types.MappingProxyType(
    {
        **tabular.CATALOGUE,
        **{
            name: functools.partial(hanabi_tabular.micro_spec, name)
            for name in hanabi_tabular.MICRO
        },
    }
)
"""Every catalogue game by name: the tabular room's (`games.tabular.CATALOGUE`)
and the micro Hanabi sizes, compiled from the environment room's rules
(`games.hanabi_tabular.MICRO`), which join it here, where both rooms are open.
Read-only: a game of one's own is a game file (docs/games.md)."""


def make_spec(name: str, horizon: int | None = None) -> DecPOMDP | MatrixGame:
    """The catalogue spec called `name`, at `horizon` (None: the game's own)."""
    if name in hanabi_tabular.MICRO:
        return hanabi_tabular.micro_spec(name, horizon)
    if name not in CATALOGUE:
        raise UnknownGameError(
            f"unknown game '{name}'; the catalogue has: {', '.join(sorted(CATALOGUE))}"
        )
    return tabular.make_spec(name, horizon)


def make(name: str, horizon: int | None = None) -> TabularGame:
    """The compiled catalogue game called `name`."""
    return compile_game(make_spec(name, horizon))


__all__ = [
    "BENCHMARKS",
    "CATALOGUE",
    "CompileError",
    "DecPOMDP",
    "Environment",
    "GameFileError",
    "GameSpecError",
    "MatrixGame",
    "Symmetries",
    "TabularGame",
    "UnknownGameError",
    "card_game",
    "compile_game",
    "load_any_file",
    "load_dpomdp",
    "load_game_file",
    "make",
    "make_env",
    "make_spec",
    "matrix_game",
    "optimum",
    "parse_game",
    "set_horizon",
    "with_horizon",
]
