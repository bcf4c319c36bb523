"""experiments/harness/deadlines.py, what the GPU scripts share: a phase that
overruns its deadline is stopped (SIGINT, then SIGKILL after the grace) and recorded, a
failed one keeps the tail of its output, a phase with no time left is skipped,
and the rest runs. The phase is stopped by its SIGINT even where the script was
started with SIGINT ignored, as `cmd &` in a non-interactive shell starts it."""

from __future__ import annotations

import signal
import time

from experiments.harness import deadlines


def test_a_phase_past_its_deadline_is_stopped_and_recorded(tmp_path, monkeypatch):
    script = deadlines
    # Phases with under a second left are skipped (5 s in the scripts): the
    # deadlines below are what they check, not the minimum's value.
    monkeypatch.setattr(script, "LEAST_SECONDS", 1.0)
    phases = script.Phases(tmp_path, "test")
    began = time.time()
    # As a script launched in the background: SIGINT ignored, which its
    # children would inherit.
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        slow = phases.run(
            "slow",
            ["-c", "import time; print('started', flush=True); time.sleep(600)"],
            time.time() + 2,  # ample for a bare interpreter to print
        )
    finally:
        signal.signal(signal.SIGINT, handler)
    # Stopped, not waited out: far less than the phase's own 600 s however
    # loaded the machine is, and by its SIGINT (a KeyboardInterrupt, which
    # Python ends with that signal), not the SIGKILL after the grace.
    assert time.time() - began < 2 + script.GRACE_SECONDS + 60
    assert slow["status"] == "stopped at its deadline"
    assert slow["returncode"] == -signal.SIGINT
    assert "started" in (tmp_path / "slow.log").read_text()
    ok = phases.run("ok", ["-c", "print('fine')"], time.time() + 60)
    failed = phases.run(
        "bad", ["-c", "raise SystemExit('broken input')"], time.time() + 60
    )
    late = phases.run("late", ["-c", "pass"], time.time() + 0.5)
    assert [ok["status"], failed["status"], late["status"]] == [
        "ok",
        "failed",
        "skipped",
    ]
    assert failed["tail"] == ["broken input"]
    assert [p["phase"] for p in phases.records] == ["slow", "ok", "bad", "late"]
