#!/usr/bin/env bash
# labels: mpi
# Data parallelism is exact up to float summation order: with dropout off, 2 ranks with global
# batch B end with the same weights as 1 rank with batch B after 20 steps (1e-5 relative,
# per tensor).
source "$(dirname "$0")/lib.sh"

common=(--set model.layers.0.rate=0 --set model.layers.2.rate=0 --set training.max_steps=20
        --set checkpoint.every_epochs=0)
run_mpi 1 train "$TINY" --out "$TMP/one" "${common[@]}" > "$TMP/log1" 2>&1 || { rc=$?; cat "$TMP/log1"; fail "1 rank exited $rc"; }
run_mpi 2 train "$TINY" --out "$TMP/two" "${common[@]}" > "$TMP/log2" 2>&1 || { rc=$?; cat "$TMP/log2"; fail "2 ranks exited $rc"; }
a=$TMP/one/ckpt-000000020.h5
b=$TMP/two/ckpt-000000020.h5
[ -f "$a" ] && [ -f "$b" ] || fail "missing final checkpoints"
$COMPARE "$b" "$a" --rtol 1e-5 --groups model,optimizer || fail "2 ranks differ from 1 rank by more than 1e-5"
# The comparison can fail: the weights after 20 steps are far (> 1e-3 relative) from those
# after the first step, so "equal within 1e-5" is not "nothing trained".
run_mpi 1 train "$TINY" --out "$TMP/first" "${common[@]}" --set training.max_steps=1 > "$TMP/log0" 2>&1 \
  || { rc=$?; cat "$TMP/log0"; fail "1-step run exited $rc"; }
$PY - "$TMP/first/ckpt-000000001.h5" "$a" <<'PYEOF' || fail "training did not move the weights: 20 steps are within 1e-3 of 1 step"
import sys, h5py, numpy as np
def flat(p):   # every tensor of /model in one vector (the biases start at 0: judge the whole)
    with h5py.File(p, "r") as f:
        return np.concatenate([f["model"][n][t][()].ravel() for n in f["model"].attrs["order"] for t in ("kernel", "bias")])
a, b = flat(sys.argv[1]), flat(sys.argv[2])
rel = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print(f"weights after 1 step vs 20 steps: relative difference {rel:.3g}")
sys.exit(0 if rel > 1e-3 else 1)
PYEOF
pass "2 ranks == 1 rank within 1e-5 after 20 steps (and 20 steps moved the weights by more than 1e-3)"
