#!/usr/bin/env bash
# A refactor changes no result: run every strategy (and BALD under every posterior) on digits,
# short runs, into OUT; run it again after the change into another folder, then compare the two
# file by file (run folders, learning curves without their timing columns, queries.csv, the
# identity in run.json):
#
#   git worktree add /tmp/before <commit> && (cd /tmp/before && PYTHONPATH=$PWD scripts/same_runs.sh /tmp/runs_before)
#   scripts/same_runs.sh /tmp/runs_after
#   python scripts/same_runs.py /tmp/runs_before /tmp/runs_after
#
# Environment: SEEDS (default 0,1), AL (default "python -m al_cli", so PYTHONPATH picks the tree).
set -euo pipefail
OUT=${1:?usage: scripts/same_runs.sh OUT}
SEEDS=${SEEDS:-0,1}
read -r -a AL <<< "${AL:-python -m al_cli}"
strategies=$(ls "$(dirname "$0")/../configs/strategy" | sed 's/\.yaml$//' | paste -sd, -)
common=(device=cpu threads=1 "seed=$SEEDS" "paths.results_dir=$OUT" budget.initial=20
    budget.query_size=10 budget.max_labels=50 hydra/job_logging=disabled)
export OMP_NUM_THREADS=1
"${AL[@]}" run -m "strategy=$strategies" "${common[@]}" > /dev/null
"${AL[@]}" run -m strategy=bald posterior=deep_ensemble,bnn,laplace "${common[@]}" > /dev/null
"${AL[@]}" run -m strategy=batchbald,margin strategy.candidates=200 "${common[@]}" > /dev/null
