#!/usr/bin/env bash
# Configure and build rdrop (Release) into build/. Usage: launch/build.sh [extra cmake args]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$here/build" -j "$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
test -x "$here/build/rdrop" || { echo "launch/build.sh: build failed (run: cmake --build build)" >&2; exit 1; }
echo "launch/build.sh: built $here/build/rdrop"
