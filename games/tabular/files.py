"""User game files in YAML: load and validate, one clear line per problem.

Matrix game (exactly these keys)::

    name: my_game
    payoff: [[1, 0], [0, 1]]        # axis k = player k's action; any number of players
    action_names: [[l, r], [l, r]]  # optional

Dec-POMDP (documented in docs/game_files.md)::

    name, horizon, states, initial, agents, transition, reward[, acting, description]
"""

from __future__ import annotations

import difflib
import pathlib
import re
from typing import Any

import numpy as np
import yaml

from games.tabular.spec import (
    DecPOMDP,
    GameSpecError,
    MatrixGame,
    check_distribution,
    matrix_game,
    observing_states,
)

MATRIX_KEYS = {"name", "payoff", "action_names"}
MATRIX_REQUIRED = {"name", "payoff"}
DECPOMDP_KEYS = {
    "name",
    "horizon",
    "states",
    "initial",
    "agents",
    "transition",
    "reward",
    "acting",
    "description",
}
DECPOMDP_REQUIRED = DECPOMDP_KEYS - {"acting", "description"}
AGENT_KEYS = {"name", "actions", "observations", "observation"}


class GameFileError(ValueError):
    """A game file is malformed: `<file>: <field>: <problem>`."""


class _GameLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two differences that a game file needs: numbers
    in exponent form without a dot or sign, like `1e3` or `2E-4`, are floats
    (YAML 1.2 reads them so; PyYAML's YAML 1.1 rules read them as strings), and
    a key given twice in one mapping is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1, seen[key])
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first: int):
        super().__init__(f"key {key!r} at line {line} repeats the one at line {first}")


_GameLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_game_file(path: str | pathlib.Path) -> DecPOMDP | MatrixGame:
    """Reads and validates a YAML game file; raises `GameFileError` on any problem."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise GameFileError(
            f"{path}: cannot read the file ({error.strerror})"
        ) from None
    except UnicodeDecodeError as error:
        raise GameFileError(
            f"{path}: not a text file (byte {error.start} is not UTF-8)"
        ) from None
    try:
        data = yaml.load(text, Loader=_GameLoader)  # a safe loader
        return parse_game(data)
    except _DuplicateKey as error:
        raise GameFileError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise GameFileError(f"{path}: not valid YAML{where}") from None
    except GameSpecError as error:
        raise GameFileError(f"{path}: {error}") from None


def parse_game(data: Any) -> DecPOMDP | MatrixGame:
    """Builds a validated spec from parsed YAML; raises `GameSpecError`."""
    if not isinstance(data, dict):
        raise GameSpecError("(top level)", "must be a mapping with a 'name' field")
    if "payoff" in data:
        _check_keys("(top level)", data, MATRIX_KEYS, MATRIX_REQUIRED)
        payoff = _numbers("payoff", data["payoff"])
        names = data.get("action_names")
        action_names = None
        if names is not None:
            action_names = tuple(
                _names(f"action_names[{k}]", v)
                for k, v in enumerate(_list("action_names", names))
            )
        return matrix_game(_string("name", data["name"]), payoff, action_names)
    if set(data) <= {"name", "description"}:
        raise GameSpecError(
            "(top level)",
            "needs 'payoff' (a matrix game) or horizon, states, initial, agents, "
            "transition and reward (a Dec-POMDP)",
        )
    _check_keys("(top level)", data, DECPOMDP_KEYS, DECPOMDP_REQUIRED)
    horizon = data["horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise GameSpecError("horizon", f"must be a positive integer, got {horizon!r}")
    agents = _list("agents", data["agents"])
    for i, agent in enumerate(agents):
        if not isinstance(agent, dict):
            raise GameSpecError(f"agents[{i}]", "must be a mapping")
        _check_keys(f"agents[{i}]", agent, AGENT_KEYS, AGENT_KEYS)
    if "acting" in data:
        acting = _booleans("acting", data["acting"])
    else:
        acting = np.ones((horizon, len(agents)), dtype=bool)
    action_names = tuple(
        _names(f"agents[{i}].actions", a["actions"]) for i, a in enumerate(agents)
    )
    observation_names = tuple(
        _names(f"agents[{i}].observations", a["observations"])
        for i, a in enumerate(agents)
    )
    initial = _numbers("initial", data["initial"])
    state_names = _names("states", data["states"])
    if initial.ndim != 1:
        raise GameSpecError("initial", "must be a non-empty list of probabilities")
    if len(state_names) != initial.shape[0]:
        raise GameSpecError(
            "states", f"has {len(state_names)} names, expected {initial.shape[0]}"
        )
    tables = []
    for i, a in enumerate(agents):
        table = _numbers(f"agents[{i}].observation", a["observation"])
        shape = (initial.shape[0], len(observation_names[i]))
        if table.shape != shape:
            raise GameSpecError(
                f"agents[{i}].observation",
                f"has shape {list(table.shape)}, expected {list(shape)}",
            )
        check_distribution(f"agents[{i}].observation", table)
        tables.append(table)
    observation, initial_observation = observing_states(
        tuple(tables), tuple(len(names) for names in action_names)
    )
    return DecPOMDP(
        name=_string("name", data["name"]),
        horizon=horizon,
        initial=initial,
        transition=_numbers("transition", data["transition"]),
        observation=observation,
        initial_observation=initial_observation,
        reward=_numbers("reward", data["reward"]),
        acting=acting,
        state_names=state_names,
        agent_names=tuple(
            _string(f"agents[{i}].name", a["name"]) for i, a in enumerate(agents)
        ),
        action_names=action_names,
        observation_names=observation_names,
        description=str(data.get("description", "")),
    )


def _check_keys(field: str, data: dict, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        key = unknown[0]
        # A Dec-POMDP is assumed when 'payoff' is absent: a misspelt 'payoff'
        # must be suggested too, and the other kind named.
        decpomdp_top = field == "(top level)" and allowed == DECPOMDP_KEYS
        known = allowed | MATRIX_KEYS if decpomdp_top else allowed
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        kinds = f"allowed: {', '.join(sorted(allowed))}"
        if decpomdp_top:
            kinds = f"a Dec-POMDP's keys are {', '.join(sorted(allowed))}; a "
            kinds += "matrix game's are " + ", ".join(sorted(MATRIX_KEYS))
        raise GameSpecError(field, f"unknown key '{key}' ({hint}{kinds})")
    missing = sorted(required - set(data))
    if missing:
        raise GameSpecError(
            missing[0] if field == "(top level)" else f"{field}.{missing[0]}",
            "is missing",
        )


def _list(field: str, value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise GameSpecError(field, "must be a non-empty list")
    return value


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise GameSpecError(field, "must be a non-empty string")
    return str(value)


def _names(field: str, value: Any) -> tuple[str, ...]:
    return tuple(_string(f"{field}[{k}]", v) for k, v in enumerate(_list(field, value)))


def _leaves(field: str, value: Any, kinds: tuple[type, ...], what: str) -> None:
    """Rejects leaves of the wrong kind and ragged nesting."""
    if isinstance(value, list):
        if not value:
            raise GameSpecError(field, "contains an empty list")
        for item in value:
            _leaves(field, item, kinds, what)
    elif not isinstance(value, kinds) or (
        bool not in kinds and isinstance(value, bool)
    ):
        raise GameSpecError(field, f"must be a nested list of {what}, found {value!r}")


def _rectangular(field: str, value: Any, dtype: type) -> np.ndarray:
    try:
        return np.array(value, dtype=dtype)
    except ValueError:
        raise GameSpecError(
            field, "is ragged: nested lists must have equal lengths"
        ) from None


def _numbers(field: str, value: Any) -> np.ndarray:
    _leaves(field, value, (int, float), "numbers")
    return _rectangular(field, value, np.float64)


def _booleans(field: str, value: Any) -> np.ndarray:
    _leaves(field, value, (bool,), "true/false")
    return _rectangular(field, value, np.bool_)
