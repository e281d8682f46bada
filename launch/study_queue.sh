#!/usr/bin/env bash
# The accuracy work still owed, as one resumable queue (issues #13 and #14): every stage is a
# sweep of its own spec (configs/sweeps/), a finished run is skipped and an interrupted one
# resumes from its last checkpoint, so the same command continues where the last machine
# stopped. Run it first thing in a session, in the background, and commit each stage's tables
# (docs/results/, docs/conv.md) as they finish:
#   setsid nohup bash launch/study_queue.sh > runs/study-queue.log 2>&1 < /dev/null &
# The order (machine time on a 2-core machine, both cores):
#   1. cnn_best a0, seed 1            the >= 0.935 CNN, two passes (85 min)
#   2. rdrop_overfit_cnn seed 1       #14: a CNN that over-fits (light dropout, no max-norm) (~35 min)
#   3. rdrop_strength_cnn seeds 2, 3  #14 stage (b) (2 x 55 min)
#   4. rdrop_strength_full seed 3     #14 stage (a) (35 min)
#   5. cnn_best dropout / a0, seeds 1-3 (the rest of #13's table: 3 x 50 + 2 x 85 min)
#   6. rdrop_overfit_cnn seeds 2, 3, if seed 1 shows a gain over both controls
#   7. rdrop_final_cnn seeds 1-5      #14 stage (c) on the better model (5 x ~70 min; if the
#      over-fitting CNN is the one where the term helps, point the spec's config/sets at it first)
# STAGES="2 3" runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
[ -x build/rdrop ] || bash launch/build.sh
stage() {
  case " ${STAGES:-1 2 3 4 5 6 7} " in *" $1 "*) ;; *) return 1 ;; esac
  echo "== stage $1: $2 ($(date -u +%H:%M:%S))"
}
run() { SPEC=$1 VARIANTS=${2:-} bash launch/rdrop_strength.sh "${@:3}"; }
stage 1 "cnn_best a0 seed 1" && run configs/sweeps/cnn_best.yaml a0 1
stage 2 "rdrop_overfit_cnn seed 1" && run configs/sweeps/rdrop_overfit_cnn.yaml "" 1
stage 3 "rdrop_strength_cnn seeds 2 3" && run configs/sweeps/rdrop_strength_cnn.yaml "" 2 3
stage 4 "rdrop_strength_full seed 3" && run configs/sweeps/rdrop_strength_full.yaml "" 3
stage 5 "cnn_best dropout and a0, seeds 1-3" && { run configs/sweeps/cnn_best.yaml dropout 1;
  run configs/sweeps/cnn_best.yaml a0 2; run configs/sweeps/cnn_best.yaml dropout 2;
  run configs/sweeps/cnn_best.yaml a0 3; run configs/sweeps/cnn_best.yaml dropout 3; }
stage 6 "rdrop_overfit_cnn seeds 2 3" && run configs/sweeps/rdrop_overfit_cnn.yaml "" 2 3
stage 7 "rdrop_final_cnn seeds 1-5" && run configs/sweeps/rdrop_final_cnn.yaml "" 1 2 3 4 5
echo "== queue done ($(date -u +%H:%M:%S))"
