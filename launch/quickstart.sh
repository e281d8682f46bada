#!/usr/bin/env bash
# The README's first command: install, build, fetch+verify Fashion-MNIST, and train the
# reference R-Drop MLP with 2 MPI ranks. Extra arguments go to 'rdrop train'
# (e.g. --set training.epochs=3).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash launch/deps.sh
bash launch/build.sh
bash datasets/fashion-mnist.sh
exec bash launch/mpirun.sh -n 2 -- build/rdrop train configs/fashion_mlp_rdrop.yaml "$@"
