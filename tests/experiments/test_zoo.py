"""A zoo (`experiments.deep.zoo`, `python -m experiments.zoo`): a run's agents
in float16 read by every reader of runs as the run is, and the committed zoo
loading and playing as the README shows."""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import jax
import numpy as np
import pytest

from experiments import crossplay, replay
from experiments import zoo as zoo_entry
from experiments.deep import zoo
from experiments.deep.agents import CrossPlayError, load_run
from experiments.deep.ippo_runs import read_run_config
from experiments.deep.players import load, play_game
from tests.tiny_runs import train

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "zoo" / "hanabi_3c3r"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run (2 seeds x 2 coefficients)."""
    out = tmp_path_factory.mktemp("run")
    train(out)
    return out


def test_a_zoo_holds_the_runs_parameters_in_float16(run, tmp_path, capsys):
    out = tmp_path / "zoo"
    assert zoo_entry.main([str(run), str(out)]) == 0
    said = capsys.readouterr().out
    assert "4 agents (ent_coefs 0.01, 0.1 x 2 seeds) at update 2" in said
    assert zoo.is_zoo(out) and not (out / "checkpoints").exists()
    config = read_run_config(run)
    original, step = load_run(run, config)
    kept, kept_step = load_run(out, read_run_config(out))
    assert kept_step == step == 2
    for a, b in zip(jax.tree.leaves(original), jax.tree.leaves(kept), strict=True):
        assert b.dtype == np.float32 and a.shape == b.shape
        expected = np.asarray(a).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(b), expected)
    # Players and a game from the zoo, as from the run.
    players = load(out, ent_coef=0.1)
    assert [p.name for p in players] == [p.name for p in load(run, ent_coef=0.1)]
    game = play_game(players[:2], key=jax.random.key(0))
    assert game.score >= 0 and len(game.actions) > 0
    # Cross-play reads it as a run.
    xp = tmp_path / "xp"
    assert (
        crossplay.main(
            [
                str(out),
                "--games",
                "2",
                "--permutations",
                "1",
                "--convention-games",
                "0",
                "--out",
                str(xp),
            ]
        )
        == 0
    )
    results = json.loads((xp / "results.json").read_text())
    assert results["num_agents"] == 4
    # And a replay, against a bot.
    pages = tmp_path / "replays"
    argv = [str(out), "--seats", "0.1:1", "iggi", "--games", "1", "--out", str(pages)]
    assert replay.main(argv) == 0
    assert (pages / "game_0.html").is_file()


def test_a_zoo_refuses_what_it_cannot_be(run, tmp_path, capsys):
    out = tmp_path / "zoo"
    assert zoo_entry.main([str(run), str(out)]) == 0
    capsys.readouterr()
    cases = [
        ([str(run), str(out)], "holds a zoo; --force replaces it"),
        ([str(out), str(tmp_path / "again")], "is a zoo already"),
        ([str(tmp_path / "nowhere"), str(tmp_path / "z")], "not an IPPO run"),
        ([str(run), str(tmp_path / "z2"), "--step", "7"], "no checkpoint of update 7"),
    ]
    for argv, message in cases:
        assert zoo_entry.main(argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], (argv, error)
    assert zoo_entry.main([str(run), str(out), "--force"]) == 0
    config = read_run_config(out)
    with pytest.raises(CrossPlayError, match="holds update 2 only, not 1"):
        load_run(out, config, 1)
    stored = out / zoo.PARAMS_FILE
    stored.write_bytes(stored.read_bytes()[:200])  # truncated
    with pytest.raises(CrossPlayError, match="corrupt or truncated"):
        load(out)


def readme_zoo_example() -> tuple[str, list[str]]:
    """The README's example of the committed zoo: its Python block and the
    replay command after it."""
    section = (ROOT / "README.md").read_text().split("## Agents kept with the code")[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    command = re.search(r"`python -m experiments\.replay (zoo/[^`]*)`", section)
    assert code and command, "the README's zoo example moved"
    return code.group(1), shlex.split(command.group(1))


def test_the_committed_zoo_loads_and_plays_as_the_readme_shows(
    tmp_path, capsys, monkeypatch
):
    """The 3c3r agents kept with the code: at most 5 MB, 8 seeds at 0.01 and at
    0.1, at the preset's end (update 1,200); the README's example runs as
    written, and its replay command writes a page."""
    size = sum(f.stat().st_size for f in COMMITTED.rglob("*") if f.is_file())
    assert size <= 5e6
    config = read_run_config(COMMITTED)
    assert config.ent_coefs == [0.01, 0.1] and config.seeds == 8
    _, step = load_run(COMMITTED, config)
    assert step == 1200
    code, argv = readme_zoo_example()
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("ent_coef=0.01 seed 0 with ent_coef=0.01 seed 1: ")
    assert printed[2].startswith("ent_coef=0.01 seed 0 with ent_coef=0.1 seed 0: ")
    assert printed[3].startswith("with IGGI: ")
    out = argv.index("--out")
    argv[out + 1] = str(tmp_path / "replays")
    assert replay.main(argv) == 0
    assert list((tmp_path / "replays").glob("*.html"))
