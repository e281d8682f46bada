#!/usr/bin/env bash
# labels: mpi;resume
# When checkpoints happen: every_seconds (rank 0's clock decides for all ranks),
# training.max_seconds (checkpoint, stop, exit 75, resumable), keep (only the newest K
# ckpt-*.h5 remain), and never a half-written file under *.h5.
source "$(dirname "$0")/lib.sh"

time_only=(--set checkpoint.every_steps=0 --set checkpoint.every_epochs=0)
run_mpi 2 train "$TINY" --out "$TMP/sec" "${SLOW[@]}" "${time_only[@]}" --set checkpoint.every_seconds=0.3 --set checkpoint.keep=1000 \
  > "$TMP/log1" 2>&1 || { rc=$?; cat "$TMP/log1"; fail "every_seconds run exited $rc"; }
n=$(ls "$TMP/sec"/ckpt-*.h5 | wc -l)
elapsed=$(json_field "$TMP/sec/metrics.jsonl" train time_s)
echo "every_seconds 0.3 over ${elapsed}s: $n checkpoints"
$PY -c "import sys; sys.exit(0 if $n >= max(2, int($elapsed / 0.3) // 2) else 1)" || fail "too few time-based checkpoints ($n)"
grep -c "equal on all 2 ranks" "$TMP/log1" | grep -qx "$n" || fail "checkpoint count differs from the log"

set +e
run_mpi 2 train "$TINY" --out "$TMP/max" "${SLOW[@]}" "${time_only[@]}" --set training.max_seconds=0.5 \
  > "$TMP/log2" 2>&1
rc=$?
set -e
[ $rc -eq 75 ] || { cat "$TMP/log2"; fail "max_seconds run exited $rc, want 75"; }
grep -q "stopped at step [0-9]* on training.max_seconds" "$TMP/log2" || fail "no max_seconds stop message"
[ "$(ls "$TMP/max"/ckpt-*.h5 | wc -l)" -eq 1 ] || fail "want exactly the stop checkpoint"
run_mpi 2 train "$TINY" --out "$TMP/max" "${SLOW[@]}" --resume auto > "$TMP/log3" 2>&1 || fail "resume after max_seconds exited $?"
[ -f "$TMP/max/ckpt-000001000.h5" ] || fail "resumed run did not finish"

run_mpi 2 train "$TINY" --out "$TMP/keep" --set checkpoint.every_steps=5 --set checkpoint.keep=2 \
  > "$TMP/log4" 2>&1 || fail "keep run exited $?"
[ "$(ls "$TMP/keep"/ckpt-*.h5 | xargs -n1 basename | tr '\n' ' ')" = "ckpt-000000095.h5 ckpt-000000096.h5 " ] \
  || fail "keep 2: $(ls "$TMP/keep")"
[ -z "$(find "$TMP" -name '*.tmp')" ] || fail "temporary files left"
pass "every_seconds, max_seconds (exit 75 + resume) and keep work"
