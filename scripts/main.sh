#!/usr/bin/env bash
# Sets up the environment, then runs the main job: the phase diagram of every
# catalogue game (32 seeds on a log grid of tau, Other-Play beside the entropy
# recipe, tau*, annealing, the sampled learner), two games at a time, then the
# comparison tables and the figures. Results land in results/main/ (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Dec-POMDP benchmarks (games.BENCHMARKS) join the main job with their own
# settings (issue 11); until then it runs every other catalogue game.
games=$(.venv/bin/python -c "import games; print(','.join(g for g in games.CATALOGUE if g not in games.BENCHMARKS))")
rm -rf results/main
.venv/bin/python -m experiments.tabular --config-name phase --multirun "game=$games" \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=results/main "$@"
.venv/bin/python -m experiments.compare results/main
.venv/bin/python -m experiments.notebooks notebooks/tabular_figures.ipynb \
  --out results/main/tabular_figures.ipynb \
  --env LAB_RESULTS=results/main --env LAB_FIGURES=results/main/figures
