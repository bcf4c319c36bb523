"""User game files: valid files load; every malformed file is refused in one line
naming the file, the field and the problem."""

from __future__ import annotations

import os
import re
import textwrap

import numpy as np
import pytest
import yaml

import games
from marl.tabular.exact import expected_return
from tests import ROOT

LEWIS_YAML = """
name: my_lewis
description: Lewis signalling written by hand.
horizon: 2
states: [cat, dog, cat_m0, cat_m1, dog_m0, dog_m1]
initial: [0.5, 0.5, 0, 0, 0, 0]
acting: [[true, false], [false, true]]
agents:
  - name: sender
    actions: [m0, m1]
    observations: [sees_cat, sees_dog, done]
    observation: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
  - name: receiver
    actions: [guess_cat, guess_dog]
    observations: [waiting, m0, m1]
    observation: [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]
transition:
  # [state][sender action][receiver action][next state]
  - [[[0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0]], [[0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]]]
  - [[[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]], [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]]]
  - [[[0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0]], [[0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0]]]
  - [[[0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]], [[0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]]]
  - [[[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]], [[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]]]
  - [[[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]], [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]]]
reward:
  # [state][sender action][receiver action]; the sender does not act at step 2.
  - [[0, 0], [0, 0]]
  - [[0, 0], [0, 0]]
  - [[1, 0], [0, 0]]
  - [[1, 0], [0, 0]]
  - [[0, 1], [0, 0]]
  - [[0, 1], [0, 0]]
"""


def write(tmp_path, text: str):
    path = tmp_path / "game.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_matrix_file_loads_with_names(tmp_path):
    path = write(
        tmp_path,
        "name: chicken\npayoff: [[0, -1], [1, -10]]\n"
        "action_names: [[swerve, straight], [swerve, straight]]\n",
    )
    spec = games.load_game_file(path)
    assert isinstance(spec, games.MatrixGame)
    assert spec.action_names[1] == ("swerve", "straight")
    np.testing.assert_array_equal(spec.payoff, [[0, -1], [1, -10]])


def test_three_player_matrix_file_loads(tmp_path):
    payoff = np.zeros((2, 2, 2))
    payoff[0, 0, 0] = payoff[1, 1, 1] = 1
    spec = games.load_game_file(
        write(tmp_path, f"name: c3\npayoff: {payoff.tolist()}\n")
    )
    assert spec.num_agents == 3


def test_decpomdp_file_is_the_catalogue_lewis_game(tmp_path):
    """The hand-written file and the catalogue's Lewis game score every
    deterministic policy alike (their information states correspond one to one)."""
    ours = games.compile_game(games.load_game_file(write(tmp_path, LEWIS_YAML)))
    theirs = games.make("lewis_signalling")
    assert ours.num_infostates == theirs.num_infostates == (2, 2)
    for code in range(16):
        bits = [(code >> k) & 1 for k in range(4)]
        policy = (np.eye(2)[bits[:2]], np.eye(2)[bits[2:]])
        assert float(expected_return(ours, policy)) == float(
            expected_return(theirs, policy)
        )


BAD_MATRIX = [
    ("name: x\npayoff: [[1, 0], [0]]\n", "payoff: is ragged"),
    ("name: x\npayoff: [[1, a], [0, 1]]\n", "payoff: must be a nested list of numbers"),
    ("name: x\npayoff: []\n", "payoff: contains an empty list"),
    ("name: x\npayoff: [[1, .inf], [0, 1]]\n", "payoff: contains a non-finite number"),
    ("payoff: [[1, 0], [0, 1]]\n", "name: is missing"),
    ("name: x\n", "(top level): needs 'payoff' (a matrix game) or horizon"),
    ("name: x\nhorizon: 1\n", "agents: is missing"),
    ("name: x\npayoff: [[1]]\nrewards: 3\n", "unknown key 'rewards' (allowed: "),
    # A misspelt 'payoff' reads as a Dec-POMDP key: the hint names 'payoff'.
    ("name: x\npayof: [[1, 0], [0, 1]]\n", "did you mean 'payoff'? a Dec-POMDP"),
    (
        "name: x\npayoff: [[1, 0]]\naction_names: [[a, b]]\n",
        "action_names: expected one list per player",
    ),
    (
        "name: x\npayoff: [[1, 0], [0, 1]]\naction_names: [[a, a], [b, c]]\n",
        "action_names[0]: names must be distinct",
    ),
    ("- 1\n- 2\n", "(top level): must be a mapping"),
    ("name: x\npayoff: [[1, 0]\n", "not valid YAML at line"),
    ("name: x\npayoff: [[1e39, 0], [0, 1]]\n", "payoff: holds 1e+39, beyond"),
    (
        "name: x\npayoff: [[1, 0], [0, 1]]\npayoff: [[2]]\n",
        "key 'payoff' at line 3 repeats the one at line 2",
    ),
]


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    """YAML 1.2 reads 1e3 as a number; PyYAML's YAML 1.1 rules would not."""
    path = write(tmp_path, "name: x\npayoff: [[1e3, -2E-1], [+3e+0, 0]]\n")
    spec = games.load_game_file(path)
    np.testing.assert_array_equal(spec.payoff, [[1000.0, -0.2], [3.0, 0.0]])


@pytest.mark.parametrize("text, message", BAD_MATRIX)
def test_malformed_matrix_file_is_refused_in_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(games.GameFileError) as info:
        games.load_game_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def lewis_with(old: str, new: str) -> str:
    assert old in LEWIS_YAML
    return LEWIS_YAML.replace(old, new, 1)


BAD_DECPOMDP = [
    (
        lewis_with(
            "initial: [0.5, 0.5, 0, 0, 0, 0]", "initial: [0.5, 0.4, 0, 0, 0, 0]"
        ),
        "initial: probabilities sum to 0.9, not 1",
    ),
    (
        lewis_with(
            "initial: [0.5, 0.5, 0, 0, 0, 0]", "initial: [1.5, -0.5, 0, 0, 0, 0]"
        ),
        "initial: entry [1] is negative",
    ),
    (
        lewis_with("initial: [0.5, 0.5, 0, 0, 0, 0]", "initial: [0.5, 0.5, 0, 0, 0]"),
        "states: has 6 names, expected 5",
    ),
    (
        lewis_with(
            "[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]]",
            "[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]",
        ),
        "agents[0].observation: has shape [5, 3], expected [6, 3]",
    ),
    (
        lewis_with(
            "[[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]",
            "[[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0.5]]",
        ),
        "agents[1].observation: probabilities at [5] sum to 0.5, not 1",
    ),
    (
        lewis_with(
            "  - [[0, 0], [0, 0]]\n  - [[0, 0], [0, 0]]\n", "  - [[0, 0], [0, 0]]\n"
        ),
        "reward: has shape [5, 2, 2], expected [6, 2, 2]",
    ),
    (
        lewis_with(
            "[[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]]]\nreward",
            "[[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1]]]\nreward",
        ),
        "transition: probabilities at [5, 1, 1] sum to 2, not 1",
    ),
    (lewis_with("horizon: 2", "horizon: 0"), "horizon: must be a positive integer"),
    (lewis_with("horizon: 2", "horizon: -1"), "horizon: must be a positive integer"),
    (lewis_with("horizon: 2", "horizon: two"), "horizon: must be a positive integer"),
    (
        lewis_with("acting: [[true, false], [false, true]]", "acting: [[true, false]]"),
        "acting: has shape [1, 2], expected [2, 2]",
    ),
    (
        lewis_with(
            "acting: [[true, false], [false, true]]", "acting: [[1, 0], [0, 1]]"
        ),
        "acting: must be a nested list of true/false",
    ),
    (
        lewis_with("  - name: receiver\n", "  - name: receiver\n    colour: red\n"),
        "agents[1]: unknown key 'colour'",
    ),
    (
        lewis_with("    actions: [guess_cat, guess_dog]\n", ""),
        "agents[1].actions: is missing",
    ),
    (lewis_with("name: my_lewis\n", ""), "name: is missing"),
    (lewis_with("agents:\n", "agent:\n"), "unknown key 'agent'"),
]


@pytest.mark.parametrize("text, message", BAD_DECPOMDP)
def test_malformed_decpomdp_file_is_refused_in_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(games.GameFileError) as info:
        games.load_game_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(games.GameFileError, match="cannot read the file"):
        games.load_game_file(tmp_path / "nope.yaml")


def alias_bomb(doublings: int) -> str:
    """A matrix game of `doublings` players, 2 ** doublings entries, written in
    a few hundred bytes: each anchor is a list of the one before and its alias."""
    payoff = "&a0 [1, 2]"
    for k in range(1, doublings):
        payoff = f"&a{k} [{payoff}, *a{k - 1}]"
    return f"name: bomb\npayoff: {payoff}\n"


def test_sizes_are_refused_before_memory_is_spent(tmp_path, monkeypatch):
    """Aliases expanding to 16 million entries, lists nested 3,000 deep and 17
    players are refused in one line each (none is built: the bomb would take
    minutes and the nesting a RecursionError); the limits themselves are exact."""
    cases = {
        "bomb.yaml": (alias_bomb(24), "over 4,000,000 numbers and names"),
        "deep.yaml": ("payoff: " + "[" * 3000 + "1" + "]" * 3000, "over 32 deep"),
        "players.yaml": (
            "name: p\npayoff: " + "[" * 17 + "1" + "]" * 17,
            "payoff: has 17 players, over the limit of 16",
        ),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text + "\n")
        with pytest.raises(games.GameFileError) as info:
            games.load_game_file(tmp_path / name)
        assert message in str(info.value) and "\n" not in str(info.value)

    # The limit is exact: the count is that of the document built with every
    # alias expanded (keys and values, counted here from the loaded objects).
    def scalars(node) -> int:
        if isinstance(node, dict):
            return sum(1 + scalars(value) for value in node.values())
        return sum(map(scalars, node)) if isinstance(node, list) else 1

    text = alias_bomb(10)
    (tmp_path / "small.yaml").write_text(text)
    count = scalars(yaml.safe_load(text))
    assert count > 2**10
    files = games.tabular.files
    monkeypatch.setattr(files, "MAX_YAML_SCALARS", count)
    assert games.load_game_file(tmp_path / "small.yaml").payoff.shape == (2,) * 10
    monkeypatch.setattr(files, "MAX_YAML_SCALARS", count - 1)
    with pytest.raises(games.GameFileError, match=f"over {count - 1:,} numbers"):
        games.load_game_file(tmp_path / "small.yaml")
    (tmp_path / "p16.yaml").write_text("name: p\npayoff: " + "[" * 16 + "1" + "]" * 16)
    assert games.load_game_file(tmp_path / "p16.yaml").payoff.ndim == 16


def test_a_pipe_or_a_huge_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    """A FIFO is refused before it is opened (opening would wait for a writer);
    a file over MAX_YAML_BYTES is refused after reading no more than that."""
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    with pytest.raises(games.GameFileError, match="not a regular file"):
        games.load_game_file(pipe)
    monkeypatch.setattr(games.tabular.files, "MAX_YAML_BYTES", 100)
    (tmp_path / "long.yaml").write_text("name: x\n" + "#" * 200)
    with pytest.raises(games.GameFileError, match="holds more than 100 bytes"):
        games.load_game_file(tmp_path / "long.yaml")


def test_the_inline_example_of_the_docs_is_this_lewis_game(tmp_path):
    """docs/game_files.md's complete Dec-POMDP example loads, and is LEWIS_YAML."""
    docs = (ROOT / "docs" / "game_files.md").read_text()
    section = docs[docs.index("## Dec-POMDP") :]
    block = section[section.index("```yaml\n") + 8 :]
    block = block[: block.index("```")]
    documented = games.load_game_file(write(tmp_path, block))
    tested = games.load_game_file(write(tmp_path, LEWIS_YAML))
    for field in ("initial", "transition", "observation", "reward", "acting"):
        np.testing.assert_array_equal(
            getattr(documented, field), getattr(tested, field)
        )


EXAMPLES = ROOT / "examples"
GAME_FILES_DOC = EXAMPLES.parent / "docs" / "game_files.md"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("stag_hunt.yaml", games.MatrixGame),
        ("lewis.yaml", games.DecPOMDP),
        ("two_doors.dpomdp", games.DecPOMDP),
    ],
)
def test_example_game_files_load_and_compile(name, kind):
    horizon = 2 if name.endswith(".dpomdp") else None  # the file's own
    spec = games.load_any_file(str(EXAMPLES / name), horizon=horizon)
    assert isinstance(spec, kind)
    assert games.compile_game(spec).num_agents == 2


def test_example_lewis_file_is_the_documented_one():
    documented = GAME_FILES_DOC.read_text().split("```yaml\nname: my_lewis")[1]
    documented = "name: my_lewis" + documented.split("```")[0]
    assert documented in (EXAMPLES / "lewis.yaml").read_text()


def test_documented_game_files_exist():
    root = EXAMPLES.parent
    text = "".join((root / name).read_text() for name in ("README.md", "docs/usage.md"))
    paths = re.findall(r"game_file=(\S+)", text)
    assert len(paths) >= 3
    for path in paths:
        assert (EXAMPLES.parent / path).is_file(), path
