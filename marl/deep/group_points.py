"""A group of agents trained alike, measured from the cross-play scores of
`marl.deep.evaluate`: SP and XP with jackknife standard errors over seeds
(`marl.xp_stats`) and from the games alone, how the games ended, and the
group's point of the results (docs/crossplay.md).

Shapes: K agents, N games, M assignments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from games.envs.contract import Environment
from marl.deep import conventions as conventions_of
from marl.xp_stats import assignment_summary, matrix_summary

KINDS = ("", "_greedy")
"""Policy kinds: the trained (sampled) policy and its greedification."""

KIND_NAMES = {"": "sampled", "_greedy": "greedy"}


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
    symmetry: dict[str, Any] | None,
) -> dict[str, Any]:
    """A group's point: SP and XP of both kinds with their errors, how its
    games ended, its conventions and its symmetry measures. `members`: its
    agents; `local`: its assignments of distinct agents (3+ players; rows of
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
    return point
