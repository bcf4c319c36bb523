"""Games, in two rooms that never import each other (tests/test_layers.py):

- `games.tabular`: Dec-POMDP and matrix-game specs, compiled for the exact
  engines; the catalogue, the Dec-POMDP benchmarks, YAML and .dpomdp files.
  `games.make(name)` is a compiled catalogue game.
- `games.envs`: the environment contract of the deep wing and its environments
  (Hanabi, Overcooked V2). `games.make_env(name, **options)` is an environment.

The names below are the rooms' public ones, gathered here for convenience.
"""

import functools

from games import hanabi_tabular
from games.envs import Environment, Symmetries, make_env
from games.tabular import (
    BENCHMARKS,
    CATALOGUE,
    HORIZON_FACTORIES,
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
    make,
    make_spec,
    matrix_game,
    optimum,
    parse_game,
    set_horizon,
    with_horizon,
)

# The micro Hanabi sizes, compiled from the environment room's rules, join the
# tabular catalogue here, where both rooms are open.
for _name in hanabi_tabular.MICRO:
    CATALOGUE[_name] = functools.partial(hanabi_tabular.micro_spec, _name)
    HORIZON_FACTORIES[_name] = functools.partial(hanabi_tabular.micro_spec, _name)

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
