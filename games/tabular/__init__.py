"""The tabular room: Dec-POMDP and matrix-game specs, their compilation into the
exact engines' arrays, the catalogue (with the Dec-POMDP benchmarks), YAML game
files and MADP .dpomdp files. Nothing here knows of the environment room
(`games.envs`); the exact wing of `marl` reads this room only."""

from games.tabular.benchmarks import BENCHMARKS
from games.tabular.catalogue import CATALOGUE, HORIZON_FACTORIES, optimum
from games.tabular.compile import CompileError, TabularGame, compile_game
from games.tabular.dpomdp import load_dpomdp
from games.tabular.files import (
    GameFileError,
    check_game_file,
    load_game_file,
    parse_game,
)
from games.tabular.spec import (
    DecPOMDP,
    GameSpecError,
    MatrixGame,
    card_game,
    matrix_game,
    with_horizon,
)


class UnknownGameError(KeyError):
    """A game name that is not in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0])


def make_spec(name: str, horizon: int | None = None) -> DecPOMDP | MatrixGame:
    """The catalogue spec called `name`, at `horizon` (None: the game's own)."""
    if name not in CATALOGUE:
        raise UnknownGameError(
            f"unknown game '{name}'; the catalogue has: {', '.join(sorted(CATALOGUE))}"
        )
    if name in HORIZON_FACTORIES and horizon is not None:
        return HORIZON_FACTORIES[name](horizon)
    return set_horizon(CATALOGUE[name](), horizon)


def set_horizon(
    spec: DecPOMDP | MatrixGame, horizon: int | None
) -> DecPOMDP | MatrixGame:
    """`spec` at `horizon` (None: unchanged); a matrix game has horizon 1 only."""
    if horizon is None:
        return spec
    if isinstance(spec, MatrixGame):
        if horizon != 1:
            raise GameSpecError(
                "horizon", f"'{spec.name}' is a matrix game: its horizon is 1"
            )
        return spec
    return with_horizon(spec, horizon)


def load_any_file(path: str, horizon: int | None) -> DecPOMDP | MatrixGame:
    """A YAML game file or a .dpomdp(.gz) file, at `horizon`."""
    if path.endswith((".dpomdp", ".dpomdp.gz")):
        check_game_file(path)  # a missing file is named as such, before its horizon
        if horizon is None:
            raise GameFileError(
                f"{path}: a .dpomdp file has no horizon; set one (horizon=3)"
            )
        return load_dpomdp(path, horizon)
    return set_horizon(load_game_file(path), horizon)


def make(name: str, horizon: int | None = None) -> TabularGame:
    """The compiled catalogue game called `name`."""
    return compile_game(make_spec(name, horizon))


__all__ = [
    "BENCHMARKS",
    "CATALOGUE",
    "HORIZON_FACTORIES",
    "CompileError",
    "DecPOMDP",
    "GameFileError",
    "GameSpecError",
    "MatrixGame",
    "TabularGame",
    "UnknownGameError",
    "card_game",
    "compile_game",
    "load_any_file",
    "load_dpomdp",
    "load_game_file",
    "make",
    "make_spec",
    "matrix_game",
    "optimum",
    "parse_game",
    "set_horizon",
    "with_horizon",
]
