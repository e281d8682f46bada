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
wait_for "$TMP/b/ckpt-000000040.h5" 120 || fail "run B wrote no checkpoint at step 40"
pids=$(rank_pids $mp || true)
[ -n "$pids" ] || fail "no rank processes found under mpirun $mp"
victim=$(echo "$pids" | tail -n 1)
kill -9 "$victim"
set +e; wait $mp; rc=$?; set -e
echo "killed rank pid $victim with SIGKILL; mpirun exited $rc"
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
[ ! -e "$TMP/b/ckpt-000000600.h5" ] || fail "run B finished before the kill: inconclusive"
last=$(ls "$TMP/b"/ckpt-*.h5 | tail -n 1)
echo "last checkpoint before the kill: $last"

run_mpi 2 train "${CNN[@]}" --out "$TMP/b" "${slow[@]}" --resume auto > "$TMP/logr" 2>&1 || { cat "$TMP/logr"; fail "resume exited $?"; }
grep "resuming from" "$TMP/logr" || fail "resume did not say where it resumed from"
$COMPARE "$TMP/a/ckpt-000000600.h5" "$TMP/b/ckpt-000000600.h5" --groups model,optimizer,data --attrs \
  || fail "resumed run differs from the uninterrupted run"
same_metrics "$TMP/a/metrics.jsonl" "$TMP/b/metrics.jsonl" || fail "metrics differ"
pass "CNN: SIGKILL at $(basename "$last") + --resume auto == uninterrupted run, bitwise"
