#!/usr/bin/env bash
# labels: mpi
# run.timeline (docs/scale.md): a 2-rank run writes one Chrome trace JSON with both ranks;
# /usr/bin/python3 parses it and checks, for every rank and each of the first N steps, that
# the step's events nest inside its "step" event, steps are ordered and do not overlap, the
# per-layer forward events run in layer order inside "forward" and the backward ones in
# reverse order inside "backward", loss between them, every bucket's allreduce starts after
# the loss and is seen complete by the end of "wait", and wait < check < update. Once with
# training.accumulate 2 (two forward/backward passes per step, inside their micro-batch
# events), once without MPI.
source "$(dirname "$0")/lib.sh"

common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=1 --set training.max_steps=20 --set run.timeline_steps=4)
check() {   # check FILE RANKS MICRO
  $PY - "$@" <<'PYEOF'
import json, sys
path, ranks, micro = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
doc = json.load(open(path))
ev = [e for e in doc["traceEvents"] if e["ph"] == "X"]
eps = 0.002   # microseconds: timestamps are printed with 3 decimals
def inside(e, o):
    return e["ts"] >= o["ts"] - eps and e["ts"] + e["dur"] <= o["ts"] + o["dur"] + eps
def before(a, b):
    return a["ts"] + a["dur"] <= b["ts"] + eps
assert {e["pid"] for e in ev} == set(range(ranks)), "ranks in the trace"
for pid in range(ranks):
    mine = [e for e in ev if e["pid"] == pid]
    steps = sorted((e for e in mine if e["name"].startswith("step ")), key=lambda e: e["ts"])
    assert [e["args"]["step"] for e in steps] == [0, 1, 2, 3], [e["name"] for e in steps]
    for a, b in zip(steps, steps[1:]):
        assert before(a, b), ("steps overlap", a, b)
    for st in steps:
        s = st["args"]["step"]
        E = [e for e in mine if e["args"]["step"] == s and e is not st]
        for e in E:
            assert inside(e, st), ("outside its step", e, st)
        one = lambda n: [e for e in E if e["name"] == n]
        fwd, bwd, loss = one("forward"), one("backward"), one("loss")
        assert len(fwd) == len(bwd) == len(loss) == micro, (len(fwd), len(bwd), micro)
        micros = sorted((e for e in E if e["name"].startswith("micro-batch")), key=lambda e: e["ts"])
        assert len(micros) == (micro if micro > 1 else 0)
        for j in range(micro):
            F = [e for e in E if e["name"].startswith("forward ") and inside(e, fwd[j])]
            B = [e for e in E if e["name"].startswith("backward ") and inside(e, bwd[j])]
            assert F and B, "per-layer events"
            fl = [e["args"]["index"] for e in sorted(F, key=lambda e: e["ts"])]
            bl = [e["args"]["index"] for e in sorted(B, key=lambda e: e["ts"])]
            assert fl == sorted(fl) and bl == sorted(bl, reverse=True), (fl, bl)
            assert before(fwd[j], loss[j]) and before(loss[j], bwd[j])
            for a, b in zip(sorted(F, key=lambda e: e["ts"]), sorted(F, key=lambda e: e["ts"])[1:]):
                assert before(a, b)
            if micro > 1:
                assert inside(fwd[j], micros[j]) and inside(bwd[j], micros[j])
        wait, check, upd = one("wait"), one("check"), one("update")
        assert len(wait) == len(check) == len(upd) == 1
        assert before(bwd[-1], wait[0]) and before(wait[0], check[0]) and before(check[0], upd[0])
        buckets = [e for e in E if e["name"].startswith("allreduce ")]
        if ranks > 1:
            assert len(buckets) >= 3 and all(e["tid"] == 1 for e in buckets), len(buckets)
            idx = sorted(e["args"]["index"] for e in buckets)
            assert idx == list(range(len(idx))), idx
            for b in buckets:
                assert b["ts"] >= loss[-1]["ts"] + loss[-1]["dur"] - eps, ("bucket before the loss", b)
                assert b["ts"] + b["dur"] <= wait[0]["ts"] + wait[0]["dur"] + eps, ("bucket after wait", b)
        else:
            assert not buckets
print(f"{path}: {len(ev)} events, {ranks} ranks x 4 steps nest and are ordered")
PYEOF
}
run_mpi 2 train "$TINY" --out "$TMP/a" "${common[@]}" --set run.timeline="$TMP/a.json" > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "2-rank timeline run exited $?"; }
grep -q "timeline of 4 steps on 2 ranks: $TMP/a.json" "$TMP/log" || { cat "$TMP/log"; fail "no timeline notice"; }
check "$TMP/a.json" 2 1 || fail "2-rank trace"
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" --set run.timeline="$TMP/b.json" --set training.accumulate=2 > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "accumulate timeline run exited $?"; }
check "$TMP/b.json" 2 2 || fail "accumulate 2 trace"
"$RDROP" train "$TINY" --out "$TMP/c" "${common[@]}" --set run.timeline="$TMP/c.json" > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "1-process timeline run exited $?"; }
check "$TMP/c.json" 1 1 || fail "1-process trace"
# a CNN's per-layer events carry the layer kinds (configs/tiny_cnn.yaml: dropout, conv2d,
# max_pool, dropout, conv2d, dense, dropout, dense; a dropout after a conv2d/dense is fused)
make_cnn_data
"$RDROP" train "${CNN[@]}" --out "$TMP/e" --set training.epochs=1 --set training.max_steps=6 \
  --set run.timeline_steps=4 --set run.timeline="$TMP/e.json" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "CNN timeline run exited $?"; }
check "$TMP/e.json" 1 1 || fail "CNN trace"
$PY - "$TMP/e.json" <<'PYEOF' || fail "CNN trace layer names"
import json, sys
names = {e["name"] for e in json.load(open(sys.argv[1]))["traceEvents"] if e["ph"] == "X"}
want = {"forward dropout_0", "forward conv2d_1", "forward max_pool_2", "forward conv2d_4", "forward dense_5",
        "forward dense_7", "backward dense_7", "backward conv2d_4", "backward max_pool_2", "backward conv2d_1"}
assert want <= names, sorted(want - names)
assert not any(n.endswith(("dropout_1", "dropout_2", "dropout_4")) for n in names), sorted(names)
PYEOF
# an unwritable file is a warning, the training finishes
run_mpi 2 train "$TINY" --out "$TMP/d" "${common[@]}" --set run.timeline="$TMP/no/such/dir/t.json" > "$TMP/log" 2>&1 \
  || { cat "$TMP/log"; fail "unwritable timeline made the run fail"; }
grep -q "t.json: run.timeline: cannot write: No such file or directory" "$TMP/log" || { cat "$TMP/log"; fail "no warning for an unwritable timeline"; }
pass "run.timeline: merged Chrome trace, events of each step nest and are ordered (2 ranks, accumulate 2, 1 process, a CNN with its layer kinds)"
