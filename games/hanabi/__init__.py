"""Hanabi in pure JAX, identical to hanabi-learning-environment (see docs/hanabi.md).

`rules` holds the game (reset, step, legal actions); `encoding` the canonical
observation vectors; `verify` the lockstep check against HLE (it needs
hanabi-learning-environment installed and is not imported here).
"""

from games.hanabi.encoding import canonical, canonical_sections, canonical_size
from games.hanabi.rules import (
    PRESETS,
    DecodedAction,
    HanabiParams,
    HanabiState,
    IllegalActionError,
    checked_step,
    decode_action,
    describe_action,
    legal_actions,
    legal_actions_per_player,
    make_params,
    reset,
    step,
    validate_deck,
)

__all__ = [
    "PRESETS",
    "DecodedAction",
    "HanabiParams",
    "HanabiState",
    "IllegalActionError",
    "canonical",
    "canonical_sections",
    "canonical_size",
    "checked_step",
    "decode_action",
    "describe_action",
    "legal_actions",
    "legal_actions_per_player",
    "make_params",
    "reset",
    "step",
    "validate_deck",
]
