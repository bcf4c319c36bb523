"""Runs split over devices (marl/sharding.py): the layout planner and padding in
process; then tabular training, IPPO and cross-play on 4 simulated CPU devices
against the same computations on one device, and on 2 processes of 2 devices
against one process of 4 (tests/sharded_runs.py, in processes of their own
because XLA_FLAGS must be set before JAX starts)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from experiments.harness.processes import COORDINATOR, NUM_PROCESSES, PROCESS_ID
from marl.sharding import pad_axis, plan_grid, runs_mesh, sharded_map, take_axis
from marl.tabular.exact_pg import ExactPGConfig, make_exact_pg
from marl.trainer import make_trainer
from tests import ROOT

SCRIPT = "tests.sharded_runs"
DEVICE_FLAG = "--xla_force_host_platform_device_count"
# Float rounding only: XLA simplifies the partitioned program a little
# differently (e.g. x / c against x * (1 / c)) and its CPU matrix kernels round
# differently for different batch sizes (docs/scaling.md, "Same results").
RTOL, ATOL = 1e-5, 1e-6


@pytest.mark.parametrize(
    ("devices", "sweep", "seeds", "plan"),
    [
        (1, 5, 4, (1, 4)),  # one device: nothing to do
        (4, 2, 8, (1, 8)),  # D divides S: the seeds alone, no padding
        (4, 2, 6, (2, 6)),  # 2 x 2 devices, no padding
        (4, 2, 3, (1, 4)),  # 3 seeds padded to 4 (as little work as 2 x 2)
        (4, 4, 5, (4, 5)),  # the sweep axis alone: 20 runs, none padded
        (8, 5, 4, (1, 8)),  # 5 does not split: 4 seeds padded to 8
        (4, 1, 9, (1, 12)),
    ],
)
def test_plan_grid_splits_seeds_then_the_sweep_axis_then_pads(
    devices, sweep, seeds, plan
):
    assert plan_grid(devices, sweep, seeds) == plan


def test_pad_axis_wraps_around_and_take_axis_drops_the_padding():
    x = jnp.arange(6).reshape(2, 3)
    padded = pad_axis(x, 1, 5)
    np.testing.assert_array_equal(padded, [[0, 1, 2, 0, 1], [3, 4, 5, 3, 4]])
    np.testing.assert_array_equal(take_axis(padded, 1, 3), x)
    keys = jax.random.split(jax.random.key(0), 3)
    padded_keys = pad_axis({"k": keys}, 0, 4)["k"]  # PRNG keys pad the same way
    np.testing.assert_array_equal(
        jax.random.key_data(padded_keys),
        jax.random.key_data(keys[np.array([0, 1, 2, 0])]),
    )


def test_one_device_traces_no_sharding_and_sharded_map_is_lax_map():
    """On one device the programs are the unsharded ones: no sharding constraint
    is traced, and `sharded_map` is `lax.map` (remainder batch included)."""
    one = runs_mesh(jax.devices()[:1])
    trainer = make_trainer(
        make_exact_pg(games.make("tiny_hanabi_c"), ExactPGConfig(steps=2)), one
    )
    keys = jax.random.split(jax.random.key(0), 3)
    states = trainer.init(keys, 2)
    traced = str(jax.make_jaxpr(trainer.run)(states, jnp.zeros((2, 2))))
    assert "sharding_constraint" not in traced
    xs = jnp.arange(9.0)
    np.testing.assert_array_equal(
        sharded_map(jnp.sin, xs, mesh=one, batch_size=4),
        jax.lax.map(jnp.sin, xs, batch_size=4),
    )


def _env(devices: int, process: str | None = None) -> dict[str, str]:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if DEVICE_FLAG not in f]
    if devices > 1:
        flags.append(f"{DEVICE_FLAG}={devices}")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join(flags)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID):
        env.pop(name, None)
    if process is not None:
        index, count, port = process.split(",")
        env.update(
            {
                COORDINATOR: f"127.0.0.1:{port}",
                NUM_PROCESSES: count,
                PROCESS_ID: index,
            }
        )
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every run of tests/sharded_runs.py, started at once: 'four' (one process,
    4 devices), 'one' (no flag: 1 device) and 'two_processes' (2 x 2 devices
    under jax.distributed, one tabular grid only, to stay quick)."""
    out = tmp_path_factory.mktemp("sharded_runs")
    port = _free_port()
    jobs = {
        "four": [(_env(4), [])],
        "one": [(_env(1), [])],
        "two_processes": [
            (_env(2, f"{p},2,{port}"), ["tabular:seeds"]) for p in (0, 1)
        ],
    }
    started = {
        name: [
            subprocess.Popen(
                # As a module from the root: tests/ on the path would shadow the
                # packages with the test folders of the same names.
                [sys.executable, "-m", SCRIPT, str(out / f"{name}.npz"), *parts],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for env, parts in specs
        ]
        for name, specs in jobs.items()
    }
    results: dict[str, Any] = {}
    for name, processes in started.items():
        outputs = [p.communicate(timeout=600) for p in processes]
        failed = [
            err for p, (_, err) in zip(processes, outputs, strict=True) if p.returncode
        ]
        results[name] = {"error": "\n".join(e[-3000:] for e in failed)}
        if not failed:
            results[name]["info"] = json.loads(outputs[0][0].splitlines()[-1])
            results[name]["arrays"] = dict(np.load(out / f"{name}.npz"))
    return results


def _get(runs: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    run = runs[name]
    assert not run["error"], f"tests/sharded_runs.py ({name}) failed:\n{run['error']}"
    return run["info"], run["arrays"]


def _assert_same(got: np.ndarray, want: np.ndarray, name: str) -> None:
    """Exact for integers, booleans and keys; floats to within rounding."""
    if np.issubdtype(want.dtype, np.floating):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.slow
def test_four_simulated_devices_are_seen_and_one_without_the_flag(runs):
    four, _ = _get(runs, "four")
    one, _ = _get(runs, "one")
    assert four["devices"] == 4 and four["mesh"] == {"runs": 4}
    assert one["devices"] == 1 and one["mesh"] == {"runs": 1}


@pytest.mark.parametrize(
    ("grid", "spec", "pieces"),
    [
        ("seeds", "P(None, 'seeds')", 4),  # 8 seeds x 2 taus: 2 seeds per device
        ("sweep", "P('sweep', 'seeds')", 4),  # 6 seeds x 2 taus: 2 x 2 devices
        ("padded", "P()", 1),  # 3 seeds padded to 4; the output is gathered
    ],
)
def test_tabular_training_on_four_devices_matches_one_device(runs, grid, spec, pieces):
    info, arrays = _get(runs, "four")
    _, reference = _get(runs, "one")
    for stage in ("", "_after_first_chunk"):
        where = info[f"tabular_{grid}{stage}"]
        assert where["devices"] == 4 and where["addressable_shards"] == 4
        assert where["spec"] == spec and where["pieces"] == pieces
    # A state gone to the host and back between chunks (a checkpoint) continues
    # bit-identically.
    assert info[f"tabular_{grid}_reload_exact"]
    names = [k for k in reference if k.startswith(f"tabular_{grid}_")]
    assert len(names) == 3  # both agents' logits and the gradient norms
    for name in names:
        assert not np.array_equal(arrays[name], 0 * arrays[name])
        _assert_same(arrays[name], reference[name], name)


def test_ippo_on_four_devices_matches_one_device(runs):
    """2 seeds x 2 entropy coefficients split 2 x 2; every leaf of the state
    (parameters, Adam, games, keys) and of the metrics, after two chunks."""
    info, arrays = _get(runs, "four")
    _, reference = _get(runs, "one")
    for name in ("ippo_params", "ippo_metrics"):
        assert info[name]["spec"] == "P('sweep', 'seeds')"
        assert info[name]["pieces"] == 4 and info[name]["addressable_shards"] == 4
    names = [k for k in reference if k.startswith("ippo_")]
    assert len(names) > 20
    for name in names:
        _assert_same(arrays[name], reference[name], name)


def test_crossplay_of_nine_pairs_on_four_devices_equals_one_device(runs):
    info, arrays = _get(runs, "four")
    _, reference = _get(runs, "one")
    assert info["crossplay_partitions"] == 1  # one program for 4 partitions
    assert info["crossplay"]["devices"] == 4
    scores = arrays["crossplay"]
    assert scores.shape == (3, 3, 48) and scores.any()
    np.testing.assert_array_equal(scores, reference["crossplay"])


def test_two_processes_of_two_devices_equal_one_process_of_four(runs):
    """jax.distributed on localhost: the mesh spans both processes' devices and
    the partitioned program, hence every result, is the one of 4 local devices."""
    info, arrays = _get(runs, "two_processes")
    _, four = _get(runs, "four")
    assert (info["processes"], info["devices"], info["local_devices"]) == (2, 4, 2)
    # The trainers' outputs come back whole to every process (gathered across
    # processes, marl.sharding.across_processes): one piece, on each device.
    assert info["tabular_seeds"]["pieces"] == 1
    assert info["tabular_seeds"]["addressable_shards"] == 2
    assert info["tabular_seeds_reload_exact"]
    assert sorted(arrays) == [f"tabular_seeds_{k}" for k in range(3)]
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, four[name], err_msg=name)
