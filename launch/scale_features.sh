#!/usr/bin/env bash
# Throughput of the scale features (docs/scale.md) on the emulated cluster (launch/cluster.sh):
# samples/s of the default MLP (configs/fashion_mlp_rdrop.yaml) with dist.compress none / bf16 /
# fp16, bf16 + training.accumulate 4, and hierarchical vs flat allreduce, next to 1-rank baselines
# on this machine at the same per-rank batch (weak scaling). Points run interleaved, --repeat
# times each; every run's figure is the median samples/s of its log intervals after the first
# --skip steps (start-up and the dist.overlap auto trial); the table gives the median over runs.
# Two baselines per per-rank batch: `1rank-*` (one rank alone on this machine) and `pair-*` (two
# 1-rank jobs at once, the figure per job): the emulated nodes share this machine's cores, and two
# ranks computing at once run slower than one alone (memory, caches, clock), which no real
# cluster's nodes do to each other; the efficiency against `pair-*` leaves only the network.
#
# usage: launch/scale_features.sh [--repeat K] [--steps N] [--skip S] [--bw RATE] [--out DIR] [--points LIST]
#   --repeat K   runs per point (default 3)         --steps N  optimizer steps per run (default 80)
#   --skip S     steps not counted (default 20)     --bw RATE  link bandwidth (default 1gbit)
#   --out DIR    results folder (default results/scale-features-<date>)
#   --points L   comma list of point names (default all; see POINTS below)
# Outputs: DIR/raw.csv (point, repeat, samples/s, overlap verdict), DIR/raw.jsonl (one object
# per run: the point's settings and the medians of step, compute and exposed-communication ms per
# optimizer step over the counted intervals; launch/model.py --features reads it), DIR/table.md,
# DIR/logs/.
# Set OPENBLAS_CORETYPE for timings on CPUs OpenBLAS 0.3.21 does not know (see README).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
RDROP=${RDROP:-$SRC/build/rdrop}
repeat=3 steps=80 skip=20 bw=1gbit out="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat=$2; shift 2 ;; --steps) steps=$2; shift 2 ;; --skip) skip=$2; shift 2 ;;
    --bw) bw=$2; shift 2 ;; --out) out=$2; shift 2 ;; --points) only=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "scale_features: unknown option $1" >&2; exit 2 ;;
  esac
done
out=${out:-$SRC/results/scale-features-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs" "$out/runs"
D=/usr/share/datasets/fashion-mnist
CONFIG=$SRC/configs/fashion_mlp_rdrop.yaml
BASE=(--set data.train_images=$D/train-images-idx3-ubyte.gz --set data.train_labels=$D/train-labels-idx1-ubyte.gz
      --set data.test_images=$D/t10k-images-idx3-ubyte.gz --set data.test_labels=$D/t10k-labels-idx1-ubyte.gz
      --set training.epochs=1000 --set training.max_steps=$steps --set training.log_every_steps=10
      --set training.eval_every_epochs=0 --set checkpoint.every_epochs=0 --set checkpoint.keep=1)
export OPENBLAS_NUM_THREADS=1
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# name | where (local = 1 rank, pair = two 1-rank jobs at once, local2 = 2 ranks under mpirun on
# this machine (no emulated network: the dist.overlap auto check), NxP = emulated nodes x ranks
# per node) | extra --set options
POINTS=(
  "1rank-b128|local|--set data.batch_size=128"
  "1rank-b512-acc4|local|--set data.batch_size=512 --set training.accumulate=4"
  "pair-b128|pair|--set data.batch_size=128"
  "pair-b512-acc4|pair|--set data.batch_size=512 --set training.accumulate=4"
  "2x1-none|2x1|--set data.batch_size=256"
  "2x1-bf16|2x1|--set data.batch_size=256 --set dist.compress=bf16"
  "2x1-fp16|2x1|--set data.batch_size=256 --set dist.compress=fp16"
  "2x1-bf16-b512-acc4|2x1|--set data.batch_size=1024 --set dist.compress=bf16 --set training.accumulate=4"
  "2x1-bf16-bucket1|2x1|--set data.batch_size=256 --set dist.compress=bf16 --set dist.bucket_mb=1"
  "2x1-bf16-b512-acc4-bucket1|2x1|--set data.batch_size=1024 --set dist.compress=bf16 --set training.accumulate=4 --set dist.bucket_mb=1"
  "2ranks-overlap-on|local2|--set data.batch_size=256 --set dist.overlap=true"
  "2ranks-overlap-off|local2|--set data.batch_size=256 --set dist.overlap=false"
  "2ranks-overlap-auto|local2|--set data.batch_size=256 --set dist.overlap=auto"
  "2x2-flat|2x2|--set data.batch_size=512"
  "2x2-hier|2x2|--set data.batch_size=512 --set dist.hierarchical=true"
  "2x2-hier-bf16|2x2|--set data.batch_size=512 --set dist.hierarchical=true --set dist.compress=bf16"
)
# One JSON row per run (stdout) from its metrics files (several for a pair: the mean per job).
summarize() {   # NAME REPEAT WHERE LINK VERDICT SKIP EXTRA METRICS...
  $PY - "$@" <<'PYEOF'
import json, sys, statistics as st
name, rep, where, link, verdict, skip, extra = sys.argv[1:8]
sets = dict(kv.split("=", 1) for kv in extra.replace("--set", " ").split())
per = []
for path in sys.argv[8:]:
    rows = [json.loads(l) for l in open(path) if l.strip()]
    tr = [r for r in rows if r["kind"] == "train" and r["step"] > int(skip)]
    if not tr:
        continue
    steps = [r["step"] - p["step"] for p, r in zip([None] + tr, tr) if p is not None] or [10]
    n = st.median(steps)   # optimizer steps per interval (the log interval)
    per.append({"sps": st.median(r["samples_per_s"] for r in tr),
                "compute_ms": 1e3 * st.median(r["compute_s"] for r in tr) / n,
                "comm_exposed_ms": 1e3 * st.median(r["comm_exposed_s"] for r in tr) / n})
nodes, ppn = (1, 1) if where in ("local", "pair") else (1, 2) if where == "local2" else map(int, where.split("x"))
gb = int(sets.get("data.batch_size", 128))
row = {"point": name, "repeat": int(rep), "where": where, "nodes": nodes, "ppn": ppn, "ranks": nodes * ppn,
       "link": link if where not in ("local", "pair", "local2") else "local", "global_batch": gb,
       "local_batch": gb / (nodes * ppn), "accumulate": int(sets.get("training.accumulate", 1)),
       "compress": sets.get("dist.compress", "none"), "bucket_mb": float(sets.get("dist.bucket_mb", 4)),
       "hierarchical": sets.get("dist.hierarchical", "false") == "true", "overlap": verdict,
       "samples_per_s": st.mean(p["sps"] for p in per) if per else float("nan"),
       "step_ms": 1e3 * gb / (nodes * ppn) / st.mean(p["sps"] for p in per) * (nodes * ppn) if per else float("nan"),
       "compute_ms": st.mean(p["compute_ms"] for p in per) if per else float("nan"),
       "comm_exposed_ms": st.mean(p["comm_exposed_ms"] for p in per) if per else float("nan")}
print(json.dumps(row))
PYEOF
}
[ -f "$out/raw.csv" ] || echo "point,repeat,samples_per_s,overlap" > "$out/raw.csv"
for r in $(seq 1 "$repeat"); do
  for p in "${POINTS[@]}"; do
    IFS='|' read -r name where extra <<< "$p"
    [ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || continue
    run=$out/runs/$name-$r log=$out/logs/$name-$r.log
    rm -rf "$run"
    # shellcheck disable=SC2086
    metrics=("$run/metrics.jsonl")
    if [ "$where" = local ]; then
      "$RDROP" train "$CONFIG" --out "$run" "${BASE[@]}" $extra > "$log" 2>&1
    elif [ "$where" = local2 ]; then
      mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS "$RDROP" train "$CONFIG" --out "$run" "${BASE[@]}" $extra > "$log" 2>&1
    elif [ "$where" = pair ]; then
      rm -rf "$run-b"
      "$RDROP" train "$CONFIG" --out "$run-b" "${BASE[@]}" $extra > "$log.b" 2>&1 &
      pid=$!
      "$RDROP" train "$CONFIG" --out "$run" "${BASE[@]}" $extra > "$log" 2>&1 && wait "$pid"
      metrics+=("$run-b/metrics.jsonl")
    else
      timeout -k 10 900 bash "$HERE/cluster.sh" -q -n "${where%x*}" -p "${where#*x}" --bw "$bw" --timeout 600 -- \
        "$RDROP" train "$CONFIG" --out "$run" "${BASE[@]}" $extra > "$log" 2>&1
    fi || { echo "scale_features: $name run $r failed (see $log)" >&2; exit 1; }
    verdict=$(sed -n 's/.*dist.overlap auto: \(.*\) (medians.*/\1/p' "$log" | sed 's/.*-> //')
    row=$(summarize "$name" "$r" "$where" "$bw" "${verdict:-none}" "$skip" "$extra" "${metrics[@]}")
    echo "$row" >> "$out/raw.jsonl"
    sps=$($PY -c 'import json, sys; print("%.1f" % json.loads(sys.argv[1])["samples_per_s"])' "$row")
    echo "$name,$r,$sps,${verdict:-none}" >> "$out/raw.csv"
    echo "scale_features: $name run $r: $sps samples/s (overlap ${verdict:-n/a})" >&2
    rm -rf "$run" "$run-b"
  done
done
$PY - "$out/raw.csv" > "$out/table.md" <<'PYEOF'
import csv, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1])))
pts = {}
for r in rows:
    pts.setdefault(r["point"], []).append(float(r["samples_per_s"]))
med = {k: statistics.median(v) for k, v in pts.items()}
def ranks(p):
    return 1 if p.startswith(("1rank", "pair")) else 2 if p.startswith("2ranks") else int(p[0]) * int(p[2])
def base(p, kind):
    return kind + ("-b512-acc4" if "acc4" in p else "-b128")
def eff(p, kind):
    b = base(p, kind)
    return f"{med[p] / (ranks(p) * med[b]):.2f}" if b in med else ""
print("| point | runs | samples/s (median) | min-max | weak efficiency vs 1 rank alone | vs pair (per job) | vs same topology, none/flat |")
print("|---|---|---|---|---|---|---|")
for p in pts:
    v = pts[p]
    ref = ("2x1-none" if p.startswith("2x1") else "2x2-flat" if p.startswith("2x2")
           else "2ranks-overlap-on" if p.startswith("2ranks") else None)
    rel = f"{med[p] / med[ref]:.2f}" if ref in med else ""
    print(f"| {p} | {len(v)} | {med[p]:.0f} | {min(v):.0f}-{max(v):.0f} | {eff(p, '1rank')} | {eff(p, 'pair')} | {rel} |")
PYEOF
cat "$out/table.md"
