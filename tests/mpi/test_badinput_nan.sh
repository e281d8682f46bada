#!/usr/bin/env bash
# labels: badinput
# NaN/Inf: a run continued from a good checkpoint with an absurd learning rate diverges; the
# first non-finite loss or gradient stops it before the update with exit 6 and one line naming
# the step and the resume point; nothing is written after the last good checkpoint, which still
# verifies and holds finite weights, and resuming from it with a sane learning rate works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

# The schedule keeps lr = 0.1 for steps 0..9 and multiplies it by 1e30 from step 10 on, so the
# first 10 steps train normally (checkpoints 5 and 10) and the continuation diverges.
sched=(--set schedule.kind=step --set schedule.gamma=1e30 --set schedule.step_steps=10)
run=$TMP/run
make_run "$run" "${sched[@]}"
snapshot "$run" | grep -v -e metrics.jsonl -e config.yaml > "$TMP/then"
expect_error 6 "run: non-finite (loss|gradient) at step [0-9]+ \(epoch [0-9]+\): update skipped, nothing written; resume point: ckpt-000000010\.h5 \(try a lower optimizer\.lr\)" -- \
  "$RDROP" train "$TINY" --out "$run" "${sched[@]}" --set training.max_steps=40 --set checkpoint.every_steps=50 \
  --set checkpoint.keep=5 --resume auto
step=$(sed -n 's/.* at step \([0-9]*\) .*/\1/p' "$TMP/err")
[ "$step" -gt 10 ] || fail "stopped at step $step, before the resume point"
[ "$(ls "$run"/ckpt-*.h5 | tail -n 1)" = "$run/ckpt-000000010.h5" ] || fail "a checkpoint was written after the NaN"
# metrics.jsonl and config.yaml belong to the continuation (rewritten at its start)
snapshot "$run" | grep -v -e metrics.jsonl -e config.yaml > "$TMP/now"
diff "$TMP/then" "$TMP/now" || fail "a checkpoint changed"
"$RDROP" inspect "$run/ckpt-000000010.h5" > /dev/null || fail "the resume point no longer verifies"
$PY - "$run/ckpt-000000010.h5" <<'PYEOF' || fail "the resume point holds non-finite values"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def check(name, obj):
    if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and not np.all(np.isfinite(obj[()])):
        sys.exit(f"{name} is not finite")
f.visititems(check)
PYEOF
grep -q '"status":"failed"' "$run/status.json" || fail "status.json: $(cat "$run/status.json")"
# the fix: resume from the last good checkpoint with a sane schedule
timeout -k 5 60 "$RDROP" train "$TINY" --out "$run" --set training.max_steps=20 --set checkpoint.every_steps=5 \
  --set checkpoint.keep=5 --resume auto --allow-config-change > "$TMP/out" 2> "$TMP/err" || { rc=$?; cat "$TMP/err"; fail "resume after NaN exited $rc"; }
grep -q "resuming from .*ckpt-000000010.h5" "$TMP/out" || fail "did not resume from the last good checkpoint"
"$RDROP" inspect "$run/ckpt-000000020.h5" > /dev/null || fail "the continued run wrote no good checkpoint"
pass "non-finite loss at step $step: exit 6, one line with the resume point; checkpoints intact; resume works"
