"""The suite's compilation cache (tests/conftest.py): in the user's cache,
shared by a contributor's clones, its long-unread entries pruned
(`experiments.harness.xla_cache`, the main job's too); the one MLIR
context each worker lowers its programs into (`conftest.one_mlir_context`);
the suite's own temporary folder, which must be left empty."""

import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import pytest

from experiments.harness.xla_cache import CACHE_DAYS, prune
from tests import ROOT, conftest


def test_the_cache_is_the_users_and_falls_back_to_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    path = conftest.cache_dir()
    assert path == tmp_path / "home-cache" / "entropy-zsc-lab" / "xla-tests"
    assert path.is_dir()
    # a user cache that cannot be made (a file where its folder would be,
    # which stops root too): the checkout's own
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert conftest.cache_dir() == conftest.ROOT / ".cache" / "xla-tests"
    # the suite's processes all read the same one
    assert os.environ["JAX_COMPILATION_CACHE_DIR"]


def test_prune_removes_entries_unread_for_the_given_days(tmp_path):
    old, recent, read = (tmp_path / name for name in ("old", "recent", "read"))
    for entry in (old, recent, read):
        entry.write_bytes(b"x")
    month = time.time() - 30 * 86400
    os.utime(old, (month, month))
    os.utime(read, (time.time(), month))  # written long ago, read today
    assert prune(tmp_path, days=14) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["read", "recent"]
    assert prune(tmp_path / "absent") == 0  # a cache not made yet


def test_the_prose_says_the_days_the_code_keeps():
    # The README, the main job's script, this suite's conftest and the
    # architecture page each state the pruning age; they follow CACHE_DAYS.
    said = f"{CACHE_DAYS} days"
    names = (
        "README.md",
        "scripts/main.sh",
        "tests/conftest.py",
        "docs/architecture.md",
    )
    for name in names:
        assert said in (ROOT / name).read_text(), f"{name} does not say {said}"


def test_a_worker_lowers_every_program_into_one_mlir_context():
    # conftest.one_mlir_context, where JAX still has the function it replaces
    from jax._src.interpreters import mlir

    if not hasattr(mlir, "make_ir_context"):
        pytest.skip("this JAX has no make_ir_context: one_mlir_context changes nothing")
    first = mlir.make_ir_context()
    assert mlir.make_ir_context() is first
    # programs lowered one after another into it compile and run as alone
    programs = [jax.jit(lambda x, k=k: jnp.sin(x) * k) for k in (1.0, 2.0)]
    values = [float(p(jnp.float32(0.5))) for p in programs]
    assert values == [float(jnp.sin(0.5)), 2 * float(jnp.sin(0.5))]
    assert programs[0].lower(jnp.float32(0.5)).compiler_ir().context is first


def test_a_suite_that_leaves_files_in_the_temporary_folder_fails(tmp_path):
    """A suite (this conftest) whose test, or a process it starts, leaves a
    file or folder in the temporary folder fails, naming both; one that
    cleans up passes. This suite's own processes write into its folder."""
    assert os.environ["TMPDIR"] == os.environ[conftest.SUITE_TEMP_ENV]
    tests = tmp_path / "test_leaves.py"
    tests.write_text(
        "import subprocess, sys, tempfile\n"
        "def test_leaves():\n"
        "    tempfile.mkstemp(suffix='.left')\n"
        "    subprocess.run([sys.executable, '-c', 'import tempfile; "
        'tempfile.mkdtemp(prefix="child")\'], check=True)\n'
        "def test_cleans_up():\n"
        "    with tempfile.TemporaryDirectory():\n"
        "        pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != conftest.SUITE_TEMP_ENV}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest"]
    command += ["-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tests)]

    def run(*which: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *which], cwd=ROOT, env=env, capture_output=True, text=True
        )

    left = run("-k", "leaves")
    assert left.returncode == 1, left.stdout + left.stderr
    assert "the suite left 2 entries in its temporary folder" in left.stdout
    assert ".left" in left.stdout and "child" in left.stdout
    clean = run("-k", "cleans_up")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_a_killed_suites_temporary_folder_is_removed_by_the_next_suite(tmp_path):
    """Folders of suites that never reached their end (unchanged for a day)
    are removed; a recent one (a suite running beside) and the suite's own
    are kept, and so is anything else in the temporary folder."""
    prefix = conftest.SUITE_TEMP_PREFIX
    old = time.time() - conftest.STALE_SUITE_SECONDS - 60
    killed, running, own = (
        tmp_path / f"{prefix}{n}" for n in ("killed", "running", "own")
    )
    other = tmp_path / "someone-elses"
    for path in (killed, running, own, other):
        (path / "inside").mkdir(parents=True)
    for path in (killed, own, other):
        os.utime(path, (old, old))
    removed = conftest.remove_stale_suite_folders(tmp_path, keep=own)
    assert removed == [killed.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (running, own, other)
    )
