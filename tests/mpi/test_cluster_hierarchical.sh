#!/usr/bin/env bash
# labels: cluster
# dist.hierarchical (docs/scale.md) on the emulated cluster, 2 nodes x 2 ranks
# (launch/cluster.sh): rdrop finds 2 nodes; the run equals the flat ring within 1e-5 relative
# (weights and momentum after 64 steps: summation order only) but not bit for bit (the
# hierarchical path really ran); every checkpoint's weights are bitwise equal on all 4 ranks;
# a run stopped at step 32 resumes to the uninterrupted run's bits; with dist.compress bf16 too.
# Skips (77) where network namespaces cannot be created.
source "$(dirname "$0")/lib.sh"
CLUSTER=(timeout -k 10 240 bash "$SRC/launch/cluster.sh" -q -n 2 -p 2 --timeout 180 --)
common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=2 --set checkpoint.every_steps=16 --set checkpoint.keep=10)

set +e
"${CLUSTER[@]}" "$RDROP" train "$TINY" --out "$TMP/flat" "${common[@]}" > "$TMP/log" 2>&1
rc=$?
set -e
[ $rc -eq 77 ] && { cat "$TMP/log"; echo "SKIP: cannot create network namespaces here"; exit 77; }
[ $rc -eq 0 ] || { cat "$TMP/log"; fail "flat run on 2x2 exited $rc"; }
grep -q "allreduce flat" "$TMP/log" || fail "flat run: settings line"
for cm in none bf16; do
  "${CLUSTER[@]}" "$RDROP" train "$TINY" --out "$TMP/h-$cm" "${common[@]}" --set dist.hierarchical=true \
    --set dist.compress=$cm > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "hierarchical $cm run exited $?"; }
  grep -q "ranks 4 " "$TMP/log" || fail "not 4 ranks"
  grep -q "allreduce hierarchical (2 nodes)" "$TMP/log" || { cat "$TMP/log"; fail "hierarchical $cm: 2 nodes not found"; }
  n=$(grep -c "equal on all 4 ranks" "$TMP/log" || true)
  [ "$n" -ge 4 ] || { cat "$TMP/log"; fail "hierarchical $cm: $n checkpoints with equal weights on 4 ranks, want >= 4"; }
  # exact resume from step 32
  mkdir -p "$TMP/r-$cm"
  cp "$TMP/h-$cm/ckpt-000000032.h5" "$TMP/r-$cm/"
  "${CLUSTER[@]}" "$RDROP" train "$TINY" --out "$TMP/r-$cm" "${common[@]}" --set dist.hierarchical=true \
    --set dist.compress=$cm --resume auto > "$TMP/logr" 2>&1 || { cat "$TMP/logr"; fail "hierarchical $cm resume exited $?"; }
  grep -q "resuming from .*ckpt-000000032.h5" "$TMP/logr" || { cat "$TMP/logr"; fail "$cm: did not resume from step 32"; }
  $COMPARE "$TMP/h-$cm/ckpt-000000064.h5" "$TMP/r-$cm/ckpt-000000064.h5" --groups model,optimizer,data --attrs > /dev/null \
    || fail "hierarchical $cm: resumed run differs from the uninterrupted one"
done
$COMPARE "$TMP/flat/ckpt-000000064.h5" "$TMP/h-none/ckpt-000000064.h5" --groups model,optimizer --rtol 1e-5 \
  || fail "hierarchical differs from flat by more than 1e-5 relative"
if $COMPARE "$TMP/flat/ckpt-000000064.h5" "$TMP/h-none/ckpt-000000064.h5" --groups model > /dev/null; then
  fail "hierarchical gave the flat ring's bits: the two-level path did not run"
fi
pass "dist.hierarchical on 2 nodes x 2 ranks: = flat within 1e-5, equal weights on all ranks, exact resume (float32 and bf16)"
