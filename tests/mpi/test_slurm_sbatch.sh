#!/usr/bin/env bash
# labels: slurm
# A real SLURM on this machine (launch/slurm-local.sh: munge, slurmctld, two slurmd "nodes"):
#  1. `sbatch launch/slurm.sbatch` (2 nodes x 1 task, srun --mpi=pmix) trains to the end: COMPLETED, ExitCode=0:0.
#  2. a second job gets `scancel --signal=USR1` mid-run: every rank stops at the same step
#     (checkpoint with equal weights on both ranks, both tasks exit 75), ExitCode=75:0.
#  3. resubmitting the same command continues from that checkpoint (--resume auto in the
#     script) and ends bitwise identical to job 1.
# Skips (77) when not root or slurm-wlm/munge/libpmix-dev are missing.
source "$(dirname "$0")/lib.sh"

if [ "${RDROP_SLURM_TEST_INNER:-}" != 1 ]; then
  # bring SLURM up around this very script, run the checks inside, tear down whatever happens
  set +e
  RDROP_SLURM_TEST_INNER=1 RDROP_TEST_OUT=$TMP timeout -k 20 420 \
    bash "$SRC/launch/slurm-local.sh" --nodes 2 -- bash "$0" "$RDROP" "$SRC"
  rc=$?
  set -e
  [ $rc -eq 77 ] && echo "SKIP: no local SLURM possible here"
  exit $rc
fi

D=$RDROP_TEST_OUT
export RDROP
LONG=(--set data.synthetic.features=256 --set model.layers.1.units=512 --set training.epochs=100
      --set training.max_steps=400 --set checkpoint.every_steps=25 --set checkpoint.keep=30
      --set training.log_every_steps=25)
submit() {   # submit NAME RUNDIR: job id
  sbatch --parsable --chdir="$D" --job-name="$1" --nodes=2 --ntasks-per-node=1 --time=5 \
    -o "$D/$1.out" "$SRC/launch/slurm.sbatch" "$TINY" --out "$2" "${LONG[@]}"
}
waitjob() { bash "$SRC/launch/slurm-local.sh" wait "$1" 240; }
sinfo -N
# 1. a complete run
j1=$(submit job1 "$D/r1")
s1=$(waitjob "$j1") || { cat "$D/job1.out"; fail "job $j1 did not finish"; }
echo "job $j1 (full run): $s1"
[[ "$s1" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || { cat "$D/job1.out"; fail "job 1: $s1"; }
grep -q "ranks 2 " "$D/job1.out" || fail "job 1 did not run 2 ranks"
grep -q "final test accuracy" "$D/job1.out" || fail "job 1: no final accuracy"
[ -f "$D/r1/ckpt-000000400.h5" ] || fail "job 1: no final checkpoint"

# 2. USR1 to a running job: checkpoint at the same step on every rank, exit 75
j2=$(submit job2 "$D/r2")
wait_for "$D/r2/ckpt-000000050.h5" 120 || { cat "$D/job2.out"; fail "job 2 wrote no checkpoint at step 50"; }
scancel --signal=USR1 "$j2"
s2=$(waitjob "$j2") || { cat "$D/job2.out"; fail "job $j2 did not end after USR1"; }
echo "job $j2 (scancel --signal=USR1): $s2"
cat "$D/job2.out" | grep -v "^epoch" | grep -v "^rdrop: checkpoint" || true
[[ "$s2" == *"ExitCode=75:0"* ]] || fail "job 2 ended with $s2, want ExitCode=75:0"
step=$(sed -n 's/.*stopped at step \([0-9]*\).*/\1/p' "$D/job2.out")
[ -n "$step" ] && [ "$step" -lt 400 ] || fail "job 2: no 'stopped at step' before the end"
ck=$(printf 'ckpt-%09d.h5' "$step")
grep -q "checkpoint .*$ck (step $step, .*equal on all 2 ranks" "$D/job2.out" \
  || fail "job 2: the stop checkpoint $ck was not confirmed equal on both ranks"
# srun: "vm: task 0: Exited with exit code 75" (or "tasks 0-1: ...") for every rank
$PY - "$D/job2.out" <<'PYEOF' || fail "job 2: srun does not report exit 75 for both ranks"
import re, sys
got = set()
for m in re.finditer(r"tasks? ([0-9,-]+): Exited with exit code 75", open(sys.argv[1]).read()):
    for part in m.group(1).split(","):
        a, _, b = part.partition("-")
        got.update(range(int(a), int(b or a) + 1))
print("tasks that exited 75:", sorted(got))
sys.exit(got != {0, 1})
PYEOF
grep -q '"status":"stopped"' "$D/r2/status.json" || fail "job 2: status.json does not say stopped"
newest=$(ls "$D/r2"/ckpt-*.h5 | sort | tail -n 1)
[ "$(basename "$newest")" = "$ck" ] || fail "job 2: newest checkpoint $newest is not the stop step's"

# 3. resubmit the same command: continues from the stop checkpoint
j3=$(submit job3 "$D/r2")
s3=$(waitjob "$j3") || { cat "$D/job3.out"; fail "job $j3 did not finish"; }
echo "job $j3 (resubmitted): $s3"
[[ "$s3" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || { cat "$D/job3.out"; fail "job 3: $s3"; }
grep -q "resuming from .*$ck" "$D/job3.out" || { cat "$D/job3.out"; fail "job 3 did not resume from $ck"; }
$COMPARE "$D/r1/ckpt-000000400.h5" "$D/r2/ckpt-000000400.h5" --groups model,optimizer,data --attrs >/dev/null \
  || fail "stopped + resubmitted run differs from the uninterrupted job"
pass "SLURM: sbatch completes; USR1 -> checkpoint at step $step on both ranks, ExitCode=75:0; resubmission continues exactly"
