#!/usr/bin/env bash
# Install every Debian package rdrop's build, data set, tests and launchers need.
# Idempotent; uses sudo when not root. Usage: launch/deps.sh [--list]
set -euo pipefail

PACKAGES=(
  # build
  gcc make cmake pkg-config
  libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev libcmocka-dev
  librandom123-dev libyaml-dev zlib1g-dev
  # data set of record (Fashion-MNIST IDX files under /usr/share/datasets/fashion-mnist)
  dataset-fashion-mnist
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

if [ "${1:-}" = --list ]; then echo "${PACKAGES[*]}"; exit 0; fi

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
echo "launch/deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "launch/deps.sh: done"
