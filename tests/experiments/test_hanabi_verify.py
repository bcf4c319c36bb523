"""Lockstep golden test: the JAX Hanabi against hanabi-learning-environment.

Every preset and player count that HLE's rl_env allows, 2,400 random games in all,
compared at every state: legal moves, every player's canonical observation,
rewards, the current player and termination (games.envs.hanabi.verify,
experiments.hanabi_verify).
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments import hanabi_verify
from games.envs.hanabi import make_params, verify

pytest.importorskip("hanabi_learning_environment.pyhanabi")

# Sizes over a preset (the CPU preset hanabi_3c3r_cpu's game), for 2 and 3 players.
SIZED = dict(colors=3, ranks=3, hand_size=3, hints=5, lives=3)
SIZED_CASES = [(2, 200), (3, 200)]

CASES = [
    ("Hanabi-Full", 2, 600),
    ("Hanabi-Full", 3, 200),
    ("Hanabi-Full", 4, 200),
    ("Hanabi-Full", 5, 200),
    *[("Hanabi-Small", p, 150) for p in (2, 3, 4, 5)],
    *[("Hanabi-Very-Small", p, 150) for p in (2, 3, 4, 5)],
]


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "num_players", "num_games"), CASES)
def test_verify_agrees_with_hle_on_random_games(preset, num_players, num_games):
    params = make_params(preset, num_players)
    report = verify.verify(preset, num_players, num_games, seed=num_players)
    assert report.mismatches == 0, "\n".join(report.examples)
    assert report.ok and report.games == num_games
    assert report.states == report.moves + num_games
    assert report.observations == report.states * num_players
    # Games end in every way HLE has: the deck runs out (then the final round),
    # lives run out, and every firework is completed.
    assert report.endings["out_of_cards"] > 0
    assert report.endings["out_of_lives"] > 0
    assert report.endings["completed_fireworks"] > 0
    assert sum(report.endings.values()) == num_games
    assert report.max_score == params.max_score
    assert report.max_length <= params.max_game_length


@pytest.mark.parametrize(("num_players", "num_games"), SIZED_CASES)
def test_verify_agrees_with_hle_on_sizes_set_over_a_preset(num_players, num_games):
    params = make_params("Hanabi-Full", num_players, **SIZED)
    report = verify.verify(
        "Hanabi-Full", num_players, num_games, seed=10 + num_players, **SIZED
    )
    assert report.mismatches == 0, "\n".join(report.examples)
    assert report.ok and report.games == num_games
    assert report.preset == "Hanabi 3c x 3r, hand 3, 5 hints, 3 lives"
    assert report.observations == report.states * num_players
    assert all(count > 0 for count in report.endings.values()), report.endings
    assert report.max_score == params.max_score == 9


def test_verify_cases_cover_every_preset_player_count_and_2000_games():
    covered = {(preset, players) for preset, players, _ in CASES}
    assert covered == {
        (preset, players)
        for preset in ("Hanabi-Full", "Hanabi-Small", "Hanabi-Very-Small")
        for players in (2, 3, 4, 5)
    }
    assert sum(games for *_, games in CASES) >= 2000


def test_verify_compare_reports_corrupted_recordings():
    params = make_params("Hanabi-Full", 2)
    hle = verify.record_hle_games(params, 4, np.random.default_rng(0))
    clean = verify.Report("Hanabi-Full", 2)
    verify.compare(params, hle, clean)
    assert clean.ok and clean.games == 4

    hle.observations[1, 3, 1, 130] ^= 1  # a board bit of player 1's view
    hle.rewards[2, 0] += 1
    hle.legal[3, 2, 0] = not hle.legal[3, 2, 0]
    hle.scores[0] += 1
    broken = verify.Report("Hanabi-Full", 2)
    verify.compare(params, hle, broken)
    assert broken.mismatches == 4 and not broken.ok
    text = "\n".join(broken.examples)
    assert "game 1, step 3: player 1's observation" in text and "board[3]" in text
    assert "game 2, step 0: reward of" in text
    assert "game 3, step 2: legal moves" in text
    assert f"game 0, step {hle.lengths[0]}: end: jax" in text


def test_verify_entry_point_prints_counts_and_exits_zero(capsys):
    status = hanabi_verify.main(
        ["--players", "2", "3", "--preset", "Hanabi-Very-Small", "--games", "12"]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "Hanabi-Very-Small 2p: 12 games" in out
    assert "Hanabi-Very-Small 3p: 12 games" in out
    assert out.count("mismatches 0") == 2
    sizes = ["--colors", "2", "--ranks", "3", "--hand-size", "3", "--lives", "2"]
    assert hanabi_verify.main(["--players", "3", "--games", "8", *sizes]) == 0
    out = capsys.readouterr().out
    assert "Hanabi 2c x 3r, hand 3, 8 hints, 2 lives 3p: 8 games" in out


def test_verify_entry_point_rejects_bad_arguments(capsys):
    assert hanabi_verify.main(["--players", "7", "--games", "1"]) == 2
    assert "Hanabi-Full needs 2 to 5 players" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        hanabi_verify.main(["--preset", "Hanabi-Huge"])
    assert hanabi_verify.main(["--colors", "6", "--games", "1"]) == 2
    assert "Hanabi colors=6 must be 1 to 5" in capsys.readouterr().err
