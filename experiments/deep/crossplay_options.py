"""Cross-play's options as one frozen, documented value (`CrossplayOptions`),
in the way of cleanrl's `Args`: each field is an option of `python -m
experiments.crossplay`, with its default and its help; `parser` builds the
command line from the fields, and `CrossplayOptions.parse` checks the values
(one line, `CrossPlayError`) before any work."""

from __future__ import annotations

import dataclasses
import pathlib
import types
import typing
from typing import Any

from experiments.deep.agents import CrossPlayError
from experiments.deep.evaluation import TARGET_SE_SHARE
from experiments.harness.arguments import ArgumentParser


def option(default: Any, help: str, **argparse: Any) -> Any:
    """A field of `CrossplayOptions`: its default, its help, and anything else
    argparse takes for it (`nargs` for a positional)."""
    return dataclasses.field(default=default, metadata={"help": help, **argparse})


@dataclasses.dataclass(frozen=True)
class CrossplayOptions:
    """Every option of `python -m experiments.crossplay` (its `--help`)."""

    paths: tuple[str, ...] = option(
        (), "IPPO run directories or sweeps", positional=True
    )
    games: int | None = option(
        None, "exactly this many games per pair (default: by SE)"
    )
    max_games: int = option(5000, "the most games per pair")
    target_se: float | None = option(
        None,
        "stop once every pair's standard error is at most this (default: "
        f"{100 * TARGET_SE_SHARE:g}% of the game's maximum score)",
    )
    max_minutes: float | None = option(
        None,
        "play no more games per pair than fit in this many minutes (measured on "
        "the first round)",
    )
    round_games: int | None = option(
        None, "games per pair in a round (default: by size)"
    )
    seed: int = option(0, "deals and sampling")
    step: int | None = option(
        None,
        "the agents at this update of every run (a milestone checkpoint, "
        "keep_every) instead of the latest",
    )
    out: pathlib.Path | None = option(  # noqa: RUF009 (a dataclasses.field)
        None,
        "output directory (unset: <dir>/crossplay for one directory given, else "
        "outputs/crossplay/<date>)",
    )
    permutations: int = option(
        8,
        "symmetries of the game for the symmetry measures (Hanabi: color "
        "permutations), the identity included (all of them when there are fewer); "
        "< 2 turns the measures off",
    )
    symmetry_games: int = option(500, "games per permutation")
    convention_games: int = option(
        500,
        "sampled self-play games per agent for its conditional action matrix (0: none)",
    )
    convention_tol: float = option(
        0.1,
        "agents whose aligned convention matrices are closer than this hold one "
        "convention",
    )
    max_assignments: int = option(
        1000,
        "3+ players: assignments of distinct agents to seats played per group for "
        "XP (all of them when there are fewer)",
    )
    pairs_per_batch: int | None = option(
        None, "pairs played side by side (all when unset; lower it to save memory)"
    )
    bots: str | None = option(
        None,
        "rule-based partners to add, comma-separated, or 'all' (Hanabi: iggi, "
        "piers, outer, van_den_bergh)",
    )
    force: bool = option(
        False,
        "replace an earlier evaluation in the output directory that played more "
        "games (by default that is refused)",
    )

    def __post_init__(self) -> None:
        """Refuses (CrossPlayError, one line) an impossible count or size."""
        at_least = {"games": 1, "max_games": 1, "round_games": 1}
        at_least |= {"pairs_per_batch": 1, "max_assignments": 1}
        at_least |= {"symmetry_games": 0, "convention_games": 0}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise CrossPlayError(f"{flag(name)}={value} must be >= {low}")
        for name in ("target_se", "max_minutes", "convention_tol"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise CrossPlayError(f"{flag(name)}={value} must be > 0")
        if self.games is not None and self.target_se is not None:
            raise CrossPlayError("--games plays exactly that many: drop --target-se")

    @classmethod
    def parse(cls, argv: list[str] | None, description: str) -> CrossplayOptions:
        """The options of a command line (argparse's own errors exit 2 with one
        line; impossible values raise CrossPlayError)."""
        namespace = parser(description).parse_args(argv)
        values = vars(namespace)
        values["paths"] = tuple(values["paths"])
        return cls(**values)


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _value_type(annotation: str) -> type:
    """The type argparse converts a field's value to (the one that is not None)."""
    hinted = typing.get_type_hints(CrossplayOptions)[annotation]
    if isinstance(hinted, types.UnionType):
        (hinted,) = [t for t in typing.get_args(hinted) if t is not type(None)]
    return hinted


def parser(description: str) -> ArgumentParser:
    """The command line, built from `CrossplayOptions`'s fields."""
    made = ArgumentParser("experiments.crossplay", description)
    for field in dataclasses.fields(CrossplayOptions):
        meta = dict(field.metadata)
        help_text = meta.pop("help").replace("%", "%%")  # argparse formats with %
        if meta.pop("positional", False):
            made.add_argument(field.name, nargs="+", help=help_text)
            continue
        kind = _value_type(field.name)
        if kind is bool:
            made.add_argument(flag(field.name), action="store_true", help=help_text)
        else:
            made.add_argument(
                flag(field.name),
                type=kind,
                default=field.default,
                help=help_text,
                **meta,
            )
    return made
