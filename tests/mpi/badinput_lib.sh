# Helpers for the bad-input tests tests/mpi/test_badinput_*.sh (sourced after lib.sh).
# Each test runs the real binary on one class of bad input and asserts: the exit code, no
# death by a signal (exit < 128) and no hang (every run is under `timeout`), exactly ONE line
# on stderr naming the file and the problem (singleton runs: mpirun adds its own lines), and
# that nothing already in the run folder was damaged (same bytes; every checkpoint verifies).

BI_TIMEOUT=${BI_TIMEOUT:-60}

# make_run DIR [ARGS...]: a finished singleton tiny run with checkpoints at steps 5 and 10
make_run() {
  local dir=$1; shift
  timeout -k 5 "$BI_TIMEOUT" "$RDROP" train "$TINY" --out "$dir" --set training.max_steps=10 \
    --set checkpoint.every_steps=5 --set checkpoint.keep=5 "$@" > "$TMP/make_run.log" 2>&1 \
    || { cat "$TMP/make_run.log"; fail "could not make the reference run in $dir"; }
}

# snapshot DIR: checksums of what a failed run must not touch (checkpoints, metrics, config)
snapshot() {
  (cd "$1" && find . -type f \( -name '*.h5' -o -name metrics.jsonl -o -name config.yaml \) \
     -print0 | sort -z | xargs -0 -r sha256sum)
}

# assert_intact DIR SNAPSHOT_FILE: same files, same bytes, every checkpoint still verifies
assert_intact() {
  local dir=$1 snap=$2 f
  snapshot "$dir" > "$TMP/snap.now"
  diff "$snap" "$TMP/snap.now" > /dev/null || { diff "$snap" "$TMP/snap.now" || true; fail "the run folder $dir changed"; }
  for f in "$dir"/ckpt-*.h5; do
    [ -e "$f" ] || continue
    timeout -k 5 "$BI_TIMEOUT" "$RDROP" inspect "$f" > /dev/null 2>&1 || fail "$f no longer verifies"
  done
  [ -z "$(find "$dir" -name '.*.tmp')" ] || fail "a temporary file was left in $dir"
}

# expect_error EXIT PATTERN [PATTERN...] -- CMD...: run CMD (bounded), assert the exit code,
# no signal, exactly one line on stderr, and every PATTERN (grep -E) in that line.
# Leaves stdout/stderr in $TMP/out, $TMP/err; appends "exit | message" to $TMP/table.
expect_error() {
  local want=$1; shift
  local pats=()
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  set +e
  timeout -k 5 "$BI_TIMEOUT" "$@" > "$TMP/out" 2> "$TMP/err"
  local rc=$?
  set -e
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || { cat "$TMP/err"; fail "$*: timed out (hang)"; }
  [ $rc -lt 128 ] || { cat "$TMP/err"; fail "$*: killed by signal $((rc - 128))"; }
  [ $rc -eq "$want" ] || { cat "$TMP/out" "$TMP/err"; fail "$*: exit $rc, want $want"; }
  [ "$(wc -l < "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$*: want exactly one line on stderr, got $(wc -l < "$TMP/err")"; }
  local p
  for p in "${pats[@]}"; do
    grep -qE -- "$p" "$TMP/err" || { cat "$TMP/err"; fail "$*: message does not match '$p'"; }
  done
  echo "ok (exit $rc): $(cat "$TMP/err")"
}

# make_idx DIR [N_TRAIN] [N_TEST] [ROWS] [COLS]: gzip'd IDX files train-images.gz,
# train-labels.gz, test-images.gz, test-labels.gz (labels 0..9) and DIR/idx.yaml, a config
# of a small MLP on them.
make_idx() {
  local dir=$1 ntr=${2:-256} nte=${3:-64} rows=${4:-8} cols=${5:-8}
  mkdir -p "$dir"
  $PY - "$dir" "$ntr" "$nte" "$rows" "$cols" <<'PYEOF'
import gzip, struct, sys, random
d, ntr, nte, rows, cols = sys.argv[1], *map(int, sys.argv[2:6])
rnd = random.Random(0)
def write(name, data):
    with gzip.GzipFile(f"{d}/{name}", "wb", mtime=0) as f:
        f.write(data)
for split, n in (("train", ntr), ("test", nte)):
    labels = bytes(i % 10 for i in range(n))
    pixels = bytes((lab * 25 + rnd.randrange(30)) % 256 for lab in labels for _ in range(rows * cols))
    write(f"{split}-images.gz", struct.pack(">IIII", 0x803, n, rows, cols) + pixels)
    write(f"{split}-labels.gz", struct.pack(">II", 0x801, n) + labels)
PYEOF
  cat > "$dir/idx.yaml" <<YAML
model:
  layers:
    - {type: dense, units: 16, activation: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 10}
data:
  format: idx
  train_images: $dir/train-images.gz
  train_labels: $dir/train-labels.gz
  test_images: $dir/test-images.gz
  test_labels: $dir/test-labels.gz
  batch_size: 32
training: {epochs: 1}
YAML
}

# gz_rewrite FILE PYTHON_EXPR: replace the uncompressed bytes b of FILE (gzip) by EXPR(b)
gz_rewrite() {
  $PY - "$1" "$2" <<'PYEOF'
import gzip, sys
path, expr = sys.argv[1], sys.argv[2]
b = gzip.open(path).read()
b = eval(expr, {"b": b, "bytes": bytes, "bytearray": bytearray})
with gzip.GzipFile(path, "wb", mtime=0) as f:
    f.write(b)
PYEOF
}

# setup_idx_case: small IDX files in $TMP/d with their config ($cfg), and a run folder ($run)
# holding checkpoints whose state is snapshotted to $TMP/snap (assert_intact compares).
setup_idx_case() {
  d=$TMP/d
  cfg=$d/idx.yaml
  run=$TMP/run
  make_idx "$d"
  make_run "$run"
  snapshot "$run" > "$TMP/snap"
}
