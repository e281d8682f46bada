#!/usr/bin/env bash
# labels: mpi
# Progress output (docs/quickstart.md "Progress"): the same 2-rank run once with mpirun's stdout
# on a pseudo-terminal (script -qc) and once into a file. On the terminal: a live line redrawn
# with "\r" at most 4 times a second, the start-up phases on it, the model table; in the file:
# no "\r", a row every training.log_every_steps, the start-up phase as a plain line. Either
# way metrics.jsonl is the same (timing fields aside): progress never changes the run's files.
source "$(dirname "$0")/lib.sh"
command -v script >/dev/null 2>&1 || { echo "SKIP: script (bsdutils) not installed"; exit 77; }

# 1,024 steps of 16 samples (8 epochs of 128 steps: long enough for several redraws on a quiet
# machine too), a row every 64 steps, evaluation and a checkpoint at the end only
ARGS=(train "$TINY" --set data.synthetic.features=256 --set model.layers.1.units=512 --set data.batch_size=16
      --set training.epochs=100 --set training.max_steps=1024 --set training.log_every_steps=64
      --set training.eval_every_epochs=0 --set checkpoint.every_epochs=0)

run_mpi 2 "${ARGS[@]}" --out "$TMP/plain" > "$TMP/plain.log" 2>&1 || { cat "$TMP/plain.log"; fail "plain run exited $?"; }

cmd=$(printf '%q ' timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
      -x OPENBLAS_NUM_THREADS "$RDROP" "${ARGS[@]}" --out "$TMP/tty")
t0=$(date +%s.%N)
script -qec "$cmd" /dev/null < /dev/null > "$TMP/tty.log" 2>&1 || { cat "$TMP/tty.log"; fail "terminal run exited $?"; }
t1=$(date +%s.%N)

same_metrics "$TMP/plain/metrics.jsonl" "$TMP/tty/metrics.jsonl" || fail "metrics.jsonl differs with a terminal"

# without a terminal: plain lines only
! grep -q $'\r' "$TMP/plain.log" || fail "carriage returns in the output to a file"
grep -q '^rdrop: loading and checking the training and test data' "$TMP/plain.log" || { cat "$TMP/plain.log"; fail "no start-up phase line in the file"; }
rows=$(grep -c '^epoch ' "$TMP/plain.log" || true)
[ "$rows" = 16 ] || { cat "$TMP/plain.log"; fail "$rows progress rows in the file, want 16 (every 64 of 1024 steps)"; }

# on a terminal: live redraws ("\r" then the text, no newline), rate-limited
tr -d '\n' < "$TMP/tty.log" | tr '\r' '\n' > "$TMP/redraws"   # one line per carriage return
live=$(grep -c '^epoch [0-9]*/[0-9]*  step [0-9]*/[0-9]*' "$TMP/redraws" || true)
grep -q '^loading and checking the training and test data' "$TMP/redraws" || fail "the data phase was not shown on the live line"
wall=$($PY -c "print(f\"{$t1 - $t0:.1f}\")")
echo "terminal run: $live live redraws of the step line in ${wall}s"
[ "$live" -ge 2 ] || { cat -A "$TMP/tty.log" | head -c 3000; fail "no live line on the terminal"; }
$PY -c "import sys; sys.exit(0 if $live <= 4 * $wall + 1 else 1)" || fail "$live redraws in ${wall}s: more than 4 a second"
for f in plain.log tty.log; do
  grep -q 'dense_0 .* 131,584  relu, max_norm 3' "$TMP/$f" || { cat "$TMP/$f"; fail "$f: no model table row for dense_0"; }
done
pass "live line on a terminal ($live redraws in ${wall}s), plain rows in a file, same metrics"
