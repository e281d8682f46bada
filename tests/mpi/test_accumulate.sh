#!/usr/bin/env bash
# labels: mpi
# training.accumulate (docs/scale.md) at 2 ranks: in sample-stream mode k = 2 and k = 4 equal
# k = 1 at the same global batch up to summation order (weights and momentum within 1e-5
# relative after 50 steps, loss within 1e-4); in rank mode the masks are keyed by the counter
# step*k + micro-batch, so k = 2 is another run; it keeps the weights bitwise equal across
# ranks and resumes exactly. A k larger than a rank's share of the batch is a config error.
source "$(dirname "$0")/lib.sh"

common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=10 --set training.max_steps=50 --set checkpoint.every_steps=25
        --set checkpoint.keep=10 --set training.log_every_steps=25)
loss_of() { json_field "$1/metrics.jsonl" train loss; }

for k in 1 2 4; do
  run_mpi 2 train "$TINY" --out "$TMP/s$k" "${common[@]}" --set rng.dropout_stream=sample --set training.accumulate=$k > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "sample mode k=$k exited $?"; }
  grep -q "accumulate $k micro-batches/step" "$TMP/log" || { cat "$TMP/log"; fail "k=$k: settings line"; }
  grep -q "ckpt-000000050.h5 (step 50.*equal on all 2 ranks" "$TMP/log" || { cat "$TMP/log"; fail "k=$k: no equal-weights line"; }
done
for k in 2 4; do
  $COMPARE "$TMP/s1/ckpt-000000050.h5" "$TMP/s$k/ckpt-000000050.h5" --groups model,optimizer --rtol 1e-5 \
    || fail "sample mode: accumulate $k differs from accumulate 1 by more than 1e-5 relative"
  $PY -c "import sys; a, b = $(loss_of "$TMP/s$k"), $(loss_of "$TMP/s1"); print(f'loss k=$k {a} vs k=1 {b}'); sys.exit(abs(a - b) > 1e-4 * abs(b))" \
    || fail "sample mode: loss with accumulate $k differs from accumulate 1"
done

# rank mode: other masks (not vacuous), equal across ranks, exact resume from step 25
run_mpi 2 train "$TINY" --out "$TMP/r1" "${common[@]}" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "rank mode k=1 exited $?"; }
run_mpi 2 train "$TINY" --out "$TMP/r2" "${common[@]}" --set training.accumulate=2 > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "rank mode k=2 exited $?"; }
grep -q "ckpt-000000050.h5 (step 50.*equal on all 2 ranks" "$TMP/log" || { cat "$TMP/log"; fail "rank k=2: no equal-weights line"; }
if $COMPARE "$TMP/r1/ckpt-000000050.h5" "$TMP/r2/ckpt-000000050.h5" --groups model --rtol 1e-3 > /dev/null; then
  fail "rank mode: accumulate 2 agrees with accumulate 1 within 1e-3: masks not keyed by micro-batch"
fi
mkdir -p "$TMP/r2r"
cp "$TMP/r2/ckpt-000000025.h5" "$TMP/r2r/"
run_mpi 2 train "$TINY" --out "$TMP/r2r" "${common[@]}" --set training.accumulate=2 --resume auto > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "rank k=2 resume exited $?"; }
$COMPARE "$TMP/r2/ckpt-000000050.h5" "$TMP/r2r/ckpt-000000050.h5" --groups model,optimizer,data --attrs > /dev/null \
  || fail "rank mode k=2: resumed run differs from the uninterrupted one"
same_metrics "$TMP/r2/metrics.jsonl" "$TMP/r2r/metrics.jsonl" || fail "rank mode k=2: resumed metrics differ"

# k larger than a rank's share (64 / 2 = 32): one-line config error, exit 2
set +e
run_mpi 2 train "$TINY" --out "$TMP/bad" "${common[@]}" --set training.accumulate=33 > "$TMP/log" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || { cat "$TMP/log"; fail "accumulate 33 at 32 samples per rank exited $rc, want 2"; }
grep -q "training.accumulate: 33 micro-batches per step, but each of the 2 ranks gets only 32 samples" "$TMP/log" \
  || { cat "$TMP/log"; fail "accumulate 33: message"; }
pass "training.accumulate: sample mode k=2,4 = k=1 within 1e-5; rank mode keyed per micro-batch, equal across ranks, exact resume"
