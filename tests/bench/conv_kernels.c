/* conv_kernels - rdrop's convolution lowering (im2col + cblas_sgemm, src/conv.c) against the
 * convolution primitives of oneDNN (Debian's libdnnl-dev), layer by layer, on the conv layers
 * of the benchmark CNN and of the VGG recipe (issue #13: "if a Debian-packaged kernel is
 * measurably faster, say which and why, with the benchmark"; docs/conv.md "Other kernels").
 *
 *   conv_kernels [--reps N] [--json FILE]
 *
 * Per layer and direction (forward, backward to the kernel, backward to the input) it times
 * rdrop's own functions and oneDNN's primitive twice: on rdrop's own layouts (NHWC data, the
 * Keras kernel [KH, KW, C, F] = oneDNN's hwio: a drop-in replacement) and on the layouts
 * oneDNN prefers (format `any`: blocked, e.g. nChw16c; the reorders into and out of them are
 * NOT timed, so this is the kernel's best case). The calls are interleaved, N repetitions each
 * (default 15), and every figure is a median. Both libraries run one thread (OpenBLAS on the
 * kernel that rdrop picks, src/blas.h, openblas_set_num_threads(1); oneDNN's OpenMP runtime:
 * OMP_NUM_THREADS=1 is set here). Before timing, oneDNN's results on the rdrop layouts are compared with rdrop's
 * (largest difference relative to the largest magnitude), so both compute the same thing. A
 * model's first layer is timed forward and backward to its kernel only: a training step
 * computes no gradient for the input (oneDNN's blocked backward-data for one input channel is
 * also ~100x slower than the rest, which would only mislead).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include "blas.h"
#include "conv.h"

#define CHECK(call)                                                                        \
    do {                                                                                   \
        dnnl_status_t s_ = (call);                                                         \
        if (s_ != dnnl_success) {                                                          \
            fprintf(stderr, "conv_kernels: %s failed (oneDNN status %d)\n", #call, (int)s_); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

typedef struct {
    const char *name;
    int model;   /* 0 the benchmark CNN, 1 the VGG recipe */
    int H, W, C, F, rows;
    bool first;  /* the model's first layer: a step computes no gradient for the input */
} layer_case;

/* rows = the samples one GEMM sees: the doubled batch (2 x 128) of the R-Drop benchmark CNN,
 * the single-pass batch of 128 of the VGG recipe (fashion_cnn_best.yaml, its validation winner
 * is plain dropout). Every layer: 3x3, stride 1, same padding. */
static const layer_case CASES[] = {
    {"bench conv1 28x28x1->32", 0, 28, 28, 1, 32, 256, true},
    {"bench conv2 14x14x32->64", 0, 14, 14, 32, 64, 256, false},
    {"vgg conv1 28x28x1->64", 1, 28, 28, 1, 64, 128, true},
    {"vgg conv2 28x28x64->64", 1, 28, 28, 64, 64, 128, false},
    {"vgg conv3 14x14x64->128", 1, 14, 14, 64, 128, 128, false},
    {"vgg conv4 14x14x128->128", 1, 14, 14, 128, 128, 128, false},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0], N_DIR = 3, MAX_REPS = 201 };
static const char *DIR_NAME[N_DIR] = {"forward", "backward kernel", "backward input"};
static const char *MODEL_NAME[2] = {"benchmark CNN (2 layers, 256 rows)", "VGG recipe (4 layers, 128 rows)"};

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "other";
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *alloc_floats(size_t n)
{
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, (n ? n : 1) * sizeof(float)) != 0) {
        fprintf(stderr, "conv_kernels: out of memory (%zu floats)\n", n);
        exit(1);
    }
    return p;
}

static void fill(float *p, size_t n, unsigned *seed, float scale)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = scale * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

/* max |a - b| / max |b| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0.0 ? d / m : d;
}

/* One oneDNN convolution set (forward, backward weights, backward data) on either rdrop's
 * layouts (`any` false: oneDNN works on rdrop's own buffers) or oneDNN's own (`any` true: every
 * direction gets buffers in the layouts its primitive chose, filled with values; oneDNN may choose
 * differently per direction, e.g. the weights of a one-channel layer, and a reorder between them
 * is not what is measured here). */
enum { MAX_ARGS = 4 };
typedef struct {
    dnnl_primitive_t prim[N_DIR];
    int nargs[N_DIR];
    dnnl_exec_arg_t args[N_DIR][MAX_ARGS];
    char impl[N_DIR][128];
} dnnl_set;

typedef struct {
    int arg;             /* DNNL_ARG_* */
    dnnl_query_t query;  /* its memory descriptor in the primitive descriptor */
    float *user;         /* rdrop's buffer */
    bool input;          /* read by the primitive (filled with values in the `any` case) */
} arg_spec;

static void set_create(dnnl_set *S, const layer_case *L, const rd_conv_geom *g, bool any, dnnl_engine_t eng,
                       float *x, float *K, float *b, float *z, float *dx, float *dK, float *db, float *dz)
{
    const dnnl_dims_t sdims = {L->rows, L->C, L->H, L->W}, wdims = {L->F, L->C, 3, 3}, bdims = {L->F},
                      ddims = {L->rows, L->F, g->OH, g->OW}, strides = {1, 1},
                      pl = {g->pad_top, g->pad_left},
                      pr = {(g->OH - 1) + 3 - L->H - g->pad_top, (g->OW - 1) + 3 - L->W - g->pad_left};
    dnnl_memory_desc_t smd, wmd, bmd, dmd;
    CHECK(dnnl_memory_desc_init_by_tag(&smd, 4, sdims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&wmd, 4, wdims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_hwio));
    CHECK(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&dmd, 4, ddims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc));

    dnnl_convolution_desc_t cd[N_DIR];
    CHECK(dnnl_convolution_forward_desc_init(&cd[0], dnnl_forward_training, dnnl_convolution_direct, &smd, &wmd,
                                             &bmd, &dmd, strides, pl, pr));
    CHECK(dnnl_convolution_backward_weights_desc_init(&cd[1], dnnl_convolution_direct, &smd, &wmd, &bmd, &dmd,
                                                      strides, pl, pr));
    CHECK(dnnl_convolution_backward_data_desc_init(&cd[2], dnnl_convolution_direct, &smd, &wmd, &dmd, strides,
                                                   pl, pr));
    const arg_spec spec[N_DIR][MAX_ARGS] = {
        {{DNNL_ARG_SRC, dnnl_query_src_md, x, true}, {DNNL_ARG_WEIGHTS, dnnl_query_weights_md, K, true},
         {DNNL_ARG_BIAS, dnnl_query_weights_md, b, true}, {DNNL_ARG_DST, dnnl_query_dst_md, z, false}},
        {{DNNL_ARG_SRC, dnnl_query_src_md, x, true}, {DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, dz, true},
         {DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, dK, false},
         {DNNL_ARG_DIFF_BIAS, dnnl_query_diff_weights_md, db, false}},
        {{DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, dz, true}, {DNNL_ARG_WEIGHTS, dnnl_query_weights_md, K, true},
         {DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, dx, false}},
    };
    const int nargs[N_DIR] = {4, 4, 3};
    unsigned seed = 7u;
    dnnl_primitive_desc_t pd[N_DIR];
    for (int d = 0; d < N_DIR; d++) {
        CHECK(dnnl_primitive_desc_create(&pd[d], &cd[d], NULL, eng, d ? pd[0] : NULL));
        const char *str = NULL;
        CHECK(dnnl_primitive_desc_query(pd[d], dnnl_query_impl_info_str, 0, &str));
        snprintf(S->impl[d], sizeof S->impl[d], "%s", str ? str : "?");
        CHECK(dnnl_primitive_create(&S->prim[d], pd[d]));
        S->nargs[d] = nargs[d];
        for (int k = 0; k < nargs[d]; k++) {
            const arg_spec *a = &spec[d][k];
            /* the bias and its gradient: index 1 of the (diff_)weights descriptors */
            const bool bias = a->arg == DNNL_ARG_BIAS || a->arg == DNNL_ARG_DIFF_BIAS;
            const dnnl_memory_desc_t *md = bias ? &bmd : dnnl_primitive_desc_query_md(pd[d], a->query, 0);
            dnnl_memory_t m;
            CHECK(dnnl_memory_create(&m, md, eng, any && !bias ? DNNL_MEMORY_ALLOCATE : (void *)a->user));
            if (any && !bias && a->input) {   /* values, not zeros: an unfair best case otherwise */
                void *p = NULL;
                CHECK(dnnl_memory_get_data_handle(m, &p));
                fill(p, dnnl_memory_desc_get_size(md) / sizeof(float), &seed, 1.0f);
            }
            S->args[d][k] = (dnnl_exec_arg_t){a->arg, m};
        }
    }
    for (int d = 0; d < N_DIR; d++) dnnl_primitive_desc_destroy(pd[d]);
}

static void set_run(dnnl_set *S, int d, dnnl_stream_t st)
{
    CHECK(dnnl_primitive_execute(S->prim[d], st, S->nargs[d], S->args[d]));
    CHECK(dnnl_stream_wait(st));
}

static void set_free(dnnl_set *S)
{
    for (int d = 0; d < N_DIR; d++) {
        dnnl_primitive_destroy(S->prim[d]);
        for (int k = 0; k < S->nargs[d]; k++) dnnl_memory_destroy(S->args[d][k].memory);
    }
}

/* rdrop's own: the functions the model calls for a conv2d layer without a fused pool
 * (src/conv.c; the bias sums of the backward are a column sum of dz, added here as the step
 * does, so both sides compute dK, db, dx). */
static void rdrop_run(int d, const rd_conv_geom *g, int F, int rows, const float *x, const float *K,
                      const float *b, float *z, const float *dz, float *dK, float *db, float *dx, float *scratch)
{
    if (d == 0) {
        conv2d_forward(g, F, x, K, b, rows, scratch, z);
    } else if (d == 1) {
        conv2d_backward_kernel(g, F, x, dz, rows, scratch, dK);
        const size_t n = (size_t)rows * g->OH * g->OW;
        for (int f = 0; f < F; f++) db[f] = 0.0f;
        for (size_t i = 0; i < n; i++)
            for (int f = 0; f < F; f++) db[f] += dz[i * F + f];
    } else {
        conv2d_backward_input(g, F, dz, K, rows, scratch, dx);
    }
}

int main(int argc, char **argv)
{
    setenv("OMP_NUM_THREADS", "1", 1);   /* before oneDNN's OpenMP starts; survives the re-exec */
    rd_blas_select("auto", NULL, argv);
    openblas_set_num_threads(1);
    int reps = 15;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: conv_kernels [--reps N] [--json FILE]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "conv_kernels: --reps must be 1..%d\n", MAX_REPS);
        return 2;
    }
    const dnnl_version_t *ver = dnnl_version();
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    printf("OpenBLAS kernel %s (%s); oneDNN %d.%d.%d, ISA %s, 1 thread each, %d reps, medians\n\n",
           rd_blas_corename(), rd_blas_origin(), ver->major, ver->minor, ver->patch,
           isa_name(dnnl_get_effective_cpu_isa()), reps);
    printf("| layer (samples) | direction | GFLOP | rdrop ms | oneDNN nhwc ms | oneDNN blocked ms | "
           "rdrop ms / nhwc ms | rdrop ms / blocked ms | oneDNN impl (nhwc; blocked) | max rel diff |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n");
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) {
        fprintf(stderr, "conv_kernels: cannot write %s\n", json);
        return 1;
    }
    if (jf) fprintf(jf, "{\"blas_core\":\"%s\",\"onednn\":\"%d.%d.%d\",\"onednn_isa\":\"%s\",\"reps\":%d,\"cases\":[",
                    rd_blas_corename(), ver->major, ver->minor, ver->patch, isa_name(dnnl_get_effective_cpu_isa()),
                    reps);
    double sum[2][3][N_DIR + 1] = {{{0}}};   /* per model and side: ms per direction and overall */
    for (int c = 0; c < N_CASES; c++) {
        const layer_case *L = &CASES[c];
        rd_conv_geom g = rd_conv_geom_make(L->H, L->W, L->C, 3, 3, 1, 1, RD_PAD_SAME);
        const int P = rd_conv_patch(&g), rows = L->rows;
        const size_t nx = (size_t)rows * L->H * L->W * L->C, nz = (size_t)rows * g.OH * g.OW * L->F,
                     nk = (size_t)P * L->F;
        const size_t ns = (size_t)rd_conv_chunk(&g, rows) * g.OH * g.OW * P;
        float *x = alloc_floats(nx), *K = alloc_floats(nk), *b = alloc_floats((size_t)L->F),
              *z = alloc_floats(nz), *dz = alloc_floats(nz), *dK = alloc_floats(nk),
              *db = alloc_floats((size_t)L->F), *dx = alloc_floats(nx), *scr = alloc_floats(ns);
        float *z2 = alloc_floats(nz), *dK2 = alloc_floats(nk), *dx2 = alloc_floats(nx),
              *db2 = alloc_floats((size_t)L->F);
        unsigned seed = 1u + (unsigned)c;
        fill(x, nx, &seed, 1.0f);
        fill(K, nk, &seed, 0.2f);
        fill(b, (size_t)L->F, &seed, 0.1f);
        fill(dz, nz, &seed, 1.0f);
        dnnl_set own, blk;
        set_create(&own, L, &g, false, eng, x, K, b, z2, dx2, dK2, db2, dz);
        set_create(&blk, L, &g, true, eng, x, K, b, NULL, NULL, NULL, db2, NULL);
        /* the same results on the same buffers (oneDNN's into z2 / dK2 / dx2) */
        double diff[N_DIR];
        const int nd = L->first ? N_DIR - 1 : N_DIR;   /* directions a training step runs */
        for (int d = 0; d < nd; d++) {
            rdrop_run(d, &g, L->F, rows, x, K, b, z, dz, dK, db, dx, scr);
            set_run(&own, d, st);
        }
        diff[0] = rel_diff(z2, z, nz);
        diff[1] = fmax(rel_diff(dK2, dK, nk), rel_diff(db2, db, (size_t)L->F));
        diff[2] = nd == N_DIR ? rel_diff(dx2, dx, nx) : 0.0;
        const double gflop = 2e-9 * (double)rows * g.OH * g.OW * L->F * P;
        static double t[3][N_DIR][MAX_REPS];
        for (int r = -2; r < reps; r++)   /* 2 untimed warm-up rounds */
            for (int d = 0; d < nd; d++) {
                double t0 = now();
                rdrop_run(d, &g, L->F, rows, x, K, b, z, dz, dK, db, dx, scr);
                double t1 = now();
                set_run(&own, d, st);
                double t2 = now();
                set_run(&blk, d, st);
                double t3 = now();
                if (r >= 0) {
                    t[0][d][r] = 1e3 * (t1 - t0);
                    t[1][d][r] = 1e3 * (t2 - t1);
                    t[2][d][r] = 1e3 * (t3 - t2);
                }
            }
        if (jf) fprintf(jf, "%s{\"layer\":\"%s\",\"rows\":%d,\"gflop\":%.4f,\"directions\":[", c ? "," : "", L->name,
                        rows, gflop);
        for (int d = 0; d < nd; d++) {
            double m[3];
            for (int s = 0; s < 3; s++) {
                m[s] = median(t[s][d], reps);
                sum[L->model][s][d] += m[s];
                sum[L->model][s][N_DIR] += m[s];
            }
            printf("| %s (%d) | %s | %.3f | %.2f | %.2f | %.2f | %.2f | %.2f | %s; %s | %.1e |\n", L->name, rows,
                   DIR_NAME[d], gflop, m[0], m[1], m[2], m[0] / m[1], m[0] / m[2], own.impl[d], blk.impl[d], diff[d]);
            if (jf) fprintf(jf, "%s{\"direction\":\"%s\",\"rdrop_ms\":%.4f,\"onednn_nhwc_ms\":%.4f,"
                            "\"onednn_blocked_ms\":%.4f,\"impl_nhwc\":\"%s\",\"impl_blocked\":\"%s\",\"max_rel_diff\":%.3e}",
                            d ? "," : "", DIR_NAME[d], m[0], m[1], m[2], own.impl[d], blk.impl[d], diff[d]);
        }
        if (jf) fprintf(jf, "]}");
        set_free(&own);
        set_free(&blk);
        free(x), free(K), free(b), free(z), free(dz), free(dK), free(db), free(dx), free(scr);
        free(z2), free(dK2), free(dx2), free(db2);
    }
    printf("\n| all conv layers of | direction | rdrop ms | oneDNN nhwc ms | oneDNN blocked ms | rdrop ms / nhwc ms | "
           "rdrop ms / blocked ms |\n|---|---|---:|---:|---:|---:|---:|\n");
    if (jf) fprintf(jf, "],\"totals\":[");
    for (int mo = 0; mo < 2; mo++)
        for (int d = 0; d <= N_DIR; d++) {
            const double *r = sum[mo][0], *n = sum[mo][1], *k = sum[mo][2];
            printf("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", MODEL_NAME[mo], d < N_DIR ? DIR_NAME[d] : "all",
                   r[d], n[d], k[d], r[d] / n[d], r[d] / k[d]);
            if (jf) fprintf(jf, "%s{\"model\":\"%s\",\"direction\":\"%s\",\"rdrop_ms\":%.4f,\"onednn_nhwc_ms\":%.4f,"
                            "\"onednn_blocked_ms\":%.4f}", mo || d ? "," : "", MODEL_NAME[mo],
                            d < N_DIR ? DIR_NAME[d] : "all", r[d], n[d], k[d]);
        }
    if (jf) {
        fprintf(jf, "]}\n");
        fclose(jf);
    }
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
