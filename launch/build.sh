#!/usr/bin/env bash
# Configure and build rdrop (Release) into build/. Usage: launch/build.sh [extra cmake args]
# e.g. -DBUILD_TESTING=OFF (the binary only: launch/quickstart.sh) or -DBUILD_TESTING=ON
# (tests/run.sh). Shows one progress line (a line per quarter when not on a terminal) and the
# compiler's warnings; its whole output goes to build/build.log.
# Fails (non-zero, the compiler's errors on stderr) when configuring or building fails:
# a failed rebuild never leaves a stale build/rdrop looking current.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log=$here/build/build.log
mkdir -p "$here/build"
t0=$SECONDS
echo "launch/build.sh: configuring build/ (cmake -DCMAKE_BUILD_TYPE=Release${*:+ $*})"
if ! cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release "$@" > "$log" 2>&1; then
  cat "$log" >&2
  echo "launch/build.sh: cmake configure failed" >&2
  exit 1
fi
set +e
cmake --build "$here/build" -j "$(nproc)" 2>&1 | tee -a "$log" | awk -v tty="$([ -t 1 ] && echo 1 || echo 0)" '
  /^\[ *[0-9]+%\]/ {
    pct = substr($0, 2, index($0, "%") - 2) + 0
    msg = sprintf("launch/build.sh: building %3d%%", pct)
    if (tty) { printf "\r%s", msg; shown = 1; fflush() }
    else if (int(pct / 25) != last_q) { print msg; last_q = int(pct / 25); fflush() }
    next }
  /error|Error/ { if (shown) printf "\n"; shown = 0; print > "/dev/stderr"; fflush(); next }
  /warning/ { if (shown) printf "\n"; shown = 0; print; fflush() }
  END { if (shown) printf "\n" }'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "launch/build.sh: build failed (whole output: $log; run: cmake --build $here/build)" >&2
  exit 1
fi
echo "launch/build.sh: built $here/build/rdrop ($((SECONDS - t0)) s)"
