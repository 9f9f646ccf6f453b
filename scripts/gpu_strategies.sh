#!/usr/bin/env bash
# On a CUDA machine: every strategy config runs end to end on the GPU (tiny synthetic runs, one
# multirun), the default MC Dropout run is timed, and two deterministic=true runs are compared.
#   bash scripts/gpu_strategies.sh [OUTDIR]
set -euo pipefail
out=${1:-/tmp/al_gpu}
rm -rf "$out"
strategies=$(ls "$(dirname "$0")/../configs/strategy" | sed 's/\.yaml$//' | paste -sd, -)
echo "== every strategy on CUDA: $strategies"
al run -m "strategy=$strategies" dataset=synthetic budget.initial=10 budget.query_size=10 \
  budget.max_labels=30 trainer.epochs=5 device=cuda "hydra.sweep.dir=$out/sweep" \
  | grep -E "^al run: (finished|error)" || true
finished=$(grep -l '"status": "finished"' $(find "$out/sweep" -name run.json) | wc -l)
echo "finished runs: $finished of $(echo "$strategies" | tr , '\n' | wc -l)"
grep -h '"device"' $(find "$out/sweep" -name run.json) | sort | uniq -c
echo "== al run strategy=mc_dropout on the defaults, device=cuda"
/usr/bin/time -f "wall %e s" al run strategy=mc_dropout device=cuda "hydra.run.dir=$out/mc" | tail -2
echo "== deterministic=true twice on CUDA (strategy=bald)"
for r in a b; do
  al run strategy=bald deterministic=true device=cuda budget.max_labels=100 "hydra.run.dir=$out/det_$r" >/dev/null
done
python3 - "$out" <<'PY'
import csv, sys
def rows(p):
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in csv.DictReader(open(p))]
o = sys.argv[1]
print("identical learning curves:", rows(f"{o}/det_a/learning_curve.csv") == rows(f"{o}/det_b/learning_curve.csv"))
print("identical queries:", open(f"{o}/det_a/queries.csv").read() == open(f"{o}/det_b/queries.csv").read())
PY
