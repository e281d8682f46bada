#!/usr/bin/env bash
# labels: resume
# Interoperability: the README's h5py snippet (tests/tools/h5py_forward.py) loads a real
# Fashion-MNIST checkpoint, runs the forward pass in numpy, and gets the same test accuracy
# as 'rdrop eval --json'; the same for a CNN checkpoint (conv2d, max_pool; tiny 12x12 images).
source "$(dirname "$0")/lib.sh"

data=$SRC/datasets/fashion-mnist
[ -e "$data/t10k-images-idx3-ubyte.gz" ] || bash "$SRC/datasets/fashion-mnist.sh" > /dev/null
cd "$SRC"   # the config's data paths are relative to the clone
"$RDROP" train configs/fashion_mlp_rdrop.yaml --out "$TMP/fm" --set training.max_steps=40 \
  > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "training exited $rc"; }
ck=$TMP/fm/ckpt-000000040.h5
"$RDROP" eval --checkpoint "$ck" --json > "$TMP/eval.json" || fail "eval exited $?"
$PY "$SRC/tests/tools/h5py_forward.py" "$ck" "$data/t10k-images-idx3-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz" > "$TMP/py.json" \
  || fail "the h5py snippet failed"
cat "$TMP/eval.json" "$TMP/py.json"
$PY - "$TMP/eval.json" "$TMP/py.json" <<'PYEOF' || fail "accuracies differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["samples"] == b["samples"] == 10000, (a["samples"], b["samples"])
# float32 sums in another order may flip an argmax tie: allow 2 of 10000 samples
assert abs(a["accuracy"] - b["accuracy"]) <= 2e-4, (a["accuracy"], b["accuracy"])
assert a["accuracy"] > 0.5, a["accuracy"]
print(f"rdrop eval {a['accuracy']:.4f} == h5py/numpy {b['accuracy']:.4f}")
PYEOF

make_cnn_data
"$RDROP" train "${CNN[@]}" --out "$TMP/cnn" --set training.epochs=10 --set training.max_steps=120 > "$TMP/logc" 2>&1 \
  || { rc=$?; cat "$TMP/logc"; fail "CNN training exited $rc"; }
ck=$TMP/cnn/ckpt-000000120.h5
"$RDROP" eval --checkpoint "$ck" --json > "$TMP/evalc.json" || fail "CNN eval exited $?"
$PY "$SRC/tests/tools/h5py_forward.py" "$ck" "$TMP/img/test-images-idx3-ubyte.gz" "$TMP/img/test-labels-idx1-ubyte.gz" \
  > "$TMP/pyc.json" || fail "the h5py snippet failed on a CNN checkpoint"
cat "$TMP/evalc.json" "$TMP/pyc.json"
$PY - "$TMP/evalc.json" "$TMP/pyc.json" <<'PYEOF' || fail "CNN accuracies differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["samples"] == b["samples"] == 128, (a["samples"], b["samples"])
assert abs(a["accuracy"] - b["accuracy"]) <= 1 / 128, (a["accuracy"], b["accuracy"])
assert a["accuracy"] > 0.3, a["accuracy"]
print(f"CNN: rdrop eval {a['accuracy']:.4f} == h5py/numpy {b['accuracy']:.4f}")
PYEOF
pass "h5py + numpy forward pass reproduces rdrop eval (MLP and CNN)"
