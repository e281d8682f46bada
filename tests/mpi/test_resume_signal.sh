#!/usr/bin/env bash
# labels: mpi;resume
# SIGTERM to ONE rank mid-epoch: the stop request travels with the step's allreduce, all
# ranks checkpoint at the same step and exit 75; resuming reproduces the uninterrupted run
# bitwise. Then the same through launch/mpirun.sh: SIGTERM to the launcher becomes SIGUSR1
# for every rank (mpirun forwards USR1, not TERM).
source "$(dirname "$0")/lib.sh"

run_mpi 2 train "$TINY" --out "$TMP/a" "${SLOW[@]}" > "$TMP/loga" 2>&1 || { rc=$?; cat "$TMP/loga"; fail "run A exited $rc"; }

# 1. SIGTERM to one rank
run_mpi 2 train "$TINY" --out "$TMP/b" "${SLOW[@]}" > "$TMP/logb" 2>&1 &
mp=$!
wait_for "$TMP/b/ckpt-000000050.h5" 120 || fail "run B wrote no checkpoint at step 50"
victim=$(rank_pids $mp | tail -n 1)
kill -TERM "$victim"
set +e; wait $mp; rc=$?; set -e
cat "$TMP/logb" | grep -v "^epoch" || true
[ $rc -eq 75 ] || fail "mpirun exited $rc after SIGTERM to a rank, want 75"
grep -q "stopped at step" "$TMP/logb" || fail "no 'stopped at step' message"
grep -q '"status":"stopped"' "$TMP/b/status.json" || fail "status.json does not say stopped"
step=$(sed -n 's/.*stopped at step \([0-9]*\).*/\1/p' "$TMP/logb")
[ -f "$TMP/b/$(printf 'ckpt-%09d.h5' "$step")" ] || fail "no checkpoint at the stop step $step"
[ "$step" -lt 1000 ] || fail "stopped only at the end"
run_mpi 2 train "$TINY" --out "$TMP/b" "${SLOW[@]}" --resume auto > "$TMP/logr" 2>&1 || { rc=$?; cat "$TMP/logr"; fail "resume exited $rc"; }
$COMPARE "$TMP/a/ckpt-000001000.h5" "$TMP/b/ckpt-000001000.h5" --groups model,optimizer,data --attrs \
  || fail "resumed run differs from the uninterrupted run"
same_metrics "$TMP/a/metrics.jsonl" "$TMP/b/metrics.jsonl" || fail "metrics differ"
echo "SIGTERM to one rank: all stopped at step $step with exit 75; resume is bitwise exact"

# 2. SIGTERM to the launcher script -> SIGUSR1 to mpirun -> every rank
bash "$SRC/launch/mpirun.sh" -n 2 -- "$RDROP" train "$TINY" --out "$TMP/c" "${SLOW[@]}" > "$TMP/logc" 2>&1 &
lp=$!
wait_for "$TMP/c/ckpt-000000050.h5" 120 || fail "run C wrote no checkpoint at step 50"
kill -TERM $lp
set +e; wait $lp; rc=$?; set -e
[ $rc -eq 75 ] || { cat "$TMP/logc"; fail "launcher exited $rc after SIGTERM, want 75"; }
grep -q "stopped at step" "$TMP/logc" || fail "launcher run: no 'stopped at step' message"
run_mpi 2 train "$TINY" --out "$TMP/c" "${SLOW[@]}" --resume auto > "$TMP/logr2" 2>&1 || fail "resume of C exited $?"
$COMPARE "$TMP/a/ckpt-000001000.h5" "$TMP/c/ckpt-000001000.h5" --groups model,optimizer,data --attrs >/dev/null \
  || fail "run C resumed differs from the uninterrupted run"
pass "stop on request (rank SIGTERM, launcher SIGTERM->USR1): exit 75, checkpoint, exact resume"
