#!/usr/bin/env bash
# labels: badinput
# Architecture mismatch on resume: other layer widths, another layer list, another input
# width (data) and another activation are exit 4 with one line "FILE: architecture mismatch:
# ..." naming what differs; the model is checked before anything is loaded or written, so the
# run folder is untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
ck=$run/ckpt-000000010.h5
res=(train "$TINY" --out "$run" --set training.max_steps=20 --resume "$ck")
expect_error 4 "ckpt-000000010\.h5: architecture mismatch: the checkpoint has model\.layers .*\"units\":64.*, the config wants .*\"units\":32" -- \
  "$RDROP" "${res[@]}" --set model.layers.1.units=32
expect_error 4 "ckpt-000000010\.h5: architecture mismatch" -- \
  "$RDROP" "${res[@]}" --set 'model.layers=[{type: dense, units: 4}]'
expect_error 4 "ckpt-000000010\.h5: architecture mismatch: .*\"activation\":\"tanh\"" -- \
  "$RDROP" "${res[@]}" --set model.layers.1.activation=tanh
# same layer list, other input width (a data.* change, so it needs --allow-config-change, which
# warns on its own line): caught on the kernel's shape before anything is loaded
set +e
timeout -k 5 60 "$RDROP" "${res[@]}" --set data.synthetic.features=16 --allow-config-change > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
cat "$TMP/err"
[ $rc -eq 4 ] || fail "input width change: exit $rc, want 4"
[ "$(wc -l < "$TMP/err")" -eq 2 ] && grep -q "^rdrop: warning: data\.\* changed" "$TMP/err" || fail "want the warning and one error line"
tail -n 1 "$TMP/err" | grep -q "ckpt-000000010\.h5: architecture mismatch: dense_0/kernel is \[32 x 64\], the config wants \[16 x 64\]" \
  || fail "the kernel shape mismatch is not named"
# --resume auto in the folder: the same check
expect_error 4 "ckpt-000000010\.h5: architecture mismatch" -- \
  "$RDROP" train "$TINY" --out "$run" --set training.max_steps=20 --resume auto --set model.layers.1.units=32
assert_intact "$run" "$TMP/snap"
pass "architecture mismatch: exit 4, one line naming the checkpoint and what differs"
