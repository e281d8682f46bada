#!/usr/bin/env bash
# labels: badinput
# A rank lost (kill -9 of rank 0, the one that writes checkpoints, in the middle of a 2-rank
# run): mpirun ends the job within seconds with a non-zero exit and no hang; every checkpoint
# already written still verifies (a half-written one can only be a .NAME.tmp file); and
# `--resume auto` continues from the last good checkpoint to the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
run_mpi 2 train "$TINY" --out "$run" "${SLOW[@]}" > "$TMP/log" 2>&1 &
mp=$!
wait_for "$run/ckpt-000000100.h5" 120 || { cat "$TMP/log"; fail "no checkpoint at step 100"; }
victim=
for p in $(rank_pids $mp); do
  r=$(tr '\0' '\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
  [ "$r" = 0 ] && victim=$p
done
[ -n "$victim" ] || fail "rank 0 not found under mpirun $mp"
t0=$(date +%s.%N)
kill -9 "$victim"
set +e; wait $mp; rc=$?; set -e
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "killed rank 0 (pid $victim); mpirun exited $rc after ${elapsed}s"
tail -n 5 "$TMP/log"
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
[ $rc -ne 124 ] || fail "the job hung until the timeout"  # (137 = mpirun reporting SIGKILL)
awk -v e="$elapsed" 'BEGIN { exit !(e < 30) }' || fail "the job took ${elapsed}s to end after the kill"
[ ! -e "$run/ckpt-000001000.h5" ] || fail "the run finished before the kill: inconclusive"
n=0
for f in "$run"/ckpt-*.h5; do
  "$RDROP" inspect "$f" > /dev/null 2>&1 || fail "$f does not verify after the kill"
  n=$((n + 1))
done
last=$(ls "$run"/ckpt-*.h5 | tail -n 1)
echo "$n checkpoints verify; the newest is $(basename "$last")"
run_mpi 2 train "$TINY" --out "$run" "${SLOW[@]}" --resume auto > "$TMP/logr" 2>&1 || { rc=$?; cat "$TMP/logr"; fail "resume exited $rc"; }
grep "resuming from" "$TMP/logr" || fail "resume did not say where it resumed from"
grep -q "resuming from $last" "$TMP/logr" || fail "did not resume from the newest good checkpoint $last"
"$RDROP" inspect "$run/ckpt-000001000.h5" > /dev/null || fail "the resumed run did not finish"
pass "rank 0 killed: mpirun exit $rc after ${elapsed}s, checkpoints intact, --resume auto finished the run"
