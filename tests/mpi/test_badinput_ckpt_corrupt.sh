#!/usr/bin/env bash
# labels: badinput
# Corrupt checkpoints: bit flips (CRC-32 mismatch), truncation, trailing bytes and a damaged
# user block are found by the plain-C gate before libhdf5 sees the file: exit 4 with one line
# "FILE: corrupt|truncated|...", from train --resume FILE, eval and inspect. The run folder's
# good checkpoints are untouched, and --resume auto skips a corrupt newest one (saying why)
# and continues from the previous good one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
good=$run/ckpt-000000010.h5
size=$(stat -c %s "$good")
res=(train "$TINY" --out "$run" --set training.max_steps=20 --set checkpoint.every_steps=5 --set checkpoint.keep=5)

cp "$good" "$TMP/flipped.h5"
printf '\x5a' | dd of="$TMP/flipped.h5" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_error 4 "flipped\.h5: corrupt: CRC-32 mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)" -- \
  "$RDROP" "${res[@]}" --resume "$TMP/flipped.h5"
expect_error 4 "flipped\.h5: corrupt: CRC-32 mismatch" -- "$RDROP" eval --checkpoint "$TMP/flipped.h5"
expect_error 4 "flipped\.h5: corrupt: CRC-32 mismatch" -- "$RDROP" inspect "$TMP/flipped.h5"
# one bit in the last byte
cp "$good" "$TMP/lastbit.h5"
last=$(tail -c 1 "$good" | od -An -tu1 | tr -d ' ')
printf "\\x$(printf %02x $((last ^ 1)))" | dd of="$TMP/lastbit.h5" bs=1 seek=$((size - 1)) conv=notrunc status=none
expect_error 4 "lastbit\.h5: corrupt: CRC-32 mismatch" -- "$RDROP" "${res[@]}" --resume "$TMP/lastbit.h5"
head -c $((size - 1000)) "$good" > "$TMP/short.h5"
expect_error 4 "short\.h5: truncated: $((size - 1000)) bytes, the header says $size" -- \
  "$RDROP" "${res[@]}" --resume "$TMP/short.h5"
head -c 300 "$good" > "$TMP/tiny.h5"
expect_error 4 "tiny\.h5: truncated: 300 bytes, the header says $size" -- "$RDROP" inspect "$TMP/tiny.h5"
cp "$good" "$TMP/long.h5" && printf 'x' >> "$TMP/long.h5"
expect_error 4 "long\.h5: $((size + 1)) bytes, the header says $size \(trailing data\)" -- "$RDROP" inspect "$TMP/long.h5"
cp "$good" "$TMP/ub.h5"
printf 'XXXXXXXX' | dd of="$TMP/ub.h5" bs=1 seek=0 conv=notrunc status=none
expect_error 4 "ub\.h5: not an rdrop checkpoint \(no RDROPCK1 user block\)" -- "$RDROP" "${res[@]}" --resume "$TMP/ub.h5"
cp "$good" "$TMP/ub2.h5"
printf '\x01' | dd of="$TMP/ub2.h5" bs=1 seek=100 conv=notrunc status=none
expect_error 4 "ub2\.h5: corrupt: user block byte 100 is not zero" -- "$RDROP" inspect "$TMP/ub2.h5"
expect_error 4 "gone\.h5: cannot open checkpoint: No such file or directory" -- "$RDROP" "${res[@]}" --resume "$TMP/gone.h5"
assert_intact "$run" "$TMP/snap"

# --resume auto: the newest checkpoint is corrupt -> skipped with its reason, resume from 5
cp -a "$run" "$TMP/auto"
printf '\x5a' | dd of="$TMP/auto/ckpt-000000010.h5" bs=1 seek=$((size / 2)) conv=notrunc status=none
timeout -k 5 60 "$RDROP" train "$TINY" --out "$TMP/auto" --set training.max_steps=20 --set checkpoint.every_steps=5 \
  --set checkpoint.keep=5 --resume auto > "$TMP/out" 2> "$TMP/err" || { rc=$?; cat "$TMP/err"; fail "resume auto exited $rc"; }
cat "$TMP/err"
grep -q "skipped .*ckpt-000000010.h5: corrupt: CRC-32 mismatch" "$TMP/err" || fail "the corrupt checkpoint was not reported"
grep -q "resuming from .*ckpt-000000005.h5 (step 5" "$TMP/out" || fail "did not resume from step 5"
"$RDROP" inspect "$TMP/auto/ckpt-000000020.h5" > /dev/null || fail "no good checkpoint at step 20"
pass "corrupt checkpoints: exit 4, one line naming the file and the problem; resume auto falls back"
