"""Cross-play's results, shaped from what `marl.deep.evaluate.evaluate`
measured (an `Evaluation`): results.json's description of the evaluation, its
matrices, a point per group of agents trained alike (SP and XP of both kinds
with jackknife standard errors over seeds, `marl.xp_stats`, and from the games
alone; how the games ended; its conventions and symmetry measures) and the
conventions section; scores.npz's arrays (docs/crossplay.md defines every
number).

Shapes: K agents, N games, M assignments, G groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from games.envs.contract import Environment
from marl.deep import conventions as conventions_of
from marl.deep.agent_measures import ConventionPlay, SymmetryMeasures
from marl.deep.evaluate import Evaluation, Layout
from marl.deep.kinds import KIND_NAMES, KINDS
from marl.deep.rounds import Games, Sizing, worst_se
from marl.xp_stats import assignment_summary, matrix_summary


def results_of(
    evaluation: Evaluation,
    env: Environment,
    ent_coefs: list[float | None],
    convention_tol: float,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON-ready results and the score arrays of an `Evaluation` of K
    agents in `env` (the scoring environment): `ent_coefs[k]` is agent k's
    entropy coefficient (None for a bot), and agents whose aligned convention
    matrices are closer than `convention_tol` are one convention."""
    failure = env.failure or "failed"  # the arrays' name for games lost outright
    lay, play = evaluation.layout, evaluation.conventions
    outputs = [
        kind_outputs(kind, evaluation.played[kind], lay, failure) for kind in KINDS
    ]
    arrays = {name: value for kind, _ in outputs for name, value in kind.items()}
    matrices = {name: value for _, kind in outputs for name, value in kind.items()}
    matched = evaluation.distances
    points = all_points(
        lay, arrays, env, ent_coefs, matched, convention_tol, evaluation.symmetry
    )
    results = {
        **results_head(
            env,
            lay,
            evaluation.played,
            evaluation.stopped,
            evaluation.sizing,
            evaluation.seed,
            evaluation.max_assignments,
        ),
        "points": points,
        "groups": lay.groups,
        **matrices,
        "symmetry": symmetry_section(evaluation.symmetry),
        "conventions": conventions_section(
            play, matched, env, evaluation.convention_games, convention_tol
        ),
    }
    arrays.update(convention_arrays(play))
    if env.failure is None:  # a game that cannot be lost: nothing to keep
        arrays = {k: v for k, v in arrays.items() if "failed" not in k}
    return results, arrays


def symmetry_section(symmetry: SymmetryMeasures | None) -> dict[str, Any] | None:
    """The results' `symmetry`: every agent's measures per symmetry [K][G]."""
    if symmetry is None:
        return None
    return {
        "num_permutations": len(symmetry.names),
        "permutations": list(symmetry.names),
        "num_games": symmetry.num_games,
        "equivariance_error": symmetry.errors.tolist(),
        "argmax_disagreement": symmetry.flips.tolist(),
        "equivariance_error_weighted": symmetry.weighted.tolist(),
        "permuted_copy_scores": symmetry.copies.tolist(),
    }


def kind_outputs(
    kind: str, games: Games, lay: Layout, failure: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One kind's score arrays and JSON matrices: the K x K scores and how
    the games ended, the mean matrix, its standard errors (null cells for one
    game a pair: no spread to measure), the cross-play between groups, and
    the 3+ player assignments' games."""
    num_games, k = games.score.shape[-1], lay.num_agents
    scores = games.score[: lay.num_pairs].reshape(k, k, num_games)
    arrays = {
        f"scores{kind}": scores,
        f"{failure}{kind}": games.failed[: lay.num_pairs].reshape(k, k, num_games),
    }
    matrices = {
        f"matrix{kind}": scores.mean(-1).tolist(),
        f"between_groups{kind}": between_groups(
            scores.mean(-1), [lay.members_of[g] for g in lay.groups]
        ),
        f"matrix{kind}_se": (
            (scores.std(-1, ddof=1) / np.sqrt(num_games)).tolist()
            if num_games > 1
            else [[None] * k for _ in range(k)]
        ),
    }
    if lay.distinct:
        arrays["assignments"] = lay.rows[lay.num_pairs :]
        arrays[f"assignment_scores{kind}"] = games.score[lay.num_pairs :]
        arrays[f"assignment_{failure}{kind}"] = games.failed[lay.num_pairs :]
    return arrays, matrices


def conventions_section(
    play: ConventionPlay | None,
    matched: dict[str, np.ndarray] | None,
    env: Environment,
    num_games: int,
    tolerance: float,
) -> dict[str, Any] | None:
    """The results' `conventions` (None when none were measured): each agent's
    sampled and greedy counts (summed over its games; the games one by one go
    to the score arrays, `convention_arrays`), the distances, noise floors and
    hint answers."""
    if play is None or matched is None:
        return None
    hints = {}
    if env.touched_plays is not None:
        hints = {
            "hint_answers": play.answers.tolist(),
            "hint_answers_what": "per agent [A][2]: after its action a "
            "touched cards of the partner deciding next (a hint), how "
            "often that partner played a touched card (0) or did "
            "anything else (1)",
        }
    return {
        "num_games": num_games,
        "counts": play.sampled.sum(1).tolist(),
        "counts_greedy": play.greedy.sum(1).tolist(),
        "what": "per agent [A][A]: in its sampled (counts) or argmax-greedy "
        "(counts_greedy) self-play on the same deals, how often a seat chose "
        "action a and the partner deciding next chose b; distance and "
        "aligned_distance compare the sampled matrices, *_greedy the greedy "
        "ones; noise_floor: per agent, the distance between its even and its "
        "odd games' matrices; per game in scores.npz (convention_games, "
        "convention_games_greedy)",
        "tolerance": tolerance,
        **{name: value.tolist() for name, value in matched.items()},
        **hints,
    }


def convention_arrays(play: ConventionPlay | None) -> dict[str, np.ndarray]:
    """The per-game counts for the score arrays, uint16[K, N, A, A] (a cell
    counts decisions of one game), so that a bootstrap over games can be run
    from the files (`marl.deep.conventions.bootstrap_counts`)."""
    if play is None:
        return {}
    out = {}
    for suffix, field in KIND_NAMES.items():
        counts = getattr(play, field)
        if counts.size and counts.max() > np.iinfo(np.uint16).max:
            raise ValueError("a game's convention count exceeds uint16")
        out[f"convention_games{suffix}"] = counts.astype(np.uint16)
    return out


def results_head(
    env: Environment,
    lay: Layout,
    played: dict[str, Games],
    stopped: dict[str, str],
    sizing: Sizing,
    seed: int,
    max_assignments: int,
) -> dict[str, Any]:
    """The results' description of the evaluation: the game, the agents, how
    many games each kind played and why it stopped, what XP is over."""
    return {
        "kind": "crossplay",
        "failure": env.failure,
        "game": env.title,
        "num_players": env.num_players,
        "num_agents": lay.num_agents,
        "num_seeds": max(len(m) for m in lay.members_of.values()),
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
    }


def all_points(
    lay: Layout,
    arrays: dict[str, np.ndarray],
    env: Environment,
    ent_coefs: list[float | None],
    matched: dict[str, np.ndarray] | None,
    convention_tol: float,
    symmetry: SymmetryMeasures | None,
) -> list[dict[str, Any]]:
    """Every group's point (`group_point`), in the order of `lay.groups`."""
    per_agent = None if symmetry is None else symmetry.per_agent()
    points, offset = [], 0
    for group in lay.groups:
        point = group_point(
            group,
            lay.members_of[group],
            lay.distinct.get(group),
            arrays,
            env,
            ent_coefs[lay.members_of[group][0]],
            offset=offset,
            matched=matched,
            convention_tol=convention_tol,
            per_agent=per_agent,
        )
        offset += point.get("xp_assignments", 0)
        points.append(point)
    return points


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


def group_conventions(
    matched: dict[str, np.ndarray], members: list[int], tolerance: float
) -> dict[str, Any]:
    """A group's conventions from the distances between its agents' sampled
    and greedy matrices (`agent_measures.convention_distances`), each raw and
    aligned (key suffixes "", "_raw", "_greedy", "_greedy_raw"): the agents
    grouped at `tolerance`, their mean distance, the merge heights (the count
    at every tolerance, `conventions.merge_heights`), the group's noise floor
    (its agents' median split-half distance) and the count that holds over
    the widest range of tolerances above that floor."""
    point: dict[str, Any] = {}
    off = ~np.eye(len(members), dtype=bool)
    for suffix in ("", "_greedy"):
        floor = float(np.median(matched[f"noise_floor{suffix}"][members]))
        point[f"convention_noise_floor{suffix}"] = floor
        for name, raw in (("aligned_distance", ""), ("distance", "_raw")):
            key = suffix + raw
            block = matched[name + suffix][np.ix_(members, members)]
            labels = conventions_of.clusters(block, tolerance)
            heights = conventions_of.merge_heights(block)
            stable = conventions_of.stable_count(heights, floor)
            point[f"num_conventions{key}"] = max(labels) + 1
            point[f"conventions{key}"] = labels
            point[f"convention_distance{key}"] = (
                float(block[off].mean()) if off.any() else None
            )
            point[f"convention_heights{key}"] = heights.tolist()
            point[f"convention_stable{key}"] = (
                None
                if stable is None
                else {  # up_to None: unbounded
                    "count": stable[0],
                    "above": stable[1],
                    "up_to": stable[2] if np.isfinite(stable[2]) else None,
                }
            )
    return point


def group_point(
    group: str,
    members: list[int],
    local: np.ndarray | None,
    arrays: dict[str, np.ndarray],
    env: Environment,
    ent_coef: float | None,
    *,
    offset: int,
    matched: dict[str, np.ndarray] | None,
    convention_tol: float,
    per_agent: dict[str, np.ndarray] | None,
) -> dict[str, Any]:
    """A group's point: SP and XP of both kinds with their errors, how its
    games ended, its conventions and its symmetry measures (the group's mean
    of each agent's, `SymmetryMeasures.per_agent`). `members`: its agents;
    `local`: its assignments of distinct agents (3+ players; rows of
    `members`), from row `offset` of the 3+ player groups' assignments."""
    failure = env.failure or "failed"
    point: dict[str, Any] = {
        "group": group,
        "ent_coef": ent_coef,
        "num_seeds": len(members),
        "agents": members,
    }
    if matched is not None:
        point.update(group_conventions(matched, members, convention_tol))
    assigned = 0 if local is None else len(local)
    for kind in KINDS:
        scores, failed = arrays[f"scores{kind}"], arrays[f"{failure}{kind}"]
        summary = {
            **summarize(scores, members),
            **game_endings(scores, failed, members, env),
        }
        if env.num_players >= 3:
            summary.update(
                distinct_summary(
                    arrays.get(f"assignment_scores{kind}"),
                    arrays.get(f"assignment_{failure}{kind}"),
                    slice(offset, offset + assigned),
                    local,
                    len(members),
                    env,
                )
            )
        # sp, sp_se, ... -> sp_greedy, sp_greedy_se, ...
        point.update({n[:2] + kind + n[2:]: v for n, v in summary.items()})
    if env.num_players >= 3:
        point["xp_assignments"] = assigned
    if per_agent is not None:
        for name, values in per_agent.items():
            point[name] = float(np.mean([values[k] for k in members]))
        # The outcome-relevant figure, with its SE over the group's agents.
        drops = [per_agent["permuted_copy_drop"][k] for k in members]
        point["permuted_copy_drop_se"] = (
            float(np.std(drops, ddof=1) / np.sqrt(len(drops)))
            if len(drops) > 1
            else None
        )
    return point
