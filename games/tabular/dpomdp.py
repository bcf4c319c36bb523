"""Reads the MADP toolbox's .dpomdp text format (plain or gzipped) into a `DecPOMDP`.

The format is documented line by line in the toolbox's `problems/example.dpomdp`
(Oliehoek et al., "The MADP Toolbox", JMLR 2017). In short:

    agents: 2 | <names>            discount: %f          values: reward | cost
    states: N | <names>
    start: <probabilities on the next line> | uniform | <state>
    start include: <states>  /  start exclude: <states>
    actions:        one line per agent: a count or names
    observations:   one line per agent: a count or names
    T: <ja> : <s> : <s'> : %f   |  T: <ja> : <s> :  (a row)  |  T: <ja> :  (a matrix,
                                                              identity or uniform)
    O: <ja> : <s'> : <jo> : %f  |  O: <ja> : <s'> :  (a row)  |  O: <ja> :  (matrix
                                                              or uniform)
    R: <ja> : <s> : <s'> : <jo> : %f  |  R: <ja> : <s> : <s'> :  (a row over joint
       observations)  |  R: <ja> : <s> :  (an |S| x |JO| matrix)

A joint action <ja> is `*`, one joint index, or one component per agent (a name,
an index or `*`); joint observations alike. Joint indices run with the last
agent's index fastest. Later lines override earlier ones. Comments start a line
with `#`. Rewards that depend on the next state or the observation are replaced
by their expectation R(s, a) = sum_{s', o} T(s' | s, a) O(o | a, s') R(s, a, s', o),
which leaves every expected return unchanged. The file has no horizon: the caller
gives one.

Every problem raises `GameFileError("<file>: line <k>: <problem>")`. A header
whose sizes are over the limits below (`MAX_AGENTS`, `MAX_COUNT` states, actions
or observations, `MAX_TABLE_ENTRIES` in the joint transition or observation
table) is refused at its line before anything of that size is made; the file is
read as a bounded stream (`MAX_TEXT_BYTES`, unpacked), so a small archive of a
huge text is refused after reading no more than the limit.
"""

from __future__ import annotations

import functools
import itertools
import math
import pathlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from games.tabular.files import MAX_AGENTS, GameFileError, read_game_bytes
from games.tabular.spec import DecPOMDP, GameSpecError

HEADER = ("agents", "discount", "values", "states", "start", "actions", "observations")
SUM_TOLERANCE = 1e-4
"""Rows of probabilities may be off 1 by this much (rounded decimals in the
files); they are then renormalized."""
MAX_REWARD_ENTRIES = 50_000_000
MAX_COUNT = 100_000
"""The most states, and actions or observations of one agent, a file may have."""
MAX_TABLE_ENTRIES = 50_000_000
"""The most entries of the joint tables T[ja, s, s'] and O[ja, s', jo] (each
float64, 400 MB at the limit)."""
MAX_TEXT_BYTES = 256 * 2**20
"""The largest .dpomdp text read (256 MiB, after unpacking a .gz)."""


class _Lines:
    """The file's non-comment lines with their line numbers."""

    def __init__(self, text: str):
        self.items = [
            (k + 1, line.strip())
            for k, line in enumerate(text.splitlines())
            if line.strip() and not line.lstrip().startswith("#")
        ]
        self.pos = 0

    def next(self, what: str) -> tuple[int, str]:
        if self.pos >= len(self.items):
            last = self.items[-1][0] if self.items else 0
            raise _Problem(last, f"the file ends where {what} was expected")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def peek(self) -> tuple[int, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None


class _Problem(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def load_dpomdp(path: str | pathlib.Path, horizon: int) -> DecPOMDP:
    """Reads a .dpomdp or .dpomdp.gz file as a Dec-POMDP of the given horizon."""
    path = pathlib.Path(path)
    raw = read_game_bytes(path, MAX_TEXT_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GameFileError(f"{path}: not a text file (invalid UTF-8)") from None
    name = path.name.removesuffix(".gz").removesuffix(".dpomdp")
    try:
        return parse_dpomdp(text, name=name, horizon=horizon)
    except _Problem as problem:
        raise GameFileError(f"{path}: line {problem.line}: {problem.message}") from None
    except GameSpecError as error:
        raise GameFileError(f"{path}: {error}") from None


def parse_dpomdp(text: str, *, name: str, horizon: int) -> DecPOMDP:
    """Parses .dpomdp text; raises `_Problem` (line, message) or `GameSpecError`."""
    model = _Model(_Lines(text))
    model.read_body()
    return model.build(name, horizon)


class _Model:
    """The model as it is read (compile-time only)."""

    def __init__(self, lines: _Lines):
        self.lines = lines
        number, text = self._header("agents")
        self.agents = _count_or_names(number, text, "agent", "agent", MAX_AGENTS)
        number, text = self._header("discount")
        self.discount = _number(number, text, "the discount")
        if not 0 < self.discount <= 1:
            raise _Problem(number, f"the discount must be in (0, 1], not {text}")
        number, text = self._header("values")
        if text not in ("reward", "cost"):
            raise _Problem(number, f"values must be 'reward' or 'cost', not '{text}'")
        self.sign = 1.0 if text == "reward" else -1.0
        number, text = self._header("states")
        self.states = _count_or_names(number, text, "state", "", MAX_COUNT)
        self.state_index = _index(self.states)
        self.initial = self._start()
        self.actions, number = self._per_agent("actions")
        num_states = len(self.states)
        self.num_joint_actions = math.prod(len(a) for a in self.actions)
        _check_size(
            number, "T[joint action, s, s']", self.num_joint_actions, num_states**2
        )
        self.observations, number = self._per_agent("observations")
        self.num_joint_obs = math.prod(len(o) for o in self.observations)
        _check_size(
            number,
            "O[joint action, s', joint observation]",
            self.num_joint_actions * num_states,
            self.num_joint_obs,
        )

    def _header(self, key: str, modes: tuple[str, ...] = ()) -> tuple[int, str]:
        number, line = self.lines.next(f"'{key}:'")
        word, colon, rest = line.partition(":")
        if not colon or word.strip() not in (key, *modes):
            raise _Problem(
                number,
                f"expected '{key}:' here, found '{line[:40]}' (the header is "
                + ", ".join(HEADER)
                + ", in this order)",
            )
        self.mode = word.strip()
        return number, rest.strip()

    # -- header ---------------------------------------------------------------

    def _start(self) -> np.ndarray:
        num = len(self.states)
        number, text = self._header("start", ("start include", "start exclude"))
        mode = self.mode
        if mode != "start":
            chosen = {self.state(number, t) for t in text.split()}
            if not chosen:
                raise _Problem(number, f"'{mode}:' names no state")
            if mode == "start exclude":
                chosen = set(range(num)) - chosen
            if not chosen:
                raise _Problem(number, "'start exclude:' leaves no state")
            start = np.zeros(num)
            start[sorted(chosen)] = 1.0 / len(chosen)
            return start
        if not text:
            number, text = self.lines.next("the start distribution")
        tokens = text.split()
        if tokens == ["uniform"]:
            return np.full(num, 1.0 / num)
        if len(tokens) == 1 and (num > 1 or tokens[0] in self.state_index):
            start = np.zeros(num)
            start[self.state(number, tokens[0])] = 1.0
            return start
        start = _numbers(number, tokens, num, "start probabilities (one per state)")
        return _distribution(number, start, "the start distribution")

    def _per_agent(self, key: str) -> tuple[list[tuple[str, ...]], int]:
        """Each agent's actions or observations, and the header's line."""
        number, text = self._header(key)
        header = number
        if text:
            raise _Problem(number, f"'{key}:' takes one line per agent after it")
        target: list[tuple[str, ...]] = []
        for i in range(len(self.agents)):
            number, text = self.lines.next(f"the {key} of agent {i}")
            if ":" in text:
                raise _Problem(
                    number,
                    f"expected the {key} of agent {i} (a count or names), "
                    f"found '{text[:40]}'",
                )
            target.append(_count_or_names(number, text, key[:-1], "", MAX_COUNT))
        return target, header

    # -- body -----------------------------------------------------------------

    def read_body(self) -> None:
        num_states = len(self.states)
        shape_t = (self.num_joint_actions, num_states, num_states)
        shape_o = (self.num_joint_actions, num_states, self.num_joint_obs)
        self.transition = np.zeros(shape_t)
        self.transition_line = np.zeros(shape_t, np.int32)
        self.observation = np.zeros(shape_o)
        self.observation_line = np.zeros(shape_o, np.int32)
        self.reward = np.zeros((self.num_joint_actions, num_states))
        self.reward_full: np.ndarray | None = None
        seen_kinds = set()
        while (item := self.lines.peek()) is not None:
            self.lines.pos += 1
            number, line = item
            kind, colon, rest = line.partition(":")
            kind = kind.strip()
            if not colon or kind not in ("T", "O", "R"):
                raise _Problem(
                    number,
                    f"expected a 'T:', 'O:' or 'R:' line, found '{line[:40]}'",
                )
            seen_kinds.add(kind)
            fields = [f.strip() for f in rest.split(":")]
            getattr(self, f"_{kind.lower()}")(number, fields)
        for kind, what in (("T", "transition"), ("O", "observation")):
            if kind not in seen_kinds:
                last = self.lines.items[-1][0] if self.lines.items else 0
                raise _Problem(last, f"the file has no {what} ('{kind}:') lines")

    def _t(self, number: int, fields: list[str]) -> None:
        num = len(self.states)
        if len(fields) == 4:  # T: ja : s : s' : p
            index: tuple[list[int], ...] = (
                self.joint_actions(number, fields[0]),
                self.states_of(number, fields[1]),
                self.states_of(number, fields[2]),
            )
            self._set("T", number, index, _number(number, fields[3], "a probability"))
        elif len(fields) == 3 and fields[2] == "":  # T: ja : s :  then a row
            row = self._row(num, "probabilities (one per next state)")
            index = (
                self.joint_actions(number, fields[0]),
                self.states_of(number, fields[1]),
            )
            self._set("T", number, index, row)
        elif len(fields) == 2 and fields[1] == "":  # T: ja :  then a matrix
            matrix = self._matrix(num, num, "next state", allow_identity=True)
            self._set("T", number, (self.joint_actions(number, fields[0]),), matrix)
        else:
            raise _Problem(number, _ARITY["T"])

    def _o(self, number: int, fields: list[str]) -> None:
        num_obs = self.num_joint_obs
        if len(fields) == 4:  # O: ja : s' : jo : p
            index: tuple[list[int], ...] = (
                self.joint_actions(number, fields[0]),
                self.states_of(number, fields[1]),
                self.joint_observations(number, fields[2]),
            )
            self._set("O", number, index, _number(number, fields[3], "a probability"))
        elif len(fields) == 3 and fields[2] == "":
            row = self._row(num_obs, "probabilities (one per joint observation)")
            index = (
                self.joint_actions(number, fields[0]),
                self.states_of(number, fields[1]),
            )
            self._set("O", number, index, row)
        elif len(fields) == 2 and fields[1] == "":
            matrix = self._matrix(len(self.states), num_obs, "joint observation")
            self._set("O", number, (self.joint_actions(number, fields[0]),), matrix)
        else:
            raise _Problem(number, _ARITY["O"])

    def _r(self, number: int, fields: list[str]) -> None:
        num, num_obs = len(self.states), self.num_joint_obs
        ja = self.joint_actions(number, fields[0])
        if len(fields) == 5:  # R: ja : s : s' : jo : r
            value = self.sign * _number(number, fields[4], "a reward")
            s = self.states_of(number, fields[1])
            if fields[2] == "*" and fields[3] == "*":
                # Both lists may expand to several values: index their product.
                if self.reward_full is not None:
                    self.reward_full[np.ix_(ja, s)] = value
                self.reward[np.ix_(ja, s)] = value
                return
            after = self.states_of(number, fields[2])
            jo = self.joint_observations(number, fields[3])
            self._full()[np.ix_(ja, s, after, jo)] = value
        elif len(fields) == 4 and fields[3] == "":  # R: ja : s : s' :  then a row
            row = self.sign * self._row(num_obs, "rewards (one per joint observation)")
            s, after = (
                self.states_of(number, fields[1]),
                self.states_of(number, fields[2]),
            )
            self._full()[np.ix_(ja, s, after)] = row
        elif len(fields) == 3 and fields[2] == "":  # R: ja : s :  then a matrix
            matrix = self.sign * self._matrix(num, num_obs, "joint observation")
            s = self.states_of(number, fields[1])
            self._full()[np.ix_(ja, s)] = matrix
        else:
            raise _Problem(number, _ARITY["R"])

    def _full(self) -> np.ndarray:
        """The reward as R[ja, s, s', jo], made on first need."""
        if self.reward_full is None:
            size = self.num_joint_actions * len(self.states) ** 2 * self.num_joint_obs
            if size > MAX_REWARD_ENTRIES:
                raise _Problem(
                    self.lines.items[self.lines.pos - 1][0],
                    f"rewards that depend on the next state or observation need "
                    f"{size:,} entries here, over {MAX_REWARD_ENTRIES:,}",
                )
            self.reward_full = np.broadcast_to(
                self.reward[:, :, None, None],
                (*self.reward.shape, len(self.states), self.num_joint_obs),
            ).copy()
        return self.reward_full

    def _set(self, kind: str, number: int, index: tuple, value) -> None:
        table, lines = (
            (self.transition, self.transition_line)
            if kind == "T"
            else (self.observation, self.observation_line)
        )
        # One entry or one row (the usual line) by plain indexing, lists of
        # them (a '*') by their product.
        grid = (
            tuple(i[0] for i in index)
            if all(len(i) == 1 for i in index)
            else np.ix_(*index)
        )
        table[grid] = value
        lines[grid] = number

    def _row(self, size: int, what: str) -> np.ndarray:
        number, text = self.lines.next(what)
        return _numbers(number, text.split(), size, what)

    def _matrix(
        self, rows: int, cols: int, what: str, allow_identity: bool = False
    ) -> np.ndarray:
        number, text = self.lines.next(f"a matrix over {what}s")
        if text == "uniform":
            return np.full((rows, cols), 1.0 / cols)
        if text == "identity":
            if not allow_identity:
                raise _Problem(number, "'identity' is for transition matrices only")
            return np.eye(rows)
        matrix = [_numbers(number, text.split(), cols, f"one number per {what}")]
        for _ in range(rows - 1):
            number, text = self.lines.next(f"a matrix row over {what}s")
            matrix.append(
                _numbers(number, text.split(), cols, f"one number per {what}")
            )
        return np.array(matrix)

    # -- names ----------------------------------------------------------------

    def state(self, number: int, token: str) -> int:
        return _lookup(number, token, self.state_index, len(self.states), "state")

    def states_of(self, number: int, token: str) -> list[int]:
        if token == "*":
            return list(range(len(self.states)))
        if len(token.split()) != 1:
            raise _Problem(number, f"expected one state, found '{token}'")
        return [self.state(number, token)]

    def joint_actions(self, number: int, field: str) -> list[int]:
        return _joint(number, field, self.actions, "action")

    def joint_observations(self, number: int, field: str) -> list[int]:
        return _joint(number, field, self.observations, "observation")

    # -- the model --------------------------------------------------------------

    def build(self, name: str, horizon: int) -> DecPOMDP:
        transition = self._normalized("T", self.transition, self.transition_line)
        observation = self._normalized("O", self.observation, self.observation_line)
        num_actions = tuple(len(a) for a in self.actions)
        num_obs = tuple(len(o) for o in self.observations)
        if self.reward_full is not None:
            # R(s, a) = sum_{s', o} T(s'|s, a) O(o|a, s') R(s, a, s', o)
            reward = np.einsum(
                "asq,aqo,asqo->as", transition, observation, self.reward_full
            )
        else:
            reward = self.reward
        num = len(self.states)
        return DecPOMDP(
            name=name,
            horizon=horizon,
            initial=self.initial,
            transition=np.moveaxis(transition, 0, 1).reshape(num, *num_actions, num),
            observation=observation.reshape(*num_actions, num, *num_obs),
            initial_observation=None,
            reward=reward.T.reshape(num, *num_actions),
            acting=np.ones((horizon, len(self.agents)), dtype=bool)
            if isinstance(horizon, int)
            and not isinstance(horizon, bool)
            and horizon > 0
            else np.ones((1, len(self.agents)), dtype=bool),
            state_names=self.states,
            agent_names=self.agents,
            action_names=tuple(self.actions),
            observation_names=tuple(self.observations),
            discount=self.discount,
            description=f"{name} (.dpomdp file)",
        )

    def _normalized(
        self, kind: str, table: np.ndarray, lines: np.ndarray
    ) -> np.ndarray:
        """Checks every row sums to 1 (within SUM_TOLERANCE) and renormalizes."""
        if np.any(table < 0):
            ja, s, k = np.argwhere(table < 0)[0]
            raise _Problem(
                int(lines[ja, s, k]),
                f"{kind}: a probability is negative ({table[ja, s, k]:g})",
            )
        sums = table.sum(axis=-1)
        bad = np.argwhere(np.abs(sums - 1.0) > SUM_TOLERANCE)
        if bad.size:
            ja, s = (int(x) for x in bad[0])
            where = "from state" if kind == "T" else "in next state"
            joint = self.joint_action_name(ja)
            line = int(lines[ja, s].max())
            if line == 0:
                last = self.lines.items[-1][0] if self.lines.items else 0
                raise _Problem(
                    last,
                    f"{kind}: no probabilities given for joint action ({joint}) "
                    f"{where} {self.states[s]}",
                )
            raise _Problem(
                line,
                f"{kind}: the row for joint action ({joint}) {where} {self.states[s]} "
                f"sums to {sums[ja, s]:.6g}, not 1",
            )
        return table / sums[..., None]

    def joint_action_name(self, ja: int) -> str:
        parts = np.unravel_index(ja, tuple(len(a) for a in self.actions))
        return " ".join(self.actions[i][int(a)] for i, a in enumerate(parts))


_ARITY = {
    "T": "a 'T:' line is 'T: ja : s : s' : p', 'T: ja : s :' before a row, or "
    "'T: ja :' before a matrix",
    "O": "an 'O:' line is 'O: ja : s' : jo : p', 'O: ja : s' :' before a row, or "
    "'O: ja :' before a matrix",
    "R": "an 'R:' line is 'R: ja : s : s' : jo : r', 'R: ja : s : s' :' before a "
    "row, or 'R: ja : s :' before a matrix",
}


@functools.lru_cache(maxsize=64)
def _index(names: tuple[str, ...]) -> Mapping[str, int]:
    """Each name's position (made once per tuple of names: `_joint` asks it
    for every agent on every line), read-only since every parse shares it."""
    return MappingProxyType({name: k for k, name in enumerate(names)})


def _count_or_names(
    number: int, text: str, what: str, prefix: str, limit: int
) -> tuple[str, ...]:
    """A count (names made from `prefix`) or the names themselves, at most
    `limit` of them, refused before any name is made."""
    tokens = text.split()
    if not tokens:
        raise _Problem(number, f"expected a number of {what}s or their names")
    count = int(tokens[0]) if len(tokens) == 1 and tokens[0].isdigit() else len(tokens)
    if count > limit:
        raise _Problem(number, f"{count:,} {what}s are over the limit of {limit:,}")
    if len(tokens) == 1 and tokens[0].isdigit():
        if count < 1:
            raise _Problem(number, f"needs at least one {what}")
        return tuple(f"{prefix}{k}" for k in range(count))
    if len(set(tokens)) != len(tokens):
        duplicate = next(t for t in tokens if tokens.count(t) > 1)
        raise _Problem(number, f"the {what} name '{duplicate}' appears twice")
    return tuple(tokens)


def _check_size(number: int, table: str, rows: int, columns: int) -> None:
    """Refuses a joint table of rows x columns entries over MAX_TABLE_ENTRIES."""
    if rows * columns > MAX_TABLE_ENTRIES:
        raise _Problem(
            number,
            f"the joint table {table} would have {rows * columns:,} entries, over "
            f"the limit of {MAX_TABLE_ENTRIES:,}",
        )


def _lookup(
    number: int, token: str, index: Mapping[str, int], count: int, what: str
) -> int:
    if token in index:
        return index[token]
    if token.isdigit():
        k = int(token)
        if k < count:
            return k
        raise _Problem(number, f"{what} index {k} is out of range (there are {count})")
    raise _Problem(number, f"unknown {what} '{token}'")


def _joint(
    number: int, field: str, per_agent: list[tuple[str, ...]], what: str
) -> list[int]:
    """Joint indices (last agent fastest) named by `field`."""
    tokens = field.split()
    sizes = tuple(len(names) for names in per_agent)
    total = math.prod(sizes)
    if tokens == ["*"]:
        return list(range(total))
    if len(tokens) == 1 and len(per_agent) > 1:
        if not tokens[0].isdigit():
            raise _Problem(
                number,
                f"expected a joint {what} (an index below {total}, '*', or one "
                f"{what} per agent), found '{field}'",
            )
        k = int(tokens[0])
        if k >= total:
            raise _Problem(
                number, f"joint {what} index {k} is out of range (there are {total})"
            )
        return [k]
    if len(tokens) != len(per_agent):
        raise _Problem(
            number,
            f"a joint {what} needs one {what} per agent ({len(per_agent)}), "
            f"found {len(tokens)} in '{field}'",
        )
    options: list[Sequence[int]] = []
    for i, token in enumerate(tokens):
        if token == "*":
            options.append(range(sizes[i]))
        else:
            options.append(
                [
                    _lookup(
                        number,
                        token,
                        _index(per_agent[i]),
                        sizes[i],
                        f"agent {i} {what}",
                    )
                ]
            )
    return [_flat(combo, sizes) for combo in itertools.product(*options)]


def _flat(combo: Sequence[int], sizes: Sequence[int]) -> int:
    """The joint index of one index per agent, last agent fastest (NumPy's
    `ravel_multi_index`, without a NumPy call per line of a file)."""
    flat = 0
    for k, size in zip(combo, sizes, strict=True):
        flat = flat * size + k
    return flat


def _number(number: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Problem(number, f"expected {what}, found '{text[:40]}'") from None
    if not math.isfinite(value):
        raise _Problem(number, f"{what} must be finite, found '{text}'")
    return value


def _numbers(number: int, tokens: list[str], size: int, what: str) -> np.ndarray:
    if len(tokens) != size:
        raise _Problem(number, f"expected {size} numbers ({what}), found {len(tokens)}")
    return np.array([_number(number, t, "a number") for t in tokens])


def _distribution(number: int, values: np.ndarray, what: str) -> np.ndarray:
    if np.any(values < 0):
        raise _Problem(number, f"{what} has a negative probability")
    total = values.sum()
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise _Problem(number, f"{what} sums to {total:.6g}, not 1")
    return values / total
