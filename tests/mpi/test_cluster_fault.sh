#!/usr/bin/env bash
# labels: cluster
# Faults on 3 emulated nodes (launch/cluster.sh): kill -9 the rank on node1 mid-training -> the
# job ends non-zero within seconds (no hang) and leaves no namespace or process behind;
# `--resume auto` on the cluster continues from the newest checkpoint; then kill -9 the orted of
# node2 -> the job ends within seconds too; a last resume finishes, and the result is bitwise
# identical to an uninterrupted 3-node run. Skips (77) where namespaces cannot be created.
source "$(dirname "$0")/lib.sh"
RUN=(--set data.synthetic.features=256 --set model.layers.1.units=512 --set training.epochs=100
     --set training.max_steps=300 --set checkpoint.every_steps=25 --set checkpoint.keep=20
     --set training.log_every_steps=25)
LIMIT=20   # seconds a killed job may take to end (measured: ~3 s for a rank, ~1 s for an orted)

set +e
timeout -k 10 240 bash "$SRC/launch/cluster.sh" -q -n 3 --timeout 180 -- \
  "$RDROP" train "$TINY" --out "$TMP/a" "${RUN[@]}" > "$TMP/loga" 2>&1
rc=$?
set -e
[ $rc -eq 77 ] && { cat "$TMP/loga"; echo "SKIP: cannot create network namespaces here"; exit 77; }
[ $rc -eq 0 ] || { cat "$TMP/loga"; fail "uninterrupted 3-node run exited $rc"; }

# procs_in NODE COMM: PIDs named COMM in node NODE of the cluster run by launcher PID $cl
procs_in() {
  local p
  for p in $(ip netns pids "rdropc$cl-node$1" 2>/dev/null || true); do
    local c
    c=$(cat /proc/$p/comm 2>/dev/null || true)
    # a rank re-executed through /proc/self/exe (run.blas_core auto) is named "exe"
    if [ "$c" = "$2" ] || { [ "$2" = rdrop ] && [ "$c" = exe ]; }; then echo "$p"; fi
  done
  return 0
}

# start_run LOG [--resume auto]: the run in the background; sets $cl (cluster.sh's PID)
start_run() {
  local log=$1; shift
  bash "$SRC/launch/cluster.sh" -q -n 3 --timeout 180 -- "$RDROP" train "$TINY" --out "$TMP/b" "${RUN[@]}" "$@" > "$log" 2>&1 &
  cl=$!
}

# kill_and_time NODE COMM CKPT LOG: when CKPT exists, kill -9 COMM on NODE; the job must end non-zero within LIMIT s
kill_and_time() {
  local node=$1 comm=$2 ckpt=$3 log=$4 victim t0 rc i
  for i in $(seq 6000); do
    [ -e "$TMP/b/$ckpt" ] && break
    kill -0 $cl 2>/dev/null || { cat "$log"; fail "the job ended before writing $ckpt"; }
    sleep 0.02
  done
  [ -e "$TMP/b/$ckpt" ] || { cat "$log"; fail "no $ckpt after 120 s"; }
  for i in $(seq 100); do victim=$(procs_in "$node" "$comm" | head -n 1); [ -n "$victim" ] && break; sleep 0.05; done
  [ -n "$victim" ] || fail "no $comm process on node$node"
  kill -KILL "$victim"
  t0=$(date +%s.%N)
  for i in $(seq $((LIMIT * 10))); do kill -0 $cl 2>/dev/null || break; sleep 0.1; done
  if kill -0 $cl 2>/dev/null; then
    kill -TERM $cl; sleep 2; cat "$log"; fail "job still running $LIMIT s after kill -9 of $comm on node$node (hang)"
  fi
  set +e; wait $cl; rc=$?; set -e
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  [ $rc -ne 0 ] || { cat "$log"; fail "job exited 0 after kill -9 of $comm"; }
  echo "kill -9 $comm on node$node (pid $victim) after $ckpt: job ended with exit $rc in $elapsed s"
  [ -z "$(ip netns list | grep "^rdropc$cl-" || true)" ] || fail "namespaces of run $cl left behind"
  [ ! -e "/etc/netns/rdropc$cl-node0" ] || fail "/etc/netns entries of run $cl left behind"
  ! pgrep -f "rdropc$cl-" >/dev/null || fail "processes of run $cl left behind"
}

newest() { ls "$TMP/b"/ckpt-*.h5 | sort | tail -n 1 | xargs basename; }

start_run "$TMP/log1"
kill_and_time 1 rdrop ckpt-000000050.h5 "$TMP/log1"
last=$(newest)
start_run "$TMP/log2" --resume auto
grep_resume() { grep -q "resuming from .*$2" "$1" || { cat "$1"; fail "did not resume from $2"; }; }
# wait for the third every-25-steps checkpoint after it (the newest may be an epoch-end one,
# e.g. step 64 when the kill lands late under load; last + 75 is then no checkpoint step)
step=$(( (10#$(echo "$last" | sed 's/ckpt-\([0-9]*\)\.h5/\1/') / 25 + 3) * 25 ))
kill_and_time 2 orted "$(printf 'ckpt-%09d.h5' $step)" "$TMP/log2"
grep_resume "$TMP/log2" "$last"
last2=$(newest)
timeout -k 10 240 bash "$SRC/launch/cluster.sh" -q -n 3 --timeout 180 -- \
  "$RDROP" train "$TINY" --out "$TMP/b" "${RUN[@]}" --resume auto > "$TMP/log3" 2>&1 \
  || { rc=$?; cat "$TMP/log3"; fail "final resume exited $rc"; }
grep_resume "$TMP/log3" "$last2"
echo "resumed from $last, then from $last2, finished: $(grep 'final test accuracy' "$TMP/log3")"
$COMPARE "$TMP/a/ckpt-000000300.h5" "$TMP/b/ckpt-000000300.h5" --groups model,optimizer,data --attrs >/dev/null \
  || fail "the twice-killed and resumed run differs from the uninterrupted one"
pass "killed rank / orted end the job within seconds; --resume auto on the cluster continues exactly"
