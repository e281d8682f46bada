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
