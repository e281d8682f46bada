#!/usr/bin/env bash
# labels: mpi;resume
# R-Drop's strength features (docs/rdrop-strength.md): the probe KL is logged at every
# evaluation of a dropout run (plain dropout too) and changes no bit of the trajectory;
# rdrop.kl_reduction sum is the mean reduction with alpha * B_global at any number of ranks;
# rdrop.passes 3 with rdrop.alpha_rampup_epochs trains, is recorded and resumes bitwise.
source "$(dirname "$0")/lib.sh"

# 1. probe_kl in every test evaluation row of a plain-dropout run, > 0; none without dropout
run_mpi 2 train "$TINY" --out "$TMP/p1" --set rdrop.passes=1 > "$TMP/log1" 2>&1 || { cat "$TMP/log1"; fail "passes 1 run"; }
$PY - "$TMP/p1/metrics.jsonl" <<'PYEOF' || fail "probe_kl missing or not positive in a dropout run"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [r for r in rows if r["kind"] == "eval" and r["split"] == "test"]
assert len(ev) == 3 and all(r["probe_kl"] > 0 for r in ev), ev
PYEOF
grep -q "probe kl 0\.[0-9]" "$TMP/log1" || { cat "$TMP/log1"; fail "probe kl not on the progress line"; }
run_mpi 1 train "$TINY" --out "$TMP/nd" --set rdrop.passes=1 --set model.layers.0.rate=0 --set model.layers.2.rate=0 \
  > "$TMP/lognd" 2>&1 || { cat "$TMP/lognd"; fail "no-dropout run"; }
grep -q probe_kl "$TMP/nd/metrics.jsonl" && fail "probe_kl logged for a model without dropout"

# 2. the probe changes nothing: evaluating every epoch (3 probes) or only at the end gives the
#    same weights bit for bit, for plain dropout and R-Drop, both dropout streams
for args in "--set rdrop.passes=1" "--set rdrop.alpha=0.7 --set rng.dropout_stream=sample"; do
  run_mpi 2 train "$TINY" --out "$TMP/e1" $args --set training.eval_every_epochs=1 > "$TMP/loge1" 2>&1 || fail "eval every epoch"
  run_mpi 2 train "$TINY" --out "$TMP/e0" $args --set training.eval_every_epochs=0 > "$TMP/loge0" 2>&1 || fail "eval at end"
  [ "$(grep -c probe_kl "$TMP/e1/metrics.jsonl")" -eq 3 ] || fail "expected 3 probes"
  [ "$(grep -c probe_kl "$TMP/e0/metrics.jsonl")" -eq 1 ] || fail "expected 1 probe"
  $COMPARE "$TMP/e1/ckpt-000000096.h5" "$TMP/e0/ckpt-000000096.h5" > /dev/null || fail "the probe changed the trajectory ($args)"
  rm -rf "$TMP/e1" "$TMP/e0"
done

# 3. kl_reduction sum = mean with alpha * B_global (64): 0.0078125 * 64 = 0.5 exactly, 2 ranks
run_mpi 2 train "$TINY" --out "$TMP/km" --set rdrop.alpha=0.5 > /dev/null 2>&1 || fail "mean run"
run_mpi 2 train "$TINY" --out "$TMP/ks" --set rdrop.alpha=0.0078125 --set rdrop.kl_reduction=sum > "$TMP/logks" 2>&1 \
  || fail "sum run"
grep -q "kl_reduction sum: 0.5 in mean terms" "$TMP/logks" || { cat "$TMP/logks"; fail "settings line"; }
$COMPARE "$TMP/km/ckpt-000000096.h5" "$TMP/ks/ckpt-000000096.h5" > /dev/null || fail "kl_reduction sum != mean with alpha*B"
same_metrics "$TMP/km/metrics.jsonl" "$TMP/ks/metrics.jsonl" || fail "kl_reduction sum: metrics differ"

# 4. three passes with a ramp: recorded, resumed bitwise (stopped inside the ramp)
k3=(--set rdrop.passes=3 --set rdrop.alpha=2 --set rdrop.alpha_rampup_epochs=2 --set checkpoint.every_steps=10
    --set rng.dropout_stream=sample)
run_mpi 2 train "$TINY" --out "$TMP/ka" "${k3[@]}" > "$TMP/logka" 2>&1 || { cat "$TMP/logka"; fail "passes 3 run"; }
run_mpi 2 train "$TINY" --out "$TMP/kb" "${k3[@]}" --set training.max_steps=40 > /dev/null 2>&1 || fail "passes 3 part 1"
run_mpi 2 train "$TINY" --out "$TMP/kb" "${k3[@]}" --resume auto > "$TMP/logkb" 2>&1 || { cat "$TMP/logkb"; fail "passes 3 resume"; }
$COMPARE "$TMP/ka/ckpt-000000096.h5" "$TMP/kb/ckpt-000000096.h5" --groups model,optimizer --attrs > /dev/null \
  || fail "passes 3 with ramp-up: resumed run differs"
"$RDROP" inspect "$TMP/ka/ckpt-000000096.h5" > "$TMP/insp"
grep -q "passes: 3" "$TMP/insp" && grep -q "alpha_rampup_epochs: 2" "$TMP/insp" && grep -q "kl_reduction: mean" "$TMP/insp" \
  || { cat "$TMP/insp"; fail "inspect does not show passes/kl_reduction/alpha_rampup_epochs"; }
run_mpi 2 train "$TINY" --out "$TMP/k2" --set rdrop.passes=2 --set rdrop.alpha=2 > /dev/null 2>&1 || fail "passes 2 run"
$COMPARE "$TMP/ka/ckpt-000000096.h5" "$TMP/k2/ckpt-000000096.h5" --groups model > /dev/null 2>&1 \
  && fail "passes 3 gave the weights of passes 2"
pass "probe_kl logged and inert; kl_reduction sum = alpha*B_g; passes 3 + ramp-up recorded and resumed bitwise"
