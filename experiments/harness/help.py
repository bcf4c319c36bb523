"""`--help` of the hydra entry points: what the program does, what it can be
pointed at (the games, the environments and presets, the config files) and every
field of its config schema with its default and its meaning, read from the
schema's own attribute docstrings, so that the help and the code cannot drift
apart. Hydra's own help (its groups and the raw composed config) stays
available as `--hydra-help` and `--cfg job`.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
from typing import Any

WIDTH = 88


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (a string right after a field),
    by field name; fields without one are absent."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a frozen build)
        return {}
    body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
    docs = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return "(required)"


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def field_lines(
    schema: type, overrides: dict[str, str] | None = None, prefix: str = ""
) -> list[str]:
    """One entry per field of `schema` (nested dataclasses walked): `key =
    default`, then its docstring wrapped and indented. `overrides` replaces the
    shown default of a dotted key (a default the base YAML computes)."""
    overrides = overrides or {}
    docs = field_docs(schema)
    lines = []
    for field in dataclasses.fields(schema):
        key = prefix + field.name
        default = _default(field)
        if dataclasses.is_dataclass(default):
            lines += field_lines(type(default), overrides, f"{key}.")
            continue
        lines.append(f"  {key} = {overrides.get(key, _value(default))}")
        if field.name in docs:
            lines += textwrap.wrap(
                docs[field.name],
                WIDTH,
                initial_indent="      ",
                subsequent_indent="      ",
            )
    return lines


def section(title: str, text: str) -> list[str]:
    """A titled paragraph, wrapped."""
    return [
        "",
        f"{title}:",
        *textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="  "),
    ]


def hydra_help(
    module: str,
    doc: str | None,
    usage: str,
    sections: list[tuple[str, str]],
    schema: type,
    overrides: dict[str, str] | None = None,
) -> str:
    """The whole `--help` of a hydra entry point."""
    lines = [f"usage: python -m {module} {usage}", "", (doc or "").strip()]
    for title, text in sections:
        lines += section(title, text)
    lines += section(
        "Fields",
        f"key=value on the command line; shown with the defaults of "
        f"{schema.__name__} (`--cfg job` prints the config a command composes, "
        "`--hydra-help` hydra's own options)",
    )
    lines += field_lines(schema, overrides)
    return "\n".join(lines)
