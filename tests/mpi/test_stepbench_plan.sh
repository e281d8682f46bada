#!/usr/bin/env bash
# labels: build
# The benchmark helpers are built by CMake next to rdrop (BUILD/launch/) and stepbench times
# the trainer's own bucket plan (rd_step_buckets), which launch/model.py's overlap prediction
# and scale.sh's allreduce sizes are built on: edges descending from params + 8 control floats
# to 0, the first dense layer's kernel + bias in at least two buckets with an edge at its end
# (stepbench's old private plan cut equal buckets from the top and had neither), and
# allreduce_bench runs those sizes on 2 ranks.
source "$(dirname "$0")/lib.sh"
bin=$(dirname "$RDROP")/launch
[ -x "$bin/stepbench" ] && [ -x "$bin/allreduce_bench" ] || fail "BUILD/launch/stepbench or allreduce_bench not built by CMake"
"$bin/stepbench" "$TINY" --reps 2 > "$TMP/sb.json" 2> "$TMP/sb.err" || { rc=$?; cat "$TMP/sb.err"; fail "stepbench exited $rc"; }
sizes=$($PY - "$TMP/sb.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
b, n = d["buckets"], d["params"] + 8
first_end = 32 * 64 + 64          # tiny config: dense 32 -> 64, kernel + bias
assert b[0][1] == n and b[-1][0] == 0, b
assert all(x[0] == y[1] for x, y in zip(b, b[1:])), b
assert any(x[0] == first_end for x in b), f"no bucket edge at the first dense layer's end {first_end}: {b}"
assert sum(1 for x in b if x[1] <= first_end) >= 2, f"the first dense layer is not split: {b}"
print(" ".join(str(4 * (hi - lo)) for lo, hi, _ in b))
PYEOF
) || fail "stepbench's buckets are not the trainer's plan: $(cat "$TMP/sb.json")"
timeout -k 10 120 mpirun -np 2 --oversubscribe --bind-to none "$bin/allreduce_bench" --reps 3 $sizes > "$TMP/ar.json" 2>&1 || { rc=$?; cat "$TMP/ar.json"; fail "allreduce_bench exited $rc"; }
rows=$(grep -c '"ranks":2' "$TMP/ar.json" || true)
[ "$rows" -eq "$(wc -w <<< "$sizes")" ] || { cat "$TMP/ar.json"; fail "allreduce_bench: $rows rows for sizes $sizes"; }
pass "stepbench uses rd_step_buckets (sizes $sizes bytes); allreduce_bench times them on 2 ranks"
