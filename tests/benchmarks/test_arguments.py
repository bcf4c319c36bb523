"""Every benchmark refuses an impossible setting in one line (exit status 2,
`experiments.harness.arguments.ArgumentParser`), before it runs or writes
anything: no traceback from inside JAX, NumPy or a game's compilation. Each case
above the last block was a traceback (or a silent run) before its parser
checked it."""

from __future__ import annotations

import importlib

import pytest

CASES = [
    ("fixed_points", ["--seeds", "0"], "--seeds=0 must be >= 1"),
    ("fixed_points", ["--window", "0"], "--window=0 must be >= 1"),
    ("fixed_points", ["--policy-tol", "-1"], "--policy-tol=-1.0 must be > 0"),
    ("fixed_points", ["--budget", "flow=10,adam=x"], "'adam=x' is not LEARNER=STEPS"),
    ("fixed_points", ["--budget", "flow=10"], "no budget for adam, npg"),
    ("fixed_points", ["--games", "lever,nosuch"], "nosuch is not a catalogue game"),
    ("uniqueness", ["--repeats", "0"], "--repeats=0 must be >= 1"),
    ("uniqueness", ["--seeds", "0"], "--seeds=0 must be >= 1"),
    ("uniqueness", ["--boxes", "0"], "--boxes=0 must be >= 1"),
    ("tracer", ["--against", "HEAD", "--games", "dectiger"], "not NAME:HORIZON"),
    ("tracer", ["--against", "HEAD", "--games", "dectiger:0"], "not NAME:HORIZON"),
    ("tracer", ["--against", "HEAD", "--rtol", "-1"], "--rtol=-1.0 must be"),
    ("dpomdp_engine", ["--batch", "0"], "--batch=0 must be >= 1"),
    ("dpomdp_engine", ["--horizons", "3", "0"], "--horizons=0 must be"),
    ("dpomdp_engine", ["--steps", "0"], "--steps=0 must be"),
    ("dpomdp_engine", ["--repeats", "0"], "--repeats=0 must be"),
    ("dpomdp_engine", ["--rtol", "nan"], "--rtol=nan must be >= 0"),
    ("dpomdp_profile", ["--horizons", "0"], "--horizons=0 must be"),
    ("dpomdp_profile", ["--batch", "0"], "--batch=0 must be"),
    ("checkpoints_vs_orbax", ["--size", "0"], "--size=0 must be"),
    ("checkpoints_vs_orbax", ["--saves", "0"], "--saves=0 must be"),
    ("jaxmarl_crossplay", ["--seeds", "0"], "--seeds=0 must be >= 1"),
    ("jaxmarl_crossplay", ["--num-envs", "0"], "--num-envs=0 must be"),
    ("jaxmarl_crossplay", ["--num-steps", "-1"], "--num-steps=-1 must be"),
    ("jaxmarl_crossplay", ["--total-timesteps", "100"], "less than one update"),
    ("jaxmarl_crossplay", ["--ent-coefs", "0.01", "nan"], "--ent-coefs=nan must be"),
    ("jaxmarl_crossplay", ["--ent-coefs", "-0.1"], "--ent-coefs=-0.1 must be"),
    # checked before too (argparse's usage first, then the line)
    ("ippo_update", ["--updates", "0"], "--updates=0 must be >= 1"),
    ("hanabi_bots", ["--games", "1"], "--games=1 must be >= 2"),
    ("lever_phase_diagram", ["--seeds", "0"], "--seeds=0 must be"),
    ("hanabi_throughput", ["--batch-sizes", "8", "0"], "--batch-sizes=0 must be"),
    ("hanabi_throughput", ["--steps", "0"], "--steps=0 must be"),
    ("ippo_throughput", ["--num-envs", "0", "--skip-jaxmarl"], "--num-envs=0 must"),
    ("ippo_learning_curve", ["--seeds", "0"], "--seeds=0 must be"),
    ("ippo_learning_curve", ["--steps", "10"], "at least one update"),
    ("jaxmarl_agent", ["--jaxmarl", "x", "--bot-games", "1"], "--bot-games=1 must"),
]
NEEDS_OUT = {"jaxmarl_crossplay": ["--jaxmarl-repo", "repo", "--out", "out"]}


@pytest.mark.parametrize(
    "module, argv, message", CASES, ids=[f"{m} {' '.join(a)}" for m, a, _ in CASES]
)
def test_an_impossible_setting_is_refused_in_one_line_before_anything_runs(
    module, argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(f"benchmarks.{module}").main
    with pytest.raises(SystemExit) as stopped:
        main([*NEEDS_OUT.get(module, []), *argv])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, (
        captured.err
    )
    assert message in captured.err
    assert captured.out == ""  # nothing ran: not even the machine's lines
    assert list(tmp_path.iterdir()) == []


PARSED = sorted({module for module, _, _ in CASES} | {"suite_profile"})


@pytest.mark.parametrize("module", PARSED)
def test_help_names_the_program_and_shows_its_docstring(module, capsys):
    imported = importlib.import_module(f"benchmarks.{module}")
    with pytest.raises(SystemExit) as stopped:
        imported.main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m benchmarks.{module}")
    assert imported.__doc__.strip().splitlines()[0] in text
