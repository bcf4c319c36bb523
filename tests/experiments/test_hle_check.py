"""Checked in the reference: trained agents played inside hanabi-learning-environment.

A small trained MLP agent and a briefly trained GRU agent are played in HLE's C++
game (experiments.hle_play.play_hle: HLE's own canonical observations and legal
moves) and in the JAX game (marl.deep.play.play). On the JAX game's decks with
the JAX game's keys every game scores the same on both sides, greedy or sampled;
on HLE's own random decks the mean scores agree within two combined standard
errors. A GRU whose memory is zeroed at every step on HLE's side is caught. Plus
in-process runs of the command line on a saved run directory, its one-line
errors, and the loading of shared and per-seat parameters.
"""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from omegaconf import OmegaConf

from experiments import hle_check
from experiments.deep.ippo_directory import checkpoint_set, per_seed
from experiments.deep.ippo_runs import CONFIG_FILE, IPPORunConfig
from games.envs import hanabi
from games.envs.hanabi.environment import environment
from marl.deep import hle_play
from marl.deep import play as games_play
from marl.deep.ippo import IPPOConfig, make_ippo, make_train, seed_keys

pytest.importorskip("hanabi_learning_environment.pyhanabi")

PRESET = "Hanabi-Very-Small"
GAMES = 500
MLP = IPPOConfig(
    num_envs=32,
    num_steps=32,
    total_timesteps=32 * 32 * 30,
    hidden_sizes=(32, 32),
    lr=1e-3,
)
GRU = IPPOConfig(
    num_envs=32,
    num_steps=32,
    total_timesteps=32 * 32 * 30,
    update_epochs=2,
    num_minibatches=2,
    network="gru",
    hidden_sizes=(32,),
    gru_size=32,
    lr=3e-3,
)


@pytest.fixture(scope="module")
def params() -> hanabi.HanabiParams:
    return hanabi.make_params(PRESET, 2)


def _seat_params(config: IPPOConfig, net_params, num_players: int):
    if not config.share_parameters:
        return net_params
    return jax.tree.map(
        lambda x: jnp.broadcast_to(x, (num_players, *x.shape)), net_params
    )


ENT_COEF = 0.01  # the one entropy coefficient of the saved runs


def _train(config: IPPOConfig, params: hanabi.HanabiParams):
    """(config, trained state, per-seat policy, seats) of seed 0."""
    train = jax.jit(make_train(config, environment(params)))
    state, _ = train(seed_keys(0, 1)[0], ENT_COEF)
    policy = hle_check.per_seat_policy(config, params)
    seats = games_play.identity_seats(
        _seat_params(config, state.params, params.num_players), environment(params)
    )
    return config, state, policy, seats


@pytest.fixture(scope="module")
def mlp_agent(params):
    return _train(MLP, params)


@pytest.fixture(scope="module")
def gru_agent(params):
    return _train(GRU, params)


@pytest.fixture(params=["mlp", "gru"])
def agent(request):
    return request.getfixturevalue(f"{request.param}_agent")


# Greedy play compiles a second JAX program per agent; the GRU plays sampled only.
@pytest.mark.parametrize(
    ("name", "greedy"), [("mlp", True), ("mlp", False), ("gru", False)]
)
def test_play_hle_on_the_jax_decks_and_keys_scores_every_game_as_the_jax_game(
    request, params, name, greedy
):
    _, _, policy, seats = request.getfixturevalue(f"{name}_agent")
    result = hle_play.check(
        policy,
        seats,
        params,
        seed=0,
        num_games=GAMES,
        greedy=greedy,
        matched_decks=True,
    )
    np.testing.assert_array_equal(result.hle_scores, result.jax_scores)
    assert result.identical == GAMES and result.agree
    # The agents are trained and their scores vary from game to game, so equal
    # scores in every game say something (the uniform random policy scores
    # about 0.03 on this game).
    assert len(np.unique(result.jax_scores)) >= 2
    assert result.jax_scores.mean() > 0.2


def test_play_hle_on_hle_decks_agrees_in_mean_within_the_standard_error(agent, params):
    _, _, policy, seats = agent
    result = hle_play.check(
        policy, seats, params, seed=1, num_games=GAMES, greedy=False
    )
    # Independent samples (HLE's own decks, independent keys) ...
    assert result.identical < GAMES
    jax_mean, jax_se = result.mean_and_se(result.jax_scores)
    hle_mean, hle_se = result.mean_and_se(result.hle_scores)
    assert 0 < jax_se < 0.05 and 0 < hle_se < 0.05
    # ... whose means agree within the standard error. The command line's verdict
    # asks for 2 sqrt(se_jax^2 + se_hle^2) (about 5% false alarms); with fixed
    # seeds this is deterministic, and the test asks for 3 so that a platform
    # whose float rounding trains a slightly different agent fails it with
    # probability 0.3%, not 5%.
    assert abs(hle_mean - jax_mean) <= 3 * math.hypot(jax_se, hle_se)


def test_play_hle_catches_a_recurrent_memory_that_does_not_advance(gru_agent, params):
    # The per-game check has power on the recurrent path: on the same decks with
    # the same keys, a GRU whose memory is zeroed at every step on HLE's side
    # scores differently in many games where the real one matches every game.
    _, _, policy, seats = gru_agent
    amnesic = policy._replace(
        step=lambda p, carry, obs, actor, first: policy.step(
            p, carry, obs, actor, jnp.ones_like(first)
        )
    )
    result = hle_play.check(
        policy, seats, params, seed=0, num_games=GAMES, greedy=False, matched_decks=True
    )
    key = jax.random.fold_in(jax.random.key(0), 0)  # check's JAX key for seed 0
    amnesic_scores = hle_play.play_hle(
        amnesic,
        seats,
        params,
        key=key,
        num_games=GAMES,
        decks=hle_play.jax_decks(params, key=key, num_games=GAMES),
    )
    assert result.identical == GAMES
    assert np.sum(amnesic_scores != result.jax_scores) > GAMES // 10


def test_agreement_mean_standard_error_and_bound_by_hand():
    a = hle_play.Agreement(np.array([0.0, 2.0, 4.0]), np.ones(4))
    assert a.mean_and_se(a.jax_scores) == pytest.approx((2.0, 2.0 / math.sqrt(3)))
    assert a.mean_and_se(a.hle_scores) == (1.0, 0.0)
    assert a.difference == pytest.approx(-1.0)
    assert a.bound == pytest.approx(2 * 2.0 / math.sqrt(3))
    assert a.agree
    assert not hle_play.Agreement(np.ones(4), np.full(4, 2.0)).agree
    assert hle_play.Agreement(np.ones(4), np.ones(4)).agree


def _write_run(run_dir, train_config: IPPOConfig, state, checkpoint: bool = True):
    """A run directory as `python -m experiments.ippo` leaves it (one seed, one
    entropy coefficient): config.yaml and the final checkpoint."""
    env = {"name": "hanabi", "preset": PRESET, "num_players": 2}
    config = IPPORunConfig(env=env, seeds=1, ent_coefs=[ENT_COEF], ippo=train_config)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(OmegaConf.to_yaml(OmegaConf.structured(config)))
    if checkpoint:
        stacked = jax.tree.map(lambda x: x[None, None], state)  # [E=1, S=1]
        checkpoint_set(run_dir, config).save(
            train_config.num_updates, [per_seed(stacked, 0)], [{}]
        )


def _error_line(capsys, argv: list[str]) -> str:
    assert hle_check.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_hle_check_command_line_on_a_saved_run(mlp_agent, tmp_path, capsys):
    config, state, _, _ = mlp_agent
    run = tmp_path / "run"
    _write_run(run, config, state)
    games = ["--games", str(GAMES)]

    assert hle_check.main([str(run), *games, "--greedy", "--matched-decks"]) == 0
    out = capsys.readouterr().out
    assert f"update {config.num_updates}" in out and "greedy" in out
    assert f"identical per-game scores on the same decks: {GAMES}/{GAMES}" in out
    assert out.count("+-") == 2 and ": agree" in out

    code = hle_check.main([str(run), *games, "--seed", "1"])
    out = capsys.readouterr().out
    assert "sampled" in out and "independent decks" in out
    assert code == (0 if ": agree" in out else 1) and "identical" not in out

    # HLE scoring one more in every game disagrees: exit status 1.
    play_hle = hle_play.play_hle
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hle_play, "play_hle", lambda *a, **k: play_hle(*a, **k) + 1)
        assert hle_check.main([str(run), *games]) == 1
    assert "DISAGREE" in capsys.readouterr().out

    # Errors: one line, exit status 2.
    assert "not an IPPO run" in _error_line(capsys, [str(tmp_path / "nowhere")])
    empty = tmp_path / "empty"
    _write_run(empty, config, state, checkpoint=False)
    assert "no checkpoint" in _error_line(capsys, [str(empty)])
    assert "--ent-index 1" in _error_line(capsys, [str(run), "--ent-index", "1"])
    assert "--seed-index 2" in _error_line(capsys, [str(run), "--seed-index", "2"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "hanabi_learning_environment", None)
        assert "not installed" in _error_line(capsys, [str(run)])


def test_load_agent_seats_the_checkpointed_parameters(mlp_agent, params, tmp_path):
    # Shared parameters are repeated in every seat ...
    config, state, _, _ = mlp_agent
    _write_run(tmp_path / "shared", config, state)
    agent, _, seats = hle_check.load_agent(tmp_path / "shared", 0, 0)
    assert agent.step == config.num_updates and agent.ent_coef == ENT_COEF
    assert agent.seed == 0 and agent.run == str(tmp_path / "shared")
    for got, want in zip(
        jax.tree.leaves(seats.params), jax.tree.leaves(state.params), strict=True
    ):
        for seat in range(params.num_players):
            np.testing.assert_array_equal(got[seat], want)
    # ... and per-seat parameters are taken as they are.
    per_seat = IPPOConfig(
        num_envs=8,
        num_steps=8,
        total_timesteps=64,
        hidden_sizes=(8,),
        share_parameters=False,
    )
    fresh = jax.jit(make_ippo(per_seat, environment(params)).init)(jax.random.key(0))
    _write_run(tmp_path / "per_seat", per_seat, fresh)
    agent, _, seats = hle_check.load_agent(tmp_path / "per_seat", 0, 0)
    assert agent.step == 1
    for got, want in zip(
        jax.tree.leaves(seats.params), jax.tree.leaves(fresh.params), strict=True
    ):
        assert got.shape[0] == params.num_players
        np.testing.assert_array_equal(got, want)
