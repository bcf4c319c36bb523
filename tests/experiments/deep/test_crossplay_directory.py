"""Cross-play's output directory (experiments/deep/crossplay_directory.py): the
partial file an interrupted evaluation leaves is read back whole, or set aside
with a line that says why; a larger earlier evaluation is refused, then kept
beside; a second writer is refused while the first holds the lock."""

from __future__ import annotations

import numpy as np

from experiments.deep.crossplay_directory import PARTIAL, load_partial, save_partial
from marl.deep.kinds import KINDS
from marl.deep.rounds import Games


def test_a_partial_is_read_back_or_refused_in_words(tmp_path):
    assert load_partial(tmp_path, "k") == (None, "")  # none: nothing to say
    played = {
        kind: Games(np.arange(12.0).reshape(2, 2, 3), np.zeros((2, 2, 3), bool))
        for kind in KINDS
    }
    assert save_partial(tmp_path, played, "k") == 3
    resumed, why = load_partial(tmp_path, "k")
    assert why == "" and resumed is not None
    np.testing.assert_array_equal(resumed[KINDS[0]].score, played[KINDS[0]].score)
    assert load_partial(tmp_path, "other") == (
        None,
        f"{tmp_path / PARTIAL} holds another evaluation's games: starting over",
    )
    whole = (tmp_path / PARTIAL).read_bytes()
    # Truncated (once a zipfile.BadZipFile traceback at every rerun), and bytes
    # that were never an npz (once dropped without a word).
    for damaged in (whole[: len(whole) // 2], bytes(range(256)) * 4, b""):
        (tmp_path / PARTIAL).write_bytes(damaged)
        resumed, why = load_partial(tmp_path, "k")
        assert resumed is None
        assert why.startswith(f"{tmp_path / PARTIAL} is unreadable (")
        assert why.endswith("): starting over") and "\n" not in why


def test_a_larger_evaluation_is_refused_and_the_lock_held_until_the_job_ends(tmp_path):
    import json

    import pytest

    from experiments.deep.agents import CrossPlayError
    from experiments.deep.crossplay_directory import CrossplayDirectory
    from experiments.harness.rundir import Job
    from marl.files import DirectoryLockedError

    out = tmp_path / "crossplay"
    out.mkdir()
    (out / "results.json").write_text(
        json.dumps({"num_games": 100, "symmetry": {"num_games": 10}})
    )
    with Job(out) as job:
        directory = CrossplayDirectory(job)  # it exists: locked at once
        assert job.held
        with pytest.raises(DirectoryLockedError, match="another run"):
            CrossplayDirectory(Job(out))
        directory.refuse_smaller(100, 10)  # as large: replaced
        with pytest.raises(CrossPlayError, match=r"larger evaluation .* --force"):
            directory.refuse_smaller(99, 10)
        with pytest.raises(CrossPlayError, match="per permutation"):
            directory.refuse_smaller(100, 9)
    fresh = tmp_path / "new"
    with Job(fresh) as job:
        directory = CrossplayDirectory(job)  # a bad path would make nothing
        assert not job.held and not fresh.exists()
        directory.accept()
        assert job.held and fresh.is_dir()
    assert not job.held
