"""`python -m experiments.estimate`: a planned run's sizes, XLA's memory analysis
of one compiled chunk, its throughput and projected wall time, the jobs of a
sweep, and its one-line errors; in process, tiny."""

from __future__ import annotations

import json

import jax
import pytest

from experiments import estimate
from experiments.deep.ippo_runs import trainer_of
from marl.deep.ippo import seed_keys

# 6 tiny updates, 2 seeds x 2 coefs
from tests.experiments.test_ippo_entry_point import TINY


def test_estimate_sizes_memory_and_measured_rate_of_one_run():
    plan = estimate.estimate(TINY, measure=True, chunks=1)
    assert plan["num_jobs"] == 1 and len(plan["shapes"]) == 1
    shape = plan["shapes"][0]
    assert shape["runs"] == 4 and shape["env_steps_per_update"] == 64
    assert shape["env_steps_per_run"] == 6 * 64
    assert plan["env_steps"] == shape["env_steps_per_job"] == 4 * 6 * 64

    # eval_shape's size is the size of the real state.
    config = estimate.job_config(TINY)
    trainer = trainer_of(config)
    state = trainer.init(seed_keys(0, 2), 2)
    assert shape["state_bytes"] == estimate.tree_bytes(state)
    assert shape["checkpoint_bytes_per_seed"] == shape["state_bytes"] // 2
    assert shape["state_bytes"] == sum(
        x.nbytes
        for x in jax.tree.leaves(
            jax.tree.map(
                lambda x: (
                    jax.random.key_data(x)
                    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                    else x
                ),
                state,
            )
        )
    )

    memory = shape["memory"]
    if memory is not None:  # CPU and GPU backends report it
        # The arguments are the state and the coefficients.
        assert memory["argument"] >= shape["state_bytes"]
        assert memory["peak"] >= memory["argument"] + memory["output"] - memory["alias"]
    measured = shape["measured"]
    assert measured["steps_per_second"] > 0 and measured["updates_per_chunk"] == 2
    job = plan["jobs"][0]
    assert job["seconds"] == pytest.approx(
        plan["env_steps"] / measured["steps_per_second"]
    )
    assert plan["wall_seconds"] == pytest.approx(job["seconds"])


def test_estimate_expands_a_sweep_as_hydra_does():
    # The preset's sweep (hydra.sweeper.params) without compiling anything.
    jobs = estimate.planned_jobs(["preset=hanabi_paper_full"], multirun=True)
    assert jobs == [
        ["ippo.gae_lambda=0.9", "preset=hanabi_paper_full"],
        ["ippo.gae_lambda=0.95", "preset=hanabi_paper_full"],
    ]
    # Jobs that differ only in numbers share one compiled estimate.
    sweep = [*TINY[2:], "seeds=2", "ent_coefs=[0.01],[0.1]", "ippo.gae_lambda=0.9,0.95"]
    plan = estimate.estimate(sweep, multirun=True, rate=1000.0, parallel=2)
    assert plan["num_jobs"] == 4 and len(plan["shapes"]) == 1
    assert [j["shape"] for j in plan["jobs"]] == [0, 0, 0, 0]
    per_job = 2 * 6 * 64
    assert plan["env_steps"] == 4 * per_job
    assert plan["job_seconds_total"] == pytest.approx(4 * per_job / 1000)
    assert plan["wall_seconds"] == pytest.approx(2 * per_job / 1000)


def test_sweeps_expand_as_hydras_own_basic_sweeper():
    """`expand_sweeps` (hydra's public Override API) gives the jobs of hydra's
    basic sweeper (its internal `split_arguments`, read here only to compare),
    in its order: ranges, choices, glob-free lists, a key given twice."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for lines in (
        ["seeds=1,2", "ippo.lr=0.1,0.2,0.3", "env.preset=Hanabi-Small"],
        ["ent_coefs=[0.01],[0.1]", "seeds=range(1,4)", "seeds=5,6"],
        ["+foo=choice(a,b)", "name=x"],
        ["seeds=3"],
    ):
        parsed = parser.parse_overrides(lines)
        ours = estimate.expand_sweeps(parsed)
        assert ours == BasicSweeper.split_arguments(parsed, None)[0], lines


def test_estimate_says_how_many_updates_fit_in_minutes():
    # TINY: 4 runs x 64 env steps per update, 6 updates in all.
    plan = estimate.estimate(TINY, rate=256.0 * 60, minutes=0.0625)
    job = plan["jobs"][0]
    # 3.75 s at 15,360 steps/s over the job = 57,600 steps = 225 updates; capped
    # at the run's 6.
    assert job["updates_within"] == 6
    plan = estimate.estimate(TINY, rate=256.0, minutes=3.5 / 60)
    job = plan["jobs"][0]
    assert job["updates_within"] == 3 and job["env_steps_per_run_within"] == 3 * 64
    assert estimate.updates_within(4.0, 256.0, 256) == 4
    assert estimate.updates_within(3.99, 256.0, 256) == 3


def test_schedule_seconds_fills_the_free_slots_longest_first():
    assert estimate.schedule_seconds([3.0, 3.0, 3.0], 2) == 6.0
    assert estimate.schedule_seconds([4.0, 1.0, 1.0, 1.0, 1.0], 2) == 4.0
    assert estimate.schedule_seconds([2.0], 8) == 2.0


def test_estimate_command_prints_the_plan_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert estimate.main([*TINY, "--rate", "500", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 runs" in printed and "1 job, 1,536 env steps in all" in printed
    assert "projected at the given rate" in printed
    assert estimate.main([*TINY, "--rate", "256", "--minutes", "0.05"]) == 0
    assert "in 0.05 min: 3 updates (192 env steps per run)" in capsys.readouterr().out
    assert json.loads(out.read_text())["jobs"][0]["seconds"] == pytest.approx(
        1536 / 500
    )

    for argv, expected in (  # the options' own checks exit, as argparse's do
        (["--chunks", "0"], "--chunks=0 must be >= 1"),
        (["--measure-updates", "0"], "--measure-updates=0 must be >= 1"),
        (["--parallel", "-1"], "--parallel=-1 must be >= 1"),
        (["--rate", "0"], "--rate=0.0 must be > 0"),
        (["--rate", "nan"], "--rate=nan must be > 0"),
        (["--minutes", "0", "--rate", "1"], "--minutes=0.0 must be > 0"),
    ):
        with pytest.raises(SystemExit) as stop:
            estimate.main(argv)
        assert stop.value.code == 2
        errors = capsys.readouterr().err.strip().splitlines()
        assert errors == [f"error: {expected} (see --help)"], errors
    for argv, expected in (
        (["ippo.seed=0,1"], "pass --multirun"),
        (["--minutes", "1"], "--minutes needs a rate"),
        (["ippo.num_minibatches=3"], "ippo.num_minibatches=3"),
        (["no_such_field=1"], "no_such_field"),
    ):
        assert estimate.main(argv) == 2
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and expected in errors[0], errors
