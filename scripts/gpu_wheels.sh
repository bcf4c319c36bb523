#!/usr/bin/env bash
# Makes, on this machine (which reaches the package registries), what a lent GPU
# machine lacks for the scripts/gpu_*.sh scripts: .whl/, the wheels for its
# python (3.12; the image has jax, flax, optax, numpy, matplotlib), and, given
# a JaxMARL git directory, .jaxmarl/ (their baselines/IPPO, for the peer
# columns of benchmarks/ippo_throughput.py). Both folders are ignored by git;
# pass them to the device tool as `carry`. Nothing of JaxMARL is committed.
#
#   bash scripts/gpu_wheels.sh [JAXMARL_GIT_DIR]    # e.g. /work/.mirror/FLAIROx+JaxMARL/repo
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/pip}"
PY="${GPU_PYTHON_VERSION:-3.12}"
rm -rf .whl && mkdir -p .whl  # one version of each
# hydra for the entry points; jaxmarl, its imports and distrax for the peer
# columns (tfp-nightly: tensorflow-probability 0.25.0 does not import under
# jax >= 0.10).
"$PIP" download -q -d .whl --no-deps --only-binary=:all: --python-version "$PY" \
  --platform any --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 \
  hydra-core==1.3.8 omegaconf==2.3.1 jaxmarl==0.2.0 gymnax==1.0.1 "gymnasium<1.4" \
  farama-notifications cloudpickle typing_extensions jaxtyping wadler-lindig \
  safetensors distrax tfp-nightly six absl-py decorator gast dm-tree
# antlr4-python3-runtime 4.9.3 (omegaconf's pin) exists as a source archive only.
tmp=$(mktemp -d)
"$PIP" download -q -d "$tmp" --no-deps --no-binary=:all: antlr4-python3-runtime==4.9.3
"$PIP" wheel -q --no-deps -w .whl "$tmp"/antlr4-python3-runtime-4.9.3.tar.gz
rm -rf "$tmp"
if [ -n "${1:-}" ]; then
  rm -rf .jaxmarl && mkdir -p .jaxmarl
  git --git-dir="$1" archive HEAD baselines/IPPO | tar -x -C .jaxmarl
  echo "JaxMARL baselines at $(git --git-dir="$1" log -1 --format=%h) in .jaxmarl/"
fi
ls .whl
