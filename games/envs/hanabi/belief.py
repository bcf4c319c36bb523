"""The "v0 belief" observation of SAD/OBL and JaxMARL, for every player at once.

`v0_belief(state, params)` is HLE's canonical vector (`games.envs.hanabi.encoding`) with
the plausible-card bits of the card-knowledge section replaced by a public belief:
for each card slot, the plausible-card indicator times the number of copies of
each card that are not yet publicly seen (the full deck's copies minus the
discard pile minus the cards on the fireworks), normalised to sum to 1 over the
card types. The revealed-color and revealed-rank bits after it are kept, and
empty slots stay all zero. Every other section is the canonical one, so the
layout and the size are the canonical encoder's (658 floats for the 2-player
full game, JaxMARL's `HanabiEnv.obs_size`).

Sources (read, not copied):
  * SAD (Hu & Foerster 2020, "Simplified action decoder for deep multi-agent
    reinforcement learning"), the hanabi-learning-environment fork it builds on,
    github.com/hengyuan-hu/hanabi-learning-environment at 273c5ca,
    `hanabi_lib/canonical_encoders.cc`: `EncodeV0Belief_` multiplies each slot's
    25 plausible bits by `ComputeCardCount(..., publ=true)` and divides by their
    total; `CanonicalObservationEncoder::Encode` writes it in place of
    `EncodeCardKnowledge`.
  * OBL (Hu et al. 2021, "Off-belief learning"), github.com/facebookresearch/
    off-belief-learning at ce8e4fd, the same `EncodeV0Belief_` with `publ=true`
    in `Encode`; `rlcc/utils.h`, `splitPrivatePublic`: the network input
    `priv_s` drops the fork's leading own-hand block (H * T bits, zero anyway),
    which leaves exactly HLE's canonical layout with the v0 belief section.
  * JaxMARL (Rutherford et al. 2024), `jaxmarl/environments/hanabi/hanabi.py`,
    `HanabiEnv.get_v0_belief_feats` and `get_obs`: the same public count (full
    deck minus discards minus fireworks), the same normalisation, zeros for
    empty slots, and an observation of `obs_size` = the canonical size.

The counts are public: cards in other players' hands are *not* removed (that
would be the fork's private count, `publ=false`, used only for its belief-model
targets). So every player's belief about a slot is the same distribution, and
the slot's true card always has a positive weight (a card in a hand is neither
discarded nor played), so the total is never zero for a card that is there.

Sections, in order (P players, H hand size, C colors, R ranks, T = C * R):

  hands, board, discards, last action   the canonical sections, as 0.0 / 1.0
  v0 belief      P * H * (T + C + R)    per player (offset order from the
                                        observer, the observer first) and slot:
                                        T belief weights (color-major card
                                        index), the color revealed one-hot, the
                                        rank revealed one-hot
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi.encoding import canonical, canonical_sections
from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import HanabiState


def v0_belief_sections(params: HanabiParams) -> dict[str, int]:
    """The v0-belief vector's sections and their sizes, in order: the canonical
    sections with `card_knowledge` replaced by `v0_belief` of the same size."""
    sections = canonical_sections(params)
    belief = sections.pop("card_knowledge")
    return {**sections, "v0_belief": belief}


def v0_belief_size(params: HanabiParams) -> int:
    """Length of one player's v0-belief vector (= `canonical_size(params)`; 658
    for the 2-player full game)."""
    return sum(v0_belief_sections(params).values())


def public_card_counts(state: HanabiState, params: HanabiParams) -> jax.Array:
    """int32[T]: copies of each card not publicly seen, by color-major card id.

    The full deck's copies minus the discarded (or misplayed) ones minus the ones
    on the fireworks (a color's firework holds its ranks below `fireworks[c]`):
    the fork's `ComputeCardCount(..., publ=true)` (canonical_encoders.cc).
    Cards in hands are not removed, so these count the deck and every hand.
    """
    copies = np.tile(np.asarray(params.card_counts, np.int32), params.num_colors)
    ranks = jnp.arange(params.num_ranks)
    played = (ranks[None, :] < state.fireworks[:, None]).reshape(-1)
    return jnp.asarray(copies) - state.discards - played.astype(jnp.int32)


def card_beliefs(state: HanabiState, params: HanabiParams) -> jax.Array:
    """float32[P, H, T]: the v0 belief of every slot, by absolute player.

    Entry `[q, h, t]` is `plausible[q, h, t] * count[t] / sum_t'(...)` with
    `plausible` HLE's card knowledge (color plausible and rank plausible) and
    `count` the public card counts; all zero for an empty slot (EncodeV0Belief_
    in the SAD/OBL fork of HLE's canonical_encoders.cc). The same for every
    observer, since card knowledge and the counts are common knowledge.
    """
    num_players, hand_size = params.num_players, params.hand_size
    plausible = (
        state.color_plausible[..., :, None] & state.rank_plausible[..., None, :]
    ).reshape(num_players, hand_size, params.num_card_types)
    present = (state.hands >= 0)[..., None]
    weights = jnp.where(
        plausible & present,
        public_card_counts(state, params).astype(jnp.float32),
        0.0,
    )
    total = weights.sum(axis=-1, keepdims=True)
    return jnp.where(total > 0, weights / jnp.where(total > 0, total, 1.0), 0.0)


def v0_belief(state: HanabiState, params: HanabiParams) -> jax.Array:
    """Every player's v0-belief observation, float32[P, v0_belief_size(params)].

    Row p is the canonical vector of player p (`canonical`) as floats, with the
    card-knowledge section replaced by, for each player by offset from p and
    each slot, `card_beliefs` then the revealed color and rank one-hots (module
    docstring). Jittable; `jax.vmap` over states for a batch.
    """
    num_players = params.num_players
    sections = canonical_sections(params)
    public_size = sum(sections.values()) - sections["card_knowledge"]
    public = canonical(state, params)[:, :public_size].astype(jnp.float32)

    present = (state.hands >= 0)[..., None]
    per_slot = jnp.concatenate(
        [
            card_beliefs(state, params),
            jax.nn.one_hot(state.color_hinted, params.num_colors) * present,
            jax.nn.one_hot(state.rank_hinted, params.num_ranks) * present,
        ],
        axis=-1,
    )  # [P, H, T + C + R] by absolute player
    order = (
        jnp.arange(num_players)[:, None] + jnp.arange(num_players)[None, :]
    ) % num_players  # [observer, offset] -> absolute player
    belief = per_slot[order].reshape(num_players, -1)
    return jnp.concatenate([public, belief], axis=-1)
