"""experiments.harness.compose alone: the config directory, the launch time a
job's processes share, numbers checked before a run, a hydra or OmegaConf
error as one line, which of a preset's values a command line replaced, and
the size group (size=tiny) over any preset."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from experiments.harness import compose
from marl.fields import ConfigError


def test_the_config_directory_is_the_checkouts_conf():
    assert compose.find_conf_dir() == compose.CONF_DIR
    assert (compose.CONF_DIR / "ippo.yaml").is_file()
    assert (compose.CONF_DIR / "tabular.yaml").is_file()
    assert compose.CONF_DIR.parent.joinpath("experiments").is_dir()


def test_launch_time_is_the_launchers_for_every_process(monkeypatch):
    monkeypatch.setenv(compose.LAUNCH_TIME, "0")
    first = compose.launch_time("%Y-%m-%d_%H-%M-%S")
    assert first == compose.launch_time("%Y-%m-%d_%H-%M-%S")
    assert first.startswith(("1970-01-01", "1969-12-31"))  # the epoch, any zone
    monkeypatch.setenv(compose.LAUNCH_TIME, "not a time")  # now, as ${now:...}
    assert not compose.launch_time("%Y").startswith("19")


@dataclasses.dataclass(frozen=True)
class Small:
    lr: float = 1e-3
    steps: int = 4


def test_to_config_builds_the_frozen_schema_and_refuses_impossible_numbers():
    config = compose.to_config(OmegaConf.create({"lr": 0.5, "hydra": {}}), Small)
    assert config == Small(lr=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]
    for bad in (float("inf"), float("nan"), 1e39):
        with pytest.raises(ConfigError, match=r"^lr=.* is impossible"):
            compose.to_config(OmegaConf.create({"lr": bad}), Small)
    with pytest.raises(ConfigError, match=r"^a\.b\[1\]=inf"):
        compose.check_numbers({"a": {"b": [1.0, float("inf")]}})


def test_an_omegaconf_error_is_one_line_with_the_moved_keys_hint():
    with pytest.raises(ConfigKeyError) as info:
        OmegaConf.merge(
            compose.writable(OmegaConf.structured(Small)), {"ippo.ent_coef": 0.1}
        )
    assert compose.is_config_error(info.value)
    line = compose.one_line(info.value)
    assert "\n" not in line and "ippo.ent_coef" in line
    assert line.endswith("the entropy coefficients are one field, ent_coefs=[...]")
    assert not compose.is_config_error(ValueError("ours"))


def test_the_preset_values_a_command_line_replaces():
    count, replaced = compose.overridden_preset_fields(
        "hanabi_cpu", ["preset=hanabi_cpu", "seeds=2", "ippo.lr=1e-3", "+x=1"]
    )
    assert count > 10 and replaced == ["seeds", "ippo.lr"]
    # A key replaces every value under it; a group's choice (env=) and `name`
    # replace none.
    count, replaced = compose.overridden_preset_fields(
        "hanabi_micro_cpu", ["env=hanabi", "+ippo={lr: 0.1}", "name=x"]
    )
    assert "name" not in replaced and not any(r.startswith("env") for r in replaced)
    assert (
        "ippo.lr" in replaced and "ippo.network" in replaced and "seeds" not in replaced
    )

    # Every value replaced: the entry point then warns that only the name is left.
    every = [
        "env.preset=Hanabi-Full",
        "env.num_players=3",
        "seeds=1",
        "ent_coefs=[0.1]",
        "ippo={num_envs: 4, num_steps: 4, total_timesteps: 64, num_minibatches: 1,"
        " gae_lambda: 0.5, lr: 0.1, network: mlp, hidden_sizes: [8]}",
        "log_every=1",
        "checkpoint_every=1",
    ]
    count, replaced = compose.overridden_preset_fields("hanabi_cpu", every)
    assert count == len(replaced) == 14


def test_size_tiny_shrinks_any_preset_and_keeps_the_rest():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from experiments.deep.ippo_runs import register_schemas

    register_schemas()  # conf/ippo.yaml's ippo_schema
    with initialize_config_dir(str(compose.CONF_DIR), version_base=None):
        full = hydra_compose("ippo", ["preset=hanabi_paper_full"])
        tiny = hydra_compose("ippo", ["preset=hanabi_paper_full", "size=tiny"])
        longer = hydra_compose(
            "ippo", ["size=tiny", "preset=hanabi_3c3r_cpu", "seeds=3"]
        )
    assert (tiny.seeds, tiny.ippo.num_envs, tiny.ippo.gru_size) == (2, 8, 16)
    assert list(tiny.ippo.hidden_sizes) == [16] and tiny.log_every == 2
    # the preset's length and recipe stay; the command line's values win
    assert tiny.ippo.total_timesteps == full.ippo.total_timesteps
    assert (tiny.ippo.gae_lambda, tiny.ent_coefs) == (
        full.ippo.gae_lambda,
        full.ent_coefs,
    )
    assert longer.seeds == 3 and longer.ippo.num_envs == 8  # after the preset


def test_compose_config_is_the_entry_points_typed_config():
    """`compose_config` gives the frozen dataclass the entry point would run
    (the preset, then the command line), and hydra's error, as a config error
    one line names, for a key the schema lacks."""
    from experiments.deep.ippo_runs import IPPORunConfig

    config = compose.compose_config(
        "ippo", ["preset=hanabi_cpu", "seeds=3"], IPPORunConfig
    )
    assert isinstance(config, IPPORunConfig) and config.seeds == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seeds = 4  # type: ignore[misc]
    with pytest.raises(Exception) as raised:
        compose.compose_config("ippo", ["ippo.no_such_key=1"], IPPORunConfig)
    assert compose.is_config_error(raised.value)
    assert "no_such_key" in compose.one_line(raised.value)
