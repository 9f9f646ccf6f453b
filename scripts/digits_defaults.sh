#!/usr/bin/env bash
# The label-efficiency check of the default set-up (digits, MLP, 20 + 20 per round to 300):
# the uncertainty strategies and random over 5 seeds, then `al plot` with paired statistics
# against random, into docs/figures/ (the figure and table of docs/how-to/plot-tables.md). Why the defaults are what
# they are: docs/benchmarks/digits_defaults.md.
#
#   scripts/digits_defaults.sh [OUT]        # default OUT: results/digits_defaults
#
# Environment: STRATEGIES, SEEDS (default 0,1,2,3,4), FIGURES (default docs/figures). Every run
# is deterministic on the CPU (the same numbers under any load); about 10-30 s per run on one
# thread, 40 runs.
set -euo pipefail
OUT=${1:-results/digits_defaults}
STRATEGIES=${STRATEGIES:-random,entropy,bald,mc_dropout,least_confidence,margin,max_entropy,variation_ratios}
SEEDS=${SEEDS:-0,1,2,3,4}
FIGURES=${FIGURES:-docs/figures}
AL=${AL:-al}
mkdir -p "$OUT"
{ date -u; uptime; nproc --all; git rev-parse HEAD 2>/dev/null || true; } >> "$OUT/started.txt"
OMP_NUM_THREADS=1 nice -n 5 "$AL" run -m "strategy=$STRATEGIES" "seed=$SEEDS" device=cpu threads=1 \
    "paths.results_dir=$OUT"
{ date -u; uptime; } >> "$OUT/finished.txt"
"$AL" plot "$OUT" --target 0.9 --baseline random --out "$FIGURES"
