#!/usr/bin/env bash
# labels: mpi;hdf5
# Conv models take their input shape from X: the tiny CNN (configs/tiny_cnn.yaml, 12x12x1) on
# the tiny image set converted to HDF5 ([N, 12, 12] uint8) trains on 2 ranks bit for bit like
# on its IDX files, in both load modes; X stored as [N, 12, 12, 1] (h5py) gives the same bits;
# stored flat [N, 144] it is refused (a conv layer needs an image).
source "$(dirname "$0")/lib.sh"
make_cnn_data
I=$TMP/img
"$RDROP" convert --train-images "$I/train-images-idx3-ubyte.gz" --train-labels "$I/train-labels-idx1-ubyte.gz" \
  --test-images "$I/test-images-idx3-ubyte.gz" --test-labels "$I/test-labels-idx1-ubyte.gz" --out "$TMP/img.h5" \
  --chunk 16 > /dev/null || fail "convert"
$PY - "$TMP" <<'PYEOF'
import sys, h5py
t = sys.argv[1]
with h5py.File(f"{t}/img.h5") as f, h5py.File(f"{t}/nhwc.h5", "w") as g, h5py.File(f"{t}/flat.h5", "w") as h:
    for s in ("train", "test"):
        X, y = f[s + "/X"][()], f[s + "/y"][()]
        g[s + "/X"] = X[..., None]; g[s + "/y"] = y
        h[s + "/X"] = X.reshape(len(X), -1); h[s + "/y"] = y
PYEOF
common=(--set training.max_steps=30 --set checkpoint.every_epochs=0)
run_mpi 2 train "${CNN[@]}" "${common[@]}" --out "$TMP/idx" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "IDX run"; }
for v in img:memory img:stream nhwc:stream; do
  f=${v%%:*} mode=${v##*:}
  run_mpi 2 train "${CNN[@]}" "${common[@]}" --set data.format=hdf5 --set "data.train_file=$TMP/$f.h5" \
    --set "data.test_file=$TMP/$f.h5" --set data.load=$mode --out "$TMP/$f-$mode" > "$TMP/log" 2>&1 \
    || { cat "$TMP/log"; fail "$f $mode run"; }
  $COMPARE "$TMP/idx/ckpt-000000030.h5" "$TMP/$f-$mode/ckpt-000000030.h5" --groups model,optimizer --attrs > /dev/null \
    || fail "CNN on $f.h5 ($mode) differs from IDX"
done
pass "CNN on HDF5 [N,H,W] and [N,H,W,1] (memory, stream) is bitwise the IDX run (2 ranks, 30 steps)"
set +e
timeout -k 5 60 "$RDROP" train "${CNN[@]}" --set data.format=hdf5 --set "data.train_file=$TMP/flat.h5" \
  --set "data.test_file=$TMP/flat.h5" --out "$TMP/flat" > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -lt 124 ] || { cat "$TMP/err"; fail "flat X with a conv model: exit $rc"; }
[ "$(wc -l < "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "want one line"; }
pass "flat [N, D] X with a conv model is refused in one line (exit $rc): $(cat "$TMP/err")"
