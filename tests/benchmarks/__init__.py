"""Tests of benchmarks/ and of the GPU scripts in scripts/."""

import importlib.util
import types

from tests import ROOT


def load_script(name: str) -> types.ModuleType:
    """scripts/<name>.py as a module (scripts/ is no package)."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
