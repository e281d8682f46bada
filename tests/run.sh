#!/usr/bin/env bash
# The README's second command: install what is missing, build, fetch the data set, and run
# the whole test suite (cmocka units + MPI integration tests) with ctest. Ends with the list of
# skipped tests and each one's reason (tests/tools/skipped.py); under CI=true as root a skipped
# cluster, slurm, diskfull or fuzz test fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash launch/deps.sh
bash launch/build.sh -DBUILD_TESTING=ON   # the quickstart builds without the tests
bash datasets/fashion-mnist.sh >/dev/null
cd build
rc=0
ctest --output-on-failure -j2 --output-junit "$PWD/ctest-junit.xml" "$@" || rc=$?
ctest --show-only=json-v1 "$@" > ctest-tests.json
skip_rc=0
/usr/bin/python3 "$here/tests/tools/skipped.py" ctest-junit.xml ctest-tests.json || skip_rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
exit "$skip_rc"
