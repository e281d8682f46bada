#!/usr/bin/env bash
# The MLP stage of the R-Drop strength study (configs/sweeps/rdrop_strength.yaml) in stages:
# one seed at a time (every variant and lr), one 1-rank job at a time, resumable (a finished
# run is skipped). After each stage the whole grid's report is rewritten (runs not yet run
# show as such).
#   nohup bash launch/rdrop_strength.sh [SEEDS...] > runs/rdrop-strength.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Cooperlake} OPENBLAS_NUM_THREADS=1
spec=configs/sweeps/rdrop_strength.yaml
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in "${seeds[@]}"; do
    sed "s/^  run.seed: .*/  run.seed: [$s]/" "$spec" > "$tmp/stage-seed$s.yaml"
    echo "== stage: seed $s ($(date -u +%H:%M:%S))"
    bash launch/sweep.sh "$tmp/stage-seed$s.yaml" --out runs/sweep-rdrop-strength
    bash launch/sweep.sh "$spec" --report-only > /dev/null
    echo "== stage seed $s done ($(date -u +%H:%M:%S))"
done
