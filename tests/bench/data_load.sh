#!/usr/bin/env bash
# tests/bench/data_load.sh - training throughput by data source: Fashion-MNIST from the IDX
# files, and from HDF5 (as `rdrop convert` writes it) with data.load: memory and stream.
#
# usage: tests/bench/data_load.sh [--rounds N] [--steps S] [--ranks R] [--gzip L] [--chunk ROWS]
#                                 [--build DIR]
#   --rounds N   runs per case, interleaved round-robin so load changes hit every case alike
#                (default 5); figures are medians over the rounds
#   --steps S    timed steps per run (default 250; plus a 50-step warm-up interval and a last
#                interval that holds the final evaluation, both excluded; S + 100 must stay
#                below the 468 steps of an epoch, whose end would add an evaluation)
#   --ranks R    mpirun -np R (default 1: the singleton binary, no mpirun)
#   --gzip L     also convert with gzip level L and add the case hdf5-stream-gzip
#   --chunk ROWS rows per HDF5 chunk (rdrop convert --chunk, default 64)
# The model is configs/fashion_mlp_rdrop.yaml (784-1024-1024-10, batch 128, R-Drop). Prints
# the per-run figures (JSON) and a markdown table: median samples/s per case and the median of
# its per-round ratios to hdf5-memory (paired: runs of one round saw about the same load).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
rounds=5 steps=250 ranks=1 gzip=0 chunk=64 build="$here/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --gzip) gzip=$2; shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "data_load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
rdrop=$build/rdrop
[ $((steps + 100)) -lt 468 ] || { echo "data_load.sh: --steps must be below 368 (one epoch, no evaluation inside)" >&2; exit 2; }
F=${RDROP_FASHION_MNIST_SRC:-/usr/share/datasets/fashion-mnist}
[ -x "$rdrop" ] || { echo "data_load.sh: $rdrop missing (bash launch/build.sh)" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1   # the kernel: rdrop picks the CPU's own (run.blas_core: auto)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d /tmp/rdrop-databench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

idx_files=(--train-images "$F/train-images-idx3-ubyte.gz" --train-labels "$F/train-labels-idx1-ubyte.gz"
           --test-images "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz")
"$rdrop" convert "${idx_files[@]}" --chunk "$chunk" --out "$tmp/fm.h5" > /dev/null
cases=(idx hdf5-memory hdf5-stream)
if [ "$gzip" -gt 0 ]; then
  "$rdrop" convert "${idx_files[@]}" --chunk "$chunk" --gzip "$gzip" --out "$tmp/fmz.h5" > /dev/null
  cases+=(hdf5-stream-gzip)
fi

args_of() {
  case "$1" in
    idx) echo "--set data.train_images=$F/train-images-idx3-ubyte.gz --set data.train_labels=$F/train-labels-idx1-ubyte.gz \
--set data.test_images=$F/t10k-images-idx3-ubyte.gz --set data.test_labels=$F/t10k-labels-idx1-ubyte.gz" ;;
    hdf5-memory) echo "--set data.format=hdf5 --set data.train_file=$tmp/fm.h5 --set data.test_file=$tmp/fm.h5" ;;
    hdf5-stream) echo "--set data.format=hdf5 --set data.train_file=$tmp/fm.h5 --set data.test_file=$tmp/fm.h5 --set data.load=stream" ;;
    hdf5-stream-gzip) echo "--set data.format=hdf5 --set data.train_file=$tmp/fmz.h5 --set data.test_file=$tmp/fmz.h5 --set data.load=stream" ;;
  esac
}
launch=("$rdrop")
[ "$ranks" -gt 1 ] && launch=(mpirun -np "$ranks" --oversubscribe --bind-to none "$rdrop")

for r in $(seq 1 "$rounds"); do
  order=("${cases[@]}")
  if [ $((r % 2)) -eq 0 ]; then   # even rounds run the cases in reverse order
    order=()
    for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[i]}"); done
  fi
  for c in "${order[@]}"; do
    # shellcheck disable=SC2046
    "${launch[@]}" train "$here/configs/fashion_mlp_rdrop.yaml" $(args_of "$c") --out "$tmp/run-$c-$r" \
      --set training.max_steps=$((steps + 100)) --set training.log_every_steps=50 --set checkpoint.every_epochs=0 \
      > "$tmp/log-$c-$r" 2>&1 || { cat "$tmp/log-$c-$r"; echo "data_load.sh: $c run $r failed" >&2; exit 1; }
    echo "round $r/$rounds $c done" >&2
  done
done

/usr/bin/python3 - "$tmp" "$rounds" "$ranks" "${cases[@]}" <<'PYEOF'
import json, statistics, sys, platform
tmp, rounds, ranks, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
runs = {}
for c in cases:
    runs[c] = []
    for r in range(1, rounds + 1):
        rows = [json.loads(l) for l in open(f"{tmp}/run-{c}-{r}/metrics.jsonl") if '"kind":"train"' in l]
        rows = rows[1:-1]   # warm-up interval; the last one holds the final evaluation
        runs[c].append(statistics.median(x["samples_per_s"] for x in rows))
print(json.dumps({"rounds": rounds, "ranks": int(ranks), "samples_per_s": runs}))
print(f"Fashion-MNIST, default MLP, {ranks} rank(s), {rounds} interleaved rounds, "
      f"{platform.node()} ({platform.processor() or platform.machine()})")
print("| data | samples/s (median) | min..max over rounds | median of the per-round ratios to hdf5-memory |")
print("|---|---|---|---|")
base = runs["hdf5-memory"]
for c in cases:
    v = runs[c]
    ratio = statistics.median(a / b for a, b in zip(v, base))
    print(f"| {c} | {statistics.median(v):.0f} | {min(v):.0f}..{max(v):.0f} | {ratio:.3f} |")
PYEOF
