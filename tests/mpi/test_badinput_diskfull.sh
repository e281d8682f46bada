#!/usr/bin/env bash
# labels: badinput
# Disk full while checkpointing (the run folder on a tmpfs that holds the previous checkpoint
# but not the next): exit 5, one line "FILE: cannot write checkpoint: No space left on device
# (previous checkpoints kept)", no temporary file, the previous checkpoints unchanged and
# verifying. (ulimit -f cannot stand in for a full disk: Open MPI's singleton start writes
# PMIx files under the limit and fails first.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/badinput_lib.sh"

small=$TMP/small
mkdir -p "$small"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=64k tmpfs "$small" 2>/dev/null; then
  echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77
fi
umount "$small"
trap 'umount "$small" 2>/dev/null || true; rm -rf "$TMP"' EXIT

make_run "$TMP/full"
size=$(stat -c %s "$TMP/full/ckpt-000000010.h5")
kb=$(( (2 * size + size / 3) / 1024 + 24 ))   # two checkpoints + small files + a third of a new one
mount -t tmpfs -o size=${kb}k tmpfs "$small"
run=$small/run
cp -a "$TMP/full" "$run"
rm -f "$run/.lock"
snapshot "$run" > "$TMP/snap"
expect_error 5 "ckpt-000000015\.h5: cannot write checkpoint: No space left on device \(previous checkpoints kept\)" -- \
  "$RDROP" train "$TINY" --out "$run" --set training.max_steps=20 --set checkpoint.every_steps=5 \
  --set checkpoint.keep=5 --resume auto
[ ! -e "$run/ckpt-000000015.h5" ] || fail "a partial checkpoint exists under the .h5 name"
# metrics.jsonl and config.yaml are rewritten when a resumed run starts: compare the rest
snapshot "$run" | grep -v -e metrics.jsonl -e config.yaml > "$TMP/snap.now2"
grep -v -e metrics.jsonl -e config.yaml "$TMP/snap" > "$TMP/snap2"
diff "$TMP/snap2" "$TMP/snap.now2" || fail "checkpoints or config changed"
for f in "$run"/ckpt-*.h5; do "$RDROP" inspect "$f" > /dev/null || fail "$f no longer verifies"; done
[ -z "$(find "$run" -name '.*.tmp')" ] || fail "a temporary file was left: $(ls -A "$run")"
grep -q '"status":"failed"' "$run/status.json" || fail "status.json does not say failed"

pass "disk full: exit 5, one line naming the checkpoint, previous checkpoints intact"
