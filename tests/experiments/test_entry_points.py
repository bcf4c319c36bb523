"""One tiny in-process run of each entry point, and their bad-input errors."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from experiments import GC_THRESHOLDS, compare, tabular
from experiments.exact import studies
from tests import ROOT
from tests.tiny_runs import TINY


def run_tabular(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["experiments.tabular", *args])
    tabular.main()


class HostHandler(logging.Handler):
    """A log handler of the process that calls an entry point (pytest's, a
    notebook's), which the entry point must leave open."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.closed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def close(self) -> None:
        self.closed = True
        super().close()


def test_tabular_run_writes_results_policies_and_figure(monkeypatch, tmp_path, capsys):
    host = HostHandler()
    logging.getLogger().addHandler(host)
    try:
        run_tabular(
            monkeypatch, "game=tiny_hanabi_b", *TINY, f"hydra.run.dir={tmp_path}"
        )
    finally:
        logging.getLogger().removeHandler(host)
    # The run logs to the console, its log file and the host's handlers, and
    # closes none of the host's (hydra's logging setup would close them all).
    assert not host.closed and any("wrote" in line for line in host.lines)
    assert "tiny_hanabi_b: wrote" in capsys.readouterr().out
    assert "tiny_hanabi_b: wrote" in (tmp_path / "tabular.log").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["game"] == "tiny_hanabi_b" and results["num_seeds"] == 3
    assert [p["tau"] for p in results["points"]] == [0.0, 1.0]
    for point in results["points"]:
        for key in (
            "sp",
            "xp",
            "xp_se",
            "sp_greedy",
            "xp_greedy",
            "num_conventions",
            "converged",
            "steps",
        ):
            assert key in point
    assert results["config"]["learner"]["steps"] == 20
    assert results["metadata"]["versions"]["jax"]
    policies = np.load(tmp_path / "policies.npz")
    assert policies["agent1"].shape == (2, 3, 4, 2)
    np.testing.assert_allclose(policies["agent0"].sum(-1), 1.0, rtol=1e-5)
    assert np.load(tmp_path / "crossplay.npz")["crossplay"].shape == (2, 3, 3)
    assert (tmp_path / "sp_xp_vs_tau.png").stat().st_size > 0
    assert (tmp_path / ".hydra" / "config.yaml").exists()


def test_a_new_study_is_one_function_and_one_registry_line(monkeypatch, tmp_path):
    def best_grid_point(ctx, grid):  # the study: a function of Context and Grid
        best = max(grid.results["points"], key=lambda point: point["sp"])
        return {"tau": best["tau"], "game": ctx.game.name}, {}

    entry = studies.OptionalStudy(studies.always, best_grid_point)
    monkeypatch.setitem(studies.STUDIES, "best_grid_point", entry)  # the line
    run_tabular(
        monkeypatch,
        "game=tiny_hanabi_b",
        *TINY,
        "studies=[best_grid_point]",
        f"hydra.run.dir={tmp_path}",
    )
    results = json.loads((tmp_path / "results.json").read_text())
    best = max(results["points"], key=lambda point: point["sp"])
    assert results["best_grid_point"] == {"tau": best["tau"], "game": "tiny_hanabi_b"}
    assert "critical_tau" not in results and "other_play" not in results


def test_a_refused_run_leaves_no_directory_behind(monkeypatch, tmp_path, capsys):
    # The default run directory, outputs/tabular/<time>_<game>, is made by hydra
    # before the job starts; a refusal removes it and the empty roots above it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()  # the user's own empty directory stays
    with pytest.raises(SystemExit) as stop:
        run_tabular(monkeypatch, "game=lever", "seeds=1")
    assert stop.value.code == 2
    assert "seeds=1 is impossible" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_tabular_run_from_a_game_file(monkeypatch, tmp_path):
    game_file = tmp_path / "stag.yaml"
    game_file.write_text("name: stag_hunt\npayoff: [[4, 0], [3, 3]]\n")
    out = tmp_path / "run"
    run_tabular(monkeypatch, f"game_file={game_file}", *TINY, f"hydra.run.dir={out}")
    results = json.loads((out / "results.json").read_text())
    assert results["game"] == "stag_hunt" and results["game_file"] == str(game_file)
    assert results["uniqueness_bound"] > 0


def test_sweep_then_compare_gives_one_table(monkeypatch, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    run_tabular(
        monkeypatch,
        "--multirun",
        "game=lever,qmix_two_step",
        *TINY,
        f"hydra.sweep.dir={sweep}",
    )
    assert sorted(p.parent.name for p in sweep.rglob("results.json")) == [
        "0_lever",
        "1_qmix_two_step",
    ]
    capsys.readouterr()  # the sweep's own logs
    assert compare.main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    assert "lever" in printed and "qmix_two_step" in printed
    # Readable in 120 columns, with a legend; every column is in the CSV.
    table = [x for x in printed.splitlines() if not x.startswith("wrote ")]
    assert max(map(len, table)) <= 120, printed
    assert "SP, XP: self-play and cross-play means" in printed
    rows = list(csv.DictReader((sweep / "comparison.csv").open()))
    assert len(rows) == 4 and {r["game"] for r in rows} == {"lever", "qmix_two_step"}
    assert (sweep / "comparison.png").exists()
    assert all(r["unconverged"].isdigit() for r in rows)  # 20 steps: some are
    # A results.json written before "certified" became "converged" reads the same.
    path = sweep / "0_lever" / "results.json"
    text = path.read_text()
    assert '"converged"' in text
    path.write_text(text.replace('"converged"', '"certified"'))
    assert compare.main([str(sweep)]) == 0
    capsys.readouterr()
    assert list(csv.DictReader((sweep / "comparison.csv").open())) == rows


def test_a_sweep_runs_its_good_points_past_a_bad_one(tmp_path):
    """`game=levr,lever`: the typo is reported at once and at the end, the good
    point runs, the bad one leaves no directory, and the sweep exits 2."""
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.tabular",
            "--multirun",
            "game=levr,lever",
            *TINY,
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: job 0 (game=levr") and "unknown game" in lines[0]
    assert lines[-1].startswith("error: 1 job(s) of the sweep failed")
    assert (sweep / "1_lever" / "results.json").is_file()
    assert not (sweep / "0_levr").exists()
    assert "unknown game 'levr'" in (sweep / "failed_jobs.txt").read_text()


def test_compare_skips_a_corrupt_results_file(tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    assert compare.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "skipping" in err and "no readable results.json" in err
    # A path that is not there is named as such.
    assert compare.main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nowhere'} does not exist"


def test_compare_reads_a_crossplay_with_rule_based_partners(tmp_path, capsys):
    # `crossplay --bots` gives each bot a point of its own, with no entropy
    # coefficient; compare once refused the whole file for it.
    committed = ROOT / "docs/results/hanabi_3c3r_crossrun/crossplay/results.json"
    (tmp_path / "xp").mkdir()
    (tmp_path / "xp" / "results.json").write_bytes(committed.read_bytes())
    table, figure = tmp_path / "t.csv", tmp_path / "t.png"
    assert (
        compare.main([str(tmp_path), "--csv", str(table), "--figure", str(figure)]) == 0
    )
    out = capsys.readouterr().out
    assert "skipping" not in out and "bot=iggi" in out and "bot=van_den_bergh" in out
    with table.open() as rows:
        coefs = [row["ent_coef"] for row in csv.DictReader(rows)]
    assert coefs == ["0.01", "0.01", "0.03", "0.1", "", "", "", ""]  # bots last
    assert figure.stat().st_size > 0


PHASE_TINY = [
    "seeds=3",
    "taus=[0,0.5,5]",
    "learner.steps=50",
    "learner.window=50",
    "learner.max_steps=100",
    "critical_tau.rtol=0.5",
    "annealing.steps=50",
    "sampled.steps=10",
    "sampled_taus=[0,5]",
]


@pytest.mark.slow
def test_phase_run_of_a_user_game_file(monkeypatch, tmp_path):
    """A new YAML game gets its symmetry group, tau* and phase diagram, no code."""
    game_file = tmp_path / "rps_coordination.yaml"
    game_file.write_text("name: three_way\npayoff: [[2, 0, 0], [0, 2, 0], [0, 0, 2]]\n")
    out = tmp_path / "run"
    run_tabular(
        monkeypatch,
        "--config-name",
        "phase",
        f"game_file={game_file}",
        *PHASE_TINY,
        f"hydra.run.dir={out}",
    )
    results = json.loads((out / "results.json").read_text())
    assert results["symmetry"]["order"] == 6
    search = results["critical_tau"]
    # The bound (1, the fold of this game) is critically slow: 100 steps do not
    # show agreement there, so the upper end is widened, and the notes say so.
    assert search["upper_source"] == "the uniqueness bound"
    assert search["upper_verdict"]["status"] == "agree"
    assert search["lower"] < search["tau_star"] == search["upper"]
    assert search["tau_star"] <= 1.0 or any("widened" in n for n in search["notes"])
    assert {r["grad_noise"] for r in results["annealing"]} == {0.0, 0.001}
    assert [p["tau"] for p in results["sampled"]["points"]] == [0.0, 5.0]
    assert len(results["other_play"]["points"]) == 3
    for point in results["points"]:
        assert {
            "equivariance_error",
            "equivariance_error_greedy_ties",
            "other_play_value",
        } <= set(point)
    assert (out / "phase_diagram.png").stat().st_size > 0

    # Interrupted (Ctrl-C) in its tau* search, then, resumed, in its annealing:
    # each time the finished sections are kept, and the last resume ends where
    # the uninterrupted run above ended.
    interrupted = tmp_path / "interrupted"

    def interrupt(ctx, grid):
        raise KeyboardInterrupt

    phase = ["--config-name", "phase", f"game_file={game_file}", *PHASE_TINY]
    for section, resume, kept in (
        ("critical_tau", "false", ["grid"]),
        ("annealing", "true", ["critical_tau", "grid", "other_play"]),
    ):
        with monkeypatch.context() as patch:
            entry = studies.STUDIES[section]
            patch.setitem(studies.STUDIES, section, entry._replace(run=interrupt))
            with pytest.raises(SystemExit) as stopped:
                run_tabular(
                    monkeypatch,
                    *phase,
                    f"resume={resume}",
                    f"hydra.run.dir={interrupted}",
                )
        assert stopped.value.code == 130
        names = sorted(p.name for p in (interrupted / "sections").iterdir())
        assert names == sorted(f"{k}.{x}" for k in kept for x in ("json", "npz"))
        assert not (interrupted / "results.json").exists()
    run_tabular(monkeypatch, *phase, "resume=true", f"hydra.run.dir={interrupted}")
    resumed = json.loads((interrupted / "results.json").read_text())
    assert "finished section 'grid'" in (interrupted / "tabular.log").read_text()
    assert not (interrupted / "sections").exists()
    for run in (resumed, results):  # wall-clock times differ between runs
        unique = run["critical_tau"]["uniqueness"]
        for timed in (unique, *unique["attempts"]):
            timed.pop("seconds", None)
        unique.pop("trace_seconds")
    for name in ("points", "critical_tau", "other_play", "annealing", "sampled"):
        assert resumed[name] == results[name], name
    for name in ("policies.npz", "crossplay.npz"):
        want, got = np.load(out / name), np.load(interrupted / name)
        assert sorted(want.files) == sorted(got.files)
        for key in want.files:
            np.testing.assert_array_equal(got[key], want[key])


def _repeated_defaults(own: dict, parent: dict, prefix: str = "") -> list[str]:
    """The keys of `own` whose values equal what `parent` already gives."""
    repeated = []
    for key, value in own.items():
        if key in ("defaults", "hydra") or key not in parent:
            continue
        if isinstance(value, dict) and isinstance(parent[key], dict):
            repeated += _repeated_defaults(value, parent[key], f"{prefix}{key}.")
        elif value == parent[key]:
            repeated.append(f"{prefix}{key}={value}")
    return repeated


def _inherited(name: str) -> dict:
    """What conf/<name>.yaml inherits: its schema, then the confs its defaults
    list names, each composed the same way."""
    from omegaconf import OmegaConf

    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.exact.tabular_config import TabularConfig
    from experiments.harness.compose import writable

    schema = IPPORunConfig if name == "ippo" else TabularConfig
    config = writable(OmegaConf.structured(schema))
    for entry in _own(name).get("defaults", []):
        if isinstance(entry, str) and (ROOT / "conf" / f"{entry}.yaml").exists():
            own = {
                k: v for k, v in _own(entry).items() if k not in ("defaults", "hydra")
            }
            config = OmegaConf.merge(config, _inherited(entry), own)
    return OmegaConf.to_container(config, resolve=False)


def _own(name: str) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / f"{name}.yaml"))


@pytest.mark.parametrize("name", ["tabular", "phase", "benchmark_phase", "ippo"])
def test_base_configs_hold_only_what_differs_from_what_they_inherit(name):
    # Presets, which pin every value of a published experiment, are exempt.
    assert _repeated_defaults(_own(name), _inherited(name)) == []


def test_help_lists_what_to_run_and_every_field_with_its_meaning(monkeypatch, capsys):
    import games
    from experiments import ippo

    for module, argv in ((tabular, ["--help"]), (ippo, ["-h"])):
        monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
        with pytest.raises(SystemExit) as done:
            module.main()
        assert done.value.code == 0
    tabular_help, ippo_help = capsys.readouterr().out.split("usage: python -m ")[1:]
    assert all(name in tabular_help for name in games.CATALOGUE)
    assert "${" not in tabular_help  # the learner's defaults are explained
    assert "learner.steps = the game's default" in tabular_help
    assert "critical_tau.rtol = 0.02\n      Relative width" in tabular_help
    assert "other_play, other_weighting" in tabular_help
    assert "hanabi, overcooked" in ippo_help and "hanabi_paper_full" in ippo_help
    assert "ent_coefs = [0.01]\n      Entropy coefficients" in ippo_help
    assert "ippo.gae_lambda = 0.95\n      GAE's lambda" in ippo_help
    assert "env=" not in tabular_help  # the IPPO groups are not the tabular's


@pytest.mark.parametrize(
    ("game", "taus", "bracket", "starts"),
    [
        # climbing's bracket (8.21, 8.28]; starts: 8 seeds, uniform, 9 pure.
        ("climbing", "[1,5,10]", (8.2, 8.3), 8 + 1 + 9),
        # tiny Hanabi B, a Dec-POMDP: (0.297, 0.301]; 64 pure starts.
        ("tiny_hanabi_b", "[0.1,0.2,0.5]", (0.29, 0.31), 8 + 1 + 64),
    ],
)
def test_tau_star_is_proven_at_both_ends(
    monkeypatch, tmp_path, game, taus, bracket, starts
):
    """At the upper end every seed is proven (interval Krawczyk) at one and
    the same fixed point, at the lower end two distinct fixed points are
    proven; the search's tolerances are recorded."""
    run_tabular(
        monkeypatch,
        f"game={game}",
        "seeds=8",
        f"taus={taus}",
        "studies=[critical_tau]",
        f"hydra.run.dir={tmp_path}",
    )
    found = json.loads((tmp_path / "results.json").read_text())["critical_tau"]
    assert bracket[0] < found["lower"] < found["upper"] < bracket[1]
    proven = found["proven_ends"]
    assert proven["upper_agreement_proven"] and proven["lower_disagreement_proven"]
    assert proven["upper"]["proven"] == 8 and proven["upper"]["one_fixed_point"]
    assert proven["lower"]["distinct_fixed_points"] >= 2
    assert not proven["lower_agreement_proven"]
    assert proven["upper"]["largest_distance"] < 1e-4
    assert found["tolerances"]["convention_tol"] == 1e-3
    assert found["tolerances"]["policy_tol"] == 1e-5
    assert found["upper_verdict"]["near_tolerance"] is False
    # The targeted search from the conventions below, the uniform and every
    # softened pure start finds no second fixed point at the upper end nor at
    # the grid's next tau.
    searches = proven["uniqueness_search"]
    next_tau = min(t for t in json.loads(taus) if t > found["upper"])
    assert [s["tau"] for s in searches] == [found["upper"], next_tau]
    assert not any(s["second_fixed_point"] for s in searches)
    # The tracer's branches start it too where they cross.
    assert searches[0]["starts"] == starts + searches[0]["branch_starts"]
    assert searches[0]["settled"] + searches[0]["unsettled"] == searches[0]["starts"]
    # tau_unique beside it: a fold's bracket, its lower end proven by two
    # distinct fixed points; its upper end proven over the whole policy space
    # on the matrix game only.
    unique = found["uniqueness"]
    assert unique["lower"] < unique["estimate"] < unique["upper"]
    assert unique["lower_proven"] and unique["folds"]
    assert unique["upper_proven"] == (game == "climbing")


ENTRY_POINTS = sorted(
    path.stem
    for path in (ROOT / "experiments").glob("*.py")
    if path.stem != "__init__" and "__main__" in path.read_text()
)


@pytest.mark.parametrize("name", ENTRY_POINTS)
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_every_entry_points_help_prints_and_exits_zero(name, monkeypatch, capsys):
    # argparse formats help strings with %: a bare "0.5%" once ended
    # crossplay's --help in a traceback.
    import runpy

    monkeypatch.setattr(sys, "argv", [f"experiments.{name}", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"experiments.{name}", run_name="__main__")
    assert done.value.code in (0, None)
    assert "usage" in capsys.readouterr().out.lower()


@pytest.mark.parametrize(
    "config_name", sorted(p.stem for p in (ROOT / "conf").glob("*.yaml"))
)
def test_no_config_of_the_lab_sets_hydras_mode(config_name):
    """The premise of `entry.mode_from_the_command_line` (which skips hydra's
    composition that only reads `hydra.mode`): conf/'s files leave it unset."""
    from hydra import compose, initialize_config_dir

    from experiments.deep.ippo_runs import register_schemas as register_ippo_schemas
    from experiments.exact.tabular_config import register_schemas
    from experiments.harness.compose import CONF_DIR

    register_schemas()
    register_ippo_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose(config_name, return_hydra_config=True)
    assert cfg.hydra.mode is None


def test_hydras_mode_set_on_the_command_line_is_hydras_to_read(monkeypatch, tmp_path):
    """`hydra.mode=MULTIRUN` without `--multirun` sweeps, as hydra reads it; a run
    leaves hydra's `get_mode` as it found it."""
    from hydra._internal.hydra import Hydra

    from experiments.harness.entry import mode_from_the_command_line

    original = Hydra.get_mode
    sweep = tmp_path / "sweep"
    run_tabular(
        monkeypatch,
        "hydra.mode=MULTIRUN",
        "game=lever",
        *TINY,
        f"hydra.sweep.dir={sweep}",
    )
    assert [p.parent.name for p in sweep.rglob("results.json")] == ["0_lever"]
    assert Hydra.get_mode is original
    with mode_from_the_command_line(["game=lever"]):
        assert Hydra.get_mode is not original
    for argv in (["hydra.mode=RUN"], ["--config-dir", "mine"], ["-cp", "mine"]):
        with mode_from_the_command_line(argv):
            assert Hydra.get_mode is original
    assert Hydra.get_mode is original


def test_an_entry_points_process_collects_garbage_at_the_labs_thresholds():
    """`python -m experiments.<name>` and the `zsc-*` scripts raise Python's
    garbage-collection thresholds before anything is imported (tracing's
    short-lived objects); another program importing the package keeps its own."""
    probe = "import gc, sys; sys.argv[0] = {!r}; import experiments; "
    probe += "print(gc.get_threshold())"
    found = {
        first: subprocess.run(
            [sys.executable, "-c", probe.format(first)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for first in ("-m", "/usr/bin/zsc-ippo", "notebook.py")
    }
    default = subprocess.run(
        [sys.executable, "-c", "import gc; print(gc.get_threshold())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found["-m"] == found["/usr/bin/zsc-ippo"] == str(GC_THRESHOLDS)
    assert found["notebook.py"] == default != str(GC_THRESHOLDS)
