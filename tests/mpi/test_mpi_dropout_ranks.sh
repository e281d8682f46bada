#!/usr/bin/env bash
# labels: mpi
# With dropout on, every rank draws its own masks, yet the weights stay bitwise equal on all
# ranks: each checkpoint compares a CRC-32 of every rank's parameter buffer (allreduce MIN/MAX)
# and the run would stop with a named error otherwise. Also: 2-rank runs are reproducible
# bitwise, and a 2-rank run differs from a 1-rank one (rank streams are independent).
source "$(dirname "$0")/lib.sh"

common=(--set training.max_steps=20 --set checkpoint.every_steps=5 --set checkpoint.every_epochs=0)
run_mpi 2 train "$TINY" --out "$TMP/a" "${common[@]}" > "$TMP/loga" 2>&1 || { rc=$?; cat "$TMP/loga"; fail "run a exited $rc"; }
grep -c "equal on all 2 ranks" "$TMP/loga" | grep -qx 4 || { cat "$TMP/loga"; fail "expected 4 checkpoints with equal CRCs on 2 ranks"; }
run_mpi 2 train "$TINY" --out "$TMP/b" "${common[@]}" > "$TMP/logb" 2>&1 || fail "run b exited $?"
$COMPARE "$TMP/a/ckpt-000000020.h5" "$TMP/b/ckpt-000000020.h5" --groups model,optimizer --attrs || fail "two identical 2-rank runs differ"
run_mpi 1 train "$TINY" --out "$TMP/c" "${common[@]}" > "$TMP/logc" 2>&1 || fail "1-rank run exited $?"
if $COMPARE "$TMP/a/ckpt-000000020.h5" "$TMP/c/ckpt-000000020.h5" --groups model >/dev/null; then
  fail "1-rank and 2-rank runs with dropout are bitwise equal: rank streams are not independent"
fi
pass "dropout on: weights equal on all ranks at 4 checkpoints; runs reproducible; ranks draw their own masks"
