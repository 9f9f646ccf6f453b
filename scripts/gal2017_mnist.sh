#!/usr/bin/env bash
# Validation of the Gal et al. 2017 preset (+experiment=gal2017_mnist) on real MNIST digits;
# results and reading in docs/benchmarks/gal2017_mnist.md.
#
#   scripts/gal2017_mnist.sh [OUT]        # default OUT: results/gal2017_mnist
#
# mnist_5k.npz (5,000 real digits, 500 per class; ../shared/data/README.md) through dataset=npz:
# a stratified pool of 4,000 and test set of 1,000 (dataset.split_seed 0), everything else as
# the preset ships: pixels in [0, 1], 20 class-balanced initial labels, 10 per round, 2,000
# random candidates scored with 100 MC Dropout samples, the CNN rebuilt and trained each round.
# Environment: SEEDS (default 0,1,2,3,4,5), STRATEGIES (default random,bald,max_entropy,
# variation_ratios,batchbald), MAX_LABELS (default 600), JOBS parallel runs (default 2, one
# torch thread each on the CPU), DEVICE (cpu; cuda on a GPU machine, where the JOBS runs share
# the GPU: e.g. DEVICE=cuda JOBS=8), EXPERIMENT (gal2017_mnist; gal2017_keras for the authors'
# settings), OVERRIDES (more overrides, space-separated), AL (the al command). Runs go seed by seed, in the order of STRATEGIES, so
# that at any time every finished strategy has the same seeds. Rerunning skips finished runs and
# resumes unfinished ones (al's content-named run folders): stop and restart it freely.
set -euo pipefail
OUT=${1:-results/gal2017_mnist}
SEEDS=${SEEDS:-0,1,2,3,4,5}
STRATEGIES=${STRATEGIES:-random,bald,max_entropy,variation_ratios,batchbald}
MAX_LABELS=${MAX_LABELS:-600}
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}
EXPERIMENT=${EXPERIMENT:-gal2017_mnist}
DATA=${MNIST5K:-../shared/data/mnist_5k.npz}
AL=${AL:-al}
export OMP_NUM_THREADS=1

common=(
    "+experiment=$EXPERIMENT"
    dataset=npz "dataset.path=$DATA" dataset.test_fraction=0.2
    "budget.max_labels=$MAX_LABELS"
    "device=$DEVICE"
    "paths.results_dir=$OUT"
)
[[ $DEVICE == cpu ]] && common+=(threads=1)
read -r -a extra <<< "${OVERRIDES:-}"
common+=("${extra[@]}")

mkdir -p "$OUT"
{ date -u; uptime; nproc --all; git rev-parse HEAD 2>/dev/null || true; } >> "$OUT/started.txt"
IFS=, read -r -a seeds <<< "$SEEDS"
IFS=, read -r -a strategies <<< "$STRATEGIES"
run_one() {  # SEED STRATEGY
    local log="$OUT/logs/seed$1_$2.log"
    local masks=()  # BatchBALD's joint entropies need the same T networks for every candidate
    [[ $2 == batchbald ]] && masks=(posterior.consistent_masks=true)
    "$AL" run "seed=$1" "strategy=$2" "${common[@]}" "${masks[@]}" >> "$log" 2>&1 \
        || echo "seed $1 strategy $2 failed: see $log"
}
mkdir -p "$OUT/logs"
for seed in "${seeds[@]}"; do
    for strategy in "${strategies[@]}"; do
        while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
        run_one "$seed" "$strategy" &
    done
done
wait
{ date -u; uptime; } >> "$OUT/finished.txt"

# the comparison: paired by seed against random (same split and initial labels)
"$AL" plot "$OUT" --target 0.9 --baseline random --out "$OUT/plots"
