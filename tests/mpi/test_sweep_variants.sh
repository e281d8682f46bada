#!/usr/bin/env bash
# labels: mpi;sweep
# launch/sweep.sh with named variants (override sets crossed with the grid) and --jobs 2: every
# variant x seed runs in its own folder with its own overrides, two runs at a time, and the
# table groups the seeds of each variant (mean ± std, seconds per epoch).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export RDROP
out=$TMP/sweep
bash launch/sweep.sh configs/sweeps/tiny_variants.yaml --out "$out" > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "sweep exited $rc"; }
cat "$TMP/log"
[ "$(grep -c ": starting" "$TMP/log")" -eq 6 ] || fail "expected 6 runs started"
# two at a time: the second run starts before the first one ends
awk '/: starting/ { s++ } / finished$/ { print s; exit }' "$TMP/log" | grep -qx 2 \
  || fail "--jobs 2 did not start two runs before the first finished"
for v in rdrop dropout none; do
  for s in 1 2; do
    d="$out/variant=$v,run.seed=$s"
    [ -f "$d/config.yaml" ] || fail "$d: no resolved config"
    [ "$(cat "$d/status.json" | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = finished ] \
      || fail "$d did not finish"
  done
done
$PY - "$out" <<'PYEOF' || fail "a variant's overrides did not reach its runs"
import os, sys, yaml
out = sys.argv[1]
want = {"rdrop": (2, 0.1, 0.5), "dropout": (1, 0.1, 0.5), "none": (1, 0.0, 0.0)}
for v, (passes, r0, r2) in want.items():
    for s in (1, 2):
        c = yaml.safe_load(open(os.path.join(out, f"variant={v},run.seed={s}", "config.yaml")))
        got = (c["rdrop"]["passes"], c["model"]["layers"][0]["rate"], c["model"]["layers"][2]["rate"])
        assert got == (passes, r0, r2) and c["run"]["seed"] == s, (v, s, got)
print("every run got its variant's overrides")
PYEOF
for v in rdrop dropout none; do
  grep -q "^| $v | 2 | 0\.[0-9]* ± 0\.[0-9]* | 0\.[0-9]* ± 0\.[0-9]* | .* | [0-9.]* | .* |$" "$out/results.md" \
    || { cat "$out/results.md"; fail "no mean ± std row with seconds per epoch for $v"; }
done
# baseline: dropout: every other variant's paired difference, recomputed here from results.csv
grep -q "^| dropout | .* | (baseline) | (baseline) |$" "$out/results.md" || fail "the baseline row is not marked"
$PY - "$out" <<'PYEOF' || fail "paired differences in results.md do not match results.csv"
import csv, os, re, statistics, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
md = open(os.path.join(out, "results.md")).read()
cell = r"([+-][0-9.]+) ± ([0-9.]+) \(([0-9]) of 2 ahead\)"
for v in ("rdrop", "none"):
    line = next(l for l in md.splitlines() if l.startswith(f"| {v} |"))
    m = re.search(r"\| " + cell + r" \| " + cell + r" \|$", line)
    assert m, line
    for i, col in enumerate(("best_val_acc", "test_at_best")):
        acc = {(r["variant"], r["run.seed"]): float(r[col]) for r in rows}
        d = [100 * (acc[(v, s)] - acc[("dropout", s)]) for s in ("1", "2")]
        assert abs(float(m.group(3 * i + 1)) - statistics.mean(d)) < 0.006, (line, col, d)
        assert abs(float(m.group(3 * i + 2)) - statistics.stdev(d)) < 0.006, (line, col, d)
        assert int(m.group(3 * i + 3)) == sum(x > 0 for x in d), (line, col, d)
# the compute line: the finished runs and the sum of their wall times
done = [r for r in rows if r["status"] == "finished"]
m = re.search(r"^Compute: ([0-9]+) finished runs, ([0-9.]+) run-hours \(the sum of their wall times\)\.$", md, re.M)
assert m and int(m.group(1)) == len(done) == 6, (md, len(done))
assert abs(float(m.group(2)) - sum(float(r["wall_s"]) for r in done) / 3600) < 0.006, md
print("paired differences and compute check out")
PYEOF
# --baseline A,B: one pair of paired columns per baseline (a verdict that must beat both controls)
bash launch/sweep.sh configs/sweeps/tiny_variants.yaml --out "$out" --report-only --baseline dropout,rdrop \
    > "$TMP/log_b" 2>&1 || { cat "$TMP/log_b"; fail "--baseline dropout,rdrop exited non-zero"; }
$PY - "$out" <<'PYEOF' || fail "the second baseline's paired differences do not match results.csv"
import csv, os, re, statistics, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
md = open(os.path.join(out, "results.md")).read()
assert "| val vs dropout, paired (points) | test vs dropout, paired (points) | val vs rdrop, paired (points) | test vs rdrop, paired (points) |" in md, md
cell = r"([+-][0-9.]+) ± ([0-9.]+) \(([0-9]) of 2 ahead\)"
line = next(l for l in md.splitlines() if l.startswith("| none |"))
m = re.search(r"\| " + " \\| ".join([cell] * 4) + r" \|$", line)
assert m, line
for i, (base, col) in enumerate([("dropout", "best_val_acc"), ("dropout", "test_at_best"),
                                 ("rdrop", "best_val_acc"), ("rdrop", "test_at_best")]):
    acc = {(r["variant"], r["run.seed"]): float(r[col]) for r in rows}
    d = [100 * (acc[("none", s)] - acc[(base, s)]) for s in ("1", "2")]
    assert abs(float(m.group(3 * i + 1)) - statistics.mean(d)) < 0.006, (line, base, col, d)
    assert int(m.group(3 * i + 3)) == sum(x > 0 for x in d), (line, base, col, d)
assert re.search(r"^\| rdrop \|.*\| \(baseline\) \| \(baseline\) \|$", md, re.M), md
print("two baselines check out")
PYEOF
# --variants A,B: only those, in that order (and a baseline left out is not reported against)
bash launch/sweep.sh configs/sweeps/tiny_variants.yaml --out "$out" --report-only --variants none,rdrop \
    > "$TMP/log_v" 2>&1 || { cat "$TMP/log_v"; fail "--variants none,rdrop exited non-zero"; }
[ "$(grep -o '^\[[0-9]*/[0-9]*\] variant=[a-z]*,run.seed=[0-9]' "$TMP/log_v" | tr '\n' ' ')" = \
  "[1/4] variant=none,run.seed=1 [2/4] variant=none,run.seed=2 [3/4] variant=rdrop,run.seed=1 [4/4] variant=rdrop,run.seed=2 " ] \
    || { cat "$TMP/log_v"; fail "--variants none,rdrop did not list exactly those runs in that order"; }
grep -q "vs dropout" "$out/results.md" && fail "--variants without dropout still reports against it"
[ "$(grep -c '^| \(none\|rdrop\) |' "$out/results.md")" = 2 ] || { cat "$out/results.md"; fail "--variants: the report has other rows"; }
bash launch/sweep.sh configs/sweeps/tiny_variants.yaml --out "$out" --report-only --variants nosuch \
    > "$TMP/log_nv" 2>&1 && fail "--variants nosuch was accepted"
grep -q "^sweep: --variants nosuch: not among the variants" "$TMP/log_nv" || { cat "$TMP/log_nv"; fail "--variants nosuch: no clear error"; }
bash launch/sweep.sh configs/sweeps/tiny_variants.yaml --out "$out" --report-only --baseline nosuch \
    > "$TMP/log_nb" 2>&1 && fail "--baseline nosuch was accepted"
grep -q "^sweep: --baseline nosuch: not among the variants" "$TMP/log_nb" || { cat "$TMP/log_nb"; fail "--baseline nosuch: no clear error"; }
# a bad key in one variant stops the sweep before any run starts, naming the run and the key
cat > "$TMP/bad.yaml" <<EOF
config: configs/tiny_synthetic.yaml
ranks: 1
jobs: 2
variants:
  good: {rdrop.alpha: 1}
  bad: {rdrop.alpah: 1}
grid:
  run.seed: [1, 2]
EOF
rc=0; bash launch/sweep.sh "$TMP/bad.yaml" --out "$TMP/bad" > "$TMP/log_bad" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { cat "$TMP/log_bad"; fail "a bad variant key: exit $rc, expected 2"; }
grep -qx "sweep: variant=bad,run.seed=1: --set rdrop.alpah=1: unknown key; did you mean 'alpha'? (no run was started)" \
    "$TMP/log_bad" || { cat "$TMP/log_bad"; fail "a bad variant key: no one-line error naming the run"; }
[ -z "$(ls "$TMP/bad")" ] || fail "a run folder was created before the configs were checked: $(ls "$TMP/bad")"
# a sweep without a validation split pairs the final test accuracies instead
mkdir -p "$TMP/noval"
$PY - "$SRC/launch" "$TMP/noval" <<'PYEOF' > "$TMP/noval.log" || { cat "$TMP/noval.log"; fail "no-validation report"; }
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("sweep", os.path.join(sys.argv[1], "sweep.py"))
sw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sw)
acc = {("dropout", 1): 0.9034, ("dropout", 2): 0.8994, ("rdrop", 1): 0.8997, ("rdrop", 2): 0.9010}
results = [{"run": f"variant={v},run.seed={s}", "variant": v, "run.seed": s, "best_val_acc": None,
            "best_step": None, "test_at_best": None, "final_test_acc": a, "epochs": 5, "wall_s": 10.0,
            "status": "finished"} for (v, s), a in acc.items()]
sw.write_reports(sys.argv[2], ["variant", "run.seed"], results, "dropout")
md = open(os.path.join(sys.argv[2], "results.md")).read()
assert "| final test vs dropout, paired (points) |" in md and "val vs dropout" not in md, md
row = next(l for l in md.splitlines() if l.startswith("| rdrop |"))
assert row.endswith("| -0.10 ± 0.37 (1 of 2 ahead) |"), row   # -0.37 and +0.16 points
print(md)
PYEOF
pass "sweep variants x seeds, two jobs at a time; without validation the final test accuracies are paired"
