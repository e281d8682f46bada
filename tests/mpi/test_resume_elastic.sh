#!/usr/bin/env bash
# labels: mpi;resume
# Elastic resume: a checkpoint written by 2 ranks continues on 1 rank and on 3 ranks (global
# batch kept), with a one-line warning that the trajectory differs from a 2-rank run.
source "$(dirname "$0")/lib.sh"

common=(--set checkpoint.every_steps=10 --set training.log_every_steps=10)
run_mpi 2 train "$TINY" --out "$TMP/two" "${common[@]}" --set training.max_steps=40 > "$TMP/log" 2>&1 \
  || { rc=$?; cat "$TMP/log"; fail "2-rank run exited $rc"; }
for n in 1 3; do
  cp -r "$TMP/two" "$TMP/to$n"
  run_mpi $n train "$TINY" --out "$TMP/to$n" "${common[@]}" --set training.max_steps=70 --resume auto \
    > "$TMP/log$n" 2>&1 || { rc=$?; cat "$TMP/log$n"; fail "resume on $n ranks exited $rc"; }
  grep "elastic resume" "$TMP/log$n" || fail "no elastic-resume warning on $n ranks"
  [ "$(grep -c "elastic resume" "$TMP/log$n")" -eq 1 ] || fail "the warning is not one line"
  grep -q "resuming from .*ckpt-000000040.h5" "$TMP/log$n" || fail "$n ranks did not resume from step 40"
  "$RDROP" inspect "$TMP/to$n/ckpt-000000070.h5" > "$TMP/insp$n" || fail "no final checkpoint on $n ranks"
  grep -q "world size    $n ranks" "$TMP/insp$n" || fail "final checkpoint does not record $n ranks"
  loss=$(json_field "$TMP/to$n/metrics.jsonl" train ce)
  echo "$n ranks: continued to step 70, last cross-entropy $loss"
  $PY -c "import math,sys; sys.exit(0 if math.isfinite($loss) and $loss < 1.0 else 1)" || fail "training did not continue sensibly"
done
pass "2-rank checkpoint resumed on 1 and 3 ranks"
