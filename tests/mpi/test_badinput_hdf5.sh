#!/usr/bin/env bash
# labels: badinput;hdf5
# Bad HDF5 data: exit 3 and ONE line naming the file, its config key, the dataset and what is
# wrong, before any training, with nothing written to the run folder; in both load modes.
# Cases: missing file or dataset, not HDF5, truncated, wrong rank, unsupported dtype of X and
# of y, X and y lengths differ, zero samples, NaN/Inf in float X (found by the load's chunk
# by chunk pass), label < 0 or >= data.classes, train and test sample shapes differ.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

d=$TMP/d
mkdir -p "$d"
$PY - "$d" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
def write(name, X, y, **kw):
    with h5py.File(f"{d}/{name}.h5", "w") as f:
        f.create_dataset("X", data=X, **kw)
        f.create_dataset("y", data=y)
N = 300
X = rng.random((N, 12), dtype=np.float32)
y = (np.arange(N) % 3).astype(np.int64)
write("good", X, y, chunks=(32, 12))
write("test", X[:60], y[:60])
write("rank1", X[:, 0], y)
write("float64", X.astype(np.float64), y)
write("int16", (X * 100).astype(np.int16), y)
write("ylen", X, y[:-1])
write("empty", X[:0], y[:0])
Xn = X.copy(); Xn[257, 5] = np.nan
write("nan", Xn, y, chunks=(32, 12))
Xi = X.copy(); Xi[3, 0] = np.inf
write("inf", Xi, y)
yneg = y.copy(); yneg[17] = -1
write("yneg", X, yneg)
write("yfloat", X, y.astype(np.float32))
write("shape", X[:, :10], y)
with h5py.File(f"{d}/nodata.h5", "w") as f:
    f.create_dataset("images", data=X)
with h5py.File(f"{d}/big.h5", "w") as f:
    f.create_dataset("X", data=rng.integers(0, 255, (4000, 64), dtype=np.uint8), chunks=(64, 64))
    f.create_dataset("y", data=np.arange(4000) % 3)
open(f"{d}/text.h5", "w").write("not hdf5\n" * 100)
PYEOF
head -c 150000 "$d/big.h5" > "$d/truncated.h5"

cfg=$d/h5.yaml
cat > "$cfg" <<YAML
model:
  layers:
    - {type: dense, units: 8, activation: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 3}
data:
  format: hdf5
  train_file: $d/good.h5
  test_file: $d/test.h5
  batch_size: 32
training: {epochs: 1}
YAML
# the good files train
for mode in memory stream; do
  timeout -k 5 60 "$RDROP" train "$cfg" --out "$TMP/ok_$mode" --set data.load=$mode > "$TMP/ok.log" 2>&1 \
    || { cat "$TMP/ok.log"; fail "the good HDF5 files do not train ($mode)"; }
done

# case FILE_KEY FILE PATTERN... [-- EXTRA ARGS]: both load modes, exit 3, one line, run folder untouched
case_bad() {
  local key=$1 file=$2; shift 2
  local pats=() extra=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do pats+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; extra=("$@"); }
  for mode in memory stream; do
    local out=$TMP/run_$mode
    expect_error 3 "^rdrop: $d/$file: data\.$key: " "${pats[@]}" -- \
      "$RDROP" train "$cfg" --out "$out" --set data.load=$mode --set "data.$key=$d/$file" "${extra[@]}"
    [ ! -e "$out" ] || fail "$file ($mode): the refused run created $out"
  done
}
case_bad train_file missing.h5 "cannot open: No such file or directory"
case_bad train_file text.h5 "not an HDF5 file"
case_bad test_file truncated.h5 "truncated or corrupt HDF5 file \(HDF5: truncated file"
case_bad train_file nodata.h5 "/X: no such dataset in the file"
case_bad train_file good.h5 "/labels: no such dataset" -- --set data.labels=/labels
case_bad train_file rank1.h5 "/X: rank 1, expected 2, 3 or 4"
case_bad train_file float64.h5 "/X: unsupported dtype float64: X must be uint8 \(scaled by 1/255\) or float32"
case_bad train_file int16.h5 "/X: unsupported dtype int16"
case_bad train_file yfloat.h5 "/y: unsupported dtype float32: labels must be integers"
case_bad train_file ylen.h5 "/X: 300 samples but /y has 299 labels"
case_bad test_file empty.h5 "/X: no samples"
case_bad train_file nan.h5 "/X: NaN at sample 257 \(value 5 of the sample\): float X must be finite"
case_bad test_file inf.h5 "/X: Inf at sample 3 \(value 0 of the sample\)"
case_bad train_file yneg.h5 "/y: label -1 at index 17 is out of range"
case_bad train_file good.h5 "/y: label 2 at index 2 is out of range \(0\.\.1, data\.classes\)" -- --set data.classes=2
case_bad test_file shape.h5 "/X: samples of \[1, 1, 10\], but data.train_file's are \[1, 1, 12\]"
pass "bad HDF5 data: exit 3, one line naming file, key, dataset and problem; nothing written (memory and stream)"
echo "--- bad-input table"; cat "$TMP/table" 2>/dev/null || true
