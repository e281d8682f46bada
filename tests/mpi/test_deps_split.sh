#!/usr/bin/env bash
# labels: unit
# The package split of launch/deps.sh (docs/quickstart.md): `--run` (the quickstart's install)
# is a subset of everything (`--list`, what CI installs); what it pulls in (its dependency
# closure, every alternative counted) holds no test-only tool; yet it provides every program
# the quickstart path runs and every shared library build/rdrop loads, and without cmocka a
# -DBUILD_TESTING=OFF build configures while a test build says what is missing.
source "$(dirname "$0")/lib.sh"
for t in apt-cache dpkg cmake; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not available (not Debian?)"; exit 77; }
done
DEPS=$SRC/launch/deps.sh

read -r -a run <<< "$(bash "$DEPS" --run --list)"
read -r -a all <<< "$(bash "$DEPS" --list)"
[ ${#run[@]} -gt 0 ] && [ ${#run[@]} -lt ${#all[@]} ] || fail "--run lists ${#run[@]} packages, --list ${#all[@]}"
# (a file, not `printf | grep -q`: grep -q leaves at the first match, printf then dies of SIGPIPE
# and pipefail failed the test now and then)
printf '%s\n' "${all[@]}" > "$TMP/all"
for p in "${run[@]}"; do
  grep -qx -- "$p" "$TMP/all" || fail "--run lists $p, --list does not"
done

apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${run[@]}" 2>/dev/null | grep -v '^ ' | sort -u > "$TMP/closure"
[ -s "$TMP/closure" ] || { echo "SKIP: apt-cache knows none of the packages (no package lists)"; exit 77; }
for tool in libcmocka-dev valgrind clang slurm-wlm munge gnuplot-nox hdf5-tools python3 iptables strace; do
  ! grep -qx -- "$tool" "$TMP/closure" || fail "--run pulls in the test-only $tool"
done

# a package is available after `deps.sh --run` when it is in the closure or on every Debian
# system (Essential or Priority required)
available() {
  grep -qx -- "$1" "$TMP/closure" && return 0
  dpkg-query -W -f='${Essential} ${Priority}\n' "$1" 2>/dev/null | grep -Eq '^yes|required'
}
owner() {   # the package that installed FILE (merged /usr: try without the /usr prefix too)
  local f; f=$(readlink -f "$1")
  { dpkg -S "$f" 2>/dev/null || dpkg -S "${f#/usr}" 2>/dev/null; } | head -n 1 | cut -d: -f1
}
for prog in gcc make cmake pkg-config mpirun zcat sha256sum; do
  path=$(command -v $prog) || fail "$prog not installed here"
  pkg=$(owner "$path"); [ -n "$pkg" ] || fail "no package owns $path"
  available "$pkg" || fail "$prog ($pkg) is needed by the quickstart but not installed by --run"
done
n=0
for lib in $(ldd "$RDROP" | awk '$3 ~ /^\// { print $3 }'); do
  pkg=$(owner "$lib"); [ -n "$pkg" ] || fail "no package owns $lib"
  available "$pkg" || fail "build/rdrop loads $lib ($pkg), which --run does not install"
  n=$((n + 1))
done

# without cmocka: configure with a pkg-config search path that has every .pc file but cmocka's
mkdir -p "$TMP/pc"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
  [ -d "$d" ] || continue
  for pc in "$d"/*.pc; do
    [ -e "$pc" ] && [ "$(basename "$pc")" != cmocka.pc ] && ln -sf "$pc" "$TMP/pc/"
  done
done
PKG_CONFIG_LIBDIR=$TMP/pc cmake -S "$SRC" -B "$TMP/b-off" -DBUILD_TESTING=OFF > "$TMP/off.log" 2>&1 ||
  { cat "$TMP/off.log"; fail "without cmocka, -DBUILD_TESTING=OFF does not configure"; }
if PKG_CONFIG_LIBDIR=$TMP/pc cmake -S "$SRC" -B "$TMP/b-on" -DBUILD_TESTING=ON > "$TMP/on.log" 2>&1; then
  fail "without cmocka, a test build configured (the pkg-config path did not hide cmocka?)"
fi
grep -q 'libcmocka-dev' "$TMP/on.log" || { cat "$TMP/on.log"; fail "the test build's error does not name libcmocka-dev"; }
pass "--run: ${#run[@]} of ${#all[@]} packages, no test tools in its $(wc -l < "$TMP/closure") names; covers the quickstart's programs and build/rdrop's $n libraries; builds without cmocka"
