#!/usr/bin/env bash
# Install the Debian packages rdrop needs. Idempotent; uses sudo when not root.
# Usage: launch/deps.sh [--run] [--list]
#   (none)   everything: building, running, the data set, the tests and the tools (CI, tests/run.sh)
#   --run    only what building and running need (the README's first command, launch/quickstart.sh)
#   --list   print the chosen packages on one line instead of installing them
set -euo pipefail

# building and running: compiler, CMake, MPI, OpenBLAS, HDF5, libyaml, Random123, zlib, jansson,
# and the data set of record (Fashion-MNIST IDX files under /usr/share/datasets/fashion-mnist)
RUN_PACKAGES=(
  gcc make cmake pkg-config
  libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev
  librandom123-dev libyaml-dev zlib1g-dev
  # JSON output: jansson (not json-c): keys kept in insertion order, a real-precision flag for
  # round-trip doubles, json_equal to check them, and a compact dump without spaces
  libjansson-dev
  dataset-fashion-mnist
)
# what the tests and tools add (tests/run.sh builds with -DBUILD_TESTING=ON)
TEST_PACKAGES=(
  # unit tests
  libcmocka-dev
  # tests and tools: h5diff/h5dump, ps/kill, ip, the h5py interoperability check
  hdf5-tools procps iproute2 python3-h5py python3-numpy
  # the BLAS kernel test counts rdrop's restarts
  strace
  # sweeps (YAML grid files) and curves
  python3-yaml gnuplot-nox
  # launchers: local SLURM for the slurm tests (srun --mpi=pmix loads libpmix.so from libpmix-dev),
  # iptables for the emulated cluster's latency (NFQUEUE + launch/nfqdelay.c)
  slurm-wlm munge libpmix-dev iptables
  # robustness tests: libFuzzer (clang's -fsanitize=fuzzer runtime is in libclang-rt-14-dev,
  # which clang only recommends), valgrind memcheck
  clang libclang-rt-14-dev valgrind
)

what=all list=0
for arg in "$@"; do
  case "$arg" in
    --run) what=run ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "launch/deps.sh: unknown option '$arg' (usage: launch/deps.sh [--run] [--list])" >&2; exit 2 ;;
  esac
done
PACKAGES=("${RUN_PACKAGES[@]}")
[ "$what" = run ] || PACKAGES+=("${TEST_PACKAGES[@]}")

if [ $list = 1 ]; then echo "${PACKAGES[*]}"; exit 0; fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "launch/deps.sh: not root and no sudo: install as root: apt-get install ${PACKAGES[*]}" >&2; exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "launch/deps.sh: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "launch/deps.sh: installing ${missing[*]} (and what they depend on)"
export DEBIAN_FRONTEND=noninteractive
echo "launch/deps.sh: apt-get update"
"${SUDO[@]}" apt-get update -qq
# apt's own lines are many (a fresh machine installs about 140 packages for --run): show them
# as one line redrawn in place on a terminal, a line per quarter elsewhere; errors as they come.
t0=$SECONDS
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 | awk -v tty="$([ -t 1 ] && echo 1 || echo 0)" '
  function show(stage, n, msg) {
    msg = sprintf("launch/deps.sh: %s %d/%d packages", stage, n, total)
    if (tty) { printf "\r%-70s", msg; fflush(); return }
    q = total > 0 ? int(4 * n / total) : 0
    if (stage != last_stage || q != last_q) { print msg; fflush() }
    last_stage = stage; last_q = q
  }
  / newly installed, / {   # "U upgraded, N newly installed[, R reinstalled], ..."
    for (i = 1; i < NF; i++) if ($(i + 1) ~ /^(upgraded,|newly|reinstalled,)$/) total += $i
    next }
  /^Need to get / { print "launch/deps.sh: " $0; fflush(); next }
  /^Get:[0-9]+ / { show("downloading", ++got); next }
  /^Unpacking / { show("unpacking", ++unpacked); next }
  /^Setting up / { show("setting up", ++set); next }
  /^(E|W): |rror/ { if (tty) printf "\n"; print; fflush() }
  END { if (tty && total) printf "\n" }'
echo "launch/deps.sh: done ($((SECONDS - t0)) s)"
