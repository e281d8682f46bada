/* stepbench.c - time one rank's training step of an rdrop config, phase by phase, with rdrop's
 * own code (linked against the build's librdropcore.a): dropout masks + forward + loss,
 * backward (with the same GEMM panels the trainer uses when it overlaps communication), and
 * the optimizer step (SGD + max-norm). Also records WHEN during backward each gradient offset
 * becomes final (the trainer's grad_ready hook) and, from that, when each allreduce bucket of
 * the trainer's bucket plan (rd_step_buckets) can start. launch/scale.sh uses it for the optimizer column of the scaling
 * table, launch/model.py for the overlap of allreduce with backward. No MPI, no data files:
 * the inputs are random (timing does not depend on the values).
 *
 * usage: stepbench CONFIG [--set KEY=VALUE]... [--batch B_LOCAL] [--reps N] [--input-dim D]
 *   --batch B     per-rank batch (default data.batch_size, i.e. one rank)
 *   --input-dim D input width (default: data.synthetic.features for synthetic data, else 784)
 * Prints one JSON object: params, rows, fwd_ms, bwd_ms, opt_ms (medians), buckets
 * [[lo, hi, ready_ms], ...] (bucket 0 = the end of the buffer, as in the trainer).
 * Built by CMake with the trainer (launch/build.sh): build/launch/stepbench.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "step.h"

void openblas_set_num_threads(int);

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

#define MAX_EVENTS 100000
static struct { double t; size_t from; } ev[MAX_EVENTS];
static int n_ev;
static double t_bwd0;

static void on_ready(void *ctx, size_t from)
{
    (void)ctx;
    if (n_ev < MAX_EVENTS) { ev[n_ev].t = now_ms() - t_bwd0; ev[n_ev].from = from; n_ev++; }
}
static void on_progress(void *ctx) { (void)ctx; }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: stepbench CONFIG [--set KEY=VALUE]... [--batch B] [--reps N] [--input-dim D]\n");
        return 2;
    }
    const char *path = argv[1];
    char *sets[256] = {0};
    int nset = 0, batch = 0, reps = 7, input_dim = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && nset < 256) sets[nset++] = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--input-dim") && i + 1 < argc) input_dim = atoi(argv[++i]);
        else { fprintf(stderr, "stepbench: unknown argument %s\n", argv[i]); return 2; }
    }
    rd_config c;
    rd_error e;
    memset(&e, 0, sizeof e);
    if (rd_config_load(&c, path, nset, sets, &e)) { fprintf(stderr, "stepbench: %s\n", e.msg); return 2; }
    if (batch <= 0) batch = (int)c.data.batch_size;
    if (input_dim <= 0) input_dim = c.data.format == RD_DATA_SYNTHETIC ? (int)c.data.synthetic.features : 784;
    if (reps < 1) reps = 1;
    openblas_set_num_threads(c.run.blas_threads);

    rd_model m;
    const int passes = c.rdrop.passes, rows = passes * batch;
    /* IDX data by default: 28x28x1 images (Fashion-MNIST), as conv2d layers need the shape */
    const bool image = c.data.format == RD_DATA_IDX && input_dim == 784;
    if (rd_model_create_hwc(&m, &c, image ? 28 : 1, image ? 28 : 1, image ? 1 : input_dim, rows, &e)) {
        fprintf(stderr, "stepbench: %s\n", e.msg);
        return 2;
    }
    rd_model_init_params(&m, c.model.init, c.run.seed);
    const int K = m.output_dim;
    float *x = malloc((size_t)rows * input_dim * sizeof *x);
    int32_t *y = malloc((size_t)rows * sizeof *y);
    float *dlogits = malloc((size_t)rows * K * sizeof *dlogits);
    if (!x || !y || !dlogits) { fprintf(stderr, "stepbench: out of memory\n"); return 1; }
    srand(1);
    for (size_t i = 0; i < (size_t)rows * input_dim; i++) x[i] = (float)(rand() % 256) / 255.0f;
    for (int i = 0; i < rows; i++) y[i] = rand() % K;
    rd_key key = rd_rng_key(c.run.seed, RD_PURPOSE_DROPOUT_RANK, 0);
    if (c.dist.overlap) { m.grad_ready = on_ready; m.progress = on_progress; m.grad_ready_ctx = NULL; }

    double *fw = malloc(sizeof(double) * (size_t)(reps + 1)), *bw = malloc(sizeof(double) * (size_t)(reps + 1)),
           *op = malloc(sizeof(double) * (size_t)(reps + 1));
    /* the trainer's own bucket plan (rd_step_buckets): bucket b covers [edges[b+1], edges[b]) */
    size_t *edges = malloc(((m.n_params + RD_CONTROL_FLOATS) / 1024 + 3) * sizeof *edges);
    int nb = rd_step_buckets(&m, c.dist.bucket_mb, edges);
    double *ready = calloc((size_t)nb * (size_t)(reps + 1), sizeof *ready);
    size_t *lo = calloc((size_t)nb, sizeof *lo), *hi = calloc((size_t)nb, sizeof *hi);
    for (int b = 0; b < nb; b++) { hi[b] = edges[b]; lo[b] = edges[b + 1]; }
    free(edges);

    for (int r = 0; r <= reps; r++) {           /* run 0 warms up, not counted */
        double t0 = now_ms();
        rd_model_masks_rank(&m, rows, key, (uint64_t)r);
        const float *logits = rd_model_forward(&m, x, rows, true);
        rd_loss_sums ls;
        rd_rdrop_loss(logits, batch, K, passes, y, c.rdrop.alpha, 1.0 / batch, dlogits, &ls);
        double t1 = now_ms();
        n_ev = 0;
        t_bwd0 = t1;
        rd_model_backward(&m, x, dlogits, rows);
        double t2 = now_ms();
        rd_optim_step(&m, &c, 1e-6);
        double t3 = now_ms();
        fw[r] = t1 - t0; bw[r] = t2 - t1; op[r] = t3 - t2;
        for (int b = 0; b < nb; b++) {
            double when = bw[r];                /* without the hook: all at the end */
            for (int k = 0; k < n_ev; k++) if (ev[k].from <= lo[b]) { when = ev[k].t; break; }
            if (b == 0 && hi[0] > m.n_params && lo[0] >= m.n_params) when = 0.0;   /* control block only */
            ready[(size_t)b * (size_t)(reps + 1) + (size_t)r] = when;
        }
    }
    printf("{\"config\":\"%s\",\"params\":%zu,\"input_dim\":%d,\"batch\":%d,\"rows\":%d,\"reps\":%d,"
           "\"blas_threads\":%d,\"overlap\":%s,\"bucket_mb\":%g,",
           path, m.n_params, input_dim, batch, rows, reps, c.run.blas_threads, c.dist.overlap ? "true" : "false",
           c.dist.bucket_mb);
    printf("\"fwd_ms\":%.4f,\"bwd_ms\":%.4f,\"opt_ms\":%.4f,\"buckets\":[", median(fw + 1, reps),
           median(bw + 1, reps), median(op + 1, reps));
    for (int b = 0; b < nb; b++)
        printf("%s[%zu,%zu,%.4f]", b ? "," : "", lo[b], hi[b], median(ready + (size_t)b * (size_t)(reps + 1) + 1, reps));
    printf("]}\n");
    rd_model_free(&m);
    return 0;
}
