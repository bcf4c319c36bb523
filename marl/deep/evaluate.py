"""Cross-play of trained agents, measured: every ordered pair of K agents (and,
with 3+ players, every group's assignments of distinct agents to the seats),
sampled and greedified, on common deals; SP and XP per group of agents trained
alike with jackknife standard errors (`marl.xp_stats`); how the games ended; and
the symmetry measures (each agent's equivariance error and its cross-play with
its own transformed copies). `experiments.crossplay` loads the agents, calls
`evaluate` and writes what it returns; docs/ippo.md ("Cross-play") defines every
number.

Shapes: K agents, P seats, N games, G groups, M assignments.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from games.envs.contract import Environment, Symmetries
from marl.deep import conventions as conventions_of
from marl.deep import play as games_play
from marl.deep import symmetry_play
from marl.deep.networks import Network, Params
from marl.deep.rounds import (
    Games,
    Interrupted,
    Report,
    Sizing,
    first_games,
    play_rounds,
    round_key,
    stop_reason,
    worst_se,
)
from marl.fields import ConfigError
from marl.sharding import memory_analysis, memory_available, runs_mesh, sharded_map
from marl.xp_stats import assignment_summary, matrix_summary, seat_assignments

KINDS = ("", "_greedy")
"""Policy kinds: the trained (sampled) policy and its greedification."""

KIND_NAMES = {"": "sampled", "_greedy": "greedy"}

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


def summarize(scores: np.ndarray, members: list[int]) -> dict[str, Any]:
    """SP and XP of a group of S agents from the scores float[K, K, N].

    sp, sp_se, xp, xp_se: `marl.xp_stats.matrix_summary` of the mean scores
    (xp over both seat orders of the S (S - 1) off-diagonal cells, xp_se the
    jackknife over seeds). *_games_se: the standard error from the games alone
    (with the seeds fixed), sqrt(sum of the cells' variances / N) / cells.
    """
    block = scores[np.ix_(members, members)]
    means = block.mean(-1)
    size = len(members)
    point: dict[str, Any] = {
        **matrix_summary(means),
        "sp_games_se": None,  # None: one game a cell has no spread to measure
        "xp_games_se": None,
    }
    if block.shape[-1] < 2:
        return point
    variances = block.var(-1, ddof=1) / block.shape[-1]
    off = ~np.eye(size, dtype=bool)
    point["sp_games_se"] = float(np.sqrt(np.diag(variances).sum()) / size)
    if size > 1:
        point["xp_games_se"] = float(np.sqrt(variances[off].sum()) / off.sum())
    return point


def between_groups(
    matrix: np.ndarray, members: list[list[int]]
) -> list[list[float | None]]:
    """Cross-play between groups float[G, G] of a matrix float[K, K]: cell (a, b)
    is the mean score of group a's agents in seat 1 with group b's in seat 2,
    over distinct agents (so a group with itself is its XP; None where a group
    has a single agent)."""
    out: list[list[float | None]] = []
    for rows in members:
        line = []
        for cols in members:
            block = matrix[np.ix_(rows, cols)]
            distinct = np.not_equal.outer(rows, cols)
            line.append(float(block[distinct].mean()) if distinct.any() else None)
        out.append(line)
    return out


def check_memory(compiled: Any, assignments: int, num_games: int) -> None:
    """Refuses a cross-play program that XLA says needs more memory than the
    device has (or 90% of a CPU machine's), before it runs."""
    needed = (memory_analysis(compiled) or {}).get("peak")
    available = memory_available()
    if needed is not None and needed > 0.9 * available:
        raise ConfigError(
            f"cross-play of {assignments} seat assignments x {num_games} games "
            f"needs {needed / 2**30:.1f} GiB at once, over the "
            f"{available / 2**30:.1f} GiB of {jax.devices()[0].device_kind}; play "
            "fewer pairs at a time (--pairs-per-batch) or fewer games per round "
            "(--round-games)"
        )


def distinct_assignments(
    members_of: dict[str, list[int]], num_players: int, max_assignments: int, seed: int
) -> dict[str, np.ndarray]:
    """Per group of 3+ player agents with at least as many members as seats, the
    assignments of distinct members to seats, int[M, P] indices into the group
    (`marl.xp_stats.seat_assignments`); none for 2 players (the matrix has them)."""
    if num_players < 3:
        return {}
    rng = np.random.default_rng(seed)
    return {
        group: seat_assignments(len(members), num_players, max_assignments, rng=rng)
        for group, members in members_of.items()
        if len(members) >= num_players
    }


def endings(
    games: np.ndarray, failed: np.ndarray, prefix: str, env: Environment
) -> dict[str, Any]:
    """How games float[...] ended: `<prefix>_score_counts` (games per score 0..
    max_score) and `<prefix>_perfect` (the fraction scoring max_score) where the
    game's scores are such integers; `<prefix>_<failure>` (Hanabi: lost_lives,
    scored 0 by the rules), the fraction lost outright, where a game can be. All
    None for no games."""
    out: dict[str, Any] = {}
    if env.max_score is not None:
        out[f"{prefix}_score_counts"] = (
            np.bincount(
                games.ravel().astype(np.int64), minlength=env.max_score + 1
            ).tolist()
            if games.size
            else None
        )
        out[f"{prefix}_perfect"] = (
            float(np.mean(games == env.max_score)) if games.size else None
        )
    if env.failure is not None:
        out[f"{prefix}_{env.failure}"] = float(np.mean(failed)) if games.size else None
    return out


def distinct_summary(
    scores: np.ndarray | None,
    failed: np.ndarray | None,
    rows: slice,
    local: np.ndarray | None,
    num_members: int,
    env: Environment,
) -> dict[str, Any]:
    """A 3+ player group's XP from its assignments of distinct agents (games
    float[M, N] at `rows` of `scores`): the mean and the jackknife over seeds
    (`marl.xp_stats.assignment_summary`), the games-only error and how the
    games ended; all None when the group has fewer agents than seats."""
    if scores is None or failed is None or local is None:
        return {
            "xp": None,
            "xp_se": None,
            "xp_games_se": None,
            **endings(np.zeros(0), np.zeros(0), "xp", env),
        }
    games = scores[rows]
    xp, xp_se = assignment_summary(games.mean(-1), local, num_members)
    variances = games.var(-1, ddof=1) / games.shape[-1] if games.shape[-1] > 1 else None
    return {
        "xp": xp,
        "xp_se": xp_se,
        "xp_games_se": None
        if variances is None
        else float(np.sqrt(variances.sum()) / len(games)),
        **endings(games, failed[rows], "xp", env),
    }


def game_endings(
    scores: np.ndarray, failed: np.ndarray, members: list[int], env: Environment
) -> dict[str, Any]:
    """How the group's games ended (`endings`), over its self-play games (the
    diagonal cells) and its cross-play games (the off-diagonal ones)."""
    block = np.ix_(members, members)
    diagonal = np.eye(len(members), dtype=bool)
    out: dict[str, Any] = {}
    for name, cells in (("sp", diagonal), ("xp", ~diagonal)):
        out.update(endings(scores[block][cells], failed[block][cells], name, env))
    return out


def evaluate(
    policy: Network,
    agent_params: Params,
    env: Environment,
    groups_of: list[str],
    ent_coefs: list[float | None],
    *,
    share_parameters: bool,
    sizing: Sizing,
    seed: int,
    permutations: int,
    symmetry_games: int,
    pairs_per_batch: int | None,
    max_assignments: int = 1000,
    resume: dict[str, Games] | None = None,
    report: Report | None = None,
    first_round: Callable[[float, float, Games], Sizing] | None = None,
    phase: Callable[[str], None] | None = None,
    convention_games: int = 0,
    convention_tol: float = 0.1,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every measurement of cross-play between K agents; returns the JSON-ready
    results and the score arrays.

    The agents' parameters `agent_params` (leaves [K, ...], one network per agent,
    or per seat on a [P] axis after K where `share_parameters` is False) play
    with the per-seat `policy` in `env`, the scoring environment. `groups_of[k]`
    names agent k's group (agents trained alike: the same run configuration and
    entropy coefficient `ent_coefs[k]`); a point per group holds SP, XP and
    their standard errors, how its games ended and its symmetry measures.

    With 3+ players, a group's XP is over assignments of distinct agents of the
    group to the seats (all of them, or `max_assignments` drawn when there are
    more), not the matrix's agent i in seat 0 and agent j in every other seat.

    Play goes in rounds (`Sizing`, `play_rounds`): `report` hears of every round;
    `first_round(compile_seconds, round_seconds, games)`, called once after the
    first kind's first round, returns the `Sizing` to play on with (the same
    round size; a cap that fits a time budget, a target set from those games);
    `phase(name)` is told when each phase starts ("compiling sampled",
    "sampled games", ..., "symmetry measures"). `resume` holds games an
    interrupted evaluation played (`Interrupted.played`): a complete kind is not
    played again, the one in play goes on from its next round, and the result
    equals an uninterrupted evaluation's. With `convention_games`, each agent's
    conditional action counts over that many sampled self-play games
    (`conventions`), the distances between agents' matrices, raw and aligned
    over the game's symmetries, and per group the conventions its agents hold
    (`marl.deep.conventions`, agents closer than `convention_tol` aligned are
    one convention)."""
    failure = env.failure or "failed"  # the arrays' name for games lost outright
    per_seat = not share_parameters
    key = jax.random.key(seed)
    arrays: dict[str, np.ndarray] = {}
    matrices: dict[str, Any] = {}
    groups = list(dict.fromkeys(groups_of))
    members_of = {
        group: [k for k, name in enumerate(groups_of) if name == group]
        for group in groups
    }
    distinct = distinct_assignments(
        members_of, env.num_players, max_assignments, seed=seed
    )
    # One program per policy kind plays every ordered pair (the matrix: agent i
    # at seat 0, agent j at every other seat) and, with 3+ players, every
    # group's assignments of distinct agents, on the same decks.
    num_agents = len(groups_of)
    pairs = games_play.pair_assignments(num_agents, env.num_players)
    rows = np.concatenate(
        [pairs] + [np.asarray(members_of[g])[local] for g, local in distinct.items()]
    )
    played: dict[str, Games] = dict(resume or {})
    stopped: dict[str, str] = {}
    tell = phase or (lambda name: None)
    for kind in KINDS:
        name = KIND_NAMES[kind]
        start = played.get(kind)
        reason = stop_reason(start, sizing)
        if start is not None and reason is not None:  # resumed, and complete
            played[kind], stopped[kind] = first_games(start, sizing.max_games), reason
        else:
            play = jax.jit(
                functools.partial(
                    games_play.assignment_outcomes,
                    policy,
                    env=env,
                    assignments=rows,
                    per_seat=per_seat,
                    num_games=sizing.round_games,
                    greedy=kind == "_greedy",
                    batch_size=pairs_per_batch,
                )
            )
            tell(f"compiling {name}")
            began = time.time()
            try:
                compiled = play.lower(agent_params, key=key).compile()
            except KeyboardInterrupt:
                raise Interrupted(played) from None
            compile_seconds = time.time() - began
            # Before the work, not in it.
            check_memory(compiled, len(rows), sizing.round_games)
            tell(f"{name} games")

            def run_round(index: int, compiled: Any = compiled) -> Games:
                outcome = compiled(agent_params, key=round_key(key, index))
                return Games(*(np.asarray(x) for x in outcome))

            if first_round is not None and kind == KINDS[0] and start is None:
                began = time.time()
                try:
                    start = run_round(0)
                except KeyboardInterrupt:
                    raise Interrupted(played) from None
                chosen = first_round(compile_seconds, time.time() - began, start)
                if chosen.round_games != sizing.round_games:
                    raise ValueError("first_round may not change the round size")
                sizing = chosen
                if report is not None:
                    report(kind, first_games(start, sizing.max_games), sizing.max_games)
            try:
                played[kind], stopped[kind] = play_rounds(
                    run_round, sizing, start=start, report=report, kind=kind
                )
            except Interrupted as interrupted:
                raise Interrupted({**played, **interrupted.played}) from None
        num_games = played[kind].score.shape[-1]
        outcomes = played[kind]
        shape = (num_agents, num_agents, num_games)
        scores = outcomes.score[: len(pairs)].reshape(shape)
        arrays[f"scores{kind}"] = scores
        arrays[f"{failure}{kind}"] = outcomes.failed[: len(pairs)].reshape(shape)
        matrices[f"matrix{kind}"] = scores.mean(-1).tolist()
        matrices[f"between_groups{kind}"] = between_groups(
            scores.mean(-1), [members_of[g] for g in groups]
        )
        # null cells for one game a pair: no spread to measure
        matrices[f"matrix{kind}_se"] = (
            (scores.std(-1, ddof=1) / np.sqrt(num_games)).tolist()
            if num_games > 1
            else [[None] * num_agents for _ in range(num_agents)]
        )
        if distinct:
            arrays["assignments"] = rows[len(pairs) :]
            arrays[f"assignment_scores{kind}"] = outcomes.score[len(pairs) :]
            arrays[f"assignment_{failure}{kind}"] = outcomes.failed[len(pairs) :]
    # After the cross-play, whose size is checked before it runs.
    if env.symmetries.size >= 2 and permutations >= 2 and symmetry_games >= 1:
        tell("symmetry measures")
    try:
        symmetry = symmetry_measures(
            agent_params,
            env,
            policy,
            share_parameters=share_parameters,
            key=jax.random.fold_in(key, 1),
            permutations=permutations,
            num_games=symmetry_games,
            seed=seed,
        )
        if convention_games >= 1:
            tell("conditional action matrices")
            counts, answers = conventions(
                agent_params,
                env,
                policy,
                share_parameters=share_parameters,
                key=jax.random.fold_in(key, 3),
                num_games=convention_games,
            )
    except KeyboardInterrupt:
        raise Interrupted(played) from None
    matched = None
    if convention_games >= 1:
        renamings = sample_symmetries(env.symmetries, MAX_ALIGNMENTS, seed=seed)
        matched = {
            "distance": conventions_of.distances(counts),
            "aligned_distance": conventions_of.distances(
                counts, np.asarray(renamings.actions)
            ),
        }
    points = []
    offset = 0
    for group in groups:
        members = members_of[group]
        point: dict[str, Any] = {
            "group": group,
            "ent_coef": ent_coefs[members[0]],
            "num_seeds": len(members),
            "agents": members,
        }
        if matched is not None:
            for name, key_name in (("aligned_distance", ""), ("distance", "_raw")):
                block = matched[name][np.ix_(members, members)]
                labels = conventions_of.clusters(block, convention_tol)
                point[f"num_conventions{key_name}"] = max(labels) + 1
                point[f"conventions{key_name}"] = labels
                off = ~np.eye(len(members), dtype=bool)
                point[f"convention_distance{key_name}"] = (
                    float(block[off].mean()) if off.any() else None
                )
        for kind in KINDS:
            summary = {
                **summarize(arrays[f"scores{kind}"], members),
                **game_endings(
                    arrays[f"scores{kind}"], arrays[f"{failure}{kind}"], members, env
                ),
            }
            if env.num_players >= 3:
                local = distinct.get(group)
                rows_of_group = slice(
                    offset, offset + (0 if local is None else len(local))
                )
                summary.update(
                    distinct_summary(
                        arrays.get(f"assignment_scores{kind}"),
                        arrays.get(f"assignment_{failure}{kind}"),
                        rows_of_group,
                        local,
                        len(members),
                        env,
                    )
                )
            # sp, sp_se, ... -> sp_greedy, sp_greedy_se, ...
            point.update({n[:2] + kind + n[2:]: v for n, v in summary.items()})
        if env.num_players >= 3:
            local = distinct.get(group)
            point["xp_assignments"] = 0 if local is None else len(local)
            offset += point["xp_assignments"]
        if symmetry is not None:
            for name, values in symmetry["per_agent"].items():
                point[name] = float(np.mean([values[k] for k in members]))
            # The outcome-relevant figure, with its SE over the group's agents.
            drops = [symmetry["per_agent"]["permuted_copy_drop"][k] for k in members]
            point["permuted_copy_drop_se"] = (
                float(np.std(drops, ddof=1) / np.sqrt(len(drops)))
                if len(drops) > 1
                else None
            )
        points.append(point)
    results = {
        "kind": "crossplay",
        "failure": env.failure,
        "game": env.title,
        "num_players": env.num_players,
        "num_agents": num_agents,
        "num_seeds": max(p["num_seeds"] for p in points),
        "num_games": played[KINDS[0]].score.shape[-1],
        "games": {
            KIND_NAMES[kind]: {
                "num_games": played[kind].score.shape[-1],
                "stopped_by": stopped[kind],
                # None: one game a pair has no standard error
                "max_se": worst_se(played[kind].score)
                if played[kind].score.shape[-1] > 1
                else None,
            }
            for kind in KINDS
        },
        "sizing": sizing._asdict(),
        "seed": seed,
        "xp_over": (
            "ordered pairs of distinct agents (both seat orders)"
            if env.num_players == 2
            else f"assignments of distinct agents to the {env.num_players} seats "
            f"(all, or {max_assignments} drawn); the matrix seats agent i at seat "
            "0 and agent j at every other seat"
        ),
        "points": points,
        "groups": groups,
        **matrices,
        "symmetry": None if symmetry is None else symmetry["summary"],
        "conventions": (
            None
            if convention_games < 1
            else {
                "num_games": convention_games,
                "counts": counts.tolist(),
                "what": "per agent [A][A]: in its sampled self-play, how often a "
                "seat chose action a and the partner deciding next chose b",
                "tolerance": convention_tol,
                **{name: value.tolist() for name, value in (matched or {}).items()},
                **(
                    {
                        "hint_answers": answers.tolist(),
                        "hint_answers_what": "per agent [A][2]: after its action a "
                        "touched cards of the partner deciding next (a hint), how "
                        "often that partner played a touched card (0) or did "
                        "anything else (1)",
                    }
                    if env.touched_plays is not None
                    else {}
                ),
            }
        ),
    }
    if env.failure is None:  # a game that cannot be lost: nothing to keep
        arrays = {k: v for k, v in arrays.items() if "failed" not in k}
    return results, arrays


def conventions(
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
    cross-play with its own transformed copies (marl.deep.play), over the game's
    symmetries (Hanabi: color permutations); None for a game whose only symmetry
    is the identity, or `permutations < 2`."""
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
