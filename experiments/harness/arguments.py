"""The command-line parser of the entry points and benchmarks: `--help` shows
the program as it is run (`python -m <module>`), its whole docstring and every
default (also of an option without a help text); a bad argument, or an
impossible value, is answered in one line with exit status 2 (argparse's own
prints the whole usage first). Light: no hydra, no jax, so a benchmark can
still set `XLA_FLAGS` after parsing."""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn


class HelpFormatter(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    """--help keeps the description's lines as written and shows every default
    (but None, which the help text explains, and one its help text names)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and the program's own name and docstring."""

    def __init__(self, module: str, doc: str | None, **kwargs: Any) -> None:
        kwargs.setdefault("prog", f"python -m {module}")
        kwargs.setdefault("description", (doc or "").strip())
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """argparse's, but an option given no help text shows its default too
        (argparse shows a default only beside a help text)."""
        default = kwargs.get("default")
        if kwargs.get("help") is None and default not in (None, argparse.SUPPRESS):
            kwargs["help"] = "default: %(default)s"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")

    def require_at_least(self, args: argparse.Namespace, **least: float) -> None:
        """Refuses, in one line, the first of `least`'s options (by their
        attribute names) whose value, or one of whose values for a list, is
        below its least or not a finite number: an impossible size, count or
        tolerance stops here, not as a traceback from deep inside a run."""
        self._require(args, least, ">=")

    def require_above(self, args: argparse.Namespace, **bound: float) -> None:
        """As `require_at_least`, for options that must exceed their bound (a
        rate, a tolerance, a time limit: 0 is as impossible as below it)."""
        self._require(args, bound, ">")

    def _require(
        self, args: argparse.Namespace, bounds: dict[str, float], relation: str
    ) -> None:
        for name, low in bounds.items():
            value = getattr(args, name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if item is None:
                    continue
                if not (
                    math.isfinite(item)
                    and (item > low if relation == ">" else item >= low)
                ):
                    option = "--" + name.replace("_", "-")
                    self.error(f"{option}={item} must be {relation} {low:g}")
