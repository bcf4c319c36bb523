"""The trie of information-state keys against the keys themselves: every key
walked symbol by symbol ends at its own information state, a batch walked at
once agrees with each walked alone, and a history off the game's is -1."""

from __future__ import annotations

import numpy as np
import pytest

from games import compile_game, hanabi_tabular, make_spec
from games.tabular.infostates import InfostateIndex


def indexes(spec, game):
    return [
        InfostateIndex.of(keys, spec.num_observations[i], game.num_actions[i])
        for i, keys in enumerate(game.infostate_keys)
    ]


def symbols(index: InfostateIndex, key: tuple) -> list[int]:
    return [v if kind == "o" else index.num_observations + v for kind, v in key]


@pytest.mark.parametrize("name,horizon", [("dectiger", 3), ("hanabi_micro", 4)])
def test_every_key_walked_in_a_batch_ends_at_its_information_state(name, horizon):
    spec = (
        hanabi_tabular.micro(name, horizon).spec
        if name in hanabi_tabular.MICRO
        else make_spec(name, horizon)
    )
    game = compile_game(spec)
    for index, keys in zip(indexes(spec, game), game.infostate_keys, strict=True):
        assert len(keys) > 10
        longest = max(len(key) for key in keys)
        # All keys at once, padded: a key that has ended stops growing.
        nodes = index.start(len(keys))
        for t in range(longest):
            grow = np.array([t < len(key) for key in keys])
            step = np.array(
                [symbols(index, key)[t] if t < len(key) else 0 for key in keys]
            )
            nodes = index.extend(nodes, step, grow)
        np.testing.assert_array_equal(index.infostate(nodes), np.arange(len(keys)))
        # The prefixes: an information state only where the prefix is a key.
        where = {key: k for k, key in enumerate(keys)}
        for key in keys[:: max(1, len(keys) // 25)]:
            node = index.start(1)
            for t, (kind, value) in enumerate(key):
                node = (
                    index.observe(node, [value])
                    if kind == "o"
                    else index.act(node, [value])
                )
                assert int(index.infostate(node)[0]) == where.get(key[: t + 1], -1)


def test_a_history_off_the_game_is_minus_one_from_then_on():
    spec = make_spec("dectiger", 2)
    game = compile_game(spec)
    index = indexes(spec, game)[0]
    key = next(k for k in game.infostate_keys[0] if len(k) >= 2 and k[1][0] == "o")
    nodes = index.act(index.start(3), [key[0][1]] * 3)
    nodes = index.observe(nodes, [key[1][1], -1, spec.num_observations[0]])
    assert list(nodes[1:]) == [-1, -1] and nodes[0] > 0
    assert index.infostate(nodes)[0] == game.infostate_keys[0].index(key[:2])
    # An action the game's histories never take there: off, and stays off.
    stray = index.extend(nodes, np.full(3, index.num_symbols + 5))
    assert list(stray) == [-1, -1, -1]
    assert list(index.act(stray, [0, 0, 0])) == [-1, -1, -1]
    assert list(index.infostate(stray)) == [-1, -1, -1]


def test_a_matrix_game_has_one_information_state_after_its_one_observation():
    game = compile_game(make_spec("coordination_2"))
    index = InfostateIndex.of(game.infostate_keys[1], 1, game.num_actions[1])
    nodes = index.start(2)
    assert list(index.infostate(nodes)) == [-1, -1]
    nodes = index.observe(nodes, [0, 1])
    assert list(index.infostate(nodes)) == [0, -1]
    assert list(index.act(nodes, [0, 1])) == [-1, -1]
    # Keys with no symbol at all: the empty history is the one state.
    bare = InfostateIndex.of(((),), 1, 2)
    assert list(bare.infostate(bare.start(2))) == [0, 0]
    assert list(bare.act(bare.start(2), [0, 1])) == [-1, -1]
