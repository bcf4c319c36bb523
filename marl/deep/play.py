"""Playing trained agents together: scores, cross-play, symmetry measures, on any
environment of the contract (`games.envs.contract`).

An *agent* is one trained run's network parameters (one seed at one entropy
coefficient). A game seats one agent per seat; every seat may also see the game
through one of its symmetries sigma (`games.envs.contract.Symmetries`): it is given
`obs[sigma.observation]` and its logits, which are over the actions of the
transformed game, are read back in the real game's action ids (entry
`sigma.actions[a]` is the logit of real action `a`). That is the agent
`sigma^-1 o pi o sigma`, the transformed copy of pi used by Other-Play (Hu et al.
2020) and by the equivariance checks (`marl.deep.symmetry_play`; Hanabi: the
color permutations).

Seat parameters are stacked on a leading [P] axis and played with a per-seat
`marl.deep.networks.Network` (`make_policy(..., share_parameters=False)`), so one
compiled program plays any assignment of agents to seats, and a `vmap` (or
`lax.map`) over assignments plays a whole cross-play matrix in one jitted call.
A recurrent agent's memory advances at every step, deciding or not, as in
training.

Shapes: K agents, P seats, D deciding seats per step, N games, O observation
size, A actions, G symmetries.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from games.envs.contract import Environment
from marl.deep.networks import Network, Params, masked_logits
from marl.sharding import runs_mesh, sharded_map


class Seats(NamedTuple):
    """Who plays each of the P seats of a game, and through which permutation."""

    params: Params
    """Every leaf with a leading [P]: seat p's network parameters."""
    observation: jax.Array
    """int32[P, O]: seat p sees `obs[observation[p]]` (the identity: arange(O))."""
    actions: jax.Array
    """int32[P, A]: seat p's logit of real action a is its output at
    `actions[p, a]` (`sigma.actions`; the identity: arange(A))."""


def identity_tables(env: Environment) -> tuple[np.ndarray, np.ndarray]:
    """The observation gather int32[O] and action table int32[A] of the identity."""
    return (
        np.arange(env.obs_size, dtype=np.int32),
        np.arange(env.num_actions, dtype=np.int32),
    )


def identity_seats(seat_params: Params, env: Environment) -> Seats:
    """Seats in which seat p plays `seat_params[p]` (leaves [P, ...]) as itself."""
    observation, actions = identity_tables(env)
    num_players = env.num_players
    return Seats(
        seat_params,
        jnp.broadcast_to(jnp.asarray(observation), (num_players, observation.size)),
        jnp.broadcast_to(jnp.asarray(actions), (num_players, actions.size)),
    )


def seat_params(agent: Params, num_players: int, shared: bool) -> Params:
    """One agent's parameters on the [P] seat axis that `Seats` plays: its one
    network copied to every seat when the seats share it (`shared`), else its
    per-seat networks as they are (leaves already [P, ...])."""
    if not shared:
        return agent
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_players, *x.shape)), agent)


def make_seats(
    agent_params: Params,
    agents: jax.Array,
    *,
    per_seat: bool,
    observation: jax.Array | np.ndarray,
    actions: jax.Array | np.ndarray,
) -> Seats:
    """Seats from a stack of K agents: seat p is played by agent `agents[p]`.

    agent_params: leaves [K, ...] (shared parameters) or [K, P, ...] (per-seat
    parameters, `per_seat=True`: seat p uses the agent's network for seat p).
    agents: int32[P]. observation int32[P, O], actions int32[P, A]: each seat's
    permutation tables.
    """
    seat_ids = jnp.arange(agents.shape[0])
    if per_seat:
        params = jax.tree.map(lambda x: x[agents, seat_ids], agent_params)
    else:
        params = jax.tree.map(lambda x: x[agents], agent_params)
    return Seats(params, jnp.asarray(observation), jnp.asarray(actions))


def choose(
    logits: jax.Array, legal: jax.Array, *, greedy: bool | jax.Array, key: jax.Array
) -> jax.Array:
    """An action per row of float[..., A]: a sample of the masked softmax, or its
    argmax over legal actions (`greedy`, the greedified policy). `greedy` may be
    a traced bool: one program then plays both ways (the same actions as with
    the Python bool; both are computed, the one asked for is kept)."""
    masked = masked_logits(logits, legal)
    if isinstance(greedy, bool):
        if greedy:
            return jnp.argmax(masked, axis=-1).astype(jnp.int32)
        return jax.random.categorical(key, masked, axis=-1).astype(jnp.int32)
    argmax = jnp.argmax(masked, axis=-1).astype(jnp.int32)
    sample = jax.random.categorical(key, masked, axis=-1).astype(jnp.int32)
    return jnp.where(greedy, argmax, sample)


class Decision(NamedTuple):
    """One step of N games from the deciding seats' side."""

    carry: jax.Array  # float32[N, P, H]: every seat's memory after the step
    logits: jax.Array  # float32[N, D, A]: the deciding seats' logits, real ids
    legal: jax.Array  # bool[N, D, A]
    actors: jax.Array  # int32[N, D]
    values: jax.Array  # float32[N, D]: the deciding seats' value estimates


def decide_from(
    policy: Network,
    seats: Seats,
    obs: jax.Array,
    legal: jax.Array,
    actors: jax.Array,
    carry: jax.Array,
    first: jax.Array,
) -> Decision:
    """Every seat sees its observation [N, P, O] through its symmetry; the
    deciding seats' logits are read back in real action ids (legal bool[N, D, A],
    actors int32[N, D], carry float[N, P, H], first bool[N])."""
    seen = jnp.take_along_axis(obs, seats.observation[None], axis=-1)
    act = jax.vmap(policy.step, in_axes=(None, 0, 0, 0, 0))
    carry, logits, values = act(seats.params, carry, seen, actors, first)
    logits = jnp.take_along_axis(logits, seats.actions[actors], axis=-1)
    return Decision(carry, logits, legal, actors, values)


def decide(
    policy: Network,
    seats: Seats,
    env: Environment,
    games: Any,
    carry: jax.Array,
    first: jax.Array,
) -> Decision:
    """`decide_from` on the observations and legal moves of N games of `env`."""
    return _decision_program(policy, env)(seats, games, carry, first)


@functools.lru_cache(maxsize=16)
def _decision_program(policy: Network, env: Environment) -> Any:
    """`decide`, jitted once per (policy, environment) in a process: a program
    that decides in several places (the symmetry measures: the agent, its
    transformed copies, each lookahead) traces the observation and the
    network once and reuses it (a cross-play with symmetry and convention
    measures, warm, 5.4 to 5.0 s; with two bots 9.4 to 8.8 s; the same
    results)."""

    def run(seats: Seats, games: Any, carry: jax.Array, first: jax.Array) -> Decision:
        obs = jax.vmap(env.observe)(games)
        legal = jax.vmap(env.legal_actions)(games)
        actors = jax.vmap(env.actors)(games)
        return decide_from(policy, seats, obs, legal, actors, carry, first)

    return jax.jit(run)


def deal(env: Environment, *, key: jax.Array, num_games: int) -> tuple[Any, jax.Array]:
    """The N games that `play(key=key)` plays (leaves [N, ...]) and the key its
    stochastic seats and the environment's chance sample with (step t uses
    `fold_in(act_key, t)`)."""
    deal_key, act_key = jax.random.split(key)
    games = jax.vmap(env.reset)(jax.random.split(deal_key, num_games))
    return games, act_key


def step_games(
    env: Environment, games: Any, actions: jax.Array, live: jax.Array, key: jax.Array
) -> tuple[Any, jax.Array, jax.Array]:
    """One step of the N games still live (a finished game stays as it ended).
    Returns (games, reward float32[N], done bool[N]); the environment's chance
    uses keys split from `key`."""
    env_keys = jax.random.split(key, actions.shape[0])
    stepped, reward, done = jax.vmap(env.step)(env_keys, games, actions)
    games = jax.tree.map(
        lambda new, old: jnp.where(_rows(live, new), new, old), stepped, games
    )
    return games, jnp.where(live, reward, 0).astype(jnp.float32), done


def turn(
    policy: Network,
    seats: Seats,
    env: Environment,
    games: Any,
    carry: jax.Array,
    first: jax.Array,
    live: jax.Array,
    key: jax.Array,
    greedy: bool | jax.Array,
) -> tuple[Decision, jax.Array, Any, jax.Array, jax.Array]:
    """One step of N games, the one every loop here plays: the seats decide
    (`decide`), the deciding seats' actions are chosen with `key` (`choose`),
    the live games step with keys split from `fold_in(key, 1)`. Returns the
    decision, the actions int32[N, D], and the games, rewards and ends after
    the step (`step_games`)."""
    decision = decide(policy, seats, env, games, carry, first)
    action = choose(decision.logits, decision.legal, greedy=greedy, key=key)
    after, reward, done = step_games(
        env, games, action, live, jax.random.fold_in(key, 1)
    )
    return decision, action, after, reward, done


class Outcome(NamedTuple):
    """How games ended, per game (leaves [..., N])."""

    score: jax.Array  # float32: the sum of the common reward (Hanabi: HLE's score)
    failed: jax.Array  # bool: the game was lost outright (`Environment.failed`)


def play_outcome(
    policy: Network,
    seats: Seats,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array = False,
) -> Outcome:
    """Plays N games to the end; returns every game's score and whether it was
    lost outright, [N] each.

    The games are dealt from `key` (the same key deals the same N games, so two
    calls with one key compare on common deals); stochastic seats and the
    environment's chance use keys split off it. A finished game stays finished
    while the others go on; no game runs past `env.max_steps`.
    """
    outcome, _ = _play_games(
        policy, seats, env, key=key, num_games=num_games, greedy=greedy, track=False
    )
    return outcome


class Transitions(NamedTuple):
    """What the seats answer each other over N games (`action_transitions`)."""

    counts: jax.Array
    """float32[A, A]: entry (a, b) the number of times a seat chose `a` and the
    partner deciding next chose `b` at the following step (turn-based games: the
    next decision; simultaneous ones: every other seat's decision at the next
    step). Normalized by rows, P(partner's next action | my action), the figure
    conventions are shown with in Hanabi (Hu et al. 2020, Other-Play)."""
    answers: jax.Array
    """float32[A, 2]: for the actions that touched something of the next
    decider's (`Environment.touched_plays`; Hanabi: a hint), how often the next
    decision played what they touched (column 0) or did anything else (column
    1): normalized by rows, P(play the touched card next | hint), the hint's
    meaning. Zero where the game has no `touched_plays`."""
    per_game: jax.Array
    """float32[N, A, A]: `counts` game by game (their sum), for a split-half
    noise floor or a bootstrap over games (`marl.deep.conventions`)."""


def action_transitions(
    policy: Network,
    seats: Seats,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array = False,
) -> Transitions:
    """The conditional action counts and the hint answers of N games
    (`play_outcome`'s, the same games)."""
    _, transitions = _play_games(
        policy, seats, env, key=key, num_games=num_games, greedy=greedy, track=True
    )
    return transitions


def _play_games(
    policy: Network,
    seats: Seats,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array,
    track: bool,
) -> tuple[Outcome, Transitions]:
    """The one loop of `play_outcome` and `action_transitions` (with `track`,
    it also counts consecutive decisions and the answers to hints; without, the
    counts stay zero and cost nothing)."""
    games, act_key = deal(env, key=key, num_games=num_games)
    carry = policy.initial_carry(num_games)
    live = jnp.ones(num_games, bool)
    first = jnp.ones(num_games, bool)
    outcome = Outcome(jnp.zeros(num_games, jnp.float32), jnp.zeros(num_games, bool))
    num_actions = env.num_actions
    deciding = jax.eval_shape(env.actors, jax.tree.map(lambda x: x[0], games)).shape
    pairs = (
        jnp.ones((1, 1)) if deciding[0] == 1 else 1.0 - jnp.eye(deciding[0])
    )  # [D, D]: which slot's next decision answers which slot's
    # Per game, only when tracked (else empty: nothing carried, nothing counted).
    counts = jnp.zeros((num_games if track else 0, num_actions, num_actions))
    previous = jnp.full((num_games, deciding[0]), -1, jnp.int32)
    touched_of = env.touched_plays if track and deciding[0] == 1 else None
    answers = jnp.zeros((num_actions, 2), jnp.float32)
    touched = jnp.zeros((num_games, num_actions), bool)  # the last move's

    def body(loop: tuple) -> tuple:
        t, games, carry, first, live, outcome, counts, previous, answers, touched = loop
        step_key = jax.random.fold_in(act_key, t)
        decision, action, after, reward, done = turn(
            policy, seats, env, games, carry, first, live, step_key, greedy
        )
        if track:
            valid = (live & (previous[:, 0] >= 0)).astype(jnp.float32)
            mine = jax.nn.one_hot(previous, num_actions)  # [N, D, A]; -1: zeros
            theirs = jax.nn.one_hot(action, num_actions)
            seen = jnp.einsum("n,de,nda,neb->nab", valid, pairs, mine, theirs)
            counts = counts + seen
            if touched_of is not None:
                hinted = valid * touched.any(-1)  # the last move touched something
                played = jnp.take_along_axis(touched, action, axis=1)[:, 0]
                answered = jnp.stack([played, ~played], -1).astype(jnp.float32)
                answers = answers + jnp.einsum(
                    "n,na,nk->ak", hinted, mine[:, 0], answered
                )
                now = jax.vmap(touched_of)(games, action[:, 0])
                touched = jnp.where(live[:, None], now, touched)
            previous = jnp.where(live[:, None], action, previous)
        games = after
        outcome = Outcome(
            outcome.score + reward,
            outcome.failed | (live & jax.vmap(env.failed)(games)),
        )
        live = live & ~done
        return (
            t + 1,
            games,
            decision.carry,
            jnp.zeros_like(first),
            live,
            outcome,
            counts,
            previous,
            answers,
            touched,
        )

    def running(loop: tuple) -> jax.Array:
        t, *_, live, _, _, _, _, _ = loop
        return live.any() & (t < env.max_steps)

    loop = (
        jnp.zeros((), jnp.int32),
        games,
        carry,
        first,
        live,
        outcome,
        counts,
        previous,
        answers,
        touched,
    )
    *_, outcome, counts, _, answers, _ = jax.lax.while_loop(running, body, loop)
    return outcome, Transitions(counts.sum(0), answers, counts)


class Trace(NamedTuple):
    """N games step by step (`play_trace`), T = `env.max_steps` steps; a step
    after a game ended has `live` False (and reward 0)."""

    states: Any
    """Leaves [T + 1, N, ...]: the games before every step, then after the last."""
    actors: jax.Array  # int32[T, N, D]: the deciding seats
    actions: jax.Array  # int32[T, N, D]: their actions
    probs: jax.Array  # float32[T, N, D, A]: their policies (0 where illegal)
    rewards: jax.Array  # float32[T, N]: the common reward of each step
    live: jax.Array  # bool[T, N]: the game had not ended before the step


def play_trace(
    policy: Network,
    seats: Seats,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array = False,
    start: Any | None = None,
) -> Trace:
    """`play_outcome`'s games, every step kept: the same deals from `key` (or
    the states `start`, leaves [N, ...]), the same choices and chance (the
    same `turn`), so that `rewards.sum(0)` is `play_outcome`'s score. For
    replays and the step-by-step view of a game (`experiments.deep.players.
    play_game`)."""
    games, act_key = deal(env, key=key, num_games=num_games)
    if start is not None:
        games = start
    ones = jnp.ones(num_games, bool)

    def body(loop: tuple, t: jax.Array) -> tuple[tuple, tuple]:
        games, carry, first, live = loop
        decision, action, after, reward, done = turn(
            policy,
            seats,
            env,
            games,
            carry,
            first,
            live,
            jax.random.fold_in(act_key, t),
            greedy,
        )
        probs = jax.nn.softmax(masked_logits(decision.logits, decision.legal), -1)
        kept = (games, decision.actors, action, probs, reward, live)
        return (after, decision.carry, jnp.zeros_like(first), live & ~done), kept

    loop = (games, policy.initial_carry(num_games), ones, ones)
    steps = jnp.arange(env.max_steps)
    (last, *_), (states, actors, actions, probs, rewards, live) = jax.lax.scan(
        body, loop, steps
    )
    states = jax.tree.map(
        lambda before, end: jnp.concatenate([before, end[None]]), states, last
    )
    return Trace(states, actors, actions, probs, rewards, live)


def play(
    policy: Network,
    seats: Seats,
    env: Environment,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array = False,
) -> jax.Array:
    """Every game's score, float32[N] (`play_outcome`'s)."""
    outcome = play_outcome(
        policy, seats, env, key=key, num_games=num_games, greedy=greedy
    )
    return outcome.score


def _rows(mask: jax.Array, leaf: jax.Array) -> jax.Array:
    """`mask` bool[N] broadcast against a leaf [N, ...]."""
    return mask.reshape(mask.shape + (1,) * (leaf.ndim - 1))


def pair_assignments(num_agents: int, num_players: int) -> np.ndarray:
    """Every ordered pair (i, j) of K agents as seat assignments, int32[K K, P],
    row-major: agent i at seat 0, agent j at every other seat."""
    grid = np.stack(np.meshgrid(np.arange(num_agents), np.arange(num_agents)), -1)
    pairs = grid.transpose(1, 0, 2).reshape(-1, 2).astype(np.int32)
    return np.concatenate(
        [pairs[:, :1], np.repeat(pairs[:, 1:], num_players - 1, 1)], 1
    )


def assignment_outcomes(
    policy: Network,
    agent_params: Params,
    env: Environment,
    assignments: jax.Array | np.ndarray,
    *,
    per_seat: bool,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array,
    batch_size: int | None = None,
    mesh: Mesh | None = None,
) -> Outcome:
    """Outcomes of M assignments of agents to seats, leaves [M, N].

    assignments: int[M, P], row m seating agent assignments[m, p] (an index into
    the K agents of `agent_params`, leaves [K, ...]) at seat p. Every assignment
    plays the same N deals (common random numbers). The assignments run as one
    `lax.map` with `batch_size` vmapped at a time (all at once by default), each
    batch split over the devices of `mesh` (default: every device; padded to a
    multiple of the device count, `marl.sharding.sharded_map`); jit it.
    """
    num_players = env.num_players
    observation, actions = identity_tables(env)
    observation = np.broadcast_to(observation, (num_players, observation.size))
    actions = np.broadcast_to(actions, (num_players, actions.size))

    def one(agents: jax.Array) -> Outcome:
        seats = make_seats(
            agent_params,
            agents,
            per_seat=per_seat,
            observation=observation,
            actions=actions,
        )
        return play_outcome(
            policy, seats, env, key=key, num_games=num_games, greedy=greedy
        )

    return sharded_map(
        one,
        jnp.asarray(assignments, jnp.int32),
        mesh=runs_mesh() if mesh is None else mesh,
        batch_size=batch_size,
    )


def crossplay_scores(
    policy: Network,
    agent_params: Params,
    env: Environment,
    *,
    per_seat: bool,
    key: jax.Array,
    num_games: int,
    greedy: bool | jax.Array,
    pairs_per_batch: int | None = None,
    mesh: Mesh | None = None,
) -> Outcome:
    """Outcomes of every ordered pair of K agents, leaves [K, K, N].

    Entry [i, j] seats agent i at seat 0 and agent j at every other seat (for two
    players: i first, j second; [j, i] is the other seat order; for more, every
    assignment of distinct agents is `assignment_outcomes`'s). Every pair plays
    the same N deals; `pairs_per_batch` and `mesh` as in `assignment_outcomes`;
    jit it.
    """
    num_agents = jax.tree.leaves(agent_params)[0].shape[0]
    outcomes = assignment_outcomes(
        policy,
        agent_params,
        env,
        pair_assignments(num_agents, env.num_players),
        per_seat=per_seat,
        key=key,
        num_games=num_games,
        greedy=greedy,
        batch_size=pairs_per_batch,
        mesh=mesh,
    )
    return jax.tree.map(
        lambda x: x.reshape(num_agents, num_agents, num_games), outcomes
    )
