"""Hydra composition: the config directory, typed configs from `conf/*.yaml`,
and hydra's or OmegaConf's errors as one line.

Hydra composes `conf/*.yaml` over the schemas (the frozen dataclasses of
experiments/exact/tabular_config.py and experiments/deep/ippo_runs.py, so an
unknown key or a value of the wrong type is refused while composing);
`to_config` then builds the frozen dataclass once, and `__post_init__` refuses
impossible values with one line (`compose_config` does both, for a benchmark
or a test that needs the config a command line would run).
`overridden_preset_fields` says which of a preset's values the command line
replaced.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
from collections.abc import Sequence
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from marl.fields import ConfigError

T = TypeVar("T")


def find_conf_dir() -> pathlib.Path:
    """The hydra config groups: `experiments/conf` inside an installed wheel
    (pyproject.toml packages the repository's `conf/` there), else `conf/` at the
    root of the checkout."""
    package = pathlib.Path(__file__).resolve().parents[1]  # experiments/
    packaged = package / "conf"
    return (
        packaged if (packaged / "tabular.yaml").is_file() else package.parent / "conf"
    )


CONF_DIR = find_conf_dir()


def launch_time(pattern: str) -> str:
    """`${launch_time:%Y-%m-%d_%H-%M-%S}` in the confs' run directories: the time
    a job of several processes was launched (LAB_LAUNCH_TIME, seconds since the
    epoch, set by experiments.launch for every process, so that all of them name
    the same directory), else now, as hydra's `${now:...}`."""
    launched = os.environ.get(LAUNCH_TIME)
    when = datetime.datetime.now()
    if launched:
        with contextlib.suppress(ValueError):
            when = datetime.datetime.fromtimestamp(float(launched))
    return when.strftime(pattern)


LAUNCH_TIME = "LAB_LAUNCH_TIME"
"""Set by experiments.launch, read by `launch_time`: every process names one run
directory."""


OmegaConf.register_new_resolver(
    "launch_time", launch_time, use_cache=True, replace=True
)


def writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses become read-only nodes; hydra must override them."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            writable(child)
    return node


FLOAT32_MAX = 3.4028234663852886e38


def check_numbers(value: Any, where: str = "") -> None:
    """Refuses any number in a config that is not finite or is beyond float32's
    range (every computation is float32): `learner.learning_rate=inf` would
    otherwise train into NaN and exit 0."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            check_numbers(item, f"{where}[{k}]")
    elif isinstance(value, float) and not abs(value) <= FLOAT32_MAX:
        raise ConfigError(
            f"{where}={value} is impossible (must be a finite number within "
            "float32's range, |x| <= 3.4e38)"
        )


def to_config(cfg: DictConfig, schema: type[T]) -> T:
    """The frozen, validated dataclass of a composed config (hydra keys dropped)."""
    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    check_numbers(plain)
    merged = OmegaConf.merge(writable(OmegaConf.structured(schema)), plain)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def compose_config(name: str, overrides: Sequence[str], schema: type[T]) -> T:
    """The frozen, validated config `python -m experiments.<name> <overrides>`
    would run: hydra composes conf/<name>.yaml with the overrides, `to_config`
    builds `schema`. The schema's node must be in hydra's store (importing
    experiments.deep.ippo_runs or experiments.tabular puts theirs there)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(name, overrides=list(overrides))
    return to_config(cfg, schema)


def one_line(error: BaseException) -> str:
    """A hydra or OmegaConf error (several lines over a chain of causes, an
    indented key dump and hints) as one line: its sentences and its causes'
    joined, the dump and the hints dropped, a list of options joined by commas."""
    override = getattr(error, "override", None)  # a parse error names its override
    parts: list[str] = []
    cause: BaseException | None = error
    while cause is not None and len(parts) < 6:
        for line in str(cause).splitlines():
            if line.startswith(
                ("Config search path", "Set the environment", "See http", "To append")
            ):
                break
            if not line.strip() or line.startswith("    "):
                continue
            if line.startswith("\t") and parts:
                parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line.strip()
            elif line.strip().rstrip(".") not in parts:
                parts.append(line.strip().rstrip("."))
        cause = cause.__cause__
    text = "; ".join(parts) or type(error).__name__
    text += "".join(
        f"; {hint}" for key, hint in MOVED_KEYS.items() if f"'{key}'" in text
    )
    return f"cannot parse {override!r}: {text}" if override else text


MOVED_KEYS = {
    "ippo.ent_coef": "the entropy coefficients are one field, ent_coefs=[...]",
}
"""Keys a user may remember from an earlier version, and where they went."""


def is_config_error(error: BaseException) -> bool:
    """Whether an exception is hydra's or OmegaConf's: a composition or override
    error the user caused (unknown key, wrong type, bad syntax, missing group)."""
    return type(error).__module__.split(".")[0] in ("hydra", "omegaconf")


def override_key(override: str) -> str:
    """The key a command-line override sets: 'ippo.lr' of `ippo.lr=1e-3`,
    `+ippo.lr=...` or `~ippo.lr`."""
    return override.split("=", 1)[0].lstrip("+~")


def overridden_preset_fields(
    preset: str, overrides: list[str]
) -> tuple[int, list[str]]:
    """(how many values conf/preset/<preset>.yaml sets besides `name`, which of
    them the command line's `overrides` replace: 'ippo.lr', 'env.preset', ...;
    a group's choice, `env=hanabi`, replaces none)."""
    import yaml

    data = yaml.safe_load((CONF_DIR / "preset" / f"{preset}.yaml").read_text()) or {}

    def leaves(tree: Any, prefix: str = "") -> list[str]:
        if not isinstance(tree, dict):
            return [prefix]
        return [k for key, v in tree.items() for k in leaves(v, f"{prefix}{key}.")]

    fields = [f.rstrip(".") for f in leaves(data) if f.rstrip(".") != "name"]
    given = {override_key(o) for o in overrides if "=" in o}
    given = {g for g in given if not (CONF_DIR / g).is_dir()}  # env=, preset=: groups
    replaced = [
        f for f in fields if any(f == g or f.startswith(g + ".") for g in given)
    ]
    return len(fields), replaced
