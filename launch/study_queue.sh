#!/usr/bin/env bash
# The accuracy work still owed, as one resumable queue (issues #13 and #14): every stage is a
# sweep of its own spec (configs/sweeps/), a finished run is skipped and an interrupted one
# resumes from its last checkpoint on the same machine. Run it first thing in a session, in the
# background, and commit each stage's tables (docs/results/, docs/conv.md) as they finish:
#   mkdir -p runs; setsid nohup bash launch/study_queue.sh > runs/study-queue.log 2>&1 < /dev/null &
# The stages (wall time on a 2-core machine, both cores busy); they ran in the order 1 2 9 6 7 3:
# #14 went first (all its stages are done: 2026-12-06); left: #13's stages 4 and 5 (the winner
# is `lighter30`; its finals' first start, 2026-12-07 00:28 UTC, died with its machine at epoch
# 10: runs/ is not carried from one session's machine to the next, hence --keep below).
#   1. cnn_best a0 seed 1; dropout, light seed 1   the >= 0.935 CNN, 20 epochs (done 2026-12-06)
#   2. rdrop_overfit_cnn seed 1       #14: a CNN that over-fits (light dropout, no max-norm) (done)
#   3. cnn_best light30, lighter30 seed 1   #13: the VGG with less dropout over 30 epochs (~150 min;
#      done 2026-12-07: lighter30 validation 0.9398, light30 0.9392)
#   4. cnn_best_full WINNER seeds 1-3: the final runs on all 60,000 samples (WINNER: the best
#      validation accuracy of stage 3 and of `light` over 20 epochs, seed 1: lighter30), one at a
#      time on 2 ranks (~70 min each; two 1-rank runs side by side do as many samples per second
#      together, 2 x 206 against 406, but both finish only after ~2.5 h; done 2026-12-07: 0.9416,
#      0.9411, 0.9392, kept: on a fresh machine stage 4 restores them and runs nothing)
#   5. cnn_best_full WINNER-a1 seeds 1-3: the with-R-Drop twins at equal epochs (two passes: ~1.7x
#      a run; one at a time on 2 ranks, ~2.1 h each)
#   Stages 4 and 5 keep every finished run's records (not its checkpoints) in
#   docs/results/runs/cnn-best-full (sweep --keep): commit that folder, and the next machine skips
#   those runs. An unfinished run does not survive its machine: start only what fits.
#   6. rdrop_strength_cnn seeds 2, 3  #14 stage (b) (2 x 55 min; done 2026-12-06)
#   7. rdrop_strength_full seed 3     #14 stage (a) (35 min; done 2026-12-06)
#   9. rdrop_overfit_cnn: dropout, a0, a1, a1-k3, dropout-56ep, seeds 1-5: #14 stage (c) on the
#      over-fitting CNN, where seed 1 showed the term's first gain (~52 min per seed; done)
# WINNER=NAME skips the choice (made from runs/sweep-cnn-best, else docs/results/cnn-best.csv).
# STAGES="9 3" runs those stages in that order (default: 4 5, what is left: stage 4's runs are kept,
# so it only restores them; stages 1-3, 6, 7 and 9 are done and their tables are in
# docs/results/: on a fresh machine they would run again).
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
  local table=runs/sweep-cnn-best/results.csv
  [ -f "$table" ] || table=docs/results/cnn-best.csv
  /usr/bin/python3 - "$table" "$@" <<'PYEOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "finished" and r["run.seed"] == "1"
        and r["variant"] in sys.argv[2:]]
if not rows:
    sys.exit("study_queue: no finished seed-1 run of " + " ".join(sys.argv[2:]))
print(max(rows, key=lambda r: float(r["best_val_acc"]))["variant"])
PYEOF
}
# finals VARIANT: its seeds in cnn_best_full.yaml one at a time on 2 ranks (JOBS4=2: two at a time
# on 1 rank each), keeping every finished run's records in KEEP
KEEP=docs/results/runs/cnn-best-full
finals() {
  local ranks=2 jobs=1
  if [ "${JOBS4:-1}" -gt 1 ]; then ranks=1 jobs=$JOBS4; fi
  bash launch/sweep.sh configs/sweeps/cnn_best_full.yaml --variants "$1" --keep "$KEEP" --ranks "$ranks" --jobs "$jobs"
}
# All of it in one function, read whole before it runs: editing this file while a queue runs
# cannot change what that queue does.
one() {
  case $1 in
  1) stage 1 "cnn_best a0, dropout, light seed 1"; run configs/sweeps/cnn_best.yaml a0 1
     run configs/sweeps/cnn_best.yaml "dropout light" 1 ;;
  2) stage 2 "rdrop_overfit_cnn seed 1"; run configs/sweeps/rdrop_overfit_cnn.yaml "dropout a0 a1 a3" 1 ;;
  3) stage 3 "cnn_best light30, lighter30 seed 1"; par configs/sweeps/cnn_best.yaml light30@1 lighter30@1 ;;
  4) stage 4 "cnn_best_full winner seeds 1-3"; w=$(winner light light30 lighter30)
     echo "winner: $w"; finals "$w" ;;
  5) stage 5 "cnn_best_full winner-a1 seeds 1-3"; w=$(winner light light30 lighter30)
     echo "winner: $w"; finals "$w-a1" ;;
  6) stage 6 "rdrop_strength_cnn seeds 2 3"; run configs/sweeps/rdrop_strength_cnn.yaml "" 2 3 ;;
  7) stage 7 "rdrop_strength_full seed 3"; run configs/sweeps/rdrop_strength_full.yaml "" 3 ;;
  9) stage 9 "stage (c): rdrop_overfit_cnn seeds 1-5"
     run configs/sweeps/rdrop_overfit_cnn.yaml "dropout a0 a1 a1-k3 dropout-56ep" 1 2 3 4 5 ;;
  *) echo "study_queue: no stage $1" >&2; return 2 ;;
  esac
}
main() {
  local n
  for n in ${STAGES:-4 5}; do one "$n"; done
  echo "== queue done ($(date -u +%H:%M:%S))"
}
main "$@"; exit   # one line: bash has read it whole before main runs, whatever happens to this file
