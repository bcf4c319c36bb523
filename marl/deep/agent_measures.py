"""What is measured of each trained agent at play beside cross-play
(`marl.deep.evaluate`): its symmetry measures (its equivariance error on the
states it visits, its cross-play with its own transformed copies:
`marl.deep.symmetry_play`) and its convention matrix (conditional action
counts, `marl.deep.play.action_transitions`), with the distances between
agents' matrices (`marl.deep.conventions`). One agent per device at a time.

Shapes: K agents, A actions, G symmetries.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from games.envs.contract import Environment, Symmetries
from marl.deep import conventions as conventions_of
from marl.deep import play as games_play
from marl.deep import symmetry_play
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


def convention_counts(
    agent_params: Params,
    env: Environment,
    policy: Network,
    *,
    share_parameters: bool,
    key: jax.Array,
    num_games: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's conditional action counts float[K, A, A] and hint answers
    float[K, A, 2] over `num_games` sampled self-play games
    (`marl.deep.play.action_transitions`): normalized by rows, P(partner's next
    action | my action), the convention matrix, and P(play the touched card
    next | hint), what each hint means."""

    def measure(agent: Params) -> games_play.Transitions:
        seats = games_play.identity_seats(
            games_play.seat_params(agent, env.num_players, share_parameters), env
        )
        return games_play.action_transitions(
            policy, seats, env, key=key, num_games=num_games
        )

    mesh = runs_mesh()  # one agent per device at a time
    found = jax.jit(lambda p: sharded_map(measure, p, mesh=mesh, batch_size=mesh.size))(
        agent_params
    )
    return np.asarray(found.counts), np.asarray(found.answers)


def convention_distances(
    counts: np.ndarray, env: Environment, seed: int
) -> dict[str, np.ndarray]:
    """The distances between agents' convention matrices, raw and aligned over
    the game's symmetries (`marl.deep.conventions`)."""
    renamings = sample_symmetries(env.symmetries, MAX_ALIGNMENTS, seed=seed)
    return {
        "distance": conventions_of.distances(counts),
        "aligned_distance": conventions_of.distances(
            counts, np.asarray(renamings.actions)
        ),
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
) -> dict[str, Any] | None:
    """Each agent's equivariance error on the states it visits and its
    cross-play with its own transformed copies (`marl.deep.symmetry_play`),
    over the game's symmetries (Hanabi: color permutations); None for a game
    whose only symmetry is the identity, or `permutations < 2`."""
    if env.symmetries.size < 2 or permutations < 2 or num_games < 1:
        return None
    syms = sample_symmetries(env.symmetries, permutations, seed=seed)

    def measure(agent: Params) -> tuple[jax.Array, ...]:
        seats = games_play.seat_params(agent, env.num_players, share_parameters)
        gap = symmetry_play.visited_equivariance_tv(
            policy, seats, syms, env, key=key, num_games=num_games
        )
        scores = symmetry_play.permuted_copy_scores(
            policy, seats, syms, env, key=key, num_games=num_games, greedy=False
        )
        return gap.tv, gap.argmax, gap.weighted, scores.mean(-1)

    mesh = runs_mesh()  # one agent per device at a time
    errors, flips, weighted, copies = (
        np.asarray(x)  # [K, G]
        for x in jax.jit(
            lambda p: sharded_map(measure, p, mesh=mesh, batch_size=mesh.size)
        )(agent_params)
    )
    per_agent = {
        "equivariance_error": errors[:, 1:].mean(-1),
        "equivariance_error_max": errors[:, 1:].max(-1),
        "argmax_disagreement": flips[:, 1:].mean(-1),
        "equivariance_error_weighted": weighted[:, 1:].mean(-1),
        "permuted_self_play": copies[:, 0],
        "permuted_xp": copies[:, 1:].mean(-1),
        "permuted_copy_drop": copies[:, 0] - copies[:, 1:].mean(-1),
    }
    summary = {
        "num_permutations": syms.size,
        "permutations": list(syms.names),
        "num_games": num_games,
        "equivariance_error": errors.tolist(),
        "argmax_disagreement": flips.tolist(),
        "equivariance_error_weighted": weighted.tolist(),
        "permuted_copy_scores": copies.tolist(),
    }
    return {"per_agent": per_agent, "summary": summary}
