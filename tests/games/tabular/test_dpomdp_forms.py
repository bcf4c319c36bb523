"""Every T, O and R form of the .dpomdp format, with every way of naming its
joint actions, states and joint observations (names, indices, '*', a joint
index, wildcards per agent), parses to the same arrays as the same values
spelled out one entry per line (issue 27, item 7)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from games.tabular.dpomdp import parse_dpomdp

STATES = ("s0", "s1", "s2")
ACTIONS = (("a0", "a1"), ("b0", "b1", "b2"))
OBSERVATIONS = (("x0", "x1"), ("y0", "y1"))
HEADER = f"""\
agents: 2
discount: 1
values: reward
states: {" ".join(STATES)}
start:
uniform
actions:
{" ".join(ACTIONS[0])}
{" ".join(ACTIONS[1])}
observations:
{" ".join(OBSERVATIONS[0])}
{" ".join(OBSERVATIONS[1])}
T: * :
uniform
O: * :
uniform
"""


def joint_specifiers(per_agent: tuple[tuple[str, ...], ...]):
    """(text, the joint elements it names as tuples of per-agent names) for every
    way to name a set of joint actions or observations: each agent's part a
    name, an index or '*'; one joint index; '*'."""
    sizes = [len(names) for names in per_agent]
    every = list(itertools.product(*per_agent))
    found = [("*", every)]
    # The joint index of (names[0][1], names[1][-1]), last agent fastest.
    last = (1, sizes[1] - 1)
    joint = last[0] * sizes[1] + last[1]
    found.append((str(joint), [(per_agent[0][last[0]], per_agent[1][last[1]])]))
    styles = []
    for i, names in enumerate(per_agent):
        k = last[i]
        styles.append([(names[k], [names[k]]), (str(k), [names[k]]), ("*", names)])
    for (text0, names0), (text1, names1) in itertools.product(*styles):
        if (text0, text1) == ("*", "*"):
            continue  # the same set as the lone '*', in another spelling: kept too
        found.append((f"{text0} {text1}", list(itertools.product(names0, names1))))
    found.append(("* *", every))
    return found


def state_specifiers():
    return [("s1", ["s1"]), ("1", ["s1"]), ("*", list(STATES))]


def parse(body: str):
    return parse_dpomdp(HEADER + body, name="forms", horizon=2)


FIELDS = ("transition", "observation", "reward", "initial")


@functools.cache
def baseline():
    """The header's game alone: uniform T and O, reward 0."""
    return parse("")


def mismatches(form: str, spelled: str) -> list[str]:
    """What tells the form's game from the spelled-out one: the fields that
    differ, and 'no effect' if the form left the header's game as it was (so a
    parser that ignored both could not pass)."""
    ours, theirs = parse(form), parse(spelled)
    found = [
        field
        for field in FIELDS
        if not np.allclose(getattr(ours, field), getattr(theirs, field), atol=1e-12)
    ]
    if all(np.allclose(getattr(ours, f), getattr(baseline(), f)) for f in FIELDS):
        found.append("no effect")
    return found


def names(joint: tuple[str, ...]) -> str:
    return " ".join(joint)


JA = joint_specifiers(ACTIONS)
JO = joint_specifiers(OBSERVATIONS)
S = state_specifiers()
ROW_S = np.array([0.2, 0.3, 0.5])
ROW_O = np.array([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("ja, s, after, jo", list(itertools.product(JA, S, S, JO)))
def test_reward_entry_forms_equal_their_spelled_out_entries(ja, s, after, jo):
    form = f"R: {ja[0]} : {s[0]} : {after[0]} : {jo[0]} : 5.5\n"
    spelled = "".join(
        f"R: {names(a)} : {x} : {y} : {names(o)} : 5.5\n"
        for a, x, y, o in itertools.product(ja[1], s[1], after[1], jo[1])
    )
    assert (
        mismatches("R: * : * : * : * : 1\n" + form, "R: * : * : * : * : 1\n" + spelled)
        == []
    )


@pytest.mark.parametrize("ja, s, after", list(itertools.product(JA, S, S)))
def test_reward_row_forms_equal_their_spelled_out_entries(ja, s, after):
    form = f"R: {ja[0]} : {s[0]} : {after[0]} :\n{' '.join(map(str, ROW_O))}\n"
    every_jo = list(itertools.product(*OBSERVATIONS))
    spelled = "".join(
        f"R: {names(a)} : {x} : {y} : {names(o)} : {ROW_O[k]}\n"
        for a, x, y in itertools.product(ja[1], s[1], after[1])
        for k, o in enumerate(every_jo)
    )
    assert mismatches(form, spelled) == []


@pytest.mark.parametrize("ja, s", list(itertools.product(JA, S)))
def test_reward_matrix_and_transition_and_observation_rows(ja, s):
    every_jo = list(itertools.product(*OBSERVATIONS))
    matrix = np.arange(12.0).reshape(3, 4)
    form = f"R: {ja[0]} : {s[0]} :\n" + "".join(
        " ".join(map(str, r)) + "\n" for r in matrix
    )
    spelled = "".join(
        f"R: {names(a)} : {x} : {STATES[n]} : {names(o)} : {matrix[n, k]}\n"
        for a, x in itertools.product(ja[1], s[1])
        for n in range(3)
        for k, o in enumerate(every_jo)
    )
    assert mismatches(form, spelled) == []
    form = f"T: {ja[0]} : {s[0]} :\n{' '.join(map(str, ROW_S))}\n"
    spelled = "".join(
        f"T: {names(a)} : {x} : {STATES[n]} : {ROW_S[n]}\n"
        for a, x in itertools.product(ja[1], s[1])
        for n in range(3)
    )
    assert mismatches(form, spelled) == []
    form = f"O: {ja[0]} : {s[0]} :\n{' '.join(map(str, ROW_O))}\n"
    spelled = "".join(
        f"O: {names(a)} : {x} : {names(o)} : {ROW_O[k]}\n"
        for a, x in itertools.product(ja[1], s[1])
        for k, o in enumerate(every_jo)
    )
    assert mismatches(form, spelled) == []


@pytest.mark.parametrize("ja", JA)
def test_transition_and_observation_matrices(ja):
    def spelled_transition(matrix: np.ndarray) -> str:
        return "".join(
            f"T: {names(a)} : {STATES[m]} : {STATES[n]} : {matrix[m, n]}\n"
            for a in ja[1]
            for m in range(3)
            for n in range(3)
        )

    matrix = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    rows = "".join(" ".join(map(str, r)) + "\n" for r in matrix)
    assert mismatches(f"T: {ja[0]} :\n{rows}", spelled_transition(matrix)) == []
    assert mismatches(f"T: {ja[0]} :\nidentity\n", spelled_transition(np.eye(3))) == []
    every_jo = list(itertools.product(*OBSERVATIONS))
    assert (
        mismatches(
            f"O: {ja[0]} :\n"
            + "".join(" ".join(map(str, ROW_O)) + "\n" for _ in range(3)),
            "".join(
                f"O: {names(a)} : {STATES[m]} : {names(o)} : {ROW_O[k]}\n"
                for a in ja[1]
                for m in range(3)
                for k, o in enumerate(every_jo)
            ),
        )
        == []
    )
