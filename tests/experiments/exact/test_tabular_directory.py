"""experiments.exact.tabular_directory.TabularDirectory alone, outside hydra:
sections computed once and reused on resume, resume refused without them,
another configuration's results refused, the outputs written with results.json
last and the sections removed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from experiments.exact.tabular_config import TabularConfig
from experiments.exact.tabular_directory import TabularDirectory
from marl.fields import ConfigError


def test_a_section_is_computed_once_and_reused_by_a_resume(tmp_path):
    config = TabularConfig()
    directory = TabularDirectory(tmp_path, config)
    assert directory.finished() is None
    with pytest.raises(ConfigError, match=r"resume=true but .* holds no finished"):
        TabularDirectory(
            tmp_path, dataclasses.replace(config, resume=True)
        ).check_resume()
    directory.accept()
    calls = []

    def compute():
        calls.append(1)
        return {"sp": [1.0]}, {"arrays/agent0": np.arange(3.0)}

    assert directory.section("grid", compute)[0] == {"sp": [1.0]}
    with pytest.raises(KeyboardInterrupt), directory.kept_on_interrupt():
        raise KeyboardInterrupt
    resumed = TabularDirectory(tmp_path, dataclasses.replace(config, resume=True))
    resumed.check_resume()
    assert resumed.finished_sections() == ["grid"]
    value, arrays = resumed.section("grid", compute)
    assert calls == [1] and value == {"sp": [1.0]}
    np.testing.assert_array_equal(arrays["arrays/agent0"], np.arange(3.0))
    # Another configuration's sections are not this one's.
    other = TabularDirectory(
        tmp_path, dataclasses.replace(config, seeds=3, resume=True)
    )
    assert other.finished_sections() == []


def test_the_outputs_end_with_results_and_another_configs_are_refused(tmp_path):
    config = TabularConfig()
    directory = TabularDirectory(tmp_path, config)
    directory.accept()
    directory.section("grid", lambda: ({}, {}))
    drawn = []
    stored = json.loads(json.dumps(dataclasses.asdict(config)))
    results = {"config": stored, "points": []}
    directory.write(
        results,
        {"agent0": np.zeros((len(config.taus), 2))},
        {},
        lambda r, path: drawn.append(not (path / "results.json").exists()),
    )
    assert drawn == [True]  # figures before results.json
    assert (tmp_path / "policies.npz").is_file()
    assert not (tmp_path / "crossplay.npz").exists()  # no matrix
    assert not (tmp_path / "sections").exists()
    assert TabularDirectory(tmp_path, config).finished() == results
    with pytest.raises(ConfigError, match="different configuration"):
        TabularDirectory(tmp_path, dataclasses.replace(config, seeds=3)).finished()
