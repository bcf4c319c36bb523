"""Progress lines (experiments/harness/logs.py): an ETA once it can be told, and the
exact learner's convergence progress, throttled, with the time left as an
upper bound."""

from __future__ import annotations

import logging

from experiments.exact.training import convergence_progress
from experiments.harness.logs import LOG_EVERY_SECONDS, eta_text
from marl.tabular.convergence import TrainingProgress


def test_progress_lines_give_an_eta_once_it_can_be_told():
    assert eta_text(10.0, 2, 10) == ", ETA 40 s"
    assert eta_text(60.0, 1, 10) == ", ETA 9.0 min"
    assert eta_text(0.0, 0, 10) == eta_text(5.0, 10, 10) == ""


def test_convergence_progress_is_throttled_and_bounds_the_time_left(caplog):
    show = convergence_progress(logging.getLogger("test.logs"))
    compiled = (3.0, 50)  # 3 s to compile and run the first 50 steps
    with caplog.at_level(logging.INFO, logger="test.logs"):
        show(TrainingProgress("g", 50, 1050, 3.0, compiled, 0, 8))  # shown: the first
        show(TrainingProgress("g", 100, 1050, 4.0, compiled, 2, 8))  # too soon
        later = 4.0 + LOG_EVERY_SECONDS
        show(TrainingProgress("g", 550, 1050, later, compiled, 5, 8))
        show(
            TrainingProgress("g", 600, 1050, later + 0.5, compiled, 8, 8)
        )  # all converged
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "g: step 50/1050 (3 s), 0 of 8 seeds converged"
    # 500 steps in 11 s since compilation: 500 more take up to 11 s.
    assert (
        lines[1] == "g: step 550/1050 (14 s, up to ~11 s more), 5 of 8 seeds converged"
    )
    assert lines[2].endswith("8 of 8 seeds converged") and len(lines) == 3


def test_a_long_check_is_announced_before_it_starts(caplog):
    """The contraction's power iteration can take as long as a window (box
    pushing: half a minute): it is said before it starts, as often as the
    windows are."""
    show = convergence_progress(logging.getLogger("test.logs"))
    compiled = (3.0, 50)
    with caplog.at_level(logging.INFO, logger="test.logs"):
        show(TrainingProgress("g", 50, 1050, 3.0, compiled, 0, 8))
        show(TrainingProgress("g", 100, 1050, 4.0, compiled, 0, 8, 2, 48))  # too soon
        later = 3.0 + LOG_EVERY_SECONDS
        show(TrainingProgress("g", 200, 1050, later, compiled, 0, 8, 3, 96))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[1:] == [
        "g: step 200: measuring the contraction at 3 taus (96 power iterations)"
    ]
