#!/usr/bin/env bash
# labels: badinput
# Labels out of range (IDX data sets have 10 classes: 0..9): exit 3, "PATH: data.KEY: label
# L at index I is out of range (0..9)"; also a label file whose count differs from its image
# file, and a file with the wrong magic. Run folder untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

setup_idx_case   # sets d (IDX files), cfg (their config), run (a run with checkpoints)
cp "$d/train-labels.gz" "$TMP/keep.gz"
gz_rewrite "$d/train-labels.gz" "b[:8+37] + bytes([10]) + b[8+38:]"
expect_error 3 "train-labels\.gz: data\.train_labels: label 10 at index 37 is out of range \(0\.\.9\)" -- \
  "$RDROP" train "$cfg" --out "$run"
cp "$TMP/keep.gz" "$d/train-labels.gz"
gz_rewrite "$d/test-labels.gz" "b[:-1] + bytes([255])"
expect_error 3 "test-labels\.gz: data\.test_labels: label 255 at index 63 is out of range \(0\.\.9\)" -- \
  "$RDROP" train "$cfg" --out "$run"
# the labels of another set (64 labels for 256 images)
expect_error 3 "test-labels\.gz: data\.train_labels: 64 labels but .*train-images\.gz has 256 images" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.train_labels=$d/test-labels.gz"
# images and labels swapped
expect_error 3 "train-labels\.gz: data\.train_images: not an IDX image file \(magic 0x00000801" -- \
  "$RDROP" train "$cfg" --out "$run" --set "data.train_images=$d/train-labels.gz" \
  --set "data.train_labels=$d/train-images.gz"
assert_intact "$run" "$TMP/snap"
pass "labels out of range and mismatched label files: exit 3, one line with path, key, label and index"
