# Shared helpers for the integration tests (sourced). $1 = rdrop binary, $2 = source dir.
set -euo pipefail
RDROP=$1
SRC=$2
TMP=$(mktemp -d /tmp/rdrop-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
TINY=$SRC/configs/tiny_synthetic.yaml
PY=/usr/bin/python3
COMPARE="$PY $SRC/tests/tools/ckpt_compare.py"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

# run_mpi N ARGS... : rdrop under mpirun with N ranks (bounded in time)
run_mpi() {
  local n=$1; shift
  timeout -k 10 300 mpirun -np "$n" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
    -x OPENBLAS_NUM_THREADS "$RDROP" "$@"
}

# json_field FILE KIND FIELD [SPLIT]: FIELD of the last metrics row of KIND (and split)
json_field() {
  $PY - "$@" <<'PYEOF'
import json, sys
path, kind, field = sys.argv[1:4]
split = sys.argv[4] if len(sys.argv) > 4 else None
rows = [json.loads(l) for l in open(path) if l.strip()]
rows = [r for r in rows if r["kind"] == kind and (split is None or r.get("split") == split)]
print(rows[-1][field])
PYEOF
}

# first_field FILE KIND FIELD: FIELD of the first row of KIND
first_field() {
  $PY - "$@" <<'PYEOF'
import json, sys
path, kind, field = sys.argv[1:4]
rows = [json.loads(l) for l in open(path) if l.strip() and json.loads(l)["kind"] == kind]
print(rows[0][field])
PYEOF
}

# A run slow enough to be interrupted mid-way (1000 steps, ~3-6 s), checkpoints every 50 steps.
SLOW=(--set data.synthetic.features=256 --set model.layers.1.units=512 --set training.epochs=100
      --set training.max_steps=1000 --set checkpoint.every_steps=50 --set checkpoint.keep=20
      --set training.log_every_steps=25)

# wait_for FILE SECONDS: poll until FILE exists
wait_for() {
  local f=$1 limit=$2 i=0
  while [ ! -e "$f" ]; do
    sleep 0.02; i=$((i + 1))
    [ $i -lt $((limit * 50)) ] || return 1
  done
}

# rank_pids PID: the rdrop ranks among the descendants of PID (a background run_mpi is a
# subshell -> timeout -> mpirun -> ranks)
rank_pids() {
  local p
  for p in $(pgrep -P "$1" || true); do
    # a rank re-executed through /proc/self/exe (run.blas_core auto) is named "exe"
    case "$(cat /proc/$p/comm 2>/dev/null)" in rdrop|exe) echo "$p" ;; esac
    rank_pids "$p"
  done
}

# same_metrics A B: the deterministic fields of every metrics row are equal
same_metrics() {
  $PY - "$1" "$2" <<'PYEOF'
import json, sys
def rows(p):
    out = []
    for line in open(p):
        if line.strip():
            r = json.loads(line)
            # wall-clock fields and the BLAS provenance (first train row of each process) vary
            out.append({k: v for k, v in r.items()
                        if not (k.endswith("_s") or k.endswith("_per_s") or k.startswith("blas_"))})
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
if a != b:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"row {i}: {x} vs {y}"); break
    print(f"metrics differ ({len(a)} vs {len(b)} rows)"); sys.exit(1)
print(f"metrics: {len(a)} rows, deterministic fields identical")
PYEOF
}

# A tiny image set (12x12x1 IDX files) in $TMP/img and the CNN config that reads it
# (configs/tiny_cnn.yaml): CNN=(config + --set data.*=...) for the conv tests.
make_cnn_data() {
  $PY "$SRC/tests/tools/make_tiny_idx.py" "$TMP/img" > /dev/null || fail "cannot make the tiny image set"
  CNN=("$SRC/configs/tiny_cnn.yaml" --set "data.train_images=$TMP/img/train-images-idx3-ubyte.gz"
       --set "data.train_labels=$TMP/img/train-labels-idx1-ubyte.gz"
       --set "data.test_images=$TMP/img/test-images-idx3-ubyte.gz"
       --set "data.test_labels=$TMP/img/test-labels-idx1-ubyte.gz")
}

# kill_one_rank MPIRUN_PID DIR AT FINAL: once DIR/AT exists, SIGKILL one rank of the background
# mpirun MPIRUN_PID (a run_mpi started with &); mpirun must then fail and DIR/FINAL (the run's
# last checkpoint) must not exist yet. Sets LAST to the newest checkpoint left in DIR.
kill_one_rank() {
  local mp=$1 dir=$2 at=$3 final=$4 pids victim rc
  wait_for "$dir/$at" 120 || fail "the run wrote no $at"
  pids=$(rank_pids "$mp" || true)
  [ -n "$pids" ] || fail "no rank processes found under mpirun $mp"
  victim=$(echo "$pids" | tail -n 1)
  kill -9 "$victim"
  set +e; wait "$mp"; rc=$?; set -e
  echo "killed rank pid $victim with SIGKILL; mpirun exited $rc"
  [ "$rc" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
  [ ! -e "$dir/$final" ] || fail "the run finished before the kill: inconclusive"
  LAST=$(ls "$dir"/ckpt-*.h5 | tail -n 1)
  echo "last checkpoint before the kill: $LAST"
}
