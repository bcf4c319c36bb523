"""Cross-play's partial file (experiments/deep/evaluation.py): what an interrupted
evaluation leaves is read back whole, or set aside with a line that says why."""

from __future__ import annotations

import numpy as np

from experiments.deep.evaluation import PARTIAL, load_partial, save_partial
from marl.deep.evaluate import KINDS
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
