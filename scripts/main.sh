#!/usr/bin/env bash
# Sets up the environment, then runs the main job: the phase diagram of every
# catalogue game (32 seeds on a log grid of tau, Other-Play beside the entropy
# recipe, tau*, annealing, the sampled learner), two games at a time, the
# Dec-POMDP benchmarks at horizon 3 (and Dec-Tiger at 4) with their own preset,
# then the comparison tables and the figures. Results land in results/main/ (see
# README). The micro Hanabi sizes (games.hanabi_tabular.MICRO) have a study of
# their own, beside IPPO: docs/hanabi_exact.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two runs at a time on two cores: NumPy's BLAS takes one thread each. With two
# each, the four spin against each other, and the tracer's LU and eigenvalues
# of a few hundred variables ran 3-10x slower (docs/benchmarks_tracer.md).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# The Dec-POMDP benchmarks (games.BENCHMARKS) run with their own preset
# (conf/benchmark_phase.yaml: horizon 3, 8 seeds, Adam then NPG until converged)
# into results/main/benchmarks/<label>/: six of them at horizon 3, Dec-Tiger also
# at 4, Mars rovers at 2 (at 3 one evaluation of its 8 seeds x 9 taus takes over
# a second on 2 cores: about 20 minutes for the phase diagram) and, where
# ../shared/dpomdp has it, MADP's asymmetric Dec-Tiger as the control without
# symmetry; two runs at a time, the longest first, so that neither core idles
# while the other finishes.
games=$(.venv/bin/python -c "import games; print(','.join(g for g in games.CATALOGUE if g not in {*games.BENCHMARKS, *games.hanabi_tabular.MICRO}))")
rm -rf results/main
.venv/bin/python -m experiments.tabular --config-name phase --multirun "game=$games" \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=results/main "$@"

skewed=../shared/dpomdp/dectiger_skewed.dpomdp
benchmark() {  # benchmark <label> <overrides...>: one run of the preset
  local label=$1
  shift
  .venv/bin/python -m experiments.tabular --config-name benchmark_phase "$@" \
    "hydra.run.dir=results/main/benchmarks/$label"
}
benchmark_job() {  # the k-th run, longest first (minutes in the job, 0bdad38, Xeon)
  case $1 in
    0) benchmark box_pushing game=box_pushing ;;                  # 12.0
    1) benchmark dectiger game=dectiger ;;                        # 2.6
    2)                                                            # 2.4
      if [ -f "$skewed" ]; then
        benchmark dectiger_skewed \
          "game_file=$(cd "$(dirname "$skewed")" && pwd)/$(basename "$skewed")"
      else
        echo "main.sh: $skewed is absent: the control without symmetry is skipped"
      fi
      ;;
    3) benchmark dectiger_horizon_4 game=dectiger horizon=4 ;;    # 2.4
    4) benchmark fire_fighting game=fire_fighting ;;              # 1.8
    5) benchmark mars_rovers_horizon_2 game=mars_rovers horizon=2 ;;  # 1.5
    6) benchmark recycling_robots game=recycling_robots ;;        # 1.3
    7) benchmark broadcast_channel game=broadcast_channel ;;      # 0.8
    8) benchmark meeting_grid_2x2 game=meeting_grid_2x2 ;;        # 0.6
  esac
}
.venv/bin/python -c "import games, sys; listed = {'box_pushing', 'fire_fighting', \
'dectiger', 'meeting_grid_2x2', 'mars_rovers', 'recycling_robots', 'broadcast_channel'}; \
sys.exit(f'main.sh: benchmarks without a run: {set(games.BENCHMARKS) - listed}' \
if set(games.BENCHMARKS) - listed else None)"
failed=0
for k in 0 1 2 3 4 5 6 7 8; do
  if [ "$(jobs -rp | wc -l)" -ge 2 ]; then
    wait -n || failed=1
  fi
  benchmark_job "$k" "$@" &
done
for pid in $(jobs -p); do
  wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "main.sh: a benchmark run failed (its error is above)" >&2
  exit 1
fi
.venv/bin/python -m experiments.compare results/main --markdown results/main/main_job.md
.venv/bin/python -m experiments.notebooks notebooks/tabular_figures.ipynb \
  --out results/main/tabular_figures.ipynb \
  --env LAB_RESULTS=results/main --env LAB_FIGURES=results/main/figures
