#!/usr/bin/env bash
# Configure and build rdrop (Release) into build/. Usage: launch/build.sh [extra cmake args]
# Fails (non-zero, the compiler's messages on stderr) when configuring or building fails:
# a failed rebuild never leaves a stale build/rdrop looking current.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release "$@" >"$log" 2>&1; then
  cat "$log" >&2
  echo "launch/build.sh: cmake configure failed" >&2
  exit 1
fi
if ! cmake --build "$here/build" -j "$(nproc)" >"$log" 2>&1; then
  grep -E "error|Error" "$log" >&2 || cat "$log" >&2
  echo "launch/build.sh: build failed (run: cmake --build $here/build)" >&2
  exit 1
fi
grep -E "warning" "$log" || true
echo "launch/build.sh: built $here/build/rdrop"
