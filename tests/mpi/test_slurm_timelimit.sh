#!/usr/bin/env bash
# labels: slurm
# The time-limit path on a real SLURM (launch/slurm-local.sh, 2 nodes): a job submitted with
# launch/slurm.sbatch and `--time=1 --signal=USR1@10` (the script's USR1@120 scaled down) gets
# SIGUSR1 on every rank before its 1-minute limit (SLURM may fire up to ~30 s early), writes a
# checkpoint and ends with ExitCode=75:0 - not killed at the limit (JobState TIMEOUT).
# Takes 20-60 s. Skips (77) when not root or slurm-wlm/munge/libpmix-dev are missing.
source "$(dirname "$0")/lib.sh"

if [ "${RDROP_SLURM_TEST_INNER:-}" != 1 ]; then
  set +e
  RDROP_SLURM_TEST_INNER=1 RDROP_TEST_OUT=$TMP timeout -k 20 300 \
    bash "$SRC/launch/slurm-local.sh" --nodes 2 -- bash "$0" "$RDROP" "$SRC"
  rc=$?
  set -e
  [ $rc -eq 77 ] && echo "SKIP: no local SLURM possible here"
  exit $rc
fi

D=$RDROP_TEST_OUT
export RDROP
# far more steps than fit in a minute; checkpoints only at the stop
j=$(sbatch --parsable --chdir="$D" --nodes=2 --ntasks-per-node=1 --time=1 --signal=USR1@10 -o "$D/job.out" \
      "$SRC/launch/slurm.sbatch" "$TINY" --out "$D/run" --set data.synthetic.features=256 \
      --set model.layers.1.units=512 --set training.epochs=100000 --set checkpoint.every_epochs=0 \
      --set training.log_every_steps=500)
t0=$SECONDS
s=$(bash "$SRC/launch/slurm-local.sh" wait "$j" 200) || { cat "$D/job.out"; fail "job $j did not end"; }
echo "job $j with --time=1 --signal=USR1@10: $s after $((SECONDS - t0)) s"
grep -v "^epoch" "$D/job.out" | grep -v "^rdrop: checkpoint" || true
[[ "$s" == *"ExitCode=75:0"* ]] || fail "job ended with $s, want ExitCode=75:0 (stopped with a checkpoint before the limit)"
[[ "$s" != *TIMEOUT* ]] || fail "the job was killed at its time limit"
step=$(sed -n 's/.*stopped at step \([0-9]*\).*/\1/p' "$D/job.out")
[ -n "$step" ] || fail "no 'stopped at step'"
[ -f "$D/run/$(printf 'ckpt-%09d.h5' "$step")" ] || fail "no checkpoint at the stop step $step"
grep -q "equal on all 2 ranks" "$D/job.out" || fail "the stop checkpoint was not confirmed on both ranks"
pass "SLURM time limit: USR1@10 -> checkpoint at step $step, ExitCode=75:0 before the limit"
