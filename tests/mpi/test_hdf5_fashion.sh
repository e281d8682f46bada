#!/usr/bin/env bash
# labels: mpi;hdf5
# Fashion-MNIST converted to HDF5 (rdrop convert, as datasets/fashion-mnist.sh --hdf5 does)
# trains bit for bit like the IDX files on 2 ranks, with data.load: memory and stream
# (weights, momentum, every /data /rng /train attribute, metrics); a run resumed across
# memory -> stream and stream -> memory is bitwise the uninterrupted one; eval reads the
# HDF5 file through the stored config in both modes; validation split and train_samples apply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

F=${RDROP_FASHION_MNIST_SRC:-/usr/share/datasets/fashion-mnist}
[ -r "$F/train-images-idx3-ubyte.gz" ] || { echo "SKIP: no Fashion-MNIST in $F"; exit 77; }
"$RDROP" convert --train-images "$F/train-images-idx3-ubyte.gz" --train-labels "$F/train-labels-idx1-ubyte.gz" \
  --test-images "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz" --out "$TMP/fm.h5" \
  > /dev/null || fail "convert exited $?"
"$RDROP" data "$TMP/fm.h5" > "$TMP/data.txt" || fail "rdrop data exited $?"
grep -q "^/train/X  \[60000, 28, 28\]  uint8" "$TMP/data.txt" || { cat "$TMP/data.txt"; fail "train X not listed"; }
grep -q "counts 0:6000 1:6000 2:6000" "$TMP/data.txt" || { cat "$TMP/data.txt"; fail "class counts missing"; }

CFG=$SRC/configs/fashion_mlp_rdrop.yaml
common=(--set training.epochs=3 --set training.max_steps=160 --set checkpoint.every_steps=40 --set checkpoint.keep=10
        --set data.validation=500 --set data.train_samples=9000 --set model.layers.1.units=128
        --set model.layers.3.units=128 --set training.log_every_steps=20)
idx=(--set "data.train_images=$F/train-images-idx3-ubyte.gz" --set "data.train_labels=$F/train-labels-idx1-ubyte.gz"
     --set "data.test_images=$F/t10k-images-idx3-ubyte.gz" --set "data.test_labels=$F/t10k-labels-idx1-ubyte.gz")
h5=(--set data.format=hdf5 --set "data.train_file=$TMP/fm.h5" --set "data.test_file=$TMP/fm.h5")

run_mpi 2 train "$CFG" "${common[@]}" "${idx[@]}" --out "$TMP/idx" > "$TMP/log_idx" 2>&1 || { cat "$TMP/log_idx"; fail "IDX run"; }
for mode in memory stream; do
  run_mpi 2 train "$CFG" "${common[@]}" "${h5[@]}" --set data.load=$mode --out "$TMP/$mode" > "$TMP/log_$mode" 2>&1 \
    || { cat "$TMP/log_$mode"; fail "HDF5 $mode run"; }
  $COMPARE "$TMP/idx/ckpt-000000160.h5" "$TMP/$mode/ckpt-000000160.h5" --groups model,optimizer,data --attrs > /dev/null \
    || fail "HDF5 ($mode) and IDX checkpoints differ"
  same_metrics "$TMP/idx/metrics.jsonl" "$TMP/$mode/metrics.jsonl" || fail "HDF5 ($mode) and IDX metrics differ"
  pass "HDF5 data.load: $mode trains bit for bit like IDX (2 ranks, 160 steps over two epoch ends, validation + train_samples)"
done

# gzip'd chunks are read through HDF5's hyperslab path (not the direct one): same bits
"$RDROP" convert --train-images "$F/train-images-idx3-ubyte.gz" --train-labels "$F/train-labels-idx1-ubyte.gz" \
  --test-images "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz" --out "$TMP/fmz.h5" \
  --gzip 4 --chunk 32 > /dev/null || fail "convert --gzip exited $?"
grep -q "^/train/X  \[60000, 28, 28\]  uint8  chunks \[32, 28, 28\]  filtered" <("$RDROP" data "$TMP/fmz.h5") \
  || fail "gzip'd file not described as filtered"
run_mpi 2 train "$CFG" "${common[@]}" --set data.format=hdf5 --set "data.train_file=$TMP/fmz.h5" \
  --set "data.test_file=$TMP/fmz.h5" --set data.load=stream --set training.max_steps=80 --out "$TMP/gz" > "$TMP/log_gz" 2>&1 \
  || { cat "$TMP/log_gz"; fail "gzip stream run"; }
$COMPARE "$TMP/idx/ckpt-000000080.h5" "$TMP/gz/ckpt-000000080.h5" --groups model,optimizer,data --attrs > /dev/null \
  || fail "gzip'd HDF5 (stream) and IDX checkpoints differ"
pass "gzip'd, 32-sample chunks, data.load: stream: bit for bit like IDX (80 steps)"

# resume across load modes: 80 steps in one mode, the rest in the other
for pair in "memory stream" "stream memory"; do
  set -- $pair
  out=$TMP/resume_$1_$2
  run_mpi 2 train "$CFG" "${common[@]}" "${h5[@]}" --set data.load=$1 --set training.max_steps=80 --out "$out" \
    > "$TMP/log_r1" 2>&1 || { cat "$TMP/log_r1"; fail "first half ($1)"; }
  run_mpi 2 train "$CFG" "${common[@]}" "${h5[@]}" --set data.load=$2 --out "$out" --resume auto > "$TMP/log_r2" 2>&1 \
    || { cat "$TMP/log_r2"; fail "second half ($2)"; }
  grep -q "data.load changed since the checkpoint" "$TMP/log_r2" || { cat "$TMP/log_r2"; fail "no notice of the load change"; }
  $COMPARE "$TMP/idx/ckpt-000000160.h5" "$out/ckpt-000000160.h5" --groups model,optimizer,data --attrs > /dev/null \
    || fail "resume $1 -> $2 differs from the uninterrupted run"
  same_metrics "$TMP/idx/metrics.jsonl" "$out/metrics.jsonl" || fail "resume $1 -> $2: metrics differ"
  pass "resume $1 -> $2 is bitwise the uninterrupted run"
done

# eval through the stored config (stream reads the test set through its I/O thread)
for mode in memory stream; do
  "$RDROP" eval --checkpoint "$TMP/$mode/ckpt-000000160.h5" --json > "$TMP/eval_$mode.json" || fail "eval ($mode)"
  "$RDROP" eval --checkpoint "$TMP/$mode/ckpt-000000160.h5" --data val --json > "$TMP/val_$mode.json" || fail "eval val ($mode)"
done
"$RDROP" eval --checkpoint "$TMP/idx/ckpt-000000160.h5" --json > "$TMP/eval_idx.json" || fail "eval (idx)"
$PY - "$TMP" <<'PYEOF' || fail "eval results differ"
import json, sys
t = sys.argv[1]
a, m, s = (json.load(open(f"{t}/eval_{k}.json")) for k in ("idx", "memory", "stream"))
for r in (m, s):
    assert r["samples"] == 10000 and r["accuracy"] == a["accuracy"] and r["loss"] == a["loss"], (a, r)
    assert r["per_class_accuracy"] == a["per_class_accuracy"]
vm, vs = (json.load(open(f"{t}/val_{k}.json")) for k in ("memory", "stream"))
assert vm["samples"] == 500 and vm == {**vs, "checkpoint": vm["checkpoint"]}, (vm, vs)
PYEOF
pass "eval of HDF5 runs (memory, stream) equals eval of the IDX run; --data val in both modes"
