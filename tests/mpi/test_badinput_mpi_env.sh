#!/usr/bin/env bash
# labels: badinput
# MPI not started as expected: the launcher's environment says N > 1 ranks (OMPI_COMM_WORLD_SIZE,
# SLURM_NTASKS, PMI_SIZE or PMIX_SIZE) but MPI_Init gives a world of 1 (e.g. `srun` without
# --mpi=pmix, or a binary linked to another MPI). Every such process would train alone and
# write the same run folder, so it is exit 1 with one line naming the variable and the fix.
# A folder holding a run is untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

run=$TMP/run
make_run "$run"
snapshot "$run" > "$TMP/snap"
for var in OMPI_COMM_WORLD_SIZE SLURM_NTASKS PMI_SIZE PMIX_SIZE; do
  expect_error 1 "^rdrop: MPI not started as expected: $var=2 but this process sees 1 rank \(use mpirun, or srun --mpi=pmix\)$" -- \
    env "$var=2" "$RDROP" train "$TINY" --out "$run" --set training.max_steps=20 --resume auto
done
# a size of 1 is a correct singleton
env SLURM_NTASKS=1 timeout -k 5 60 "$RDROP" train "$TINY" --out "$TMP/ok" --set training.max_steps=2 > "$TMP/out" 2>&1 \
  || { rc=$?; cat "$TMP/out"; fail "SLURM_NTASKS=1 exited $rc"; }
assert_intact "$run" "$TMP/snap"
pass "MPI not started as expected: exit 1, one line naming the variable"
