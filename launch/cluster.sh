#!/usr/bin/env bash
# An emulated multi-node cluster on one machine, and a command run across it with mpirun.
#
# usage: launch/cluster.sh [options] [--] COMMAND [ARGS...]
#        launch/cluster.sh clean
#   -n, --nodes N        emulated nodes (default 3)
#   -p, --ppn R          ranks per node (default 1)
#   -t, --threads T      OpenBLAS threads per rank (default 1; warns when R x T > cores)
#   --bw RATE            link bandwidth, each direction (tc rate: 1gbit, 10gbit, 500mbit); default unlimited
#   --delay D            one-way delay added to every packet a node sends (1ms, 500us); default none
#   --sysctl KEY=VALUE   a network sysctl set inside every node's namespace (repeatable), e.g.
#                        net.ipv4.tcp_slow_start_after_idle=0 as MPI-over-TCP clusters set it
#   --timeout S          job time limit in seconds (mpirun --timeout; default 600)
#   --mpirun-arg ARG     extra mpirun argument (repeatable)
#   --no-mpirun          run COMMAND as is on node0: it finds the hostfile in $CLUSTER_HOSTFILE, the
#                        full mpirun prefix in $CLUSTER_MPIRUN (one argument per line), and the
#                        cluster's settings as OMPI_MCA_* defaults, so a plain
#                        `mpirun --hostfile $CLUSTER_HOSTFILE ...` (or launch/mpirun.sh) works
#   --counters FILE      write the switch-port byte counters (node rx_bytes tx_bytes) after the job
#   -q, --quiet          no set-up/teardown messages
#   clean                remove what crashed earlier runs left (namespaces, /etc/netns entries, temp dirs)
#
# Each node is a network namespace "rdropc<PID>-node<i>" (PID = this script's) with its own eth0
# (10.77.0.<10+i>/24) and, under mpirun, its own hostname node<i> (unshare --uts). All eth0s are
# veths into a bridge in a separate switch namespace "rdropc<PID>-sw": nothing is added to the
# root namespace and no packet can leave the machine. mpirun runs on node0 and starts the other
# nodes' orted through launch/cluster-agent.sh (instead of ssh). Bandwidth: tbf on both ends of
# every link. Delay: the kernel's netem if present, else an iptables NFQUEUE rule on every node's
# egress plus launch/nfqdelay.c (built on the fly) holding each packet D and releasing it in order.
#
# SIGTERM/SIGINT to this script become SIGUSR1 to mpirun, which forwards it to every rank
# (rdrop checkpoints at the same step and exits 75); a second SIGINT kills the job.
# Exit status: the command's (mpirun's); 77 when network namespaces cannot be created here
# (not root, no CAP_NET_ADMIN, no veth/bridge support); 2 usage; 1 other set-up failures.
# Teardown always runs (trap): processes inside this run's namespaces are killed by PID
# (ip netns pids), namespaces, /etc/netns/<name> and the temp dir removed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=rdropc
SUBNET=10.77.0
nodes=3 ppn=1 threads=1 bw="" delay="" job_timeout=600 no_mpirun=0 counters="" quiet=0 extra=() sysctls=()

say() { [ "$quiet" = 1 ] || echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit "${2:-1}"; }
skip() { echo "cluster: SKIP: $*" >&2; exit 77; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# ---- leftovers of crashed runs -----------------------------------------------------------
owner_alive() {   # PID: is it a running cluster.sh?
  [[ "$(tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline")" == *cluster.sh* ]]
}
kill_ns_pids() {  # NS: TERM then KILL every process in the namespace (only ours: we made it)
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for i in $(seq 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    sleep 0.05
  done
  kill -KILL $pids 2>/dev/null || true
  for i in $(seq 20); do
    [ -n "$(ip netns pids "$ns" 2>/dev/null || true)" ] || return 0
    sleep 0.05
  done
}
clean_leftovers() {
  local ns pid d n=0
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NAME[0-9]*-" || true); do
    pid=${ns#"$NAME"}; pid=${pid%%-*}
    [ "$pid" = "$$" ] && continue
    owner_alive "$pid" && continue
    kill_ns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
    n=$((n + 1))
  done
  for d in /etc/netns/$NAME[0-9]*-*; do
    [ -e "$d" ] || continue
    pid=${d#/etc/netns/"$NAME"}; pid=${pid%%-*}
    owner_alive "$pid" || rm -rf "$d"
  done
  for d in "${TMPDIR:-/tmp}"/rdrop-cluster.*; do
    [ -d "$d" ] || continue
    pid=${d##*/rdrop-cluster.}; pid=${pid%%.*}
    [ "$pid" = "$$" ] || owner_alive "$pid" || { rm -rf "$d"; n=$((n + 1)); }
  done
  [ $n -eq 0 ] || say "removed $n leftovers of earlier crashed runs"
}

# ---- arguments ----------------------------------------------------------------------------
if [ "${1:-}" = clean ]; then
  [ "$(id -u)" -eq 0 ] || die "clean needs root"
  clean_leftovers; exit 0
fi
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--nodes) nodes=$2; shift 2 ;;
    -p|--ppn) ppn=$2; shift 2 ;;
    -t|--threads) threads=$2; shift 2 ;;
    --bw) bw=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --sysctl) sysctls+=("$2"); shift 2 ;;
    --timeout) job_timeout=$2; shift 2 ;;
    --mpirun-arg) extra+=("$2"); shift 2 ;;
    --no-mpirun) no_mpirun=1; shift ;;
    --counters) counters=$2; shift 2 ;;
    -q|--quiet) quiet=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || die "no command given (see --help)" 2
[[ "$nodes" =~ ^[0-9]+$ && "$nodes" -ge 1 && "$nodes" -le 200 ]] || die "--nodes must be 1..200" 2
[[ "$ppn" =~ ^[0-9]+$ && "$ppn" -ge 1 ]] || die "--ppn must be >= 1" 2
[[ "$threads" =~ ^[0-9]+$ && "$threads" -ge 1 ]] || die "--threads must be >= 1" 2
[[ "$job_timeout" =~ ^[0-9]+$ && "$job_timeout" -ge 1 ]] || die "--timeout must be seconds >= 1" 2
delay_us=0
if [ -n "$delay" ]; then
  case "$delay" in
    *us) delay_us=${delay%us} ;;
    *ms) delay_us=$(awk -v v="${delay%ms}" 'BEGIN{printf "%d", v*1000}') ;;
    *s) delay_us=$(awk -v v="${delay%s}" 'BEGIN{printf "%d", v*1000000}') ;;
    *) die "--delay wants a unit: 500us, 1ms" 2 ;;
  esac
  [[ "$delay_us" =~ ^[0-9]+$ ]] || die "bad --delay $delay" 2
fi

# ---- can this machine do it? ------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "iproute2 (ip) not installed"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) not installed"
command -v mpirun >/dev/null 2>&1 || die "mpirun not found: install Open MPI (bash launch/deps.sh)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

P="$NAME$$-"
SW="${P}sw"
T=""
mp=""
wd=""
teardown_done=0
etc_netns_made=0
teardown() {
  [ $teardown_done = 1 ] && return
  teardown_done=1
  local t0 i ns
  t0=$(date +%s.%N)
  [ -n "$wd" ] && kill "$wd" 2>/dev/null || true
  if [ -n "$counters" ] && [ -e "/run/netns/$SW" ]; then
    : > "$counters"
    for i in $(seq 0 $((nodes - 1))); do
      [ -n "$(ip -n "$SW" link show "v$i" 2>/dev/null)" ] || continue
      # the switch port's rx is what node i sent, its tx what node i received
      echo "node$i $(ip netns exec "$SW" cat /sys/class/net/v$i/statistics/rx_bytes) $(ip netns exec "$SW" cat /sys/class/net/v$i/statistics/tx_bytes)" >> "$counters"
    done
  fi
  for i in $(seq 0 $((nodes - 1))); do kill_ns_pids "${P}node$i"; done
  kill_ns_pids "$SW"
  for i in $(seq 0 $((nodes - 1))); do
    ns="${P}node$i"
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  ip netns del "$SW" 2>/dev/null || true
  [ "$etc_netns_made" = 1 ] && rmdir /etc/netns 2>/dev/null || true
  [ -n "$T" ] && rm -rf "$T"
  say "torn down in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

clean_leftovers
etc_netns_made=0
[ -d /etc/netns ] || etc_netns_made=1
tmpl="rdrop-cluster.$$.$(printf 'X%.0s' 1 2 3 4 5 6)"   # mktemp template: six random characters
T=$(mktemp -d "${TMPDIR:-/tmp}/$tmpl")
chmod 755 "$T"
t0=$(date +%s.%N)

# ---- topology --------------------------------------------------------------------------------
ip netns add "$SW" 2>"$T/err" || skip "cannot create a network namespace: $(cat "$T/err")"
ip -n "$SW" link add br0 type bridge 2>"$T/err" || skip "cannot create a bridge: $(cat "$T/err")"
ip -n "$SW" link set lo up
ip -n "$SW" link set br0 up
{
  echo "127.0.0.1 localhost"
  for i in $(seq 0 $((nodes - 1))); do echo "$SUBNET.$((10 + i)) node$i"; done
} > "$T/hosts"
for i in $(seq 0 $((nodes - 1))); do
  ns="${P}node$i"
  ip netns add "$ns"
  ip -n "$SW" link add "v$i" type veth peer name eth0 netns "$ns" 2>"$T/err" \
    || skip "cannot create a veth pair: $(cat "$T/err")"
  ip -n "$SW" link set "v$i" master br0 up
  ip -n "$ns" addr add "$SUBNET.$((10 + i))/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  mkdir -p "/etc/netns/$ns"
  cp "$T/hosts" "/etc/netns/$ns/hosts"
  for kv in "${sysctls[@]}"; do
    ip netns exec "$ns" sysctl -q -w "$kv" || die "--sysctl $kv: cannot set it in $ns"
  done
done

# ---- link emulation ------------------------------------------------------------------------
tc_opts=()
if [ -n "$bw" ]; then
  # bucket = 1 ms at the line rate, at least 64 KiB (one GSO packet must fit)
  burst=$(awk -v r="$bw" 'BEGIN{
      n = r + 0; u = tolower(substr(r, length(n "") + 1));
      m = (u ~ /^g/) ? 1e9 : (u ~ /^m/) ? 1e6 : (u ~ /^k/) ? 1e3 : 1;
      b = n * m / 8 / 1000; if (b < 65536) b = 65536; printf "%d", b }')
  tc_opts=(tbf rate "$bw" burst "$burst" latency 20ms)
fi
netem=0
if [ "$delay_us" -gt 0 ]; then
  if ip netns exec "$SW" tc qdisc add dev lo root netem delay 1us 2>/dev/null; then
    netem=1; ip netns exec "$SW" tc qdisc del dev lo root
  else
    command -v iptables >/dev/null 2>&1 || die "--delay: this kernel has no netem and iptables is missing (apt-get install iptables)"
    command -v cc >/dev/null 2>&1 || die "--delay: a C compiler is needed to build launch/nfqdelay.c"
    cc -O2 -std=gnu11 -o "$T/nfqdelay" "$HERE/nfqdelay.c" || die "--delay: building launch/nfqdelay.c failed"
  fi
fi
for i in $(seq 0 $((nodes - 1))); do
  ns="${P}node$i"
  if [ $netem = 1 ]; then
    ip netns exec "$ns" tc qdisc replace dev eth0 root netem delay "${delay_us}us" ${bw:+rate "$bw"}
    [ -n "$bw" ] && ip netns exec "$SW" tc qdisc replace dev "v$i" root "${tc_opts[@]}"
  else
    if [ -n "$bw" ]; then
      ip netns exec "$ns" tc qdisc replace dev eth0 root "${tc_opts[@]}"
      ip netns exec "$SW" tc qdisc replace dev "v$i" root "${tc_opts[@]}"
    fi
    if [ "$delay_us" -gt 0 ]; then
      ip netns exec "$ns" iptables -t mangle -A POSTROUTING -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass \
        || die "--delay: iptables NFQUEUE rule failed on node$i"
      ip netns exec "$ns" "$T/nfqdelay" "$delay_us" 0 > "$T/nfqdelay.$i.log" 2>&1 &
    fi
  fi
done
if [ "$delay_us" -gt 0 ] && [ $netem = 0 ]; then
  for i in $(seq 0 $((nodes - 1))); do
    for k in $(seq 100); do grep -q ready "$T/nfqdelay.$i.log" 2>/dev/null && break; sleep 0.02; done
    grep -q ready "$T/nfqdelay.$i.log" || die "nfqdelay on node$i did not start: $(cat "$T/nfqdelay.$i.log")"
  done
fi
link="unlimited"
[ -n "$bw" ] && link="$bw"
[ "$delay_us" -gt 0 ] && link="$link + ${delay_us}us one-way ($([ $netem = 1 ] && echo netem || echo NFQUEUE helper))"
say "$nodes nodes (node0..node$((nodes - 1)), $SUBNET.10-$((9 + nodes))/24, namespaces ${P}*), links: $link; up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"

# ---- the job -----------------------------------------------------------------------------------
cores=$(nproc)
if [ $((ppn * threads)) -gt "$cores" ]; then
  say "warning: $ppn ranks x $threads threads per node exceed the $cores cores (slower, not wrong)"
fi
export OPENBLAS_NUM_THREADS=$threads
export RDROP_CLUSTER_PREFIX=$P
cp "$HERE/cluster-agent.sh" "$T/agent"
chmod 755 "$T/agent"
mkdir -p "$T/ompi"
for i in $(seq 0 $((nodes - 1))); do echo "node$i slots=$ppn"; done > "$T/hostfile"
ranks=$((nodes * ppn))
margs=(mpirun -np "$ranks" --hostfile "$T/hostfile" --map-by "ppr:$ppn:node" --bind-to none
  --mca plm_rsh_agent "$T/agent" --mca plm_rsh_no_tree_spawn 1 --leave-session-attached
  --mca btl tcp,self,vader --mca btl_tcp_if_include "$SUBNET.0/24" --mca oob_tcp_if_include "$SUBNET.0/24"
  --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3
  --mca orte_tmpdir_base "$T/ompi" --timeout "$job_timeout" -x OPENBLAS_NUM_THREADS)
[ "$ranks" -gt "$cores" ] && margs+=(--mca mpi_yield_when_idle 1)
margs+=("${extra[@]}")
if [ $no_mpirun = 1 ]; then
  export CLUSTER_MPIRUN
  CLUSTER_MPIRUN=$(printf '%s\n' "${margs[@]}")
  export CLUSTER_HOSTFILE=$T/hostfile
  # the same settings as MCA defaults, so any mpirun (e.g. launch/mpirun.sh --hostfile
  # $CLUSTER_HOSTFILE) works here as on a cluster whose admins configured Open MPI
  export OMPI_MCA_plm_rsh_agent=$T/agent OMPI_MCA_plm_rsh_no_tree_spawn=1 OMPI_MCA_orte_leave_session_attached=1
  export OMPI_MCA_btl=tcp,self,vader OMPI_MCA_btl_tcp_if_include=$SUBNET.0/24 OMPI_MCA_oob_tcp_if_include=$SUBNET.0/24
  export OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3
  export OMPI_MCA_orte_tmpdir_base=$T/ompi
  cmd=("$@")
else
  cmd=("${margs[@]}" "$@")
fi
ip netns exec "${P}node0" unshare --uts sh -c 'hostname node0 && exec "$@"' sh "${cmd[@]}" < /dev/null &
mp=$!
# the watchdog lives in the switch namespace, so that even a kill -9 of this script leaves
# nothing behind that the next run's leftover cleanup (ip netns pids) would not find
ip netns exec "$SW" sleep $((job_timeout + 30)) &
wd=$!
interrupts=0
forward() {
  interrupts=$((interrupts + 1))
  if [ "$1" = INT ] && [ $interrupts -gt 1 ]; then
    say "second SIGINT: killing the job"; kill -KILL "$mp" 2>/dev/null || true; return
  fi
  say "$1 received: asking every rank to checkpoint and stop (SIGUSR1 to mpirun)"
  kill -USR1 "$mp" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'kill -USR1 $mp 2>/dev/null || true' USR1
rc=0
while :; do
  set +e
  wait -n -p done_pid "$mp" "$wd"
  rc=$?
  set -e
  if [ "${done_pid:-}" = "$wd" ]; then
    say "job exceeded --timeout $job_timeout by 30 s and did not stop: killing it"
    wd=""
    kill -TERM "$mp" 2>/dev/null || true
    sleep 5
    kill -KILL "$mp" 2>/dev/null || true
    wait "$mp" 2>/dev/null || true
    rc=124
    break
  fi
  [ "${done_pid:-}" = "$mp" ] && break
  kill -0 "$mp" 2>/dev/null || { wait "$mp" 2>/dev/null; rc=$?; break; }
  unset done_pid
done
exit $rc
