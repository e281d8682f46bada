#!/usr/bin/env bash
# labels: mpi
# JSON is written by a library (jansson), so odd paths stay valid JSON: a run folder whose name
# holds a double quote, a backslash and a newline, trained on 2 ranks; status.json, every
# metrics.jsonl row and `eval --json` on its checkpoint must parse with Python's json module and
# give the path back byte for byte. (With the old printf JSON, status.json had no path, and
# eval --json printed the quote and the newline raw: invalid JSON.) The resolved config.yaml
# (libyaml's emitter) must give the path back too, and `--resume auto` must accept the folder.
source "$(dirname "$0")/lib.sh"

out="$TMP/q\"uote\\back
line"
run_mpi 2 train "$TINY" --out "$out" --set training.epochs=2 > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "training exited $rc"; }
[ -d "$out" ] || fail "the run folder with the odd name was not created"
ck=$($PY -c 'import glob, sys; print(sorted(glob.glob(glob.escape(sys.argv[1]) + "/ckpt-*.h5"))[-1], end="")' "$out") \
  || fail "no checkpoint in the odd folder"
rc=0
"$RDROP" eval --checkpoint "$ck" --json > "$TMP/eval.json" 2> "$TMP/eval.err" || rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/eval.err"; fail "eval --json exited $rc"; }
$PY - "$out" "$ck" "$TMP/eval.json" <<'PYEOF' || fail "JSON or YAML output does not carry the odd path"
import json, sys, yaml
out, ck, ev = sys.argv[1:4]
status = json.load(open(out + "/status.json"))
assert status["status"] == "finished", status
assert status["run"] == out, (status["run"], out)
rows = [json.loads(l) for l in open(out + "/metrics.jsonl") if l.strip()]
assert rows and {r["kind"] for r in rows} == {"train", "eval"}, rows
e = json.load(open(ev))
assert e["checkpoint"] == ck, (e["checkpoint"], ck)
assert 0.0 <= e["accuracy"] <= 1.0 and e["samples"] == 512, e
cfg = yaml.safe_load(open(out + "/config.yaml"))
assert cfg["run"]["out"] == out, (cfg["run"]["out"], out)
print(f"status.json, {len(rows)} metrics rows, eval --json and config.yaml parse; path {out!r} intact")
PYEOF
run_mpi 2 train "$TINY" --out "$out" --set training.epochs=3 --resume auto > "$TMP/log2" 2>&1 || { rc=$?; cat "$TMP/log2"; fail "resume exited $rc"; }
grep -q "resuming from" "$TMP/log2" || { cat "$TMP/log2"; fail "the resume did not read the checkpoint"; }
$PY -c 'import json, sys; s = json.load(open(sys.argv[1] + "/status.json")); assert s["status"] == "finished" and s["epoch"] == 3, s' "$out" \
  || fail "status.json after the resume"
pass "a run folder named with \", \\ and a newline: status.json, metrics.jsonl, eval --json, config.yaml and resume all work"
