/* test_step.c - the training step module (src/step.c): no allocation per step, the bucket
 * plan of the gradient allreduce, and the panelled backward used for overlap.
 *
 * Allocations are counted by defining malloc/calloc/realloc in this executable (they
 * forward to glibc's __libc_* entry points). Only calls from code linked into the
 * executable count, i.e. rdrop's static library: OpenBLAS's small-matrix kernels malloc
 * per call on tiny shapes, which is not rdrop's doing. Under AddressSanitizer (which owns
 * malloc) that test is skipped.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "model.h"
#include "step.h"

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static long g_allocs;
static int g_counting;

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t s);
extern void *__libc_realloc(void *p, size_t n);
extern char __executable_start[], etext[];   /* GNU ld: this executable's code */

static void count(const void *caller)
{
    if (g_counting && (const char *)caller >= __executable_start && (const char *)caller < etext) g_allocs++;
}

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
    count(__builtin_return_address(0));
    return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
#endif

/* dropout 0.2, dense H relu max-norm 3, dropout 0.5, dense H relu, dropout 0.5, dense K */
static void mlp_config(rd_config *c, int H, int K, int batch, int passes)
{
    rd_config_defaults(c);
    c->model.n_layers = 6;
    rd_layer_spec *L = c->model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = H, .activation = RD_ACT_RELU, .max_norm = 3.0};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = H, .activation = RD_ACT_TANH, .max_norm = 3.0};
    L[4] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[5] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = K, .activation = RD_ACT_LINEAR};
    c->data.batch_size = batch;
    c->rdrop.passes = passes;
}

static void steps_allocate_nothing(int passes, rd_stream_mode mode, int accumulate)
{
    rd_config c;
    mlp_config(&c, 96, 4, 32, passes);
    c.rng.dropout_stream = mode;
    c.training.accumulate = accumulate;
    rd_dataset ds;
    rd_data_synthetic(&ds, 256, 40, 4, 7, 0);
    rd_dist d;
    rd_dist_init_serial(&d);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 40, passes * 32, &e), 0);
    rd_model_init_params(&m, c.model.init, 1);
    rd_step S;
    rd_step_create(&S, &m, &c, &d, 32);
    uint32_t idx[32];
    for (int i = 0; i < 32; i++) idx[i] = (uint32_t)(i * 7 % 256);
    rd_step_timing tm = {0};
    for (int t = 0; t < 6; t++) {
        g_allocs = 0;
        g_counting = t >= 2;   /* the first steps may initialise BLAS buffers */
        rd_step_control(&S)[RD_CTL_STOP] = rd_step_control(&S)[RD_CTL_CLOCK] = 0.0f;
        rd_step_compute(&S, &ds, idx, 32, (uint64_t)t, 0, &tm);
        assert_true(rd_step_finite(&S, &tm));
        assert_true(rd_step_update(&S, 0.05, &tm));
        g_counting = 0;
        if (t >= 2 && COUNT_ALLOCS) assert_int_equal(g_allocs, 0);
    }
    assert_true(tm.total > 0.0);
    rd_step_free(&S);
    rd_model_free(&m);
    rd_data_free(&ds);
}

static void test_no_allocation_per_step(void **state)
{
    if (!COUNT_ALLOCS) {
        print_message("SKIP: allocations are not counted under AddressSanitizer (it owns malloc)\n");
        skip();
    }
    steps_allocate_nothing(2, RD_STREAM_RANK, 1);
    steps_allocate_nothing(2, RD_STREAM_RANK, 4);
    steps_allocate_nothing(1, RD_STREAM_RANK, 1);
    steps_allocate_nothing(2, RD_STREAM_SAMPLE, 1);
    steps_allocate_nothing(3, RD_STREAM_RANK, 1);
    steps_allocate_nothing(3, RD_STREAM_SAMPLE, 1);
}

/* The KL weight of a step: kl_reduction sum multiplies by the global batch (with reduction
 * mean only), the ramp is exp(-5(1-u)^2) with u the fraction of the ramp's steps done. */
static void test_alpha_schedule(void **state)
{
    rd_config c;
    mlp_config(&c, 8, 4, 128, 2);
    c.rdrop.alpha = 0.3;
    assert_true(rd_step_alpha(&c, 128, 0, 46) == 0.3);
    c.rdrop.kl_reduction = RD_REDUCE_SUM;
    assert_true(rd_step_alpha(&c, 128, 0, 46) == 0.3 * 128);
    assert_true(rd_step_alpha(&c, 64, 5, 0) == 0.3 * 64);   /* the global batch given */
    c.rdrop.reduction = RD_REDUCE_SUM;                      /* both terms summed: alpha as is */
    assert_true(rd_step_alpha(&c, 128, 0, 46) == 0.3);
    c.rdrop.reduction = RD_REDUCE_MEAN;
    c.rdrop.kl_reduction = RD_REDUCE_MEAN;
    c.rdrop.alpha_rampup_epochs = 2.0;                       /* 2 epochs of 50 steps: 100 steps */
    assert_close(rd_step_alpha(&c, 128, 0, 50), 0.3 * exp(-5.0), 1e-15, 1e-12);
    assert_close(rd_step_alpha(&c, 128, 50, 50), 0.3 * exp(-1.25), 1e-15, 1e-12);
    assert_close(rd_step_alpha(&c, 128, 75, 50), 0.3 * exp(-5.0 * 0.0625), 1e-15, 1e-12);
    assert_true(rd_step_alpha(&c, 128, 100, 50) == 0.3);
    assert_true(rd_step_alpha(&c, 128, 1000, 50) == 0.3);
    assert_true(rd_step_alpha(&c, 128, 10, 0) == 0.3);      /* no epoch length: no ramp */
    double prev = 0.0;
    for (uint64_t t = 0; t <= 100; t++) {                    /* increasing */
        double a = rd_step_alpha(&c, 128, t, 50);
        assert_true(a > prev);
        prev = a;
    }
}

/* No allocation at any width: a 5,000-wide max-norm layer (more columns than one block of the
 * max-norm sweep) and 2,000 classes (the loss keeps no per-class buffer), both passes, through
 * rd_step_compute / rd_step_update. Labels stay uint8 (a synthetic set of 2,000 classes wraps
 * them below 256, still valid classes here). */
static void test_no_allocation_wide(void **state)
{
    if (!COUNT_ALLOCS) {
        print_message("SKIP: allocations are not counted under AddressSanitizer (it owns malloc)\n");
        skip();
    }
    enum { IN = 40, WIDE = 5000, K = 2000, B = 4 };
    rd_config c;
    rd_config_defaults(&c);
    c.model.n_layers = 4;
    rd_layer_spec *L = c.model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = WIDE, .activation = RD_ACT_RELU, .max_norm = 0.05};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 8, .activation = RD_ACT_RELU};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = K, .activation = RD_ACT_LINEAR};
    c.data.batch_size = B;
    rd_dataset ds;
    rd_data_synthetic(&ds, 64, IN, K, 3, 0);
    rd_dist d;
    rd_dist_init_serial(&d);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, IN, 2 * B, &e), 0);
    rd_model_init_params(&m, c.model.init, 1);
    rd_step S;
    rd_step_create(&S, &m, &c, &d, B);
    uint32_t idx[B] = {1, 9, 17, 33};
    rd_step_timing tm = {0};
    for (int t = 0; t < 4; t++) {
        g_allocs = 0;
        g_counting = t >= 1;
        rd_step_control(&S)[RD_CTL_STOP] = rd_step_control(&S)[RD_CTL_CLOCK] = 0.0f;
        rd_step_compute(&S, &ds, idx, B, (uint64_t)t, 0, &tm);
        assert_true(rd_step_finite(&S, &tm));
        assert_true(rd_step_update(&S, 0.05, &tm));
        g_counting = 0;
        if (t >= 1) assert_int_equal(g_allocs, 0);
    }
    /* max-norm really ran on the wide layer: every column's norm is at most 0.05 */
    for (int j = 0; j < WIDE; j += 997) {
        double ss = 0.0;
        for (int i = 0; i < IN; i++) ss += pow(m.params[m.layers[1].w_off + (size_t)i * WIDE + j], 2);
        assert_true(sqrt(ss) <= 0.05 * (1 + 1e-6));
    }
    rd_step_free(&S);
    rd_model_free(&m);
    rd_data_free(&ds);
}

/* The plan covers the buffer with descending edges, every bucket at most bucket_mb, the
 * first dense layer's range [0, end of its bias) cut into at least two buckets and no bucket
 * straddling that end. */
static void check_plan(const rd_model *m, double bucket_mb)
{
    size_t edges[4096];
    const size_t total = m->n_params + RD_CONTROL_FLOATS, bucket = (size_t)(bucket_mb * 262144.0);
    const size_t first_end = m->layers[1].b_off + (size_t)m->layers[1].out;
    assert_true(total / 1024 + 3 < 4096);
    int n = rd_step_buckets(m, bucket_mb, edges);
    assert_true(n >= 2);
    assert_true(edges[0] == total && edges[n] == 0);
    int below = 0;
    bool cut_at_first_end = false;
    for (int i = 0; i < n; i++) {
        assert_true(edges[i] > edges[i + 1]);
        assert_true(edges[i] - edges[i + 1] <= (bucket < 1024 ? 1024 : bucket));
        below += edges[i] <= first_end;
        cut_at_first_end |= edges[i + 1] == first_end;
    }
    assert_true(below >= 2);
    assert_true(cut_at_first_end || first_end == total);
}

static void test_bucket_plan(void **state)
{
    rd_config c;
    rd_model m;
    rd_error e = {0};
    mlp_config(&c, 1024, 10, 128, 2);
    assert_int_equal(rd_model_create(&m, &c, 784, 2, &e), 0);
    check_plan(&m, 4.0);
    check_plan(&m, 1.0);
    check_plan(&m, 25.0);
    check_plan(&m, 0.001);
    rd_model_free(&m);
    mlp_config(&c, 64, 4, 64, 2);
    assert_int_equal(rd_model_create(&m, &c, 32, 2, &e), 0);
    check_plan(&m, 4.0);
    rd_model_free(&m);
}

/* ---- panelled backward ---- */

static size_t g_last_from;
static bool g_monotone;
static int g_ready_calls, g_progress_calls;

static void on_ready(void *ctx, size_t from)
{
    g_monotone &= from <= g_last_from;
    g_last_from = from;
    g_ready_calls++;
}

static void on_progress(void *ctx) { g_progress_calls++; }

/* With a progress hook the big GEMMs run in panels: the gradient must not change (beyond
 * float summation order, 1e-6 normwise), grad_ready's offsets only go down and reach the
 * first kernel, and progress is called between the dX panels. */
static void test_panelled_backward(void **state)
{
    rd_config c;
    rd_model m;
    rd_error e = {0};
    const int B = 128, rows = 2 * B, in = 784;
    mlp_config(&c, 1024, 10, B, 2);
    assert_int_equal(rd_model_create(&m, &c, in, rows, &e), 0);
    rd_model_init_params(&m, RD_INIT_HE_UNIFORM, 3);
    float *x = malloc(sizeof(float) * rows * in), *dl = malloc(sizeof(float) * rows * 10);
    for (int i = 0; i < rows * in; i++) x[i] = (float)((i * 7919) % 255) / 255.0f;
    int32_t y[128];
    for (int i = 0; i < B; i++) y[i] = i % 10;
    rd_model_masks_rank(&m, rows, rd_rng_key(5, RD_PURPOSE_DROPOUT_RANK, 0), 2);
    rd_loss_sums s;
    rd_rdrop_loss(rd_model_forward(&m, x, rows, true), B, 10, 2, y, 1.0, 1.0 / B, dl, &s);
    rd_model_backward(&m, x, dl, rows);
    float *whole = malloc(sizeof(float) * m.n_params);
    memcpy(whole, m.grads, sizeof(float) * m.n_params);

    g_last_from = (size_t)-1;
    g_monotone = true;
    g_ready_calls = g_progress_calls = 0;
    m.grad_ready = on_ready;
    m.progress = on_progress;
    rd_model_backward(&m, x, dl, rows);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < m.n_params; i++) {
        num += ((double)m.grads[i] - whole[i]) * ((double)m.grads[i] - whole[i]);
        den += (double)whole[i] * whole[i];
    }
    assert_true(den > 0.0 && sqrt(num / den) <= 1e-6);
    assert_true(g_monotone);
    assert_true(g_last_from == m.layers[1].w_off);
    /* dW of 2*256*784*1024 and 2*256*1024*1024 FLOPs: 4 and 5 panels, one call each, plus
     * one per layer after db and one for the logits' dW; dX panels of the second layer. */
    assert_int_equal(g_ready_calls, 3 + 4 + 5 + 1);
    assert_int_equal(g_progress_calls, 5 + 1);
    free(x);
    free(dl);
    free(whole);
    rd_model_free(&m);
}

/* One step of 32 samples in k micro-batches from the same weights; returns the gradient
 * (malloc'd, n_params + control floats) and the model's parameter count. */
static float *accumulated_gradient(int k, rd_stream_mode mode, size_t *n)
{
    rd_config c;
    mlp_config(&c, 64, 4, 32, 2);
    c.rng.dropout_stream = mode;
    c.training.accumulate = k;
    rd_dataset ds;
    rd_data_synthetic(&ds, 256, 40, 4, 7, 0);
    rd_dist d;
    rd_dist_init_serial(&d);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 40, 2 * ((32 + k - 1) / k), &e), 0);
    rd_model_init_params(&m, c.model.init, 1);
    rd_step S;
    rd_step_create(&S, &m, &c, &d, 32);
    uint32_t idx[32];
    for (int i = 0; i < 32; i++) idx[i] = (uint32_t)(i * 7 % 256);
    rd_step_timing tm = {0};
    rd_step_control(&S)[0] = rd_step_control(&S)[2] = 0.0f;
    rd_step_compute(&S, &ds, idx, 32, 3, 0, &tm);
    *n = m.n_params;
    float *g = malloc((m.n_params + RD_CONTROL_FLOATS) * sizeof *g);
    memcpy(g, m.grads, (m.n_params + RD_CONTROL_FLOATS) * sizeof *g);
    rd_step_free(&S);
    rd_model_free(&m);
    rd_data_free(&ds);
    return g;
}

/* training.accumulate in sample-stream mode: masks depend on the sample only, so k = 2 and
 * k = 3 give the k = 1 gradient up to summation order; rank mode draws other masks. */
static void test_accumulate_sample_stream(void **state)
{
    size_t n;
    float *g1 = accumulated_gradient(1, RD_STREAM_SAMPLE, &n);
    for (int k = 2; k <= 3; k++) {
        float *gk = accumulated_gradient(k, RD_STREAM_SAMPLE, &n);
        double scale = 0.0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(g1[i]));
        assert_true(scale > 0.0);
        for (size_t i = 0; i < n; i++) assert_close(gk[i], g1[i], 1e-6 * scale, 1e-5);
        assert_close(gk[n + 3], g1[n + 3], 0.0, 1e-5);   /* loss */
        assert_close(gk[n + 6], g1[n + 6], 0.0, 0.0);    /* correct */
        assert_close(gk[n + 7], 32.0, 0.0, 0.0);         /* samples */
        free(gk);
    }
    float *gr1 = accumulated_gradient(1, RD_STREAM_RANK, &n), *gr2 = accumulated_gradient(2, RD_STREAM_RANK, &n);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += fabsf(gr1[i] - gr2[i]) > 1e-4f * fabsf(gr1[i]) + 1e-7f;
    assert_true(differ > n / 10);   /* the comparison above can see other masks */
    free(gr1);
    free(gr2);
    free(g1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_per_step),
        cmocka_unit_test(test_alpha_schedule),
        cmocka_unit_test(test_accumulate_sample_stream),
        cmocka_unit_test(test_no_allocation_wide),
        cmocka_unit_test(test_bucket_plan),
        cmocka_unit_test(test_panelled_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
