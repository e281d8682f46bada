#!/usr/bin/env bash
# labels: resume
# NaN/Inf guard: a diverging run (absurd learning rate) stops at the first non-finite loss or
# gradient with one line naming the step and the resume point, exit 6, writes nothing
# poisoned: the last checkpoint on disk is a good one (finite weights) and resumes. 2 ranks
# agree to stop at the same step.
source "$(dirname "$0")/lib.sh"

set +e
"$RDROP" train "$TINY" --out "$TMP/run" --set optimizer.lr=1e30 --set checkpoint.every_steps=1 \
  > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
cat "$TMP/err"
[ $rc -eq 6 ] || fail "exit $rc, want 6"
[ "$(wc -l < "$TMP/err")" -eq 1 ] || fail "want exactly one line on stderr"
grep -q "non-finite .* at step [0-9]* (epoch 1): update skipped, nothing written; resume point: ckpt-" "$TMP/err" \
  || fail "the message does not name the step and the resume point"
step=$(sed -n 's/.* at step \([0-9]*\) .*/\1/p' "$TMP/err")
last=$(ls "$TMP/run"/ckpt-*.h5 | tail -n 1)
[ "$(basename "$last")" = "$(printf 'ckpt-%09d.h5' $((step - 1)))" ] || fail "newest checkpoint $last is not step $((step - 1))"
$PY - "$last" <<'PYEOF' || fail "the last checkpoint holds non-finite weights"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def check(name, obj):
    if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and not np.all(np.isfinite(obj[()])):
        sys.exit(f"{name} is not finite")
f.visititems(check)
PYEOF
grep -q '"status":"failed","step":'$((step - 1)) "$TMP/run/status.json" || fail "status.json: $(cat "$TMP/run/status.json")"

set +e
run_mpi 2 train "$TINY" --out "$TMP/two" --set optimizer.lr=1e30 > "$TMP/out2" 2>&1
rc=$?
set -e
[ $rc -eq 6 ] || { cat "$TMP/out2"; fail "2 ranks: exit $rc, want 6"; }
grep -q "non-finite" "$TMP/out2" || fail "2 ranks: no message"
pass "non-finite loss: exit 6 at step $step, last good checkpoint kept, ranks agree"
