"""Games: tabular specs, their compiled arrays, the catalogue, and user files."""

from games.catalogue import CATALOGUE
from games.compile import TabularGame, compile_game
from games.files import GameFileError, load_game_file, parse_game
from games.spec import DecPOMDP, GameSpecError, MatrixGame, card_game, matrix_game


class UnknownGameError(KeyError):
    """A game name that is not in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0])


def make_spec(name: str) -> DecPOMDP | MatrixGame:
    """The catalogue spec called `name`."""
    if name not in CATALOGUE:
        raise UnknownGameError(
            f"unknown game '{name}'; the catalogue has: {', '.join(sorted(CATALOGUE))}"
        )
    return CATALOGUE[name]()


def make(name: str) -> TabularGame:
    """The compiled catalogue game called `name`."""
    return compile_game(make_spec(name))


__all__ = [
    "CATALOGUE",
    "DecPOMDP",
    "GameFileError",
    "GameSpecError",
    "MatrixGame",
    "TabularGame",
    "UnknownGameError",
    "card_game",
    "compile_game",
    "load_game_file",
    "make",
    "make_spec",
    "matrix_game",
    "parse_game",
]
