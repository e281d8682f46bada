#!/usr/bin/env bash
# labels: badinput
# Ranks x BLAS threads above the cores is a warning, not an error: one line on stderr
# ("warning: R ranks x T BLAS threads on HOST exceed its C cores (slower, not wrong)"), the run
# finishes with exit 0; under mpirun it is printed once per node, not once per rank.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

cores=$(nproc)
threads=$((cores + 1))
set +e
timeout -k 5 60 "$RDROP" train "$TINY" --out "$TMP/one" --set training.max_steps=5 --set run.blas_threads=$threads \
  > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
cat "$TMP/err"
[ $rc -eq 0 ] || fail "exit $rc, want 0"
[ "$(wc -l < "$TMP/err")" -eq 1 ] || fail "want exactly one line on stderr"
grep -qE "^rdrop: warning: 1 rank x $threads BLAS threads on .* exceed its $cores cores \(slower, not wrong\)$" "$TMP/err" \
  || fail "no warning line"
"$RDROP" inspect "$TMP/one/ckpt-000000005.h5" > /dev/null || fail "no checkpoint"
# two ranks on this node, each with `cores` threads: one warning for the node
run_mpi 2 train "$TINY" --out "$TMP/two" --set training.max_steps=5 --set run.blas_threads=$cores \
  > "$TMP/out2" 2> "$TMP/err2" || { rc=$?; cat "$TMP/out2" "$TMP/err2"; fail "2 ranks exited $rc"; }
cat "$TMP/err2"
[ "$(grep -c "warning: 2 ranks x $cores BLAS threads" "$TMP/err2")" -eq 1 ] || fail "2 ranks: want the warning once"
pass "ranks x threads over the cores: one warning line, exit 0"
