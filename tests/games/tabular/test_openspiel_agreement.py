"""Golden tests: Tiny Hanabi A-F and the BAD game against OpenSpiel's `tiny_hanabi`.

OpenSpiel (Lanctot et al. 2019) implements the same two-player card game: chance
deals player 0's card, then player 1's; player 0 acts seeing "p0:d{c0}"; player 1
acts seeing "p1:d{c1} p0:a{a0}"; the payoff string is payoff[c0][c1][a0][a1]
flattened row-major. We map each of our information states to OpenSpiel's
info-state string and check that `marl.tabular.exact.expected_return` agrees with
OpenSpiel's exact tree walk `expected_game_score.policy_value`.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from games.tabular.catalogue import TINY_HANABI_OPTIMA, TINY_HANABI_PAYOFFS
from marl.tabular.exact import expected_return

pyspiel = pytest.importorskip("pyspiel")
expected_game_score = pytest.importorskip(
    "open_spiel.python.algorithms.expected_game_score"
)
openspiel_policy = pytest.importorskip("open_spiel.python.policy")

ATOL = 1e-5
VARIANTS = tuple(TINY_HANABI_PAYOFFS)
# Our game name -> the Tiny Hanabi table it uses (BAD is Tiny Hanabi E).
GAMES = {f"tiny_hanabi_{v}": v for v in VARIANTS} | {"bad": "e"}


def _load_openspiel(variant: str):
    """OpenSpiel's `tiny_hanabi` with the payoff table of `variant`."""
    table = np.asarray(TINY_HANABI_PAYOFFS[variant], dtype=np.float64)
    num_cards0, num_cards1, num_actions0, num_actions1 = table.shape
    # OpenSpiel deals both players from the same number of cards and gives both the
    # same number of actions; every Tiny Hanabi table satisfies this.
    assert num_cards0 == num_cards1 and num_actions0 == num_actions1
    return pyspiel.load_game(
        "tiny_hanabi",
        {
            "num_players": 2,
            "num_chance": num_cards0,
            "num_actions": num_actions0,
            "payoff": ";".join(f"{x:g}" for x in table.ravel()),
        },
    )


def _openspiel_keys(name: str) -> tuple[tuple[str, ...], ...]:
    """Per agent, OpenSpiel's info-state string for each of our information states,
    in the order of `game.infostate_labels[i]`.

    Parsed from our labels with the names of the spec (`games.tabular.spec.card_game`):
    player 0's label is its card; player 1's is "<card> <card>&<action of player 0>"
    (its observation at step 0, then at step 1).
    """
    spec = games.make_spec(name)
    game = games.make(name)
    cards0 = spec.observation_names[0]
    actions0 = spec.action_names[0]
    num_cards1 = len(spec.observation_names[1]) // (1 + len(actions0))
    cards1 = spec.observation_names[1][:num_cards1]

    keys0 = tuple(f"p0:d{cards0.index(label)}" for label in game.infostate_labels[0])
    keys1 = []
    for label in game.infostate_labels[1]:
        card, second = label.split(" ")
        seen_card, action = second.split("&")
        assert seen_card == card, label
        keys1.append(f"p1:d{cards1.index(card)} p0:a{actions0.index(action)}")
    return keys0, tuple(keys1)


def _to_openspiel_policy(os_game, keys, policy):
    """One OpenSpiel TabularPolicy (both players) holding our joint policy."""
    tabular = openspiel_policy.TabularPolicy(os_game)
    assert set(tabular.state_lookup) == {k for agent in keys for k in agent}
    for agent_keys, pi in zip(keys, policy, strict=True):
        for key, row in zip(agent_keys, np.asarray(pi), strict=True):
            tabular.action_probability_array[tabular.state_lookup[key]] = row
    return tabular


def _openspiel_value(os_game, keys, policy) -> float:
    tabular = _to_openspiel_policy(os_game, keys, policy)
    values = expected_game_score.policy_value(
        os_game.new_initial_state(), [tabular, tabular]
    )
    return float(values[0])


def _random_policies(game, seed: int) -> list[tuple[np.ndarray, ...]]:
    """Fixed joint policies: Dirichlet draws, sharp softmaxes, one deterministic
    and the uniform one; float64 rows summing to one."""
    rng = np.random.default_rng(seed)
    shapes = game.policy_shapes
    policies = [
        tuple(rng.dirichlet(np.ones(a), size=k) for k, a in shapes) for _ in range(4)
    ]
    policies += [
        tuple(rng.dirichlet(np.full(a, 0.1), size=k) for k, a in shapes)
        for _ in range(2)
    ]
    for temperature in (0.05, 0.01):
        logits = [rng.normal(size=shape) / temperature for shape in shapes]
        policies.append(tuple(np.asarray(jax.nn.softmax(x, axis=-1)) for x in logits))
    policies.append(tuple(np.eye(a)[rng.integers(a, size=k)] for k, a in shapes))
    policies.append(tuple(np.full((k, a), 1.0 / a) for k, a in shapes))
    return policies


@pytest.mark.parametrize("name", sorted(GAMES))
def test_infostate_mapping_is_a_bijection_onto_openspiel(name):
    keys = _openspiel_keys(name)
    os_game = _load_openspiel(GAMES[name])
    lookup = openspiel_policy.TabularPolicy(os_game).state_lookup
    ours = [k for agent in keys for k in agent]
    assert len(ours) == len(set(ours))
    assert set(ours) == set(lookup)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(GAMES))
def test_expected_return_matches_openspiel_policy_value(name, seed):
    game = games.make(name)
    os_game = _load_openspiel(GAMES[name])
    keys = _openspiel_keys(name)
    for k, policy in enumerate(_random_policies(game, seed=seed)):
        ours = float(expected_return(game, tuple(jnp.asarray(p) for p in policy)))
        theirs = _openspiel_value(os_game, keys, policy)
        assert ours == pytest.approx(theirs, abs=ATOL), f"policy {k}"


def test_bad_game_is_openspiel_default_tiny_hanabi():
    game = games.make("bad")
    os_game = pyspiel.load_game("tiny_hanabi")
    keys = _openspiel_keys("bad")
    for k, policy in enumerate(_random_policies(game, seed=11)):
        ours = float(expected_return(game, tuple(jnp.asarray(p) for p in policy)))
        theirs = _openspiel_value(os_game, keys, policy)
        assert ours == pytest.approx(theirs, abs=ATOL), f"policy {k}"


def _deterministic_policies(num_infostates: int, num_actions: int) -> np.ndarray:
    """Every deterministic policy of one agent as one-hot rows, float[N, K, A]."""
    choices = np.array(
        list(itertools.product(range(num_actions), repeat=num_infostates))
    ).reshape(-1, num_infostates)
    return np.eye(num_actions)[choices]


def _best_deterministic(game) -> tuple[float, tuple[np.ndarray, ...]]:
    """Brute force over all deterministic joint policies of a two-agent game."""
    (k0, a0), (k1, a1) = game.policy_shapes
    pi0, pi1 = _deterministic_policies(k0, a0), _deterministic_policies(k1, a1)
    joint0 = np.repeat(pi0, len(pi1), axis=0)
    joint1 = np.tile(pi1, (len(pi0), 1, 1))
    values = jax.jit(jax.vmap(lambda p, q: expected_return(game, (p, q))))(
        jnp.asarray(joint0), jnp.asarray(joint1)
    )
    best = int(jnp.argmax(values))
    return float(values[best]), (joint0[best], joint1[best])


@pytest.mark.parametrize("name", sorted(GAMES))
def test_deterministic_optimum_matches_catalogue_and_openspiel(name):
    game = games.make(name)
    optimum, policy = _best_deterministic(game)
    assert optimum == pytest.approx(TINY_HANABI_OPTIMA[GAMES[name]], abs=ATOL)
    os_value = _openspiel_value(
        _load_openspiel(GAMES[name]), _openspiel_keys(name), policy
    )
    assert os_value == pytest.approx(optimum, abs=ATOL)
