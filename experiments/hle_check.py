"""Checked in the reference: a trained agent played inside hanabi-learning-environment.

    python -m experiments.hle_check outputs/ippo/<run> --games 2000
    python -m experiments.hle_check outputs/ippo/<run> --greedy --matched-decks

loads one agent (entropy coefficient `--ent-index`, seed `--seed-index`, the
latest checkpoint) from an IPPO run directory (`python -m experiments.ippo env=hanabi`,
docs/ippo.md), plays N games with it in the JAX game (`marl.deep.play.play`)
and N games in HLE's C++ game (`play_hle`), and prints both mean scores with
their standard errors. They agree when

    |mean_jax - mean_hle| <= 2 sqrt(se_jax^2 + se_hle^2)

(two combined standard errors; se = sample standard deviation / sqrt(N)); the
exit status is 1 when they do not. By default HLE deals from its own random deck
(seeded with `--seed`) and the two sides sample their moves from independent
keys, so the two means are independent estimates of the agent's score.
`--matched-decks` deals HLE the decks the JAX game dealt and samples with the
same keys: then every game must score exactly the same on both sides (greedy or
not), which is checked too.

In HLE the N games are stepped in lockstep in Python. At each step every seat's
observation is HLE's canonical vector (`pyhanabi.ObservationEncoder`, CANONICAL),
the N games' observations go through one jitted call of `policy.step` (vmapped
over games, as `marl.deep.play.decide` does, so every seat's recurrent memory
advances at every step), the acting seat's legal moves are HLE's (move uids are
our action ids), and the chosen move is applied in HLE. Nothing of the JAX game
is used on the HLE side (but the decks, with `--matched-decks`): if the two
agree, the agent's score does not depend on our reimplementation of the game or
of its observations.

Errors (HLE not installed, a directory without a run or checkpoints, an index
out of range) end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.agents import (
    CrossPlayError,
    load_config,
    load_run,
    seat_policy,
)
from experiments.config import ArgumentParser, interruptible
from experiments.ippo_runs import CONFIG_FILE, IPPORunConfig
from experiments.results import format_estimate
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from games.envs.hanabi.hle import HleDealer, canonical_encoder, hle_config, legal_uids
from marl.deep.checkpoint import CheckpointError
from marl.deep.ippo import IPPOConfig
from marl.deep.networks import Policy
from marl.deep.play import (
    Seats,
    choose,
    deal,
    decide_from,
    identity_seats,
    play,
    seat_params,
)
from marl.trainer import ConfigError

AGREEMENT_SES = 2.0
"""The agreement bound in combined standard errors."""


class HleCheckError(ValueError):
    """A check that cannot run; the one-line message says why."""


def import_pyhanabi() -> Any:
    """HLE's `pyhanabi`, or a one-line HleCheckError when it is not installed."""
    try:
        from hanabi_learning_environment import pyhanabi
    except ImportError as error:
        raise HleCheckError(
            "hanabi-learning-environment is not installed "
            f"(pip install -e '.[dev]'): {error}"
        ) from None
    return pyhanabi


def jax_decks(
    params: hanabi.HanabiParams, *, key: jax.Array, num_games: int
) -> np.ndarray:
    """int32[N, D]: the decks `marl.deep.play.play(..., key=key)` deals."""
    return np.asarray(_deal(key, params, num_games))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _deal(key: jax.Array, params: hanabi.HanabiParams, num_games: int) -> jax.Array:
    return deal(environment(params), key=key, num_games=num_games)[0].deck


@functools.cache
def _decide(policy: Policy, greedy: bool) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """jit: (seats, carry [N, P, H], obs uint8[N, P, O], actor int32[N], first
    bool[N], legal bool[N, A], act_key, t) -> (carry, action int32[N]).

    The step of `marl.deep.play.play` with HLE's observations and legal moves
    in place of the JAX game's: the same gathers as `decide`, the same `choose`
    and the same per-step key `fold_in(act_key, t)`.
    """

    def decide(
        seats: Seats,
        carry: jax.Array,
        obs: jax.Array,
        actor: jax.Array,
        first: jax.Array,
        legal: jax.Array,
        act_key: jax.Array,
        t: jax.Array,
    ) -> tuple[jax.Array, jax.Array]:
        # One deciding seat per step: the contract's [D] axis is 1.
        decision = decide_from(
            policy, seats, obs, legal[:, None], actor[:, None], carry, first
        )
        step_key = jax.random.fold_in(act_key, t)
        action = choose(decision.logits, decision.legal, greedy=greedy, key=step_key)
        return decision.carry, action[:, 0]

    return jax.jit(decide)


def play_hle(
    policy: Policy,
    seats: Seats,
    params: hanabi.HanabiParams,
    *,
    key: jax.Array,
    num_games: int,
    greedy: bool = False,
    decks: np.ndarray | None = None,
    hle_seed: int = 0,
) -> np.ndarray:
    """Plays N games in HLE's C++ game, stepped in lockstep; int32[N] scores.

    policy, seats: as `marl.deep.play.play` (a per-seat `Policy`, seat
    parameters with leading [P]). Moves are sampled with keys derived from `key`
    as `play` derives them (or taken greedily, the argmax over legal moves).
    decks: int32[N, D] card ids to deal in order (e.g. `jax_decks`), dealt with
    `games.envs.hanabi.verify.HleDealer`; None: HLE deals from its own random deck,
    seeded with `hle_seed`. With `decks=jax_decks(params, key=key, ...)` and the
    same `key` this plays the games `play` plays, move for move.
    """
    pyhanabi = import_pyhanabi()
    num_players, num_actions = params.num_players, params.num_actions
    game = pyhanabi.HanabiGame(hle_config(params, seed=hle_seed))
    encoder = canonical_encoder(pyhanabi, game, params)
    if decks is not None:
        decks = hanabi.validate_deck(np.asarray(decks), params)
        if decks.shape[0] != num_games:
            raise ValueError(f"{decks.shape[0]} decks for {num_games} games")
        dealer = HleDealer(pyhanabi, params)
    moves = [game.get_move(a) for a in range(num_actions)]
    uid_of: dict[str, int] = {}
    decide = _decide(policy, greedy)
    _, act_key = jax.random.split(key)

    states = [game.new_initial_state() for _ in range(num_games)]
    dealt = np.zeros(num_games, np.int64)
    obs = np.zeros((num_games, num_players, hanabi.canonical_size(params)), np.uint8)
    legal = np.zeros((num_games, num_actions), bool)
    actor = np.zeros(num_games, np.int32)
    finished = np.zeros(num_games, bool)
    carry = policy.initial_carry(num_games)
    first = jnp.ones(num_games, bool)
    for t in range(params.max_game_length + 1):
        for i, state in enumerate(states):
            if finished[i]:
                continue  # the terminal state's observations, as `play` keeps them
            while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
                if decks is None:
                    state.deal_random_card()
                else:
                    dealer.deal(state, int(decks[i, dealt[i]]))
                    dealt[i] += 1
            for p in range(num_players):
                obs[i, p] = encoder.encode(state.observation(p))
            actor[i] = state.cur_player()
            legal[i] = False
            if state.is_terminal():
                finished[i] = True
            else:
                legal[i, legal_uids(game, state, uid_of)] = True
        if finished.all():
            return np.array([state.score() for state in states], np.int32)
        carry, chosen = decide(
            seats, carry, obs, actor, first, legal, act_key, jnp.int32(t)
        )
        first = jnp.zeros_like(first)
        actions = np.asarray(chosen)
        for i in map(int, np.flatnonzero(~finished)):
            a = int(actions[i])
            if not legal[i, a]:
                raise RuntimeError(f"game {i}, step {t}: the policy chose illegal {a}")
            states[i].apply_move(moves[a])
    raise RuntimeError(f"HLE games ran past {params.max_game_length} moves")


@functools.cache
def _jax_play(
    policy: Policy, params: hanabi.HanabiParams, num_games: int, greedy: bool
) -> Callable[[Seats, jax.Array], jax.Array]:
    """jit(`marl.deep.play.play`) over (seats, key), compiled once per policy."""

    def run(seats: Seats, key: jax.Array) -> jax.Array:
        return play(
            policy,
            seats,
            environment(params),
            key=key,
            num_games=num_games,
            greedy=greedy,
        )

    return jax.jit(run)


@functools.cache
def per_seat_policy(ippo: IPPOConfig, params: hanabi.HanabiParams) -> Policy:
    """The per-seat `Policy` of a run's network (one object per configuration, so
    that the jitted plays above compile once per process)."""
    return seat_policy(ippo, environment(params))


@dataclasses.dataclass(frozen=True)
class Agreement:
    """Two samples of an agent's score and whether their means agree."""

    jax_scores: np.ndarray
    """float[N]: the JAX game's per-game scores."""
    hle_scores: np.ndarray
    """float[N]: HLE's."""

    @staticmethod
    def mean_and_se(scores: np.ndarray) -> tuple[float, float]:
        """The mean and its standard error, std (ddof 1) / sqrt(N)."""
        scores = np.asarray(scores, np.float64)
        se = scores.std(ddof=1) / math.sqrt(scores.size) if scores.size > 1 else 0.0
        return float(scores.mean()), float(se)

    @property
    def difference(self) -> float:
        """mean_hle - mean_jax."""
        return (
            self.mean_and_se(self.hle_scores)[0] - self.mean_and_se(self.jax_scores)[0]
        )

    @property
    def bound(self) -> float:
        """AGREEMENT_SES sqrt(se_jax^2 + se_hle^2)."""
        se_jax = self.mean_and_se(self.jax_scores)[1]
        se_hle = self.mean_and_se(self.hle_scores)[1]
        return AGREEMENT_SES * math.hypot(se_jax, se_hle)

    @property
    def agree(self) -> bool:
        """|mean_hle - mean_jax| <= the bound (with a float tolerance)."""
        return abs(self.difference) <= self.bound + 1e-9

    @property
    def identical(self) -> int:
        """Games that scored the same on both sides (meaningful on common decks)."""
        return int(np.sum(np.asarray(self.jax_scores) == np.asarray(self.hle_scores)))


def check(
    policy: Policy,
    seats: Seats,
    params: hanabi.HanabiParams,
    *,
    seed: int,
    num_games: int,
    greedy: bool,
    matched_decks: bool = False,
) -> Agreement:
    """N games in the JAX game and N in HLE, from one seed.

    The JAX side plays with key `fold_in(key(seed), 0)`. HLE plays with key
    `fold_in(key(seed), 1)` on its own deck (seeded with `seed`), or, with
    `matched_decks`, on the JAX side's decks with the JAX side's key.
    """
    root = jax.random.key(seed)
    jax_key = jax.random.fold_in(root, 0)
    jax_scores = np.asarray(
        _jax_play(policy, params, num_games, greedy)(seats, jax_key)
    )
    if matched_decks:
        decks = jax_decks(params, key=jax_key, num_games=num_games)
        hle_key = jax_key
    else:
        decks, hle_key = None, jax.random.fold_in(root, 1)
    hle_scores = play_hle(
        policy,
        seats,
        params,
        key=hle_key,
        num_games=num_games,
        greedy=greedy,
        decks=decks,
        hle_seed=seed,
    )
    return Agreement(jax_scores, hle_scores)


def hanabi_params(config: IPPORunConfig) -> hanabi.HanabiParams:
    """The Hanabi game of a run on the hanabi environment."""
    options = {k: v for k, v in config.env.items() if k != "name"}
    return hanabi.make_params(**options)


@dataclasses.dataclass(frozen=True)
class Agent:
    """One trained agent of an IPPO run, ready for `play` and `play_hle`."""

    config: IPPORunConfig
    policy: Policy
    """The per-seat policy (`share_parameters=False`) of the run's network."""
    seats: Seats
    """The agent in every seat (shared parameters are repeated per seat)."""
    step: int
    """The checkpoint's update."""
    ent_coef: float


def load_agent(run_dir: pathlib.Path, ent_index: int, seed_index: int) -> Agent:
    """The agent at entropy coefficient `ent_index`, seed `seed_index` of the
    latest checkpoint in an IPPO run directory."""
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise HleCheckError(
            f"{run_dir} is not an IPPO run directory (no {CONFIG_FILE})"
        )
    config = load_config(run_dir)
    if not 0 <= ent_index < len(config.coefs):
        raise HleCheckError(
            f"--ent-index {ent_index} is out of range: the run has "
            f"{len(config.coefs)} entropy coefficients {config.coefs}"
        )
    if not 0 <= seed_index < config.seeds:
        raise HleCheckError(
            f"--seed-index {seed_index} is out of range: the run has "
            f"{config.seeds} seeds"
        )
    if config.env_name != "hanabi":
        raise HleCheckError(
            f"{run_dir} trained on {config.env_name}; the HLE check plays Hanabi"
        )
    params = hanabi_params(config)
    net_params, step = load_run(run_dir, config)  # leaves [E, S, ...]
    num_players = params.num_players

    agent = jax.tree.map(lambda x: x[ent_index, seed_index], net_params)
    seats = seat_params(agent, num_players, config.ippo.share_parameters)
    return Agent(
        config=config,
        policy=per_seat_policy(config.ippo, params),
        seats=identity_seats(seats, environment(params)),
        step=step,
        ent_coef=config.coefs[ent_index],
    )


def report(agreement: Agreement, matched_decks: bool) -> list[str]:
    """The printed lines: both means, the criterion, the verdict."""
    jax_mean, jax_se = agreement.mean_and_se(agreement.jax_scores)
    hle_mean, hle_se = agreement.mean_and_se(agreement.hle_scores)
    n = len(agreement.jax_scores)
    verdict = "agree" if agreement.agree else "DISAGREE"
    lines = [
        f"JAX game: mean score {format_estimate(jax_mean, jax_se, 4)} (standard error)",
        f"HLE:      mean score {format_estimate(hle_mean, hle_se, 4)} (standard error)",
        f"difference {agreement.difference:+.4f}; criterion |difference| <= "
        f"{AGREEMENT_SES:g} sqrt(se_jax^2 + se_hle^2) = {agreement.bound:.4f}: "
        f"{verdict}",
    ]
    if matched_decks:
        lines.append(
            f"identical per-game scores on the same decks: {agreement.identical}/{n}"
        )
    return lines


@interruptible
def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 agree, 1 disagree,
    2 error)."""
    parser = ArgumentParser(
        prog="python -m experiments.hle_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run_dir", type=pathlib.Path, help="an IPPO run directory")
    parser.add_argument("--games", type=int, default=1000, help="games per side")
    parser.add_argument(
        "--greedy", action="store_true", help="argmax over legal moves, not sampled"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ent-index", type=int, default=0)
    parser.add_argument("--seed-index", type=int, default=0)
    parser.add_argument(
        "--matched-decks",
        action="store_true",
        help="deal HLE the JAX game's decks and sample with the same keys; every "
        "game must then score the same",
    )
    args = parser.parse_args(argv)
    try:
        if args.games < 2:
            raise HleCheckError(f"--games {args.games}: need at least 2")
        if args.seed < 0:
            raise HleCheckError(f"--seed {args.seed}: must be >= 0")
        agent = load_agent(args.run_dir, args.ent_index, args.seed_index)
        import_pyhanabi()
    except (HleCheckError, CrossPlayError, ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = agent.config
    ippo = config.ippo
    print(
        f"agent: {args.run_dir}, seed {args.seed_index}, ent_coef {agent.ent_coef:g}, "
        f"update {agent.step}; {config.describe_env()}, "
        f"{ippo.network}{'' if ippo.share_parameters else ' per seat'}; "
        f"{args.games} games per side, {'greedy' if args.greedy else 'sampled'}, "
        f"{'the same decks and keys' if args.matched_decks else 'independent decks'}"
    )
    agreement = check(
        agent.policy,
        agent.seats,
        hanabi_params(config),
        seed=args.seed,
        num_games=args.games,
        greedy=args.greedy,
        matched_decks=args.matched_decks,
    )
    for line in report(agreement, args.matched_decks):
        print(line)
    ok = agreement.agree
    if args.matched_decks:
        ok &= agreement.identical == args.games
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
