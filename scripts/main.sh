#!/usr/bin/env bash
# Sets up the environment, then runs the main job: the phase diagram of every
# catalogue game (32 seeds on a log grid of tau, Other-Play beside the entropy
# recipe, tau*, annealing, the sampled learner), two games at a time, the
# Dec-POMDP benchmarks at horizon 3 (and Dec-Tiger at 4) with their own preset,
# then the comparison tables and the figures. Results land in results/main/ (see
# README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Dec-POMDP benchmarks (games.BENCHMARKS) run with their own preset
# (conf/benchmark_phase.yaml: horizon 3, 8 seeds, Adam) into
# results/main/benchmarks/: five of them as a sweep, then box pushing (the
# slowest per step: 100 states) on a shorter grid of tau with a 3-point tau*
# search, beside Dec-Tiger at horizon 4 and Mars rovers at horizon 2 (at 3 it
# takes 20 ms per seed per evaluation: half an hour for the phase diagram).
games=$(.venv/bin/python -c "import games; print(','.join(g for g in games.CATALOGUE if g not in games.BENCHMARKS))")
benchmarks=$(.venv/bin/python -c "import games; print(','.join(g for g in games.BENCHMARKS if g not in ('box_pushing', 'mars_rovers')))")
rm -rf results/main
.venv/bin/python -m experiments.tabular --config-name phase --multirun "game=$games" \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=results/main "$@"
.venv/bin/python -m experiments.tabular --config-name benchmark_phase --multirun \
  "game=$benchmarks" hydra/launcher=joblib hydra.launcher.n_jobs=2 \
  hydra.sweep.dir=results/main/benchmarks "$@"
.venv/bin/python -m experiments.tabular --config-name benchmark_phase game=box_pushing \
  'taus=[0.0,0.3,1.0,3.0,30.0]' critical_tau.points=3 critical_tau.rtol=0.4 \
  hydra.run.dir=results/main/benchmarks/box_pushing "$@" &
box=$!
.venv/bin/python -m experiments.tabular --config-name benchmark_phase game=dectiger \
  horizon=4 'taus=[0.0,1.0,3.0,10.0,30.0]' critical_tau.enabled=false \
  hydra.run.dir=results/main/benchmarks/dectiger_horizon_4 "$@"
.venv/bin/python -m experiments.tabular --config-name benchmark_phase game=mars_rovers \
  horizon=2 hydra.run.dir=results/main/benchmarks/mars_rovers_horizon_2 "$@"
wait "$box"
.venv/bin/python -m experiments.compare results/main
.venv/bin/python -m experiments.notebooks notebooks/tabular_figures.ipynb \
  --out results/main/tabular_figures.ipynb \
  --env LAB_RESULTS=results/main --env LAB_FIGURES=results/main/figures
