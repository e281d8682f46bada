#!/usr/bin/env bash
# Run a command under Open MPI with rdrop's defaults.
#
# usage: launch/mpirun.sh [-n RANKS] [-N RANKS_PER_NODE] [-t THREADS] [--hostfile FILE]
#                         [-- ] COMMAND [ARGS...]
#   -n RANKS            total ranks (default 2)
#   -N RANKS_PER_NODE   ranks per node (with --hostfile)
#   -t THREADS          OpenBLAS threads per rank (default 1; warns when ranks x threads > cores)
#   --hostfile FILE     Open MPI hostfile for a multi-node run
#   --mpirun-arg ARG    pass ARG to mpirun (repeatable)
# SIGTERM/SIGINT to this script become SIGUSR1 to mpirun (which forwards it to every rank:
# checkpoint and exit 75); a second SIGINT kills the job.
set -euo pipefail

ranks=2 per_node="" threads=1 hostfile="" extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks=$2; shift 2 ;;
    -N) per_node=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --hostfile) hostfile=$2; shift 2 ;;
    --mpirun-arg) extra+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "launch/mpirun.sh: no command given (see --help)" >&2; exit 2; }
command -v mpirun >/dev/null 2>&1 || {
  echo "launch/mpirun.sh: mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev, or bash launch/deps.sh)" >&2
  exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=$threads
cores=$(nproc)
local_ranks=${per_node:-$ranks}
[ -n "$hostfile" ] || local_ranks=$ranks
if [ $((local_ranks * threads)) -gt "$cores" ]; then
  echo "launch/mpirun.sh: warning: $local_ranks ranks x $threads threads exceed the $cores cores of $(hostname) (slower, not wrong)" >&2
fi

args=(-np "$ranks" --bind-to none -x OPENBLAS_NUM_THREADS)
[ "$ranks" -gt "$cores" ] && args+=(--oversubscribe --mca mpi_yield_when_idle 1)
[ -n "$hostfile" ] && args+=(--hostfile "$hostfile")
[ -n "$per_node" ] && args+=(--map-by "ppr:$per_node:node")

mpirun "${args[@]}" "${extra[@]}" "$@" &
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
  exit $rc
done
