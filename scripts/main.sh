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
# (conf/benchmark_phase.yaml: horizon 3, 8 seeds, Adam then NPG until certified)
# into results/main/benchmarks/: six of them at horizon 3 as a sweep, two at a
# time, then Dec-Tiger at horizon 4 beside Mars rovers at horizon 2 (at 3 one
# evaluation of its 8 seeds x 9 taus takes over a second on 2 cores: about 20
# minutes for the phase diagram) and, where ../shared/dpomdp has it, MADP's
# asymmetric Dec-Tiger as the control without symmetry.
games=$(.venv/bin/python -c "import games; print(','.join(g for g in games.CATALOGUE if g not in games.BENCHMARKS))")
# box pushing, the slowest, first: the sweep's other core runs the rest meanwhile.
benchmarks=$(.venv/bin/python -c "import games; print(','.join(['box_pushing'] + [g for g in games.BENCHMARKS if g not in ('box_pushing', 'mars_rovers')]))")
rm -rf results/main
.venv/bin/python -m experiments.tabular --config-name phase --multirun "game=$games" \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=results/main "$@"
.venv/bin/python -m experiments.tabular --config-name benchmark_phase --multirun \
  "game=$benchmarks" hydra/launcher=joblib hydra.launcher.n_jobs=2 \
  hydra.sweep.dir=results/main/benchmarks "$@"
.venv/bin/python -m experiments.tabular --config-name benchmark_phase game=dectiger \
  horizon=4 hydra.run.dir=results/main/benchmarks/dectiger_horizon_4 "$@" &
h4=$!
.venv/bin/python -m experiments.tabular --config-name benchmark_phase game=mars_rovers \
  horizon=2 hydra.run.dir=results/main/benchmarks/mars_rovers_horizon_2 "$@"
skewed=../shared/dpomdp/dectiger_skewed.dpomdp
if [ -f "$skewed" ]; then
  .venv/bin/python -m experiments.tabular --config-name benchmark_phase \
    game_file="$(cd "$(dirname "$skewed")" && pwd)/$(basename "$skewed")" \
    hydra.run.dir=results/main/benchmarks/dectiger_skewed "$@"
else
  echo "main.sh: $skewed is absent: the control without symmetry is skipped"
fi
wait "$h4"
.venv/bin/python -m experiments.compare results/main
.venv/bin/python -m experiments.notebooks notebooks/tabular_figures.ipynb \
  --out results/main/tabular_figures.ipynb \
  --env LAB_RESULTS=results/main --env LAB_FIGURES=results/main/figures
