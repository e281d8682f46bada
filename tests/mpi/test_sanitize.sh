#!/usr/bin/env bash
# labels: sanitize
# ASan + UBSan (+ LeakSanitizer): configures and builds a separate tree with
# -DRDROP_SANITIZE=address,undefined (every report fatal: -fno-sanitize-recover=all), runs the
# whole unit suite in it (ctest -L unit, which includes the fuzz corpus replays), then the
# sanitized binary end to end: a 2-rank training run with validation, evaluation and
# checkpoints, a 2-rank resume, eval and inspect, and the error paths of the bad-input classes
# (each must exit with its own code: a leak would turn it into LSan's 23). No report may appear.
# Only Open MPI's own leaks are suppressed (tests/lsan-mpi.supp, commented).
# Build tree: $RDROP_SANITIZE_BUILD (default: sanitize-build/ next to the rdrop binary, kept
# between runs so a re-run only rebuilds what changed); compiler: $RDROP_SANITIZE_CC or cc.
source "$(dirname "$0")/lib.sh"

SB=${RDROP_SANITIZE_BUILD:-$(dirname "$RDROP")/sanitize-build}
cc=${RDROP_SANITIZE_CC:-cc}
t0=$(date +%s)
if [ ! -f "$SB/CMakeCache.txt" ]; then
  CC=$cc cmake -S "$SRC" -B "$SB" -DRDROP_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    > "$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; fail "configure"; }
fi
cmake --build "$SB" -j2 > "$TMP/build.log" 2>&1 || { tail -n 40 "$TMP/build.log"; fail "sanitizer build"; }
echo "sanitizer build ($("$SB/rdrop" version), $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$SB/CMakeCache.txt")) ready after $(( $(date +%s) - t0 ))s"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$SRC/tests/lsan-mpi.supp:fast_unwind_on_malloc=0:print_suppressions=0
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_string_checks=1
(cd "$SB" && ctest -L unit -j2 --output-on-failure > "$TMP/unit.log" 2>&1) || { cat "$TMP/unit.log"; fail "unit suite under ASan/UBSan"; }
grep -E "tests passed|Total Test time" "$TMP/unit.log"
# Negative control: the sanitized library reports a real out-of-bounds read in rdrop's code
# (tests/tools/canary_oob.c), so "no report" below is a verdict, not a blind spot.
rc=0
"$SB/tests/canary_oob" > /dev/null 2> "$TMP/canary.err" || rc=$?
[ $rc -ne 0 ] && grep -q "heap-buffer-overflow" "$TMP/canary.err" \
  || { cat "$TMP/canary.err"; fail "ASan missed the canary's out-of-bounds read (exit $rc)"; }
echo "negative control: ASan reports the canary's heap-buffer-overflow (exit $rc)"

# End to end: reports go to per-process files, which must not exist afterwards.
mkdir -p "$TMP/reports"
export ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$TMP/reports/asan
export UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$TMP/reports/ubsan
S=$SB/rdrop
# The error paths run as 1-rank jobs under mpirun, not as singletons: LeakSanitizer (gcc 12's and
# clang 14's) can die in a SINGLETON Open MPI process ("Tracer caught signal 11" while scanning a
# dynamic-TLS range that is not mapped), depending on the host (measured on the dev box: none at
# first, then every singleton run, with no change to the binary). rdrop's code after MPI_Init is
# the same either way; the one-line messages of singletons are tested by test_badinput_*.
ST=(mpirun -np 1 --oversubscribe --bind-to none "$S")
check_reports() {
  if [ -n "$(ls -A "$TMP/reports")" ]; then
    head -n 60 "$TMP"/reports/*
    fail "sanitizer report after: $*"
  fi
}
# expect CODE CMD...: exit code CODE, no report
expect() {
  local want=$1; shift
  set +e; timeout -k 10 300 "$@" > "$TMP/out" 2> "$TMP/err"; local rc=$?; set -e
  check_reports "$*"
  [ $rc -eq "$want" ] || { cat "$TMP/out" "$TMP/err"; fail "$*: exit $rc, want $want (23 = LeakSanitizer)"; }
  echo "ok (exit $rc): $(grep -m 1 '^rdrop: ' "$TMP/err" || true)"
}
run=$TMP/run
common=(--set training.epochs=2 --set training.max_steps=40 --set checkpoint.every_steps=10 --set training.log_every_steps=5)
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
expect 0 "${mpi[@]}" "$S" train "$TINY" --out "$TMP/val" "${common[@]}" --set data.validation=128 --set rng.dropout_stream=sample
expect 0 "${mpi[@]}" "$S" train "$TINY" --out "$run" "${common[@]}" --set training.max_steps=24
expect 0 "${mpi[@]}" "$S" train "$TINY" --out "$run" "${common[@]}" --resume auto
expect 0 "$S" eval --checkpoint "$run/ckpt-000000040.h5" --json
expect 0 "$S" inspect "$run/ckpt-000000040.h5"
expect 0 "$S" config "$TINY"
# error paths (singleton): each frees what it allocated before exiting with its code
printf 'optimizer:\n  lr: [0.1\n' > "$TMP/bad.yaml"
expect 2 "${ST[@]}" train "$TMP/bad.yaml" --out "$TMP/e"
expect 2 "${ST[@]}" train "$TINY" --out "$TMP/e" --set model.layers.1.units=1048576 --set 'model.layers.3={type: dense, units: 1048576}'
printf 'data: {format: idx, train_images: %s/nope, train_labels: x, test_images: x, test_labels: x}\n' "$TMP" > "$TMP/idx.yaml"
expect 3 "${ST[@]}" train "$TMP/idx.yaml" --out "$TMP/e"
$PY - "$TMP" <<'PYEOF'
import gzip, struct, sys
d = sys.argv[1]
img = struct.pack(">IIII", 0x803, 64, 4, 4) + bytes(64 * 16)
open(f"{d}/img", "wb").write(img)
open(f"{d}/lab", "wb").write(struct.pack(">II", 0x801, 64) + bytes([3] * 63 + [12]))
gzip.open(f"{d}/img.gz", "wb").write(img)
open(f"{d}/short.gz", "wb").write(open(f"{d}/img.gz", "rb").read()[:40])
PYEOF
for case in "img lab" "short.gz lab" "img img"; do
  set -- $case
  printf 'model: {layers: [{type: dense, units: 10}]}\ndata: {format: idx, batch_size: 8, train_images: %s/%s, train_labels: %s/%s, test_images: %s/img, test_labels: %s/lab}\n' \
    "$TMP" "$1" "$TMP" "$2" "$TMP" "$TMP" > "$TMP/idx.yaml"
  expect 3 "${ST[@]}" train "$TMP/idx.yaml" --out "$TMP/e"
done
cp "$run/ckpt-000000040.h5" "$TMP/flip.h5"
printf '\x5a' | dd of="$TMP/flip.h5" bs=1 seek=20000 conv=notrunc status=none
expect 4 "${ST[@]}" train "$TINY" --out "$TMP/e" --resume "$TMP/flip.h5"
expect 4 "$S" eval --checkpoint "$TMP/flip.h5"
expect 4 "${ST[@]}" train "$TINY" --out "$run" "${common[@]}" --set training.max_steps=50 --resume auto --set model.layers.1.units=32
expect 6 "${ST[@]}" train "$TINY" --out "$TMP/nan" --set optimizer.lr=1e30 --set checkpoint.every_steps=1
expect 1 mpirun -np 1 --oversubscribe --bind-to none -x SLURM_NTASKS=2 "$S" train "$TINY" --out "$TMP/e"
pass "ASan/UBSan/LSan: unit suite and end-to-end runs (2 ranks, resume, eval, inspect, error paths) without a report ($(( $(date +%s) - t0 ))s)"
