#!/usr/bin/env bash
# The GPU run of issue 46 on a lent machine (docs/studies/hanabi_full_gpu.md):
# a tiny smoke run of the training and cross-play phases first (a minute;
# it stops the command early if the machine's JAX breaks either), then
# scripts/gpu_hanabi.py at full size for the minutes left. Leaves
# gpu_hanabi.tar.gz and summary.md in OUT (and smoke.md, the smoke run's).
#
#   bash scripts/gpu_hanabi.sh OUT [MINUTES]
#
# Python packages the machine lacks travel as wheels in .whl/ and JaxMARL's
# baselines as a work tree in .jaxmarl/, both made by scripts/gpu_wheels.sh
# (installed by scripts/gpu_site.sh). Without them the script runs what it can.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_hanabi.sh OUT [MINUTES]}"
MINUTES="${2:-7.5}"
mkdir -p "$OUT"
peer=()
if [ -f .jaxmarl/baselines/IPPO/ippo_ff_hanabi.py ]; then
  peer=(--jaxmarl-repo .jaxmarl)
fi
source scripts/gpu_site.sh
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
