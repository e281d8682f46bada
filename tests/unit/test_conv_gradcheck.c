/* test_conv_gradcheck.c - conv2d and max_pool gradients against finite differences.
 *
 * Method as test_gradcheck.c: parameters and inputs are multiples of 2^-10, h = 2^-7 (exact
 * in float), the R-Drop loss (alpha 1, mean) is computed in double from the float logits of
 * rd_model_forward, 5-point stencil (f(-2h) - 8f(-h) + 8f(h) - f(2h)) / 12h. Every parameter
 * of every network is checked: |an - num| <= 1e-4 + 1e-3*|num| (the MLP whole-model
 * tolerance). Conv layers use tanh (smooth); max_pool has a kink where a window's maximum
 * changes: where the stencil changes any pool argmax, h is halved (down to 2^-9); a parameter
 * still at a kink is skipped (counted; at most one in six may be). Two conv layers in each network make the second one's dx (dpatches +
 * col2im) part of the first one's kernel gradient; dropout masks are random on both passes.
 * Geometries: same and valid padding, stride 1 and 2 (asymmetric same padding), non-square
 * kernels and inputs, 1x1 kernels, overlapping and floor-dropping pool windows.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "loss.h"
#include "model.h"

static uint64_t g_lcg;

static double urand(void)
{
    g_lcg = g_lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_lcg >> 11) * (1.0 / 9007199254740992.0);
}

static float qrand(double lo, double hi)
{
    return (float)(round((lo + (hi - lo) * urand()) * 1024.0) / 1024.0);
}

enum { B = 3, ROWS = 2 * B, NOUT = 3 };

static rd_layer_spec conv(int f, int kh, int kw, int sh, int sw, rd_padding pad)
{
    return (rd_layer_spec){.kind = RD_LAYER_CONV2D, .filters = f, .size = {kh, kw}, .stride = {sh, sw},
                           .padding = pad, .activation = RD_ACT_TANH};
}

static rd_layer_spec pool(int kh, int kw, int sh, int sw)
{
    return (rd_layer_spec){.kind = RD_LAYER_MAX_POOL, .size = {kh, kw}, .stride = {sh, sw}};
}

static rd_layer_spec drop(double p) { return (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = p}; }

typedef struct {
    rd_config c;
    rd_model m;
    float *x;
    int32_t y[B];
    float *dl;
    uint8_t *code;    /* pool argmax pattern at the base point */
    size_t ncode;
} problem;

static double loss_at(problem *P)
{
    const float *lg = rd_model_forward(&P->m, P->x, ROWS, true);
    rd_loss_sums s;
    rd_rdrop_loss(lg, B, NOUT, 2, P->y, 1.0, 1.0 / B, P->dl, &s);
    return s.loss / B;
}

/* Every max_pool argmax, concatenated (after a forward), and after a ReLU conv layer also the
 * sign of each pooled value (a window's maximum crossing 0 is the ReLU's kink). */
static size_t argmax_code(const problem *P, int32_t *out)
{
    size_t n = 0;
    for (int i = 0; i < P->m.n_layers; i++) {
        const rd_layer *L = &P->m.layers[i];
        if (L->kind != RD_LAYER_MAX_POOL) continue;
        const size_t k = (size_t)ROWS * L->out;
        if (out) memcpy(out + n, L->argmax, k * sizeof(int32_t));
        n += k;
        if (i > 0 && P->m.layers[i - 1].act == RD_ACT_RELU) {
            if (out)
                for (size_t j = 0; j < k; j++) out[n + j] = L->y[j] > 0.0f;
            n += k;
        }
    }
    return n;
}

static void check_net(const char *name, int H, int W, int C, const rd_layer_spec *layers, int n, uint64_t seed)
{
    problem P;
    memset(&P, 0, sizeof P);
    rd_config_defaults(&P.c);
    P.c.model.n_layers = n;
    memcpy(P.c.model.layers, layers, (size_t)n * sizeof *layers);
    rd_error e = {0};
    int rc = rd_model_create_hwc(&P.m, &P.c, H, W, C, ROWS, &e);
    if (rc) fail_msg("%s: %s", name, e.msg);
    rd_model *m = &P.m;
    g_lcg = seed;
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = qrand(-0.5, 0.5);
    P.x = malloc((size_t)ROWS * m->input_dim * sizeof(float));
    for (int i = 0; i < B * m->input_dim; i++) P.x[i] = qrand(0.0, 1.0);
    memcpy(P.x + (size_t)B * m->input_dim, P.x, (size_t)B * m->input_dim * sizeof(float));
    for (int i = 0; i < B; i++) P.y[i] = (int32_t)(urand() * NOUT);
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind == RD_LAYER_DROPOUT)
            for (int k = 0; k < ROWS * L->out; k++) L->mask[k] = urand() >= L->rate;
    }
    P.dl = malloc((size_t)ROWS * NOUT * sizeof(float));
    loss_at(&P);
    size_t nc = argmax_code(&P, NULL);
    int32_t *base = malloc((nc + 1) * sizeof(int32_t)), *now = malloc((nc + 1) * sizeof(int32_t));
    argmax_code(&P, base);
    rd_model_backward(m, P.x, P.dl, ROWS);
    float *an = malloc(m->n_params * sizeof(float));
    memcpy(an, m->grads, m->n_params * sizeof(float));

    int checked = 0, skipped = 0;
    double worst = 0.0;
    for (size_t i = 0; i < m->n_params; i++) {
        const float w0 = m->params[i];
        double f[4];
        float h = 1.0f / 128.0f;
        bool kink = true;
        for (int tries = 0; tries < 3 && kink; tries++, h /= 2) {   /* 2^-7, then 2^-8, 2^-9 */
            const float steps[4] = {-2 * h, -h, h, 2 * h};
            kink = false;
            for (int k = 0; k < 4; k++) {
                m->params[i] = w0 + steps[k];
                f[k] = loss_at(&P);
                argmax_code(&P, now);
                kink |= memcmp(now, base, nc * sizeof(int32_t)) != 0;
            }
        }
        h *= 2;   /* the step of the last try */
        m->params[i] = w0;
        if (kink) {
            skipped++;
            continue;
        }
        double num = (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h);
        double tol = 1e-4 + 1e-3 * fabs(num), err = fabs(an[i] - num);
        if (err / tol > worst) worst = err / tol;
        if (!(err <= tol)) fail_msg("%s: parameter %zu: analytic %.8g, numeric %.8g (|diff| %.3g > %.3g)", name, i,
                                    an[i], num, err, tol);
        checked++;
    }
    printf("%-44s %5d parameters checked, %3d skipped at a pool kink, worst |diff|/tol %.3f\n", name, checked,
           skipped, worst);
    assert_true(skipped * 5 <= checked);
    free(an), free(base), free(now), free(P.x), free(P.dl);
    rd_model_free(m);
}

static void test_same_stride1_pool_valid(void **state)
{
    (void)state;
    rd_layer_spec L[] = {drop(0.2), conv(3, 3, 3, 1, 1, RD_PAD_SAME), pool(2, 2, 2, 2), drop(0.3),
                         conv(4, 2, 3, 1, 1, RD_PAD_VALID),
                         {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    check_net("7x6x2: same 3x3 s1, pool 2 (floor), valid 2x3", 7, 6, 2, L, 6, 11);
}

static void test_same_stride2_asymmetric(void **state)
{
    (void)state;
    rd_layer_spec L[] = {conv(3, 3, 3, 2, 2, RD_PAD_SAME), conv(2, 1, 1, 1, 1, RD_PAD_VALID), drop(0.25),
                         conv(3, 2, 2, 2, 1, RD_PAD_SAME),
                         {.kind = RD_LAYER_DENSE, .units = 4, .activation = RD_ACT_TANH}, drop(0.5),
                         {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    check_net("8x7x1: same 3x3 s2, 1x1, same 2x2 s(2,1), dense", 8, 7, 1, L, 7, 12);
}

static void test_valid_stride2_overlapping_pool(void **state)
{
    (void)state;
    rd_layer_spec L[] = {conv(4, 3, 2, 2, 2, RD_PAD_VALID), pool(3, 3, 2, 2), conv(3, 2, 1, 1, 1, RD_PAD_SAME),
                         {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    check_net("11x10x2: valid 3x2 s2, pool 3 s2 (overlap), same 2x1", 11, 10, 2, L, 4, 13);
}

static void test_pool_stride1(void **state)
{
    (void)state;
    rd_layer_spec L[] = {conv(2, 2, 2, 1, 1, RD_PAD_SAME), pool(2, 2, 1, 1), drop(0.2), conv(2, 3, 3, 1, 1, RD_PAD_SAME),
                         pool(2, 3, 2, 3), {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    check_net("5x7x3: same 2x2, pool 2 s1, same 3x3, pool 2x3 s(2,3)", 5, 7, 3, L, 6, 14);
}

static rd_layer_spec relu(rd_layer_spec l)
{
    l.activation = RD_ACT_RELU;
    return l;
}

/* ReLU conv + tiling max_pool pairs (docs/conv.md "ReLU + max_pool"): the first pair has no dX,
 * the second computes dX through col2im chunk by chunk, its pool drops a row and a column. */
static void test_relu_pool_pairs(void **state)
{
    (void)state;
    rd_layer_spec L[] = {relu(conv(3, 3, 3, 1, 1, RD_PAD_SAME)), pool(2, 2, 2, 2), drop(0.25),
                         relu(conv(4, 3, 3, 1, 1, RD_PAD_SAME)), pool(2, 2, 2, 2),
                         {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    check_net("10x10x2: relu same 3x3 + pool 2, twice (fused)", 10, 10, 2, L, 6, 15);
}

/* Gradients of a model and its copy with a rate-0 dropout between each conv and its pool
 * (identity, but it keeps the pair unfused) over `rows` rows of random data. */
static void grads_of(const rd_layer_spec *layers, int n, int H, int W, int C, int rows, uint64_t seed, float **out,
                     size_t *np)
{
    rd_config c;
    rd_config_defaults(&c);
    c.model.n_layers = n;
    memcpy(c.model.layers, layers, (size_t)n * sizeof *layers);
    rd_model m;
    rd_error e = {0};
    if (rd_model_create_hwc(&m, &c, H, W, C, rows, &e)) fail_msg("%s", e.msg);
    g_lcg = seed;
    for (size_t i = 0; i < m.n_params; i++) m.params[i] = qrand(-0.2, 0.2);
    float *x = malloc((size_t)rows * m.input_dim * sizeof(float)), *dl = malloc((size_t)rows * NOUT * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * m.input_dim; i++) x[i] = qrand(0.0, 1.0);
    for (size_t i = 0; i < (size_t)rows * NOUT; i++) dl[i] = qrand(-1.0, 1.0);
    rd_model_forward(&m, x, rows, true);
    rd_model_backward(&m, x, dl, rows);
    *out = malloc(m.n_params * sizeof(float));
    memcpy(*out, m.grads, m.n_params * sizeof(float));
    *np = m.n_params;
    free(x), free(dl);
    rd_model_free(&m);
}

/* The fused pairs over several chunks (forward and backward: ~1 MB of conv output per chunk,
 * here 46,080 floats per sample, so 5 samples per chunk and 12 rows = 3 chunks, the last short)
 * give the unfused path's gradients up to the summation order of db and dK. */
static void test_fused_chunks_match_unfused(void **state)
{
    (void)state;
    const rd_layer_spec fused[] = {relu(conv(80, 3, 3, 1, 1, RD_PAD_SAME)), pool(2, 2, 2, 2),
                                   relu(conv(320, 3, 3, 1, 1, RD_PAD_SAME)), pool(2, 2, 2, 2),
                                   {.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR}};
    const rd_layer_spec plain[] = {fused[0], drop(0.0), fused[1], fused[2], drop(0.0), fused[3], fused[4]};
    float *a, *b;
    size_t na, nb;
    grads_of(fused, 5, 24, 24, 1, 12, 21, &a, &na);
    grads_of(plain, 7, 24, 24, 1, 12, 21, &b, &nb);
    assert_int_equal(na, nb);
    double num = 0.0, den = 0.0, worst = 0.0;
    for (size_t i = 0; i < na; i++) {
        const double d = fabs((double)a[i] - b[i]);
        num += d * d;
        den += (double)b[i] * b[i];
        if (d > worst) worst = d;
    }
    printf("fused vs unfused, 3 chunks: %zu gradients, relative difference %.3g, largest %.3g\n", na,
           sqrt(num / den), worst);
    assert_true(den > 0.0);
    assert_true(sqrt(num / den) < 1e-5);
    free(a), free(b);
}

/* im2col against its definition, element by element (exact: it only copies), over every small
 * geometry: both paddings, strides 1-3, kernels 1-4 on either axis, 1, 2 and 5 channels, so both
 * its paths run (window rows of KW*C < 16 floats copied across the output row, longer ones one
 * window at a time) and every edge case of `same` padding (asymmetric for stride 2, kernels
 * larger than the input). col2im is checked against the same definition: the sum over windows. */
static void test_im2col_col2im_match_definition(void **state)
{
    (void)state;
    long checked = 0;
    const int rows = 2, Cs[] = {1, 2, 5};
    for (int H = 1; H <= 7; H++)
        for (int W = 1; W <= 7; W++)
            for (int ci = 0; ci < 3; ci++)
                for (int kh = 1; kh <= 4; kh++)
                    for (int kw = 1; kw <= 4; kw++)
                        for (int s = 1; s <= 3; s++)
                            for (int pad = 0; pad < 2; pad++) {
                                const int C = Cs[ci], sh = s, sw = 4 - s;
                                if (!pad && (kh > H || kw > W)) continue;
                                rd_conv_geom g = rd_conv_geom_make(H, W, C, kh, kw, sh, sw, pad ? RD_PAD_SAME : RD_PAD_VALID);
                                if (g.OH < 1 || g.OW < 1) continue;
                                const int P = rd_conv_patch(&g);
                                const size_t in = (size_t)H * W * C, np = (size_t)rows * g.OH * g.OW * P;
                                float *x = malloc(rows * in * sizeof *x), *p = malloc(np * sizeof *p);
                                float *dx = malloc(rows * in * sizeof *dx), *want = calloc(rows * in, sizeof *want);
                                assert_non_null(x);
                                assert_non_null(p);
                                assert_non_null(dx);
                                assert_non_null(want);
                                for (size_t i = 0; i < rows * in; i++) x[i] = (float)(i + 1);
                                for (size_t i = 0; i < np; i++) p[i] = -1.0f;   /* every slot must be written */
                                im2col(&g, x, rows, p);
                                for (int n = 0; n < rows; n++)
                                    for (int oh = 0; oh < g.OH; oh++)
                                        for (int ow = 0; ow < g.OW; ow++)
                                            for (int a = 0; a < kh; a++)
                                                for (int b = 0; b < kw; b++)
                                                    for (int c = 0; c < C; c++) {
                                                        const int h = oh * sh - g.pad_top + a, w = ow * sw - g.pad_left + b;
                                                        const bool on = h >= 0 && h < H && w >= 0 && w < W;
                                                        const size_t xi = (size_t)n * in + ((size_t)h * W + w) * C + c;
                                                        const size_t pi = (((size_t)n * g.OH + oh) * g.OW + ow) * P + ((size_t)a * kw + b) * C + c;
                                                        if (p[pi] != (on ? x[xi] : 0.0f))
                                                            fail_msg("im2col H%d W%d C%d k%dx%d s%dx%d %s: patch %zu is %g, want %g", H, W, C,
                                                                     kh, kw, sh, sw, pad ? "same" : "valid", pi, (double)p[pi],
                                                                     on ? (double)x[xi] : 0.0);
                                                        if (on) want[xi] += p[pi];   /* small integers: exact in any order */
                                                        checked++;
                                                    }
                                col2im(&g, p, rows, dx);
                                assert_memory_equal(dx, want, rows * in * sizeof *dx);
                                free(x);
                                free(p);
                                free(dx);
                                free(want);
                            }
    assert_true(checked > 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im2col_col2im_match_definition),
        cmocka_unit_test(test_fused_chunks_match_unfused),
        cmocka_unit_test(test_relu_pool_pairs),
        cmocka_unit_test(test_same_stride1_pool_valid),
        cmocka_unit_test(test_same_stride2_asymmetric),
        cmocka_unit_test(test_valid_stride2_overlapping_pool),
        cmocka_unit_test(test_pool_stride1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
