#!/usr/bin/env bash
# labels: badinput
# Absurd sizes are refused from the header or the config alone, before any allocation: every
# run here is under `ulimit -v` 1 GiB, so an attempt to allocate what is asked for would end
# in an out-of-memory abort instead of the one-line error. IDX: 2^31 rows, 0 columns, a
# rows x cols product that overflows 32 bits, more than 2^33 bytes, a header announcing
# gigabytes in front of a short file, 2^31 labels. Config: dense layers of 2^20 x 2^20 units
# (2^40 parameters; the cap is 2^31), a synthetic set of 2^50 bytes, a batch of 2^40, and a
# first layer of 2^20 units on 64 x 64 images (only known to be too big once the data are read).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

make_idx "$TMP/d"
cfg=$TMP/d/idx.yaml
run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
# limited CMD...: CMD under a 1 GiB address-space limit
limited=(bash -c 'ulimit -v 1048576 && exec "$@"' limited)
# header FILE MAGIC DIMS...: an IDX header (big-endian) with 16 bytes of data after it
header() {
  local f=$1; shift
  $PY -c "import struct, sys; a = [int(x, 0) for x in sys.argv[1:]]; sys.stdout.buffer.write(struct.pack('>%dI' % len(a), *a) + bytes(16))" "$@" > "$f"
}
tr=(--set "data.train_images=$TMP/x")
header "$TMP/x" 0x803 $((1 << 31)) 28 28
expect_error 3 "x: data\.train_images: absurd header: 2147483648 images \(allowed 1\.\.268435456\)" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
header "$TMP/x" 0x803 100 28 0
expect_error 3 "x: data\.train_images: absurd header: images of 28 x 0 = 0 values \(allowed 1\.\.16777216\)" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
header "$TMP/x" 0x803 100 65536 65536
expect_error 3 "x: data\.train_images: absurd header: images of 65536 x 65536 = 4294967296 values" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
header "$TMP/x" 0x803 $((1 << 27)) 128 128
expect_error 3 "x: data\.train_images: absurd header: 134217728 images of 128 x 128 = 2199023255552 bytes \(limit 8589934592\)" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
header "$TMP/x" 0x802 0 784
expect_error 3 "x: data\.train_images: absurd header: 0 images" -- "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
# within the limits, but the file is short: read as it arrives, never allocated up front
header "$TMP/x" 0x803 10000000 28 28
expect_error 3 "x: data\.train_images: truncated: expected 7840000000 bytes of pixels, got 16" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" "${tr[@]}"
header "$TMP/y" 0x801 $((1 << 31))
expect_error 3 "y: data\.train_labels: 2147483648 labels but .*train-images\.gz has 256 images" -- \
  "${limited[@]}" "$RDROP" train "$cfg" --out "$run" --set "data.train_labels=$TMP/y"

# configs
expect_error 2 "model\.layers\.3\.units: the model would have [0-9]+ parameters up to this layer, more than the limit of 2147483648 \(2\^31\)" -- \
  "${limited[@]}" "$RDROP" train "$TINY" --out "$run" --set model.layers.1.units=1048576 --set 'model.layers.3={type: dense, units: 1048576}'
printf 'model:\n  layers:\n    - {type: dense, units: 1048576}\n    - {type: dense, units: 1048576}\n    - {type: dense, units: 4}\ndata: {format: synthetic}\n' > "$TMP/huge.yaml"
expect_error 2 "huge\.yaml:4:28: model\.layers\.1\.units: the model would have 1099547279360 parameters" -- \
  "${limited[@]}" "$RDROP" train "$TMP/huge.yaml" --out "$run"
expect_error 2 "data\.synthetic\.train: 1073741824 samples x 1048576 features = 1125899906842624 bytes, more than the limit of 8589934592" -- \
  "${limited[@]}" "$RDROP" train "$TINY" --out "$run" --set data.synthetic.train=1073741824 --set data.synthetic.features=1048576 \
  --set model.layers.1.units=16
expect_error 2 "data\.batch_size: must be at most 268435456 \(2\^28\), got 1099511627776" -- \
  "${limited[@]}" "$RDROP" train "$TINY" --out "$run" --set data.batch_size=1099511627776
expect_error 2 "--set data\.batch_size=99999999999999999999999: integer out of range" -- \
  "${limited[@]}" "$RDROP" train "$TINY" --out "$run" --set data.batch_size=99999999999999999999999
# 64 x 64 images: 4096 x 2^20 weights in the first layer; refused once the width is known
make_idx "$TMP/w" 64 16 64 64
expect_error 2 "train-images\.gz: model\.layers\.0\.units: with 4096 inputs per sample the model would have 4296015872 parameters" -- \
  "${limited[@]}" "$RDROP" train "$TMP/w/idx.yaml" --out "$run" --set model.layers.0.units=1048576
assert_intact "$run" "$TMP/snap"
pass "absurd sizes: refused before allocation with one line (exit 3 data, 2 config)"
