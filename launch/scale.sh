#!/usr/bin/env bash
# Scaling experiment: strong scaling (fixed global batch) and weak scaling (fixed per-rank batch)
# of `rdrop train CONFIG` over rank / node counts, on this machine, on the emulated cluster
# (launch/cluster.sh, with link settings) or on a real allocation (SLURM or a hostfile).
#
# usage: launch/scale.sh [options] CONFIG [--set KEY=VALUE]...
#   --where local|cluster|alloc  local: mpirun on this machine, --ranks are rank counts (default)
#                                cluster: --ranks are emulated node counts (x --ppn ranks each)
#                                alloc: inside a SLURM allocation (srun --mpi=pmix) or with
#                                --hostfile FILE (launch/mpirun.sh); --ranks are node counts
#   --ranks LIST                 e.g. 1,2 (local) or 2,3,4 (cluster); the 1-rank baseline always runs
#   --ppn R                      ranks per node for cluster/alloc (default 1)
#   --links LIST                 cluster: unlimited,10gbit,1gbit,1gbit+1ms (bandwidth[+one-way delay])
#   --allreduce LIST             ring (rdrop's default: it sets coll_libnbc_iallreduce_algorithm=1 unless
#                                the user set it) and/or tree (=2, binomial: Open MPI 4.1 libnbc's own
#                                choice for an in-place MPI_Iallreduce); passed explicitly to every run
#   --mode strong|weak|both      default both
#   --batch B                    strong: the global batch; weak: the per-rank batch (default: data.batch_size)
#   --steps N                    optimizer steps per measurement run (training.max_steps; default 80)
#   --log-every W                metrics interval (default 10); the first interval (start-up) is dropped
#   --repeat K                   runs per point; medians are reported (default 3)
#   --full                       also train every point to the end of the config and report test accuracy
#   --comm-bench                 also time MPI_Iallreduce alone (launch/allreduce_bench.c) per point: comm.jsonl
#   --hostfile FILE              alloc without SLURM
#   --rdrop PATH                 the binary (default build/rdrop); its folder must hold librdropcore.a
#                                for the optimizer timing (launch/stepbench.c), else that column is empty
#   --out DIR                    results folder (default results/scaling-<date>); --append keeps its CSV
#   --keep-runs                  keep every run folder (checkpoints) under DIR/runs
#   --report                     run nothing: rebuild the CSV, table and plot from DIR/raw.jsonl
# Outputs in DIR: scaling.csv, scaling.md (table), scaling.png (gnuplot; skipped with a notice when
# gnuplot is missing), stepbench.jsonl, comm.jsonl (with --comm-bench), logs/. Times are medians.
# Columns: step_ms = wall time per optimizer step; compute_ms = forward + backward (the trainer's
# compute time minus optimizer_ms); optimizer_ms = SGD + max-norm of one step (stepbench, 1 rank);
# comm_exposed_ms = time waiting for the allreduce after backward; other_ms = the rest (data, logging);
# efficiency = samples/s / (ranks x samples/s of 1 rank). Each row is the run with the median step time
# of its --repeat runs (step_ms_min/max give the spread).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
where=local ranks_list="" ppn=1 links="unlimited" algs="ring" mode=both batch="" steps=80 logw=10
repeat=3 full=0 report=0 comm_bench=0 hostfile="" rdrop="$SRC/build/rdrop" out="" append=0 keep=0

die() { echo "scale: $*" >&2; exit "${2:-1}"; }
say() { echo "scale: $*" >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --where) where=$2; shift 2 ;;
    --ranks|--nodes) ranks_list=$2; shift 2 ;;
    --ppn) ppn=$2; shift 2 ;;
    --links) links=$2; shift 2 ;;
    --allreduce) algs=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --log-every) logw=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --full) full=1; shift ;;
    --comm-bench) comm_bench=1; shift ;;
    --hostfile) hostfile=$2; shift 2 ;;
    --rdrop) rdrop=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --append) append=1; shift ;;
    --keep-runs) keep=1; shift ;;
    --report) report=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "no CONFIG given (see --help)" 2
config=$(realpath "$1"); shift
sets=("$@")
[ -f "$config" ] || die "$config: no such config" 2
case "$where" in local|cluster|alloc) ;; *) die "--where must be local, cluster or alloc" 2 ;; esac
case "$mode" in strong) modes=(strong) ;; weak) modes=(weak) ;; both) modes=(strong weak) ;; *) die "--mode strong|weak|both" 2 ;; esac
[ -z "$ranks_list" ] && { [ "$where" = local ] && ranks_list=1,2 || ranks_list=2,3,4; }
[ -x "$rdrop" ] || die "rdrop binary $rdrop not found: build it (cmake -S . -B build && cmake --build build) or pass --rdrop"
rdrop=$(realpath "$rdrop")
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1
out=${out:-$SRC/results/scaling-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs" "$out/runs"
out=$(realpath "$out")
[ $append = 1 ] || [ $report = 1 ] || rm -f "$out/raw.jsonl" "$out/stepbench.jsonl" "$out/comm.jsonl"
IFS=, read -r -a RANKS <<< "$ranks_list"
IFS=, read -r -a LINKS <<< "$links"
IFS=, read -r -a ALGS <<< "$algs"
[ "$where" = cluster ] || LINKS=(local)

# the config's batch size (resolved, with the --set overrides)
resolved=$("$rdrop" config "$config" "${sets[@]}" 2>/dev/null || true)
cfg_batch=$(awk '/^data:/{d=1} d && /batch_size:/{print $2; exit}' <<< "$resolved")
[ -n "$cfg_batch" ] || cfg_batch=$(sed -n 's/.*batch_size: *\([0-9]*\).*/\1/p' <<< "$resolved" | head -n 1)
[ -n "$cfg_batch" ] || die "cannot resolve the config (rdrop config $config failed): $("$rdrop" config "$config" "${sets[@]}" 2>&1 | tail -n 2)"
batch=${batch:-$cfg_batch}

# ---- tools: stepbench (rdrop's own step code, 1 rank) and the allreduce benchmark -------------
tools=$out/tools
mkdir -p "$tools"
# Both are built by CMake with the trainer (launch/build.sh), next to it in BUILD/launch/.
stepbench=$(dirname "$rdrop")/launch/stepbench
[ -x "$stepbench" ] || { say "notice: $stepbench missing (run launch/build.sh): no optimizer column"; stepbench=""; }
if [ $comm_bench = 1 ]; then
  [ -x "$(dirname "$rdrop")/launch/allreduce_bench" ] || die "$(dirname "$rdrop")/launch/allreduce_bench missing (run launch/build.sh)"
  cp "$(dirname "$rdrop")/launch/allreduce_bench" "$tools/allreduce_bench"
fi
bench_for() {  # B_LOCAL: forward/backward/optimizer timing at this per-rank batch, once
  local b=$1
  [ -n "$stepbench" ] || return 0
  grep -q "\"batch\":$b," "$out/stepbench.jsonl" 2>/dev/null && return 0
  "$stepbench" "$config" "${sets[@]}" --batch "$b" --reps 5 >> "$out/stepbench.jsonl" 2>>"$out/logs/stepbench.err" \
    || say "notice: stepbench failed at batch $b"
}

# alg_id NAME: Open MPI 4.1 libnbc's number of an iallreduce algorithm
alg_id() { case "$1" in ring) echo 1 ;; tree|binomial) echo 2 ;; *) die "--allreduce: ring or tree, not $1" 2 ;; esac; }

# ---- one measurement run ---------------------------------------------------------------------
# run_point MODE WHERE NODES PPN LINK ALG REP
run_point() {
  local m=$1 w=$2 nodes=$3 p=$4 link=$5 alg=$6 rep=$7
  local n=$((nodes * p)) gb tag dir log rc bw="" delay="" mca=() extra=() t0 t1 load
  if [ "$m" = strong ]; then gb=$batch; else gb=$((batch * n)); fi
  [ "$gb" -ge "$n" ] || { say "skip $m $n ranks: global batch $gb < ranks"; return 0; }
  tag="$m-$w-n${nodes}x$p-${link//[^a-zA-Z0-9]/_}-$alg-r$rep"
  dir=$out/runs/$tag
  log=$out/logs/$tag.log
  rm -rf "$dir"
  extra=(--set "data.batch_size=$gb" --set "training.max_steps=$steps" --set "training.log_every_steps=$logw"
         --set checkpoint.every_epochs=0 --set checkpoint.keep=1)
  [ $full = 1 ] && extra=(--set "data.batch_size=$gb" --set "training.log_every_steps=$logw" --set checkpoint.keep=1)
  mca=(--mca coll_libnbc_iallreduce_algorithm "$(alg_id "$alg")")
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  set +e
  case "$w" in
    local)
      margs=()
      for a in "${mca[@]}"; do margs+=(--mpirun-arg "$a"); done
      timeout -k 10 3600 bash "$HERE/mpirun.sh" -n "$n" "${margs[@]}" -- \
        "$rdrop" train "$config" "${sets[@]}" "${extra[@]}" --out "$dir" > "$log" 2>&1 ;;
    cluster)
      bw=${link%%+*}; [ "$bw" = unlimited ] && bw=""
      [[ "$link" == *+* ]] && delay=${link#*+}
      margs=()
      for a in "${mca[@]}"; do margs+=(--mpirun-arg "$a"); done
      timeout -k 10 3700 bash "$HERE/cluster.sh" -q -n "$nodes" -p "$p" ${bw:+--bw "$bw"} ${delay:+--delay "$delay"} \
        --timeout 3600 "${margs[@]}" -- "$rdrop" train "$config" "${sets[@]}" "${extra[@]}" --out "$dir" > "$log" 2>&1 ;;
    alloc)
      if [ -n "${SLURM_JOB_ID:-}" ] && [ -z "$hostfile" ]; then
        env OMPI_MCA_coll_libnbc_iallreduce_algorithm="$(alg_id "$alg")" timeout -k 10 3600 \
          srun --mpi=pmix -N "$nodes" --ntasks-per-node="$p" "$rdrop" train "$config" "${sets[@]}" "${extra[@]}" --out "$dir" > "$log" 2>&1
      else
        [ -n "$hostfile" ] || die "--where alloc needs a SLURM allocation or --hostfile"
        head -n "$nodes" "$hostfile" > "$out/hostfile.$nodes"
        margs=()
        for a in "${mca[@]}"; do margs+=(--mpirun-arg "$a"); done
        timeout -k 10 3600 bash "$HERE/mpirun.sh" -N "$p" --hostfile "$out/hostfile.$nodes" "${margs[@]}" -- \
          "$rdrop" train "$config" "${sets[@]}" "${extra[@]}" --out "$dir" > "$log" 2>&1
      fi ;;
  esac
  rc=$?
  set -e
  t1=$(date +%s.%N)
  if [ $rc -ne 0 ]; then say "run $tag exited $rc (see $log)"; return 0; fi
  $PY - "$dir/metrics.jsonl" "$out/raw.jsonl" "$m" "$w" "$nodes" "$p" "$link" "$alg" "$gb" "$rep" "$load" "$t0" "$t1" "$full" <<'PY'
import json, sys
path, outp, m, w, nodes, p, link, alg, gb, rep, load, t0, t1, full = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
tr = [r for r in rows if r["kind"] == "train"]
ev = [r for r in rows if r["kind"] == "eval" and r.get("split") == "test"]
use = tr[1:] if len(tr) > 1 else tr           # the first interval holds start-up (data load, connections)
prev = tr[0]["step"] if len(tr) > 1 else 0
wall = comp = comm = samples = 0.0
steps = 0
for r in use:
    if r["samples_per_s"] > 0:
        wall += r["samples"] / r["samples_per_s"]
    comp += r["compute_s"]; comm += r["comm_exposed_s"]; samples += r["samples"]
    steps += r["step"] - prev; prev = r["step"]
n = int(nodes) * int(p)
rec = {"mode": m, "where": w, "nodes": int(nodes), "ppn": int(p), "ranks": n, "link": link, "allreduce": alg,
       "global_batch": int(gb), "local_batch": round(int(gb) / n, 2), "rep": int(rep), "load1": float(load),
       "steps": steps, "samples_per_s": samples / wall if wall else 0.0,
       "step_ms": 1e3 * wall / steps if steps else 0.0, "trainer_compute_ms": 1e3 * comp / steps if steps else 0.0,
       "comm_exposed_ms": 1e3 * comm / steps if steps else 0.0, "run_s": float(t1) - float(t0),
       "test_acc": ev[-1]["acc"] if (ev and full == "1") else None, "final_step": tr[-1]["step"] if tr else 0}
open(outp, "a").write(json.dumps(rec) + "\n")
print(f"scale: {m:6s} {w:7s} {nodes}x{p} {link:10s} {alg:7s} B_g={gb:<5} rep {rep}: {rec['samples_per_s']:8.0f} samples/s, "
      f"step {rec['step_ms']:7.1f} ms (compute {rec['trainer_compute_ms']:.1f}, exposed comm {rec['comm_exposed_ms']:.1f}), load {load}",
      file=sys.stderr)
PY
  if [ $comm_bench = 1 ] && [ "$rep" = 1 ] && [ "$m" = "${modes[0]}" ] && [ "$n" -gt 1 ]; then
    comm_point "$w" "$nodes" "$p" "$link" "$alg"
  fi
  [ $keep = 1 ] || rm -rf "$dir"
}

# comm_point WHERE NODES PPN LINK ALG: the allreduce alone, rdrop's bucket sizes and a latency probe
comm_point() {
  local w=$1 nodes=$2 p=$3 link=$4 alg=$5 bw="" delay="" margs=() sizes
  sizes="4 65536 1048576 $($PY - "$out/stepbench.jsonl" <<'PY'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    print(" ".join(sorted({str((hi - lo) * 4) for lo, hi, _ in rows[0]["buckets"]})))
except Exception:
    print(4194304)
PY
)"
  margs=(--mpirun-arg --mca --mpirun-arg coll_libnbc_iallreduce_algorithm --mpirun-arg "$(alg_id "$alg")")
  set +e
  if [ "$w" = cluster ]; then
    bw=${link%%+*}; [ "$bw" = unlimited ] && bw=""
    [[ "$link" == *+* ]] && delay=${link#*+}
    timeout -k 10 600 bash "$HERE/cluster.sh" -q -n "$nodes" -p "$p" ${bw:+--bw "$bw"} ${delay:+--delay "$delay"} --timeout 500 \
      "${margs[@]}" -- "$tools/allreduce_bench" --reps 9 $sizes > "$out/logs/comm.tmp" 2>&1
  else
    timeout -k 10 600 bash "$HERE/mpirun.sh" -n $((nodes * p)) "${margs[@]}" -- "$tools/allreduce_bench" --reps 9 $sizes > "$out/logs/comm.tmp" 2>&1
  fi
  set -e
  grep '^{' "$out/logs/comm.tmp" | $PY -c '
import json, sys
w, nodes, p, link, alg = sys.argv[1:]
for l in sys.stdin:
    r = json.loads(l); r.update(where=w, nodes=int(nodes), ppn=int(p), link=link, allreduce=alg)
    print(json.dumps(r))' "$w" "$nodes" "$p" "$link" "$alg" >> "$out/comm.jsonl" || say "allreduce benchmark failed: $(tail -n 2 "$out/logs/comm.tmp")"
}

if [ $report = 0 ]; then
say "config $config ${sets[*]}; $where; ranks/nodes ${RANKS[*]} x $ppn; links ${LINKS[*]}; allreduce ${ALGS[*]}; modes ${modes[*]}; batch $batch; $steps steps x $repeat; results in $out"
say "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
bench_for "$batch"
for rep in $(seq "$repeat"); do
  run_point strong local 1 1 local "${ALGS[0]}" "$rep"      # the 1-rank baseline (both modes: same run)
done
for rep in $(seq "$repeat"); do
  for m in "${modes[@]}"; do
    for link in "${LINKS[@]}"; do
      for alg in "${ALGS[@]}"; do
        for nodes in "${RANKS[@]}"; do
          [ "$where" = local ] && [ "$nodes" = 1 ] && continue
          n=$((nodes * ppn)); [ "$where" = local ] && n=$nodes
          [ "$m" = strong ] && bench_for $(((batch + n - 1) / n))
          if [ "$where" = local ]; then run_point "$m" local 1 "$nodes" local "$alg" "$rep"
          else run_point "$m" "$where" "$nodes" "$ppn" "$link" "$alg" "$rep"; fi
        done
      done
    done
  done
done
fi

# ---- aggregate: medians, CSV, markdown, plot ----------------------------------------------------
$PY - "$out" <<'PY'
import json, os, statistics as st, sys
out = sys.argv[1]
raw = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]
bench = {}
if os.path.exists(os.path.join(out, "stepbench.jsonl")):
    for l in open(os.path.join(out, "stepbench.jsonl")):
        if l.strip():
            r = json.loads(l); bench[r["batch"]] = r
def opt_ms(local_batch):
    if not bench: return None
    b = min(bench, key=lambda k: abs(k - local_batch))
    return bench[b]["opt_ms"]
groups = {}
for r in raw:
    k = (r["mode"], r["where"], r["nodes"], r["ppn"], r["link"], r["allreduce"], r["global_batch"])
    groups.setdefault(k, []).append(r)
base = [r for r in raw if r["ranks"] == 1 and r["where"] == "local"]
sps1 = st.median([r["samples_per_s"] for r in base]) if base else None
rows = []
for k, rs in groups.items():
    mode, where, nodes, ppn, link, alg, gb = k
    n = rs[0]["ranks"]
    # the run with the median step time gives every column, so that the split adds up
    mid = sorted(rs, key=lambda r: r["step_ms"])[(len(rs) - 1) // 2]
    sps = mid["samples_per_s"]; step = mid["step_ms"]; tc = mid["trainer_compute_ms"]; cm = mid["comm_exposed_ms"]
    o = opt_ms(rs[0]["local_batch"])
    comp = tc - o if o is not None else tc
    acc = [r["test_acc"] for r in rs if r["test_acc"] is not None]
    rows.append(dict(mode=mode, where=where, ranks=n, nodes=nodes, ppn=ppn, link=link, allreduce=alg,
        global_batch=gb, local_batch=rs[0]["local_batch"], runs=len(rs), samples_per_s=sps, step_ms=step,
        compute_ms=comp, optimizer_ms=o, comm_exposed_ms=cm, other_ms=step - tc - cm,
        speedup=sps / sps1 if sps1 else None, efficiency=sps / (n * sps1) if sps1 else None,
        step_ms_min=min(r["step_ms"] for r in rs), step_ms_max=max(r["step_ms"] for r in rs),
        load1=mid["load1"], test_acc=st.median(acc) if acc else None))
order = {"strong": 0, "weak": 1}
def lk(l):
    """local first, then unlimited, then by falling bandwidth, a delay after the same bandwidth"""
    if l == "local": return (0, 0, 0, l)
    bw, _, d = l.partition("+")
    mul = {"g": 1e9, "m": 1e6, "k": 1e3}
    num = "".join(ch for ch in bw if ch.isdigit() or ch == ".")
    rate = float(num) * mul.get(bw[len(num):len(num) + 1].lower(), 1) if num else float("inf")
    return (1, -rate, 1 if d else 0, l)
rows.sort(key=lambda r: (r["ranks"] > 1, order[r["mode"]], r["where"] != "local", lk(r["link"]), r["allreduce"], r["ranks"]))
cols = ["mode", "where", "ranks", "nodes", "ppn", "link", "allreduce", "global_batch", "local_batch", "runs",
        "samples_per_s", "step_ms", "compute_ms", "optimizer_ms", "comm_exposed_ms", "other_ms", "speedup",
        "efficiency", "step_ms_min", "step_ms_max", "load1", "test_acc"]
def fmt(v, c):
    if v is None: return ""
    if isinstance(v, float):
        return f"{v:.4f}" if c in ("efficiency", "speedup") else f"{v:.2f}"
    return str(v)
with open(os.path.join(out, "scaling.csv"), "w") as f:
    f.write(",".join(cols) + "\n")
    for r in rows: f.write(",".join(fmt(r[c], c) for c in cols) + "\n")
def cell(v, d=1):
    return "" if v is None else f"{v:.{d}f}"
md = ["| mode | where | nodes x ranks | link | allreduce | batch (global / per rank) | samples/s | step ms | compute | optimizer | exposed comm | other | speedup | efficiency | load | test acc |",
      "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    md.append(f"| {'1 rank' if r['ranks'] == 1 else r['mode']} | {r['where']} | {r['nodes']} x {r['ppn']} | {r['link']} | {r['allreduce']} | "
              f"{r['global_batch']} / {r['local_batch']:g} | {r['samples_per_s']:.0f} | {r['step_ms']:.1f} | {r['compute_ms']:.1f} | "
              f"{cell(r['optimizer_ms'])} | {r['comm_exposed_ms']:.1f} | {r['other_ms']:.1f} | {cell(r['speedup'], 2)} | "
              f"{cell(r['efficiency'], 2)} | {r['load1']:.1f} | {cell(r['test_acc'], 4)} |")
open(os.path.join(out, "scaling.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
# plot data: one block per series (mode, where, link, allreduce), efficiency vs ranks, with the 1-rank point
series = {}
one = [r for r in rows if r["ranks"] == 1]
for r in rows:
    if r["ranks"] == 1: continue
    series.setdefault((r["mode"], r["where"], r["link"], r["allreduce"]), []).append(r)
with open(os.path.join(out, "plot.dat"), "w") as f:
    for i, (k, rs) in enumerate(sorted(series.items())):
        f.write(f'# {" ".join(k)}\n')
        pts = ([(1, 1.0, one[0]["samples_per_s"])] if one else []) + [(r["ranks"], r["efficiency"] or 0, r["samples_per_s"]) for r in sorted(rs, key=lambda r: r["ranks"])]
        for n, e, s in pts: f.write(f"{n} {e:.4f} {s:.1f}\n")
        f.write("\n\n")
with open(os.path.join(out, "series.txt"), "w") as f:
    for k in sorted(series): f.write(" ".join(k) + "\n")
PY

if command -v gnuplot >/dev/null 2>&1; then
  {
    echo 'set terminal pngcairo size 1200,520 font ",10" noenhanced'
    echo "set output '$out/scaling.png'"
    echo 'set multiplot layout 1,2 title "rdrop scaling: '"$(basename "$config")"'"'
    i=0
    for m in strong weak; do
      grep -q "^$m " "$out/series.txt" 2>/dev/null || continue
      echo "set title '$m scaling'; set xlabel 'ranks'; set ylabel 'efficiency vs 1 rank'; set yrange [0:1.2]; set xtics 1; set grid; set key top right"
      plot="plot 1 title 'ideal' lw 1 dt 2 lc rgb 'gray'"
      idx=0
      while read -r sm sw sl sa; do
        [ "$sm" = "$m" ] && plot="$plot, '$out/plot.dat' index $idx using 1:2 with linespoints lw 2 title '$sw $sl $sa'"
        idx=$((idx + 1))
      done < "$out/series.txt"
      echo "$plot"
      i=$((i + 1))
    done
    echo 'unset multiplot'
  } > "$out/scaling.gp"
  gnuplot "$out/scaling.gp" && say "plot: $out/scaling.png" || say "notice: gnuplot failed (script $out/scaling.gp)"
else
  say "notice: gnuplot not installed: no plot (apt-get install gnuplot-nox); data in $out/plot.dat"
fi
say "table: $out/scaling.md  csv: $out/scaling.csv"
