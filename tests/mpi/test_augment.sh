#!/usr/bin/env bash
# labels: mpi;resume
# data.augment (mirror + shift) is keyed by (seed, epoch, dataset index): with sample-mode dropout
# streams 1 and 2 ranks draw the same augmented samples and agree within 1e-5 after 50 steps; a
# checkpoint from step 25 resumed to step 50 is bitwise the uninterrupted run; and the option
# really changes what is trained on (a run without it ends elsewhere).
source "$(dirname "$0")/lib.sh"

common=(--set training.max_steps=50 --set checkpoint.every_steps=25 --set checkpoint.every_epochs=0
        --set training.log_every_steps=25 --set rng.dropout_stream=sample)
aug=(--set data.augment.flip=true --set data.augment.shift=2)
for n in 1 2; do
  run_mpi $n train "$TINY" --out "$TMP/a$n" "${common[@]}" "${aug[@]}" > "$TMP/log$n" 2>&1 \
    || { rc=$?; cat "$TMP/log$n"; fail "augmented run on $n ranks exited $rc"; }
done
$COMPARE "$TMP/a1/ckpt-000000050.h5" "$TMP/a2/ckpt-000000050.h5" --groups model,optimizer --rtol 1e-5 \
  || fail "augmentation: 2 ranks differ from 1 rank by more than 1e-5 relative"

run_mpi 1 train "$TINY" --out "$TMP/plain" "${common[@]}" > "$TMP/logp" 2>&1 || fail "run without augmentation exited $?"
if $COMPARE "$TMP/a1/ckpt-000000050.h5" "$TMP/plain/ckpt-000000050.h5" --groups model --rtol 1e-3 > /dev/null; then
  fail "data.augment changed nothing: the augmented run agrees with the plain one within 1e-3"
fi

mkdir -p "$TMP/r"
cp "$TMP/a2/ckpt-000000025.h5" "$TMP/r/"
run_mpi 2 train "$TINY" --out "$TMP/r" "${common[@]}" "${aug[@]}" --resume auto > "$TMP/logr" 2>&1 \
  || { rc=$?; cat "$TMP/logr"; fail "resume with augmentation exited $rc"; }
grep -q "resuming from .*ckpt-000000025.h5" "$TMP/logr" || { cat "$TMP/logr"; fail "did not resume from step 25"; }
$COMPARE "$TMP/a2/ckpt-000000050.h5" "$TMP/r/ckpt-000000050.h5" --groups model,optimizer,data --attrs \
  || fail "augmented run resumed at step 25 differs from the uninterrupted run"
pass "augmentation: same on 1 and 2 ranks (1e-5), bitwise across a resume, and not a no-op"
