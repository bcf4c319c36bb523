"""Hanabi's parameters: the game's sizes and HLE's presets (`rl_env.make`).

`HanabiParams` is static (hashable, a pytree with no leaves), so one jitted game
compiles once per configuration; `make_params(preset, num_players)` builds the
configurations of hanabi-learning-environment's `rl_env` (Bard et al. 2020).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

MIN_PLAYERS = 2
MAX_PLAYERS = 5
MAX_COLORS = 5
MAX_RANKS = 5
MAX_HAND_SIZE = 8  # HLE keeps hint outcomes in a uint8 bitmask per hand.
SIZES: dict[str, str] = {
    "colors": "num_colors",
    "ranks": "num_ranks",
    "hand_size": "hand_size",
    "hints": "max_information_tokens",
    "lives": "max_life_tokens",
}
"""The sizes a configuration may set over its preset (`make_params`'s keywords),
and the `HanabiParams` field each one sets."""
OPTION_NAMES = {field: name for name, field in SIZES.items()}


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class HanabiParams:
    """Static game constants (a pytree with no leaves: safe to pass through jit).

    Field ranges are HLE's `HanabiGame` constructor checks (hanabi_game.cc).
    """

    num_players: int = 2
    """Players, 2 to 5."""
    num_colors: int = 5
    """Colors (suits), 1 to 5, in HLE's order R, Y, G, W, B."""
    num_ranks: int = 5
    """Ranks per color, 1 to 5."""
    hand_size: int = 5
    """Cards per full hand (HLE's default: 5 for 2-3 players, 4 for 4-5)."""
    max_information_tokens: int = 8
    """Information (hint) tokens at the start and at most."""
    max_life_tokens: int = 3
    """Life (fuse) tokens at the start; the game ends when they run out."""

    def __post_init__(self) -> None:
        checks = (
            ("num_players", MIN_PLAYERS <= self.num_players <= MAX_PLAYERS, "2 to 5"),
            ("num_colors", 1 <= self.num_colors <= MAX_COLORS, "1 to 5"),
            ("num_ranks", 1 <= self.num_ranks <= MAX_RANKS, "1 to 5"),
            ("hand_size", 1 <= self.hand_size <= MAX_HAND_SIZE, "1 to 8"),
            ("max_information_tokens", self.max_information_tokens >= 0, ">= 0"),
            ("max_life_tokens", self.max_life_tokens >= 1, ">= 1"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(
                    f"Hanabi {OPTION_NAMES.get(name, name)}={getattr(self, name)!r} "
                    f"must be {allowed}"
                )
        if self.num_players * self.hand_size > self.deck_size:
            raise ValueError(
                f"Hanabi: {self.num_players} hands of {self.hand_size} cards "
                f"need more than the deck's {self.deck_size} cards "
                f"({self.num_colors} colors x {sum(self.card_counts)} cards)"
            )

    @property
    def card_counts(self) -> tuple[int, ...]:
        """Copies of each rank in a color: 3 of the lowest, 1 of the highest, 2 of
        the others; a single rank has 3 (HLE's `NumberCardInstances`)."""
        return tuple(
            3 if rank == 0 else 1 if rank == self.num_ranks - 1 else 2
            for rank in range(self.num_ranks)
        )

    @property
    def num_card_types(self) -> int:
        """Distinct cards, `num_colors * num_ranks` (25 in the full game)."""
        return self.num_colors * self.num_ranks

    @property
    def deck_size(self) -> int:
        """Cards in a full deck (50 in the full game)."""
        return self.num_colors * sum(self.card_counts)

    @property
    def max_score(self) -> int:
        """Score with every firework complete."""
        return self.num_card_types

    @property
    def num_color_hints(self) -> int:
        """Color-hint actions, `(num_players - 1) * num_colors`."""
        return (self.num_players - 1) * self.num_colors

    @property
    def num_rank_hints(self) -> int:
        """Rank-hint actions, `(num_players - 1) * num_ranks`."""
        return (self.num_players - 1) * self.num_ranks

    @property
    def num_actions(self) -> int:
        """Actions in HLE's move-uid order: discards, plays, color hints, rank hints
        (HLE's `MaxMoves`; 20 for the 2-player full game)."""
        return 2 * self.hand_size + self.num_color_hints + self.num_rank_hints

    @property
    def max_game_length(self) -> int:
        """An upper bound on the moves of any game.

        Before the deck runs out a move either takes a card from the deck (at most
        `deck_size - num_players * hand_size` of them) or spends a hint token (at
        most the starting tokens plus one per discard and per completed color);
        after it runs out each player moves once more.
        """
        drawn = self.deck_size - self.num_players * self.hand_size
        return (
            2 * drawn + self.max_information_tokens + self.num_colors + self.num_players
        )

    def sorted_deck(self) -> np.ndarray:
        """Every card of the deck in card-id order, int32[deck_size]."""
        return np.repeat(
            np.arange(self.num_card_types, dtype=np.int32),
            np.tile(np.asarray(self.card_counts), self.num_colors),
        )


# rl_env.make's game configurations (hanabi_learning_environment/rl_env.py). Hand
# size None means HLE's default from the player count.
PRESETS: dict[str, dict[str, int | None]] = {
    "Hanabi-Full": dict(
        num_colors=5,
        num_ranks=5,
        hand_size=None,
        max_information_tokens=8,
        max_life_tokens=3,
    ),
    "Hanabi-Small": dict(
        num_colors=2,
        num_ranks=5,
        hand_size=2,
        max_information_tokens=3,
        max_life_tokens=1,
    ),
    "Hanabi-Very-Small": dict(
        num_colors=1,
        num_ranks=5,
        hand_size=2,
        max_information_tokens=3,
        max_life_tokens=1,
    ),
}
PRESETS["Hanabi-Full-CardKnowledge"] = PRESETS["Hanabi-Full"]  # rl_env's alias.


def make_params(
    preset: str = "Hanabi-Full", num_players: int = 2, **sizes: int | None
) -> HanabiParams:
    """The parameters of `rl_env.make(preset, num_players)`, with any of `SIZES`
    (colors, ranks, hand_size, hints, lives) set over the preset's; None keeps the
    preset's value.

    Any size HLE's `HanabiGame` accepts is allowed (2 to 5 players, 1 to 5 colors
    and ranks, hands that the deck can deal; card counts are HLE's: 3 of the
    lowest rank, 1 of the highest, 2 of the others); anything else is a
    `ValueError` of one line naming the size.
    """
    if preset not in PRESETS:
        raise ValueError(
            f"unknown Hanabi preset {preset!r}; choose one of {', '.join(PRESETS)}"
        )
    if not isinstance(num_players, int) or not (
        MIN_PLAYERS <= num_players <= MAX_PLAYERS
    ):
        raise ValueError(
            f"{preset} needs 2 to 5 players, got num_players={num_players!r}"
        )
    unknown = sorted(set(sizes) - set(SIZES))
    if unknown:
        raise ValueError(
            f"unknown Hanabi size {unknown[0]!r}; the sizes are {', '.join(SIZES)}"
        )
    config = dict(PRESETS[preset])
    for name, value in sizes.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"Hanabi {name}={value!r} must be a whole number")
        config[SIZES[name]] = value
    if config["hand_size"] is None:
        # HLE's HandSizeFromRules: 5 cards for 2-3 players, 4 for 4-5.
        config["hand_size"] = 5 if num_players < 4 else 4
    return HanabiParams(num_players=num_players, **config)  # type: ignore[arg-type]


def game_title(params: HanabiParams, preset: str) -> str:
    """What results call the game: the preset's name where `params` is the
    preset's game, else its sizes ('Hanabi 3c x 3r, hand 3, 5 hints, 3 lives')."""
    if params == make_params(preset, params.num_players):
        return preset
    return (
        f"Hanabi {params.num_colors}c x {params.num_ranks}r, hand {params.hand_size}, "
        f"{params.max_information_tokens} hints, {params.max_life_tokens} "
        f"li{'fe' if params.max_life_tokens == 1 else 'ves'}"
    )
