"""scripts/gpu_grid.py without a GPU: its summaries recomputed from the committed
runs (docs/results/hanabi_3c3r_gpu*), its plans' order, and its cross-play lane,
which waits for agents while their run trains and skips them once it has ended
without them; and both GPU scripts' refusal of an impossible budget."""

from __future__ import annotations

import importlib
import json
import shutil
import threading

import pytest

from experiments.deep import grid_plans
from scripts import gpu_grid
from tests import ROOT

RESULTS = ROOT / "docs" / "results"


@pytest.mark.parametrize(
    ("folder", "plan"), [("hanabi_3c3r_gpu", "grid"), ("hanabi_3c3r_gpu_more", "more")]
)
def test_the_committed_summary_is_what_the_committed_runs_say(tmp_path, folder, plan):
    script = gpu_grid
    work = tmp_path / "work"
    shutil.copytree(RESULTS / folder, work)
    committed = json.loads((work / "summary.json").read_text())
    sizes = grid_plans.SIZES["full"]
    summary = script.summarize(work, grid_plans.PLANS[plan](sizes, work), [])
    assert summary["runs"] == committed["runs"]
    assert len(summary["table"]) == len(committed["table"])
    for mine, theirs in zip(summary["table"], committed["table"], strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            if isinstance(value, float):
                assert value == pytest.approx(theirs[key], rel=1e-12), key
            else:
                assert value == theirs[key], key
    # and summary.md's table rows are the markdown of that table
    markdown = script.markdown({**committed, **summary})
    rows = [line for line in markdown.splitlines() if line.startswith("| grid_")]
    assert rows and all(row in (work / "summary.md").read_text() for row in rows)


def test_every_evaluation_is_of_runs_the_plan_trains(tmp_path):
    for size in ("full", "tiny"):
        for make in grid_plans.PLANS.values():
            plan = make(grid_plans.SIZES[size], tmp_path)
            order = [run["name"] for run in plan["runs"]]
            assert all(r in order for ev in plan["evaluations"] for r in ev["runs"])
            # a run's milestones in the order it makes them
            for run in order:
                steps = [
                    ev["step"] for ev in plan["evaluations"] if ev["runs"] == [run]
                ]
                assert steps == sorted(steps, key=lambda s: (s is None, s or 0))
            shares = [run["by"] for run in plan["runs"]]
            assert shares == sorted(shares) and shares[-1] < 1


def test_only_keeps_the_named_runs_and_the_evaluations_of_them_alone(tmp_path):
    script = gpu_grid
    parser = script.argparse.ArgumentParser()
    plan = grid_plans.PLANS["grid"](grid_plans.SIZES["tiny"], tmp_path)
    cut = script.only(plan, ["grid"], parser)
    assert [run["name"] for run in cut["runs"]] == ["grid"]
    # the switch's evaluation also needs the switch runs: not kept
    assert cut["evaluations"] and all(
        ev["runs"] == ["grid"] for ev in cut["evaluations"]
    )
    with pytest.raises(SystemExit):
        script.only(plan, ["grid", "nope"], parser)


class StubPhases:
    """Records the evaluations the lane starts instead of running them."""

    def __init__(self, work):
        self.work, self.records, self.stopping, self.started = work, [], False, []

    def run(self, name, argv, deadline):
        self.started.append(name)
        self.records.append({"phase": name, "status": "ok"})


def test_the_crossplay_lane_waits_for_agents_and_skips_those_never_made(
    tmp_path, monkeypatch
):
    script = gpu_grid
    monkeypatch.setattr(script, "POLL_SECONDS", 0.1)  # the wait, not its period
    plan = {
        "runs": [{"name": "a"}, {"name": "b"}],
        "evaluations": [
            {"name": "a_2", "runs": ["a"], "step": 2},
            {"name": "a_4", "runs": ["a"], "step": 4},  # a stops before update 4
            {"name": "b_2", "runs": ["b"], "step": 2},
        ],
    }
    for run in ("a", "b"):
        (tmp_path / run / "checkpoints" / "0").mkdir(parents=True)
    phases = StubPhases(tmp_path)
    trained: list[dict] = []
    done = threading.Event()
    lane = threading.Thread(
        target=script.crossplay_lane,
        args=(phases, script.Budget(60), grid_plans.SIZES["tiny"], plan, trained, done),
    )
    lane.start()

    def checkpoint(run, step):
        (tmp_path / run / "checkpoints" / "0" / f"step_{step:09d}.npz").touch()

    checkpoint("a", 2)
    lane.join(timeout=1)  # waiting for a's update 4 while a trains
    assert lane.is_alive() and phases.started == ["xp_a_2"]
    trained.append({"phase": "a", "status": "stopped at its deadline"})
    checkpoint("b", 2)
    trained.append({"phase": "b", "status": "ok"})
    done.set()
    lane.join(timeout=10)
    assert not lane.is_alive()
    assert phases.started == ["xp_a_2", "xp_b_2"]
    assert {"phase": "xp_a_4", "status": "skipped"} in phases.records


def test_the_screen_is_hanabi_3c3r_with_one_change_each_and_valid_sizes(tmp_path):
    """Issue 57's screen: every run composes with the lab's config (hydra), is
    8 seeds at entropy 0.01 for 304 updates of 8,192 env steps, differs from
    hanabi_3c3r_cpu in its size only, and makes a Hanabi of HLE's rules."""
    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.harness.compose import compose_config

    plan = grid_plans.screen_plan(grid_plans.SIZES["full"], tmp_path)
    assert [r["name"] for r in plan["runs"]] == [
        f"screen_{n}" for n in grid_plans.SCREEN
    ]
    assert all(ev["keep"] for ev in plan["evaluations"])
    games = set()
    base = compose_config("ippo", ["preset=hanabi_3c3r_cpu"], IPPORunConfig)
    for run in plan["runs"]:
        config = compose_config("ippo", run["argv"], IPPORunConfig)
        assert config.seeds == 8 and config.ent_coefs == [0.01]
        updates = config.ippo.total_timesteps // (256 * 32)
        assert updates == 304 and config.ippo == base.ippo.__class__(
            **{**base.ippo.__dict__, "total_timesteps": 2490368}
        )
        env = config.environment
        assert env.symmetries.size >= 6  # at least 3 colors
        games.add((env.title, env.num_players))
    assert len(games) == len(grid_plans.SCREEN)  # every size a different game


def test_the_prereg_plan_runs_the_registered_commands(tmp_path):
    """docs/studies/hanabi_3c3r_preregistered.md names the runs and their one
    cross-play before they exist; the plan runs those and nothing else (and a
    run already complete in --work, trained elsewhere, is not trained again)."""
    plan = grid_plans.prereg_plan(grid_plans.SIZES["full"], tmp_path)
    for root, run in enumerate(plan["runs"]):
        registered = [
            "preset=hanabi_3c3r_cpu",
            "ent_coefs=[0.01,0.1]",
            f"ippo.seed={root}",
            "resume=auto",
        ]
        assert run["argv"] == registered
    (ev,) = plan["evaluations"]
    assert ev["runs"] == ["prereg_0", "prereg_1", "prereg_2"]
    assert ev["step"] == 1200 and ev["crossplay"] == ["--games", "2000"]
    doc = (ROOT / "docs" / "studies" / "hanabi_3c3r_preregistered.md").read_text()
    doc = " ".join(doc.split())
    assert "'ent_coefs=[0.01,0.1]' ippo.seed=R resume=auto" in doc
    assert "<the three run dirs> --games 2000" in doc


def test_the_symmetry_grid_composes_and_cross_plays_every_milestone(tmp_path):
    """Issue 57 item 2's plan: both runs compose with the lab's config (16
    seeds of the screen's chosen size, milestones kept), and every milestone of
    each run is cross-played once."""
    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.harness.compose import compose_config

    sizes = grid_plans.SIZES["full"]
    plan = grid_plans.symmetry_grid_plan(sizes, tmp_path)
    grid, op = (
        compose_config("ippo", run["argv"], IPPORunConfig) for run in plan["runs"]
    )
    (screened,) = (
        compose_config("ippo", run["argv"], IPPORunConfig)
        for run in grid_plans.screen_plan(sizes, tmp_path)["runs"]
        if run["name"] == f"screen_{grid_plans.CHOSEN}"
    )
    assert screened.environment.title == grid.environment.title
    assert grid.seeds == op.seeds == 16
    assert grid.ent_coefs == [0.01, 0.03, 0.1, 0.3] and op.ent_coefs == [0.01]
    assert op.ippo.other_play and not grid.ippo.other_play
    assert grid.environment.symmetries.size == 6  # 3 colors
    updates = grid.ippo.total_timesteps // (grid.ippo.num_envs * grid.ippo.num_steps)
    milestones = sizes["symmetry_milestones"]
    assert updates == 1200 == milestones[-1]
    assert all(m % grid.keep_every == 0 for m in milestones)
    made = [(ev["runs"][0], ev["step"]) for ev in plan["evaluations"]]
    assert made == [(r, m) for r in ("sym16", "sym16_op") for m in milestones]
    # the CPU variant trains the same runs and cross-plays the same milestones
    # under other names, with fixed, smaller game counts
    cpu = grid_plans.symmetry_grid_cpu_plan(sizes, tmp_path)
    assert cpu["runs"] == plan["runs"]
    assert [(ev["runs"], ev["step"]) for ev in cpu["evaluations"]] == [
        (ev["runs"], ev["step"]) for ev in plan["evaluations"]
    ]
    assert all(ev["name"].endswith("_cpu") for ev in cpu["evaluations"])
    assert all(
        ev["crossplay"] == ["--games", "64", "--symmetry-games", "500"]
        for ev in cpu["evaluations"]
    )


@pytest.mark.parametrize("module", ["gpu_grid", "gpu_hanabi"])
@pytest.mark.parametrize("minutes", ["0", "-1", "inf", "nan"])
def test_the_gpu_scripts_refuse_an_impossible_budget_in_one_line(
    tmp_path, capsys, module, minutes
):
    """The lab's parser, as every entry point's: exit 2, one line, nothing made."""
    script = importlib.import_module(f"scripts.{module}")
    with pytest.raises(SystemExit) as stop:
        script.main(["--out", str(tmp_path / "out"), "--minutes", minutes])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: --minutes={float(minutes)} must be > 0 (see --help)\n"
    assert not (tmp_path / "out").exists()
