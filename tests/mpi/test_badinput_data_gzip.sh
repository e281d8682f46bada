#!/usr/bin/env bash
# labels: badinput
# Corrupt gzip: damaged deflate data and a wrong CRC-32 trailer (zlib checks it only at the
# end: rdrop reads once more past the announced bytes) are exit 3 with "PATH: data.KEY:
# corrupt gzip data: <zlib's reason>". Run folder untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

setup_idx_case   # sets d (IDX files), cfg (their config), run (a run with checkpoints)
cp "$d/train-images.gz" "$TMP/keep.gz"
size=$(stat -c %s "$TMP/keep.gz")
# bytes in the middle of the deflate stream overwritten
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$d/train-images.gz" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_error 3 "train-images\.gz: data\.train_images: (corrupt gzip data: |truncated)" -- "$RDROP" train "$cfg" --out "$run"
grep -q "corrupt gzip data" "$TMP/err" || echo "note: this damage read as truncation"
# the CRC-32 trailer (bytes -8..-5) flipped: the data decompress fine, the check fails at the end
cp "$TMP/keep.gz" "$d/train-images.gz"
printf '\x00\x00\x00\x00' | dd of="$d/train-images.gz" bs=1 seek=$((size - 8)) conv=notrunc status=none
expect_error 3 "train-images\.gz: data\.train_images: corrupt gzip data: incorrect data check" -- \
  "$RDROP" train "$cfg" --out "$run"
# a gzip header followed by a deflate block of the reserved type 3
cp "$TMP/keep.gz" "$d/train-images.gz"
printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07not deflate data' > "$d/test-labels.gz"
expect_error 3 "test-labels\.gz: data\.test_labels: corrupt gzip data: invalid block type" -- "$RDROP" train "$cfg" --out "$run"
assert_intact "$run" "$TMP/snap"
pass "corrupt gzip: exit 3, one line naming the path, the key and zlib's reason"
