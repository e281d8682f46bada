#!/usr/bin/env bash
# labels: mpi
# dist.hierarchical on one machine (one node, 3 ranks: node-local reduce to rank 0, a leaders'
# allreduce of one rank, node-local broadcast): equal to the flat ring within 1e-5 relative
# after 64 steps, weights bitwise equal on all ranks, exact resume; with and without overlap
# and with fp16. The 2-node case runs in test_cluster_hierarchical.
source "$(dirname "$0")/lib.sh"
common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=2 --set checkpoint.every_steps=32 --set checkpoint.keep=10)
run_mpi 3 train "$TINY" --out "$TMP/flat" "${common[@]}" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "flat run exited $?"; }
for ov in true false; do
  run_mpi 3 train "$TINY" --out "$TMP/h-$ov" "${common[@]}" --set dist.hierarchical=true --set dist.overlap=$ov > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "hierarchical overlap=$ov exited $?"; }
  grep -q "allreduce hierarchical (1 nodes)" "$TMP/log" || { cat "$TMP/log"; fail "settings line"; }
  [ "$(grep -c "equal on all 3 ranks" "$TMP/log")" -ge 2 ] || { cat "$TMP/log"; fail "weights not checked equal"; }
done
$COMPARE "$TMP/h-true/ckpt-000000064.h5" "$TMP/h-false/ckpt-000000064.h5" --groups model,optimizer > /dev/null \
  || fail "hierarchical: overlap on and off differ"
$COMPARE "$TMP/flat/ckpt-000000064.h5" "$TMP/h-true/ckpt-000000064.h5" --groups model,optimizer --rtol 1e-5 \
  || fail "hierarchical differs from flat by more than 1e-5"
mkdir -p "$TMP/r"
cp "$TMP/h-true/ckpt-000000032.h5" "$TMP/r/"
run_mpi 3 train "$TINY" --out "$TMP/r" "${common[@]}" --set dist.hierarchical=true --set dist.overlap=true --resume auto > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "resume exited $?"; }
$COMPARE "$TMP/h-true/ckpt-000000064.h5" "$TMP/r/ckpt-000000064.h5" --groups model,optimizer,data --attrs > /dev/null \
  || fail "hierarchical: resume not exact"
run_mpi 3 train "$TINY" --out "$TMP/f16" "${common[@]}" --set dist.hierarchical=true --set dist.compress=fp16 > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "hierarchical fp16 exited $?"; }
[ "$(grep -c "equal on all 3 ranks" "$TMP/log")" -ge 2 ] || { cat "$TMP/log"; fail "fp16: weights not checked equal"; }
pass "dist.hierarchical on one node: = flat within 1e-5, overlap-independent, equal weights, exact resume, fp16"
