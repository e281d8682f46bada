/* blas.c - kernel choice by CPU feature bits, a restart with OPENBLAS_CORETYPE, a
 * correctness check and a speed probe of the kernel in use (see blas.h for the table). */
#include "blas.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <cblas.h>

#define MARKER "RDROP_BLAS_RESTARTED"
#define WARNING "RDROP_BLAS_WARNING"   /* carries a warning across the restart */

static char g_origin[96] = "OpenBLAS";
static char g_warning[256];

const char *rd_blas_class_kernel(const rd_cpu_features *f)
{
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl)
        return f->avx512bf16 ? "Cooperlake" : "SkylakeX";
    if (f->avx2 && f->fma) return f->amd ? "Zen" : "Haswell";
    return NULL;
}

/* OpenBLAS 0.3.21's x86-64 DYNAMIC_ARCH kernels (driver/others/dynamic.c corename list). */
static const char *const KNOWN[] = {
    "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
    "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano",
    "Sandybridge", "Bobcat", "Bulldozer", "Piledriver", "Haswell", "Steamroller", "Excavator",
    "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
};

bool rd_blas_kernel_known(const char *name)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (!strcasecmp(name, KNOWN[i])) return true;
    return false;
}

int rd_blas_kernel_class(const char *name)
{
    static const char *const c2[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const c1[] = {"Haswell", "Zen"};
    for (size_t i = 0; i < 3; i++)
        if (!strcasecmp(name, c2[i])) return 2;
    for (size_t i = 0; i < 2; i++)
        if (!strcasecmp(name, c1[i])) return 1;
    return 0;
}

/* What a kernel class needs from the CPU, for messages. */
static const char *class_needs(int cls)
{
    return cls >= 2 ? "AVX-512" : cls == 1 ? "AVX2 and FMA" : "";
}

bool rd_blas_kernel_runs(const char *name, const char *best)
{
    return rd_blas_kernel_class(name) <= (best ? rd_blas_kernel_class(best) : 0);
}

const char *rd_blas_decide(const char *mode, const char *picked, const char *env, const char *best,
                           char *warning, size_t warning_len, bool *refuse)
{
    if (warning && warning_len) warning[0] = '\0';
    *refuse = false;
    bool named = strcmp(mode, "auto") && strcmp(mode, "best") && strcmp(mode, "keep");
    /* OpenBLAS loads whatever OPENBLAS_CORETYPE names, runnable or not (its force_coretype
     * checks no feature bits): an AVX-512 kernel on an AVX2 CPU dies of SIGILL in its first
     * GEMM. keep and a name cannot go on with such a kernel; auto and best replace it. */
    const char *want = named ? mode : picked;
    if ((named || (env && env[0])) && !rd_blas_kernel_runs(want, best)) {
        const char *needs = class_needs(rd_blas_kernel_class(want));
        if (named) {
            *refuse = true;
            if (warning)
                snprintf(warning, warning_len, "run.blas_core: %s needs %s, which this CPU lacks "
                         "(run.blas_core: auto picks its kernel)", mode, needs);
            return NULL;
        }
        if (!strcmp(mode, "keep")) {
            *refuse = true;
            if (warning)
                snprintf(warning, warning_len, "OPENBLAS_CORETYPE=%s selects kernel %s, which "
                         "needs %s, lacking on this CPU (unset it, or set run.blas_core: auto)",
                         env, picked, needs);
            return NULL;
        }
        const char *to = best ? best : "Prescott";
        if (warning)
            snprintf(warning, warning_len, "warning: OPENBLAS_CORETYPE=%s selects kernel %s, which "
                     "needs %s, lacking on this CPU: running on %s instead", env, picked, needs, to);
        return to;
    }
    if (!strcmp(mode, "keep")) return NULL;
    if (named)   /* a kernel name */
        return strcasecmp(picked, mode) ? mode : NULL;
    if (!best || rd_blas_kernel_class(picked) >= rd_blas_kernel_class(best)) return NULL;
    if (!strcmp(mode, "auto") && env && env[0]) {
        if (warning)
            snprintf(warning, warning_len,
                     "warning: OPENBLAS_CORETYPE=%s selects kernel %s, below this CPU's %s "
                     "(slower; run.blas_core: best replaces it)", env, picked, best);
        return NULL;
    }
    return best;
}

void rd_blas_select(const char *mode, const char *config, char **argv)
{
    const char *picked = openblas_get_corename();
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *restarted = getenv(MARKER);
    if (restarted && restarted[0]) {
        snprintf(g_origin, sizeof g_origin, "rdrop: OpenBLAS picked %s", restarted);
        const char *w = getenv(WARNING);   /* the first process's warning, if it had one */
        if (w) snprintf(g_warning, sizeof g_warning, "%s", w);
        unsetenv(WARNING);
        return;
    }
    if (env && env[0]) snprintf(g_origin, sizeof g_origin, "OPENBLAS_CORETYPE");
    rd_cpu_features f = rd_cpu_detect();
    /* test hook: pretend a CPU of a lower class (1: no AVX-512, 0: no AVX2 either), so that the
     * tests can reach the paths of a kernel this CPU cannot run on any machine */
    const char *cap = getenv("RDROP_TEST_CPU_CLASS");
    if (cap && (!strcmp(cap, "0") || !strcmp(cap, "1"))) {
        f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = f.avx512bf16 = false;
        if (cap[0] == '0') f.avx2 = f.fma = false;
    }
    bool refuse;
    const char *to = rd_blas_decide(mode, picked, env, rd_blas_class_kernel(&f), g_warning,
                                    sizeof g_warning, &refuse);
    if (refuse) {   /* before MPI_Init: one line from each process, no MPI teardown to go through */
        bool named = strcmp(mode, "keep") != 0;   /* the config's key, not the environment */
        fprintf(stderr, "rdrop: %s%s%s\n", named && config ? config : "", named && config ? ": " : "", g_warning);
        exit(RD_EXIT_CONFIG);
    }
    if (!to) return;
    /* The marker holds what OpenBLAS picked, so the restarted process can say so. */
    if (setenv(MARKER, picked, 1) || setenv("OPENBLAS_CORETYPE", to, 1)) return;
    if (g_warning[0] && setenv(WARNING, g_warning, 1)) return;
    fflush(NULL);
    /* The binary's real path, not /proc/self/exe: exec names the process after the path's last
     * component, and launchers, ps and the tests know the ranks as "rdrop", not "exe". */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): go on with the slow kernel, and say so */
    snprintf(g_warning, sizeof g_warning,
             "warning: could not restart with OPENBLAS_CORETYPE=%s (%s); running on kernel %s",
             to, strerror(errno), picked);
    unsetenv(MARKER);
}

const char *rd_blas_origin(void) { return g_origin; }
const char *rd_blas_warning(void) { return g_warning; }
const char *rd_blas_corename(void) { return openblas_get_corename(); }

const char *rd_blas_version(void)
{
    static char v[32];
    if (v[0]) return v;
    const char *cfg = openblas_get_config();
    const char *p = cfg ? strstr(cfg, "OpenBLAS ") : NULL;
    if (!p) return strcpy(v, "unknown");
    p += 9;
    size_t n = 0;
    while (p[n] && !isspace((unsigned char)p[n]) && n < sizeof v - 1) n++;
    memcpy(v, p, n);
    v[n] = '\0';
    return v;
}

/* A fixed pattern in [-1, 1): no RNG stream needed, the same on every rank. */
static void fill(float *a, size_t n, uint32_t salt)
{
    uint32_t s = 2463534242u ^ salt;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        a[i] = (float)((double)s / 2147483648.0 - 1.0);
    }
}

int rd_blas_verify(int m, int n, int k, rd_error *e)
{
    float *A = rd_malloc((size_t)m * k * sizeof(float)), *B = rd_malloc((size_t)k * n * sizeof(float));
    float *C = rd_malloc((size_t)m * n * sizeof(float));
    fill(A, (size_t)m * k, 1);
    fill(B, (size_t)k * n, 2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
    const char *corrupt = getenv("RDROP_TEST_BLAS_CORRUPT");
    if (corrupt && !strcmp(corrupt, "1")) C[(size_t)m * n / 2] += 1000.0f;
    double num = 0.0, den = 0.0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) s += (double)A[(size_t)i * k + p] * B[(size_t)p * n + j];
            double d = C[(size_t)i * n + j] - s;
            num += d * d;
            den += s * s;
        }
    free(A);
    free(B);
    free(C);
    double rel = den > 0.0 ? sqrt(num / den) : sqrt(num);
    if (!(rel <= 1e-4))
        return rd_fail(e, RD_EXIT_INTERNAL,
                       "OpenBLAS kernel %s: sgemm %dx%dx%d is wrong (relative error %.3g > 1e-4); "
                       "choose another kernel with run.blas_core: keep (OpenBLAS's own) or a name "
                       "such as Haswell", openblas_get_corename(), m, n, k, rel);
    return 0;
}

double rd_blas_gflops(int m, int n, int k, double max_seconds)
{
    float *A = rd_malloc((size_t)m * k * sizeof(float)), *B = rd_malloc((size_t)k * n * sizeof(float));
    float *C = rd_malloc((size_t)m * n * sizeof(float));
    fill(A, (size_t)m * k, 3);
    fill(B, (size_t)k * n, 4);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
    double best = 0.0, start = rd_now(), flops = 2.0 * m * n * k;
    do {
        double t0 = rd_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
        double dt = rd_now() - t0;
        if (dt > 0.0 && flops / dt > best) best = flops / dt;
    } while (rd_now() - start < max_seconds);
    free(A);
    free(B);
    free(C);
    return best / 1e9;
}
