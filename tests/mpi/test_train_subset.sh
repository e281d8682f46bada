#!/usr/bin/env bash
# labels: mpi;resume
# data.train_samples trains on a seed-chosen subset of the non-held-out samples: the run says
# how many it trains on, the checkpoint records it (inspect, eval --data train), a resume with
# the same subset is bitwise the uninterrupted run, a resume with another subset or a subset
# larger than what is left after the validation split is refused with one line, and the run
# folder is left as it was.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

common=(--set data.validation=256 --set data.train_samples=512 --set checkpoint.every_steps=10 --set training.epochs=10)
run_mpi 2 train "$TINY" --out "$TMP/a" "${common[@]}" --set training.max_steps=40 > "$TMP/loga" 2>&1 \
  || { rc=$?; cat "$TMP/loga"; fail "run A exited $rc"; }
grep -q "data      512 train (256 held out for validation)" "$TMP/loga" || { cat "$TMP/loga"; fail "subset size not reported"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" --set training.max_steps=25 > "$TMP/logb" 2>&1 \
  || { rc=$?; cat "$TMP/logb"; fail "run B exited $rc"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" --set training.max_steps=40 --resume auto > "$TMP/logr" 2>&1 \
  || { rc=$?; cat "$TMP/logr"; fail "resume exited $rc"; }
grep -q "train         512 samples" <("$RDROP" inspect "$TMP/b/ckpt-000000040.h5") || fail "subset not recorded"
$COMPARE "$TMP/a/ckpt-000000040.h5" "$TMP/b/ckpt-000000040.h5" --groups model,optimizer,data --attrs \
  || fail "resumed run differs"
same_metrics "$TMP/a/metrics.jsonl" "$TMP/b/metrics.jsonl" || fail "metrics differ"
grep -q '"samples":512' <("$RDROP" eval --checkpoint "$TMP/a/ckpt-000000040.h5" --data train --json) \
  || fail "eval --data train does not use the subset"

# another subset trains on other samples: not the same run
run_mpi 2 train "$TINY" --out "$TMP/c" --set data.validation=256 --set data.train_samples=1024 --set training.epochs=10 \
  --set training.max_steps=40 > "$TMP/logc" 2>&1 || { rc=$?; cat "$TMP/logc"; fail "run C exited $rc"; }
$COMPARE "$TMP/a/ckpt-000000040.h5" "$TMP/c/ckpt-000000040.h5" --groups model > /dev/null 2>&1 \
  && fail "train_samples 512 and 1024 gave the same weights"

# refused: resume with another subset; a subset larger than what the split leaves
snapshot "$TMP/b" > "$TMP/snap"
expect_error 2 "ckpt-000000040\.h5: data\.\* differs from the checkpoint's config" -- \
  "$RDROP" train "$TINY" --out "$TMP/b" "${common[@]}" --set data.train_samples=1024 --set training.max_steps=40 --resume auto
assert_intact "$TMP/b" "$TMP/snap"
# even with --allow-config-change (which warns first): the epoch position means nothing on another set
set +e
timeout -k 5 60 "$RDROP" train "$TINY" --out "$TMP/b" "${common[@]}" --set data.train_samples=1024 \
  --set training.max_steps=40 --resume auto --allow-config-change > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
[ $rc -eq 4 ] || { cat "$TMP/err"; fail "another subset with --allow-config-change: exit $rc, want 4"; }
tail -n 1 "$TMP/err" | grep -qE "ckpt-000000040\.h5: the checkpoint trains on 512 samples, the config on 1024 \(data\.train_samples\)" \
  || { cat "$TMP/err"; fail "another subset with --allow-config-change: wrong message"; }
assert_intact "$TMP/b" "$TMP/snap"
expect_error 2 "data\.train_samples: 1900 plus data\.validation 256 is more than data\.synthetic\.train \(2048\)" -- \
  "$RDROP" train "$TINY" --out "$TMP/d" --set data.validation=256 --set data.train_samples=1900
pass "data.train_samples: reported, recorded, resumed bitwise, mismatches refused"
