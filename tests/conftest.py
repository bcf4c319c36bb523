"""What the whole suite shares.

One persistent XLA compilation cache for this process and every subprocess a
test starts (they inherit the environment), so a program compiled once (a tiny
training step, a certification window, a cross-play game) is read from disk
the next time any test, or any entry point a test runs as a user would, needs
it. It lives in `.cache/xla-tests` under the checkout unless
`JAX_COMPILATION_CACHE_DIR` names another; a fresh clone starts it empty, and
later runs on the same checkout start warm. Entries are keyed by the program,
the jax version and the flags, so a stale entry is never used.

The `slow` marker (tests/README.md) lets a developer run the fast part with
`pytest -m "not slow"`; CI runs everything.
"""

from __future__ import annotations

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Set before jax is imported anywhere in the session (the test modules import
# it after this file), and inherited by every subprocess.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".cache" / "xla-tests"))
# Cache every program, however quick its compilation or small its executable:
# the suite's programs are tiny and many.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import jax  # noqa: E402  (after the environment above)

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


# The files that take longest (the suite's 20 slowest, docs/architecture.md),
# collected first: pytest-xdist's `--dist loadfile` hands whole files to its two
# workers in collection order, so the long ones start early and the short ones
# fill in at the end, instead of one worker finishing a long file alone.
LONGEST_FIRST = (
    "tests/experiments/test_processes.py",
    "tests/experiments/test_hanabi_crossplay_entry_point.py",
    "tests/experiments/test_entry_points.py",
    "tests/experiments/test_notebooks.py",
    "tests/experiments/test_ippo_entry_point.py",
    "tests/experiments/test_launchers.py",
    "tests/experiments/test_bad_inputs.py",
    "tests/marl/test_sharding.py",
    "tests/marl/deep/test_ippo_checkpoint.py",
    "tests/experiments/test_hanabi_compare.py",
    "tests/marl/tabular/test_engines.py",
)


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}

    def key(item: object) -> int:
        path = pathlib.Path(str(getattr(item, "path", ""))).resolve()
        try:
            name = path.relative_to(ROOT).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)  # stable: the rest keep their order
