#!/usr/bin/env bash
# benchmarks/jaxmarl_crossplay.py on a lent GPU (docs/crossplay.md, "Across
# implementations"): JaxMARL's IPPO and ours on Hanabi 3c x 3r, 8 seeds x
# entropy 0.01 and 0.1 each, then their cross-play. Needs .whl/ and .jaxmarl/
# from scripts/gpu_wheels.sh. Leaves summary.md, summary.json, crossplay.json
# and the log in OUT; arguments after OUT go to the benchmark (e.g. --vmap).
#
#   bash scripts/gpu_jaxmarl_crossplay.sh OUT [--vmap]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_jaxmarl_crossplay.sh OUT [ARGS]}"
mkdir -p "$OUT"
source scripts/gpu_site.sh
"$PYTHON" -m benchmarks.jaxmarl_crossplay --jaxmarl-repo .jaxmarl \
  --jaxmarl-deps /tmp/site --out /tmp/jaxmarl_crossplay "${@:2}" 2>&1 \
  | tee "$OUT/jaxmarl_crossplay.log"
cp /tmp/jaxmarl_crossplay/summary.md /tmp/jaxmarl_crossplay/summary.json "$OUT"/
cp /tmp/jaxmarl_crossplay/crossplay/results.json "$OUT/crossplay.json"
