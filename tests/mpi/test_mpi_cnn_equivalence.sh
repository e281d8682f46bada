#!/usr/bin/env bash
# labels: mpi
# Data parallelism for a CNN (conv2d, max_pool, dense; configs/tiny_cnn.yaml on 12x12 images):
# with dropout off, 2 ranks with global batch B end with the same weights and momentum as
# 1 rank after 30 steps, within 1e-5 relative per tensor (normwise); the conv kernels are
# stored [KH, KW, C_in, C_out].
source "$(dirname "$0")/lib.sh"
make_cnn_data

common=(--set model.layers.0.rate=0 --set model.layers.3.rate=0 --set model.layers.6.rate=0
        --set training.max_steps=30 --set checkpoint.every_epochs=0)
run_mpi 1 train "${CNN[@]}" --out "$TMP/one" "${common[@]}" > "$TMP/log1" 2>&1 || { cat "$TMP/log1"; fail "1 rank exited $?"; }
run_mpi 2 train "${CNN[@]}" --out "$TMP/two" "${common[@]}" > "$TMP/log2" 2>&1 || { cat "$TMP/log2"; fail "2 ranks exited $?"; }
a=$TMP/one/ckpt-000000030.h5
b=$TMP/two/ckpt-000000030.h5
[ -f "$a" ] && [ -f "$b" ] || fail "missing final checkpoints"
$PY - "$a" <<'PYEOF' || fail "conv2d kernels are not stored [KH, KW, C_in, C_out]"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert list(f["/model"].attrs["order"]) == ["conv2d_0", "conv2d_1", "dense_0", "dense_1"], f["/model"].attrs["order"]
assert f["/model/conv2d_0/kernel"].shape == (3, 3, 1, 4) and f["/model/conv2d_1/kernel"].shape == (3, 3, 4, 8)
assert f["/optimizer/momentum/conv2d_1/kernel"].shape == (3, 3, 4, 8)
assert f["/model/dense_0/kernel"].shape == (128, 32)
assert f.attrs["format_version"] == 2
PYEOF
$COMPARE "$b" "$a" --rtol 1e-5 --groups model,optimizer || fail "2 ranks differ from 1 rank by more than 1e-5"
# the comparison can fail: a run with a different seed ends elsewhere
run_mpi 1 train "${CNN[@]}" --out "$TMP/other" "${common[@]}" --set run.seed=7 > "$TMP/log3" 2>&1 || fail "seed-7 run exited $?"
if $COMPARE "$TMP/other/ckpt-000000030.h5" "$a" --rtol 1e-3 --groups model > /dev/null; then
  fail "a different seed agrees within 1e-3: the comparison cannot fail"
fi
pass "CNN: 2 ranks == 1 rank within 1e-5 after 30 steps"
