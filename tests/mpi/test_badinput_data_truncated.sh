#!/usr/bin/env bash
# labels: badinput
# Truncated data files: an IDX file (plain or gzip'd) that ends before the bytes its header
# announces, or inside its header, is exit 3 with "PATH: data.KEY: truncated ..." (expected
# and actual byte counts); extra bytes after the data are refused too. Run folder untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

setup_idx_case   # sets d (IDX files), cfg (their config), run (a run with checkpoints)
cp "$d/train-images.gz" "$TMP/keep.gz"
# a gzip'd file cut in the middle of the compressed stream
head -c $(( $(stat -c %s "$d/train-images.gz") / 2 )) "$TMP/keep.gz" > "$d/train-images.gz"
expect_error 3 "train-images\.gz: data\.train_images: truncated: expected 16384 bytes of pixels, got [0-9]+" -- \
  "$RDROP" train "$cfg" --out "$run"
# a gzip'd file complete as gzip, but whose IDX body is short
cp "$TMP/keep.gz" "$d/train-images.gz"
gz_rewrite "$d/train-images.gz" "b[:-100]"
expect_error 3 "train-images\.gz: data\.train_images: truncated: expected 16384 bytes of pixels, got 16284" -- \
  "$RDROP" train "$cfg" --out "$run"
cp "$TMP/keep.gz" "$d/train-images.gz"
# a plain (uncompressed) label file cut inside its header and inside its body
gzip -dc "$d/test-labels.gz" > "$d/test-labels"
head -c 6 "$d/test-labels" > "$d/cut-header"
expect_error 3 "cut-header: data\.test_labels: truncated header \(got 6 of 8 bytes\)" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.test_labels=$d/cut-header"
head -c 40 "$d/test-labels" > "$d/cut-body"
expect_error 3 "cut-body: data\.test_labels: truncated: expected 64 bytes of labels, got 32" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.test_labels=$d/cut-body"
# an empty file
: > "$d/empty"
expect_error 3 "empty: data\.train_labels: truncated header \(got 0 of at least 4 bytes\)" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.train_labels=$d/empty"
# trailing bytes after the announced data
cp "$d/test-labels" "$d/long" && printf 'xyz' >> "$d/long"
expect_error 3 "long: data\.test_labels: 3 unexpected bytes after the data" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.test_labels=$d/long"
assert_intact "$run" "$TMP/snap"
pass "truncated data files: exit 3, one line with the path, the key and the byte counts"
