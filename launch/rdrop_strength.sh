#!/usr/bin/env bash
# The MLP stage of the R-Drop strength study (configs/sweeps/rdrop_strength.yaml) in stages:
# one seed at a time, one 1-rank job at a time, resumable (a finished run is skipped, an
# interrupted one resumes from its checkpoint). A stage may run a subset of the grid:
#   LRS="0.01 0.05"           the optimizer.lr values (default: the spec's)
#   VARIANTS="dropout s0.1"   the variants, in this order (default: the spec's)
#   SPEC=FILE                 the sweep spec (default configs/sweeps/rdrop_strength.yaml; the
#                             full-data stage: configs/sweeps/rdrop_strength_full.yaml); runs go
#                             to its `out` folder
#   RANKS=N                   mpirun -np per run, one run at a time (default: the spec's ranks, jobs)
# After each stage the whole grid's report is rewritten (runs not yet run show as such).
#   nohup bash launch/rdrop_strength.sh [SEEDS...] > runs/rdrop-strength.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1   # the kernel: rdrop picks the CPU's own (run.blas_core: auto)
spec=${SPEC:-configs/sweeps/rdrop_strength.yaml}
out=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("out", "runs/sweep"))' "$spec")
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in "${seeds[@]}"; do
    for lr in ${LRS:-_}; do
        stage=$tmp/$(basename "$spec" .yaml)-seed$s${LRS:+-lr$lr}.yaml   # named after the spec: errors name it
        /usr/bin/python3 - "$spec" "$stage" "$s" "$lr" <<'PYEOF'
import sys, yaml
spec_path, out, seed, lr = sys.argv[1:5]
spec = yaml.safe_load(open(spec_path))
spec["grid"]["run.seed"] = [int(seed)]
if lr != "_":
    spec["grid"]["optimizer.lr"] = [float(lr)]
yaml.safe_dump(spec, open(out, "w"), sort_keys=False)
PYEOF
        echo "== stage: seed $s lr $lr variants ${VARIANTS:-all} ($(date -u +%H:%M:%S))"
        bash launch/sweep.sh "$stage" --out "$out" ${RANKS:+--ranks "$RANKS" --jobs 1} ${VARIANTS:+--variants "$(echo $VARIANTS | tr ' ' ,)"}
    done
    bash launch/sweep.sh "$spec" --out "$out" --report-only > /dev/null
    echo "== stage seed $s done ($(date -u +%H:%M:%S))"
done
