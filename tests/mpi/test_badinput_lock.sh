#!/usr/bin/env bash
# labels: badinput
# Run folder in use or unusable: a second trainer on a folder that a running trainer holds
# (flock on RUN/.lock) exits 1 with one line naming the holder's host and PID - also at 2 ranks,
# where it used to hang (rank 0 left alone, the other ranks waited in a collective) - and the
# running trainer and its checkpoints are untouched. A run folder that cannot be created is
# exit 5 with one line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
long=(--set training.epochs=1000 --set data.synthetic.features=256 --set model.layers.1.units=512)
# (not under `timeout`: it would not pass SIGUSR1 on; the EXIT trap kills it if the test fails)
"$RDROP" train "$TINY" --out "$run" "${long[@]}" > "$TMP/first.log" 2>&1 &
first=$!
trap 'kill -9 $first 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_for "$run/ckpt-000000032.h5" 60 || { cat "$TMP/first.log"; fail "the first trainer wrote no checkpoint"; }
holder=$(sed -n 's/^host \(.*\) pid \([0-9]*\)$/host \1 pid \2/p' "$run/.lock")
echo "lock: $holder"
expect_error 1 "^rdrop: $run: another trainer holds this run folder \(host .* pid [0-9]+\)$" -- \
  "$RDROP" train "$TINY" --out "$run" "${long[@]}" --resume auto
grep -q "pid $first)" "$TMP/err" || fail "the message does not name the holder's PID $first"
set +e
run_mpi 2 train "$TINY" --out "$run" "${long[@]}" --resume auto > "$TMP/out2" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { cat "$TMP/out2"; fail "2 ranks on a held folder: exit $rc, want 1 (124 = hang)"; }
[ "$(grep -c "another trainer holds this run folder" "$TMP/out2")" -eq 1 ] || { cat "$TMP/out2"; fail "2 ranks: want the message once"; }
kill -0 $first 2>/dev/null || fail "the first trainer died"
kill -USR1 $first
set +e; wait $first; rc=$?; set -e
[ $rc -eq 75 ] || { cat "$TMP/first.log"; fail "the first trainer exited $rc after SIGUSR1, want 75"; }
for f in "$run"/ckpt-*.h5; do "$RDROP" inspect "$f" > /dev/null || fail "$f does not verify"; done
# a run folder that cannot be created
: > "$TMP/file"
expect_error 5 "^rdrop: $TMP/file/run: cannot create folder: Not a directory$" -- "$RDROP" train "$TINY" --out "$TMP/file/run"
pass "held run folder: exit 1 naming the holder (1 and 2 ranks, no hang); uncreatable folder: exit 5"
