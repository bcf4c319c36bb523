"""Cross-play of trained agents, played and measured: every ordered pair of K
agents (and, with 3+ players, every group's assignments of distinct agents to
the seats), sampled and greedified, on common deals, in rounds; and the
symmetry measures and convention matrices of each agent
(`marl.deep.agent_measures`). `evaluate` returns an `Evaluation`;
`experiments.crossplay` loads the agents, calls it, and
`experiments.deep.crossplay_results` shapes what it returns into SP and XP per
group with jackknife standard errors (`marl.xp_stats`), how the games ended and
the conventions; docs/crossplay.md defines every number.

Shapes: K agents, P seats, N games, G groups, M assignments.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.envs.contract import Environment
from marl.deep import play as games_play
from marl.deep.agent_measures import (
    ConventionPlay,
    SymmetryMeasures,
    convention_counts,
    convention_distances,
    symmetry_measures,
)
from marl.deep.kinds import KIND_NAMES, KINDS
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
)
from marl.fields import ConfigError
from marl.sharding import memory_analysis, memory_available
from marl.xp_stats import seat_assignments


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


class Layout(NamedTuple):
    """Who plays whom: the groups of agents trained alike, their members, the
    assignments of distinct agents of each 3+ player group, and the rows one
    program plays (the K x K ordered pairs, then those assignments)."""

    groups: list[str]
    members_of: dict[str, list[int]]
    distinct: dict[str, np.ndarray]
    num_agents: int
    num_pairs: int
    rows: np.ndarray  # int[rows, P]


def layout(
    groups_of: list[str], num_players: int, max_assignments: int, seed: int
) -> Layout:
    """The `Layout` of agents whose groups are `groups_of` (one name each)."""
    groups = list(dict.fromkeys(groups_of))
    members_of = {
        group: [k for k, name in enumerate(groups_of) if name == group]
        for group in groups
    }
    distinct = distinct_assignments(members_of, num_players, max_assignments, seed=seed)
    # One program per policy kind plays every ordered pair (the matrix: agent i
    # at seat 0, agent j at every other seat) and, with 3+ players, every
    # group's assignments of distinct agents, on the same decks.
    pairs = games_play.pair_assignments(len(groups_of), num_players)
    rows = np.concatenate(
        [pairs] + [np.asarray(members_of[g])[local] for g, local in distinct.items()]
    )
    return Layout(groups, members_of, distinct, len(groups_of), len(pairs), rows)


def play_kind(
    kind: str,
    play: Any,
    agent_params: Params,
    *,
    key: jax.Array,
    sizing: Sizing,
    num_rows: int,
    played: dict[str, Games],
    report: Report | None,
    first_round: Callable[[float, float, Games], Sizing] | None,
    tell: Callable[[str], None],
) -> tuple[Games, str, Sizing]:
    """One policy kind's rounds of games (`play`: the jitted play of every row,
    `play_program`), compiled first and checked against the memory,
    going on from `played[kind]` if an interrupted run left some. Returns the
    games, why they stopped, and the sizing (set by `first_round` after the
    first kind's first round). An interrupt raises Interrupted with `played`
    and the rounds of this kind so far."""
    name = KIND_NAMES[kind]
    greedy = jnp.asarray(kind == "_greedy")
    start = played.get(kind)
    tell(f"compiling {name}")
    began = time.time()
    try:
        compiled = play.lower(agent_params, key=key, greedy=greedy).compile()
    except KeyboardInterrupt:
        raise Interrupted(played) from None
    compile_seconds = time.time() - began
    check_memory(compiled, num_rows, sizing.round_games)  # before the work
    tell(f"{name} games")

    def run_round(index: int) -> Games:
        outcome = compiled(agent_params, key=round_key(key, index), greedy=greedy)
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
        games, stopped = play_rounds(
            run_round, sizing, start=start, report=report, kind=kind
        )
    except Interrupted as interrupted:
        raise Interrupted({**played, **interrupted.played}) from None
    return games, stopped, sizing


@functools.lru_cache(maxsize=8)
def play_program(
    policy: Network,
    env: Environment,
    rows: tuple[tuple[int, ...], ...],
    *,
    per_seat: bool,
    num_games: int,
    batch_size: int | None,
) -> Any:
    """The jitted play of every row (`games_play.assignment_outcomes`), taking
    (agent_params, key=..., greedy=...), `greedy` a bool array: both policy
    kinds are one program. One per (policy, environment, rows, sizes) in a
    process: an evaluation that plays the same agents' game again in this
    process (a test's, a notebook's) finds its trace and lowering in JAX's
    caches instead of building them again."""
    return jax.jit(
        functools.partial(
            games_play.assignment_outcomes,
            policy,
            env=env,
            assignments=np.asarray(rows, np.int32),
            per_seat=per_seat,
            num_games=num_games,
            batch_size=batch_size,
        )
    )


def play_kinds(
    policy: Network,
    agent_params: Params,
    env: Environment,
    lay: Layout,
    *,
    share_parameters: bool,
    sizing: Sizing,
    key: jax.Array,
    pairs_per_batch: int | None,
    resume: dict[str, Games] | None,
    report: Report | None,
    first_round: Callable[[float, float, Games], Sizing] | None,
    tell: Callable[[str], None],
) -> tuple[dict[str, Games], dict[str, str], Sizing]:
    """Every policy kind's games of every row of `lay` (`play_kind`; a kind an
    interrupted run completed is not played again): the games, why each kind
    stopped, and the sizing played with."""
    played: dict[str, Games] = dict(resume or {})
    stopped: dict[str, str] = {}
    play = play_program(
        policy,
        env,
        tuple(map(tuple, lay.rows.tolist())),
        per_seat=not share_parameters,
        num_games=sizing.round_games,
        batch_size=pairs_per_batch,
    )
    for kind in KINDS:
        start = played.get(kind)
        reason = stop_reason(start, sizing)
        if start is not None and reason is not None:  # resumed, and complete
            played[kind], stopped[kind] = first_games(start, sizing.max_games), reason
            continue
        played[kind], stopped[kind], sizing = play_kind(
            kind,
            play,
            agent_params,
            key=key,
            sizing=sizing,
            num_rows=len(lay.rows),
            played=played,
            report=report,
            first_round=first_round,
            tell=tell,
        )
    return played, stopped, sizing


def measure_agents(
    policy: Network,
    agent_params: Params,
    env: Environment,
    *,
    share_parameters: bool,
    key: jax.Array,
    seed: int,
    permutations: int,
    symmetry_games: int,
    convention_games: int,
    tell: Callable[[str], None],
) -> tuple[SymmetryMeasures | None, ConventionPlay | None]:
    """Each agent's symmetry measures and, with `convention_games`, its
    sampled and greedy self-play counted for its convention matrices
    (`marl.deep.agent_measures`); None for what is not measured."""
    if env.symmetries.size >= 2 and permutations >= 2 and symmetry_games >= 1:
        tell("symmetry measures")
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
    if convention_games < 1:
        return symmetry, None
    tell("conditional action matrices")
    play = convention_counts(
        agent_params,
        env,
        policy,
        share_parameters=share_parameters,
        key=jax.random.fold_in(key, 3),
        num_games=convention_games,
    )
    return symmetry, play


class Evaluation(NamedTuple):
    """What `evaluate` measured; `experiments.deep.crossplay_results` shapes
    it into cross-play's results.json and scores.npz (docs/crossplay.md)."""

    layout: Layout
    played: dict[str, Games]
    """Per policy kind (`KINDS`), the games of every row of `layout`: the
    ordered pairs, then the 3+ player groups' assignments."""
    stopped: dict[str, str]
    """Per kind, why its rounds stopped (`marl.deep.rounds.stop_reason`)."""
    sizing: Sizing
    """The rounds' sizing played with."""
    symmetry: SymmetryMeasures | None
    """Each agent's symmetry measures; None when not measured."""
    conventions: ConventionPlay | None
    """Each agent's self-play counted for its convention matrices; None when
    not measured."""
    distances: dict[str, np.ndarray] | None
    """The convention matrices' distances and noise floors
    (`agent_measures.convention_distances`); None when not measured."""
    seed: int
    max_assignments: int
    convention_games: int


def evaluate(
    policy: Network,
    agent_params: Params,
    env: Environment,
    groups_of: list[str],
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
) -> Evaluation:
    """Every measurement of cross-play between K agents (`Evaluation`).

    The agents' parameters `agent_params` (leaves [K, ...], one network per agent,
    or per seat on a [P] axis after K where `share_parameters` is False) play
    with the per-seat `policy` in `env`, the scoring environment. `groups_of[k]`
    names agent k's group (agents trained alike: the same run configuration and
    entropy coefficient).

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
    equals an uninterrupted evaluation's. With `convention_games`, the agents'
    convention matrices from that many self-play games and their distances
    (`marl.deep.agent_measures`)."""
    key = jax.random.key(seed)
    lay = layout(groups_of, env.num_players, max_assignments, seed)
    tell = phase or (lambda name: None)
    played, stopped, sizing = play_kinds(
        policy,
        agent_params,
        env,
        lay,
        share_parameters=share_parameters,
        sizing=sizing,
        key=key,
        pairs_per_batch=pairs_per_batch,
        resume=resume,
        report=report,
        first_round=first_round,
        tell=tell,
    )
    try:  # after the cross-play, whose size is checked before it runs
        symmetry, play = measure_agents(
            policy,
            agent_params,
            env,
            share_parameters=share_parameters,
            key=key,
            seed=seed,
            permutations=permutations,
            symmetry_games=symmetry_games,
            convention_games=convention_games,
            tell=tell,
        )
    except KeyboardInterrupt:
        raise Interrupted(played) from None
    return Evaluation(
        lay,
        played,
        stopped,
        sizing,
        symmetry,
        play,
        None if play is None else convention_distances(play, env, seed),
        seed,
        max_assignments,
        convention_games,
    )
