"""Independent PPO (IPPO) on any environment of the contract, many seeds in one
jitted call.

Every seat is a PPO learner (Schulman et al. 2017, "Proximal policy optimization
algorithms") on the common reward; with `share_parameters` (the default) the seats
share one network, else each seat has its own network and its own optimizer. This
is the IPPO of de Witt et al. 2020 ("Is independent learning all you need in the
StarCraft multi-agent challenge?") and of JaxMARL's baselines (Rutherford et al.
2024), written once for turn-based and simultaneous-move games
(`games.envs.contract.Environment`):

- the deciding seats' decisions are the training samples: in a turn-based game
  (Hanabi) one seat acts per step and each environment step gives one sample,
  in a simultaneous-move game (Overcooked) each step gives one per seat; a
  sample is the seat's observation, legal mask, action, log-probability and
  value;
- the reward is common, so the value of a state is the team's expected return
  from a deciding seat's view, and generalized advantage estimation (Schulman et
  al. 2016) runs along the game's time axis over each deciding seat's values;
- a recurrent network still advances every seat's memory at every step, so each
  seat sees every move (see `marl.deep.networks`).

The pieces are module-level functions so tests check the real thing: `gae`,
`ppo_loss`, `entropy_term` live in `marl.deep.ppo` (the games are played by
`marl.deep.rollout`); the learner is an `(init, update)` pair over the named state
`IPPOState`; `make_train(config, env)(key, ent_coef)` is one whole training run (jit
it, and `vmap` it over keys for seeds); `make_ippo_trainer` gives the jitted seed x
entropy-coefficient batch in chunks of updates, which is what the entry point
checkpoints between.

Shapes: N environments per run, T steps per rollout, P players, D deciding seats
per step, O observation size, A actions, H recurrent state size (0 for a
feed-forward network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from games.envs.contract import Environment
from marl.deep.networks import (
    Network,
    Params,
    make_policy,
)
from marl.deep.ppo import ENTROPY_ACCOUNTINGS, LossInfo, PPOBatch, gae, ppo_loss
from marl.deep.rollout import (
    RolloutState,
    Transition,
    bootstrap_value,
    reset_games,
    rollout,
    symmetry_tables,
)
from marl.fields import check_fields
from marl.trainer import (
    Learner,
    Trainer,
    global_norm,
    make_trainer,
    run_schedule,
)

NETWORKS = ("mlp", "shared_mlp", "gru")


@dataclasses.dataclass(frozen=True)
class IPPOConfig:
    """Hyperparameters of IPPO; validated once on construction.

    Defaults follow JaxMARL's Hanabi IPPO baseline (`ippo_ff_hanabi.yaml`) where it
    has one, at a smaller scale.
    """

    num_envs: int = 64
    """Games played in parallel per run (N)."""
    num_steps: int = 64
    """Environment steps per game per rollout (T); one update per rollout."""
    total_timesteps: int = 1_000_000
    """Environment steps per run; `num_updates = total_timesteps // (N T)`."""
    update_epochs: int = 4
    """Passes over each rollout (PPO's K epochs)."""
    num_minibatches: int = 4
    """Minibatches per epoch. Feed-forward: N T samples are shuffled and split;
    recurrent: the N sequences are shuffled and split (it must divide N)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's lambda (Schulman et al. 2016): 0 is one-step TD, 1 Monte Carlo."""
    clip_eps: float = 0.2
    """PPO's clip range epsilon for the probability ratio (and the value, see
    `clip_value`)."""
    clip_value: bool = True
    """Clip the value prediction to within `clip_eps` of the rollout's value and
    take the larger loss (as PPO2 / PureJaxRL); False: plain squared error."""
    vf_coef: float = 0.5
    """Value loss coefficient c_V."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm (per seat with per-seat
    parameters) before Adam."""
    lr: float = 5e-4
    """Adam's learning rate (its initial value when annealed)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run, once per update."""
    adam_eps: float = 1e-5
    """Adam's epsilon."""
    normalize_advantages: bool = True
    """Standardize advantages within each minibatch."""
    network: str = "mlp"
    """'mlp' (feed-forward actor and critic), 'shared_mlp' (feed-forward, a torso
    shared by both heads; JaxMARL's Hanabi network with hidden_sizes [512, 512])
    or 'gru' (recurrent; the memory is zeroed at the start of every episode)."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """ReLU layer widths: each of the MLP's actor and critic; the shared MLP's
    torso (all but the last) and each of its heads (the last); the GRU network's
    torso before the GRU (its heads use the last width)."""
    gru_size: int = 128
    """GRU units (network='gru' only)."""
    share_parameters: bool = True
    """One network for every seat (default), or one network and optimizer per
    seat."""
    other_play: bool = False
    """Other-Play (Hu et al. 2020): every episode, each seat but seat 0 plays
    through one of the game's symmetries drawn uniformly (the identity included;
    Hanabi: the color permutations), seeing the transformed game and acting in
    it, so the shared policy is trained to coordinate with its own transformed
    copies. A no-op for a game whose only symmetry is the identity."""
    entropy_accounting: str = "acting"
    """'acting': the entropy bonus is the mean entropy over acting decisions;
    'all_agents': the mean over every seat's row at every step, the waiting seats'
    forced no-op counting as 0, as JaxMARL's IPPO computes it. That is the acting
    mean divided by the number of players (docs/ippo.md)."""
    seed: int = 0
    """Root PRNG seed; seed k of a batch is `seed_keys(seed, n)[k]`."""

    def __post_init__(self) -> None:
        # Hydra hands over lists; keep the frozen config hashable and immutable.
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        recurrent = self.network == "gru"
        split = self.num_envs if recurrent else self.num_envs * self.num_steps
        rules = {
            "num_envs": (self.num_envs >= 1, "must be >= 1"),
            "num_steps": (self.num_steps >= 1, "must be >= 1"),
            "total_timesteps": (
                self.total_timesteps >= self.num_envs * self.num_steps,
                "must be >= num_envs * num_steps, one update",
            ),
            "update_epochs": (self.update_epochs >= 1, "must be >= 1"),
            "num_minibatches": (
                self.num_minibatches >= 1 and split % self.num_minibatches == 0,
                "must be >= 1 and divide "
                + ("num_envs (recurrent)" if recurrent else "num_envs * num_steps"),
            ),
            "gamma": (0 < self.gamma <= 1, "must be in (0, 1]"),
            "gae_lambda": (0 <= self.gae_lambda <= 1, "must be in [0, 1]"),
            "clip_eps": (self.clip_eps > 0, "must be > 0"),
            "vf_coef": (self.vf_coef >= 0, "must be >= 0"),
            "max_grad_norm": (self.max_grad_norm > 0, "must be > 0"),
            "lr": (self.lr > 0, "must be > 0"),
            "adam_eps": (self.adam_eps > 0, "must be > 0"),
            "network": (
                self.network in NETWORKS,
                "must be 'mlp', 'shared_mlp' or 'gru'",
            ),
            "hidden_sizes": (
                all(size >= 1 for size in self.hidden_sizes),
                "must be a list of widths >= 1",
            ),
            "gru_size": (self.gru_size >= 1, "must be >= 1"),
            "entropy_accounting": (
                self.entropy_accounting in ENTROPY_ACCOUNTINGS,
                "must be 'acting' or 'all_agents'",
            ),
            "seed": (self.seed >= 0, "must be >= 0"),
        }
        check_fields(self, rules, "ippo.")

    @property
    def recurrent(self) -> bool:
        return self.network == "gru"

    @property
    def batch_size(self) -> int:
        """Environment steps per update, N T (each gives D training samples)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates per run, total_timesteps // (N T)."""
        return self.total_timesteps // self.batch_size


class IPPOState(NamedTuple):
    """One run's whole training state: everything a checkpoint must hold."""

    params: Params
    """Network parameters (leading [P] with per-seat parameters)."""
    opt_state: optax.OptState
    """Adam's state (with the step count that anneals the learning rate)."""
    rollout: RolloutState
    key: jax.Array
    """The run's PRNG key, split at every update."""
    update: jax.Array
    """int32[]: updates done."""


class Metrics(NamedTuple):
    """Per update (leading axes added by scans and vmaps)."""

    return_sum: jax.Array  # float32: returns of the episodes ended in the rollout
    episodes: jax.Array  # int32: episodes ended in the rollout
    entropy: jax.Array  # float32: mean LossInfo.entropy over epochs x minibatches
    policy_loss: jax.Array
    value_loss: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array
    grad_norm: jax.Array  # float32: mean global gradient norm before clipping


def make_policy_for(config: IPPOConfig, env: Environment) -> Network:
    """The `marl.deep.networks.Network` that `config` describes for the game `env`."""
    return make_policy(
        num_players=env.num_players,
        num_actions=env.num_actions,
        obs_size=env.obs_size,
        hidden_sizes=config.hidden_sizes,
        gru_size=config.gru_size if config.recurrent else 0,
        share_parameters=config.share_parameters,
        shared_torso=config.network == "shared_mlp",
    )


def ppo_optimizer(config: IPPOConfig) -> optax.GradientTransformation:
    """Global-norm clipping then Adam; with `anneal_lr` the rate falls linearly to 0,
    constant within an update (epochs x minibatches optimizer steps)."""
    steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count: jax.Array) -> jax.Array:
        done = (count // steps_per_update).astype(jnp.float32)
        return config.lr * (1.0 - done / config.num_updates)

    rate = schedule if config.anneal_lr else config.lr
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(learning_rate=rate, eps=config.adam_eps),
    )


def _standardize(x: jax.Array) -> jax.Array:
    return (x - x.mean()) / (x.std() + 1e-8)


def training_data(
    config: IPPOConfig,
    policy: Network,
    traj: Transition,
    last_value: jax.Array,
    carry: jax.Array,
) -> tuple[tuple[Transition, jax.Array, jax.Array], jax.Array]:
    """A rollout's data for the epochs, (trajectories, advantages, targets),
    and every sequence's memory at its start: one advantage per decision
    [T, N, D] (the common reward and the episode's end are each deciding
    seat's); without recurrence, every environment step a sequence of length
    1 (`carry`: every seat's memory at the rollout start)."""
    advantages, targets = gae(
        traj.reward[..., None],
        traj.value,
        traj.done[..., None],
        last_value,
        config.gamma,
        config.gae_lambda,
    )
    data = (traj, advantages, targets)
    if config.recurrent:
        return data, carry
    batch = config.batch_size
    data = jax.tree.map(lambda x: x.reshape(1, batch, *x.shape[2:]), data)
    return data, policy.initial_carry(config.batch_size)


def shuffled_minibatches(
    key: jax.Array, rnn_carry: jax.Array, data: Any, num_minibatches: int
) -> tuple[jax.Array, Any]:
    """The sequences (rnn_carry [H, ...], data [T, H, ...]) in a random order,
    split into `num_minibatches` on a new leading axis (for `lax.scan`)."""
    num_sequences = rnn_carry.shape[0]
    order = jax.random.permutation(key, num_sequences)

    def split(x: jax.Array, axis: int) -> jax.Array:
        x = jnp.take(x, order, axis=axis)
        size = num_sequences // num_minibatches  # not -1: H may be 0
        shape = (*x.shape[:axis], num_minibatches, size, *x.shape[axis + 1 :])
        return jnp.moveaxis(x.reshape(shape), axis, 0)

    return split(rnn_carry, 0), jax.tree.map(lambda x: split(x, 1), data)


def update_metrics(traj: Transition, info: LossInfo, grad_norm: jax.Array) -> Metrics:
    """One update's metrics: the finished episodes' returns and the losses'
    means over epochs and minibatches."""
    return Metrics(
        return_sum=traj.finished_return.sum(),
        episodes=traj.done.sum(dtype=jnp.int32),
        entropy=info.entropy.mean(),
        policy_loss=info.policy_loss.mean(),
        value_loss=info.value_loss.mean(),
        approx_kl=info.approx_kl.mean(),
        clip_fraction=info.clip_fraction.mean(),
        grad_norm=grad_norm.mean(),
    )


def ppo_loss_of(
    config: IPPOConfig, policy: Network, rows_per_decision: int
) -> Callable[..., tuple[jax.Array, LossInfo]]:
    """The PPO loss of a minibatch, `loss_fn(params, carry, (trajectories,
    advantages, targets), ent_coef)`: the policy re-evaluated on the
    sequences from their start memories, advantages standardized where the
    config says, and the entropy accounted over `rows_per_decision` seat rows."""

    def loss_fn(
        net_params: Params,
        carry: jax.Array,
        data: tuple[Transition, jax.Array, jax.Array],
        ent_coef: jax.Array,
    ) -> tuple[jax.Array, LossInfo]:
        traj, advantages, targets = data
        logits, values = policy.evaluate(
            net_params, carry, traj.obs, traj.actors, traj.first
        )
        if config.normalize_advantages:
            advantages = _standardize(advantages)
        batch = PPOBatch(
            traj.legal, traj.action, traj.log_prob, traj.value, advantages, targets
        )
        return ppo_loss(
            logits,
            values,
            batch,
            ent_coef=ent_coef,
            clip_eps=config.clip_eps,
            vf_coef=config.vf_coef,
            clip_value=config.clip_value,
            entropy_accounting=config.entropy_accounting,
            num_players=rows_per_decision,
        )

    return loss_fn


def make_ippo(config: IPPOConfig, env: Environment) -> Learner:
    """IPPO for the game `env` as an `(init, update)` pair over `IPPOState`."""
    policy = make_policy_for(config, env)
    optimizer = ppo_optimizer(config)
    per_seat = not config.share_parameters
    symmetries = symmetry_tables(env, config.other_play)
    num_symmetries = 1 if symmetries is None else symmetries.size
    # The entropy accounting's seat rows per decision (docs/ippo.md): P - 1 seats
    # wait while one decides in a turn-based game; none wait in a simultaneous one.
    rows_per_decision = env.num_players // env.num_deciders
    opt_init = jax.vmap(optimizer.init) if per_seat else optimizer.init
    opt_update = jax.vmap(optimizer.update) if per_seat else optimizer.update
    num_minibatches = config.num_minibatches

    def init(key: jax.Array) -> IPPOState:
        net_key, env_key, own_key = jax.random.split(key, 3)
        net_params = policy.init(net_key)
        return IPPOState(
            params=net_params,
            opt_state=opt_init(net_params),
            rollout=reset_games(
                env,
                policy,
                config.num_envs,
                key=env_key,
                num_symmetries=num_symmetries,
            ),
            key=own_key,
            update=jnp.zeros((), jnp.int32),
        )

    grad_fn = jax.value_and_grad(
        ppo_loss_of(config, policy, rows_per_decision), has_aux=True
    )

    def minibatch_step(
        carry: tuple[Params, optax.OptState, jax.Array],
        minibatch: tuple[jax.Array, tuple[Transition, jax.Array, jax.Array]],
    ) -> tuple[tuple[Params, optax.OptState, jax.Array], tuple[LossInfo, jax.Array]]:
        net_params, opt_state, ent_coef = carry
        rnn_carry, data = minibatch
        (_, info), grads = grad_fn(net_params, rnn_carry, data, ent_coef)
        updates, opt_state = opt_update(grads, opt_state, net_params)
        net_params = optax.apply_updates(net_params, updates)
        return (net_params, opt_state, ent_coef), (info, global_norm(grads))

    def update(state: IPPOState, ent_coef: jax.Array) -> tuple[IPPOState, Metrics]:
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        games, traj = rollout(
            policy,
            state.params,
            state.rollout,
            env,
            key=rollout_key,
            num_steps=config.num_steps,
            symmetries=symmetries,
        )
        last_value = bootstrap_value(policy, state.params, games, env, symmetries)
        data, rnn_carry = training_data(
            config, policy, traj, last_value, state.rollout.carry
        )

        def epoch(
            carry: tuple[Params, optax.OptState, jax.Array], epoch_key: jax.Array
        ) -> tuple[
            tuple[Params, optax.OptState, jax.Array], tuple[LossInfo, jax.Array]
        ]:
            minibatches = shuffled_minibatches(
                epoch_key, rnn_carry, data, num_minibatches
            )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        (net_params, opt_state, _), (info, grad_norm) = jax.lax.scan(
            epoch,
            (state.params, state.opt_state, jnp.asarray(ent_coef, jnp.float32)),
            jax.random.split(epoch_key, config.update_epochs),
        )
        metrics = update_metrics(traj, info, grad_norm)
        new_state = IPPOState(
            params=net_params,
            opt_state=opt_state,
            rollout=games,
            key=key,
            update=state.update + 1,
        )
        return new_state, metrics

    return Learner(init, update)


def run_updates(
    learner: Learner, state: IPPOState, ent_coef: jax.Array, num_updates: int
) -> tuple[IPPOState, Metrics]:
    """`num_updates` updates at one entropy coefficient, a `lax.scan` over its
    constant schedule (`marl.trainer.run_schedule`); Metrics with leading
    [num_updates]."""
    schedule = jnp.broadcast_to(jnp.asarray(ent_coef, jnp.float32), (num_updates,))
    return run_schedule(learner.update, state, schedule)


def make_train(
    config: IPPOConfig, env: Environment
) -> Callable[..., tuple[IPPOState, Metrics]]:
    """One whole training run as a pure function `train(key, ent_coef)`.

    Returns the final `IPPOState` and the Metrics of every update ([num_updates]).
    The entropy coefficient c_H is not a field of `IPPOConfig` but an array
    argument, as tau is of the exact learners, so both it and the key can be
    `vmap` axes:

        train = make_train(config, env)
        keys = seed_keys(config.seed, 8)
        states, metrics = jax.jit(jax.vmap(train, (0, None)))(keys, 0.01)  # 8 seeds
        grid = jax.vmap(jax.vmap(train, (0, None)), (None, 0))   # coefs x seeds
        states, metrics = jax.jit(grid)(keys, jnp.array([0.01, 0.05]))
    """
    learner = make_ippo(config, env)

    def train(key: jax.Array, ent_coef: float | jax.Array) -> tuple[IPPOState, Metrics]:
        coef = jnp.asarray(ent_coef, jnp.float32)
        return run_updates(learner, learner.init(key), coef, config.num_updates)

    return train


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Seed k's key: `split(key(seed), num_seeds)[k]`."""
    return jax.random.split(jax.random.key(seed), num_seeds)


def make_ippo_trainer(
    config: IPPOConfig, env: Environment, mesh: Mesh | None = None
) -> Trainer:
    """Seeds x entropy coefficients, jitted: `marl.trainer.make_trainer` of IPPO
    (its init jitted; the entry point runs it in chunks of updates, checkpointing
    and logging between them). `trainer.run(states [E, S], schedules float[E,
    updates])` with `constant_schedules(ent_coefs, updates)` runs a chunk;
    `jax.eval_shape(trainer.init, keys, E)` gives the state's shapes without
    drawing it (the entry point's resume, the estimate)."""
    return make_trainer(make_ippo(config, env), mesh, jit_init=True)
