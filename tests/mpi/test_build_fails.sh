#!/usr/bin/env bash
# labels: build
# launch/build.sh must fail when the build fails, even with a stale build/rdrop from an
# earlier good build in place (it used to grep the output and test only that build/rdrop
# exists). In a copy of the tree: build once (must succeed), break src/loss.c, rebuild
# (must exit non-zero, print the compiler's error and not say "built").
source "$(dirname "$0")/lib.sh"

copy=$TMP/tree
mkdir -p "$copy"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./runs --exclude=./results -cf - . | tar -C "$copy" -xf -
bash "$copy/launch/build.sh" -DBUILD_TESTING=OFF > "$TMP/good.log" 2>&1 || { rc=$?; cat "$TMP/good.log"; fail "good build exited $rc"; }
[ -x "$copy/build/rdrop" ] || fail "good build left no build/rdrop"
grep -q "built" "$TMP/good.log" || fail "good build did not say built"

echo 'this is not C;' >> "$copy/src/loss.c"
rc=0
bash "$copy/launch/build.sh" -DBUILD_TESTING=OFF > "$TMP/bad.log" 2>&1 || rc=$?
cat "$TMP/bad.log"
[ "$rc" -ne 0 ] || fail "launch/build.sh exited 0 on a broken source file (stale build/rdrop present)"
grep -q "loss.c" "$TMP/bad.log" || fail "the failure output does not name the broken file"
grep -q "built $copy" "$TMP/bad.log" && fail "launch/build.sh said built after a failed build"
pass "launch/build.sh: good build 0, broken src/loss.c exit $rc with the compiler's error"
