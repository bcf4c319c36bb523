"""experiments/harness/deadlines.py, what the GPU scripts share: a phase that
overruns its deadline is stopped (SIGINT, then SIGKILL after the grace) and recorded, a
failed one keeps the tail of its output, a phase with no time left is skipped,
and the rest runs."""

from __future__ import annotations

import time

from experiments.harness import deadlines


def test_a_phase_past_its_deadline_is_stopped_and_recorded(tmp_path):
    script = deadlines
    phases = script.Phases(tmp_path, "test")
    began = time.time()
    slow = phases.run(
        "slow",
        ["-c", "import time; print('started', flush=True); time.sleep(600)"],
        time.time() + 6,
    )
    # Stopped (SIGINT, else SIGKILL after the grace), not waited out: far less
    # than the phase's own 600 s however loaded the machine is.
    assert time.time() - began < 6 + script.GRACE_SECONDS + 60
    assert slow["status"] == "stopped at its deadline"
    assert "started" in (tmp_path / "slow.log").read_text()
    ok = phases.run("ok", ["-c", "print('fine')"], time.time() + 60)
    failed = phases.run(
        "bad", ["-c", "raise SystemExit('broken input')"], time.time() + 60
    )
    late = phases.run("late", ["-c", "pass"], time.time() + 1)
    assert [ok["status"], failed["status"], late["status"]] == [
        "ok",
        "failed",
        "skipped",
    ]
    assert failed["tail"] == ["broken input"]
    assert [p["phase"] for p in phases.records] == ["slow", "ok", "bad", "late"]
