#!/usr/bin/env bash
# labels: mpi
# dist.compress fp16 overflow (docs/scale.md): at optimizer.lr 1e6 the tiny model's gradients
# grow past fp16's 65504 within a few steps while float32 and bf16 (float32's range) stay finite.
# fp16 then turns them into Inf, the Inf survives the reduction and the widening, and the
# non-finite guard stops both ranks at the same step: exit 6, "non-finite gradient", no update,
# the last checkpoint finite. float32 and bf16 runs of the same config finish (exit 0).
source "$(dirname "$0")/lib.sh"
args=(--set optimizer.lr=1e6 --set training.max_steps=30 --set checkpoint.every_steps=1 --set checkpoint.keep=40)
for cm in none bf16; do
  run_mpi 2 train "$TINY" --out "$TMP/$cm" "${args[@]}" --set dist.compress=$cm > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$cm at lr 1e6 exited $? (the test needs it finite)"; }
done
set +e
run_mpi 2 train "$TINY" --out "$TMP/fp16" "${args[@]}" --set dist.compress=fp16 > "$TMP/log" 2>&1
rc=$?
set -e
[ $rc -eq 6 ] || { cat "$TMP/log"; fail "fp16 overflow exited $rc, want 6"; }
grep -q "non-finite gradient at step [0-9]* (epoch 1): update skipped" "$TMP/log" || { cat "$TMP/log"; fail "no non-finite gradient message"; }
[ "$(grep -c "non-finite" "$TMP/log")" -eq 1 ] || { cat "$TMP/log"; fail "want one message (rank 0)"; }
step=$(sed -n 's/.*non-finite gradient at step \([0-9]*\) .*/\1/p' "$TMP/log")
last=$(ls "$TMP/fp16"/ckpt-*.h5 | tail -n 1)
[ "$(basename "$last")" = "$(printf 'ckpt-%09d.h5' $((step - 1)))" ] || fail "newest checkpoint $last is not step $((step - 1))"
$PY - "$last" <<'PYEOF' || fail "the last checkpoint holds non-finite weights"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def check(name, obj):
    if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and not np.all(np.isfinite(obj[()])):
        sys.exit(f"{name} is not finite")
f.visititems(check)
PYEOF
pass "fp16 overflow: Inf kept, guard stops both ranks at step $step (exit 6); float32 and bf16 finish"
