"""Hanabi in pure JAX, identical to hanabi-learning-environment (see docs/hanabi.md).

`params` holds the game's sizes and HLE's presets; `rules` the game (reset, step,
legal actions); `encoding` the canonical
observation vectors; `belief` the v0-belief vectors of SAD/OBL and JaxMARL;
`symmetry` the color permutations on states, observations and actions; `verify`
the lockstep check against HLE (it needs hanabi-learning-environment installed
and is not imported here).
"""

from games.envs.hanabi.belief import (
    card_beliefs,
    public_card_counts,
    v0_belief,
    v0_belief_sections,
    v0_belief_size,
)
from games.envs.hanabi.encoding import canonical, canonical_sections, canonical_size
from games.envs.hanabi.params import (
    PRESETS,
    SIZES,
    HanabiParams,
    game_title,
    make_params,
)
from games.envs.hanabi.rules import (
    DecodedAction,
    HanabiState,
    IllegalActionError,
    checked_step,
    decode_action,
    describe_action,
    legal_actions,
    legal_actions_per_player,
    reset,
    step,
    validate_deck,
)
from games.envs.hanabi.symmetry import (
    ColorPermutation,
    all_color_permutations,
    color_permutation,
    compose_permutations,
    invert_permutation,
    permute_action,
    permute_action_values,
    permute_observation,
    permute_state,
)

__all__ = [
    "PRESETS",
    "SIZES",
    "ColorPermutation",
    "DecodedAction",
    "HanabiParams",
    "HanabiState",
    "IllegalActionError",
    "all_color_permutations",
    "canonical",
    "canonical_sections",
    "canonical_size",
    "card_beliefs",
    "checked_step",
    "color_permutation",
    "compose_permutations",
    "decode_action",
    "describe_action",
    "game_title",
    "invert_permutation",
    "legal_actions",
    "legal_actions_per_player",
    "make_params",
    "permute_action",
    "permute_action_values",
    "permute_observation",
    "permute_state",
    "public_card_counts",
    "reset",
    "step",
    "v0_belief",
    "v0_belief_sections",
    "v0_belief_size",
    "validate_deck",
]
