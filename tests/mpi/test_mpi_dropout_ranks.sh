#!/usr/bin/env bash
# labels: mpi
# With dropout on, every rank draws its own masks, yet the weights stay bitwise equal on all
# ranks: each checkpoint compares a CRC-32 of every rank's parameter buffer (allreduce MIN/MAX)
# and the run would stop with a named error otherwise. 2-rank runs are reproducible bitwise.
#
# Independent rank streams, tested so that shared streams would fail: an IDX training set in
# which the second half of every global batch (rank 1's share, data.shuffle false) repeats the
# first half (rank 0's). Were rank 1's masks rank 0's, both ranks would compute the same
# gradient and the 2-rank run (batch 16) would equal a 1-rank run with batch 8 on the halves
# alone (same key, step and rows for rank 0) -- which is exactly what happens with dropout off
# (the control: equal within 1e-6). With dropout on, the two must differ.
source "$(dirname "$0")/lib.sh"

common=(--set training.max_steps=20 --set checkpoint.every_steps=5 --set checkpoint.every_epochs=0)
run_mpi 2 train "$TINY" --out "$TMP/a" "${common[@]}" > "$TMP/loga" 2>&1 || { rc=$?; cat "$TMP/loga"; fail "run a exited $rc"; }
grep -c "equal on all 2 ranks" "$TMP/loga" | grep -qx 4 || { cat "$TMP/loga"; fail "expected 4 checkpoints with equal CRCs on 2 ranks"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" > "$TMP/logb" 2>&1 || fail "run b exited $?"
$COMPARE "$TMP/a/ckpt-000000020.h5" "$TMP/b/ckpt-000000020.h5" --groups model,optimizer --attrs || fail "two identical 2-rank runs differ"

# The duplicated-halves data set (IDX, 10 classes, 32 values per sample).
$PY - "$TMP" <<'PYEOF'
import struct, sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(5)
B, H, steps = 16, 8, 16
half_x = rng.integers(0, 256, size=(steps * H, 4, 8), dtype=np.uint8)
half_y = rng.integers(0, 10, size=steps * H, dtype=np.uint8)
dup_x = np.concatenate([np.concatenate([half_x[t*H:(t+1)*H]] * 2) for t in range(steps)])
dup_y = np.concatenate([np.concatenate([half_y[t*H:(t+1)*H]] * 2) for t in range(steps)])
def write(name, x, y):
    with open(f"{out}/{name}-images", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(x), 4, 8)); f.write(x.tobytes())
    with open(f"{out}/{name}-labels", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(y))); f.write(y.tobytes())
write("half", half_x, half_y)
write("dup", dup_x, dup_y)
PYEOF
idx() {   # idx NAME BATCH: the data keys for set NAME (test set: the halves)
  echo --set data.format=idx --set "data.train_images=$TMP/$1-images" --set "data.train_labels=$TMP/$1-labels" \
       --set "data.test_images=$TMP/half-images" --set "data.test_labels=$TMP/half-labels" \
       --set data.shuffle=false --set "data.batch_size=$2" --set model.layers.3.units=10 \
       --set training.epochs=1 --set checkpoint.every_epochs=1
}
nodrop=(--set model.layers.0.rate=0 --set model.layers.2.rate=0)
# shellcheck disable=SC2046
run_mpi 2 train "$TINY" --out "$TMP/dup0" $(idx dup 16) "${nodrop[@]}" > "$TMP/l1" 2>&1 || { rc=$?; cat "$TMP/l1"; fail "2 ranks, no dropout exited $rc"; }
# shellcheck disable=SC2046
run_mpi 1 train "$TINY" --out "$TMP/half0" $(idx half 8) "${nodrop[@]}" > "$TMP/l2" 2>&1 || { rc=$?; cat "$TMP/l2"; fail "1 rank, no dropout exited $rc"; }
$COMPARE "$TMP/dup0/ckpt-000000016.h5" "$TMP/half0/ckpt-000000016.h5" --groups model --rtol 1e-6 \
  || fail "control: without dropout, 2 ranks on duplicated halves must equal 1 rank on the halves"
# shellcheck disable=SC2046
run_mpi 2 train "$TINY" --out "$TMP/dup" $(idx dup 16) > "$TMP/l3" 2>&1 || { rc=$?; cat "$TMP/l3"; fail "2 ranks, dropout exited $rc"; }
# shellcheck disable=SC2046
run_mpi 1 train "$TINY" --out "$TMP/half" $(idx half 8) > "$TMP/l4" 2>&1 || { rc=$?; cat "$TMP/l4"; fail "1 rank, dropout exited $rc"; }
if $COMPARE "$TMP/dup/ckpt-000000016.h5" "$TMP/half/ckpt-000000016.h5" --groups model --rtol 1e-3 > "$TMP/cmp"; then
  cat "$TMP/cmp"
  fail "rank 1 drew rank 0's dropout masks: the 2-rank run on duplicated halves equals the 1-rank run"
fi
pass "dropout on: weights equal on all ranks at 4 checkpoints; runs reproducible; rank 1's masks are not rank 0's (the no-dropout control is equal)"
