#!/usr/bin/env bash
# labels: mpi
# dist.compress bf16 / fp16 (docs/scale.md) at 2 ranks: the weights stay bitwise equal across
# ranks (every checkpoint compares a CRC-32 of the weights on all ranks and fails otherwise);
# a resume from a mid-run checkpoint reproduces the uninterrupted run bitwise; overlap on and
# off give the same bits; the run stays close to the uncompressed one: after ONE step the
# weights within the format's rounding (bf16 1e-2, fp16 2e-3 relative per tensor; the unit
# roundoffs are 2^-8 and 2^-11), after 100 steps (where any perturbation, float32 summation
# order included, has grown chaotically) the test loss within 15% and the test accuracy within
# 0.03; and it is not identical to it (the compression is really applied). The model is big
# enough for several buckets.
source "$(dirname "$0")/lib.sh"

common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=10 --set training.max_steps=100 --set checkpoint.every_steps=50 --set checkpoint.keep=10
        --set training.log_every_steps=50 --set dist.overlap=true)
test_of() { json_field "$1/metrics.jsonl" eval "$2" test; }
declare -A one_step_tol=([bf16]=1e-2 [fp16]=2e-3)

run_mpi 2 train "$TINY" --out "$TMP/none" "${common[@]}" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "uncompressed run exited $?"; }
run_mpi 2 train "$TINY" --out "$TMP/none1" "${common[@]}" --set training.max_steps=1 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "uncompressed 1-step run exited $?"; }
for fmt in bf16 fp16; do
  run_mpi 2 train "$TINY" --out "$TMP/$fmt" "${common[@]}" --set dist.compress=$fmt > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$fmt run exited $?"; }
  grep -q "compress $fmt" "$TMP/log" || { cat "$TMP/log"; fail "$fmt: settings line does not say compress $fmt"; }
  grep -q "ckpt-000000100.h5 (step 100.*equal on all 2 ranks" "$TMP/log" || { cat "$TMP/log"; fail "$fmt: no equal-weights line at step 100"; }
  # not vacuous: the 16-bit gradients change the trajectory
  if $COMPARE "$TMP/none/ckpt-000000100.h5" "$TMP/$fmt/ckpt-000000100.h5" --groups model > /dev/null; then
    fail "$fmt gave the uncompressed weights bit for bit: compression not applied"
  fi
  run_mpi 2 train "$TINY" --out "$TMP/${fmt}1" "${common[@]}" --set training.max_steps=1 --set dist.compress=$fmt > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$fmt 1-step run exited $?"; }
  $COMPARE "$TMP/none1/ckpt-000000001.h5" "$TMP/${fmt}1/ckpt-000000001.h5" --groups model --rtol ${one_step_tol[$fmt]} > "$TMP/cmp" \
    || { cat "$TMP/cmp"; fail "$fmt: one step differs from uncompressed by more than ${one_step_tol[$fmt]} relative"; }
  $PY -c "import sys; a, b, x, y = $(test_of "$TMP/$fmt" loss), $(test_of "$TMP/none" loss), $(test_of "$TMP/$fmt" acc), $(test_of "$TMP/none" acc); print(f'$fmt test loss {a} acc {x} vs none {b} {y}'); sys.exit(abs(a - b) > 0.15 * b or abs(x - y) > 0.03)" \
    || fail "$fmt: test loss/accuracy after 100 steps too far from uncompressed"
  # overlap off: the same bits
  run_mpi 2 train "$TINY" --out "$TMP/$fmt-off" "${common[@]}" --set dist.compress=$fmt --set dist.overlap=false > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$fmt overlap-off run exited $?"; }
  $COMPARE "$TMP/$fmt/ckpt-000000100.h5" "$TMP/$fmt-off/ckpt-000000100.h5" --groups model,optimizer > /dev/null \
    || fail "$fmt: overlap on and off differ"
  # exact resume from step 50
  mkdir -p "$TMP/$fmt-r"
  cp "$TMP/$fmt/ckpt-000000050.h5" "$TMP/$fmt-r/"
  run_mpi 2 train "$TINY" --out "$TMP/$fmt-r" "${common[@]}" --set dist.compress=$fmt --resume auto > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$fmt resume exited $?"; }
  grep -q "resuming from .*ckpt-000000050.h5" "$TMP/log" || { cat "$TMP/log"; fail "$fmt: did not resume from step 50"; }
  $COMPARE "$TMP/$fmt/ckpt-000000100.h5" "$TMP/$fmt-r/ckpt-000000100.h5" --groups model,optimizer,data --attrs > /dev/null \
    || fail "$fmt: resumed run differs from the uninterrupted one"
  same_metrics "$TMP/$fmt/metrics.jsonl" "$TMP/$fmt-r/metrics.jsonl" || fail "$fmt: resumed metrics differ"
  echo "$fmt: weights equal across ranks, overlap on = off, exact resume, close to uncompressed"
done
# a resume under another compression setting says so
mkdir -p "$TMP/x"
cp "$TMP/bf16/ckpt-000000050.h5" "$TMP/x/"
run_mpi 2 train "$TINY" --out "$TMP/x" "${common[@]}" --set dist.compress=fp16 --resume auto > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "bf16 -> fp16 resume exited $?"; }
grep -q "bitwise continuation not guaranteed: dist.compress changed" "$TMP/log" || { cat "$TMP/log"; fail "no warning when dist.compress changes on resume"; }
pass "dist.compress bf16/fp16: equal weights across ranks, exact resume, overlap-independent bits, close to float32"
