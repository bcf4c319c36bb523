"""Rule-based Hanabi partners that no training wrote: IGGI, Piers, Outer and Van
den Bergh, from the rule lists of Walton-Rivers, Williams, Bartle, Perez-Liebana
and Lucas (2017), "Evaluating and modelling Hanabi-playing agents" (van den
Bergh's rules after van den Bergh, Hommelberg, Kosters and Spieksma 2016), each
rule deciding as the class of the same name in the authors' framework
(fossgalaxy/hanabi; `benchmarks/fossgalaxy.py` replays its games against these,
docs/agents.md).

A bot is a pure function of one seat's HLE canonical observation
(`games.envs.hanabi.encoding.canonical`): `observation uint8[O] -> logits
float32[A]`, finite on the actions its first applicable rule allows (the log
of each one's weight relative to the likeliest: 0 for a rule that picks one
action or draws uniformly) and `REFUSED` elsewhere, so it plays anywhere a
trained network does (cross-play, replays, the symmetry measures: seen through
a color permutation, a bot is its color-permuted copy). It reads only what the
seat sees: the other hands, the fireworks, the discards, the tokens, the deck's
size and the hints about every hand. Any HLE size works (colors, ranks, hand
size, tokens, 2-5 players).

Rules (each weights the actions it allows, none where it does not apply; a
card's color or rank is "sure" where one value of it is plausible; "possible"
identities are those the hints allow with a copy unseen by the seat; slots go
oldest first, HLE's order, where the framework goes by position):

  play_if_certain          the first own card sure in color and rank, playable
  play_safe                the first own card whose possible identities are all
                           playable
  play_probably_safe(p)    the last own card of the highest chance of being
                           playable (possible identities weighted by their
                           unseen copies), if that chance is >= p
  osawa_discard            the first own card useless by its sure color and rank
                           alone, else the first sure in color whose lowest
                           possible rank its color can no longer reach
  discard_probably_useless(p)  the last own card most likely useless, if >= p
  discard_oldest           own slot 0
  discard_randomly         any own card
  tell_useful              the first playable card of another player (turn
                           order) not sure in both: its rank if not sure, else
                           its color
  tell_playable_next       the same for the next player's cards only
  tell_unknown             the next player's first card not sure in both: its
                           color if not sure, else its rank
  tell_dispensable         the first other card one hint shows useless
  tell_most_information    the hint touching most cards not yet sure in the
                           hinted attribute (ranks before colors; the first)
  tell_randomly            a card of the next player at random, then its color
                           or its rank at random

The bots (Walton-Rivers et al. 2017, section IV, as the framework builds them):

  iggi           play_if_certain, play_safe, tell_useful, osawa_discard,
                 discard_oldest, tell_randomly
  piers          [lives > 1 and no card unseen] play_probably_safe(0),
                 play_safe, [lives > 1] play_probably_safe(0.6), tell_useful,
                 [hint tokens < 4] tell_dispensable, osawa_discard,
                 discard_oldest, tell_randomly, discard_randomly
  outer          play_safe, osawa_discard, tell_playable_next, tell_unknown,
                 discard_randomly
  van_den_bergh  [lives > 1] play_probably_safe(0.6), [else] play_safe,
                 discard_probably_useless(1), tell_useful,
                 tell_most_information, discard_probably_useless(0)

Where no rule applies (the framework would stop the game) a bot takes any
legal action. With 3 or more players the framework's tell_dispensable and
tell_most_information go through the other players from seat 0, which a
seat's observation does not show; here they go in turn order (the same with
2). `VARIANTS` keeps the lab's first reading of the lists (`*_v1` rules:
knowledge inferred from every hint and unseen copy, the first of equals,
uniform random hints, Outer without tell_playable_next), the bots of every
result made before 2026-11-27.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.hanabi import bots_v1
from games.envs.hanabi.bot_view import (
    Facts,
    Rule,
    View,
    any_legal,
    discard_oldest,
    discard_randomly,
    discards,
    facts,
    few_hints,
    first_of,
    lives_left,
    play_if_certain,
    play_safe,
    plays,
    read,
    tell,
    when,
)
from games.envs.hanabi.encoding import canonical
from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import legal_actions, reset, step

BOTS = ("iggi", "piers", "outer", "van_den_bergh")
"""The rule-based partners, as fossgalaxy/hanabi's agents decide, in the order
results list them."""

VARIANTS = ("iggi_v1", "piers_v1", "outer_v1", "van_den_bergh_v1")
"""The lab's first reading of the same rule lists (until 2026-11-27), kept so
that results made with them can be made again."""

REFUSED = -1e9
"""The logit of an action a bot does not take (finite, so a bot's log-policy
stays finite where the measures take it)."""

# The rules as fossgalaxy/hanabi's classes decide (named in each docstring). A card's
# color or rank is "sure" when one value of it is plausible (hinted, or inferred
# from the hints that missed it); slots go in HLE's order (oldest first).


def _last_best(chance: jax.Array, allowed: jax.Array) -> jax.Array:
    """bool[H]: the last slot of the highest `chance` among `allowed` (the
    original's loops keep a slot whose chance is >= the best so far)."""
    score = jnp.where(allowed, chance, -1.0)
    hand = chance.size
    last = hand - 1 - jnp.argmax(score[::-1])
    return (jnp.arange(hand) == last) & allowed.any()


def play_probably_safe(threshold: float) -> Rule:
    """PlayProbablySafeCard: the last own card with the highest chance of being
    playable, if that chance is >= threshold (0 plays a card whatever its chance)."""

    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        allowed = f.present & (f.chance_playable >= threshold)
        return plays(_last_best(f.chance_playable, allowed), f, params)

    return rule


def discard_probably_useless(threshold: float) -> Rule:
    """DiscardProbablyUselessCard: the last own card with the highest chance of
    being useless, if that chance is >= threshold."""

    def rule(view: View, f: Facts, params: HanabiParams) -> jax.Array:
        allowed = f.present & (f.chance_useless >= threshold)
        return discards(_last_best(f.chance_useless, allowed), f, params)

    return rule


def osawa_discard(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """OsawaDiscard: the first own card its holder knows is useless from its sure
    color and rank alone (its color complete; both sure and already played; its
    rank sure and at most the lowest firework; both sure and above what its color
    can reach), else the first whose color is sure and whose lowest possible rank
    (copies unseen) is above what that color can reach."""
    colors, ranks = params.num_colors, params.num_ranks
    color, rank = f.sure_color[0], f.sure_rank[0] + 1
    color_sure, rank_sure = f.color_sure[0], f.rank_sure[0]
    height, reach = view.fireworks[color], f.reach[color]
    both = color_sure & rank_sure
    safe = (
        (color_sure & (height == ranks))
        | (both & (rank <= height))
        | (rank_sure & (rank <= view.fireworks.min()))
        | (both & (rank > reach))
    )
    possible_ranks = f.possible.reshape(-1, colors, ranks).any(-2)  # [H, R]
    lowest = jnp.argmax(possible_ranks, -1) + 1
    beyond = color_sure & possible_ranks.any(-1) & (lowest > reach)
    slots = jnp.where((safe & f.present).any(), safe, beyond) & f.present
    return discards(first_of(slots), f, params)


def tell_useful(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellAnyoneAboutUsefulCard: the first playable card (turn order, then
    slots) whose color or rank is not sure to its holder: its rank if that is not
    sure, else its color."""
    return tell(_useful(view, f), ~f.rank_sure[1:], f, params)


def _useful(view: View, f: Facts) -> jax.Array:
    """bool[P - 1, H]: the other players' playable cards not sure in both."""
    unsure = ~(f.color_sure[1:] & f.rank_sure[1:])
    return (view.others >= 0) & f.playable[jnp.maximum(view.others, 0)] & unsure


def _next_player(cards: jax.Array) -> jax.Array:
    """bool[P - 1, H]: `cards` of the next player only."""
    return cards & (jnp.arange(cards.shape[0]) == 0)[:, None]


def tell_playable_next(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellPlayableCardOuter: tell_useful for the next player's cards only."""
    return tell(_next_player(_useful(view, f)), ~f.rank_sure[1:], f, params)


def tell_unknown(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellUnknown: the next player's first card whose color or rank is not
    sure: its color if that is not sure, else its rank."""
    cards = (view.others >= 0) & ~(f.color_sure[1:] & f.rank_sure[1:])
    return tell(_next_player(cards), f.color_sure[1:], f, params)


def tell_dispensable(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellDispensable: the first other card (turn order, then slots) that one
    hint shows useless: its color where the color is complete and not sure; its
    rank where the rank is at most the lowest firework and not sure; the missing
    one of the two where exactly one is sure and the card is already played."""
    ranks = params.num_ranks
    card = jnp.maximum(view.others, 0)
    height = view.fireworks[card // ranks]
    rank = card % ranks + 1
    color_sure, rank_sure = f.color_sure[1:], f.rank_sure[1:]
    by_color = ~color_sure & (height == ranks)
    by_rank = ~rank_sure & (rank <= view.fireworks.min())
    by_missing = (color_sure ^ rank_sure) & (rank <= height)
    cards = (view.others >= 0) & (by_color | by_rank | by_missing)
    return tell(cards, ~by_color & (by_rank | color_sure), f, params)


def tell_most_information(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellMostInformation(new information): the hint that touches most cards
    whose hinted attribute is not yet sure (per player in turn order: ranks, then
    colors; the first such), if it touches any."""
    players, hand = params.num_players, params.hand_size
    colors, ranks = params.num_colors, params.num_ranks
    present = view.others >= 0
    card = jnp.maximum(view.others, 0)
    new_rank = (card % ranks)[..., None] == jnp.arange(ranks)
    new_color = (card // ranks)[..., None] == jnp.arange(colors)
    by_rank = (new_rank & (present & ~f.rank_sure[1:])[..., None]).sum(1)
    by_color = (new_color & (present & ~f.color_sure[1:])[..., None]).sum(1)
    gain = jnp.concatenate([by_rank, by_color], axis=1).reshape(-1)
    offset = jnp.arange(players - 1)[:, None]
    rank_ids = 2 * hand + params.num_color_hints + offset * ranks + jnp.arange(ranks)
    color_ids = 2 * hand + offset * colors + jnp.arange(colors)
    ids = jnp.concatenate([rank_ids, color_ids], axis=1).reshape(-1)
    best = jnp.argmax(gain)
    action = jnp.where(gain[best] > 0, ids[best], params.num_actions)
    hint = jnp.zeros(params.num_actions, bool).at[action].set(True, mode="drop")
    return hint & f.legal


def tell_randomly(view: View, f: Facts, params: HanabiParams) -> jax.Array:
    """TellRandomly: one of the next player's cards at random, then its color or
    its rank at random: float32[A], each hint weighted by the cards it names."""
    present = (view.others[0] >= 0).astype(jnp.float32)
    weight = jnp.zeros(params.num_actions, jnp.float32)
    weight = weight.at[f.color_hint[0]].add(present).at[f.rank_hint[0]].add(present)
    return weight * f.legal


def _unseen_empty_with_lives(view: View, params: HanabiParams) -> jax.Array:
    """Piers' first condition as the framework evaluates it: its agents count
    their own unknown cards among the deck's, so "the deck is empty" holds only
    once the seat holds no card (and the rule never plays)."""
    own = view.plausible[0].any(-1).sum()
    return (view.lives > 1) & (view.deck + own == 0)


RULES: dict[str, tuple[Rule, ...]] = {
    "iggi": (
        play_if_certain,
        play_safe,
        tell_useful,
        osawa_discard,
        discard_oldest,
        tell_randomly,
    ),
    "piers": (
        when(_unseen_empty_with_lives, play_probably_safe(0.0)),
        play_safe,
        when(lives_left, play_probably_safe(0.6)),
        tell_useful,
        when(few_hints, tell_dispensable),
        osawa_discard,
        discard_oldest,
        tell_randomly,
        discard_randomly,
    ),
    "outer": (
        play_safe,
        osawa_discard,
        tell_playable_next,
        tell_unknown,
        discard_randomly,
    ),
    "van_den_bergh": (
        when(lives_left, play_probably_safe(0.6)),
        when(lambda v, p: v.lives <= 1, play_safe),
        discard_probably_useless(1.0),
        tell_useful,
        tell_most_information,
        discard_probably_useless(0.0),
    ),
    **bots_v1.RULES,
}
"""Each bot's rules in order; a bot plays the first that allows an action, and
"any legal action" where none does."""


def _choices(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """obs -> float32[K + 1, A]: the weight each of bot `name`'s K rules, then
    "any legal action", puts on each action (0: not allowed)."""
    if name not in RULES:
        raise ValueError(
            f"unknown Hanabi bot {name!r}; the bots: {', '.join(BOTS)} "
            f"(and the lab's first readings: {', '.join(VARIANTS)})"
        )
    rules = (*RULES[name], any_legal)

    def weights(obs: jax.Array) -> jax.Array:
        view = read(obs, params)
        f = facts(view, params)
        return jnp.stack([rule(view, f, params).astype(jnp.float32) for rule in rules])

    return weights


def bot(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """The bot `name` (one of `BOTS` or `VARIANTS`) for the game `params`:
    canonical observation uint8[O] -> logits float32[A] (on the actions of its
    first applicable rule the log of their weight relative to the largest, so
    the most likely is 0; `REFUSED` elsewhere). Jitted: a program that plays a
    bot in several places (cross-play's symmetry measures: in each copy, and
    in each lookahead) traces its rules once, not at each (a cross-play with
    two bots, warm: 19.2 to 13.7 s; cold, compiling: 57 to 52 s)."""
    choices = _choices(name, params)

    def policy(obs: jax.Array) -> jax.Array:
        weights = choices(obs)
        chosen = weights[jnp.argmax((weights > 0).any(-1))]
        relative = chosen / chosen.max()
        logits = jnp.where(chosen > 0, jnp.log(jnp.maximum(relative, 1e-30)), REFUSED)
        return logits.astype(jnp.float32)

    return jax.jit(policy)


def rule_fired(name: str, params: HanabiParams) -> Callable[[jax.Array], jax.Array]:
    """obs -> int32[], the index in `RULES[name]` of the rule that decides
    (len(RULES[name]) for "any legal action"): for tests and replays."""
    choices = _choices(name, params)

    def which(obs: jax.Array) -> jax.Array:
        return jnp.argmax((choices(obs) > 0).any(-1)).astype(jnp.int32)

    return which


def self_play(
    names: Sequence[str], params: HanabiParams, *, key: jax.Array, num_games: int
) -> np.ndarray:
    """The scores float32[N] of N games of the bots `names` (one per seat, in
    seat order) under HLE's rules, each sampling among its rule's actions."""
    if len(names) != params.num_players:
        raise ValueError(f"{params.num_players} players need as many bots: {names}")
    policies = [bot(name, params) for name in names]

    def one(key: jax.Array) -> jax.Array:
        def body(carry: tuple) -> tuple:
            state, key = carry
            key, sub = jax.random.split(key)
            actor = state.current_player
            obs = canonical(state, params)[actor]
            logits = jax.lax.switch(actor, policies, obs)
            legal = legal_actions(state, params)
            action = jax.random.categorical(sub, jnp.where(legal, logits, -jnp.inf))
            state, _, _ = step(state, action, params)
            return state, key

        deal, key = jax.random.split(key)
        state, _ = jax.lax.while_loop(
            lambda carry: ~carry[0].terminal, body, (reset(deal, params), key)
        )
        return state.score.astype(jnp.float32)

    keys = jax.random.split(key, num_games)
    return np.asarray(jax.jit(jax.vmap(one))(keys))
