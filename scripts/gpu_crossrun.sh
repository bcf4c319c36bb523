#!/usr/bin/env bash
# Issue 43's cross-run evaluation on a lent GPU (docs/studies/hanabi_3c3r.md):
# hanabi_3c3r_cpu's entropy grid and its Other-Play run (0.01), trained
# side by side, then cross-played together with the four rule-based partners.
# Leaves the summaries (no checkpoints) in OUT.
#
#   bash scripts/gpu_crossrun.sh OUT
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_crossrun.sh OUT}"
WORK="${WORK:-/tmp/gpu_crossrun}"
mkdir -p "$OUT" "$WORK"
source scripts/gpu_site.sh
set -e
"$PYTHON" -m experiments.ippo preset=hanabi_3c3r_cpu hydra.run.dir="$WORK/grid" 2>&1 | tail -2
"$PYTHON" -m experiments.ippo preset=hanabi_3c3r_cpu name=hanabi_3c3r_cpu_other_play \
  ippo.other_play=true 'ent_coefs=[0.01]' hydra.run.dir="$WORK/op" 2>&1 | tail -2
"$PYTHON" -m experiments.crossplay "$WORK/grid" "$WORK/op" --bots all --games 2000 \
  --out "$WORK/xp" 2>&1 | tail -14
for run in grid op; do
  mkdir -p "$OUT/$run"
  cp "$WORK/$run/results.json" "$WORK/$run/metrics.jsonl" "$OUT/$run/"
done
mkdir -p "$OUT/crossplay"
cp "$WORK/xp/results.json" "$WORK/xp/crossplay.csv" "$WORK/xp/crossplay_groups.png" "$OUT/crossplay/"
