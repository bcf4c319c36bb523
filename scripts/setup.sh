#!/usr/bin/env bash
# Creates (or updates) the project's virtual environment in .venv with every
# dependency, including the test tools. Idempotent; safe to run on every call.
set -euo pipefail
cd "$(dirname "$0")/.."
# hanabi-learning-environment builds from source with an old CMake minimum.
export CMAKE_POLICY_VERSION_MINIMUM=3.5
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project and its dependencies into .venv" \
    "(a few minutes the first time: JAX, hydra, HLE built from source)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # --no-compile: byte-compiling every installed module (JAX, SciPy, SymPy,
  # TensorBoard...) took half of the install, 89 -> 42 s on the developers'
  # 2-core Xeon; a module is compiled instead on its first import, and only
  # the modules imported are.
  .venv/bin/python -m pip install --quiet --no-compile -e ".[dev]"
  echo "setup: done"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
