#!/usr/bin/env bash
# labels: cluster
# 3 emulated nodes x 1 rank (launch/cluster.sh: network namespaces on a bridge, Open MPI over
# TCP on 10.77.0.0/24): the tiny config trains for real; the ranks run on three distinct hosts
# (mpirun's job map and each rank's hostname); every checkpoint's weights CRC-32 is equal on all
# 3 ranks; the gradient traffic crosses the veths (switch-port byte counters); a run stopped at
# step 40 resumes on the cluster and ends bitwise identical to the uninterrupted run. Also
# launch/mpirun.sh with the cluster's hostfile. Skips (77) where namespaces cannot be created.
source "$(dirname "$0")/lib.sh"
CLUSTER=(timeout -k 10 240 bash "$SRC/launch/cluster.sh" --timeout 180)

set +e
"${CLUSTER[@]}" -n 3 --counters "$TMP/counters" --mpirun-arg --display-map -- \
  "$RDROP" train "$TINY" --out "$TMP/a" --set checkpoint.every_steps=20 > "$TMP/loga" 2>&1
rc=$?
set -e
[ $rc -eq 77 ] && { cat "$TMP/loga"; echo "SKIP: cannot create network namespaces here"; exit 77; }
[ $rc -eq 0 ] || { cat "$TMP/loga"; fail "3-node run exited $rc"; }
grep -q "ranks 3 " "$TMP/loga" || fail "rdrop did not see 3 ranks"
for i in 0 1 2; do
  grep -A1 "Data for node: node$i" "$TMP/loga" | grep -q "Process rank: $i" \
    || { cat "$TMP/loga"; fail "job map: rank $i is not on node$i"; }
done
grep -q '"host":"node0"' "$TMP/a/status.json" || fail "rank 0 did not run on host node0: $(cat "$TMP/a/status.json")"
n=$(grep -c "equal on all 3 ranks" "$TMP/loga" || true)
[ "$n" -ge 5 ] || { cat "$TMP/loga"; fail "expected >= 5 checkpoints with equal weights on 3 ranks, got $n"; }
grep -q "final test accuracy" "$TMP/loga" || fail "no final accuracy"
echo "3 nodes: $(grep 'final test accuracy' "$TMP/loga")"

# traffic: every node sent and received at least half of one gradient buffer per step
params=2372; steps=96
min=$((steps * (params + 8) * 4 / 2))
cat "$TMP/counters"
while read -r node rx tx; do
  [ "$rx" -ge $min ] && [ "$tx" -ge $min ] || fail "$node: switch port saw rx $rx tx $tx bytes, want >= $min each"
done < "$TMP/counters"
[ "$(wc -l < "$TMP/counters")" -eq 3 ] || fail "expected counters for 3 switch ports"

# distinct hostnames seen by the ranks themselves, launched through launch/mpirun.sh + hostfile
"${CLUSTER[@]}" -q -n 3 --no-mpirun -- \
  sh -c 'bash "$0/launch/mpirun.sh" -N 1 --hostfile "$CLUSTER_HOSTFILE" -- hostname' "$SRC" > "$TMP/hosts" 2> "$TMP/hosts.err" \
  || { cat "$TMP/hosts" "$TMP/hosts.err"; fail "launch/mpirun.sh --hostfile on the cluster failed"; }
# (stderr apart: Open MPI's rsh launcher may warn "setpgid(...) failed" when an orted execs first)
[ "$(sort "$TMP/hosts" | tr '\n' ' ')" = "node0 node1 node2 " ] || fail "hostnames: $(cat "$TMP/hosts")"

# resume across the cluster: stop at step 40 (max_steps), continue to the end, compare bitwise
"${CLUSTER[@]}" -q -n 3 -- "$RDROP" train "$TINY" --out "$TMP/b" --set checkpoint.every_steps=20 \
  --set training.max_steps=40 > "$TMP/logb" 2>&1 || { cat "$TMP/logb"; fail "run to step 40 failed"; }
"${CLUSTER[@]}" -q -n 3 -- "$RDROP" train "$TINY" --out "$TMP/b" --set checkpoint.every_steps=20 \
  --resume auto > "$TMP/logr" 2>&1 || { cat "$TMP/logr"; fail "resume on the cluster failed"; }
grep -q "resuming from .*ckpt-000000040.h5" "$TMP/logr" || { cat "$TMP/logr"; fail "did not resume from step 40"; }
$COMPARE "$TMP/a/ckpt-000000096.h5" "$TMP/b/ckpt-000000096.h5" --groups model,optimizer,data --attrs \
  || fail "resumed 3-node run differs from the uninterrupted one"
[ -z "$(ip netns list | grep "^rdropc" || true)" ] || echo "note: other cluster namespaces exist (another run?)"
pass "3 emulated nodes: trained, distinct hosts, equal weights, traffic on the veths, exact resume"
