#!/usr/bin/env bash
# labels: mpi;resume
# A run with a validation split (data.validation) and early-stopping state resumes exactly:
# the held-out indices are recorded in the checkpoint, best.h5 / best step / patience carry
# over, and the result is bitwise the uninterrupted run's.
source "$(dirname "$0")/lib.sh"

common=(--set data.validation=256 --set training.patience=5 --set checkpoint.every_steps=10)
run_mpi 2 train "$TINY" --out "$TMP/a" "${common[@]}" --set training.max_steps=80 > "$TMP/loga" 2>&1 \
  || { rc=$?; cat "$TMP/loga"; fail "run A exited $rc"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" --set training.max_steps=45 > "$TMP/logb" 2>&1 \
  || { rc=$?; cat "$TMP/logb"; fail "run B exited $rc"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" --set training.max_steps=80 --resume auto > "$TMP/logr" 2>&1 \
  || { rc=$?; cat "$TMP/logr"; fail "resume exited $rc"; }
grep -q "validation    256 held-out samples" <("$RDROP" inspect "$TMP/b/best.h5") || fail "split not recorded"
$COMPARE "$TMP/a/ckpt-000000080.h5" "$TMP/b/ckpt-000000080.h5" --groups model,optimizer,data --attrs \
  || fail "resumed run differs"
$COMPARE "$TMP/a/best.h5" "$TMP/b/best.h5" --groups model --attrs > /dev/null || fail "best.h5 differs"
same_metrics "$TMP/a/metrics.jsonl" "$TMP/b/metrics.jsonl" || fail "metrics differ"
grep -q '"samples":256' <("$RDROP" eval --checkpoint "$TMP/b/best.h5" --data val --json) || fail "eval --data val"
pass "validation split + best checkpoint survive a resume bitwise"
