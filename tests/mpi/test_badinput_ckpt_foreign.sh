#!/usr/bin/env bash
# labels: badinput
# Foreign checkpoints: an HDF5 file that rdrop did not write, a text file, an empty file, a
# checkpoint of a newer format version, and a folder: exit 4 with one line naming the file,
# before libhdf5 parses anything. The run folder is untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
res=(train "$TINY" --out "$run" --set training.max_steps=20)
$PY -c "import h5py, numpy; f = h5py.File('$TMP/keras.h5', 'w'); f['model_weights/dense/kernel'] = numpy.ones((3, 2)); f.attrs['step'] = 60"
expect_error 4 "keras\.h5: not an rdrop checkpoint \(no RDROPCK1 user block\)" -- "$RDROP" "${res[@]}" --resume "$TMP/keras.h5"
expect_error 4 "keras\.h5: not an rdrop checkpoint" -- "$RDROP" eval --checkpoint "$TMP/keras.h5"
expect_error 4 "keras\.h5: not an rdrop checkpoint" -- "$RDROP" inspect "$TMP/keras.h5"
echo "hello" > "$TMP/text.h5"
expect_error 4 "text\.h5: not an rdrop checkpoint" -- "$RDROP" "${res[@]}" --resume "$TMP/text.h5"
: > "$TMP/empty.h5"
expect_error 4 "empty\.h5: not an rdrop checkpoint" -- "$RDROP" inspect "$TMP/empty.h5"
# a checkpoint from a future rdrop (format version 3 in the user block; 2 = with conv2d layers)
cp "$run/ckpt-000000010.h5" "$TMP/v3.h5"
printf '\x03' | dd of="$TMP/v3.h5" bs=1 seek=8 conv=notrunc status=none
expect_error 4 "v3\.h5: unsupported checkpoint format version 3 \(this rdrop reads versions 1 and 2\)" -- \
  "$RDROP" "${res[@]}" --resume "$TMP/v3.h5"
# the run folder itself given as the checkpoint
expect_error 4 "run: not a regular file" -- "$RDROP" inspect "$run"
# a foreign file under a checkpoint name: --resume auto skips it and continues from step 10
cp -a "$run" "$TMP/auto"
cp "$TMP/keras.h5" "$TMP/auto/ckpt-000000015.h5"
timeout -k 5 60 "$RDROP" train "$TINY" --out "$TMP/auto" --set training.max_steps=20 --resume auto \
  > "$TMP/out" 2> "$TMP/err" || { rc=$?; cat "$TMP/err"; fail "resume auto exited $rc"; }
grep -q "skipped .*ckpt-000000015.h5: not an rdrop checkpoint" "$TMP/err" || { cat "$TMP/err"; fail "foreign file not reported"; }
grep -q "resuming from .*ckpt-000000010.h5" "$TMP/out" || fail "did not resume from step 10"
assert_intact "$run" "$TMP/snap"
pass "foreign checkpoints: exit 4, one line naming the file"
