#!/usr/bin/env bash
# The README's second command: install what is missing, build, fetch the data set, and run
# the whole test suite (cmocka units + MPI integration tests) with ctest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash launch/deps.sh
bash launch/build.sh -DBUILD_TESTING=ON   # the quickstart builds without the tests
bash datasets/fashion-mnist.sh >/dev/null
cd build
ctest --output-on-failure -j2 "$@"
