#!/usr/bin/env bash
# labels: hdf5;slow
# data.load: stream keeps only a few batches of X in memory: training on an HDF5 file larger
# than a memory cap stays under the cap, and the peak RSS hardly moves when N grows 40-fold
# (what grows is the per-sample index arrays: labels, ids, permutations, 16 bytes a sample,
# 2% of a 784-byte sample). data.load: memory on the same file needs more than the file, so
# the cap is a real bound. Peak RSS from /usr/bin/time -v, singleton runs.
# RDROP_STREAM_TEST_MB (default 2048) sets the big file's size.
source "$(dirname "$0")/lib.sh"
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time missing"; exit 77; }

MB=${RDROP_STREAM_TEST_MB:-2048}
CAP_MB=256
D=784
big=$(( MB * 1000000 / D ))
small=$(( big / 40 ))
$PY - "$TMP" "$small" "$big" "$D" <<'PYEOF'
import sys, h5py, numpy as np
tmp, small, big, D = sys.argv[1], *map(int, sys.argv[2:5])
rng = np.random.default_rng(0)
block = rng.integers(0, 256, (8192, D), dtype=np.uint8)
for name, n in (("small", small), ("big", big)):
    with h5py.File(f"{tmp}/{name}.h5", "w") as f:       # written chunk by chunk, never whole
        X = f.create_dataset("X", (n, D), dtype=np.uint8, chunks=(64, D))
        y = f.create_dataset("y", (n,), dtype=np.int32, chunks=(min(n, 65536),))
        for i in range(0, n, 8192):
            k = min(8192, n - i)
            X[i:i + k] = np.roll(block, i // 8192, axis=1)[:k]
            y[i:i + k] = (np.arange(i, i + k) % 10).astype(np.int32)
    with h5py.File(f"{tmp}/{name}_test.h5", "w") as f:
        f.create_dataset("X", data=block[:1000])
        f.create_dataset("y", data=np.arange(1000, dtype=np.int32) % 10)
PYEOF
size_mb=$(( $(stat -c %s "$TMP/big.h5") / 1000000 ))

cfg=$TMP/s.yaml
cat > "$cfg" <<YAML
model:
  layers:
    - {type: dense, units: 64, activation: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 10}
data: {format: hdf5, batch_size: 128, load: stream}
training: {epochs: 1, max_steps: 60}
checkpoint: {every_epochs: 0}
YAML
# peak_mb NAME MODE: peak RSS (MB) of a 60-step run on NAME.h5
peak_mb() {
  /usr/bin/time -v timeout -k 5 300 "$RDROP" train "$cfg" --out "$TMP/run_$1_$2" --set data.load=$2 \
    --set "data.train_file=$TMP/$1.h5" --set "data.test_file=$TMP/$1_test.h5" > "$TMP/log_$1_$2" 2> "$TMP/time_$1_$2" \
    || { cat "$TMP/log_$1_$2" "$TMP/time_$1_$2"; fail "$1 $2 run"; }
  echo $(( $(awk '/Maximum resident set size/ {print $NF}' "$TMP/time_$1_$2") / 1024 ))
}
s_small=$(peak_mb small stream)
s_big=$(peak_mb big stream)
m_big=$(peak_mb big memory)
echo "file ${size_mb} MB ($big samples); peak RSS: stream $s_small MB ($small samples), stream $s_big MB ($big samples), memory $m_big MB"
[ "$s_big" -lt "$CAP_MB" ] || fail "stream on a ${size_mb} MB file peaked at $s_big MB, over the $CAP_MB MB cap"
[ "$m_big" -gt "$size_mb" ] || fail "memory mode peaked at $m_big MB, not above the file's $size_mb MB: the test cannot tell"
allow=$(( (big - small) * 16 / 1000000 + 24 ))
[ $(( s_big - s_small )) -le "$allow" ] \
  || fail "stream peak grew by $(( s_big - s_small )) MB from $small to $big samples (allowed $allow MB: 16 B/sample of indices)"
pass "stream: ${size_mb} MB file trained in $s_big MB peak RSS (cap $CAP_MB MB; memory mode $m_big MB; $s_small MB at 1/40 of N)"
