#!/usr/bin/env bash
# The README's learning-curve figure and table: a 20-run sweep on digits (5 seeds per
# strategy, several minutes of CPU), then `al plot` into docs/figures/.
#
#   scripts/readme_figure.sh                                   # what the README shows
#   STRATEGIES=random,entropy,bald scripts/readme_figure.sh    # other strategies
#
# Afterwards paste docs/figures/summary.md into the README's "Plotting" section.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP=${SWEEP:-/tmp/al-readme-sweep}
STRATEGIES=${STRATEGIES:-random,entropy,margin,mc_dropout}
rm -rf "$SWEEP"
nice al run -m "strategy=$STRATEGIES" seed=0,1,2,3,4 device=cpu "hydra.sweep.dir=$SWEEP"
al plot "$SWEEP" --target 0.9 --markdown --out docs/figures
