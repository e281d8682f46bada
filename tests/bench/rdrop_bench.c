/* rdrop_bench - times the real training step (src/step.c) of a config on R ranks.
 *
 *   mpirun -np R rdrop_bench CONFIG [--set KEY=VALUE]... [--json FILE] [--label NAME]
 *          [--warmup STEPS] [--windows N] [--window-s SECONDS] [--no-sgemm]
 *
 * After warm-up it alternates timed windows of training steps with windows in which
 * cblas_sgemm alone runs the step's GEMM shapes (the same number of calls), so both are
 * measured under the same machine load; every figure is a median over the windows.
 * Reports samples/s, the step split into phases, achieved GFLOP/s (the GEMM FLOPs of
 * forward + backward over the (doubled) batch divided by the whole step time), the sgemm
 * GFLOP/s on the same shapes and their ratio, mallocs per step in rdrop's own code (the
 * link wraps malloc/calloc/realloc), and peak RSS per rank against the expected footprint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cblas.h>

#include "blas.h"
#include "config.h"
#include "dist.h"
#include "optim.h"
#include "rng.h"
#include "step.h"
#include "train.h"

/* ---- allocation counter (-Wl,--wrap=malloc,...: only rdrop's own objects are wrapped) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
static volatile long g_allocs;
static volatile int g_counting;

void *__wrap_malloc(size_t n)
{
    if (g_counting) g_allocs++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t s)
{
    if (g_counting) g_allocs++;
    return __real_calloc(n, s);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (g_counting) g_allocs++;
    return __real_realloc(p, n);
}

/* ---- options ---- */

#define MAX_SETS 64
#define MAX_WINDOWS 101
#define MAX_GEMMS (6 * RD_MAX_LAYERS)

typedef struct {
    const char *config, *json, *label;
    char *sets[MAX_SETS];
    int nsets, warmup, windows;
    double window_s;
    bool sgemm;
} bench_opts;

static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->warmup = 10;
    o->windows = 11;
    o->window_s = 0.5;
    o->sgemm = true;
    o->label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--set") && v && o->nsets < MAX_SETS) o->sets[o->nsets++] = argv[++i];
        else if (!strcmp(a, "--json") && v) o->json = argv[++i];
        else if (!strcmp(a, "--label") && v) o->label = argv[++i];
        else if (!strcmp(a, "--warmup") && v) o->warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--windows") && v) o->windows = atoi(argv[++i]);
        else if (!strcmp(a, "--window-s") && v) o->window_s = atof(argv[++i]);
        else if (!strcmp(a, "--no-sgemm")) o->sgemm = false;
        else if (a[0] != '-' && !o->config) o->config = a;
        else return -1;
    }
    if (o->windows < 1) o->windows = 1;
    if (o->windows > MAX_WINDOWS) o->windows = MAX_WINDOWS;
    return o->config ? 0 : -1;
}

/* ---- the GEMM shapes of one step (as rd_model_forward/backward call them, unpanelled) ---- */

typedef struct {
    char name[32];
    CBLAS_TRANSPOSE ta, tb;
    int M, N, K;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
    int reps;            /* calls per step (conv2d chunks); 0 = 1 */
} gemm_shape;

/* Operands are the model's own buffers, all of which every step recomputes before use
 * (outputs land in dy/grads), so the sgemm windows need no extra memory. */
static int step_gemms(rd_model *m, const float *x, int rows, gemm_shape *g)
{
    int n = 0;
    bool dense_before = false;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind == RD_LAYER_CONV2D) {   /* per chunk: im2col patches [n*OH*OW x KK] times K [KK x F] */
            /* a ReLU + max_pool pair runs backward over its forward chunks (its dy holds one) */
            const int ch = L->z_chunk ? L->fwd_chunk : rd_conv_chunk(&L->g, rows), pos = L->g.OH * L->g.OW,
                      KK = L->k_rows, F = L->k_cols;
            const int full = rows / ch, rest = rows % ch;
            float *W = m->params + L->w_off;
            const int fc = L->fwd_chunk > 0 ? L->fwd_chunk : ch;   /* forward's own chunks (model.h) */
            for (int part = 0; part < 2; part++) {
                const int Mf = (part ? rows % fc : fc) * pos, repf = part ? 1 : rows / fc;
                if (Mf == 0) continue;
                g[n++] = (gemm_shape){"", CblasNoTrans, CblasNoTrans, Mf, F, KK, L->patches, W, L->dy, KK, F, F, repf};
                snprintf(g[n - 1].name, sizeof g[0].name, "cfwd%d%s", L->conv_index, part ? "r" : "");
            }
            for (int part = 0; part < 2; part++) {
                const int M = (part ? rest : ch) * pos, reps = part ? 1 : full;
                if (M == 0) continue;
                g[n++] = (gemm_shape){"", CblasTrans, CblasNoTrans, KK, F, M, L->patches, L->dy, m->grads + L->w_off,
                                      KK, F, F, reps};
                snprintf(g[n - 1].name, sizeof g[0].name, "cdK%d%s", L->conv_index, part ? "r" : "");
                if (dense_before) {
                    g[n++] = (gemm_shape){"", CblasNoTrans, CblasTrans, M, KK, F, L->dy, W, L->patches, F, F, KK, reps};
                    snprintf(g[n - 1].name, sizeof g[0].name, "cdP%d%s", L->conv_index, part ? "r" : "");
                }
            }
            dense_before = true;
            continue;
        }
        if (L->kind != RD_LAYER_DENSE) continue;
        const float *in = i == 0 ? x : m->layers[i - 1].y;
        float *W = m->params + L->w_off;
        g[n++] = (gemm_shape){"", CblasNoTrans, CblasNoTrans, rows, L->out, L->in, in, W, L->dy,
                              L->in, L->out, L->out, 1};
        snprintf(g[n - 1].name, sizeof g[0].name, "fwd%d", L->dense_index);
        g[n++] = (gemm_shape){"", CblasTrans, CblasNoTrans, L->in, L->out, rows, in, L->dy,
                              m->grads + L->w_off, L->in, L->out, L->out, 1};
        snprintf(g[n - 1].name, sizeof g[0].name, "dW%d", L->dense_index);
        if (dense_before) {
            g[n++] = (gemm_shape){"", CblasNoTrans, CblasTrans, rows, L->in, L->out, L->dy, W,
                                  m->layers[i - 1].dy, L->out, L->out, L->in, 1};
            snprintf(g[n - 1].name, sizeof g[0].name, "dX%d", L->dense_index);
        }
        dense_before = true;
    }
    return n;
}

static double gemm_flops(const gemm_shape *g) { return 2.0 * g->M * (double)g->N * g->K * (g->reps ? g->reps : 1); }

static void run_gemm(const gemm_shape *g)
{
    for (int r = 0; r < (g->reps ? g->reps : 1); r++)
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B, g->ldb,
                    0.0f, g->C, g->ldc);
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double tmp[MAX_WINDOWS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

/* ---- memory ---- */

/* User + system CPU seconds of this process (all its threads). */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * ru.ru_stime.tv_usec;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;   /* Linux: kilobytes */
}

/* The footprint the issue names: parameters + gradients + momentum, the activations of the
 * (doubled) batch (each layer's output and its gradient in float32, dropout masks in uint8,
 * the input batch and the logit gradients), the im2col patches the model allocates (one chunk,
 * or the whole batch's when it keeps them: docs/conv.md "Buffers"), and the data sets (uint8
 * pixels, int32 labels). */
static double expected_bytes(const rd_model *m, const rd_dataset *tr, const rd_dataset *te)
{
    double b = (3.0 * (double)m->n_params + RD_CONTROL_FLOATS) * sizeof(float);
    double rows = m->max_rows;
    b += rows * (m->input_dim + m->output_dim) * sizeof(float);
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        /* output and its gradient; a ReLU + max_pool pair's conv layer holds one chunk of each */
        b += (L->z_chunk ? L->fwd_chunk : rows) * L->out * 2.0 * sizeof(float);
        if (L->kind == RD_LAYER_DROPOUT) b += rows * L->out;
        if (L->kind == RD_LAYER_MAX_POOL) b += rows * L->out * sizeof(int32_t);
        if (L->kind == RD_LAYER_CONV2D)   /* the im2col patches: one chunk, or the whole batch */
            b += (L->keep_patches ? m->max_rows : rd_conv_chunk(&L->g, m->max_rows)) * (double)L->g.OH * L->g.OW *
                 L->k_rows * sizeof(float);
    }
    b += (double)tr->n * (tr->features + 4.0) + (double)te->n * (te->features + 4.0);
    return b;
}

static void loadavg(char *buf, size_t n)
{
    snprintf(buf, n, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

/* ---- the benchmark ---- */

typedef struct {
    rd_config c;
    rd_dist d;
    rd_dataset train, test;
    rd_model m;
    rd_step S;
    uint32_t *ids, *perm;
    int B_g, B_l, lo, spe;
    uint64_t t;
    int64_t perm_epoch;
    double rss_start, rss_data;
} bench;

static void one_step(bench *b, rd_step_timing *tm)
{
    const int64_t epoch = (int64_t)(b->t / (uint64_t)b->spe), pos = (int64_t)(b->t % (uint64_t)b->spe);
    if (epoch != b->perm_epoch) {
        rd_epoch_permutation(b->perm, b->ids, b->train.n, b->c.run.seed, (uint32_t)epoch, b->c.data.shuffle);
        b->perm_epoch = epoch;
    }
    float *ctl = rd_step_control(&b->S);
    ctl[RD_CTL_STOP] = ctl[RD_CTL_CLOCK] = 0.0f;
    rd_step_compute(&b->S, &b->train, b->perm + (size_t)pos * b->B_g + b->lo, b->B_l, b->t,
                    (uint32_t)epoch, tm);
    if (!rd_step_finite(&b->S, tm) || !rd_step_update(&b->S, rd_schedule_lr(&b->c, b->t, 0), tm)) {
        if (b->d.rank == 0) fprintf(stderr, "rdrop_bench: non-finite loss or gradient at step %llu\n",
                                    (unsigned long long)b->t);
        rd_dist_finalize(&b->d);
        exit(6);
    }
    b->t++;
}

static int setup(bench *b, const bench_opts *o, rd_error *e)
{
    int rc = rd_config_load(&b->c, o->config, o->nsets, o->sets, e);
    if (rc) return rc;
    openblas_set_num_threads(b->c.run.blas_threads);
    b->rss_start = peak_rss_bytes();
    rc = rd_load_datasets(&b->c, &b->train, &b->test, e);
    if (rc) return rc;
    b->rss_data = peak_rss_bytes();
    const int N = b->d.size, r = b->d.rank;
    b->B_g = (int)b->c.data.batch_size;
    if (b->B_g < N || (uint32_t)b->B_g > b->train.n)
        return rd_fail(e, RD_EXIT_CONFIG, "data.batch_size %d does not fit %d ranks / %u samples", b->B_g, N, b->train.n);
    b->lo = (int)((int64_t)r * b->B_g / N);
    b->B_l = (int)((int64_t)(r + 1) * b->B_g / N) - b->lo;
    int B_max = (b->B_g + N - 1) / N;
    rc = rd_model_create_for(&b->m, &b->c, &b->train, b->c.rdrop.passes * B_max, e);
    if (rc) return rc;
    if (b->d.rank == 0) rd_model_init_params(&b->m, b->c.model.init, b->c.run.seed);
    rd_dist_bcast(&b->d, b->m.params, b->m.n_params * sizeof(float), 0);
    rd_step_create(&b->S, &b->m, &b->c, &b->d, B_max);
    b->ids = rd_malloc((size_t)b->train.n * sizeof *b->ids);
    b->perm = rd_malloc((size_t)b->train.n * sizeof *b->perm);
    for (uint32_t i = 0; i < b->train.n; i++) b->ids[i] = i;
    b->spe = (int)(b->train.n / (uint32_t)b->B_g);
    b->perm_epoch = -1;
    return 0;
}

typedef struct {
    int n_windows, steps;
    double sps[MAX_WINDOWS], step_ms[MAX_WINDOWS], gflops[MAX_WINDOWS], sgemm_gflops[MAX_WINDOWS];
    double cpu_share[MAX_WINDOWS];          /* CPU seconds / wall seconds: < 1 = other jobs ran */
    double cpu_ms[MAX_WINDOWS];             /* CPU ms per step (rank 0): robust to time slicing */
    double phase[9][MAX_WINDOWS];          /* ms per step, order of phase_names */
    double shape_ms[MAX_GEMMS][MAX_WINDOWS];
    gemm_shape g[MAX_GEMMS];
    int n_gemms;
    double flops;                           /* GEMM FLOPs per step on this rank */
    double allocs_per_step;
} results;

static const char *phase_names[9] = {"gather", "masks", "forward", "loss", "backward", "comm_exposed",
                                     "finite_check", "optimizer", "other"};

static void phases_ms(const rd_step_timing *tm, double wall, int steps, double *out)
{
    double v[8] = {tm->gather, tm->masks, tm->forward, tm->loss, tm->backward, tm->comm, tm->check, tm->update};
    double sum = 0.0;
    for (int i = 0; i < 8; i++) {
        out[i] = 1e3 * v[i] / steps;
        sum += v[i];
    }
    out[8] = 1e3 * (wall - sum) / steps;   /* permutation, control block, clock reads */
}

static void measure(bench *b, const bench_opts *o, results *R)
{
    rd_step_timing tm = {0};
    for (int i = 0; i < o->warmup; i++) one_step(b, &tm);
    /* Steps per window from the warm-up pace, decided by rank 0 for all. */
    double per_step = o->warmup > 0 ? tm.total / o->warmup : 0.05;
    double steps = per_step > 0 ? o->window_s / per_step : 1.0;
    int n = steps < 2 ? 2 : steps > 100000 ? 100000 : (int)steps;
    rd_dist_bcast(&b->d, &n, sizeof n, 0);
    R->steps = n;
    R->n_windows = o->windows;
    const int rows = b->S.passes * b->B_l;
    R->n_gemms = step_gemms(&b->m, b->S.x, rows, R->g);
    R->flops = 0.0;
    for (int k = 0; k < R->n_gemms; k++) R->flops += gemm_flops(&R->g[k]);
    long allocs = 0;
    for (int w = 0; w < o->windows; w++) {
        memset(&tm, 0, sizeof tm);
        rd_dist_barrier(&b->d);
        g_allocs = 0;
        g_counting = 1;
        double t0 = rd_now(), c0 = cpu_seconds();
        for (int s = 0; s < n; s++) one_step(b, &tm);
        double wall = rd_now() - t0;
        R->cpu_share[w] = (cpu_seconds() - c0) / wall;
        R->cpu_ms[w] = 1e3 * (cpu_seconds() - c0) / n;
        g_counting = 0;
        allocs += g_allocs;
        R->sps[w] = (double)b->B_g * n / wall;
        R->step_ms[w] = 1e3 * wall / n;
        R->gflops[w] = R->flops * n / wall * 1e-9;
        double ph[9];
        phases_ms(&tm, wall, n, ph);
        for (int i = 0; i < 9; i++) R->phase[i][w] = ph[i];
        if (!o->sgemm) continue;
        rd_dist_barrier(&b->d);
        double sum = 0.0;
        for (int k = 0; k < R->n_gemms; k++) {
            double g0 = rd_now();
            for (int s = 0; s < n; s++) run_gemm(&R->g[k]);
            double dt = (rd_now() - g0) / n;
            R->shape_ms[k][w] = 1e3 * dt;
            sum += dt;
        }
        R->sgemm_gflops[w] = R->flops / sum * 1e-9;
    }
    R->allocs_per_step = (double)allocs / ((double)n * o->windows);
}

/* ---- output ---- */

static void hidden_desc(const rd_model *m, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%d", m->input_dim);
    for (int i = 0; i < m->n_layers && (size_t)k < n; i++)
        if (m->layers[i].kind == RD_LAYER_DENSE) k += snprintf(buf + k, n - (size_t)k, "-%d", m->layers[i].out);
}

static void report(bench *b, const bench_opts *o, results *R, const char *load0)
{
    /* Per-rank peak RSS: each rank fills its slot, a SUM gathers them. */
    const int N = b->d.size;
    double *rss = calloc((size_t)N, sizeof *rss);
    rss[b->d.rank] = peak_rss_bytes();
    rd_dist_allreduce_doubles(&b->d, rss, (size_t)N);
    if (b->d.rank != 0) { free(rss); return; }
    double rss_max = 0.0;
    for (int i = 0; i < N; i++) rss_max = rss[i] > rss_max ? rss[i] : rss_max;
    double expect = expected_bytes(&b->m, &b->train, &b->test);
    char load1[64], arch[128];
    loadavg(load1, sizeof load1);
    hidden_desc(&b->m, arch, sizeof arch);
    const int W = R->n_windows;
    double sps = median(R->sps, W), step = median(R->step_ms, W), gf = median(R->gflops, W);
    double sg = o->sgemm ? median(R->sgemm_gflops, W) : 0.0;
    double ph[9];
    for (int i = 0; i < 9; i++) ph[i] = median(R->phase[i], W);
    double sps_min = R->sps[0], sps_max = R->sps[0];
    for (int w = 1; w < W; w++) {
        sps_min = R->sps[w] < sps_min ? R->sps[w] : sps_min;
        sps_max = R->sps[w] > sps_max ? R->sps[w] : sps_max;
    }

    printf("rdrop_bench %s  %s  ranks %d x %d BLAS thread(s) (%s)  passes %d  batch %d  overlap %s  "
           "bucket %g MB (%d buckets)\n  blas OpenBLAS %s, kernel %s (%s)\n", o->label, arch, N, b->c.run.blas_threads, openblas_get_corename(),
           b->S.passes, b->B_g, b->c.dist.overlap ? "on" : "off", b->c.dist.bucket_mb, rd_allreduce_buckets(b->S.ar),
           rd_blas_version(), openblas_get_corename(), rd_blas_origin());
    printf("  windows %d x %d steps after %d warm-up steps; load average %s -> %s; CPU share %.2f (rank 0)\n",
           W, R->steps, o->warmup, load0, load1, median(R->cpu_share, W));
    printf("  samples/s          %10.0f  (median; windows %.0f..%.0f)\n", sps, sps_min, sps_max);
    printf("  step               %10.3f ms   (CPU %.3f ms per step on rank 0)\n", step, median(R->cpu_ms, W));
    for (int i = 0; i < 9; i++)
        printf("    %-16s %10.3f ms  %5.1f%%\n", phase_names[i], ph[i], 100.0 * ph[i] / step);
    printf("  GEMM GFLOP/step    %10.3f  (rank 0)\n", R->flops * 1e-9);
    printf("  achieved GFLOP/s   %10.1f\n", gf);
    if (o->sgemm) {
        printf("  sgemm GFLOP/s      %10.1f  (same shapes, alone)   achieved/sgemm %.3f\n", sg, gf / sg);
        for (int k = 0; k < R->n_gemms; k++) {
            const gemm_shape *g = &R->g[k];
            double ms = median(R->shape_ms[k], W);
            printf("    %-6s %c%c M=%-5d N=%-5d K=%-5d %8.3f ms %7.1f GFLOP/s\n", g->name,
                   g->ta == CblasTrans ? 'T' : 'N', g->tb == CblasTrans ? 'T' : 'N', g->M, g->N, g->K, ms,
                   gemm_flops(g) / ms * 1e-6);
        }
    }
    printf("  mallocs per step   %10.2f  (rdrop's own code)\n", R->allocs_per_step);
    printf("  peak RSS           %10.1f MB max over ranks (expected footprint %.1f MB, ratio %.2f; %.1f MB at start, %.1f MB after data)\n",
           rss_max / 1048576.0, expect / 1048576.0, rss_max / expect, b->rss_start / 1048576.0,
           b->rss_data / 1048576.0);
    fflush(stdout);

    if (!o->json) { free(rss); return; }
    FILE *f = fopen(o->json, "w");
    if (!f) {
        fprintf(stderr, "rdrop_bench: %s: %s\n", o->json, strerror(errno));
        free(rss);
        return;
    }
    fprintf(f, "{\"label\":\"%s\",\"config\":\"%s\",\"sets\":[", o->label, o->config);
    for (int i = 0; i < o->nsets; i++) fprintf(f, "%s\"%s\"", i ? "," : "", o->sets[i]);
    fprintf(f, "],\"arch\":\"%s\",\"ranks\":%d,\"blas_threads\":%d,\"blas_core\":\"%s\",\"blas_core_origin\":\"%s\",\"passes\":%d,"
               "\"batch\":%d,\"overlap\":%s,\"bucket_mb\":%g,\"buckets\":%d,\"windows\":%d,\"steps_per_window\":%d,"
               "\"warmup\":%d,\"loadavg_start\":\"%s\",\"loadavg_end\":\"%s\",",
            arch, N, b->c.run.blas_threads, openblas_get_corename(), rd_blas_origin(), b->S.passes, b->B_g,
            b->c.dist.overlap ? "true" : "false", b->c.dist.bucket_mb, rd_allreduce_buckets(b->S.ar), W, R->steps,
            o->warmup, load0, load1);
    fprintf(f, "\"samples_per_cpu_s\":%.1f,\"cpu_ms_per_step\":%.4f,\"cpu_share\":%.3f,\"samples_per_s\":%.1f,\"samples_per_s_windows\":[", b->B_g * 1e3 / median(R->cpu_ms, W),
            median(R->cpu_ms, W), median(R->cpu_share, W), sps);
    for (int w = 0; w < W; w++) fprintf(f, "%s%.1f", w ? "," : "", R->sps[w]);
    fprintf(f, "],\"step_ms\":%.4f,\"phases_ms\":{", step);
    for (int i = 0; i < 9; i++) fprintf(f, "%s\"%s\":%.4f", i ? "," : "", phase_names[i], ph[i]);
    fprintf(f, "},\"comm_exposed_frac\":%.4f,\"comm_exposed_frac_windows\":[", ph[5] / step);
    for (int w = 0; w < W; w++) fprintf(f, "%s%.4f", w ? "," : "", R->phase[5][w] / R->step_ms[w]);
    fprintf(f, "],\"gemm_gflop_per_step\":%.4f,\"achieved_gflops\":%.2f,", R->flops * 1e-9, gf);
    if (o->sgemm) {
        fprintf(f, "\"sgemm_gflops\":%.2f,\"achieved_over_sgemm\":%.4f,\"sgemm_shapes\":[", sg, gf / sg);
        for (int k = 0; k < R->n_gemms; k++) {
            const gemm_shape *g = &R->g[k];
            double ms = median(R->shape_ms[k], W);
            fprintf(f, "%s{\"name\":\"%s\",\"trans\":\"%c%c\",\"M\":%d,\"N\":%d,\"K\":%d,\"ms\":%.4f,\"gflops\":%.2f}",
                    k ? "," : "", g->name, g->ta == CblasTrans ? 'T' : 'N', g->tb == CblasTrans ? 'T' : 'N',
                    g->M, g->N, g->K, ms, gemm_flops(g) / ms * 1e-6);
        }
        fprintf(f, "],");
    }
    fprintf(f, "\"mallocs_per_step\":%.3f,\"rss_peak_bytes\":[", R->allocs_per_step);
    for (int i = 0; i < N; i++) fprintf(f, "%s%.0f", i ? "," : "", rss[i]);
    fprintf(f, "],\"rss_expected_bytes\":%.0f,\"rss_ratio\":%.4f,\"rss_start_bytes\":%.0f,\"rss_after_data_bytes\":%.0f}\n",
            expect, rss_max / expect, b->rss_start, b->rss_data);
    fclose(f);
    free(rss);
}

int main(int argc, char **argv)
{
    bench_opts o;
    static bench b;
    rd_error e = {0};
    /* the trainer's kernel choice (src/blas.h), before MPI_Init; RDROP_BENCH_BLAS_CORE=keep|best|NAME */
    const char *mode = getenv("RDROP_BENCH_BLAS_CORE");
    rd_blas_select(mode && mode[0] ? mode : "auto", NULL, argv);
    int rc = rd_dist_init(&b.d, &argc, &argv, &e);
    if (!rc && parse_args(argc, argv, &o) != 0) {
        if (b.d.rank == 0)
            fprintf(stderr, "usage: [mpirun -np R] rdrop_bench CONFIG [--set KEY=VALUE]... [--json FILE] "
                            "[--label NAME] [--warmup STEPS] [--windows N] [--window-s S] [--no-sgemm]\n");
        rd_dist_finalize(&b.d);
        return 2;
    }
    char load0[64];
    loadavg(load0, sizeof load0);
    if (!rc) rc = setup(&b, &o, &e);
    rc = rd_dist_max_int(&b.d, rc);
    if (rc) {
        if (e.code) fprintf(stderr, "rdrop_bench: rank %d: %s\n", b.d.rank, e.msg);
        rd_dist_finalize(&b.d);
        return rc;
    }
    static results R;
    measure(&b, &o, &R);
    report(&b, &o, &R, load0);
    rd_step_free(&b.S);
    rd_model_free(&b.m);
    rd_data_free(&b.train);
    rd_data_free(&b.test);
    free(b.ids);
    free(b.perm);
    rd_dist_finalize(&b.d);
    return 0;
}
