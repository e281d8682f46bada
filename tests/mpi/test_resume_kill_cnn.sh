#!/usr/bin/env bash
# labels: mpi;resume
# A 2-rank CNN run (configs/tiny_cnn.yaml, conv2d + max_pool + dropout everywhere) killed with
# SIGKILL after a checkpoint and resumed with --resume auto ends with weights, momentum, data
# position, training state and metrics BITWISE identical to an uninterrupted run.
source "$(dirname "$0")/lib.sh"
make_cnn_data

slow=(--set training.epochs=100 --set training.max_steps=600 --set checkpoint.every_steps=20
      --set checkpoint.keep=40 --set training.log_every_steps=20)
run_mpi 2 train "${CNN[@]}" --out "$TMP/a" "${slow[@]}" > "$TMP/loga" 2>&1 || { cat "$TMP/loga"; fail "run A exited $?"; }

run_mpi 2 train "${CNN[@]}" --out "$TMP/b" "${slow[@]}" > "$TMP/logb" 2>&1 &
mp=$!
kill_one_rank "$mp" "$TMP/b" ckpt-000000040.h5 ckpt-000000600.h5
last=$LAST

run_mpi 2 train "${CNN[@]}" --out "$TMP/b" "${slow[@]}" --resume auto > "$TMP/logr" 2>&1 || { cat "$TMP/logr"; fail "resume exited $?"; }
grep "resuming from" "$TMP/logr" || fail "resume did not say where it resumed from"
$COMPARE "$TMP/a/ckpt-000000600.h5" "$TMP/b/ckpt-000000600.h5" --groups model,optimizer,data --attrs \
  || fail "resumed run differs from the uninterrupted run"
same_metrics "$TMP/a/metrics.jsonl" "$TMP/b/metrics.jsonl" || fail "metrics differ"
pass "CNN: SIGKILL at $(basename "$last") + --resume auto == uninterrupted run, bitwise"
