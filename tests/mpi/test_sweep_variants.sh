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
print("paired differences check out")
PYEOF
pass "sweep variants x seeds, two jobs at a time"
