#!/usr/bin/env bash
# labels: unit
# tests/tools/skipped.py (run by tests/run.sh and .ci/run) lists every skip with its reason,
# both kinds: a script exiting 77 and a cmocka skip() inside a passing executable; under
# CI=true as root a skipped cluster/slurm/fuzz/diskfull test fails, any other skip does not.
source "$(dirname "$0")/lib.sh"
command -v cmake > /dev/null || fail "cmake missing"
p=$TMP/proj
mkdir -p "$p"
cat > "$p/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(skips NONE)
include(CTest)
add_test(NAME test_cluster_x COMMAND bash -c "echo 'SKIP: cannot create network namespaces here'; exit 77")
set_tests_properties(test_cluster_x PROPERTIES SKIP_RETURN_CODE 77 LABELS cluster)
add_test(NAME test_unit_y COMMAND bash -c "echo 'SKIP: h5diff missing'; echo '[  SKIPPED ] test_case_z'; exit 0")
set_tests_properties(test_unit_y PROPERTIES LABELS unit)
add_test(NAME test_fine COMMAND true)
CM
cmake -S "$p" -B "$p/b" > /dev/null
(cd "$p/b" && ctest --output-junit "$p/b/j.xml" > /dev/null 2>&1; ctest --show-only=json-v1 > t.json)
run() { (cd "$p/b" && "$@" $PY "$SRC/tests/tools/skipped.py" j.xml t.json); }
out=$(run env -u CI) || fail "skipped.py failed outside CI"
echo "$out"
grep -q "skipped tests (2)" <<< "$out" || fail "expected 2 skips"
grep -q "test_cluster_x: SKIP: cannot create network namespaces here" <<< "$out" || fail "exit-77 skip or its reason missing"
grep -q "test_unit_y: test_case_z: SKIP: h5diff missing" <<< "$out" || fail "cmocka skip or its reason missing"
rc=0
run env CI=true > /dev/null 2> "$TMP/err" || rc=$?
if [ "$(id -u)" -eq 0 ]; then
  [ "$rc" -eq 1 ] || fail "CI=true as root: a skipped cluster test must fail the run (exit $rc)"
  grep -q "test_cluster_x" "$TMP/err" || fail "CI failure does not name the test"
  grep -q "test_unit_y" "$TMP/err" && fail "a skipped unit test must not fail CI"
else
  [ "$rc" -eq 0 ] || fail "CI=true as non-root must not fail (exit $rc)"
fi
pass "skips listed with reasons; CI as root fails on a skipped cluster test only"
