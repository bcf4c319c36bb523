"""One tiny in-process run of `python -m experiments.crossplay` over two IPPO runs
(a sweep directory), its grouping and statistics, and its one-line errors."""

from __future__ import annotations

import csv
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import compare, crossplay
from experiments import ippo as train_entry
from experiments.deep import agents as hanabi_agents
from experiments.deep import crossplay_results, evaluation
from experiments.deep.crossplay_directory import PARTIAL
from experiments.deep.ippo_runs import IPPORunConfig
from experiments.harness.compose import compose_config
from experiments.reports.pairs import pair_rows
from marl.deep import agent_measures, evaluate
from marl.deep import conventions as cv
from marl.deep import play as games_play
from tests.tiny_runs import FEW_CONVENTIONS, HANABI_TINY, run_main

TINY = HANABI_TINY


def train(*overrides: str) -> None:
    """`python -m experiments.ippo <overrides>`, in process."""
    run_main(train_entry, *overrides)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two runs differing only in the root seed: their agents pool by group."""
    root = tmp_path_factory.mktemp("sweep")
    for seed in (0, 1):
        train(*TINY, f"ippo.seed={seed}", f"hydra.run.dir={root / f'{seed}_run'}")
    return root


def test_crossplay_refuses_to_replace_a_larger_evaluation(sweep, tmp_path, capsys):
    out = tmp_path / "xp"
    small = ["--permutations", "1", *FEW_CONVENTIONS, "--out", str(out)]
    assert crossplay.main([str(sweep), "--games", "4", *small]) == 0
    written = (out / "results.json").read_bytes()
    assert crossplay.main([str(sweep), "--games", "2", *small]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "larger evaluation (4 games per pair" in error[0]
    assert "--force" in error[0]
    assert (out / "results.json").read_bytes() == written  # kept
    assert crossplay.main([str(sweep), "--games", "2", *small, "--force"]) == 0
    assert json.loads((out / "results.json").read_text())["num_games"] == 2


def test_a_second_equal_evaluation_in_process_reuses_its_programs(sweep, tmp_path):
    """Cross-play's programs are built once per (policy, environment, sizes) in
    a process: the second equal evaluation finds every one in the caches."""
    small = [str(sweep), "--games", "4", "--permutations", "1", *FEW_CONVENTIONS]
    caches = (evaluate.play_program, agent_measures.convention_program)
    assert crossplay.main([*small, "--out", str(tmp_path / "a")]) == 0
    before = [cache.cache_info() for cache in caches]
    assert crossplay.main([*small, "--out", str(tmp_path / "b")]) == 0
    after = [cache.cache_info() for cache in caches]
    assert [a.misses for a in after] == [b.misses for b in before]
    assert [a.hits - b.hits for a, b in zip(after, before, strict=True)] == [1, 1]
    scores = [np.load(tmp_path / run / "scores.npz") for run in ("a", "b")]
    for name in scores[0].files:
        np.testing.assert_array_equal(scores[0][name], scores[1][name])


@pytest.mark.slow
def test_crossplay_writes_matrices_groups_and_symmetry(sweep, tmp_path, capsys):
    out = tmp_path / "xp"
    args = [str(sweep), "--games", "6", "--permutations", "2"]
    assert crossplay.main([*args, "--symmetry-games", "3", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["kind"] == "crossplay"
    assert results["game"] == "Hanabi-Small" and results["num_agents"] == 8
    assert np.asarray(results["matrix"]).shape == (8, 8)
    assert np.asarray(results["matrix_greedy_se"]).shape == (8, 8)
    # Two groups (the entropy coefficients), each pooling 2 seeds x 2 runs.
    points = results["points"]
    assert [p["ent_coef"] for p in points] == [0.01, 0.1]
    assert [p["num_seeds"] for p in points] == [4, 4]
    scores = np.load(out / "scores.npz")
    assert scores["scores_greedy"].shape == (8, 8, 6)
    for point in points:
        members = point["agents"]
        block = scores["scores"][np.ix_(members, members)].mean(-1)
        assert point["sp"] == pytest.approx(np.diag(block).mean())
        off = ~np.eye(4, dtype=bool)
        assert point["xp"] == pytest.approx(block[off].mean())
        assert 0 <= point["equivariance_error"] <= 1
        # How the games ended: 4 self-play cells and 12 cross-play cells of 6.
        for name, cells in (("sp", 4), ("xp", 12)):
            counts = np.asarray(point[f"{name}_score_counts"])
            assert counts.sum() == cells * 6 and len(counts) == 2 * 5 + 1
            zero = counts[0] / counts.sum()
            assert 0 <= point[f"{name}_lost_lives"] <= zero  # lost games score 0
            assert point[f"{name}_perfect"] == counts[-1] / counts.sum()
        lost = scores["lost_lives"][np.ix_(members, members)]
        assert point["sp_lost_lives"] == np.diagonal(lost).mean()
        assert point["permuted_xp"] is not None
        assert point["permuted_copy_drop"] == pytest.approx(
            point["permuted_self_play"] - point["permuted_xp"]
        )
        scores_of_copies = np.asarray(results["symmetry"]["permuted_copy_scores"])
        drops = scores_of_copies[members, 0] - scores_of_copies[members, 1:].mean(-1)
        assert point["permuted_copy_drop_se"] == pytest.approx(
            drops.std(ddof=1) / np.sqrt(len(drops))
        )
        assert 0 <= point["argmax_disagreement"] <= 1
    assert results["symmetry"]["num_permutations"] == 2
    # Every agent's conditional action counts from its 500 sampled self-play
    # games over the game's 11 action ids: every game has several moves that
    # answer the partner's last one.
    conventions = results["conventions"]
    counts = np.asarray(conventions["counts"])
    assert conventions["num_games"] == 500 and counts.shape == (8, 11, 11)
    assert (counts.sum((1, 2)) > 500).all() and (counts >= 0).all()
    # What the hints mean: per agent and hint, the partner's next move played a
    # touched card or not; only hints (ids 4-10 after the plays and discards of
    # hands of 2) touch cards.
    answers = np.asarray(conventions["hint_answers"])
    assert answers.shape == (8, 11, 2) and (answers[:, :4] == 0).all()
    assert (answers[:, 4:].sum((1, 2)) > 0).all()
    symmetry = results["symmetry"]
    weighted = np.asarray(symmetry["equivariance_error_weighted"])
    assert weighted.shape == (8, 2) and (weighted[:, 0] == 0).all()
    assert ((weighted >= 0) & (weighted <= 1)).all()
    raw = np.asarray(conventions["distance"])
    aligned = np.asarray(conventions["aligned_distance"])
    assert raw.shape == aligned.shape == (8, 8)
    np.testing.assert_array_equal(raw, raw.T)
    assert (aligned <= raw + 1e-12).all() and (np.diag(aligned) == 0).all()
    # The greedy matrices beside the sampled ones, on the same deals: each
    # agent's games one by one in scores.npz sum to the results' counts.
    per_game = scores["convention_games"]
    greedy_games = scores["convention_games_greedy"]
    assert per_game.dtype == greedy_games.dtype == np.uint16
    assert per_game.shape == greedy_games.shape == (8, 500, 11, 11)
    np.testing.assert_array_equal(per_game.sum(1), counts)
    np.testing.assert_array_equal(
        greedy_games.sum(1), np.asarray(conventions["counts_greedy"])
    )
    # The split-half noise floor recomputes from the per-game counts.
    np.testing.assert_allclose(
        conventions["noise_floor"], cv.split_half(per_game), atol=1e-12
    )
    np.testing.assert_allclose(
        conventions["noise_floor_greedy"], cv.split_half(greedy_games), atol=1e-12
    )
    for point in points:
        members = point["agents"]
        for suffix in ("", "_raw", "_greedy", "_greedy_raw"):
            labels = point[f"conventions{suffix}"]
            assert len(labels) == 4
            assert point[f"num_conventions{suffix}"] == max(labels) + 1
            # The count at every tolerance, from the merge heights.
            heights = np.asarray(point[f"convention_heights{suffix}"])
            tol = results["conventions"]["tolerance"]
            assert point[f"num_conventions{suffix}"] == 4 - (heights < tol).sum()
            stable = point[f"convention_stable{suffix}"]
            assert 1 <= stable["count"] <= 4
        assert point["num_conventions"] <= point["num_conventions_raw"] <= 4
        assert point["num_conventions_greedy"] <= point["num_conventions_greedy_raw"]
        floor = np.median(np.asarray(conventions["noise_floor"])[members])
        assert point["convention_noise_floor"] == pytest.approx(floor)
    # Cross-play between the groups (the entropy coefficients): block means over
    # distinct agents; a group with itself is its XP.
    matrix = np.asarray(results["matrix"])
    between = np.asarray(results["between_groups"])
    assert results["groups"] == [p["group"] for p in points]
    first, second = (p["agents"] for p in points)
    assert between[0, 1] == pytest.approx(matrix[np.ix_(first, second)].mean())
    assert between[1, 1] == pytest.approx(points[1]["xp"])
    assert np.asarray(results["between_groups_greedy"]).shape == (2, 2)
    assert (out / "crossplay.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "ent_coef=0.01" in printed and "wrote" in printed

    # experiments.compare reads the evaluation (and points at crossplay for the
    # training runs it cannot compare).
    table = tmp_path / "table.csv"
    figure = tmp_path / "table.png"
    assert (
        compare.main([str(tmp_path), "--csv", str(table), "--figure", str(figure)]) == 0
    )
    lines = table.read_text().splitlines()
    header = lines[0].split(",")
    assert len(lines) == 3 and "ent_coef" in header and "xp_greedy" in header
    assert figure.stat().st_size > 0
    assert compare.main([str(sweep), "--csv", str(table)]) == 2
    assert "experiments.crossplay" in capsys.readouterr().err


def test_crossplay_sizes_itself_reports_progress_and_resumes_after_ctrl_c(
    sweep, tmp_path, capsys, monkeypatch
):
    """The default plays rounds until the target SE or the cap and records both;
    it prints its phases, the predicted time and progress; Ctrl-C keeps the
    rounds played (exit 130) and the same command ends as an uninterrupted run."""
    common = [str(sweep), "--permutations", "1", "--round-games", "8"]
    common += FEW_CONVENTIONS
    # Exactly 40 games per pair: 5 rounds of 8.
    whole = tmp_path / "whole"
    sized = [*common, "--games", "40"]
    assert crossplay.main([*sized, "--out", str(whole)]) == 0
    printed = capsys.readouterr().out
    for line in ("compiling sampled", "first round: 8 games x 64 pairs", "ETA"):
        assert line in printed, line
    assert "greedy games: 40/40 per pair" in printed
    results = json.loads((whole / "results.json").read_text(), parse_constant=_refuse)
    assert results["num_games"] == 40
    assert results["sizing"] == {
        "round_games": 8,
        "max_games": 40,
        "target_se": None,
        "chosen_by": "games",
        "resumed": False,
    }
    for kind in ("sampled", "greedy"):
        assert results["games"][kind]["num_games"] == 40
        assert results["games"][kind]["stopped_by"] == "games"
    scores = np.load(whole / "scores.npz")
    se = scores["scores"].std(-1, ddof=1).max() / np.sqrt(40)
    assert results["games"]["sampled"]["max_se"] == pytest.approx(se, rel=1e-5)

    # Ctrl-C after the greedy kind's second round: the rounds are kept.
    calls = []
    report = crossplay.EvaluationReporter.report

    def interrupt(self, kind, games, cap):
        calls.append((kind, games.score.shape[-1]))
        if calls[-1] == ("_greedy", 16):
            raise KeyboardInterrupt
        report(self, kind, games, cap)

    monkeypatch.setattr(crossplay.EvaluationReporter, "report", interrupt)
    cut = tmp_path / "cut"
    assert crossplay.main([*sized, "--out", str(cut)]) == 130
    error = capsys.readouterr().err.strip().splitlines()
    assert (
        len(error) == 1
        and "kept 40 sampled games per pair (and 16 greedy)" in (error[0])
    )
    assert (cut / PARTIAL).is_file() and not (cut / "results.json").exists()
    monkeypatch.setattr(crossplay.EvaluationReporter, "report", report)
    assert crossplay.main([*sized, "--out", str(cut)]) == 0
    assert "going on from" in capsys.readouterr().out
    assert not (cut / PARTIAL).exists()
    again = np.load(cut / "scores.npz")
    for name in scores.files:
        np.testing.assert_array_equal(again[name], scores[name], err_msg=name)
    resumed = json.loads((cut / "results.json").read_text())
    assert resumed["matrix_greedy"] == results["matrix_greedy"]
    assert resumed["sizing"]["resumed"] is True

    # A target stops before the cap (the tiny agents' sampled games all score 0,
    # their greedy ones do not), and --max-minutes is recorded.
    quick = tmp_path / "quick"
    assert crossplay.main([*common, "--target-se", "50", "--out", str(quick)]) == 0
    results = json.loads((quick / "results.json").read_text())
    assert results["games"]["sampled"]["stopped_by"] == "target_se"
    assert results["num_games"] == 32  # 4 rounds: the fewest for an SE stop
    # Stopping below an earlier, larger evaluation in the same directory keeps
    # that one and puts this one beside it.
    capsys.readouterr()
    assert crossplay.main([*common, "--target-se", "50", "--out", str(whole)]) == 0
    assert "holds a larger evaluation: kept" in capsys.readouterr().err
    assert json.loads((whole / "results.json").read_text())["num_games"] == 40
    (beside,) = whole.glob("smaller_*/results.json")
    assert json.loads(beside.read_text())["num_games"] == 32
    capsys.readouterr()
    timed = tmp_path / "timed"
    # A budget spent before the first round ends (0.6 ms; at XLA's default level
    # the round once took under 0.06 s): one round, whatever the speed.
    argv = [*common, "--max-games", "100000", "--max-minutes", "0.00001"]
    assert crossplay.main([*argv, "--out", str(timed)]) == 0
    results = json.loads((timed / "results.json").read_text())
    assert results["sizing"]["chosen_by"] == "max_minutes"
    assert results["num_games"] == results["sizing"]["max_games"] == 8
    assert "--max-minutes 1e-05: 8 games" in capsys.readouterr().out


class _Killed(BaseException):
    """A stop that no handler sees (as SIGKILL): nothing is saved on the way out."""


def test_a_crossplay_killed_mid_play_goes_on_from_the_rounds_it_kept(
    sweep, tmp_path, capsys, monkeypatch
):
    """Every KEEP_SECONDS of play, and when a kind's games are all played, the
    rounds played so far (both kinds) are kept in partial.npz; an evaluation
    killed without Ctrl-C's chance to save goes on from them and ends with an
    uninterrupted one's arrays, bit for bit."""
    sized = [str(sweep), "--permutations", "1", "--round-games", "8", "--games", "40"]
    sized += FEW_CONVENTIONS
    whole = tmp_path / "whole"
    assert crossplay.main([*sized, "--out", str(whole)]) == 0
    report = crossplay.EvaluationReporter.report
    cut, measured = tmp_path / "cut", tmp_path / "measured"
    # cut: killed twice, saving every report (the resumed run keeps the sampled
    # games it resumed); measured: killed after the last round, in the measures,
    # the 5 minutes not yet up (both kinds were kept as each ended)
    for out, seconds, greedy in ((cut, 0.0, 16), (cut, 0.0, 24), (measured, 300, 40)):
        monkeypatch.setattr(evaluation, "KEEP_SECONDS", seconds)

        def killed(self, kind, games, cap, greedy=greedy):
            report(self, kind, games, cap)
            if (kind, games.score.shape[-1]) == ("_greedy", greedy):
                raise _Killed

        monkeypatch.setattr(crossplay.EvaluationReporter, "report", killed)
        with pytest.raises(_Killed):
            crossplay.main([*sized, "--out", str(out)])
        with np.load(out / PARTIAL) as kept:
            assert kept["score"].shape == (64, 40)
            assert kept["score_greedy"].shape == (64, greedy)
    monkeypatch.setattr(crossplay.EvaluationReporter, "report", report)
    capsys.readouterr()
    for out in (cut, measured):
        assert crossplay.main([*sized, "--out", str(out)]) == 0
        assert not (out / PARTIAL).exists()
        with np.load(whole / "scores.npz") as one, np.load(out / "scores.npz") as two:
            for name in one.files:
                np.testing.assert_array_equal(two[name], one[name], err_msg=name)
    assert "40 sampled games per pair, 24 greedy" in capsys.readouterr().out


def _refuse(constant: str) -> None:
    raise AssertionError(f"results.json holds {constant}: not standard JSON")


def test_pair_rows_of_one_game_a_pair_leave_the_error_empty():
    results = {
        "agents": [{"group": "g", "run": "r", "seed": s} for s in range(2)],
        "games": {name: {"num_games": 1} for name in ("sampled", "greedy")},
        **{f"matrix{kind}": [[1.0, 0.0], [0.0, 1.0]] for kind in ("", "_greedy")},
        **{
            f"matrix{kind}_se": [[None, None], [None, None]] for kind in ("", "_greedy")
        },
    }
    rows = pair_rows(results)
    assert len(rows) == 8
    assert all(r["se"] is None and r["ci95_low"] is None for r in rows)


def test_summary_of_hand_made_scores():
    """Two agents that always score 2 with themselves and 0 with each other."""
    scores = np.zeros((2, 2, 4), np.float32)
    scores[0, 0] = scores[1, 1] = 2.0
    point = crossplay_results.summarize(scores, [0, 1])
    assert point["sp"] == 2.0 and point["xp"] == 0.0
    assert point["sp_se"] == 0.0 and point["xp_se"] is None  # no jackknife of 2
    assert point["sp_games_se"] == 0.0
    scores[0, 1] = [0, 2, 0, 2]  # one seat order scores 1 on average
    point = crossplay_results.summarize(scores, [0, 1])
    assert point["xp"] == 0.5
    assert point["xp_games_se"] == pytest.approx(np.sqrt(4 / 3 / 4) / 2)
    # One game a pair (`--games 1`): no spread to measure, so null, never NaN.
    point = crossplay_results.summarize(scores[..., :1], [0, 1])
    assert point["sp_games_se"] is None and point["xp_games_se"] is None
    json.dumps(point, allow_nan=False)


def test_crossplay_errors_are_one_line(sweep, tmp_path, capsys):
    assert crossplay.main([str(tmp_path / "missing")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: {tmp_path / 'missing'} is not a directory"
    )
    assert crossplay.main([str(tmp_path)]) == 2
    assert "no IPPO run" in capsys.readouterr().err
    assert crossplay.main([str(sweep), "--games", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --games=0 must be >= 1"
    for argv, expected in (
        (["--target-se", "0"], "--target-se=0.0 must be > 0"),
        (["--max-minutes", "-1"], "--max-minutes=-1.0 must be > 0"),
        (["--round-games", "0"], "--round-games=0 must be >= 1"),
        (["--convention-games", "-1"], "--convention-games=-1 must be >= 0"),
        (["--convention-tol", "0"], "--convention-tol=0.0 must be > 0"),
        (["--games", "4", "--target-se", "0.1"], "drop --target-se"),
        (["--step", "1"], "no checkpoint of update 1 for every seed (updates kept"),
    ):
        assert crossplay.main([str(sweep), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (argv, err)
    # A named update (a milestone) lands beside the latest's evaluation.
    run = sweep / "0_run"
    argv = [str(run), "--step", "2", "--games", "2", "--permutations", "1"]
    argv += FEW_CONVENTIONS
    assert crossplay.main(argv) == 0
    named = json.loads((run / "crossplay_update2" / "results.json").read_text())
    assert {agent["step"] for agent in named["agents"]} == {2}
    capsys.readouterr()
    # A corrupt checkpoint is refused with one line naming it.
    broken = tmp_path / "broken"
    broken.mkdir()
    source = sweep / "0_run"
    (broken / "config.yaml").write_text((source / "config.yaml").read_text())
    for seed in (0, 1):
        target = broken / "checkpoints" / str(seed)
        target.mkdir(parents=True)
        for path in (source / "checkpoints" / str(seed)).iterdir():
            data = path.read_bytes()
            if seed == 1:
                data = data[: len(data) // 2]
            (target / path.name).write_bytes(data)
    assert crossplay.main([str(broken), "--games", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step_000000002.npz" in err[0], err


def test_agents_with_identical_parameters_are_not_pooled_silently(
    sweep, tmp_path, capsys
):
    """A second run from the same ippo.seed repeats the first run's agents (here a
    copy of it; with more `seeds` it repeats the first ones): each repeated agent
    is named in a warning before SP/XP pool it."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(sweep / "0_run", runs / "a")
    shutil.copytree(sweep / "0_run", runs / "b")
    out = tmp_path / "xp"
    args = [str(runs), "--games", "2", "--permutations", "1", "--out", str(out)]
    args += FEW_CONVENTIONS
    assert crossplay.main(args) == 0
    warnings = [
        line
        for line in capsys.readouterr().err.splitlines()
        if "same parameters" in line
    ]
    assert len(warnings) == 4  # 2 seeds x 2 entropy coefficients of run b
    assert all(f"{runs / 'b'} seed" in w and f"as {runs / 'a'}" in w for w in warnings)
    # Distinct seeds give no warning.
    assert (
        crossplay.main(
            [
                str(sweep),
                "--games",
                "2",
                "--permutations",
                "1",
                *FEW_CONVENTIONS,
                "--out",
                str(tmp_path / "xp2"),
            ]
        )
        == 0
    )
    assert "same parameters" not in capsys.readouterr().err


@pytest.mark.slow
def test_three_players_cross_play_over_assignments_of_distinct_agents(tmp_path):
    """With 3 players, XP is the mean over all 4!/1! = 24 assignments of distinct
    agents to the seats, each played as a direct `play_outcome` would play it."""
    run = tmp_path / "three"
    train(
        *TINY, "env.num_players=3", "seeds=4", "ent_coefs=[0.1]", f"hydra.run.dir={run}"
    )
    out = tmp_path / "xp"
    args = [str(run), "--games", "6", "--permutations", "1", "--out", str(out)]
    args += FEW_CONVENTIONS
    assert crossplay.main(args) == 0
    results = json.loads((out / "results.json").read_text())
    point = results["points"][0]
    assert point["xp_assignments"] == 24
    arrays = np.load(out / "scores.npz")
    rows = [tuple(r) for r in arrays["assignments"]]
    assert sorted(rows) == sorted(itertools.permutations(range(4), 3))
    scores = arrays["assignment_scores"]
    assert point["xp"] == pytest.approx(float(scores.mean()))
    assert point["xp_se"] is not None and sum(point["xp_score_counts"]) == 24 * 6
    # One assignment played directly: the same games on the same decks.
    loaded = hanabi_agents.load_agents([str(run)])
    params, config = loaded.params, loaded.config
    env = config.scoring_environment
    policy = hanabi_agents.seat_policy(config.ippo, env)
    table = games_play.identity_tables(env)
    seats = games_play.make_seats(
        params,
        jnp.asarray(rows[5]),
        per_seat=not config.ippo.share_parameters,
        observation=np.broadcast_to(table[0], (3, table[0].size)),
        actions=np.broadcast_to(table[1], (3, table[1].size)),
    )
    direct = games_play.play_outcome(
        policy, seats, env, key=jax.random.key(0), num_games=6, greedy=False
    )
    np.testing.assert_array_equal(np.asarray(direct.score), scores[5])


def composed_run(*overrides: str) -> IPPORunConfig:
    """The run configuration `python -m experiments.ippo <overrides>` would train."""
    return compose_config("ippo", overrides, IPPORunConfig)


@pytest.mark.parametrize(
    ("preset", "game", "order"),
    [
        ("hanabi_cpu", "Hanabi-Very-Small", 1),
        ("hanabi_small_cpu", "Hanabi-Small", 2),
        ("hanabi_3c3r_cpu", "Hanabi 3c x 3r, hand 3, 5 hints, 3 lives", 6),
        ("hanabi_paper_full", "Hanabi-Full", 120),
    ],
)
def test_hanabi_presets_build_their_game_and_its_color_group(preset, game, order):
    config = composed_run(f"preset={preset}")
    env = config.environment
    assert env.title == game and env.symmetries.size == order
    assert config.name == preset and len(config.ent_coefs) >= 2


@pytest.mark.slow
def test_color_symmetric_preset_trains_and_cross_plays_with_every_permutation(
    tmp_path,
):
    """hanabi_3c3r_cpu at tiny sizes: each agent's equivariance error under every
    color permutation of the game's group of order 6, and the test of XP < SP
    per entropy coefficient."""
    run = tmp_path / "3c3r"
    tiny = [arg for arg in TINY if not arg.startswith(("env.preset", "seeds"))]
    train(
        "preset=hanabi_3c3r_cpu",
        *tiny,
        "seeds=3",
        "ent_coefs=[0.1]",
        f"hydra.run.dir={run}",
    )
    training = json.loads((run / "results.json").read_text())
    assert training["game"] == "Hanabi 3c x 3r, hand 3, 5 hints, 3 lives"
    out = tmp_path / "xp"
    args = [str(run), "--games", "4", "--symmetry-games", "2", "--out", str(out)]
    assert crossplay.main(args) == 0
    results = json.loads((out / "results.json").read_text())
    symmetry = results["symmetry"]
    assert symmetry["num_permutations"] == 6  # the whole group (default 8)
    assert len(set(symmetry["permutations"])) == 6
    errors = np.asarray(symmetry["equivariance_error"])
    assert errors.shape == (3, 6)  # every agent under every permutation
    assert np.all(errors[:, 0] == 0) and np.all((errors >= 0) & (errors <= 1))
    (point,) = results["points"]
    for kind in ("", "_greedy"):
        gap = point[f"sp{kind}"] - point[f"xp{kind}"]
        assert point[f"xp{kind}_gap"] == pytest.approx(gap)
        p = point[f"xp{kind}_gap_p"]
        assert p is None or 0 <= p <= 1


def test_crossplay_seats_rule_based_partners_and_writes_a_tidy_table(
    sweep, tmp_path, capsys
):
    """--bots adds Hanabi's rule-based partners, each a group of one agent: the
    matrix holds every trained agent with every bot and the bots together; the
    tidy CSV has one row per ordered pair and policy kind."""
    out = tmp_path / "xp"
    args = [str(sweep), "--games", "4", "--permutations", "2", "--out", str(out)]
    extra = ["--symmetry-games", "2", "--convention-games", "2"]
    assert crossplay.main([*args, *extra, "--bots", "iggi,outer"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["num_agents"] == 10
    bots = results["agents"][8:]
    assert [a["group"] for a in bots] == ["bot=iggi", "bot=outer"]
    assert {a["run"] for a in bots} == {"rule-based"}
    points = {p["group"]: p for p in results["points"]}
    assert points["bot=iggi"]["num_seeds"] == 1 and points["bot=iggi"]["xp"] is None
    assert points["bot=iggi"]["ent_coef"] is None
    # A bot is its own color-permuted copy (no tie broken by color).
    assert points["bot=outer"]["equivariance_error"] == pytest.approx(0.0, abs=1e-6)
    rows = list(csv.DictReader((out / "crossplay.csv").open()))
    assert len(rows) == 2 * 10 * 10
    matrix = np.asarray(results["matrix_greedy"])
    for row in rows:
        if row["policy"] == "greedy":
            i, j = int(row["seat1_agent"]), int(row["seat2_agent"])
            assert float(row["mean"]) == pytest.approx(matrix[i, j], abs=1e-5)
            assert (
                float(row["ci95_low"]) <= float(row["mean"]) <= float(row["ci95_high"])
            )
    assert rows[-1]["seat1_group"] == "bot=outer" and rows[-1]["games"] == "4"
    assert (out / "crossplay_groups.png").stat().st_size > 0
    capsys.readouterr()
    assert crossplay.main([*args, "--bots", "smartbot", "--force"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--bots smartbot" in error[0]
