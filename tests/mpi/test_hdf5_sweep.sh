#!/usr/bin/env bash
# labels: mpi;sweep;hdf5
# launch/sweep.sh on HDF5 data (one file with /train and /test groups, uint8 [N, H, W, C]):
# a grid over data.load x rdrop.alpha with a validation split; both load modes give the same
# validation and test accuracy for every alpha (they are the same run).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export RDROP
d=$TMP/d
mkdir -p "$d"
$PY - "$d" <<'PYEOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(3)
proto = rng.integers(30, 220, (4, 6, 6, 2))
with h5py.File(f"{sys.argv[1]}/imgs.h5", "w") as f:
    for split, n in (("train", 800), ("test", 200)):
        y = rng.integers(0, 4, n)
        X = np.clip(proto[y] + rng.normal(0, 40, (n, 6, 6, 2)), 0, 255).astype(np.uint8)
        g = f.create_group(split)
        g.create_dataset("X", data=X, chunks=(16, 6, 6, 2))
        g.create_dataset("y", data=y.astype(np.uint16))
PYEOF
cat > "$d/base.yaml" <<YAML
model:
  layers:
    - {type: dense, units: 32, activation: relu}
    - {type: dropout, rate: 0.3}
    - {type: dense, units: 4}
data: {format: hdf5, train_file: $d/imgs.h5, test_file: $d/imgs.h5, batch_size: 50}
training: {epochs: 3}
YAML
cat > "$d/sweep.yaml" <<YAML
config: $d/base.yaml
ranks: 2
set:
  data.validation: 100
grid:
  data.load: [memory, stream]
  rdrop.alpha: [0, 1]
YAML
bash launch/sweep.sh "$d/sweep.yaml" --out "$TMP/sweep" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "sweep exited $?"; }
[ "$(wc -l < "$TMP/sweep/results.csv")" -eq 5 ] || { cat "$TMP/sweep/results.csv"; fail "expected 4 runs"; }
$PY - "$TMP/sweep/results.csv" <<'PYEOF' || fail "memory and stream runs differ"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {(r["data.load"], r["rdrop.alpha"]): r for r in rows}
for a in ("0", "1"):
    m, s = by[("memory", a)], by[("stream", a)]
    assert m["best_val_acc"] == s["best_val_acc"] and m["test_at_best"] == s["test_at_best"], (m, s)
    assert float(m["best_val_acc"]) > 0.5, m
print("sweep on HDF5 data: memory and stream agree for every alpha")
PYEOF
pass "launch/sweep.sh on HDF5 data (validation split, both load modes)"
