#!/usr/bin/env bash
# labels: mpi;sweep
# launch/sweep.sh --keep DIR: a study that outlives its machine. Every finished run leaves its
# records (config.yaml, status.json, metrics.jsonl; no checkpoint) in DIR; a sweep into a fresh
# OUT (another machine, another checkout) counts those runs as done, skips them and reports them
# as the first machine did, and runs only the rest. A record whose config differs from what the
# spec resolves to now is not used: that run is run again.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export RDROP
keep=$TMP/kept
# machine 1: two of the four grid points (alpha 0, both seeds)
cat > "$TMP/first.yaml" <<EOF
config: $SRC/configs/tiny_synthetic.yaml
ranks: 1
set: {data.validation: 256, training.epochs: 2}
grid: {rdrop.alpha: [0], run.seed: [1, 2]}
EOF
bash launch/sweep.sh "$TMP/first.yaml" --out "$TMP/m1" --keep "$keep" > "$TMP/log1" 2>&1 || { cat "$TMP/log1"; fail "first sweep exited"; }
for s in 1 2; do
  r="rdrop.alpha=0,run.seed=$s"
  for f in config.yaml status.json metrics.jsonl; do
    cmp -s "$TMP/m1/$r/$f" "$keep/$r/$f" || fail "$keep/$r/$f is not the run's $f"
  done
  ls "$keep/$r"/*.h5 > /dev/null 2>&1 && fail "checkpoints were kept in $keep/$r"
done
# machine 2: the whole grid, from a copy of the checkout elsewhere (other absolute paths), fresh OUT
mkdir -p "$TMP/co"
cp -r configs launch datasets "$TMP/co/" 2>/dev/null || true
sed "s#$SRC/configs#$TMP/co/configs#" "$TMP/first.yaml" | sed 's/rdrop.alpha: \[0\]/rdrop.alpha: [0, 1]/' > "$TMP/all.yaml"
grep -q "alpha: \[0, 1\]" "$TMP/all.yaml" || fail "test setup: grid not widened"
bash "$TMP/co/launch/sweep.sh" "$TMP/all.yaml" --out "$TMP/m2" --keep "$keep" > "$TMP/log2" 2>&1 || { cat "$TMP/log2"; fail "second sweep exited"; }
[ "$(grep -c "finished on another machine, records restored" "$TMP/log2")" -eq 2 ] || { cat "$TMP/log2"; fail "the kept runs were not restored"; }
[ "$(grep -c ": starting" "$TMP/log2")" -eq 2 ] || { cat "$TMP/log2"; fail "expected only the 2 alpha-1 runs to start"; }
grep -q "rdrop.alpha=0,run.seed=1: finished, skipped" "$TMP/log2" || fail "a kept run was not skipped"
[ -d "$keep/rdrop.alpha=1,run.seed=2" ] || fail "the new runs were not kept"
# the report on machine 2 has machine 1's figures for the kept runs
$PY - "$TMP/m1/results.csv" "$TMP/m2/results.csv" <<'PYEOF' || fail "the restored runs' figures differ"
import csv, sys
a = {r["run"]: r for r in csv.DictReader(open(sys.argv[1]))}
b = {r["run"]: r for r in csv.DictReader(open(sys.argv[2]))}
assert len(b) == 4 and all(r["status"] == "finished" for r in b.values()), b
for run, r in a.items():
    for col in ("best_val_acc", "test_at_best", "final_test_acc", "wall_s"):
        assert r[col] == b[run][col], (run, col, r[col], b[run][col])
print("machine 2 reports machine 1's kept runs as they were")
PYEOF
# a record of another config (here: another learning rate) is not used, and its run is run
r="rdrop.alpha=0,run.seed=1"
sed -i 's/^\(  lr: \).*/\10.123/' "$keep/$r/config.yaml"
grep -q "lr: 0.123" "$keep/$r/config.yaml" || fail "test setup: lr not changed"
bash launch/sweep.sh "$TMP/first.yaml" --out "$TMP/m3" --keep "$keep" > "$TMP/log3" 2>&1 || { cat "$TMP/log3"; fail "third sweep exited"; }
grep -q "$r: the finished record in .* is of another config ('  lr: 0.123' there" "$TMP/log3" || { cat "$TMP/log3"; fail "the stale record was not named"; }
grep -q "$r: starting" "$TMP/log3" || fail "the run with a stale record was not run"
grep -q "rdrop.alpha=0,run.seed=2: finished, skipped" "$TMP/log3" || fail "the good record was not used"
grep -q "lr: 0.123" "$keep/$r/config.yaml" && fail "the rerun did not replace the stale record"
pass "sweep --keep carries finished runs to a fresh machine and rejects a record of another config"
