"""The house's layering (docs/architecture.md), read from every module's imports:
imports only point down, the two wings of `marl/` never import each other nor
the other wing's room of `games/`, the two rooms of `games/` (tabular, envs) never
import each other, the shared core imports neither wing, and no entry point
imports another; the launcher loads no JAX, the entry points no matplotlib nor
scipy.stats; no function runs over 100 lines nor any source file over 600."""

from __future__ import annotations

import ast
import pathlib
import tomllib

import pytest

from tests import run_python

ROOT = pathlib.Path(__file__).resolve().parents[1]


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: pathlib.Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (lazy imports too),
    with `from package import module` resolved to `package.module`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(package: str) -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(path)
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in modules(package).items()
        for name in sorted(names)
        if any(within(name, f) for f in forbidden)
    ]


def test_imports_of_reads_lazy_and_from_imports(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import os\nfrom marl.deep import play as p\n\n"
        "def f():\n    from experiments import ippo\n"
    )
    names = imports_of(source)
    assert {"os", "marl.deep", "marl.deep.play", "experiments.ippo"} <= names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("games", ("marl", "experiments", "benchmarks", "tests")),
        ("marl", ("experiments", "benchmarks", "tests")),
        ("marl/tabular", ("marl.deep",)),
        ("marl/deep", ("marl.tabular",)),
        ("games/tabular", ("games.envs",)),
        ("games/envs", ("games.tabular",)),
        ("marl/tabular", ("games.envs",)),
        ("marl/deep", ("games.tabular",)),
        ("experiments/harness", ("experiments.deep", "experiments.exact")),
        ("experiments/harness", ("experiments.reports", "marl.deep", "marl.tabular")),
        ("experiments/exact", ("experiments.deep", "marl.deep", "games.envs")),
        ("experiments/deep", ("experiments.exact", "marl.tabular", "games.tabular")),
        ("experiments/reports", ("experiments.deep", "experiments.exact")),
    ],
)
def test_layers_imports_point_down(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(package, forbidden) == []


def test_layers_games_rooms_import_no_package_above_them() -> None:
    """`import games` (or `from games import X`) runs games/__init__, which opens
    both rooms: a module of one room, or of one wing of marl, names its room."""
    bad = [
        f"{module} imports games"
        for package in ("games/tabular", "games/envs", "marl")
        for module, names in modules(package).items()
        if "games" in names
    ]
    assert bad == []


def test_layers_shared_core_imports_neither_wing() -> None:
    core = [p for p in (ROOT / "marl").glob("*.py")]
    assert len(core) >= 4
    bad = [
        f"{module_name(p)} imports {name}"
        for p in core
        for name in sorted(imports_of(p))
        if within(name, "marl.tabular") or within(name, "marl.deep")
    ]
    assert bad == []


def test_layers_no_entry_point_imports_another() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry_points = {target.split(":")[0] for target in scripts.values()}
    assert "experiments.ippo" in entry_points and "experiments.tabular" in entry_points
    bad = [
        f"{module} imports {name}"
        for module, names in modules("experiments").items()
        for name in sorted(names)
        if name in entry_points and name != module
    ]
    assert bad == []


def test_layers_experiments_top_level_holds_the_entry_points_only() -> None:
    """What a user runs is what `ls experiments/` shows: every module at its top
    level is an entry point with a console script, and every console script's
    module lies there; the modules they share live in its packages."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry_points = {target.split(":")[0] for target in scripts.values()}
    top = {
        module_name(path)
        for path in (ROOT / "experiments").glob("*.py")
        if path.name != "__init__.py"
    }
    assert top == entry_points
    packages = {p.name for p in (ROOT / "experiments").iterdir() if p.is_dir()}
    assert {"harness", "deep", "exact", "reports"} <= packages


ENTRY_POINT_LINES = 450
"""An entry point parses, calls and writes; past this many lines it holds work
that belongs in a library module (experiments/exact/studies.py, tables.py, ...)."""


def test_layers_entry_points_stay_small() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    sizes = {
        target.split(":")[0]: len(
            (ROOT / (target.split(":")[0].replace(".", "/") + ".py"))
            .read_text()
            .splitlines()
        )
        for target in scripts.values()
    }
    assert len(sizes) >= 8
    assert {name: n for name, n in sizes.items() if n > ENTRY_POINT_LINES} == {}


def test_layers_the_launcher_starts_without_jax() -> None:
    """zsc-launch only parses and starts processes: importing it loads no JAX
    (about a second of start-up; `marl.fields` keeps the config errors JAX-free)."""
    probe = (
        "import sys, experiments.launch; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jax'))"
    )
    found = run_python(probe)
    assert found.strip() == "[]", found


def test_layers_entry_points_start_without_matplotlib_or_scipy_stats() -> None:
    """A run that ends in an error, or `--help`, draws nothing: the entry points
    import matplotlib only to draw (`experiments.reports.plots`) and no
    scipy.stats (`scipy.special`'s t-distribution instead): together about a
    second of every process's start-up, every bad-input case's included."""
    probe = (
        "import sys, experiments.tabular, experiments.ippo, experiments.crossplay; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] == 'matplotlib' or m.startswith('scipy.stats')))"
    )
    found = run_python(probe)
    assert found.strip() == "[]", found


def test_layers_the_tabular_entry_point_starts_without_the_deep_networks() -> None:
    """The exact wing's entry point draws its tables through
    `experiments.reports`, which names cross-play's policy kinds
    (`marl.deep.kinds`): it loads neither flax nor any other deep module
    (0.2 s of each tabular process's start)."""
    light = ("marl.deep", "marl.deep.kinds")
    probe = (
        "import sys, experiments.tabular; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] == 'flax' "
        f"or m.startswith('marl.deep') and m not in {light}))"
    )
    found = run_python(probe)
    assert found.strip() == "[]", found


FUNCTION_LINES = 100
SOURCE_LINES = 600
"""A function past 100 lines holds phases that want names; a module past 600
lines holds more than one concept (issue 59's bounds)."""


def test_layers_no_function_or_source_file_is_too_long() -> None:
    long_functions, long_files = [], []
    for package in ("games", "marl", "experiments", "benchmarks", "scripts"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            name = path.relative_to(ROOT)
            if (lines := len(text.splitlines())) > SOURCE_LINES:
                long_files.append(f"{name} ({lines} lines)")
            for node in ast.walk(ast.parse(text, filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > FUNCTION_LINES:
                        long_functions.append(f"{name}:{node.name} ({length})")
    assert long_functions == [] and long_files == []
