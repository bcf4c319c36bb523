"""Agents trained elsewhere (experiments/deep/external.py): a JaxMARL recurrent
actor saved as safetensors loads in one line and acts as a NumPy forward pass of
its layers says; bad files are refused in one line; seats observing through
different encodings play one game, each fed its own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

from experiments.deep.agents import CrossPlayError
from experiments.deep.players import bot, load, play_game
from games.envs.contract import make_env
from games.envs.hanabi.bots import bot as bot_policy
from games.envs.hanabi.encoding import canonical
from games.envs.hanabi.params import make_params

WIDTH = 8
GATES = ("ir", "iz", "in", "hr", "hz", "hn")


def jaxmarl_tensors(obs_size=658, actions=21, width=WIDTH, seed=0):
    """Random tensors under the names JaxMARL's recurrent actor saves."""
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.normal(0, 0.3, shape).astype(np.float32)

    tensors = {}
    for layer, shape in (
        ("Dense_0", (obs_size, width)),
        ("Dense_1", (width, width)),
        ("Dense_2", (width, actions)),
    ):
        tensors[f"params,{layer},kernel"] = normal(*shape)
        tensors[f"params,{layer},bias"] = normal(shape[1])
    for gate in GATES:
        cell = f"params,ScannedRNN_0,GRUCell_1,{gate}"
        tensors[f"{cell},kernel"] = normal(width, width)
        if gate not in ("hr", "hz"):
            tensors[f"{cell},bias"] = normal(width)
    return tensors


def numpy_actor(tensors, observations, legal):
    """The actor's policies over a sequence of observations, written out: Dense,
    ReLU, flax's GRU cell, Dense, ReLU, Dense, the no-op dropped, masked."""

    def t(name):
        return tensors[f"params,{name}"].astype(np.float64)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    cell = "ScannedRNN_0,GRUCell_1"
    h = np.zeros(WIDTH)
    out = []
    for obs in observations:
        x = np.maximum(obs @ t("Dense_0,kernel") + t("Dense_0,bias"), 0)
        gate = {g: x @ t(f"{cell},i{g},kernel") + t(f"{cell},i{g},bias") for g in "rzn"}
        r = sigmoid(gate["r"] + h @ t(f"{cell},hr,kernel"))
        z = sigmoid(gate["z"] + h @ t(f"{cell},hz,kernel"))
        hn = h @ t(f"{cell},hn,kernel") + t(f"{cell},hn,bias")
        n = np.tanh(gate["n"] + r * hn)
        h = (1 - z) * n + z * h
        y = np.maximum(h @ t("Dense_1,kernel") + t("Dense_1,bias"), 0)
        logits = (y @ t("Dense_2,kernel") + t("Dense_2,bias"))[:-1]
        logits = np.where(legal, logits, -np.inf)
        p = np.exp(logits - logits.max())
        out.append(p / p.sum())
    return np.stack(out)


def test_a_jaxmarl_actor_loads_in_one_line_and_acts_as_its_layers_say(tmp_path):
    tensors = jaxmarl_tensors()
    path = tmp_path / "run" / "model.safetensors"
    path.parent.mkdir()
    save_file(tensors, str(path))
    (agent,) = load(path)
    assert agent.env.title == "Hanabi-Full, v0_belief observation"
    assert agent.memory == WIDTH and agent.name == "jaxmarl run"
    env = agent.env
    state = env.reset(jax.random.key(1))
    observations, legals = [], []
    for k in range(6):
        observations.append(np.asarray(env.observe(state)[0], np.float64))
        legals.append(np.asarray(env.legal_actions(state)[0]))
        action = jnp.flatnonzero(env.legal_actions(state)[0], size=1)[0] + k % 2
        state, _, _ = env.step(jax.random.key(k), state, action[None])
    expected = numpy_actor(tensors, observations, legals[0])
    memory = agent.initial_state()
    for k, obs in enumerate(observations):
        move = agent.act(obs, legals[0], state=memory, greedy=True, first=k == 0)
        memory = move.state
        np.testing.assert_allclose(np.asarray(move.probs), expected[k], atol=2e-5)
        assert float(move.value) == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop("params,Dense_1,bias"), "no params,Dense_1,bias"),
        (
            lambda t: t.update({"params,Dense_1,kernel": np.zeros((8, 4), np.float32)}),
            "Dense_1's kernel is \\(8, 4\\), not \\(8, 8\\)",
        ),
    ],
)
def test_a_file_of_another_shape_is_refused_in_one_line(tmp_path, change, message):
    tensors = jaxmarl_tensors()
    change(tensors)
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(CrossPlayError, match=message) as error:
        load(path)
    assert "\n" not in str(error.value)


def test_another_game_and_a_corrupt_file_are_refused_in_one_line(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(jaxmarl_tensors(obs_size=100, actions=7), str(path))
    with pytest.raises(CrossPlayError, match="observes 100 floats and has 7 actions"):
        load(path)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CrossPlayError, match="not a readable safetensors file"):
        load(path)
    with pytest.raises(CrossPlayError, match="is one agent"):
        load(path, seed=0)


def test_seats_of_two_encodings_play_one_game_each_fed_its_own(tmp_path):
    """A v0_belief agent and a canonical bot share a game: the bot's policy at
    each of its moves is its rules on the canonical observation of that state."""
    path = tmp_path / "model.safetensors"
    save_file(jaxmarl_tensors(), str(path))
    (agent,) = load(path)
    canonical_env = make_env("hanabi")
    iggi = bot(canonical_env, "iggi")
    params = make_params("Hanabi-Full", 2)
    rules = jax.jit(bot_policy("iggi", params))
    game = play_game([agent, iggi], key=jax.random.key(3), env=canonical_env)
    moves = [k for k, seats in enumerate(game.actors) if seats == (1,)]
    assert moves
    for k in moves:
        state = jax.tree.map(jnp.asarray, game.states[k])
        logits = rules(canonical(state, params)[1])
        np.testing.assert_allclose(game.probs[k][0], jax.nn.softmax(logits), atol=1e-6)
    small = make_env("hanabi", preset="Hanabi-Small")
    with pytest.raises(CrossPlayError, match="plays Hanabi-Full, not Hanabi-Small"):
        play_game([agent, bot(small, "iggi")], key=jax.random.key(0), env=small)
