#!/usr/bin/env bash
# labels: mpi;sweep
# launch/sweep.sh runs a grid (alpha x seeds) with mpirun, each run in its own folder; a rerun
# skips finished runs and resumes an interrupted one; results.csv/results.md hold best
# validation accuracy, test accuracy at the best validation step, and mean ± std over seeds.
# launch/plot.sh turns metrics.jsonl of several runs into one PNG.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export RDROP
out=$TMP/sweep
bash launch/sweep.sh configs/sweeps/tiny_alpha.yaml --out "$out" > "$TMP/log1" 2>&1 || { rc=$?; cat "$TMP/log1"; fail "sweep exited $rc"; }
cat "$TMP/log1"
[ "$(grep -c starting "$TMP/log1")" -eq 4 ] || fail "expected 4 runs started"
[ "$(wc -l < "$out/results.csv")" -eq 5 ] || fail "results.csv should have a header and 4 rows"
grep -q "^| 0 | 2 | 0\.[0-9]* ± 0\.[0-9]* |" "$out/results.md" || fail "no mean ± std row for alpha 0"
grep -q "^| 1 | 2 | " "$out/results.md" || fail "no row for alpha 1"
# model selection uses validation only: test_at_best is the test row at the best val step
$PY - "$out/results.csv" "$out" <<'PYEOF' || fail "results.csv does not match the runs' metrics"
import csv, json, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    m = [json.loads(l) for l in open(os.path.join(sys.argv[2], r["run"], "metrics.jsonl"))]
    val = [x for x in m if x["kind"] == "eval" and x["split"] == "val"]
    best = max(val, key=lambda x: (x["acc"], -x["step"]))
    test = [x for x in m if x["kind"] == "eval" and x["split"] == "test" and x["step"] == best["step"]][0]
    assert abs(float(r["best_val_acc"]) - best["acc"]) < 1e-12, r
    assert abs(float(r["test_at_best"]) - test["acc"]) < 1e-12, r
    assert os.path.exists(os.path.join(sys.argv[2], r["run"], "best.h5")), r
print("results.csv agrees with every run's metrics; best.h5 kept")
PYEOF
# interrupt one run: drop its end and mark it stopped, as a killed job would leave it
victim="$out/rdrop.alpha=1,run.seed=2"
newest=$(ls "$victim"/ckpt-*.h5 | tail -n 1)
previous=$(ls "$victim"/ckpt-*.h5 | tail -n 2 | head -n 1)
rm "$newest"
echo '{"status":"stopped"}' > "$victim/status.json"
# the report keeps an unfinished run out of its grid point's mean
bash launch/sweep.sh configs/sweeps/tiny_alpha.yaml --out "$out" --report-only > "$TMP/log_r" 2>&1 || { rc=$?; cat "$TMP/log_r"; fail "--report-only exited $rc"; }
grep -q "^| 1 | 1 (+1 unfinished) | 0\.[0-9]* |" "$out/results.md" || { cat "$out/results.md"; fail "the unfinished run was not set apart"; }
tr -d '\r' < "$out/results.csv" | grep -q ',stopped$' || fail "results.csv has no status column"
bash launch/sweep.sh configs/sweeps/tiny_alpha.yaml --out "$out" > "$TMP/log2" 2>&1 || { rc=$?; cat "$TMP/log2"; fail "second sweep exited $rc"; }
[ "$(grep -c "finished, skipped" "$TMP/log2")" -eq 3 ] || { cat "$TMP/log2"; fail "finished runs were not skipped"; }
grep -q "rdrop.alpha=1,run.seed=2: resuming" "$TMP/log2" || fail "the interrupted run was not resumed"
grep -q "resuming from $previous" "$victim/sweep.log" || fail "the interrupted run did not continue from its checkpoint"
if command -v gnuplot > /dev/null; then
  bash launch/plot.sh -o "$TMP/curves.png" "$out/rdrop.alpha=0,run.seed=1" "$out/rdrop.alpha=1,run.seed=1" || fail "plot failed"
  [ "$(head -c 4 "$TMP/curves.png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "not a PNG"
else
  echo "gnuplot missing: plot not checked"
fi
# legend labels: the parts of sweep folder names that differ between the runs (variant= dropped)
/usr/bin/python3 - "$SRC/launch" <<'PYEOF' || fail "plot's short labels"
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("plot", os.path.join(sys.argv[1], "plot.py"))
pl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pl)
got = pl.short_labels(["o/variant=a1,optimizer.lr=0.05,run.seed=1", "o/variant=dropout,optimizer.lr=0.05,run.seed=1/"])
assert got == (["a1", "dropout"], "optimizer.lr=0.05,run.seed=1"), got
got = pl.short_labels(["o/rdrop.alpha=0,run.seed=1", "o/rdrop.alpha=1,run.seed=2"])
assert got == (["rdrop.alpha=0,run.seed=1", "rdrop.alpha=1,run.seed=2"], ""), got
got = pl.short_labels(["x/run", "y/run"])          # alike after shortening: full names kept
assert got == (["run", "run"], ""), got
assert pl.short_labels(["runs/one"]) == (["one"], "")
PYEOF
pass "sweep (grid, skip, resume, mean ± std) and plot"
