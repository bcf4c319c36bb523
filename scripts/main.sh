#!/usr/bin/env bash
# Sets up the environment, then runs the main job: every catalogue game through
# the exact learner (32 seeds x 10 taus), and the comparison table and figures.
# Results land in results/main/ (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
games=$(.venv/bin/python -c "import games; print(','.join(games.CATALOGUE))")
rm -rf results/main
.venv/bin/python -m experiments.tabular --multirun "game=$games" \
  hydra.sweep.dir=results/main "$@"
.venv/bin/python -m experiments.compare results/main
