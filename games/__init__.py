"""Games, in two rooms that never import each other (tests/test_layers.py):

- `games.tabular`: Dec-POMDP and matrix-game specs, compiled for the exact
  engines; the catalogue, the Dec-POMDP benchmarks, YAML and .dpomdp files.
  `games.make(name)` is a compiled catalogue game.
- `games.envs`: the environment contract of the deep wing and its environments
  (Hanabi, Overcooked V2). `games.make_env(name, **options)` is an environment.

The names below are the rooms' public ones, gathered here for convenience.
"""

from games.envs import Environment, Symmetries, make_env
from games.tabular import (
    BENCHMARKS,
    CATALOGUE,
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
