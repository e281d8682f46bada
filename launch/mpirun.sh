#!/usr/bin/env bash
# Run a command under Open MPI with rdrop's defaults.
#
# usage: launch/mpirun.sh [-n RANKS] [-N RANKS_PER_NODE] [-t THREADS] [--hostfile FILE | -H HOSTS]
#                         [--bind-to WHAT] [--mpirun-arg ARG]... [--dry-run] [--] COMMAND [ARGS...]
#   -n RANKS            total ranks (default 2; with -N and a hostfile/-H: RANKS_PER_NODE x hosts)
#   -N RANKS_PER_NODE   ranks per node (--map-by ppr:R:node)
#   -t THREADS          OpenBLAS threads per rank (default 1; warns when ranks per node x threads
#                       exceed the cores); for `rdrop train` also passes --set run.blas_threads=THREADS
#   --hostfile FILE     Open MPI hostfile for a multi-node run ("host slots=N" per line)
#   -H HOSTS            comma-separated hosts instead of a hostfile (host or host:slots)
#   --bind-to WHAT      none (default: ranks float, best when ranks share cores with other work),
#                       core, socket, ... (passed to mpirun)
#   --mpirun-arg ARG    pass ARG to mpirun (repeatable)
#   --dry-run           print the mpirun command instead of running it
# SIGTERM/SIGINT to this script become SIGUSR1 to mpirun (which forwards it to every rank:
# checkpoint and exit 75; mpirun itself would SIGTERM then SIGKILL the ranks); SIGUSR1 is passed
# on as is; a second SIGINT kills the job. Exit status: mpirun's (75 = stopped with a checkpoint).
set -euo pipefail

ranks="" per_node="" threads=1 threads_set=0 hostfile="" hosts="" bind=none dry=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks=$2; shift 2 ;;
    -N) per_node=$2; shift 2 ;;
    -t) threads=$2; threads_set=1; shift 2 ;;
    --hostfile) hostfile=$2; shift 2 ;;
    -H|--host) hosts=$2; shift 2 ;;
    --bind-to) bind=$2; shift 2 ;;
    --mpirun-arg) extra+=("$2"); shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "launch/mpirun.sh: no command given (see --help)" >&2; exit 2; }
for v in ${ranks:+"$ranks"} ${per_node:+"$per_node"} "$threads"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "launch/mpirun.sh: '$v' is not a positive count (see --help)" >&2; exit 2; }
done
if ! command -v mpirun >/dev/null 2>&1; then
  echo "launch/mpirun.sh: mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev, or bash launch/deps.sh)" >&2
  exit 1
fi
if ! mpirun --version 2>/dev/null | grep -E 'Open MPI|OpenRTE' >/dev/null; then
  echo "launch/mpirun.sh: $(command -v mpirun) is not Open MPI's mpirun ($(mpirun --version 2>&1 | head -n 1)); rdrop's launchers expect Open MPI 4.x (apt-get install openmpi-bin)" >&2
  exit 1
fi
if [ -n "$hostfile" ] && [ ! -r "$hostfile" ]; then
  echo "launch/mpirun.sh: hostfile $hostfile: cannot read" >&2; exit 2
fi

# number of nodes: hosts in the hostfile / -H list (1 for a local run)
nnodes=1
if [ -n "$hostfile" ]; then
  nnodes=$(grep -Ev '^[[:space:]]*(#|$)' "$hostfile" | awk '{print $1}' | sort -u | wc -l)
elif [ -n "$hosts" ]; then
  nnodes=$(tr ',' '\n' <<< "$hosts" | sed 's/:.*//' | grep -v '^$' | sort -u | wc -l)
fi
[ "$nnodes" -ge 1 ] || nnodes=1
if [ -z "$ranks" ]; then
  if [ -n "$per_node" ] && { [ -n "$hostfile" ] || [ -n "$hosts" ]; }; then ranks=$((per_node * nnodes)); else ranks=2; fi
fi

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=$threads
cores=$(nproc)
# ranks on this node: all of them for a local run, else the per-node count (or an even share)
if [ -n "$hostfile" ] || [ -n "$hosts" ]; then
  local_ranks=${per_node:-$(((ranks + nnodes - 1) / nnodes))}
else
  local_ranks=$ranks
fi
if [ $((local_ranks * threads)) -gt "$cores" ]; then
  echo "launch/mpirun.sh: warning: $local_ranks ranks x $threads threads per node exceed the $cores cores of $(hostname) (slower, not wrong)" >&2
fi

args=(-np "$ranks" --bind-to "$bind" -x OPENBLAS_NUM_THREADS)
if [ -z "$hostfile" ] && [ -z "$hosts" ] && [ "$ranks" -gt "$cores" ]; then
  args+=(--oversubscribe --mca mpi_yield_when_idle 1)
fi
[ -n "$hostfile" ] && args+=(--hostfile "$hostfile")
[ -n "$hosts" ] && args+=(--host "$hosts")
[ -n "$per_node" ] && args+=(--map-by "ppr:$per_node:node")

cmd=("$@")
# rdrop reads its BLAS thread count from the config (run.blas_threads), not from the environment
if [ $threads_set = 1 ] && [ "$(basename "$1")" = rdrop ] && [ "${2:-}" = train ]; then
  cmd+=(--set "run.blas_threads=$threads")
fi

if [ $dry = 1 ]; then
  printf '%q ' mpirun "${args[@]}" "${extra[@]}" "${cmd[@]}"; echo
  exit 0
fi

mpirun "${args[@]}" "${extra[@]}" "${cmd[@]}" &
pid=$!
interrupts=0
forward() {
  interrupts=$((interrupts + 1))
  if [ "$1" = INT ] && [ $interrupts -gt 1 ]; then kill -KILL $pid 2>/dev/null || true; return; fi
  echo "launch/mpirun.sh: $1 received: asking every rank to checkpoint and stop (SIGUSR1)" >&2
  kill -USR1 $pid 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'kill -USR1 $pid 2>/dev/null || true' USR1
while :; do
  set +e
  wait $pid
  rc=$?
  set -e
  # wait returns >128 when interrupted by a trapped signal: keep waiting for mpirun.
  if kill -0 $pid 2>/dev/null; then continue; fi
  if [ $rc -gt 128 ]; then set +e; wait $pid; rc=$?; set -e; fi   # the wait was cut by a trap
  exit $rc
done
