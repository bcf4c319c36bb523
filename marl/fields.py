"""The one validation of config fields, for every learner and entry point:
`ConfigError` (an impossible hyperparameter, in one line naming the field) and
`check_fields`. Free of JAX, so that what only parses and checks (the launcher,
the config schemas) starts without it."""

from __future__ import annotations


class ConfigError(ValueError):
    """An impossible hyperparameter of any learner; the message names the field."""


def check_fields(
    config: object, rules: dict[str, tuple[bool, str]], prefix: str = ""
) -> None:
    """Raises `ConfigError` for the first field whose check failed, in one line
    naming it as the user writes it (`prefix` + field), its value and the rule:
    `rules` maps each field to (ok, rule), e.g. {"steps": (steps >= 1, "must be
    >= 1")}. The one validation of every config dataclass of the lab."""
    for field, (ok, rule) in rules.items():
        if not ok:
            raise ConfigError(
                f"{prefix}{field}={getattr(config, field)!r} is impossible ({rule})"
            )
