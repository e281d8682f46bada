#!/usr/bin/env bash
# labels: mpi
# The BLAS kernel choice (src/blas.h): with OpenBLAS forced onto its fallback kernel
# (OPENBLAS_CORETYPE=Prescott) and run.blas_core: best, rdrop restarts itself exactly once
# (counted with strace) onto this CPU's class kernel and trains the same bits as a run with
# that kernel set by hand - on 1 rank and on 2 ranks under mpirun; keep changes nothing;
# auto keeps a kernel the user set, with a warning; a kernel that computes wrong results is
# refused with one line (test hook RDROP_TEST_BLAS_CORRUPT); a kernel the CPU cannot run is
# replaced (auto) or refused (keep, a name; test hook RDROP_TEST_CPU_CLASS); a bad name is a config error.
source "$(dirname "$0")/lib.sh"
K=$("$RDROP" version | sed -n 's/^cpu class kernel //p')
[ -n "$K" ] || fail "rdrop version does not print the CPU's class kernel"
[ "$K" != none ] || { echo "SKIP: this CPU has neither AVX2+FMA nor AVX-512: no kernel to prefer"; exit 77; }
command -v strace > /dev/null || { echo "SKIP: strace missing (apt-get install strace)"; exit 77; }
unset OPENBLAS_CORETYPE
args=(--set training.max_steps=30 --set checkpoint.every_steps=0)

# execs PREFIX: how many times an rdrop image was executed (strace -ff: one file per process,
# so no call is split by another process's output)
execs() { cat "$1".* | grep -cE 'execve\("[^"]*(/rdrop|/proc/self/exe)", .*= 0$' || true; }

# 1 rank: forced fallback + best -> one restart, class kernel, same bits as by hand
OPENBLAS_CORETYPE=Prescott strace -ff -qq -e trace=execve -o "$TMP/st1" \
  "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=best --out "$TMP/best1" > "$TMP/best1.log" 2>&1 \
  || { cat "$TMP/best1.log"; fail "best run failed"; }
n=$(execs "$TMP/st1"); [ "$n" -eq 2 ] || { cat "$TMP"/st1.*; fail "expected 1 start + 1 restart, saw $n execs"; }
grep -q "^blas .*kernel $K (rdrop: OpenBLAS picked Prescott), [0-9.]* GF/s" "$TMP/best1.log" \
  || { cat "$TMP/best1.log"; fail "header does not name kernel $K chosen by rdrop"; }
OPENBLAS_CORETYPE=$K "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=keep --out "$TMP/hand1" > "$TMP/hand1.log" 2>&1 \
  || { cat "$TMP/hand1.log"; fail "hand-set run failed"; }
grep -q "kernel $K (OPENBLAS_CORETYPE)" "$TMP/hand1.log" || { cat "$TMP/hand1.log"; fail "hand-set origin missing"; }
$COMPARE "$TMP/best1/ckpt-000000030.h5" "$TMP/hand1/ckpt-000000030.h5" > "$TMP/cmp" || { cat "$TMP/cmp"; fail "1 rank: restarted run differs from the hand-set kernel"; }
$PY - "$TMP/best1" "$K" <<'PYEOF' || fail "provenance fields"
import json, sys, h5py
d, k = sys.argv[1:3]
st = json.load(open(d + "/status.json"))
row = [json.loads(l) for l in open(d + "/metrics.jsonl") if json.loads(l)["kind"] == "train"][0]
f = h5py.File(d + "/ckpt-000000030.h5", "r")
for src in (st, row, {k2: (v.decode() if isinstance(v, bytes) else v) for k2, v in f.attrs.items()}):
    assert src["blas_core"] == k, src["blas_core"]
    assert src["blas_core_origin"] == "rdrop: OpenBLAS picked Prescott", src["blas_core_origin"]
assert st["blas_gflop_per_s"] > 0 and row["blas_gflop_per_s"] > 0 and f.attrs["blas_gflops"] > 0
PYEOF
pass "1 rank: Prescott forced, best -> one restart onto $K, bitwise equal to OPENBLAS_CORETYPE=$K"

# 2 ranks under mpirun
OPENBLAS_CORETYPE=Prescott strace -ff -qq -e trace=execve -o "$TMP/st2" \
  timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE \
  "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=best --out "$TMP/best2" > "$TMP/best2.log" 2>&1 \
  || { cat "$TMP/best2.log"; fail "2-rank best run failed"; }
n=$(execs "$TMP/st2"); [ "$n" -eq 4 ] || { grep rdrop "$TMP"/st2.*; fail "2 ranks: expected 2 starts + 2 restarts, saw $n"; }
OPENBLAS_CORETYPE=$K timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS \
  -x OPENBLAS_CORETYPE "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=keep --out "$TMP/hand2" \
  > "$TMP/hand2.log" 2>&1 || { cat "$TMP/hand2.log"; fail "2-rank hand-set run failed"; }
$COMPARE "$TMP/best2/ckpt-000000030.h5" "$TMP/hand2/ckpt-000000030.h5" > "$TMP/cmp" || { cat "$TMP/cmp"; fail "2 ranks: restarted run differs from the hand-set kernel"; }
pass "2 ranks: one restart per rank onto $K, bitwise equal to the hand-set kernel"

# keep: no restart, the forced kernel stays
OPENBLAS_CORETYPE=Prescott strace -ff -qq -e trace=execve -o "$TMP/st3" \
  "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=keep --out "$TMP/keep" > "$TMP/keep.log" 2>&1 \
  || { cat "$TMP/keep.log"; fail "keep run failed"; }
n=$(execs "$TMP/st3"); [ "$n" -eq 1 ] || fail "keep restarted ($n execs)"
grep -q "kernel Prescott (OPENBLAS_CORETYPE)" "$TMP/keep.log" || { cat "$TMP/keep.log"; fail "keep changed the kernel"; }
# auto with a kernel set in the environment: kept, with a warning
OPENBLAS_CORETYPE=Prescott "$RDROP" train "$TINY" "${args[@]}" --out "$TMP/auto" > "$TMP/auto.log" 2>&1 \
  || { cat "$TMP/auto.log"; fail "auto run failed"; }
grep -q "kernel Prescott (OPENBLAS_CORETYPE)" "$TMP/auto.log" && grep -q "warning: OPENBLAS_CORETYPE=Prescott selects kernel Prescott, below this CPU's $K" "$TMP/auto.log" \
  || { cat "$TMP/auto.log"; fail "auto did not keep the user's kernel with a warning"; }
# auto without a setting: the class kernel (or OpenBLAS's own if it is already in class)
"$RDROP" train "$TINY" "${args[@]}" --out "$TMP/plain" > "$TMP/plain.log" 2>&1 || { cat "$TMP/plain.log"; fail "plain run failed"; }
got=$(sed -n 's/^blas .*kernel \([A-Za-z0-9_]*\) .*/\1/p' "$TMP/plain.log")
[ "$got" = "$K" ] || grep -q "kernel $got (OpenBLAS)" "$TMP/plain.log" || { cat "$TMP/plain.log"; fail "auto runs on $got"; }
pass "keep: no restart, Prescott stays; auto keeps a user's kernel with a warning, else runs on $got"

# a kernel above the CPU's class (OPENBLAS_CORETYPE=SkylakeX copied onto an AVX2 machine: OpenBLAS
# would load it and die of SIGILL), on a CPU pretended to be one class lower (test hook
# RDROP_TEST_CPU_CLASS: the kernels rdrop then picks run here too): auto replaces it with the
# lower class's kernel and says so, keep and a kernel name refuse with one line, exit 2
case $K in
  SkylakeX|Cooperlake) cap=1 up=SkylakeX needs=AVX-512; K1=$(grep -q AuthenticAMD /proc/cpuinfo && echo Zen || echo Haswell) ;;
  *) cap=0 up=Haswell needs="AVX2 and FMA" K1=Prescott ;;
esac
RDROP_TEST_CPU_CLASS=$cap OPENBLAS_CORETYPE=$up "$RDROP" train "$TINY" "${args[@]}" --out "$TMP/up" > "$TMP/up.log" 2>&1 \
  || { cat "$TMP/up.log"; fail "auto with an unrunnable kernel failed"; }
grep -q "^blas .*kernel $K1 (rdrop: OpenBLAS picked $up)" "$TMP/up.log" \
  && grep -qx "warning: OPENBLAS_CORETYPE=$up selects kernel $up, which needs $needs, lacking on this CPU: running on $K1 instead" "$TMP/up.log" \
  || { cat "$TMP/up.log"; fail "auto did not replace an unrunnable kernel with $K1, with a warning"; }
rc=0; RDROP_TEST_CPU_CLASS=$cap OPENBLAS_CORETYPE=$up "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=keep \
  --out "$TMP/upkeep" > "$TMP/upkeep.out" 2> "$TMP/upkeep.err" || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l < "$TMP/upkeep.err")" -eq 1 ] \
  && grep -qx "rdrop: OPENBLAS_CORETYPE=$up selects kernel $up, which needs $needs, lacking on this CPU (unset it, or set run.blas_core: auto)" "$TMP/upkeep.err" \
  || { cat "$TMP/upkeep.err"; fail "keep with an unrunnable kernel: exit $rc, expected 2 and one line"; }
[ -e "$TMP/upkeep" ] && fail "keep refusal created the run folder"
rc=0; RDROP_TEST_CPU_CLASS=$cap "$RDROP" train "$TINY" "${args[@]}" --set run.blas_core=$up \
  --out "$TMP/upname" > "$TMP/upname.out" 2> "$TMP/upname.err" || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l < "$TMP/upname.err")" -eq 1 ] \
  && grep -qx "rdrop: $TINY: run.blas_core: $up needs $needs, which this CPU lacks (run.blas_core: auto picks its kernel)" "$TMP/upname.err" \
  || { cat "$TMP/upname.err"; fail "run.blas_core: $up on a CPU without $needs: exit $rc, expected 2 and one line"; }
pass "a kernel the CPU cannot run: auto replaces $up with $K1 (warning), keep and a name refuse in one line"

# refusal: a kernel that computes wrong results
rc=0; RDROP_TEST_BLAS_CORRUPT=1 "$RDROP" train "$TINY" "${args[@]}" --out "$TMP/bad" > "$TMP/bad.out" 2> "$TMP/bad.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$TMP/bad.err"; fail "wrong kernel: exit $rc, expected 1"; }
[ "$(wc -l < "$TMP/bad.err")" -eq 1 ] || { cat "$TMP/bad.err"; fail "wrong kernel: not one line"; }
grep -q "OpenBLAS kernel .*: sgemm .* is wrong .*run.blas_core: keep" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "message"; }
ls "$TMP/bad"/ckpt-*.h5 > /dev/null 2>&1 && fail "a checkpoint was written after the refusal"
# a bad name
rc=0; "$RDROP" train "$TINY" --set run.blas_core=Pentium9 --out "$TMP/name" > /dev/null 2> "$TMP/name.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "run.blas_core: must be auto, best, keep or an OpenBLAS kernel name" "$TMP/name.err" \
  || { cat "$TMP/name.err"; fail "bad kernel name: exit $rc"; }
pass "a wrong kernel is refused (exit 1, one line); an unknown name is a config error"
