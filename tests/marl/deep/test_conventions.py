"""marl.deep.conventions on hand-made counts whose conventions are known: a
convention and its renamed copy are apart until aligned, the weights and
unseen rows, and the grouping into conventions."""

from __future__ import annotations

import numpy as np
import pytest

from marl.deep import conventions as cv

# Four actions: 0 and 1 are "hints" (of color 0 and color 1), 2 and 3 the
# partner's answers ("play slot 0", "play slot 1"); renaming the colors swaps
# 0 <-> 1 and, with them, the slots they point at, 2 <-> 3.
SWAP = np.array([1, 0, 3, 2])
IDENTITY = np.arange(4)


def convention() -> np.ndarray:
    """Any hint is answered by playing slot 0 (9 in 10): a convention that names
    a slot whatever the color, so renaming the colors changes it."""
    counts = np.zeros((4, 4))
    counts[0, 2], counts[0, 3] = 90, 10
    counts[1, 2], counts[1, 3] = 45, 5
    counts[2, 0] = counts[3, 1] = 30  # the answers are answered by hints
    return counts


def equivariant() -> np.ndarray:
    """Hint c is answered by playing slot c: renaming the colors leaves it as
    it is."""
    counts = convention()
    counts[1, 2], counts[1, 3] = 5, 45
    return counts


def test_identical_conventions_are_0_apart_whatever_the_number_of_games():
    counts = convention()
    assert cv.distance(counts, counts) == 0.0
    assert cv.distance(counts, 7 * counts) == pytest.approx(0.0, abs=1e-12)
    probs, weights = cv.conditional(counts)
    np.testing.assert_allclose(probs[0], [0, 0, 0.9, 0.1])
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] == pytest.approx(100 / counts.sum())
    assert cv.distance(equivariant(), cv.renamed(equivariant(), SWAP)) == 0.0


def test_a_renamed_convention_is_apart_until_aligned():
    counts = convention()
    copy = cv.renamed(counts, SWAP)  # any hint is answered with slot 1
    assert copy[1, 3] == 90 and copy[0, 3] == 45
    raw = cv.distances(np.stack([counts, copy]))
    aligned = cv.distances(np.stack([counts, copy]), np.stack([IDENTITY, SWAP]))
    assert raw[0, 1] == raw[1, 0] > 0.3
    assert aligned[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert raw[0, 0] == aligned[1, 1] == 0.0


def test_another_convention_stays_apart_when_aligned():
    """ "Hint c means slot c" is not "any hint means slot 0" renamed: under
    every renaming one of the two hints is answered the other way."""
    counts = np.stack([convention(), equivariant()])
    aligned = cv.distances(counts, np.stack([IDENTITY, SWAP]))
    _, weights = cv.conditional(convention())
    # one hint row differs, TV 0.8, whichever renaming
    assert aligned[0, 1] == pytest.approx(0.8 * weights[1])


def test_a_row_only_one_agent_reaches_counts_as_entirely_different():
    counts = convention()
    without = counts.copy()
    without[1] = 0.0  # never hints color 1
    _, w = cv.conditional(counts)
    _, v = cv.conditional(without)
    expected = (w[1] + v[1]) / 2  # TV 1 on that row, the other rows agree
    # the weights of the shared rows differ, their conditionals do not
    assert cv.distance(counts, without) == pytest.approx(expected)


def test_agents_are_grouped_into_conventions_by_single_linkage():
    between = np.array(
        [
            [0.0, 0.05, 0.5, 0.5],
            [0.05, 0.0, 0.5, 0.08],
            [0.5, 0.5, 0.0, 0.5],
            [0.5, 0.08, 0.5, 0.0],
        ]
    )
    assert cv.clusters(between, 0.1) == [0, 0, 1, 0]
    assert cv.clusters(between, 0.01) == [0, 1, 2, 3]
    assert cv.clusters(between, 1.0) == [0, 0, 0, 0]


def test_merge_heights_give_the_count_of_conventions_at_every_tolerance():
    """Single linkage's count at tolerance t is K minus the merge heights below
    t: checked against `clusters` at, just above and between every height."""
    rng = np.random.default_rng(0)
    for size in (1, 2, 5, 12):
        points = rng.random((size, 2))
        between = np.linalg.norm(points[:, None] - points[None], axis=-1)
        heights = cv.merge_heights(between)
        assert heights.shape == (max(size - 1, 0),)
        assert (np.diff(heights) >= 0).all()
        probes = [0.0, *heights, *(heights + 1e-9), 2.0]
        for t in probes:
            count = max(cv.clusters(between, t)) + 1
            assert count == size - int((heights < t).sum()), (size, t)


def test_the_split_half_floor_is_0_for_identical_halves_and_grows_with_noise():
    """An agent whose even and odd games count alike has floor 0; one whose
    halves answer a hint oppositely has the weight of that row times TV."""
    game = convention() / 10
    alike = np.stack([game, game, game, game])[None]  # [1, N=4, A, A]
    assert cv.split_half(alike)[0] == pytest.approx(0.0, abs=1e-12)
    other = cv.renamed(game, np.array([0, 1, 3, 2]))  # answers slot 1 instead
    split = np.stack([game, other, game, other])[None]
    even, odd = 2 * game, 2 * other
    assert cv.split_half(split)[0] == pytest.approx(cv.distance(even, odd))
    assert cv.split_half(split)[0] > 0.5


def test_the_stable_count_is_the_widest_range_of_tolerances_above_the_floor():
    # 4 agents: two pairs 0.01 apart, the pairs 0.5 apart
    heights = np.array([0.01, 0.01, 0.5])
    assert cv.stable_count(heights, 0.0) == (2, 0.01, 0.5)
    # below the floor no count holds: the widest range above it is still 2
    assert cv.stable_count(heights, 0.2) == (2, 0.2, 0.5)
    # a floor above every height: one convention, unbounded
    assert cv.stable_count(heights, 0.6) == (1, 0.6, float("inf"))
    # evenly spread heights: the first range (0, h1] wins ties by coming first
    assert cv.stable_count(np.array([0.1, 0.2, 0.3]), 0.0) == (4, 0.0, 0.1)
    assert cv.stable_count(np.zeros(0), 0.0) is None


def test_the_bootstrap_over_games_counts_conventions_of_resampled_games():
    """Two agents with one convention (games alike) and a third with its
    renamed copy: 2 conventions raw at every draw, 1 aligned; every draw's
    count within 1..K."""
    game = convention() / 10
    copy = cv.renamed(game, SWAP)
    per_game = np.stack([[game] * 6, [game] * 6, [copy] * 6])
    tolerances = np.array([0.05, 0.5])
    raw = cv.bootstrap_counts(per_game, None, tolerances, draws=5, seed=0)
    aligned = cv.bootstrap_counts(
        per_game, np.stack([IDENTITY, SWAP]), tolerances, draws=5, seed=0
    )
    assert raw.shape == (5, 2) and (raw[:, 0] == 2).all()
    assert (aligned == 1).all()
