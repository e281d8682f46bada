/* blas.h - which OpenBLAS kernel runs the GEMMs, and proof that it computes and how fast
 * (docs/ARCHITECTURE.md "The BLAS kernel").
 *
 * OpenBLAS picks its kernel by CPU model number when it is loaded; a model it does not know
 * (Debian 12's 0.3.21 on Intel family 6 model 207) gets the generic Prescott kernel, 4-6x
 * slower. rdrop classes the CPU by its CPUID feature bits instead and, when OpenBLAS's choice
 * is below that class, re-executes itself once with OPENBLAS_CORETYPE set (OpenBLAS reads the
 * variable only while loading, so this must happen before MPI_Init).
 *
 *   feature bits (and the OS saving the registers)   class  kernel
 *   AVX-512 F+BW+DQ+VL with AVX512_BF16               2      Cooperlake
 *   AVX-512 F+BW+DQ+VL                                2      SkylakeX
 *   AVX2+FMA, vendor AMD or Hygon                     1      Zen
 *   AVX2+FMA, any other vendor                        1      Haswell
 *   otherwise                                         0      (none: OpenBLAS's choice stands)
 *
 * A kernel's own class: SkylakeX, Cooperlake, SapphireRapids 2; Haswell, Zen 1; every other
 * (Prescott, Core2, Nehalem, Sandybridge, Barcelona, ...) 0.
 */
#ifndef RDROP_BLAS_H
#define RDROP_BLAS_H

#include "common.h"
#include "cpu.h"

/* The kernel for a CPU with these features, or NULL when there is none to prefer. */
const char *rd_blas_class_kernel(const rd_cpu_features *f);

/* Class of a kernel name (case-insensitive): 2, 1 or 0 (unknown names are 0). */
int rd_blas_kernel_class(const char *name);

/* Is `name` a kernel of OpenBLAS's x86-64 DYNAMIC_ARCH build (case-insensitive)? */
bool rd_blas_kernel_known(const char *name);

/* Can a CPU whose class kernel is `best` (NULL: class 0) run kernel `name`: is the kernel's
 * class at most the CPU's? */
bool rd_blas_kernel_runs(const char *name, const char *best);

/* The decision, a pure function of its inputs (unit-tested):
 * mode "auto" | "best" | "keep" | a kernel name; picked = openblas_get_corename();
 * env = OPENBLAS_CORETYPE or NULL; best = rd_blas_class_kernel() or NULL.
 * Returns the kernel to restart with, or NULL to go on as is. *warning (may be NULL) gets
 * a message when the kernel stays below class or one this CPU cannot run is replaced (auto,
 * best: with the class kernel, Prescott on a class-0 CPU). When keep or a name would run a
 * kernel this CPU cannot run, *refuse is set and *warning holds the error. */
const char *rd_blas_decide(const char *mode, const char *picked, const char *env, const char *best,
                           char *warning, size_t warning_len, bool *refuse);

/* Called first thing by every command that runs GEMMs, before MPI_Init: decides, and when a
 * restart is due and none happened yet (marker RDROP_BLAS_RESTARTED in the environment),
 * sets OPENBLAS_CORETYPE and re-executes /proc/self/exe with the same argv; does not return
 * then (a warning crosses the restart in RDROP_BLAS_RESTARTED's companion RDROP_BLAS_WARNING).
 * Otherwise records the origin (see rd_blas_origin) and returns; a warning, if any, is kept
 * for rd_blas_warning(). A kernel this CPU cannot run, asked for by `keep` or a name, ends the
 * process: one line (naming `config`, when not NULL, for a name) and exit 2. */
void rd_blas_select(const char *mode, const char *config, char **argv);

/* "OpenBLAS" (its own choice), "OPENBLAS_CORETYPE" (set in the environment) or
 * "rdrop: OpenBLAS picked <name>" (rdrop restarted with the class kernel). */
const char *rd_blas_origin(void);
/* The warning of rd_blas_select, or "" . */
const char *rd_blas_warning(void);
/* "0.3.21" from openblas_get_config(), or "unknown". */
const char *rd_blas_version(void);
const char *rd_blas_corename(void);

/* Multiply one m x k by k x n product with cblas_sgemm and with a plain double loop;
 * fails (RD_EXIT_INTERNAL, one line naming the kernel and how to choose another) when the
 * normwise relative error exceeds 1e-4. Inputs are a fixed pseudo-random pattern.
 * RDROP_TEST_BLAS_CORRUPT=1 in the environment perturbs the BLAS result (test hook). */
int rd_blas_verify(int m, int n, int k, rd_error *e);

/* GFLOP/s of cblas_sgemm on m x n x k (row-major, no transposes), repeated for about
 * max_seconds (at least once, after one warm-up call). */
double rd_blas_gflops(int m, int n, int k, double max_seconds);

#endif
