#!/usr/bin/env bash
# labels: mpi;hdf5
# Labels are int32 end to end: a 1,000-class tabular [N, D] float32 HDF5 data set (written by
# h5py from numpy arrays, two files, classes from the labels) trains on 2 ranks in both load
# modes, evaluates, and reports per-class accuracy for all 1,000 classes (classes above 255
# learned); the synthetic generator's labels do not wrap at 256 either.
source "$(dirname "$0")/lib.sh"

d=$TMP/d
mkdir -p "$d"
$PY - "$d" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
K, D = 1000, 64
proto = rng.normal(size=(K, D)).astype(np.float32)
for split, per in (("train", 8), ("test", 2)):
    y = np.repeat(np.arange(K), per).astype(np.int32)
    X = (proto[y] + 0.3 * rng.normal(size=(len(y), D))).astype(np.float32)
    with h5py.File(f"{d}/{split}.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(256, D))
        f.create_dataset("y", data=y)
PYEOF
cat > "$d/tab.yaml" <<YAML
model:
  layers:
    - {type: dense, units: 256, activation: relu}
    - {type: dropout, rate: 0.1}
    - {type: dense, units: 1000}
rdrop: {alpha: 0.5}
data:
  format: hdf5
  train_file: $d/train.h5
  test_file: $d/test.h5
  batch_size: 200
training: {epochs: 6}
YAML
for mode in memory stream; do
  run_mpi 2 train "$d/tab.yaml" --out "$TMP/$mode" --set data.load=$mode > "$TMP/log_$mode" 2>&1 \
    || { cat "$TMP/log_$mode"; fail "1000-class run ($mode)"; }
done
grep -q "model     64 inputs -> 1000 outputs" "$TMP/log_memory" || { cat "$TMP/log_memory"; fail "input width 64 not taken from X"; }
$COMPARE "$TMP/memory/ckpt-000000240.h5" "$TMP/stream/ckpt-000000240.h5" --groups model,optimizer,data --attrs > /dev/null \
  || fail "memory and stream differ on the 1000-class data"
"$RDROP" eval --checkpoint "$TMP/stream/ckpt-000000240.h5" --json > "$TMP/eval.json" || fail "eval"
"$RDROP" eval --checkpoint "$TMP/stream/ckpt-000000240.h5" > "$TMP/eval.txt" || fail "eval (text)"
grep -q " 999:" "$TMP/eval.txt" || fail "eval text lacks class 999"
$PY - "$TMP/eval.json" <<'PYEOF' || fail "per-class accuracy"
import json, sys
r = json.load(open(sys.argv[1]))
pc = r["per_class_accuracy"]
assert len(pc) == 1000, len(pc)
assert r["samples"] == 2000
# 2 test samples per class: the per-class mean is the accuracy
assert abs(sum(pc) / 1000 - r["accuracy"]) < 1e-9, (sum(pc) / 1000, r["accuracy"])
high = sum(pc[256:]) / 744
assert r["accuracy"] > 0.5 and high > 0.5, (r["accuracy"], high)
print(f"1000 classes: test accuracy {r['accuracy']:.4f}, classes 256..999 {high:.4f}")
PYEOF
pass "1,000-class HDF5 data trains (memory = stream bitwise), evaluates, per-class accuracy for every class"

# synthetic data: 300 classes, labels above 255 exist and are learned (no uint8 wrap)
run_mpi 2 train "$SRC/configs/tiny_synthetic.yaml" --out "$TMP/syn" --set data.synthetic.classes=300 \
  --set data.synthetic.train=12000 --set data.synthetic.test=3000 --set data.synthetic.features=64 \
  --set model.layers.3.units=300 --set model.layers.1.units=256 --set training.epochs=4 > "$TMP/log_syn" 2>&1 \
  || { cat "$TMP/log_syn"; fail "synthetic 300 classes"; }
"$RDROP" eval --checkpoint "$TMP/syn/ckpt-000000748.h5" --json > "$TMP/syn.json" 2>/dev/null \
  || "$RDROP" eval --checkpoint "$(ls "$TMP"/syn/ckpt-*.h5 | tail -1)" --json > "$TMP/syn.json" || fail "eval synthetic"
$PY - "$TMP/syn.json" <<'PYEOF' || fail "synthetic per-class accuracy"
import json, sys
r = json.load(open(sys.argv[1]))
pc = r["per_class_accuracy"]
assert len(pc) == 300, len(pc)
high = sum(pc[256:]) / 44
assert high > 0.3, (r["accuracy"], high)
print(f"synthetic 300 classes: test accuracy {r['accuracy']:.4f}, classes 256..299 {high:.4f}")
PYEOF
pass "synthetic data with 300 classes: labels above 255 are trained and evaluated"
