#!/usr/bin/env bash
# Sets up the environment, then runs the main job: the phase diagram of every
# catalogue game (32 seeds on a log grid of tau, Other-Play beside the entropy
# recipe, tau*, annealing, the sampled learner) and the Dec-POMDP benchmarks at
# horizon 3 (and Dec-Tiger at 4) with their own preset, two runs at a time, then
# the comparison tables and the figures. Results land in results/main/ (see
# README). The micro Hanabi sizes (games.hanabi_tabular.MICRO) have a study of
# their own, beside IPPO: docs/hanabi_exact.md. Arguments are hydra overrides
# of the catalogue's runs only (conf/phase.yaml: `bash scripts/main.sh seeds=8`);
# the benchmarks keep their preset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two runs at a time on two cores: NumPy's BLAS takes one thread each. With two
# each, the four spin against each other, and the tracer's LU and eigenvalues
# of a few hundred variables ran 3-10x slower (docs/benchmarks_tracer.md).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# XLA's compilations are kept in the user's cache (JAX's persistent compilation
# cache; the suite keeps its own, tests/conftest.py): about half of a catalogue
# game's run is compiling, and a second run of the job, or of one game, reads
# its programs back (lever 36 -> 21 s, results identical). Deleting the folder
# is safe; JAX_COMPILATION_CACHE_DIR= (empty) turns the cache off. Entries not
# read for 14 days are removed here (experiments.harness.xla_cache).
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR-${XDG_CACHE_HOME:-$HOME/.cache}/entropy-zsc-lab/xla-main}
if [ -n "$JAX_COMPILATION_CACHE_DIR" ]; then
  .venv/bin/python -c "import sys; from experiments.harness.xla_cache import prune; \
prune(sys.argv[1])" "$JAX_COMPILATION_CACHE_DIR"
fi
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=${JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES:--1}
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
catalogue() {  # the catalogue's games, one after another, into results/main/<k>_<game>
  .venv/bin/python -m experiments.tabular --config-name phase --multirun "game=$games" \
    hydra.sweep.dir=results/main "$@"
}

skewed=../shared/dpomdp/dectiger_skewed.dpomdp
benchmark() {  # benchmark <label> <overrides...>: one run of the preset
  local label=$1
  shift
  .venv/bin/python -m experiments.tabular --config-name benchmark_phase "$@" \
    "hydra.run.dir=results/main/benchmarks/$label"
}
# One queue of two runs at a time, longest first: box pushing, the catalogue's
# games, then the other benchmarks, so that neither core idles while the other
# finishes (box pushing alone is most of the job's critical path).
job() {  # job <k> <overrides...>: the k-th run (minutes at 0bdad38, Xeon, compiling all)
  local k=$1
  shift
  case $k in
    0) benchmark box_pushing game=box_pushing ;;                  # 12.0
    1) catalogue "$@" ;;                                          # 13.4 (summed)
    2) benchmark dectiger game=dectiger ;;                        # 2.6
    3)                                                            # 2.4
      if [ -f "$skewed" ]; then
        benchmark dectiger_skewed \
          "game_file=$(cd "$(dirname "$skewed")" && pwd)/$(basename "$skewed")"
      else
        echo "main.sh: $skewed is absent: the control without symmetry is skipped"
      fi
      ;;
    4) benchmark dectiger_horizon_4 game=dectiger horizon=4 ;;    # 2.4
    5) benchmark fire_fighting game=fire_fighting ;;              # 1.8
    6) benchmark mars_rovers_horizon_2 game=mars_rovers horizon=2 ;;  # 1.5
    7) benchmark recycling_robots game=recycling_robots ;;        # 1.3
    8) benchmark broadcast_channel game=broadcast_channel ;;      # 0.8
    9) benchmark meeting_grid_2x2 game=meeting_grid_2x2 ;;        # 0.6
  esac
}
.venv/bin/python -c "import games, sys; listed = {'box_pushing', 'fire_fighting', \
'dectiger', 'meeting_grid_2x2', 'mars_rovers', 'recycling_robots', 'broadcast_channel'}; \
sys.exit(f'main.sh: benchmarks without a run: {set(games.BENCHMARKS) - listed}' \
if set(games.BENCHMARKS) - listed else None)"
source scripts/slots.sh  # run_in_slots, finish
run_in_slots 10 "$@"
# The table and the figures (the notebook reads the runs, not the table), side
# by side.
.venv/bin/python -m experiments.compare results/main --markdown results/main/main_job.md &
.venv/bin/python -m experiments.notebooks notebooks/tabular_figures.ipynb \
  --out results/main/tabular_figures.ipynb \
  --env LAB_RESULTS=results/main --env LAB_FIGURES=results/main/figures &
finish "the comparison table or the figures"
