#!/usr/bin/env bash
# The accuracy work still owed, as one resumable queue (issues #13 and #14): every stage is a
# sweep of its own spec (configs/sweeps/), a finished run is skipped and an interrupted one
# resumes from its last checkpoint, so the same command continues where the last machine
# stopped. Run it first thing in a session, in the background, and commit each stage's tables
# (docs/results/, docs/conv.md) as they finish:
#   setsid nohup bash launch/study_queue.sh > runs/study-queue.log 2>&1 < /dev/null &
# The stages (wall time on a 2-core machine, both cores busy); they run in the order 1 2 9 6 7 3
# 4: #14 went first (all its stages are done: 2026-12-06); left: #13's stage 4 (started
# 2026-12-07 00:28 UTC with the winner `lighter30`).
#   1. cnn_best a0 seed 1; dropout, light seed 1   the >= 0.935 CNN, 20 epochs (done 2026-12-06)
#   2. rdrop_overfit_cnn seed 1       #14: a CNN that over-fits (light dropout, no max-norm) (done)
#   3. cnn_best light30, lighter30 seed 1   #13: the VGG with less dropout over 30 epochs (~150 min;
#      done 2026-12-07: lighter30 validation 0.9398, light30 0.9392)
#   4. cnn_best_full WINNER, WINNER-a1 seeds 1-3: the final runs on all 60,000 samples (WINNER:
#      the best validation accuracy of stage 3 and of `light` over 20 epochs, seed 1), one pool
#      of 6 runs three at a time (JOBS4=3 on the 2 cores: the three plain seeds that the claim
#      needs finish together, ~3.75 h, instead of the third starting after ~2.5 h and ending
#      after ~5 h; the same runs per hour), then the with-R-Drop twins at equal epochs (~6.5 h:
#      two passes are ~1.7x a run)
#   6. rdrop_strength_cnn seeds 2, 3  #14 stage (b) (2 x 55 min; done 2026-12-06)
#   7. rdrop_strength_full seed 3     #14 stage (a) (35 min; done 2026-12-06)
#   9. rdrop_overfit_cnn: dropout, a0, a1, a1-k3, dropout-56ep, seeds 1-5: #14 stage (c) on the
#      over-fitting CNN, where seed 1 showed the term's first gain (~52 min per seed; done)
# WINNER=NAME skips the choice.
# STAGES="9 3" runs those stages in that order (default: 1 2 9 6 7 3 4; finished ones skip fast).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
[ -x build/rdrop ] || bash launch/build.sh
stage() { echo "== stage $1: $2 ($(date -u +%H:%M:%S))"; }
run() { SPEC=$1 VARIANTS=${2:-} bash launch/rdrop_strength.sh "${@:3}"; }
# par SPEC VARIANT@SEED...: those runs side by side through rdrop_strength.sh, 1 rank each (one
# per core; a single run gets 2 ranks)
par() {
  local spec=$1 ranks=1 pt pids=() rc=0 pid; shift
  [ $# -eq 1 ] && ranks=2
  for pt in "$@"; do
    SPEC=$spec VARIANTS=${pt%@*} RANKS=$ranks bash launch/rdrop_strength.sh "${pt#*@}" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
  return $rc
}
# the variant with the best validation accuracy on seed 1 (finished runs only)
winner() {
  [ -n "${WINNER:-}" ] && { echo "$WINNER"; return; }
  /usr/bin/python3 - runs/sweep-cnn-best/results.csv "$@" <<'PYEOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "finished" and r["run.seed"] == "1"
        and r["variant"] in sys.argv[2:]]
if not rows:
    sys.exit("study_queue: no finished seed-1 run of " + " ".join(sys.argv[2:]))
print(max(rows, key=lambda r: float(r["best_val_acc"]))["variant"])
PYEOF
}
# All of it in one function, read whole before it runs: editing this file while a queue runs
# cannot change what that queue does.
one() {
  case $1 in
  1) stage 1 "cnn_best a0, dropout, light seed 1"; run configs/sweeps/cnn_best.yaml a0 1
     run configs/sweeps/cnn_best.yaml "dropout light" 1 ;;
  2) stage 2 "rdrop_overfit_cnn seed 1"; run configs/sweeps/rdrop_overfit_cnn.yaml "dropout a0 a1 a3" 1 ;;
  3) stage 3 "cnn_best light30, lighter30 seed 1"; par configs/sweeps/cnn_best.yaml light30@1 lighter30@1 ;;
  4) stage 4 "cnn_best_full winner, winner-a1 seeds 1-3"; w=$(winner light light30 lighter30)
     echo "winner: $w"
     bash launch/sweep.sh configs/sweeps/cnn_best_full.yaml --variants "$w,$w-a1" --jobs "${JOBS4:-3}" ;;
  6) stage 6 "rdrop_strength_cnn seeds 2 3"; run configs/sweeps/rdrop_strength_cnn.yaml "" 2 3 ;;
  7) stage 7 "rdrop_strength_full seed 3"; run configs/sweeps/rdrop_strength_full.yaml "" 3 ;;
  9) stage 9 "stage (c): rdrop_overfit_cnn seeds 1-5"
     run configs/sweeps/rdrop_overfit_cnn.yaml "dropout a0 a1 a1-k3 dropout-56ep" 1 2 3 4 5 ;;
  *) echo "study_queue: no stage $1" >&2; return 2 ;;
  esac
}
main() {
  local n
  for n in ${STAGES:-1 2 9 6 7 3 4}; do one "$n"; done
  echo "== queue done ($(date -u +%H:%M:%S))"
}
main "$@"; exit   # one line: bash has read it whole before main runs, whatever happens to this file
