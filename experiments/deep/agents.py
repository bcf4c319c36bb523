"""The agents of IPPO run directories (any environment), for evaluation.

Finds every run under some paths (a `config.yaml` beside `checkpoints/`), reads
its config and latest intact checkpoint, and makes one `Agent` per (run, entropy
coefficient, seed), grouped by what they were trained alike with; shared by the
cross-play evaluator (experiments/crossplay.py) and the HLE check
(experiments/hle_check.py), so that neither entry point imports the other.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments.deep import zoo
from experiments.deep.ippo_directory import checkpoint_set, load_grid
from experiments.deep.ippo_runs import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    IPPORunConfig,
    init_source,
    read_run_config,
    trainer_of,
)
from games.envs.contract import Environment, seen_through
from marl.deep.checkpoint import ForeignCheckpointError
from marl.deep.ippo import IPPOConfig, make_policy_for
from marl.deep.networks import (
    Network,
    Params,
    with_encodings,
    with_networks,
    with_scripted,
)

ARCHITECTURE_FIELDS = ("network", "hidden_sizes", "gru_size", "share_parameters")
"""IPPOConfig fields that fix the parameters' shapes: agents that differ in
them play through one network each (`with_networks`); `share_parameters` they
must share."""


class CrossPlayError(ValueError):
    """A user error: nothing to evaluate, or agents that cannot play together."""


@dataclasses.dataclass(frozen=True)
class Agent:
    """Who an agent is: a run's seed at one entropy coefficient (or a partner
    not trained here: a bot, an external checkpoint). Cross-play plays agents
    by their stacked parameters; `experiments.deep.players.Player` is one agent
    ready to act alone."""

    run: str
    """The run directory, or `BOTS_RUN` for a rule-based partner."""
    ent_coef: float | None
    """None for a rule-based partner."""
    seed: int
    step: int
    group: str
    """Agents trained alike (same configuration, any seed) share a group."""

    @property
    def name(self) -> str:
        """'ent_coef=0.1 seed 0' (a trained agent), else its group ('bot=iggi',
        'jaxmarl <name>': a partner of its own)."""
        if self.ent_coef is None:
            return self.group
        return f"ent_coef={self.ent_coef:g} seed {self.seed}"


BOTS_RUN = "rule-based"
"""`Agent.run` of the rule-based partners (`add_bots`)."""


def add_bots(
    agents: list[Agent],
    params: Params,
    env: Environment,
    names: list[str],
    *,
    per_seat: bool,
) -> tuple[list[Agent], Params]:
    """`agents` and their parameters (leaves [K, ...], or [K, P, ...] with
    `per_seat`) followed by the environment's rule-based partners `names`
    (`Environment.scripted`; "all" for every one), as the parameters of
    `seat_policy(..., scripted=True)`: `{"network": ..., "script": int32[K + B]}`
    (int32[K + B, P] with `per_seat`; 0 for a trained agent, the bot's place in
    `Environment.scripted` plus one for a bot), a bot's network parameters
    zeros. Each bot is an agent of its own group, `bot=<name>`."""
    known = [name for name, _ in env.scripted]
    if not known:
        raise CrossPlayError(
            f"{env.title} has no rule-based partners (Hanabi has them with its "
            "canonical observation)"
        )
    chosen = known if names == ["all"] else names
    for name in chosen:
        if name not in known:
            raise CrossPlayError(
                f"--bots {name}: {env.title} has the partners {', '.join(known)}"
            )
    if len(set(chosen)) < len(chosen):
        raise CrossPlayError(f"--bots names a partner twice: {','.join(names)}")
    players = env.num_players
    script = [0] * len(agents) + [known.index(name) + 1 for name in chosen]
    zeros = jax.tree.map(
        lambda x: jnp.zeros((len(chosen), *x.shape[1:]), x.dtype), params
    )
    return (
        [*agents, *(Agent(BOTS_RUN, None, 0, 0, f"bot={name}") for name in chosen)],
        {
            "network": jax.tree.map(
                lambda a, b: jnp.concatenate([a, b]), params, zeros
            ),
            "script": jnp.asarray(script, jnp.int32)[:, None].repeat(players, 1)
            if per_seat
            else jnp.asarray(script, jnp.int32),
        },
    )


def find_runs(paths: Sequence[str]) -> list[pathlib.Path]:
    """Every IPPO run directory (config.yaml beside checkpoints/) and every zoo
    (config.yaml beside params.npz, `experiments.deep.zoo`) under `paths`."""
    runs: set[pathlib.Path] = set()
    for path in map(pathlib.Path, paths):
        if not path.is_dir():
            raise CrossPlayError(f"{path} is not a directory")
        for checkpoints in [path / CHECKPOINT_DIR, *path.rglob(CHECKPOINT_DIR)]:
            if checkpoints.is_dir() and (checkpoints.parent / CONFIG_FILE).is_file():
                runs.add(checkpoints.parent)
        for stored in [path / zoo.PARAMS_FILE, *path.rglob(zoo.PARAMS_FILE)]:
            if zoo.is_zoo(stored.parent):
                runs.add(stored.parent)
    return sorted(runs)


def load_run(
    run_dir: pathlib.Path, config: IPPORunConfig, step: int | None = None
) -> tuple[Params, int]:
    """The network parameters of every run of a directory, leaves [E, S, ...], at
    the latest checkpoint step common to every seed (or at update `step`); a
    zoo's at its one step."""
    if zoo.is_zoo(run_dir):
        try:
            return zoo.read_zoo(run_dir, config, step)
        except zoo.ZooError as error:
            raise CrossPlayError(str(error)) from None
    trainer = trainer_of(config)
    keys = jax.random.split(jax.random.key(0), config.seeds)
    template = jax.eval_shape(trainer.init, keys, len(config.ent_coefs))
    try:
        loaded = load_grid(checkpoint_set(run_dir, config), template, step)
    except ForeignCheckpointError as error:
        raise CrossPlayError(
            f"{run_dir / CONFIG_FILE} does not describe the checkpoints beside it "
            f"(edited or cut short?): {error}"
        ) from None
    if loaded is None:
        raise CrossPlayError(f"{run_dir / CHECKPOINT_DIR} holds no checkpoint")
    state, step = loaded
    return state.params, step


def played(config: IPPORunConfig) -> dict[str, Any]:
    """The game agents of a run are evaluated in: the environment's options with
    its scoring options (agents trained on differently shaped rewards still play
    one game)."""
    return dict(config.scoring_environment_options)


def group_key(config: IPPORunConfig, ent_coef: float) -> dict[str, Any]:
    """What makes two agents "trained alike": everything but the seed."""
    ippo = dataclasses.asdict(config.ippo)
    ippo.pop("seed")
    ippo["ent_coef"] = ent_coef
    return {
        **{f"env.{k}": v for k, v in config.env.items()},
        **ippo,
        "from": started_from(config, ent_coef),
    }


def started_from(config: IPPORunConfig, ent_coef: float) -> str:
    """ "afresh", or where `init_from` started the agents of `ent_coef`: the
    source coefficient and update (`0.1@1200`)."""
    if config.init_from is None:
        return "afresh"
    _, step = init_source(config.init_from)
    sources = config.init_coefs if config.init_coefs is not None else config.ent_coefs
    source = sources[config.ent_coefs.index(ent_coef)]
    return f"{source}@{step if step is not None else 'latest'}"


def group_labels(keys: list[dict[str, Any]]) -> list[str]:
    """Short labels: the fields whose values differ between groups."""
    varying = [
        field for field in keys[0] if len({repr(k[field]) for k in keys}) > 1
    ] or ["ent_coef"]
    if "ent_coef" not in varying:
        varying.insert(0, "ent_coef")
    return [", ".join(f"{field}={k[field]}" for field in varying) for k in keys]


class Loaded(NamedTuple):
    """The agents under some paths, ready to play (`load_agents`)."""

    agents: list[Agent]
    params: Params
    """Their parameters, leaves [K, ...] ([K, P, ...] per seat); with several
    networks, `{"networks": (...), "which": int32[K] (or [K, P])}`; with
    several encodings, `{"network": <those>, "encoding": int32[K] (or [K,
    P])}`: the parameters of `seat_policy(networks, env, encodings=E)`."""
    config: IPPORunConfig
    """The first run's config (the game; its network is `networks[0]`)."""
    env: Environment
    """The game they play: the runs' scoring environment, or, where runs
    observe through different encodings, the game seen through all of them
    (`games.envs.contract.seen_through`)."""
    encodings: int
    """E, the encodings the agents observe through (1: one for all)."""
    warnings: list[str]
    networks: tuple[IPPOConfig, ...]
    """The agents' network shapes (`ARCHITECTURE_FIELDS`), in the order of
    the runs: one for all, or one per shape (`with_networks`)."""


def observation_of(config: IPPORunConfig) -> str:
    """The encoding a run's agents observe through (`env.observation`)."""
    return str(dict(config.scoring_environment_options).get("observation") or "")


def load_agents(paths: Sequence[str], step: int | None = None) -> Loaded:
    """Every agent under `paths`: their descriptions, their parameters stacked on a
    leading [K] axis, one run's config (the game and network), the game they
    play and warnings. At the latest checkpoint of each run, or at update
    `step` of every run (a milestone, `keep_every`). Runs may differ in the
    encoding their agents observe through (`env.observation`): each agent is
    then fed its own (one seat, one encoding)."""
    runs = find_runs(paths)
    if not runs:
        raise CrossPlayError(
            f"no IPPO run (config.yaml beside {CHECKPOINT_DIR}/) under "
            + " ".join(paths)
        )
    configs = [read_run_config(run) for run in runs]
    reference = configs[0]
    game = played(reference)
    for run, config in zip(runs, configs, strict=True):
        for field in sorted((set(played(config)) | set(game)) - {"observation"}):
            mine, theirs = played(config).get(field), game.get(field)
            if mine != theirs:
                raise CrossPlayError(
                    f"{run} plays env.{field}={mine!r} but {runs[0]} plays "
                    f"{theirs!r}; evaluate them separately"
                )
        if config.ippo.share_parameters != reference.ippo.share_parameters:
            raise CrossPlayError(
                f"{run} has ippo.share_parameters={config.ippo.share_parameters!r} "
                f"but {runs[0]} has {reference.ippo.share_parameters!r}; agents with "
                "shared and per-seat parameters are evaluated separately"
            )
    shapes = list(dict.fromkeys(architecture(c) for c in configs))
    networks = tuple(
        next(c.ippo for c in configs if architecture(c) == shape) for shape in shapes
    )
    keys: list[dict[str, Any]] = []
    described: list[tuple[pathlib.Path, float, int, int, int]] = []
    stacks: list[Params] = []
    observations = list(dict.fromkeys(observation_of(c) for c in configs))
    encoding: list[int] = []
    network: list[int] = []
    for run, config in zip(runs, configs, strict=True):
        params, at = load_run(run, config, step)
        for e, coef in enumerate(config.ent_coefs):
            key = group_key(config, coef)
            if key not in keys:
                keys.append(key)
            for s in range(config.seeds):
                described.append((run, coef, s, at, keys.index(key)))
                stacks.append(jax.tree.map(lambda x, e=e, s=s: x[e, s], params))
                encoding.append(observations.index(observation_of(config)))
                network.append(shapes.index(architecture(config)))
    labels = group_labels(keys)
    agents = [
        Agent(str(run), float(coef), seed, at, labels[g])
        for run, coef, seed, at, g in described
    ]
    per_seat = not reference.ippo.share_parameters
    stacked = stack_networks(stacks, network, len(shapes), per_seat)
    warnings = duplicate_warnings(agents, stacked)
    if len(observations) == 1:
        return Loaded(
            agents,
            stacked,
            reference,
            reference.scoring_environment,
            1,
            warnings,
            networks,
        )
    envs = [
        next(c for c in configs if observation_of(c) == o).scoring_environment
        for o in observations
    ]
    try:
        env = seen_through(envs)
    except ValueError as error:
        raise CrossPlayError(f"the runs' encodings cannot be mixed: {error}") from None
    which = jnp.asarray(encoding, jnp.int32)
    if per_seat:
        which = which[:, None].repeat(env.num_players, 1)
    params = {"network": stacked, "encoding": which}
    return Loaded(agents, params, reference, env, len(observations), warnings, networks)


def architecture(config: IPPORunConfig) -> tuple[Any, ...]:
    """A run's network shape: its `ARCHITECTURE_FIELDS`."""
    return tuple(
        tuple(v) if isinstance(v := getattr(config.ippo, f), list) else v
        for f in ARCHITECTURE_FIELDS
    )


def stack_networks(
    stacks: list[Params], network: list[int], count: int, per_seat: bool
) -> Params:
    """The agents' parameters (one pytree each, of network `network[k]`;
    leaves [P, ...] `per_seat`) on a leading [K] axis: as they are where all
    share one network (`count` 1), else as `with_networks` takes them, every
    agent holding zeros in the networks that are not its own."""
    if count == 1:
        return jax.tree.map(lambda *xs: jnp.stack(xs), *stacks)
    zeros = [
        jax.tree.map(jnp.zeros_like, stacks[network.index(n)]) for n in range(count)
    ]
    mine = list(zip(stacks, network, strict=True))
    which = jnp.asarray(network, jnp.int32)
    if per_seat:
        seats = jax.tree.leaves(stacks[0])[0].shape[0]
        which = which[:, None].repeat(seats, 1)
    return {
        "networks": tuple(
            jax.tree.map(
                lambda *xs: jnp.stack(xs),
                *(x if k == n else zeros[n] for x, k in mine),
            )
            for n in range(count)
        ),
        "which": which,
    }


def duplicate_warnings(agents: list[Agent], params: Params) -> list[str]:
    """One warning per agent whose parameters (leaves [K, ...]) are bit-identical
    to an earlier agent's: one policy that SP/XP would count as two independent
    seeds. Runs trained alike from the same `ippo.seed` make them, even with
    different `seeds`: seed k's key is split(key(ippo.seed), seeds)[k], and
    JAX's split of a key into n keys begins with its split into fewer."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(params)]
    first: dict[str, Agent] = {}
    warnings = []
    for k, agent in enumerate(agents):
        sha = hashlib.sha256()
        for leaf in leaves:
            sha.update(np.ascontiguousarray(leaf[k]).tobytes())
        twin = first.setdefault(sha.hexdigest(), agent)
        if twin is not agent:
            warnings.append(
                f"{agent.run} seed {agent.seed} (ent_coef {agent.ent_coef:g}) has "
                f"the same parameters as {twin.run} seed {twin.seed}: one agent, "
                "counted twice in its group's SP and XP (runs with the same "
                "ippo.seed share their first seeds; give each run its own)"
            )
    return warnings


def seat_policy(
    ippo: IPPOConfig | tuple[IPPOConfig, ...],
    env: Environment,
    *,
    scripted: bool = False,
    encodings: int = 1,
) -> Network:
    """The per-seat `Network` that plays seats of any agents of this
    configuration in `env` (of these configurations, `Loaded.networks`: each
    agent through its own network, `with_networks`); with `scripted`, also the
    environment's rule-based partners (parameters as `add_bots` makes them);
    with `encodings` E > 1, agents that each observe through their own of the
    E encodings `env` concatenates (parameters as `load_agents` makes them).
    One per (configs, environment) in a process (environments are cached by
    their options, `ippo_runs.make_environment`), so that the programs that
    play it are traced once however many evaluations a process runs
    (`marl.deep.evaluate`)."""
    configs = ippo if isinstance(ippo, tuple) else (ippo,)
    return _seat_policy(configs, env, scripted=scripted, encodings=encodings)


@functools.lru_cache(maxsize=16)
def _seat_policy(
    configs: tuple[IPPOConfig, ...], env: Environment, *, scripted: bool, encodings: int
) -> Network:
    single = dataclasses.replace(env, obs_size=env.obs_size // encodings)
    policies = [
        make_policy_for(dataclasses.replace(c, share_parameters=False), single)
        for c in configs
    ]
    policy = policies[0] if len(policies) == 1 else with_networks(policies)
    if encodings > 1:
        policy = with_encodings(policy, single.obs_size, encodings)
    if not scripted:
        return policy
    return with_scripted(policy, [script for _, script in env.scripted])
