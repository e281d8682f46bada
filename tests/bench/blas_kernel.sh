#!/usr/bin/env bash
# tests/bench/blas_kernel.sh - what the BLAS kernel choice (src/blas.h) is worth, on this machine
# (figures, not a pass/fail test). Interleaved rounds, medians:
#   - the default MLP's R-Drop step (rdrop_bench, 1 rank x 1 thread) on OpenBLAS's own kernel
#     (run.blas_core: keep), with rdrop's choice (auto: a restart when OpenBLAS fell back), and
#     with the class kernel set by hand (OPENBLAS_CORETYPE=K, keep);
#   - sgemm 2048^3 on the class kernel set by hand, and the trainer's start-up probe (its
#     header's GF/s on the step's largest GEMM shape) with auto;
#   - start-up: wall time of `rdrop train` for 1 step with auto (restart + check + probe) and with
#     the kernel set by hand (check + probe, no restart), and the check + probe alone.
# usage: tests/bench/blas_kernel.sh [--rounds N] [--out FILE.md]   (default 3, docs/bench/blas-kernel.md)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
rounds=3 out=$here/docs/bench/blas-kernel.md
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "blas_kernel.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$here"
build=$here/build
cmake --build "$build" -j2 --target rdrop rdrop_bench blas_gflops > /dev/null
[ -f datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || bash datasets/fashion-mnist.sh > /dev/null
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
unset OPENBLAS_CORETYPE
K=$("$build/rdrop" version | sed -n 's/^cpu class kernel //p')
own=$("$build/tests/bench/blas_gflops" keep 64 0.001 | cut -f1)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
fam=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
mod=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
config=configs/fashion_mlp_rdrop.yaml
step() {   # name [env...]
  local name=$1; shift
  env "$@" "$build/tests/bench/rdrop_bench" "$config" --windows 5 --label "$name" --json "$raw/$name-$r.json" > /dev/null
}
start() {   # name [env...]: wall seconds of a 1-step run, and the header's GF/s
  local name=$1 t0 t1; shift
  t0=$(date +%s.%N)
  env "$@" "$build/rdrop" train "$config" --set training.max_steps=1 --set checkpoint.every_steps=0 \
    --out "$raw/run-$name-$r" > "$raw/$name-$r.log" 2>&1
  t1=$(date +%s.%N)
  echo "$name $(echo "$t1 - $t0" | bc) $(sed -n 's/^blas .*, \([0-9.]*\) GF\/s$/\1/p' "$raw/$name-$r.log") $(/usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "blas_check_s" in l][0]["blas_check_s"])' "$raw/run-$name-$r/metrics.jsonl")" >> "$raw/start.txt"
}
echo "blas_kernel.sh: $cpu (family $fam model $mod); OpenBLAS's own kernel $own, class kernel $K; $rounds rounds; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  step own RDROP_BENCH_BLAS_CORE=keep
  step auto RDROP_BENCH_BLAS_CORE=auto
  step hand RDROP_BENCH_BLAS_CORE=keep OPENBLAS_CORETYPE="$K"
  "$build/tests/bench/blas_gflops" keep 2048 1 > "$raw/sq-own-$r.txt"
  OPENBLAS_CORETYPE="$K" "$build/tests/bench/blas_gflops" keep 2048 1 > "$raw/sq-hand-$r.txt"
  start auto
  start hand OPENBLAS_CORETYPE="$K"
done
/usr/bin/python3 - "$raw" "$rounds" "$out" "$cpu" "$fam" "$mod" "$own" "$K" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PYEOF'
import json, statistics as st, sys, datetime
raw, rounds, out, cpu, fam, mod, own, K, load = sys.argv[1:10]
rounds = int(rounds)
med = st.median
def steps(name):
    js = [json.load(open(f"{raw}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    return med([j["step_ms"] for j in js]), js[0]["blas_core"], js[0]["blas_core_origin"]
s_own, s_auto, s_hand = steps("own"), steps("auto"), steps("hand")
sq = lambda w: med([float(open(f"{raw}/sq-{w}-{r}.txt").read().split("\t")[2]) for r in range(1, rounds + 1)])
sq_own, sq_hand = sq("own"), sq("hand")
rows = [l.split() for l in open(f"{raw}/start.txt")]
def start(name, i):
    v = [float(x[i]) for x in rows if x[0] == name and len(x) > i]
    return med(v) if v else float("nan")
probe = start("auto", 2)
lines = [
    f"# BLAS kernel choice: measured {datetime.date.today()}",
    "",
    f"Machine: {cpu} (family {fam}, model {mod}), OpenBLAS's own kernel **{own}**, class kernel **{K}**; "
    f"1 rank x 1 OpenBLAS thread; {rounds} interleaved rounds, medians; load average at the end {load}. "
    "Command: `bash tests/bench/blas_kernel.sh`.",
    "",
    "| case | kernel (origin) | default MLP R-Drop step, ms | vs hand-set |",
    "|---|---|---:|---:|",
]
for label, s in (("OpenBLAS's own choice (`run.blas_core: keep`)", s_own), ("rdrop's choice (`auto`)", s_auto),
                 (f"`OPENBLAS_CORETYPE={K}` by hand", s_hand)):
    lines.append(f"| {label} | {s[1]} ({s[2]}) | {s[0]:.1f} | {s[0] / s_hand[0]:.3f} |")
lines += [
    "",
    "| sgemm | GF/s |",
    "|---|---:|",
    f"| 2048^3, OpenBLAS's own kernel ({own}) | {sq_own:.1f} |",
    f"| 2048^3, {K} set by hand | {sq_hand:.1f} |",
    f"| start-up probe with auto (step's largest GEMM, <= 0.1 s) | {probe:.1f} ({probe / sq_hand:.2f} of the hand-set 2048^3) |",
    "",
    "| start-up of `rdrop train` (1 step, 1 rank) | wall s | check + probe s |",
    "|---|---:|---:|",
    f"| auto (restart) | {start('auto', 1):.2f} | {start('auto', 3):.3f} |",
    f"| {K} set by hand (no restart) | {start('hand', 1):.2f} | {start('hand', 3):.3f} |",
    "",
]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PYEOF
