"""Legal actions in the exact engine (`DecPOMDP.legal`): the all-legal case as
before, masked games against a plain-Python tree walk, both engines, a game with
the illegal actions deleted, and the symmetries that masks keep or break."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from games.tabular.compile import count_histories
from marl.tabular import exact, exact_pg
from marl.tabular.converging import make_converging_trainer, train_until_converged
from marl.tabular.symmetry import preserves_game, symmetry_group
from tests import small_horizon
from tests.brute_force import values

BEFORE = Path(__file__).with_name("before_legal.json")
"""Every catalogue game's J_tau at fixed logits (the benchmarks at horizon 2),
computed by the engine before legal actions existed (commit 5a74215), as
float.hex strings; for three games also the scaled gradient and one NPG step."""
TAU = 0.1


def fixed_logits(game: games.TabularGame):
    keys = jax.random.split(jax.random.key(7), game.num_agents)
    return tuple(
        jax.random.normal(k, s) for k, s in zip(keys, game.policy_shapes, strict=True)
    )


def all_legal(spec):
    return dataclasses.replace(
        spec, legal=tuple(np.ones((spec.num_states, a), bool) for a in spec.num_actions)
    )


def measured(game: games.TabularGame, *, full: bool) -> dict:
    logits = fixed_logits(game)
    config = exact_pg.ExactPGConfig(optimizer="npg")
    tau = jnp.float32(TAU)
    value = exact.regularized_objective(
        game, exact.softmax_policy(logits, game.legal), tau
    )
    out = {"value": np.float32(value)}
    if full:
        objective = exact_pg.make_objective(game, config)
        move = exact_pg.npg_direction(
            game,
            objective,
            config.entropy_weighting,
            learning_rate=config.learning_rate,
            greed=config.npg_greed,
        )
        gradient = exact_pg.gradient_direction(game, objective)
        for name, parts in (
            ("grad", gradient(logits, tau)[0]),
            ("npg", exact_pg.npg_map(game, move, logits, tau)),
        ):
            out[name] = np.concatenate([np.asarray(p).ravel() for p in parts])
    return out


def test_every_catalogue_game_is_as_before_and_an_all_legal_mask_changes_nothing():
    # Games without masks run the code they ran before legal actions existed;
    # an explicit all-legal mask compiles to the same arrays.
    before = json.loads(BEFORE.read_text())
    with_masks = set(games.hanabi_tabular.MICRO)  # compiled with legal moves
    assert sorted(before) == sorted(set(games.CATALOGUE) - with_masks)
    for name in sorted(before):
        spec = games.make_spec(name, small_horizon(name))
        game = games.compile_game(spec)
        assert game.legal is None
        full = "grad" in before[name]
        now = measured(game, full=full)
        assert sorted(now) == sorted(before[name])
        for key, stored in before[name].items():
            expected = np.array([float.fromhex(x) for x in np.atleast_1d(stored)])
            found = np.atleast_1d(now[key])
            # The same XLA program as before, compiled for this CPU: its sums
            # vectorize to the CPU's width, so the rounding moves with it (9 ulps
            # measured on a Zen 3 EPYC without AVX-512 against values stored on
            # an AVX-512 one; issue 42). A changed program moves them by far more.
            np.testing.assert_array_max_ulp(
                found.astype(np.float32), expected.astype(np.float32), maxulp=32
            )
        if isinstance(spec, games.MatrixGame):
            spec = spec.to_decpomdp()
        masked = games.compile_game(all_legal(spec))
        assert masked.infostate_keys == game.infostate_keys
        assert all(bool(m.all()) for m in masked.legal)
        leaves = jax.tree.leaves(dataclasses.replace(masked, legal=None))
        for a, b in zip(leaves, jax.tree.leaves(game), strict=True):
            np.testing.assert_array_equal(a, b)
        if full:  # the masked code path (means over the legal actions): round-off
            for key, value in measured(masked, full=True).items():
                np.testing.assert_allclose(value, now[key], rtol=1e-6, atol=1e-6)


# A card game in the style of Tiny Hanabi, symmetric under swapping the cards
# with the two hints and the two guesses. Player 0 sees its card c0 and may
# hint 0, hint 1 or play; it may not hint its own card. Player 1 sees its card
# and player 0's move, and guesses 0, 1 or passes.
HINTS = ((False, True, True), (True, False, True))


def card_payoff() -> np.ndarray:
    rng = np.random.default_rng(3)
    table = rng.normal(size=(2, 2, 3, 3))
    swap_cards, swap_moves = [1, 0], [1, 0, 2]
    mirrored = table[swap_cards][:, swap_cards][:, :, swap_moves][:, :, :, swap_moves]
    return (table + mirrored) / 2


def masked_card_game(
    hints: tuple = HINTS, guesses: np.ndarray | None = None
) -> games.DecPOMDP:
    spec = games.card_game("masked_cards", card_payoff())
    legal0 = np.ones((spec.num_states, 3), bool)
    legal1 = np.ones((spec.num_states, 3), bool)
    for s, name in enumerate(spec.state_names):
        c0 = int(name.split(",")[0][1:])
        legal0[s] = hints[c0]
        if guesses is not None:
            c1 = int(name.split(",")[1][1:])
            legal1[s] = guesses[c1]
    return dataclasses.replace(spec, legal=(legal0, legal1))


def test_a_masked_game_matches_a_tree_walk_and_both_engines_agree():
    spec = masked_card_game()
    recursion = games.compile_game(spec, engine="recursion")
    enumeration = games.compile_game(spec, engine="enumeration")
    assert enumeration.num_histories == count_histories(spec) == 4 * 2 * 3
    for game in (recursion, enumeration):  # player 0's first view is its card
        rows = np.asarray(game.legal[0])
        for key, row in zip(game.infostate_keys[0], rows, strict=True):
            np.testing.assert_array_equal(row, HINTS[key[0][1]])
        assert np.asarray(game.legal[1]).all()
    logits = fixed_logits(recursion)
    policy = exact.softmax_policy(logits, recursion.legal)
    assert float(policy[0][0, 0]) == 0.0 and float(policy[0][1, 1]) == 0.0
    rows = {
        i: dict(zip(recursion.infostate_keys[i], np.asarray(policy[i]), strict=True))
        for i in range(2)
    }
    ret, entropy, _ = values(spec, lambda i, seen: rows[i][seen])
    for game in (recursion, enumeration):
        np.testing.assert_allclose(
            exact.expected_return(game, policy), ret, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            exact.expected_entropy(game, policy), entropy, rtol=1e-5, atol=1e-6
        )

    def objective(game):
        return lambda x: exact.regularized_objective(
            game, exact.softmax_policy(x, game.legal), 0.3
        )

    grad_r = jax.grad(objective(recursion))(logits)
    grad_e = jax.grad(objective(enumeration))(logits)
    theorem = exact.softmax_policy_gradient(enumeration, logits)
    grad_0 = jax.grad(
        lambda x: exact.expected_return(
            enumeration, exact.softmax_policy(x, enumeration.legal)
        )
    )(logits)
    grads = (grad_r, grad_e, theorem, grad_0, recursion.legal)
    for r, e, t, g, m in zip(*grads, strict=True):
        np.testing.assert_allclose(r, e, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t, g, rtol=1e-5, atol=1e-6)
        assert not np.asarray(r)[~np.asarray(m)].any()


def test_illegal_actions_keep_zero_logits_and_converged_points_are_found():
    game = games.compile_game(masked_card_game())
    config = exact_pg.ExactPGConfig(
        optimizer="npg", steps=200, window=100, max_steps=2000
    )
    learner = make_converging_trainer(game, config, label="masked")
    states, convergence = train_until_converged(
        game, learner, jax.random.split(jax.random.key(0), 4), np.array([0.5, 2.0])
    )
    assert convergence.converged.all()
    for x, m in zip(states.logits, game.legal, strict=True):
        assert not np.asarray(x)[..., ~np.asarray(m)].any()
    uniform = exact.softmax_policy(
        exact_pg.init_logits(game, key=jax.random.key(1), scale=0.0), game.legal
    )
    np.testing.assert_allclose(np.asarray(uniform[0])[np.asarray(game.legal[0])], 0.5)


def test_a_constant_mask_is_the_game_without_those_actions():
    payoff = np.random.default_rng(5).normal(size=(3, 4))
    full = games.matrix_game("three", payoff).to_decpomdp()
    legal = (np.array([[True, False, True]]), np.ones((1, 4), bool))
    masked = games.compile_game(dataclasses.replace(full, legal=legal))
    small = games.compile_game(games.matrix_game("two", payoff[[0, 2]]))
    config = exact_pg.ExactPGConfig(optimizer="npg", steps=400)
    taus = jnp.array([0.05, 2.0])
    keys = jax.random.split(jax.random.key(2), 3)
    a = exact_pg.train(masked, config, keys=keys, taus=taus)
    b = exact_pg.train(small, config, keys=keys, taus=taus)
    pa = [np.asarray(p) for p in exact.softmax_policy(a.logits, masked.legal)]
    pb = [np.asarray(p) for p in exact.softmax_policy(b.logits)]
    assert not pa[0][..., 1].any()
    # The seeds start apart (other shapes); at tau = 2 the fixed point is unique
    # (above the uniqueness bound), so every seed meets every seed of the other.
    np.testing.assert_allclose(pa[0][1, :, 0][:, [0, 2]], pb[0][1, :, 0], atol=1e-4)
    np.testing.assert_allclose(pa[1][1, :, 0], pb[1][1, :, 0], atol=1e-4)
    for seed in range(3):  # any policy is worth the same in both games
        x = (jnp.asarray(pa[0][0, seed]), jnp.asarray(pa[1][0, seed]))
        np.testing.assert_allclose(
            exact.regularized_objective(masked, x, 0.05),
            exact.regularized_objective(small, (x[0][:, [0, 2]], x[1]), 0.05),
            rtol=1e-6,
        )


def test_symmetries_keep_legal_actions_legal():
    symmetric = masked_card_game()
    group = symmetry_group(symmetric)
    assert group.order == 2
    assert all(preserves_game(symmetric, g) for g in group.generators)
    swap = group.generators[0]
    lopsided = masked_card_game(hints=((False, True, True), (True, True, True)))
    assert symmetry_group(lopsided).order == 1
    assert not preserves_game(lopsided, swap)


def test_legal_actions_an_agent_cannot_see_are_refused():
    # Player 0 may hint only player 1's card, which it does not see.
    spec = games.card_game("blind", card_payoff())
    legal0 = np.ones((spec.num_states, 3), bool)
    for s, name in enumerate(spec.state_names):
        c1 = int(name.split(",")[1][1:])
        legal0[s, 1 - c1] = False
    blind = dataclasses.replace(spec, legal=(legal0, np.ones_like(legal0)))
    with pytest.raises(games.CompileError, match="cannot tell its legal actions"):
        games.compile_game(blind)
    with pytest.raises(games.GameSpecError, match="state 0 allows no action"):
        dataclasses.replace(spec, legal=(np.zeros_like(legal0), legal0))
