"""The figures' module leaves matplotlib as it found it, and draws in its style."""

from __future__ import annotations

import subprocess
import sys

from tests import ROOT

IMPORTS = """
import matplotlib
before = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
backend = matplotlib.rcParams._get("backend")
import experiments.compare, experiments.crossplay, experiments.tabular
from experiments.reports import phase_plots, plots, tables
after = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
changed = sorted(k for k in before if before[k] != after[k])
assert not changed, changed
assert matplotlib.rcParams._get("backend") is backend, "a backend was chosen"
"""


def test_importing_the_reports_changes_no_matplotlib_state():
    # A fresh interpreter: the suite's own imports would hide a change.
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_saved_figure_is_drawn_in_the_house_style_and_restores_rcparams(tmp_path):
    import matplotlib

    from experiments.reports import plots

    font = matplotlib.rcParams["font.size"]
    with plots.style():
        assert matplotlib.rcParams["font.size"] == plots.STYLE["font.size"]
        fig, ax = plots.figure(figsize=plots.PANEL)
        label = ax.set_xlabel("tau")
        plots.save_figure(fig, tmp_path / "a.png")
    assert label.get_fontsize() == plots.STYLE["axes.labelsize"]
    assert matplotlib.rcParams["font.size"] == font
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
