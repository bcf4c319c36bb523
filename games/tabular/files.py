"""User game files in YAML: load and validate, one clear line per problem.

Matrix game (exactly these keys)::

    name: my_game
    payoff: [[1, 0], [0, 1]]        # axis k = player k's action; any number of players
    action_names: [[l, r], [l, r]]  # optional

Dec-POMDP (documented in docs/game_files.md)::

    name, horizon, states, initial, agents, transition, reward[, acting, description]

Sizes are checked before memory is spent on them: the file's bytes
(`MAX_YAML_BYTES`), how deep its lists and mappings nest (`MAX_DEPTH`) and how
many numbers and names it holds once YAML's anchors and aliases are expanded
(`MAX_YAML_SCALARS`: a few hundred bytes of aliases can stand for millions of
entries), all from YAML's event stream before any object is built; then the
players of a matrix game (`MAX_AGENTS`). Only a regular file is read: a pipe,
socket or device is refused before it is opened (opening a pipe would wait for a
writer).
"""

from __future__ import annotations

import difflib
import gzip
import os
import pathlib
import re
import stat
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
MAX_AGENTS = 16
"""The most players a game file may have (matrix games, Dec-POMDPs and .dpomdp
files alike)."""
MAX_YAML_BYTES = 32 * 2**20
"""The largest YAML game file read (32 MiB)."""
MAX_DEPTH = 32
"""How deep a YAML game file's lists and mappings may nest (a matrix game of
MAX_AGENTS players nests MAX_AGENTS + 1 deep)."""
MAX_YAML_SCALARS = 4_000_000
"""The most numbers and names a YAML game file may hold, counted with every
alias expanded (a table of 4 million float64 entries is 32 MB)."""


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


def check_game_file(path: str | pathlib.Path) -> pathlib.Path:
    """`path`, refused with `GameFileError` when it names no regular file (it
    does not exist, cannot be read, or is a folder, pipe, socket or device)."""
    path = pathlib.Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise GameFileError(
            f"{path}: cannot read the file ({error.strerror})"
        ) from None
    if stat.S_ISDIR(mode):
        raise GameFileError(f"{path}: is a directory, not a game file")
    if not stat.S_ISREG(mode):
        raise GameFileError(
            f"{path}: not a regular file (a pipe, socket or device is no game file)"
        )
    return path


def read_game_bytes(path: str | pathlib.Path, limit: int) -> bytes:
    """The bytes of a game file, unpacked if its name ends in .gz, refused with
    `GameFileError` when it is not a regular file, cannot be read, is not valid
    gzip, or holds (unpacks to) more than `limit` bytes: read as a bounded
    stream, so a small archive of a huge file costs no more than `limit`."""
    path = check_game_file(path)
    packed = path.name.endswith(".gz")
    try:
        with open(path, "rb") as handle:
            stream = gzip.GzipFile(fileobj=handle) if packed else handle
            data = stream.read(limit + 1)
    except (OSError, EOFError) as error:
        if isinstance(error, OSError) and error.strerror:  # not gzip's own
            raise GameFileError(
                f"{path}: cannot read the file ({error.strerror})"
            ) from None
        raise GameFileError(f"{path}: not a valid gzip file") from None
    if len(data) > limit:
        size = "unpacks to" if packed else "holds"
        raise GameFileError(
            f"{path}: {size} more than {limit:,} bytes, over the limit for a game file"
        )
    return data


def check_yaml_size(text: str) -> None:
    """Refuses (GameSpecError) YAML nested deeper than MAX_DEPTH or holding more
    than MAX_YAML_SCALARS scalars once its aliases are expanded, from the event
    stream (PyYAML's parser is iterative; its composer and our checks recurse),
    before any object is built. An alias counts the scalars and the depth of
    the node it names."""
    scalars = 0
    opened: list[tuple[str | None, int]] = []  # anchor, scalars before it
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (scalars, depth)
    deepest = [0]  # per open collection, the depth reached below it

    def reach(depth: int) -> None:
        if len(opened) + depth > MAX_DEPTH:
            raise GameSpecError(
                "(top level)", f"nests lists and mappings over {MAX_DEPTH} deep"
            )
        deepest[-1] = max(deepest[-1], depth)

    for event in yaml.parse(text, Loader=_GameLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            reach(1)
            opened.append((event.anchor, scalars))
            deepest.append(0)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = opened.pop()
            below = deepest.pop() + 1
            if anchor is not None:
                anchored[anchor] = (scalars - start, below)
            deepest[-1] = max(deepest[-1], below)
        elif isinstance(event, yaml.ScalarEvent):
            scalars += 1
            if event.anchor is not None:
                anchored[event.anchor] = (1, 0)
        elif isinstance(event, yaml.AliasEvent):
            count, depth = anchored.get(event.anchor, (0, 0))
            scalars += count
            reach(depth)
        if scalars > MAX_YAML_SCALARS:
            raise GameSpecError(
                "(top level)",
                f"holds over {MAX_YAML_SCALARS:,} numbers and names with its "
                "aliases expanded, over the limit for a game file",
            )


def load_game_file(path: str | pathlib.Path) -> DecPOMDP | MatrixGame:
    """Reads and validates a YAML game file; raises `GameFileError` on any problem."""
    path = pathlib.Path(path)
    raw = read_game_bytes(path, MAX_YAML_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise GameFileError(
            f"{path}: not a text file (byte {error.start} is not UTF-8)"
        ) from None
    try:
        check_yaml_size(text)
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
        players, entry = 0, data["payoff"]
        while isinstance(entry, list) and entry:
            players, entry = players + 1, entry[0]
        if players > MAX_AGENTS:
            raise GameSpecError(
                "payoff", f"has {players} players, over the limit of {MAX_AGENTS}"
            )
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
    if len(agents) > MAX_AGENTS:
        raise GameSpecError(
            "agents", f"has {len(agents)} agents, over the limit of {MAX_AGENTS}"
        )
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
