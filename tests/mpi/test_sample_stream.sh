#!/usr/bin/env bash
# labels: mpi
# rng.dropout_stream: sample keys every dropout mask by (seed, epoch, dataset index, pass, layer),
# so with dropout ON, 1, 2 and 3 ranks draw the same masks and differ only in floating-point
# summation order: after 50 steps every tensor (weights and momentum) agrees within 1e-5 relative
# (||A-B||/||B||) and the loss within 1e-3 relative, while `rank` streams give a different run.
# A sample-mode checkpoint written by 2 ranks and resumed on 3 stays on the same trajectory.
source "$(dirname "$0")/lib.sh"

common=(--set training.max_steps=50 --set checkpoint.every_steps=25 --set checkpoint.every_epochs=0
        --set training.log_every_steps=25)
sample=(--set rng.dropout_stream=sample)
grep -q "rate: 0.5" "$TINY" || fail "the tiny config no longer has dropout: this test needs dropout on"

for n in 1 2 3; do
  run_mpi $n train "$TINY" --out "$TMP/s$n" "${common[@]}" "${sample[@]}" > "$TMP/log$n" 2>&1 \
    || { rc=$?; cat "$TMP/log$n"; fail "sample mode on $n ranks exited $rc"; }
  grep -q "dropout stream sample" "$TMP/log$n" || fail "$n ranks: not in sample mode"
done
loss_of() { json_field "$1/metrics.jsonl" train loss; }
for n in 2 3; do
  $COMPARE "$TMP/s1/ckpt-000000050.h5" "$TMP/s$n/ckpt-000000050.h5" --groups model,optimizer --rtol 1e-5 \
    || fail "sample mode: $n ranks differ from 1 rank by more than 1e-5 relative"
  $PY -c "import sys; a, b = $(loss_of "$TMP/s$n"), $(loss_of "$TMP/s1"); print(f'loss $n ranks {a} vs 1 rank {b}'); sys.exit(abs(a - b) > 1e-3 * abs(b))" \
    || fail "sample mode: loss on $n ranks differs from 1 rank by more than 1e-3 relative"
done

# rank streams: 2 ranks draw other masks than 1 rank -> far apart (the comparison above is not vacuous)
run_mpi 2 train "$TINY" --out "$TMP/r2" "${common[@]}" > "$TMP/logr" 2>&1 || fail "rank mode on 2 ranks exited $?"
if $COMPARE "$TMP/s1/ckpt-000000050.h5" "$TMP/r2/ckpt-000000050.h5" --groups model --rtol 1e-3 >/dev/null; then
  fail "rank mode on 2 ranks agrees with sample mode on 1 rank within 1e-3: streams are not per rank"
fi

# elastic resume in sample mode: written by 2 ranks at step 25, continued on 3 ranks to 50
mkdir -p "$TMP/e"
cp "$TMP/s2/ckpt-000000025.h5" "$TMP/e/"
run_mpi 3 train "$TINY" --out "$TMP/e" "${common[@]}" "${sample[@]}" --resume auto > "$TMP/loge" 2>&1 \
  || { rc=$?; cat "$TMP/loge"; fail "2->3 rank resume in sample mode exited $rc"; }
grep -q "resuming from .*ckpt-000000025.h5" "$TMP/loge" || { cat "$TMP/loge"; fail "did not resume from step 25"; }
$COMPARE "$TMP/s1/ckpt-000000050.h5" "$TMP/e/ckpt-000000050.h5" --groups model,optimizer --rtol 1e-5 >/dev/null \
  || fail "sample mode: a 2-rank checkpoint resumed on 3 ranks left the trajectory"
pass "sample streams: 1, 2, 3 ranks agree within 1e-5 per tensor with dropout on; rank streams differ; 2->3 resume stays on track"
