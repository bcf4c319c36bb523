"""What is measured of each trained agent at play beside cross-play
(`marl.deep.evaluate`): its symmetry measures (its equivariance error on the
states it visits, its cross-play with its own transformed copies:
`marl.deep.symmetry_play`) and its convention matrix (conditional action
counts, `marl.deep.play.action_transitions`), with the distances between
agents' matrices (`marl.deep.conventions`). One agent per device at a time.

Shapes: K agents, A actions, G symmetries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from games.envs.contract import Environment, Symmetries
from marl.deep import conventions as conventions_of
from marl.deep import play as games_play
from marl.deep import symmetry_play
from marl.deep.kinds import KIND_NAMES
from marl.deep.networks import Network, Params
from marl.sharding import runs_mesh, sharded_map

MAX_ALIGNMENTS = 720
"""Convention matrices are aligned over all of the game's symmetries up to this
many (Hanabi-Full's 120 color permutations), else over a seeded sample."""


def sample_symmetries(syms: Symmetries, count: int, *, seed: int) -> Symmetries:
    """The identity and up to `count - 1` other symmetries of the game (all of
    them when there are at most `count`; Hanabi: color permutations)."""
    total = syms.size
    if total <= count:
        chosen = np.arange(total)
    else:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([[0], 1 + rng.choice(total - 1, count - 1, False)])
    return Symmetries(
        syms.observation[chosen],
        syms.actions[chosen],
        syms.actions_inverse[chosen],
        tuple(syms.names[i] for i in chosen),
    )


class ConventionPlay(NamedTuple):
    """Each agent's self-play, counted for its convention matrices (K agents,
    N games, A actions): game by game, so that a split-half noise floor and a
    bootstrap over games can be taken."""

    sampled: np.ndarray
    """float32[K, N, A, A]: per game, the conditional action counts of the
    agent's sampled self-play (`marl.deep.play.Transitions.per_game`)."""
    greedy: np.ndarray
    """float32[K, N, A, A]: the same of its argmax-greedy self-play, on the
    same deals."""
    answers: np.ndarray
    """float32[K, A, 2]: the hint answers of its sampled self-play."""


def per_agent(
    measure: Callable[[Params, jax.Array], tuple[jax.Array, ...]], mesh: Mesh
) -> Callable[[Params, jax.Array], tuple[jax.Array, ...]]:
    """jit of `measure(agent, key)` over every agent of (agent_params, key),
    one agent per device of `mesh` at a time (`marl.sharding.sharded_map`).
    On one device a plain `lax.map`: `sharded_map`'s batches of one agent
    would `vmap` every loop of `measure` over an axis of 1, the same numbers
    for more tracing (a cross-play with two bots, warm: 13.7 to 10.5 s)."""
    if mesh.size == 1:
        return jax.jit(lambda p, key: jax.lax.map(lambda a: measure(a, key), p))
    return jax.jit(
        lambda p, key: sharded_map(
            lambda agent: measure(agent, key), p, mesh=mesh, batch_size=mesh.size
        )
    )


def convention_counts(
    agent_params: Params,
    env: Environment,
    policy: Network,
    *,
    share_parameters: bool,
    key: jax.Array,
    num_games: int,
) -> ConventionPlay:
    """Each agent's conditional action counts in `num_games` sampled and as
    many greedy self-play games, and its hint answers
    (`marl.deep.play.action_transitions`): normalized by rows, P(partner's next
    action | my action), the convention matrix, and P(play the touched card
    next | hint), what each hint means."""
    found = convention_program(
        env,
        policy,
        share_parameters=share_parameters,
        num_games=num_games,
        mesh=runs_mesh(),
    )(agent_params, key)
    return ConventionPlay(*(np.asarray(x) for x in found))


@functools.lru_cache(maxsize=8)
def convention_program(
    env: Environment,
    policy: Network,
    *,
    share_parameters: bool,
    num_games: int,
    mesh: Mesh,
) -> Callable[[Params, jax.Array], tuple[jax.Array, ...]]:
    """`convention_counts`' jitted measurement of every agent, one per device
    of `mesh` at a time, taking (agent_params, key): one per (environment,
    policy, sizes) in a process, so that a second evaluation in it is not
    traced again."""

    def measure(agent: Params, key: jax.Array) -> tuple[jax.Array, ...]:
        seats = games_play.identity_seats(
            games_play.seat_params(agent, env.num_players, share_parameters), env
        )

        def count(greedy: jax.Array) -> tuple[jax.Array, jax.Array]:
            found = games_play.action_transitions(
                policy, seats, env, key=key, num_games=num_games, greedy=greedy
            )
            return found.per_game, found.answers

        # Sampled, then greedy, on the same deals: one loop traced for both.
        per_game, answers = jax.lax.map(count, jnp.array([False, True]))
        return per_game[0], per_game[1], answers[0]

    return per_agent(measure, mesh)


def convention_distances(
    play: ConventionPlay, env: Environment, seed: int
) -> dict[str, np.ndarray]:
    """Of the sampled and the greedy matrices (suffix "" and "_greedy"): the
    distances between agents, raw and aligned over the game's symmetries, and
    each agent's split-half noise floor (`marl.deep.conventions`)."""
    renamings = np.asarray(
        sample_symmetries(env.symmetries, MAX_ALIGNMENTS, seed=seed).actions
    )
    out = {}
    for suffix, field in KIND_NAMES.items():
        per_game = getattr(play, field)
        counts = per_game.sum(1)
        out[f"distance{suffix}"] = conventions_of.distances(counts)
        out[f"aligned_distance{suffix}"] = conventions_of.distances(counts, renamings)
        out[f"noise_floor{suffix}"] = conventions_of.split_half(per_game)
    return out


class SymmetryMeasures(NamedTuple):
    """Each agent's symmetry measures over a sample of the game's symmetries
    (K agents, G symmetries, the identity first; `symmetry_measures`)."""

    names: tuple[str, ...]
    """The symmetries measured (Hanabi: color permutations)."""
    num_games: int
    """Games per agent and symmetry."""
    errors: np.ndarray
    """float[K, G]: the equivariance error (total variation) on the states
    the agent visits (`symmetry_play.visited_equivariance_tv`)."""
    flips: np.ndarray
    """float[K, G]: how often the argmax action disagrees there."""
    weighted: np.ndarray
    """float[K, G]: the error weighted by how much each choice matters."""
    copies: np.ndarray
    """float[K, G]: the mean score with its own copy transformed by each
    symmetry (column 0: self-play; `symmetry_play.permuted_copy_scores`)."""

    def per_agent(self) -> dict[str, np.ndarray]:
        """float[K] per measure, over the symmetries other than the identity:
        the mean (and max) equivariance error, argmax disagreement and
        weighted error, self-play, cross-play with the transformed copies and
        the drop between them."""
        permuted_xp = self.copies[:, 1:].mean(-1)
        return {
            "equivariance_error": self.errors[:, 1:].mean(-1),
            "equivariance_error_max": self.errors[:, 1:].max(-1),
            "argmax_disagreement": self.flips[:, 1:].mean(-1),
            "equivariance_error_weighted": self.weighted[:, 1:].mean(-1),
            "permuted_self_play": self.copies[:, 0],
            "permuted_xp": permuted_xp,
            "permuted_copy_drop": self.copies[:, 0] - permuted_xp,
        }


def symmetry_measures(
    agent_params: Params,
    env: Environment,
    policy: Network,
    *,
    share_parameters: bool,
    key: jax.Array,
    permutations: int,
    num_games: int,
    seed: int,
) -> SymmetryMeasures | None:
    """Each agent's equivariance error on the states it visits and its
    cross-play with its own transformed copies (`marl.deep.symmetry_play`),
    over the game's symmetries (Hanabi: color permutations); None for a game
    whose only symmetry is the identity, or `permutations < 2`."""
    if env.symmetries.size < 2 or permutations < 2 or num_games < 1:
        return None
    names, measure = symmetry_program(
        env,
        policy,
        share_parameters=share_parameters,
        permutations=permutations,
        num_games=num_games,
        seed=seed,
        mesh=runs_mesh(),
    )
    errors, flips, weighted, copies = (
        np.asarray(x)  # [K, G]
        for x in measure(agent_params, key)
    )
    return SymmetryMeasures(names, num_games, errors, flips, weighted, copies)


@functools.lru_cache(maxsize=8)
def symmetry_program(
    env: Environment,
    policy: Network,
    *,
    share_parameters: bool,
    permutations: int,
    num_games: int,
    seed: int,
    mesh: Mesh,
) -> tuple[tuple[str, ...], Callable[[Params, jax.Array], tuple[jax.Array, ...]]]:
    """The names of the symmetries `sample_symmetries` draws and
    `symmetry_measures`' jitted measurement of every agent over them, one per
    device of `mesh` at a time, taking (agent_params, key): one per
    (environment, policy, sizes, seed) in a process, so that a second
    evaluation in it is not traced again (nor its symmetries drawn again)."""
    syms = sample_symmetries(env.symmetries, permutations, seed=seed)

    def measure(agent: Params, key: jax.Array) -> tuple[jax.Array, ...]:
        seats = games_play.seat_params(agent, env.num_players, share_parameters)
        gap = symmetry_play.visited_equivariance_tv(
            policy, seats, syms, env, key=key, num_games=num_games
        )
        scores = symmetry_play.permuted_copy_scores(
            policy, seats, syms, env, key=key, num_games=num_games, greedy=False
        )
        return gap.tv, gap.argmax, gap.weighted, scores.mean(-1)

    return syms.names, per_agent(measure, mesh)
