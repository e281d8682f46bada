#!/usr/bin/env bash
# labels: badinput
# Bad config: YAML syntax, unknown key, wrong type, out-of-range value, a bad --set, a
# missing or unreadable config file. Each is exit 2 with one line "FILE:LINE:COL: key: what"
# (or "--set ARG: ..."), from `train` and from `config`, and the run folder given with --out
# (holding a finished run) is untouched: the config is refused before anything is opened.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
c=$TMP/bad.yaml

printf 'optimizer:\n  lr: [0.1\nrdrop: {alpha: 1}\n' > "$c"
expect_error 2 "bad.yaml:[0-9]+:[0-9]+: YAML syntax error" -- "$RDROP" train "$c" --out "$run"
printf 'optimizer:\n  lr: 0.1\n  momentun: 0.9\n' > "$c"
expect_error 2 "bad.yaml:3:3: optimizer.momentun: unknown key; did you mean 'momentum'\?" -- "$RDROP" train "$c" --out "$run"
printf 'optimiser:\n  lr: 0.1\n' > "$c"
expect_error 2 "bad.yaml:1:1: optimiser: unknown key" -- "$RDROP" train "$c" --out "$run"
printf 'training:\n  epochs: ten\n' > "$c"
expect_error 2 "bad.yaml:2:11: training.epochs: expected an integer, got 'ten'" -- "$RDROP" train "$c" --out "$run"
printf 'data:\n  shuffle: yes\n' > "$c"
expect_error 2 "bad.yaml:2:12: data.shuffle: expected true or false, got 'yes'" -- "$RDROP" train "$c" --out "$run"
printf 'model:\n  layers:\n    - {type: dropout, rate: 1.5}\n    - {type: dense, units: 10}\n' > "$c"
expect_error 2 "bad.yaml:3:29: model.layers.0.rate: must be in \[0, 1\), got 1.5" -- "$RDROP" train "$c" --out "$run"
printf 'optimizer: {lr: -0.1}\n' > "$c"
expect_error 2 "bad.yaml:1:17: optimizer.lr: must be > 0, got -0.1" -- "$RDROP" train "$c" --out "$run"
printf 'data: {format: idx}\n' > "$c"
expect_error 2 "bad.yaml:1:16: data.train_images: required when data.format is idx" -- "$RDROP" train "$c" --out "$run"
# --set errors name the argument
expect_error 2 "^rdrop: --set optimizer.lr=fast: expected a number, got 'fast'" -- \
  "$RDROP" train "$TINY" --out "$run" --set optimizer.lr=fast
expect_error 2 "^rdrop: --set model.layers.7.units=3: model.layers.7: index 7 is past the end" -- \
  "$RDROP" train "$TINY" --out "$run" --set model.layers.7.units=3
# a value with a newline stays one line (a fuzzing find)
expect_error 2 "^rdrop: --set run.out=\[a b: the value is not valid YAML" -- \
  "$RDROP" train "$TINY" --out "$run" --set "run.out=[a
b"
# the file itself
expect_error 2 "nothere.yaml: cannot read: No such file or directory" -- "$RDROP" train "$TMP/nothere.yaml" --out "$run"
printf '' > "$c"
expect_error 2 "bad.yaml: the config is empty" -- "$RDROP" train "$c" --out "$run"
# `rdrop config` reports the same
printf 'optimizer:\n  lr: 0.1\n  momentun: 0.9\n' > "$c"
expect_error 2 "bad.yaml:3:3: optimizer.momentun: unknown key" -- "$RDROP" config "$c"
# under mpirun every rank parses the config and the ranks agree: exit 2, one rdrop line
set +e
run_mpi 2 train "$c" --out "$run" > "$TMP/out2" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || { cat "$TMP/out2"; fail "2 ranks: exit $rc, want 2"; }
[ "$(grep -c '^rdrop: ' "$TMP/out2")" -eq 1 ] || { cat "$TMP/out2"; fail "2 ranks: want one rdrop line"; }
assert_intact "$run" "$TMP/snap"
pass "bad configs: exit 2, one line naming file:line:col and the key; run folder untouched"
