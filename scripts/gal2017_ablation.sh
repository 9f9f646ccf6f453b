#!/usr/bin/env bash
# The Gal et al. 2017 protocol in al beside the peer script (../shared/peers/baal_gal_mnist.py)
# on the peer's own pool/test splits of mnist_5k, one factor at a time: which training setting
# costs labels. Results and reading: docs/benchmarks/gal2017_mnist.md.
#
#   scripts/gal2017_ablation.sh [OUT]       # default OUT: results/gal2017_ablation
#
# Every variant starts from +experiment=gal2017_keras (the authors' Keras code, masks drawn per
# input) and changes the settings on its line in VARIANTS; its runs go to OUT/NAME. The first
# four share the masks across inputs, as the shipped gal2017_mnist does (keras_consistent is
# that preset). Seed S trains and tests on
# OUT/splits/peer_split_seedS.npz (scripts/peer_splits.py: the script's 4,000 pool and 1,000
# test digits for that seed). Jobs run in the order of VARIANTS (seeds, then strategies,
# inside), JOBS at a time (default 2, one torch thread each). Rerunning skips finished runs and
# resumes unfinished ones: stop and restart it freely. ONLY=name,name runs those variants only,
# STRATEGIES=name,name those of their strategies only.
# Environment: SEEDS (default 0,1,2,3,4,5), MAX_LABELS (300), JOBS, DEVICE (cpu; cuda on a GPU
# machine, where JOBS runs share it), MNIST5K (the npz), AL (the al command). To keep a sweep
# that spans sessions on one version of al, point AL at a git worktree of that commit
# (PYTHONPATH=WORKTREE python -m al_cli) with `ln -s ../configs WORKTREE/al_cli/configs`: an
# editable install otherwise reads configs/ from its own checkout, not the worktree's.
# Then: python scripts/gal2017_table.py OUT --peer ../shared/peers/results/baal_gal_mnist5k.csv
set -euo pipefail
OUT=${1:-results/gal2017_ablation}
SEEDS=${SEEDS:-0,1,2,3,4,5}
MAX_LABELS=${MAX_LABELS:-300}
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}
DATA=${MNIST5K:-../shared/data/mnist_5k.npz}
AL=${AL:-al}
PYTHON=${PYTHON:-python}
export OMP_NUM_THREADS=1

# the peer script's training: batch 64, at least 300 steps, weight decay 2.5/n on every
# parameter, inputs standardised with MNIST's mean and std, torch's default initialisation
train="trainer.batch_size=64 trainer.min_steps=300 trainer.l2_per_label=1.25 trainer.l2_scope=all"
train+=" dataset.mean=[0.1307] dataset.std=[0.3081] model.init=torch"
# NAME STRATEGIES OVERRIDES... (relative to +experiment=gal2017_keras)
VARIANTS=(
    "peer_training bald,random $train posterior.consistent_masks=true"
    "keras_consistent bald posterior.consistent_masks=true"
    "steps bald,random trainer.batch_size=64 trainer.min_steps=300 posterior.consistent_masks=true"
    "peer bald $train posterior.samples=20 posterior.consistent_masks=true"
    "peer_masks bald $train posterior.samples=20"
    "peer_masks_drop bald,random $train posterior.samples=20 trainer.last_batch=drop"
    "peer_masks_replacement bald,random $train posterior.samples=20 trainer.sampling=replacement"
    "keras bald,random"
    "batch64 bald trainer.batch_size=64"
    "minsteps300 bald trainer.min_steps=300"
    "l2_all bald trainer.l2_per_label=1.25 trainer.l2_scope=all"
    "standardised bald dataset.mean=[0.1307] dataset.std=[0.3081]"
    "torch_init bald model.init=torch"
    "samples20 bald posterior.samples=20"
    "mc_average_test bald posterior.test_dropout=true"
)

IFS=, read -r -a seeds <<< "$SEEDS"
threads=()
[[ $DEVICE == cpu ]] && threads=(threads=1)
mkdir -p "$OUT/logs"
"$PYTHON" "$(dirname "$0")/peer_splits.py" "$DATA" "$OUT/splits" --seeds "${seeds[@]}" > /dev/null
{ date -u; uptime; nproc --all; git rev-parse HEAD 2>/dev/null || true; } >> "$OUT/started.txt"

run_one() {  # NAME SEED STRATEGY OVERRIDES...
    local name=$1 seed=$2 strategy=$3
    shift 3
    "$AL" run +experiment=gal2017_keras dataset=npz "dataset.path=$OUT/splits/peer_split_seed$seed.npz" \
        "budget.max_labels=$MAX_LABELS" "device=$DEVICE" "${threads[@]}" "paths.results_dir=$OUT/$name" \
        "seed=$seed" "strategy=$strategy" "$@" >> "$OUT/logs/${name}_${strategy}_seed$seed.log" 2>&1 \
        || echo "$name seed $seed $strategy failed: see $OUT/logs/${name}_${strategy}_seed$seed.log"
}
for line in "${VARIANTS[@]}"; do
    read -r -a v <<< "$line"
    [[ -n ${ONLY:-} && ,$ONLY, != *,${v[0]},* ]] && continue
    IFS=, read -r -a strategies <<< "${v[1]}"
    [[ -n ${STRATEGIES:-} ]] && for i in "${!strategies[@]}"; do
        [[ ,$STRATEGIES, == *,${strategies[i]},* ]] || unset "strategies[i]"
    done
    for seed in "${seeds[@]}"; do
        for strategy in "${strategies[@]}"; do
            while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
            run_one "${v[0]}" "$seed" "$strategy" "${v[@]:2}" &
        done
    done
done
wait
{ date -u; uptime; } >> "$OUT/finished.txt"
