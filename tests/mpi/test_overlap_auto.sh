#!/usr/bin/env bash
# labels: mpi
# dist.overlap auto (the default, docs/scale.md) at 2 ranks: the trial times both settings
# after warm-up, prints both timings and the verdict, records them in the checkpoint's
# provenance (root attributes overlap_choice and overlap), and gives the same bits as overlap
# true and false (weights, momentum, every /train /data attribute). A resume decides again.
source "$(dirname "$0")/lib.sh"

common=(--set data.synthetic.features=128 --set model.layers.1.units=256 --set dist.bucket_mb=0.05
        --set training.epochs=10 --set training.max_steps=60 --set checkpoint.every_steps=30
        --set checkpoint.keep=10 --set training.log_every_steps=30)
for ov in auto true false; do
  run_mpi 2 train "$TINY" --out "$TMP/$ov" "${common[@]}" --set dist.overlap=$ov > "$TMP/log-$ov" 2>&1 \
    || { cat "$TMP/log-$ov"; fail "overlap $ov exited $?"; }
done
grep -q "overlap auto" "$TMP/log-auto" || fail "settings line does not say overlap auto"
line=$(grep "dist.overlap auto: on [0-9.]* ms, off [0-9.]* ms per step -> \(on\|off\)" "$TMP/log-auto") \
  || { cat "$TMP/log-auto"; fail "no auto verdict line with both timings"; }
echo "$line"
[ "$(grep -c "dist.overlap auto:" "$TMP/log-auto")" -eq 1 ] || fail "the verdict was printed more than once"
! grep -q "dist.overlap auto:" "$TMP/log-true" || fail "overlap true ran a trial"
for ov in true false; do
  $COMPARE "$TMP/auto/ckpt-000000060.h5" "$TMP/$ov/ckpt-000000060.h5" --groups model,optimizer,data,train --attrs > /dev/null \
    || fail "overlap auto and $ov give different bits"
done
$PY - "$TMP/auto/ckpt-000000060.h5" "$TMP/true/ckpt-000000060.h5" "$line" <<'PYEOF' || fail "provenance"
import sys, h5py
a, t, line = sys.argv[1:4]
with h5py.File(a) as f:
    choice = f.attrs["overlap_choice"]
    choice = choice.decode() if isinstance(choice, bytes) else choice
    verdict = choice.rsplit("-> ", 1)[1]
    assert choice in line, (choice, line)
    assert int(f.attrs["overlap"]) == (verdict == "on"), (choice, f.attrs["overlap"])
with h5py.File(t) as f:
    assert "overlap_choice" not in f.attrs and int(f.attrs["overlap"]) == 1
print("provenance:", choice)
PYEOF
# a resume decides again (its own trial after its own warm-up) and stays on the same bits
mkdir -p "$TMP/r"
cp "$TMP/auto/ckpt-000000030.h5" "$TMP/r/"
run_mpi 2 train "$TINY" --out "$TMP/r" "${common[@]}" --resume auto > "$TMP/log-r" 2>&1 || { cat "$TMP/log-r"; fail "resume exited $?"; }
grep -q "dist.overlap auto: on .* -> " "$TMP/log-r" || { cat "$TMP/log-r"; fail "the resumed run did not decide again"; }
$COMPARE "$TMP/auto/ckpt-000000060.h5" "$TMP/r/ckpt-000000060.h5" --groups model,optimizer,data,train --attrs > /dev/null \
  || fail "resumed auto run differs"
pass "dist.overlap auto: verdict with both timings, in the provenance, same bits as true and false, re-decided on resume"
