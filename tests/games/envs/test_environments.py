"""One conformance test that every registered environment passes (games.envs.contract).

Each environment is played with random legal moves, jitted and vmapped, and
checked for: shapes and dtypes of the contract; determinism under a key; legal
masks with a legal move for every deciding seat; episodes that end within
`max_steps`; symmetry tables that form inverse pairs with the identity first;
and every symmetry commuting with `observe` and `step` through `permute_state`
(the observation of the transformed state is the gathered observation, the
transformed actions give the same reward and end, and the transformed state's
successor is the successor's transform).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from games.envs.contract import ENVIRONMENTS, Environment, make_env

CASES = {
    "hanabi": [
        {"preset": "Hanabi-Very-Small", "num_players": 2},
        {"preset": "Hanabi-Full", "num_players": 3},
        {"preset": "Hanabi-Small", "num_players": 2, "observation": "v0_belief"},
    ],
    "overcooked": [
        {"layout": "cramped_room", "max_steps": 60},
        {"layout": "fun_symmetries", "max_steps": 60},
    ],
}
NEEDS = {"overcooked": "jaxmarl"}
NUM_GAMES = 8
MAX_SYMMETRIES = 6  # Hanabi-Full has 120; a sample of them is checked


def test_every_registered_environment_has_cases():
    assert set(CASES) == set(ENVIRONMENTS)


def _make(name: str, options: dict) -> Environment:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name} needs the optional extra")
    return make_env(name, **options)


def _random_actions(key: jax.Array, legal: jax.Array) -> jax.Array:
    """A uniformly drawn legal action per deciding seat, int32[D]."""
    return jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf)).astype(
        jnp.int32
    )


def _checked_play(env: Environment, symmetry_ids: tuple[int, ...]):
    """Plays one game for max_steps + 1 steps with random legal moves (a finished
    game stays put) and returns, per step, the quantities the test checks."""
    observation = jnp.asarray(env.symmetries.observation)
    actions_table = jnp.asarray(env.symmetries.actions)

    def play(key: jax.Array):
        reset_key, key = jax.random.split(key)
        state = env.reset(reset_key)

        def body(carry, step_key):
            state, live = carry
            move_key, env_key = jax.random.split(step_key)
            obs = env.observe(state)
            legal = env.legal_actions(state)
            actors = env.actors(state)
            actions = _random_actions(move_key, legal)
            chosen_legal = jnp.take_along_axis(legal, actions[:, None], 1)[:, 0]
            stepped, reward, done = env.step(env_key, state, actions)
            commutes = []
            for g in symmetry_ids:
                moved = env.permute_state(state, g)
                moved_next, moved_reward, moved_done = env.step(
                    env_key, moved, actions_table[g][actions]
                )
                commutes.append(
                    jnp.stack(
                        [
                            (env.observe(moved) == obs[:, observation[g]]).all(),
                            moved_reward == reward,
                            moved_done == done,
                            (
                                env.observe(moved_next)
                                == env.observe(stepped)[:, observation[g]]
                            ).all(),
                        ]
                    )
                )
            state = jax.tree.map(
                lambda new, old: jnp.where(live, new, old), stepped, state
            )
            record = {
                "obs": obs,
                "legal": legal,
                "actors": actors,
                "chosen_legal": chosen_legal,
                "reward": jnp.where(live, reward, 0.0),
                "reward_dtype_ok": jnp.asarray(reward.dtype == jnp.float32),
                "live": live,
                "commutes": jnp.stack(commutes) if commutes else jnp.ones((0, 4), bool),
            }
            return (state, live & ~done), record

        keys = jax.random.split(key, env.max_steps + 1)
        (_, live), records = jax.lax.scan(body, (state, jnp.asarray(True)), keys)
        return records, live

    return jax.jit(jax.vmap(play))


@pytest.mark.parametrize(
    ("name", "options"),
    [(name, options) for name, cases in CASES.items() for options in cases],
    ids=lambda value: (
        value if isinstance(value, str) else "-".join(map(str, value.values()))
    ),
)
def test_environment_conforms(name, options):
    env = _make(name, options)
    assert env.name == name
    check_conforms(env)


def check_conforms(env: Environment) -> None:
    """The contract's checks on `env`: symmetry tables, shapes and dtypes,
    determinism, legality, episode ends, and symmetries that commute with
    `observe` and `step` at every state random play visits."""
    syms = env.symmetries
    num_deciders = env.num_players if env.simultaneous else 1
    assert env.num_deciders == num_deciders

    # Symmetry tables: identity first, actions_inverse inverts actions, and the
    # observation gathers are permutations.
    assert syms.size == len(syms.names) >= 1
    assert syms.observation.shape == (syms.size, env.obs_size)
    assert (
        syms.actions.shape
        == syms.actions_inverse.shape
        == (
            syms.size,
            env.num_actions,
        )
    )
    np.testing.assert_array_equal(syms.observation[0], np.arange(env.obs_size))
    np.testing.assert_array_equal(syms.actions[0], np.arange(env.num_actions))
    for g in range(syms.size):
        np.testing.assert_array_equal(
            syms.actions_inverse[g][syms.actions[g]], np.arange(env.num_actions)
        )
        np.testing.assert_array_equal(
            np.sort(syms.observation[g]), np.arange(env.obs_size)
        )

    rng = np.random.default_rng(0)
    picked = sorted(
        rng.choice(syms.size, min(syms.size, MAX_SYMMETRIES), replace=False).tolist()
    )
    play = _checked_play(env, tuple(int(g) for g in picked))
    keys = jax.random.split(jax.random.key(1), NUM_GAMES)
    records, still_live = play(keys)
    again, _ = play(keys)

    # Determinism under a key: the same keys play the same games.
    for field in ("obs", "actors", "reward"):
        np.testing.assert_array_equal(records[field], again[field])
    # Shapes and dtypes of the contract.
    steps = env.max_steps + 1
    assert records["obs"].shape == (NUM_GAMES, steps, env.num_players, env.obs_size)
    assert records["obs"].dtype == env.obs_dtype
    assert records["legal"].shape == (NUM_GAMES, steps, num_deciders, env.num_actions)
    assert records["actors"].shape == (NUM_GAMES, steps, num_deciders)
    assert bool(records["reward_dtype_ok"].all())
    # Deciding seats are seats; every one of them has a legal move while the game
    # runs, and the random moves were legal.
    live = np.asarray(records["live"])
    actors = np.asarray(records["actors"])
    assert ((actors >= 0) & (actors < env.num_players)).all()
    if env.simultaneous:
        assert (actors == np.arange(env.num_players)).all()
    assert np.asarray(records["legal"]).any(-1)[live].all()
    assert np.asarray(records["chosen_legal"])[live].all()
    # Every episode ended within max_steps.
    assert not np.asarray(still_live).any()
    assert np.isfinite(np.asarray(records["reward"])).all()
    # Symmetries commute with observe and step, at every visited state.
    commutes = np.asarray(records["commutes"])  # [N, T, picked, 4]
    for k, check in enumerate(("observe", "reward", "end", "next observation")):
        assert commutes[..., k][live].all(), f"symmetry does not commute with {check}"


def test_overcooked_symmetric_layout_has_its_mirror():
    env = _make("overcooked", {"layout": "fun_symmetries"})
    assert env.symmetries.size == 2
    assert env.symmetries.names[1] == "flip rows ingredients 0->1,1->0"
    # The mirror exchanges up and down, keeps right, left, stay and interact.
    np.testing.assert_array_equal(env.symmetries.actions[1], [0, 3, 2, 1, 4, 5])
    assert _make("overcooked", {"layout": "cramped_room"}).symmetries.size == 1


def test_hanabi_environment_symmetries_are_the_color_permutations():
    from games.envs import hanabi

    env = make_env("hanabi", preset="Hanabi-Full", num_players=2)
    perms = hanabi.all_color_permutations(hanabi.make_params("Hanabi-Full", 2))
    assert env.symmetries.size == 120
    np.testing.assert_array_equal(env.symmetries.observation, perms.observation)
    np.testing.assert_array_equal(env.symmetries.actions, perms.actions)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("hanabi", {"layout": "x"}, "env.layout: hanabi has no such option"),
        ("hanabi", {"observation": "x"}, "env.observation='x': choose one of"),
        ("overcooked", {"layout": "nowhere"}, "env.layout='nowhere' is not"),
        ("overcooked", {"max_steps": 0}, "env.max_steps=0 must be >= 1"),
        ("overcooked", {"reward_shaping": -1.0}, "env.reward_shaping=-1.0 must be"),
        ("chess", {}, "unknown environment 'chess'"),
    ],
)
def test_environment_options_are_checked(name, options, message):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    with pytest.raises(Exception, match=message.replace("(", r"\(")) as error:
        make_env(name, **options)
    assert "\n" not in str(error.value)
