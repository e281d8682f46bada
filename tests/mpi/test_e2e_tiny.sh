#!/usr/bin/env bash
# labels: mpi
# End to end on the synthetic set: 2 ranks train, loss falls well below its start, the
# checkpoint is written, and inspect / eval --json read it (eval agrees with the run's metric).
source "$(dirname "$0")/lib.sh"

out=$TMP/run
run_mpi 2 train "$TINY" --out "$out" --set training.log_every_steps=8 > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "training exited $rc"; }
cat "$TMP/log"
m=$out/metrics.jsonl
[ -s "$m" ] || fail "no metrics.jsonl"
first=$(first_field "$m" train ce)
last=$(json_field "$m" train ce)
echo "first interval cross-entropy $first, last $last"
$PY -c "import sys; f,l=$first,$last; sys.exit(0 if l < 0.6*f else 1)" || fail "cross-entropy did not fall well below its start ($first -> $last)"
ck=$(ls "$out"/ckpt-*.h5 | tail -n 1)
[ -n "$ck" ] || fail "no checkpoint"
[ -s "$out/config.yaml" ] || fail "no resolved config"
grep -q '"status":"finished"' "$out/status.json" || fail "status.json not finished"
"$RDROP" inspect "$ck" > "$TMP/inspect" || fail "inspect exited $?"
grep -q "kernel \[32 x 64\]" "$TMP/inspect" || { cat "$TMP/inspect"; fail "inspect does not show the kernel shape"; }
grep -q "world size    2 ranks" "$TMP/inspect" || fail "inspect does not show world size 2"
"$RDROP" eval --checkpoint "$ck" --json > "$TMP/eval.json" || fail "eval exited $?"
cat "$TMP/eval.json"
acc=$($PY -c "import json; print(json.load(open('$TMP/eval.json'))['accuracy'])")
samples=$($PY -c "import json; print(json.load(open('$TMP/eval.json'))['samples'])")
runacc=$(json_field "$m" eval acc test)
[ "$samples" = 512 ] || fail "eval samples $samples, want 512"
$PY -c "import sys; sys.exit(0 if abs($acc-$runacc) < 1e-9 else 1)" || fail "eval accuracy $acc != the run's last test accuracy $runacc"
$PY -c "import sys; sys.exit(0 if $acc > 0.8 else 1)" || fail "test accuracy $acc too low for the synthetic set"
pass "tiny run: cross-entropy $first -> $last, test accuracy $acc, eval agrees"
