#!/usr/bin/env bash
# Sets up the environment, then lints, type-checks and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# mypy's cache is the user's, as XLA's is (tests/conftest.py): a fresh clone of
# code mypy has seen checks in a second, not 14 (it compares files by hash).
export MYPY_CACHE_DIR=${MYPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/entropy-zsc-lab/mypy}
.venv/bin/mypy
# Two workers (the project's machines have 2 cores), each taking whole files so
# that a file's shared fixtures are built once; PYTEST_WORKERS=0 runs in this
# process. XLA's compilations are cached on disk and shared by the workers and
# every subprocess a test starts (tests/conftest.py). Each worker's NumPy BLAS
# takes one thread: two each spin against each other (scripts/main.sh). A
# worker that crashes (a segfault) fails its test and ends the run with the
# crash reported: xdist's replacement worker hung under file scheduling
# (docs/architecture.md, "Tests").
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile \
  --max-worker-restart 0 "$@"
