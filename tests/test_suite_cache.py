"""The suite's compilation cache (tests/conftest.py): in the user's cache,
shared by a contributor's clones, its long-unread entries pruned
(`experiments.harness.xla_cache`, the main job's too); the one MLIR
context each worker lowers its programs into (`conftest.one_mlir_context`)."""

import os
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
