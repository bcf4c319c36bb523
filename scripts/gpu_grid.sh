#!/usr/bin/env bash
# Issue 41's grid on a lent GPU (docs/studies/hanabi_3c3r.md, "Conventions at
# matched stages"):
# the wheels the machine lacks (hydra-core, omegaconf, antlr4-python3-runtime,
# from .whl/ as for scripts/gpu_hanabi.sh), then scripts/gpu_grid.py for the
# minutes given. Leaves gpu_grid.tar.gz and summary.md in OUT.
#
#   [PLAN=more] bash scripts/gpu_grid.sh OUT [MINUTES]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_grid.sh OUT [MINUTES]}"
MINUTES="${2:-8.5}"
mkdir -p "$OUT"
source scripts/gpu_site.sh
"$PYTHON" scripts/gpu_grid.py --plan "${PLAN:-grid}" --minutes "$MINUTES" --out "$OUT" --work /tmp/gpu_grid_work
