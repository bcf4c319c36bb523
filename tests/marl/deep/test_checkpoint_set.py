"""marl.deep.checkpoint.CheckpointSet: a state in parts, orbax's manager's
shape (all_steps, latest_step, should_save, save, restore, prune) over the
project's checkpoint files."""

from __future__ import annotations

import numpy as np
import pytest

from marl.deep.checkpoint import (
    CheckpointError,
    CheckpointSet,
    ForeignCheckpointError,
    checkpoint_path,
)


def parts(step: int) -> list[dict[str, np.ndarray]]:
    return [{"w": np.full(3, 10 * p + step, np.float32)} for p in range(2)]


def test_steps_count_once_every_part_has_them_and_old_ones_are_pruned(tmp_path):
    store = CheckpointSet(tmp_path, 2, "abc", keep=2, keep_every=4, every=2, last=7)
    assert store.latest_step() is None and not store.any_saved()
    assert store.restore(parts(0)) is None
    assert [s for s in range(9) if store.should_save(s)] == [0, 2, 4, 6, 7, 8]
    for step in (2, 4, 6, 8):
        store.save(step, parts(step), [{"part": p} for p in range(2)])
    # the newest two and the milestone 4 (a multiple of keep_every) are kept
    assert store.all_steps() == [4, 6, 8] and store.latest_step() == 8
    # a part saved alone (a job killed mid-save) does not make a step
    store.save(10, parts(10)[:1] + parts(10)[:1], [{}, {}])
    checkpoint_path(tmp_path / "1", 10).unlink()
    assert store.latest_step() == 8
    restored = store.restore(parts(0))
    assert restored.step == 8 and not restored.skipped
    np.testing.assert_array_equal(restored.parts[1]["w"], parts(8)[1]["w"])
    assert store.restore(parts(0), step=4).step == 4
    with pytest.raises(CheckpointError, match="no checkpoint of update 5"):
        store.restore(parts(0), step=5)


def test_a_corrupt_newest_step_falls_back_and_a_foreign_digest_is_refused(tmp_path):
    store = CheckpointSet(tmp_path, 2, "abc", keep=3)
    for step in (1, 2):
        store.save(step, parts(step), [{}, {}])
    newest = checkpoint_path(tmp_path / "0", 2)
    newest.write_bytes(newest.read_bytes()[:100])
    restored = store.restore(parts(0))
    assert restored.step == 1 and len(restored.skipped) == 1
    assert "corrupt or truncated" in restored.skipped[0]
    with pytest.raises(ForeignCheckpointError):
        CheckpointSet(tmp_path, 2, "other", keep=3).restore(parts(0))
    checkpoint_path(tmp_path / "1", 1).write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        store.restore(parts(0))
