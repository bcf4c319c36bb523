"""Trained agents as objects: load one from a run directory, let it act, play a
game with any partners, in a Python session or a notebook (no hydra).

    import jax
    from experiments.deep.players import load, play_game

    first, second = load("results/hanabi/tiny", ent_coef=0.1)[:2]
    game = play_game([first, second], key=jax.random.key(0))
    print(game.score, len(game.actions))

`load(run_dir, ent_coef=..., seed=..., step=...)` returns a `Player` per
matching agent of an IPPO run (any environment of the contract, feed-forward
or recurrent, shared or per-seat parameters; the latest intact checkpoint or
the milestone at update `step`; a zoo of agents kept with the code, such as
`load("zoo/hanabi_3c3r", ent_coef=0.1)`, `experiments.deep.zoo`), and
`load("model.safetensors")` an agent
trained elsewhere (JaxMARL's recurrent Hanabi actors,
`experiments.deep.external`); `bot(env, name)` a rule-based partner of the
game (`games.envs.contract.Environment.scripted`). A `Player` is one agent
(`player.agent`, the `experiments.deep.agents.Agent` that cross-play loads and
reports) ready to act on one seat's observation:

    move = player.act(obs, legal, state=player.initial_state(), key=key)
    move.action, move.probs, move.value, move.state   # state: its memory after

A recurrent agent's memory advances at every step of the game, deciding or not,
as in training (`play_game` does so): call `act` on every step's observation
and use its action only where the seat decides. A wrong directory, seed or
coefficient raises `experiments.deep.agents.CrossPlayError`, one line naming it.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments.deep.agents import (
    BOTS_RUN,
    Agent,
    CrossPlayError,
    find_runs,
    group_key,
    group_labels,
    load_run,
)
from experiments.deep.ippo_runs import read_run_config
from games.envs.contract import Environment
from marl.deep.networks import Network, Params, make_policy, masked_logits
from marl.deep.play import Seats, Trace, identity_tables, play_trace


class Move(NamedTuple):
    """What a player does with one observation."""

    action: jax.Array  # int32[]: the action chosen (sampled, or argmax if greedy)
    probs: jax.Array  # float32[A]: its policy over the actions (0 where illegal)
    value: jax.Array  # float32[]: its critic's estimate (0 for a bot)
    state: jax.Array  # float32[H]: its memory after this step (H = 0: none)


@dataclasses.dataclass(frozen=True, eq=False)
class Player:
    """One agent ready to act: who it is (`agent`, as cross-play describes
    it), the game it plays and its network's parameters (or a bot's script);
    one compiled `act` per network shape, the parameters passed in."""

    agent: Agent
    """Its run, entropy coefficient, seed and update (a bot's or an external
    agent's: its own group, no coefficient)."""
    env: Environment
    """The game it plays (the run's scoring environment)."""
    params: Params
    """Its network's parameters (leaves [P, ...] when each seat has its own);
    None for a bot."""
    memory: int
    """H, the size of its recurrent state (0 for a feed-forward network or a
    bot)."""
    hidden_sizes: tuple[int, ...] = ()
    shared_torso: bool = False
    per_seat: bool = False
    script: Any = None
    """A bot's policy: observation [O] -> logits [A]."""

    @property
    def name(self) -> str:
        """'ent_coef=0.1 seed 0' (a trained agent), 'bot=iggi', 'jaxmarl ...'."""
        return self.agent.name

    def initial_state(self) -> jax.Array:
        """Its memory before a game's first step, float32[H]."""
        return jnp.zeros(self.memory, jnp.float32)

    def act(
        self,
        obs: Any,
        legal: Any,
        *,
        state: jax.Array | None = None,
        key: jax.Array | None = None,
        greedy: bool = False,
        first: bool = False,
        seat: int = 0,
    ) -> Move:
        """Its move given one seat's observation [O] and legal actions bool[A]:
        a sample of its policy (`key`), or the policy's most likely legal action
        (`greedy`). `state` is its memory (`initial_state()` at a game's start,
        where `first` is also True); `seat` picks the network of that seat where
        each seat has its own."""
        if not greedy and key is None:
            raise ValueError("act needs a key to sample (or greedy=True)")
        state = self.initial_state() if state is None else state
        key = jax.random.key(0) if key is None else key
        return self._act(
            jnp.asarray(obs),
            jnp.asarray(legal, bool),
            state,
            key,
            jnp.asarray(first),
            seat,
            greedy,
        )

    @property
    def _act(self) -> Any:
        return functools.partial(_compiled_act(*self.shape), self.params)

    @property
    def shape(self) -> tuple[Any, ...]:
        """What its act is compiled for: the network's shape (or the bot)."""
        return (
            self.env.num_actions,
            self.env.obs_size,
            self.hidden_sizes,
            self.memory,
            self.shared_torso,
            self.per_seat,
            self.script,
        )


@functools.cache
def _seat_step(
    num_actions: int,
    obs_size: int,
    hidden_sizes: tuple[int, ...],
    memory: int,
    shared_torso: bool,
    per_seat: bool,
    script: Any,
) -> Any:
    """One seat of a player of this shape, the parameters passed in:
    `(params, state [H], obs [O], first, seat) -> (state [H], logits [A],
    value [])`; a bot's logits are its script's, its value 0."""
    network = make_policy(
        num_players=1,
        num_actions=num_actions,
        obs_size=obs_size,
        hidden_sizes=hidden_sizes,
        gru_size=memory,
        shared_torso=shared_torso,
    )

    def step(
        params: Params, state: jax.Array, obs: jax.Array, first: jax.Array, seat: int
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        if script is not None:
            return state, script(obs), jnp.zeros((), jnp.float32)
        if per_seat:
            params = jax.tree.map(lambda x: x[seat], params)
        carry, logits, values = network.step(
            params, state[None], obs[None], jnp.zeros(1, jnp.int32), first
        )
        return carry[0], logits[0], values[0]

    return step


@functools.cache
def _compiled_act(*shape: Any) -> Any:
    """One jitted `act(params, obs, legal, state, key, first, seat, greedy)`
    per network shape (or bot), the parameters passed in: players of one run
    share one compilation, as JaxMARL's agents share `greedy_act`."""
    seat_step = _seat_step(*shape)

    def act(
        params: Params,
        obs: jax.Array,
        legal: jax.Array,
        state: jax.Array,
        key: jax.Array,
        first: jax.Array,
        seat: int,
        greedy: bool,
    ) -> Move:
        state, logits, value = seat_step(params, state, obs, first, seat)
        masked = masked_logits(logits, legal)
        action = jnp.where(
            greedy,
            jnp.argmax(masked),
            jax.random.categorical(key, masked),
        ).astype(jnp.int32)
        return Move(action, jax.nn.softmax(masked), value, state)

    return jax.jit(act, static_argnums=(6, 7))


def load(
    run_dir: str | pathlib.Path,
    *,
    ent_coef: float | None = None,
    seed: int | None = None,
    step: int | None = None,
) -> list[Player]:
    """The agents of one IPPO run directory: every seed at every entropy
    coefficient, or those of `ent_coef` and `seed`; at the latest intact
    checkpoint or at update `step` (a milestone). A `.safetensors` file is an
    agent trained elsewhere: a JaxMARL recurrent Hanabi actor
    (`experiments.deep.external`), the one agent returned."""
    if str(run_dir).endswith(".safetensors"):
        if (ent_coef, seed, step) != (None, None, None):
            raise CrossPlayError(
                f"{run_dir} is one agent: ent_coef, seed and step choose within a run"
            )
        from experiments.deep.external import load_jaxmarl

        return [load_jaxmarl(run_dir)]
    for name, value, kinds, kind in (
        ("ent_coef", ent_coef, (int, float), "a number"),
        ("seed", seed, (int,), "an integer"),
        ("step", step, (int,), "an integer"),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, kinds)
        ):
            type_name = type(value).__name__
            raise CrossPlayError(f"{name} must be {kind}, not {value!r} ({type_name})")
    run = pathlib.Path(run_dir)
    if not run.is_dir():
        raise CrossPlayError(f"{run} is not a directory")
    if run not in find_runs([str(run)]):
        raise CrossPlayError(
            f"{run} is not an IPPO run directory (config.yaml beside checkpoints/) "
            "or a zoo (config.yaml beside params.npz)"
        )
    config = read_run_config(run)
    if ent_coef is not None and ent_coef not in config.ent_coefs:
        raise CrossPlayError(
            f"{run} has no agents at ent_coef={ent_coef:g}; it trained "
            + ", ".join(f"{c:g}" for c in config.ent_coefs)
        )
    if seed is not None and not 0 <= seed < config.seeds:
        raise CrossPlayError(f"{run} has seeds 0..{config.seeds - 1}, not seed {seed}")
    params, at = load_run(run, config, step)
    env = config.scoring_environment
    ippo = config.ippo
    # the groups as cross-play names them (`experiments.deep.agents.load_agents`)
    groups = group_labels([group_key(config, coef) for coef in config.ent_coefs])
    players = []
    for e, coef in enumerate(config.ent_coefs):
        for s in range(config.seeds):
            if (ent_coef is None or coef == ent_coef) and (seed is None or s == seed):
                players.append(
                    Player(
                        agent=Agent(str(run), float(coef), s, at, groups[e]),
                        env=env,
                        params=jax.tree.map(lambda x, e=e, s=s: x[e, s], params),
                        memory=ippo.gru_size if ippo.recurrent else 0,
                        hidden_sizes=tuple(ippo.hidden_sizes),
                        shared_torso=ippo.network == "shared_mlp",
                        per_seat=not ippo.share_parameters,
                    )
                )
    return players


def bot(env: Environment, name: str) -> Player:
    """The rule-based partner `name` of the game `env`
    (`Environment.scripted`)."""
    scripts = dict(env.scripted)
    if name not in scripts:
        raise CrossPlayError(
            f"{env.title} has no partner {name!r}; it has: "
            + (", ".join(scripts) or "none")
        )
    return Player(
        agent=Agent(BOTS_RUN, None, 0, 0, f"bot={name}"),
        env=env,
        params=None,
        memory=0,
        script=scripts[name],
    )


class Game(NamedTuple):
    """One game played by `play_game`, step by step (T steps, D deciding seats
    per step: 1 in a turn-based game)."""

    states: list[Any]
    """T + 1 environment states (numpy leaves): before every step and the end."""
    actors: list[tuple[int, ...]]
    """The deciding seats of each step."""
    actions: list[tuple[int, ...]]
    """Their actions."""
    probs: list[np.ndarray]
    """Their policies float32[D, A] at each step."""
    rewards: list[float]
    score: float
    """The sum of the common rewards (Hanabi: HLE's score)."""


def _game(env: Environment) -> str:
    """The game an environment plays, whatever its seats observe."""
    return env.game or env.title


def _not_for_play(*args: Any) -> Any:
    raise NotImplementedError("seated players play; they are not trained")


@functools.cache
def _seated(
    shapes: tuple[tuple[Any, ...], ...], envs: tuple[Environment, ...], env: Environment
) -> tuple[Environment, Network]:
    """Players of these shapes, seat p observing through `envs[p]`, as the
    per-seat `Network` of the batched play loop (`marl.deep.play`) in `env`:
    the game is `env`'s, and its observation [P, O] is every seat's own
    encoding (`envs[p].observe`, padded to the largest O); each seat runs its
    player's own step (`_seat_step`) on its own parameters (params: a tuple,
    one entry per seat) and memory (carry [P, H], padded to the largest H)."""
    steps = [_seat_step(*shape) for shape in shapes]
    sizes = [shape[1] for shape in shapes]
    memories = [shape[3] for shape in shapes]
    width, memory = max(sizes), max(memories)
    seats = range(env.num_players)

    def pad(x: jax.Array, n: int) -> jax.Array:
        return jnp.pad(jnp.asarray(x, jnp.float32), (0, n - x.shape[0]))

    def observe(state: Any) -> jax.Array:
        return jnp.stack([pad(envs[p].observe(state)[p], width) for p in seats])

    def step(
        params: Any,
        carry: jax.Array,
        obs: jax.Array,
        actors: jax.Array,
        first: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        outs = [
            steps[p](
                params[p],
                carry[p, : memories[p]],
                obs[p, : sizes[p]].astype(envs[p].obs_dtype),
                first,
                p,
            )
            for p in seats
        ]
        carry = jnp.stack([pad(state, memory) for state, _, _ in outs])
        logits = jnp.stack([logits for _, logits, _ in outs])
        values = jnp.stack([value for _, _, value in outs])
        return carry, logits[actors], values[actors]

    def initial_carry(num_games: int) -> jax.Array:
        return jnp.zeros((num_games, env.num_players, memory), jnp.float32)

    seen = dataclasses.replace(
        env, observe=observe, obs_size=width, obs_dtype=jnp.float32
    )
    return seen, Network(_not_for_play, initial_carry, step, _not_for_play)


@functools.cache
def _trace_of(
    shapes: tuple[tuple[Any, ...], ...],
    envs: tuple[Environment, ...],
    env: Environment,
    greedy: bool,
) -> Any:
    """`marl.deep.play.play_trace` of one game of such players, jitted once per
    seating: `(params, key, start) -> Trace`."""
    seen, network = _seated(shapes, envs, env)
    observation, actions = identity_tables(seen)

    def trace(params: Any, key: jax.Array, start: Any) -> Trace:
        seats = Seats(
            params,
            jnp.broadcast_to(observation, (env.num_players, observation.size)),
            jnp.broadcast_to(actions, (env.num_players, actions.size)),
        )
        return play_trace(
            network, seats, seen, key=key, num_games=1, greedy=greedy, start=start
        )

    return jax.jit(trace)


def play_game(
    players: list[Player],
    *,
    key: jax.Array,
    greedy: bool = False,
    env: Environment | None = None,
    start: Any | None = None,
) -> Game:
    """One game of `players[p]` in seat p (the first player's game unless `env`
    is given), dealt from `key` (or from the state `start`), played by the
    batched play loop (`marl.deep.play.play_trace`: the game is the first of
    `play_outcome`'s N from the same key) and returned step by step: every
    seat's memory advances at every step, the deciding seats' moves are played.
    Each seat observes through its own player's environment, so agents trained
    on different encodings of one game (Hanabi's canonical and v0_belief) play
    together; their games must be the same (`Environment.game`)."""
    env = env or players[0].env
    if len(players) != env.num_players:
        raise CrossPlayError(
            f"{env.title} seats {env.num_players} players, got {len(players)}"
        )
    for player in players:
        if _game(player.env) != _game(env):
            raise CrossPlayError(
                f"{player.name} plays {_game(player.env)}, not {_game(env)}"
            )
    trace = _trace_of(
        tuple(p.shape for p in players), tuple(p.env for p in players), env, greedy
    )(
        tuple(p.params for p in players),
        key,
        None if start is None else jax.tree.map(lambda x: jnp.asarray(x)[None], start),
    )
    trace = jax.tree.map(lambda x: np.asarray(x)[:, 0], trace)  # the one game
    steps = int(trace.live.sum())  # a game ends once; no step after it is live
    rewards = [float(r) for r in trace.rewards[:steps]]
    return Game(
        [jax.tree.map(lambda x, t=t: x[t], trace.states) for t in range(steps + 1)],
        [tuple(int(a) for a in row) for row in trace.actors[:steps]],
        [tuple(int(a) for a in row) for row in trace.actions[:steps]],
        list(trace.probs[:steps]),
        rewards,
        float(sum(rewards)),
    )
