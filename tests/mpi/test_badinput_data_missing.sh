#!/usr/bin/env bash
# labels: badinput
# Missing data files: each of the four data.* paths that does not exist (or is a folder, or
# not readable) is named with its config key, exit 3, one line; `rdrop config` says the same;
# the run folder given with --out is untouched (data are read before the folder is opened).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

make_idx "$TMP/d"
run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
cfg=$TMP/d/idx.yaml
for key in train_images train_labels test_images test_labels; do
  expect_error 3 "/nope/$key\.gz: data\.$key: cannot open: No such file or directory" -- \
    "$RDROP" train "$cfg" --out "$run" --set "data.$key=$TMP/nope/$key.gz"
done
expect_error 3 "/nope/test_labels\.gz: data\.test_labels: cannot read \(missing or not readable" -- \
  "$RDROP" config "$cfg" --set "data.test_labels=$TMP/nope/test_labels.gz"
# a folder where a file should be
expect_error 3 "$TMP/d: data\.train_images: " -- "$RDROP" train "$cfg" --out "$run" --set "data.train_images=$TMP/d"
# a relative path is resolved against the current directory and named absolute
(cd "$TMP" && expect_error 3 "^rdrop: $TMP/rel/x\.gz: data\.train_labels: cannot open" -- \
  "$RDROP" train "$cfg" --out "$run" --set data.train_labels=rel/x.gz)
# eval of a checkpoint whose data set has gone
run2=$TMP/run2
timeout 60 "$RDROP" train "$cfg" --out "$run2" --set training.max_steps=4 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "idx run"; }
mv "$TMP/d/test-images.gz" "$TMP/d/moved.gz"
expect_error 3 "test-images\.gz: data\.test_images: cannot open: No such file or directory" -- \
  "$RDROP" eval --checkpoint "$run2/ckpt-000000004.h5"
assert_intact "$run" "$TMP/snap"
pass "missing data files: exit 3, one line naming the path and its config key"
