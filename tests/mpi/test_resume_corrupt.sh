#!/usr/bin/env bash
# labels: resume
# Corrupt checkpoints (singleton runs, so each message is rdrop's one line): a truncated file,
# flipped bytes inside a dataset, a non-rdrop HDF5 file and a checkpoint of another
# architecture each give their own message and exit 4; --resume auto skips the bad ones,
# says why, and continues from the newest good one; with none good it exits 4.
source "$(dirname "$0")/lib.sh"

run=$TMP/run
"$RDROP" train "$TINY" --out "$run" --set checkpoint.every_steps=10 --set checkpoint.keep=10 \
  --set training.max_steps=50 > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "training exited $rc"; }
ck() { printf '%s/ckpt-%09d.h5' "$run" "$1"; }

# expect_error EXIT PATTERN CMD... : exit code, one line on stderr, matching PATTERN
expect_error() {
  local want=$1 pat=$2; shift 2
  set +e; "$@" > "$TMP/out" 2> "$TMP/err"; local rc=$?; set -e
  [ $rc -eq "$want" ] || { cat "$TMP/err"; fail "$* exited $rc, want $want"; }
  [ "$(wc -l < "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$*: want exactly one line on stderr"; }
  grep -q -- "$pat" "$TMP/err" || { cat "$TMP/err"; fail "$*: message does not match '$pat'"; }
  echo "ok ($rc): $(cat "$TMP/err")"
}

# truncated
head -c 5000 "$(ck 50)" > "$TMP/t" && cat "$TMP/t" > "$(ck 50)"
expect_error 4 "ckpt-000000050.h5: truncated" "$RDROP" inspect "$(ck 50)"
# flipped bytes in the middle (inside the kernel data)
size=$(stat -c %s "$(ck 40)")
printf '\xff\x00\xff' | dd of="$(ck 40)" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_error 4 "ckpt-000000040.h5: corrupt: CRC-32 mismatch" "$RDROP" inspect "$(ck 40)"
expect_error 4 "ckpt-000000040.h5: corrupt" "$RDROP" eval --checkpoint "$(ck 40)"
# a foreign HDF5 file under a checkpoint name
$PY -c "import h5py, numpy; f=h5py.File('$(ck 60)','w'); f['x']=numpy.arange(10); f.attrs['step']=60"
expect_error 4 "ckpt-000000060.h5: not an rdrop checkpoint" "$RDROP" inspect "$(ck 60)"
# a checkpoint of another architecture
expect_error 4 "architecture mismatch" "$RDROP" train "$TINY" --out "$run" --resume "$(ck 30)" \
  --set model.layers.1.units=32 --set training.max_steps=70

# --resume auto: skips 60, 50, 40 (each with its reason), continues from the newest good one
# (32: the epoch-end checkpoint; an epoch of the tiny set is 32 steps)
"$RDROP" train "$TINY" --out "$run" --set checkpoint.every_steps=10 --set checkpoint.keep=10 \
  --set training.max_steps=70 --resume auto > "$TMP/out" 2> "$TMP/err" || { rc=$?; cat "$TMP/err"; fail "resume auto exited $rc"; }
cat "$TMP/err"
grep -q "skipped .*ckpt-000000060.h5: not an rdrop checkpoint" "$TMP/err" || fail "60 not reported as foreign"
grep -q "skipped .*ckpt-000000050.h5: truncated" "$TMP/err" || fail "50 not reported as truncated"
grep -q "skipped .*ckpt-000000040.h5: corrupt" "$TMP/err" || fail "40 not reported as corrupt"
grep -q "resuming from .*ckpt-000000032.h5 (step 32" "$TMP/out" || fail "did not resume from step 32"
grep -q "^step          70" <("$RDROP" inspect "$(ck 70)") || fail "no good checkpoint at step 70"

# none verifies -> exit 4 listing each file
mkdir -p "$TMP/bad"
head -c 3000 "$(ck 70)" > "$TMP/bad/ckpt-000000070.h5"
echo "hello" > "$TMP/bad/ckpt-000000080.h5"
set +e; "$RDROP" train "$TINY" --out "$TMP/bad" --resume auto > "$TMP/out" 2> "$TMP/err"; rc=$?; set -e
cat "$TMP/err"
[ $rc -eq 4 ] || fail "resume auto with no good checkpoint exited $rc, want 4"
grep -q "ckpt-000000070.h5: truncated" "$TMP/err" && grep -q "ckpt-000000080.h5: not an rdrop checkpoint" "$TMP/err" \
  || fail "the files and reasons are not listed"
pass "corrupt, truncated, foreign and mismatched checkpoints: own messages; resume auto falls back"
