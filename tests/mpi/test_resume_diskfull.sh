#!/usr/bin/env bash
# labels: resume
# Disk full while checkpointing: the run folder lives on a small tmpfs that holds the previous
# checkpoint but not the next one. The write fails with a clear message and exit 5, no
# temporary file is left, and the previous checkpoint still verifies and resumes.
# (ulimit -f is no substitute here: Open MPI's singleton start writes PMIx files under it.)
source "$(dirname "$0")/lib.sh"

small=$TMP/small
mkdir -p "$small"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=64k tmpfs "$small" 2>/dev/null; then
  echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77
fi
trap 'umount "$small" 2>/dev/null; rm -rf "$TMP"' EXIT
umount "$small"

"$RDROP" train "$TINY" --out "$TMP/full" --set checkpoint.every_steps=10 --set training.max_steps=20 \
  > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "training exited $rc"; }
size=$(stat -c %s "$TMP/full/ckpt-000000020.h5")
# room for the previous checkpoint, the small files, and less than half of a new checkpoint
kb=$(( (size + size / 3) / 1024 + 16 ))
mount -t tmpfs -o size=${kb}k tmpfs "$small"
run=$small/run
mkdir "$run"
cp "$TMP/full/ckpt-000000020.h5" "$TMP/full/metrics.jsonl" "$TMP/full/config.yaml" "$run/"
prev=$run/ckpt-000000020.h5
before=$(sha256sum < "$prev")
echo "checkpoint size $size bytes; tmpfs ${kb} KiB: $(df -k "$small" | tail -n 1)"
set +e
"$RDROP" train "$TINY" --out "$run" --set checkpoint.every_steps=10 --set training.max_steps=40 --resume auto \
  > "$TMP/out" 2> "$TMP/err"
rc=$?
set -e
cat "$TMP/err"
[ $rc -eq 5 ] || fail "exit $rc, want 5"
[ "$(wc -l < "$TMP/err")" -eq 1 ] || fail "want exactly one line on stderr"
grep -q "ckpt-000000030.h5: cannot write checkpoint: No space left on device (previous checkpoints kept)" "$TMP/err" \
  || fail "no clear disk-full message"
[ -z "$(ls -A "$run" | grep '\.tmp$' || true)" ] || fail "a temporary file was left: $(ls -A "$run")"
[ ! -e "$run/ckpt-000000030.h5" ] || fail "a half-written checkpoint exists under the *.h5 name"
[ "$(sha256sum < "$prev")" = "$before" ] || fail "the previous checkpoint changed"
"$RDROP" inspect "$prev" > /dev/null || fail "the previous checkpoint no longer verifies"
grep -q '"status":"failed"' "$run/status.json" || fail "status.json does not say failed"
# free space: move the run to a big disk and continue
cp -r "$run" "$TMP/moved"
"$RDROP" train "$TINY" --out "$TMP/moved" --set checkpoint.every_steps=10 --set training.max_steps=40 --resume auto \
  > "$TMP/out" 2> "$TMP/err" || { rc=$?; cat "$TMP/err"; fail "resume after freeing space exited $rc"; }
grep -q "resuming from .*ckpt-000000020.h5" "$TMP/out" || fail "did not resume from the previous checkpoint"
pass "disk full: exit 5, clear message, previous checkpoint intact, resume works"
