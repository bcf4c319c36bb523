"""scripts/gpu_hanabi.py, the GPU run of Hanabi-Full inside a time budget, checked
on CPU at a tiny size (every phase, the sizing by a measured first chunk, the
tarball's contents) so that a lent GPU's minutes are never spent finding a bug."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import pytest

from tests import ROOT

SCRIPT = ROOT / "scripts" / "gpu_hanabi.py"


@pytest.mark.slow
def test_gpu_hanabi_script_packs_every_phase_at_a_tiny_size(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    # A budget far above the tiny run's needs (it ends when its phases do), so
    # that a slow or loaded machine cuts no phase: the throughput phase's share
    # is 4 minutes (at 10, its 2 were once passed on a 2-core machine running
    # a training beside the suite).
    argv = ["--tiny", "--minutes", "20", "--out", str(out), "--work", str(work)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    with tarfile.open(out / "gpu_hanabi.tar.gz") as tar:
        names = set(tar.getnames())
        summary = json.load(tar.extractfile("gpu_hanabi/summary.json"))
        markdown = tar.extractfile("gpu_hanabi/summary.md").read().decode()
        curve = tar.extractfile("gpu_hanabi/train/metrics.jsonl").read().decode()
    expected = {
        f"gpu_hanabi/{name}"
        for name in (
            "summary.json",
            "summary.md",
            "learning_curve.png",
            "estimate.json",
            "machine.log",
            "throughput_env.log",
            "throughput_ippo_4.log",
            "train_first.log",
            "estimate.log",
            "train.log",
            "crossplay.log",
            "train/metrics.jsonl",
            "train/config.yaml",
            "train/results.json",
            "crossplay/results.json",
            "crossplay/crossplay.png",
        )
    }
    assert names == expected  # summaries only: no checkpoint, no scores
    assert (out / "summary.md").read_text() == markdown
    assert [p["status"] for p in summary["phases"]] == ["ok"] * len(summary["phases"])
    # Sized by measurement: two chunks of 2 updates, then the estimate's updates
    # that fit, capped by the run's 10 (which the tiny run completes).
    plan = summary["train"]
    assert plan["steady_steps_per_second"] > 0 and plan["updates_that_fit"] >= 6
    assert plan["stop_after"] == 10 and plan["complete"] is True
    assert [json.loads(line)["update"] for line in curve.splitlines()] == [
        2,
        4,
        6,
        8,
        10,
    ]
    assert summary["final"]["update"] == 10 and summary["final"]["env_steps"] == 640
    rows = summary["crossplay"]
    assert [r["ent_coef"] for r in rows] == [0.01, 0.05]
    assert all(r["num_seeds"] == 2 and r["xp"] is not None for r in rows)
    assert all("permuted_copy_drop" in r for r in rows)
    for row in ("| 4 | ", "| 8 | ", "| ours (marl.deep.ippo) |", "| 0.05 | 2 | "):
        assert row in markdown, row
