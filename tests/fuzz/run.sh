#!/usr/bin/env bash
# Fuzz one target for SECONDS with libFuzzer (clang, ASan + UBSan, coverage-guided):
#
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#   TARGET: config | idx | checkpoint | checkpoint_sealed | hdf5data   (see tests/fuzz/fuzz_*.c)
#   tests/fuzz/run.sh --build-only      configure and build the targets, then exit
#
# Builds the targets in $RDROP_FUZZ_BUILD (default: build-fuzz/ at the repository root; CC
# defaults to clang) with -DRDROP_FUZZ=ON. The seed corpus tests/fuzz/corpus/TARGET is read,
# never written: new inputs go to $RDROP_FUZZ_BUILD/fuzz-work/TARGET (kept between runs, so
# repeated runs go deeper), crashes to $RDROP_FUZZ_BUILD/fuzz-artifacts/TARGET/. The run is
# bounded: -max_total_time=SECONDS, 10 s per input, 2 GB RSS, and it runs under `nice`.
# A crash exits non-zero and prints how to replay it; turn it into a regression test by
# fixing the bug and copying the input into tests/fuzz/corpus/TARGET/ (replayed by every
# ctest run through fuzz_replay_TARGET). Exit 77 (skip) when clang/libFuzzer is missing.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${RDROP_FUZZ_BUILD:-$SRC/build-fuzz}
CCOMP=${RDROP_FUZZ_CC:-clang}

build() {
  if ! command -v "$CCOMP" > /dev/null; then
    echo "SKIP: $CCOMP not found (apt-get install clang libclang-rt-14-dev)"; exit 77
  fi
  local probe; probe=$(mktemp -d)
  echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > "$probe/p.c"
  if ! "$CCOMP" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2> /dev/null; then
    rm -rf "$probe"
    echo "SKIP: $CCOMP cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"; exit 77
  fi
  rm -rf "$probe"
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    CC=$CCOMP cmake -S "$SRC" -B "$BUILD" -DRDROP_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DBUILD_TESTING=OFF > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
  fi
  cmake --build "$BUILD" -j2 --target fuzz_config fuzz_idx fuzz_checkpoint fuzz_checkpoint_sealed fuzz_hdf5data \
    > "$BUILD.build.log" 2>&1 || { tail -n 40 "$BUILD.build.log"; exit 1; }
}

if [ "${1:-}" = --build-only ]; then build; echo "fuzz targets built in $BUILD/tests/fuzz"; exit 0; fi
if [ $# -lt 2 ]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
target=$1 seconds=$2
shift 2
case $target in
  config) max_len=8192 ;;
  idx) max_len=4096 ;;
  hdf5data) max_len=2048 ;;
  checkpoint|checkpoint_sealed) max_len=40000 ;;
  *) echo "run.sh: unknown target '$target' (config, idx, checkpoint, checkpoint_sealed, hdf5data)" >&2; exit 2 ;;
esac
[ "${RDROP_FUZZ_NO_BUILD:-0}" = 1 ] || build
bin=$BUILD/tests/fuzz/fuzz_$target
if [ ! -x "$bin" ]; then
  # With RDROP_FUZZ_NO_BUILD (ctest), the fuzz_build test built the targets, or was skipped
  # (no clang / no fuzzer runtime) or failed: it reports that itself.
  echo "SKIP: $bin is not built (tests/fuzz/run.sh --build-only)"; exit 77
fi
work=$BUILD/fuzz-work/$target
art=$BUILD/fuzz-artifacts/$target
mkdir -p "$work" "$art"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The harnesses write their inputs to files here (tmpfs when possible); libFuzzer may leave
# without running atexit handlers, so the folder is removed here.
RDROP_FUZZ_TMP=$(mktemp -d /dev/shm/rdrop-fuzz.XXXXXX 2> /dev/null || mktemp -d)
export RDROP_FUZZ_TMP
trap 'rm -rf "$RDROP_FUZZ_TMP"' EXIT
echo "fuzzing $target for ${seconds}s: $bin (corpus $SRC/tests/fuzz/corpus/$target, work $work)"
set +e
nice -n 10 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
  -print_final_stats=1 -artifact_prefix="$art/" "$@" "$work" "$SRC/tests/fuzz/corpus/$target" \
  > "$art/last-run.log" 2>&1
rc=$?
set -e
grep -E "^(stat::|INFO: (Loaded|seed corpus)|#[0-9]+ *DONE)" "$art/last-run.log" || true
if [ $rc -ne 0 ]; then
  tail -n 60 "$art/last-run.log"
  crash=$(ls -t "$art" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -n 1 || true)
  echo "FAIL: fuzz_$target found a problem: $art/$crash"
  echo "replay: $bin $art/$crash"
  exit 1
fi
echo "PASS: fuzz_$target ran ${seconds}s without a crash, leak, timeout or sanitizer report"
