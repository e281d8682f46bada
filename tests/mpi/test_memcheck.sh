#!/usr/bin/env bash
# labels: memcheck;sanitize
# valgrind memcheck and the step loop's allocations.
# 1. A 2-rank, 2-step training run, then inspect/eval of its checkpoint and a data error path,
#    each under valgrind memcheck: no invalid read/write, no use of uninitialised values, no
#    definite leak (--error-exitcode). Suppressed: only what is inside Open MPI / PMIx
#    (/usr/share/openmpi/openmpi-valgrind.supp and tests/valgrind-mpi.supp, commented).
# 2. The per-step loop allocates nothing: an LD_PRELOAD malloc counter attributes every
#    malloc/calloc/realloc/memalign to the first stack frame outside libc - rdrop's own code or
#    a library (Open MPI, OpenBLAS, HDF5) - and rdrop's count must be the same for a 6-step and a
#    12-step run, on each of 2 ranks. (Library allocations inside a step are reported.)
source "$(dirname "$0")/lib.sh"
command -v valgrind > /dev/null || { echo "SKIP: valgrind missing (apt-get install valgrind)"; exit 77; }
OMPI_SUPP=/usr/share/openmpi/openmpi-valgrind.supp
[ -f "$OMPI_SUPP" ] || fail "$OMPI_SUPP missing (openmpi-bin)"
VG=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --track-origins=no --num-callers=40 --suppressions="$OMPI_SUPP" --suppressions="$SRC/tests/valgrind-mpi.supp")
mkdir -p "$TMP/vg"
check_vg() {
  local f bad=0 n=0
  for f in "$TMP"/vg/*.log; do
    # A singleton's MPI_Init forks a helper that execs orted: its log ends without a summary.
    grep -q "ERROR SUMMARY" "$f" || continue
    n=$((n + 1))
    if ! grep -q "ERROR SUMMARY: 0 errors" "$f" || grep -q "definitely lost: [1-9]" "$f"; then
      grep -v "^==[0-9]*== *$" "$f" | sed -n '/ERROR SUMMARY\|definitely lost in\|Invalid\|uninitialised\|Syscall/,$p' | head -n 80; bad=1
    fi
  done
  [ $bad -eq 0 ] || fail "valgrind reported errors: $*"
  [ $n -gt 0 ] || fail "no complete valgrind log: $*"
  grep -h "ERROR SUMMARY\|total heap usage" "$TMP"/vg/*.log | sed 's/^==[0-9]*== */  /'
  rm -f "$TMP"/vg/*.log
}
t0=$(date +%s)
run=$TMP/run
timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none "${VG[@]}" --log-file="$TMP/vg/train.%p.log" \
  "$RDROP" train "$TINY" --out "$run" --set training.max_steps=2 > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; check_vg train; fail "train exited $rc"; }
check_vg "2-rank training run"
timeout -k 10 300 "${VG[@]}" --log-file="$TMP/vg/inspect.%p.log" "$RDROP" inspect "$run/ckpt-000000002.h5" > /dev/null \
  || { rc=$?; check_vg inspect; fail "inspect exited $rc"; }
timeout -k 10 300 "${VG[@]}" --log-file="$TMP/vg/eval.%p.log" "$RDROP" eval --checkpoint "$run/ckpt-000000002.h5" > /dev/null \
  || { rc=$?; check_vg eval; fail "eval exited $rc"; }
check_vg "inspect and eval"
printf 'model: {layers: [{type: dense, units: 10}]}\ndata: {format: idx, train_images: %s, train_labels: x, test_images: x, test_labels: x}\n' \
  "$TINY" > "$TMP/idx.yaml"
set +e
timeout -k 10 300 "${VG[@]}" --log-file="$TMP/vg/err.%p.log" "$RDROP" train "$TMP/idx.yaml" --out "$TMP/e" > /dev/null 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || { check_vg "data error"; fail "data error path exited $rc, want 3"; }
check_vg "data error path"
echo "valgrind part: $(( $(date +%s) - t0 ))s"
# Negative control: valgrind with these options reports a real out-of-bounds read in rdrop's
# code (tests/tools/canary_oob.c), so "no error" above is a verdict, not a blind spot.
canary=$(dirname "$RDROP")/tests/canary_oob
[ -x "$canary" ] || fail "$canary not built"
rc=0
timeout -k 10 120 "${VG[@]}" --log-file="$TMP/canary.log" "$canary" > /dev/null 2>&1 || rc=$?
[ $rc -eq 99 ] && grep -q "Invalid read" "$TMP/canary.log" || { cat "$TMP/canary.log"; fail "valgrind missed the canary's out-of-bounds read (exit $rc)"; }
echo "negative control: valgrind reports the canary's invalid read (exit 99)"

# --- allocations per step
cat > "$TMP/malloc_count.c" <<'CEOF'
#define _GNU_SOURCE
#include <execinfo.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

typedef struct { uintptr_t lo, hi; } range;
static range exe[8], self[8], libc_r[8];
static int nexe, nself, nlibc, ready;
static unsigned long n_rdrop, n_other;
static __thread int busy __attribute__((tls_model("initial-exec")));

static int in(const range *r, int n, uintptr_t a)
{
    for (int i = 0; i < n; i++) if (a >= r[i].lo && a < r[i].hi) return 1;
    return 0;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    int *first = data;
    range *r = NULL; int *n = NULL;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (*first) { r = exe; n = &nexe; *first = 0; }
    else if (strstr(name, "/libc.so")) { r = libc_r; n = &nlibc; }
    else if (strstr(name, "malloc_count")) { r = self; n = &nself; }
    if (!r) return 0;
    for (int i = 0; i < info->dlpi_phnum && *n < 8; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            r[*n].lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            r[*n].hi = r[*n].lo + info->dlpi_phdr[i].p_memsz;
            (*n)++;
        }
    return 0;
}

/* Attribute an allocation to the first frame outside this library and libc. */
static void count(void)
{
    if (busy || !ready) return;
    busy = 1;
    void *f[48];
    int n = backtrace(f, 48), i = 0;
    while (i < n && (in(self, nself, (uintptr_t)f[i]) || in(libc_r, nlibc, (uintptr_t)f[i]))) i++;
    if (i < n && in(exe, nexe, (uintptr_t)f[i])) __atomic_add_fetch(&n_rdrop, 1, __ATOMIC_RELAXED);
    else __atomic_add_fetch(&n_other, 1, __ATOMIC_RELAXED);
    busy = 0;
}

void *malloc(size_t s) { count(); return __libc_malloc(s); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t s) { count(); return __libc_realloc(p, s); }
void *memalign(size_t a, size_t s) { count(); return __libc_memalign(a, s); }
void *aligned_alloc(size_t a, size_t s) { count(); return __libc_memalign(a, s); }
int posix_memalign(void **p, size_t a, size_t s) { count(); *p = __libc_memalign(a, s); return *p ? 0 : 12; }

__attribute__((constructor)) static void init(void)
{
    busy = 1;
    void *f[2];
    backtrace(f, 2);   /* loads the unwinder now, outside any count */
    int first = 1;
    dl_iterate_phdr(phdr_cb, &first);
    busy = 0;
    ready = 1;
}

__attribute__((destructor)) static void fini(void)
{
    const char *path = getenv("MALLOC_COUNT_FILE"), *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!path || !rank) return;
    busy = 1;
    FILE *f = fopen(path, "a");
    if (f) { fprintf(f, "%s %lu %lu\n", rank, n_rdrop, n_other); fclose(f); }
}
CEOF
cc -O2 -shared -fPIC -o "$TMP/malloc_count.so" "$TMP/malloc_count.c" || fail "cannot build the malloc counter"
for n in 6 12; do
  timeout -k 10 120 mpirun -np 2 --oversubscribe --bind-to none -x MALLOC_COUNT_FILE="$TMP/count.$n" \
    -x LD_PRELOAD="$TMP/malloc_count.so" "$RDROP" train "$TINY" --out "$TMP/count-run-$n" \
    --set training.max_steps=$n --set checkpoint.every_epochs=0 > "$TMP/log" 2>&1 || { rc=$?; cat "$TMP/log"; fail "counted run exited $rc"; }
  sort "$TMP/count.$n" > "$TMP/count.$n.sorted"
done
$PY - "$TMP/count.6.sorted" "$TMP/count.12.sorted" <<'PYEOF'
import sys
a = [l.split() for l in open(sys.argv[1])]
b = [l.split() for l in open(sys.argv[2])]
assert len(a) == 2 and len(b) == 2, (a, b)
ok = True
for (ra, da, oa), (rb, db, ob) in zip(a, b):
    print(f"rank {ra}: rdrop's own allocations {da} (6 steps) vs {db} (12 steps); "
          f"libraries' {oa} vs {ob} ({(int(ob) - int(oa)) / 6:+.1f} per step: Open MPI's nonblocking "
          f"collectives, OpenBLAS)")
    ok &= da == db
if not ok:
    sys.exit("rdrop's code allocates inside the step loop")
PYEOF
pass "valgrind: no error or definite leak in rdrop's code; the step loop allocates nothing ($(( $(date +%s) - t0 ))s)"
