#!/usr/bin/env bash
# tests/bench/run.sh - rdrop's benchmark suite (figures, not pass/fail tests).
#
# usage: tests/bench/run.sh [--rounds N] [--threads T] [--windows N] [--out FILE] [--build DIR]
#                           [--quick]
#   --rounds N    run every case N times, interleaved round-robin so that a change in machine
#                 load hits all cases alike; figures are medians over the rounds (default 3)
#   --threads T   OpenBLAS threads per rank, for rdrop and PyTorch alike (default 1)
#   --windows N   timed windows per run (default 11); --quick = 1 round of 5 windows
#   --out FILE    JSON with every run and the summary (default bench-results.json)
#   --build DIR   build folder holding tests/bench/rdrop_bench (default build; built if missing)
#
# Cases: the default config (784-1024-1024-10, batch 128, R-Drop) at 1 rank and at 2 ranks
# with overlap on and off; passes 1 (plain dropout) at 1 rank; the GEMM-dominated config
# (2048-wide hidden layers, batch 256) at 1 rank; the benchmark CNN (configs/bench/
# fashion_cnn_bench.yaml, docs/conv.md) at 1 rank and in PyTorch (channels_last and NCHW); PyTorch (tests/bench/torch_ref.py with
# /usr/bin/python3, skipped with a notice without python3-torch) with 2 and 1 passes, and
# once more with OPENBLAS_NUM_THREADS unset (OpenBLAS then starts a thread per core under
# torch's single thread: not the same thread count, shown for reference only).
# Prints one markdown summary table; each run's own table goes to OUT.d/<case>-<round>.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
rounds=3 threads=1 windows=11 out=bench-results.json build="$here/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --windows) windows=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --quick) rounds=1 windows=5; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
cd "$here"

bench="$build/tests/bench/rdrop_bench"
if [ ! -x "$bench" ]; then
  cmake -S "$here" -B "$build" >/dev/null
  cmake --build "$build" -j2 --target rdrop_bench >/dev/null
fi
[ -f datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || bash datasets/fashion-mnist.sh >/dev/null

if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=$threads
cores=$(nproc)
details="$out.d"
rm -rf "$details"
mkdir -p "$details"
config=configs/fashion_mlp_rdrop.yaml
gemm_sets=(--set model.layers.1.units=2048 --set model.layers.3.units=2048 --set data.batch_size=256)

run_rdrop() {   # case ranks [--set ...]
  local name=$1 ranks=$2 over=()
  shift 2
  [ $((ranks * threads)) -le "$cores" ] || over=(--oversubscribe)
  mpirun -np "$ranks" --bind-to none "${over[@]}" -x OPENBLAS_NUM_THREADS "$bench" "${bench_config:-$config}" \
    --set run.blas_threads="$threads" "$@" --windows "$windows" --label "$name" \
    --json "$details/$name-$round.json" > "$details/$name-$round.txt"
}

# PyTorch (Debian's, on the same OpenBLAS) gets the kernel rdrop's run.blas_core: auto chooses, so
# both run on this CPU's class kernel (src/blas.h); a kernel set by the caller stays.
class_kernel=$("$here/build/rdrop" version 2>/dev/null | sed -n 's/^cpu class kernel //p')
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -n "$class_kernel" ] && [ "$class_kernel" != none ]; then
  torch_core=(OPENBLAS_CORETYPE="$class_kernel")
else
  torch_core=()
fi
torch_ok=1
run_torch() {   # case [env -u VAR] [torch_ref args]
  local name=$1 rc=0 envs=()
  shift
  [ "$torch_ok" = 1 ] || return 0
  if [ "${1:-}" = "-u" ]; then envs=(-u "$2"); shift 2; fi
  env "${envs[@]}" "${torch_core[@]}" /usr/bin/python3 tests/bench/torch_ref.py --threads "$threads" --idx datasets/fashion-mnist \
    --windows "$windows" --json "$details/$name-$round.json" "$@" > "$details/$name-$round.txt" 2>&1 || rc=$?
  if [ "$rc" = 77 ] || [ ! -x /usr/bin/python3 ]; then
    echo "run.sh: PyTorch comparison skipped: $(tail -1 "$details/$name-$round.txt" 2>/dev/null)" >&2
    torch_ok=0
  elif [ "$rc" != 0 ]; then
    cat "$details/$name-$round.txt" >&2
    return "$rc"
  fi
}

echo "rdrop benchmarks: $rounds round(s) x $windows windows, $threads BLAS thread(s) per rank, $cores cores;" \
     "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds ..." >&2
  run_rdrop r1 1
  run_torch torch
  run_rdrop r1_passes1 1 --set rdrop.passes=1
  run_torch torch_passes1 --passes 1
  run_torch torch_blas_unset -u OPENBLAS_NUM_THREADS
  run_rdrop r2_overlap 2 --set dist.overlap=true
  run_rdrop r2_no_overlap 2 --set dist.overlap=false
  run_rdrop gemm 1 "${gemm_sets[@]}"
  bench_config=configs/bench/fashion_cnn_bench.yaml run_rdrop cnn 1
  run_torch torch_cnn --model cnn --memory-format channels_last
  run_torch torch_cnn_nchw --model cnn --memory-format nchw
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" tests/bench/summarize.py "$details" "$out" "$threads"
