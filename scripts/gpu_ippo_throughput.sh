#!/usr/bin/env bash
# benchmarks/ippo_throughput.py on a lent GPU (docs/benchmarks_ippo.md, "IPPO
# training: ours vs JaxMARL's ippo_ff_hanabi"): ours beside JaxMARL's
# feed-forward baseline at 1,024 games (their YAML's) for 10 and 50 updates,
# and at 8,192 and 32,768 games for 4; each table in OUT/ippo_<games>_<updates>.txt.
# Needs .whl/ and .jaxmarl/ from scripts/gpu_wheels.sh (without .jaxmarl/ ours
# runs alone). About 5 minutes on one H200. SIZES="<games> <updates>;..."
# replaces the four sizes (SIZES="8 2" is the CPU check).
#
#   bash scripts/gpu_ippo_throughput.sh OUT
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash scripts/gpu_ippo_throughput.sh OUT}"
mkdir -p "$OUT"
source scripts/gpu_site.sh
peer=(--skip-jaxmarl)
if [ -f .jaxmarl/baselines/IPPO/ippo_ff_hanabi.py ]; then
  peer=(--jaxmarl-repo .jaxmarl --jaxmarl-deps /tmp/site)
fi
IFS=';' read -ra sizes <<< "${SIZES:-1024 10;8192 4;1024 50;32768 4}"
for size in "${sizes[@]}"; do
  read -r games updates <<< "$size"
  timeout 200 "$PYTHON" -m benchmarks.ippo_throughput "${peer[@]}" --num-envs "$games" \
    --updates "$updates" --repeats 2 > "$OUT/ippo_${games}_$updates.txt" 2>&1
  echo "games $games, updates $updates: exit $?"
  tail -6 "$OUT/ippo_${games}_$updates.txt"
done
