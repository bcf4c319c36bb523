"""marl.deep.rounds: rounds of games: the cap, the target standard error, the
round keys, and a Ctrl-C that keeps the rounds already played (with fake rounds
of known scores; the entry point's test plays real ones)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from marl.deep import rounds
from marl.deep.rounds import Games, Interrupted, Sizing, play_rounds


def fake_rounds(rows: int, size: int, spread: float = 1.0):
    """run_round(index): games [rows, size] whose scores depend only on the
    round and the row (so a resumed loop sees the same games)."""
    calls: list[int] = []

    def run_round(index: int) -> Games:
        calls.append(index)
        rng = np.random.default_rng(index)
        score = rng.normal(size=(rows, size)) * spread + np.arange(rows)[:, None]
        return Games(score.astype(np.float32), np.zeros((rows, size), bool))

    return run_round, calls


def test_rounds_stop_at_the_cap_and_keep_exactly_the_cap():
    run_round, calls = fake_rounds(3, 8)
    games, why = play_rounds(run_round, Sizing(round_games=8, max_games=20))
    assert why == "games" and games.score.shape == (3, 20) and calls == [0, 1, 2]
    whole = np.concatenate([run_round(i).score for i in range(3)], -1)[:, :20]
    np.testing.assert_array_equal(games.score, whole)


def test_rounds_stop_at_the_target_se_once_every_row_reaches_it():
    # Unit variance: a row's SE after n games is about 1 / sqrt(n).
    run_round, calls = fake_rounds(4, 10)
    games, why = play_rounds(
        run_round, Sizing(round_games=10, max_games=10_000, target_se=0.2)
    )
    n = games.score.shape[-1]
    assert why == "target_se" and rounds.worst_se(games.score) <= 0.2
    assert n % 10 == 0 and 10 * len(calls) == n
    # One round fewer was not enough.
    assert rounds.worst_se(games.score[:, : n - 10]) > 0.2
    # No spread at all: stops once the minimum number of games is reached.
    run_round, calls = fake_rounds(4, 10, spread=0.0)
    games, why = play_rounds(
        run_round, Sizing(round_games=10, max_games=10_000, target_se=0.2)
    )
    assert why == "target_se" and games.score.shape[-1] == 30  # MIN_GAMES_FOR_SE


def test_an_interrupted_loop_keeps_whole_rounds_and_resumes_to_the_same_games():
    run_round, _ = fake_rounds(2, 4)
    whole, _ = play_rounds(run_round, Sizing(round_games=4, max_games=24))
    seen = []

    def report(kind: str, games: Games, cap: int) -> None:
        seen.append(games.score.shape[-1])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        play_rounds(
            run_round, Sizing(round_games=4, max_games=24), report=report, kind="x"
        )
    kept = stopped.value.played["x"]
    assert kept.score.shape == (2, 12) and seen == [4, 8, 12]
    resumed, why = play_rounds(run_round, Sizing(4, 24), start=kept)
    assert why == "games"
    np.testing.assert_array_equal(resumed.score, whole.score)


def test_round_keys_and_sizes():
    key = jax.random.key(5)
    assert rounds.round_key(key, 0) is key  # one round: the program of before
    keys = [jax.random.key_data(rounds.round_key(key, i)) for i in range(4)]
    symmetry = jax.random.key_data(jax.random.fold_in(key, 1))
    flat = {tuple(np.asarray(k).tolist()) for k in [*keys, symmetry]}
    assert len(flat) == 5  # distinct deals, and none the symmetry measures'
    assert rounds.round_size(16, 100, 5000, "cpu") == 1250
    assert rounds.round_size(16, 100, 300, "cpu") == 300  # the cap
    assert rounds.round_size(10_000, 400, 5000, "cpu") == 8  # at least 8
    assert rounds.round_size(10_000, 400, 4, "cpu") == 4
    assert rounds.worst_se(np.zeros((2, 1))) == float("inf")
