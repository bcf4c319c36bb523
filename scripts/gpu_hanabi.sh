#!/usr/bin/env bash
# The GPU run of issue 46 on a lent machine (docs/ippo.md, "Hanabi-Full on one
# GPU"): a tiny smoke run of the training and cross-play phases first (a minute;
# it stops the command early if the machine's JAX breaks either), then
# scripts/gpu_hanabi.py at full size for the minutes left. Leaves
# gpu_hanabi.tar.gz and summary.md in OUT (and smoke.md, the smoke run's).
#
#   bash scripts/gpu_hanabi.sh OUT [MINUTES]
#
# Python packages the machine lacks travel as wheels in .whl/ (hydra-core,
# omegaconf, antlr4-python3-runtime; for JaxMARL's columns jaxmarl, distrax,
# tfp-nightly (0.25.0 fails under jax >= 0.10), six, absl-py, decorator, gast,
# dm-tree) and JaxMARL's baselines as a
# work tree in .jaxmarl/ (git archive of baselines/IPPO); docs/benchmarks.md
# says how they were made. Without them the script runs what it can.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_hanabi.sh OUT [MINUTES]}"
MINUTES="${2:-7.5}"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-.whl}"
mkdir -p "$OUT"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
peer=()
if [ -f .jaxmarl/baselines/IPPO/ippo_ff_hanabi.py ]; then
  peer=(--jaxmarl-repo .jaxmarl)
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
began=$(date +%s)
"$PYTHON" scripts/gpu_hanabi.py --tiny --minutes 2 --skip throughput \
  --out /tmp/gpu_smoke --work /tmp/gpu_smoke_work || exit 1
cp /tmp/gpu_smoke/summary.md "$OUT/smoke.md"
"$PYTHON" - <<'EOF' || { cat /tmp/gpu_smoke_work/*.log | tail -40; exit 1; }
import json, sys
summary = json.load(open("/tmp/gpu_smoke_work/summary.json"))
bad = [p for p in summary["phases"] if p["status"] != "ok"]
for p in bad:
    print("smoke:", p["phase"], p["status"], *p.get("tail", []), sep="\n  ")
sys.exit(1 if bad else 0)
EOF
spent=$(( $(date +%s) - began ))
left=$("$PYTHON" -c "print(max(1.0, $MINUTES - $spent / 60))")
echo "smoke run ok in ${spent} s; the full run gets ${left} minutes"
"$PYTHON" scripts/gpu_hanabi.py --minutes "$left" --out "$OUT" \
  --work /tmp/gpu_hanabi_work "${peer[@]}" --jaxmarl-deps /tmp/site
