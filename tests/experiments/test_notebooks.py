"""Every notebook runs from top to bottom in quick mode (tiny settings)."""

from __future__ import annotations

import pytest

from experiments.notebooks import execute_notebook
from tests import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path, tmp_path):
    notebook = execute_notebook(path, {"LAB_QUICK": "1", "LAB_RESULTS": str(tmp_path)})
    outputs = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    ]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    assert len([out for out in outputs if "image/png" in out.get("data", {})]) >= 3
