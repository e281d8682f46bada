/* test_model.c - layer list, flat parameter buffer, forward semantics and init
 * (docs/ARCHITECTURE.md "Formulas" (Init) and "RNG: keys and counters").
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "model.h"

/* The canonical default layer list. */
static void default_config(rd_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.n_layers = 6;
    rd_layer_spec *L = c->model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 1024, .activation = RD_ACT_RELU, .max_norm = 3.0};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 1024, .activation = RD_ACT_RELU, .max_norm = 3.0};
    L[4] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[5] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 10, .activation = RD_ACT_LINEAR};
}

/* A small net: dropout 0.25, dense 6 tanh, dropout 0.5, dense 5 relu, dropout 0.5, dense 3 linear */
static void small_config(rd_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.n_layers = 6;
    rd_layer_spec *L = c->model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.25};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 6, .activation = RD_ACT_TANH};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 5, .activation = RD_ACT_RELU};
    L[4] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[5] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 3, .activation = RD_ACT_LINEAR};
}

static uint64_t g_lcg = 1;
static float frand(float lo, float hi)
{
    g_lcg = g_lcg * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((double)(g_lcg >> 11) / 9007199254740992.0);
}

static void test_default_shapes(void **state)
{
    rd_config c;
    default_config(&c);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 784, 4, &e), 0);
    assert_int_equal(m.n_layers, 6);
    assert_int_equal(m.n_dense, 3);
    assert_int_equal(m.input_dim, 784);
    assert_int_equal(m.output_dim, 10);
    /* 784*1024 + 1024 + 1024*1024 + 1024 + 1024*10 + 10 = 1863690 */
    assert_int_equal((long)m.n_params, 1863690L);
    const int in[6] = {784, 784, 1024, 1024, 1024, 1024}, out[6] = {784, 1024, 1024, 1024, 1024, 10};
    const int dense_index[6] = {-1, 0, -1, 1, -1, 2};
    size_t off = 0;
    for (int i = 0; i < 6; i++) {
        const rd_layer *L = &m.layers[i];
        assert_int_equal(L->spec_index, i);
        assert_int_equal(L->in, in[i]);
        assert_int_equal(L->out, out[i]);
        assert_int_equal(L->dense_index, dense_index[i]);
        if (L->kind == RD_LAYER_DENSE) {
            /* W then b, contiguous, in layer order: one flat buffer */
            assert_int_equal(L->w_off, off);
            off += (size_t)L->in * L->out;
            assert_int_equal(L->b_off, off);
            off += (size_t)L->out;
            assert_true(L->max_norm == (i == 5 ? 0.0 : 3.0));
            assert_int_equal(L->act, i == 5 ? RD_ACT_LINEAR : RD_ACT_RELU);
            assert_null(L->mask);
        } else {
            /* dropout layers carry no parameters, only a mask */
            assert_int_equal(L->in, L->out);
            assert_non_null(L->mask);
            assert_true(L->rate == c.model.layers[i].rate);
        }
    }
    assert_int_equal(off, m.n_params);
    assert_non_null(m.params);
    assert_non_null(m.grads);
    assert_non_null(m.momentum);
    /* parameters start at zero */
    for (size_t i = 0; i < m.n_params; i += 997) assert_true(m.params[i] == 0.0f);
    rd_model_free(&m);
}

static void test_create_rejects_last_dropout(void **state)
{
    rd_config c;
    small_config(&c);
    c.model.n_layers = 5;   /* ends with a dropout */
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 4, 2, &e), RD_EXIT_CONFIG);
    assert_int_equal(e.code, RD_EXIT_CONFIG);
    assert_true(strlen(e.msg) > 0);
    rd_model_free(&m);
}

/* double-precision forward of the small net (masks applied when mask != NULL) */
static void ref_forward(const rd_model *m, const float *x, int rows, bool train, double *out)
{
    double cur[64 * 8], nxt[64 * 8];
    int w = m->input_dim;
    for (int i = 0; i < rows * w; i++) cur[i] = x[i];
    for (int l = 0; l < m->n_layers; l++) {
        const rd_layer *L = &m->layers[l];
        if (L->kind == RD_LAYER_DROPOUT) {
            if (train)
                for (int i = 0; i < rows * w; i++) cur[i] = L->mask[i] ? cur[i] / (1.0 - L->rate) : 0.0;
            continue;
        }
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < L->out; j++) {
                double z = m->params[L->b_off + j];
                for (int k = 0; k < L->in; k++) z += cur[r * L->in + k] * m->params[L->w_off + (size_t)k * L->out + j];
                nxt[r * L->out + j] = L->act == RD_ACT_TANH ? tanh(z) : L->act == RD_ACT_RELU ? (z > 0 ? z : 0) : z;
            }
        w = L->out;
        memcpy(cur, nxt, sizeof(double) * rows * w);
    }
    memcpy(out, cur, sizeof(double) * rows * w);
}

enum { NIN = 4, B = 5 };

static void make_small(rd_model *m, uint64_t seed)
{
    rd_config c;
    small_config(&c);
    rd_error e = {0};
    assert_int_equal(rd_model_create(m, &c, NIN, 2 * B, &e), 0);
    rd_model_init_params(m, RD_INIT_TORCH_DEFAULT, seed);
}

static void test_forward_matches_reference(void **state)
{
    rd_model m;
    make_small(&m, 3);
    float x[2 * B * NIN];
    g_lcg = 5;
    for (int i = 0; i < 2 * B * NIN; i++) x[i] = frand(-1, 1);
    rd_model_masks_rank(&m, 2 * B, rd_rng_key(3, RD_PURPOSE_DROPOUT_RANK, 0), 0);
    double ref[2 * B * 3];
    for (int train = 0; train <= 1; train++) {
        const float *lg = rd_model_forward(&m, x, 2 * B, train);
        ref_forward(&m, x, 2 * B, train, ref);
        double mx = 0;
        for (int i = 0; i < 2 * B * 3; i++) {
            assert_close(lg[i], ref[i], 1e-6, 1e-5);
            mx = fmax(mx, fabs(ref[i]));
        }
        assert_true(mx > 1e-2);
    }
    rd_model_free(&m);
}

static void test_eval_ignores_masks(void **state)
{
    rd_model m;
    make_small(&m, 4);
    float x[B * NIN];
    g_lcg = 6;
    for (int i = 0; i < B * NIN; i++) x[i] = frand(-1, 1);
    /* all-zero masks: in train mode nothing passes the first dropout, the logits are then a
     * function of the biases only and equal in every row; in eval mode masks are ignored */
    for (int l = 0; l < m.n_layers; l++)
        if (m.layers[l].kind == RD_LAYER_DROPOUT) memset(m.layers[l].mask, 0, 2 * B * m.layers[l].out);
    float eval0[B * 3], eval1[B * 3];
    memcpy(eval0, rd_model_forward(&m, x, B, false), sizeof eval0);
    const float *tr = rd_model_forward(&m, x, B, true);
    for (int i = 0; i < 3; i++) assert_true(tr[i] == m.params[m.layers[5].b_off + i]);
    /* different masks, same eval output bitwise */
    for (int l = 0; l < m.n_layers; l++)
        if (m.layers[l].kind == RD_LAYER_DROPOUT) memset(m.layers[l].mask, 1, 2 * B * m.layers[l].out);
    memcpy(eval1, rd_model_forward(&m, x, B, false), sizeof eval1);
    assert_memory_equal(eval0, eval1, sizeof eval0);
    /* eval = the network without dropout layers */
    double ref[B * 3];
    ref_forward(&m, x, B, false, ref);
    for (int i = 0; i < B * 3; i++) assert_close(eval0[i], ref[i], 1e-6, 1e-5);
    /* rows differ with input (not a constant output) */
    assert_true(eval0[0] != eval0[3]);
    rd_model_free(&m);
}

static void test_doubled_batch_rows(void **state)
{
    rd_model m;
    make_small(&m, 5);
    float x[2 * B * NIN];
    g_lcg = 7;
    for (int i = 0; i < B * NIN; i++) x[i] = x[B * NIN + i] = frand(-1, 1);
    rd_model_masks_rank(&m, 2 * B, rd_rng_key(1, RD_PURPOSE_DROPOUT_RANK, 0), 3);
    /* masks as drawn: pass 1 and pass 2 of a sample differ */
    const float *lg = rd_model_forward(&m, x, 2 * B, true);
    int differ = 0;
    for (int i = 0; i < B * 3; i++) differ += fabsf(lg[i] - lg[B * 3 + i]) > 1e-6f;
    assert_true(differ > 0);
    /* copy the pass-1 masks into pass 2: rows i and B+i must then be equal */
    for (int l = 0; l < m.n_layers; l++) {
        rd_layer *L = &m.layers[l];
        if (L->kind == RD_LAYER_DROPOUT) memcpy(L->mask + (size_t)B * L->out, L->mask, (size_t)B * L->out);
    }
    lg = rd_model_forward(&m, x, 2 * B, true);
    for (int i = 0; i < B * 3; i++) assert_close(lg[B * 3 + i], lg[i], 1e-7, 1e-6);
    /* and the loss sees identical passes: KL = 0 */
    int32_t y[B] = {0, 1, 2, 0, 1};
    rd_loss_sums s;
    rd_rdrop_loss(lg, B, 3, 2, y, 1.0, 1.0 / B, NULL, &s);
    assert_close(s.kl, 0.0, 1e-9, 0);
    rd_model_free(&m);
}

static void test_masks_rank_and_sample(void **state)
{
    rd_model m;
    make_small(&m, 6);
    rd_key key = rd_rng_key(9, RD_PURPOSE_DROPOUT_RANK, 2);
    rd_model_masks_rank(&m, 2 * B, key, 11);
    for (int l = 0; l < m.n_layers; l++) {
        rd_layer *L = &m.layers[l];
        if (L->kind != RD_LAYER_DROPOUT) continue;
        uint8_t want[2 * B * 6];
        /* the RNG "layer" is the index in model.layers */
        rd_dropout_mask_rank(want, (size_t)2 * B * L->out, L->rate, key, (uint32_t)l, 11);
        assert_memory_equal(L->mask, want, (size_t)2 * B * L->out);
    }
    /* sample mode: row r of pass q = mask of (idx[r % B], epoch, q) */
    const uint32_t idx[B] = {10, 20, 30, 40, 50};
    rd_model_masks_sample(&m, B, 2, idx, 9, 4);
    for (int l = 0; l < m.n_layers; l++) {
        rd_layer *L = &m.layers[l];
        if (L->kind != RD_LAYER_DROPOUT) continue;
        rd_key sk = rd_rng_key(9, RD_PURPOSE_DROPOUT_SAMPLE, (uint32_t)l);
        for (int r = 0; r < 2 * B; r++) {
            uint8_t want[8];
            rd_dropout_mask_sample(want, (size_t)L->out, L->rate, sk, idx[r % B], 4, (uint32_t)(r / B));
            assert_memory_equal(L->mask + (size_t)r * L->out, want, (size_t)L->out);
        }
    }
    rd_model_free(&m);
}

static void test_backward_overwrites(void **state)
{
    rd_model m;
    make_small(&m, 7);
    float x[2 * B * NIN], dl[2 * B * 3];
    g_lcg = 8;
    for (int i = 0; i < B * NIN; i++) x[i] = x[B * NIN + i] = frand(-1, 1);
    rd_model_masks_rank(&m, 2 * B, rd_rng_key(1, RD_PURPOSE_DROPOUT_RANK, 0), 0);
    int32_t y[B] = {2, 1, 0, 0, 1};
    rd_loss_sums s;
    rd_rdrop_loss(rd_model_forward(&m, x, 2 * B, true), B, 3, 2, y, 1.0, 1.0 / B, dl, &s);
    rd_model_backward(&m, x, dl, 2 * B);
    float *g1 = malloc(m.n_params * sizeof(float));
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    double norm = 0;
    for (size_t i = 0; i < m.n_params; i++) norm += (double)g1[i] * g1[i];
    assert_true(norm > 1e-8);
    /* a second forward/backward of the same batch gives the same gradient, not twice it */
    rd_model_forward(&m, x, 2 * B, true);
    rd_model_backward(&m, x, dl, 2 * B);
    assert_memory_equal(g1, m.grads, m.n_params * sizeof(float));
    free(g1);
    rd_model_free(&m);
}

/* ---- init ---- */

static void check_init(rd_init_kind kind, bool biases_nonzero)
{
    rd_config c;
    default_config(&c);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 784, 1, &e), 0);
    rd_model_init_params(&m, kind, 0);
    for (int l = 0; l < m.n_layers; l++) {
        const rd_layer *L = &m.layers[l];
        if (L->kind != RD_LAYER_DENSE) continue;
        double fan_in = L->in, fan_out = L->out, limit;
        if (kind == RD_INIT_HE_UNIFORM) limit = sqrt(6.0 / fan_in);
        else if (kind == RD_INIT_GLOROT_UNIFORM) limit = sqrt(6.0 / (fan_in + fan_out));
        else limit = 1.0 / sqrt(fan_in);
        size_t nw = (size_t)L->in * L->out;
        double sum = 0, sumsq = 0, mx = 0;
        for (size_t i = 0; i < nw; i++) {
            double w = m.params[L->w_off + i];
            assert_true(fabs(w) <= limit);
            sum += w;
            sumsq += w * w;
            mx = fmax(mx, fabs(w));
        }
        /* uniform on [-limit, limit]: mean 0 (sd limit/sqrt(3n)), variance limit^2/3 */
        assert_true(fabs(sum / nw) < 5 * limit / sqrt(3.0 * nw));
        assert_close(sumsq / nw, limit * limit / 3.0, 0, 0.05);
        assert_true(mx > 0.99 * limit);
        int nonzero = 0;
        for (int j = 0; j < L->out; j++) {
            double b = m.params[L->b_off + j];
            if (biases_nonzero) assert_true(fabs(b) <= 1.0 / sqrt(fan_in));
            else assert_true(b == 0.0);
            nonzero += b != 0.0;
        }
        if (biases_nonzero) assert_true(nonzero > L->out * 9 / 10);
    }
    rd_model_free(&m);
}

static void test_init_he_uniform(void **state) { check_init(RD_INIT_HE_UNIFORM, false); }
static void test_init_glorot_uniform(void **state) { check_init(RD_INIT_GLOROT_UNIFORM, false); }
static void test_init_torch_default(void **state) { check_init(RD_INIT_TORCH_DEFAULT, true); }

static void test_init_reproducible(void **state)
{
    rd_config c;
    small_config(&c);
    rd_model a, b;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&a, &c, 30, 1, &e), 0);
    assert_int_equal(rd_model_create(&b, &c, 30, 1, &e), 0);
    const rd_init_kind kinds[3] = {RD_INIT_HE_UNIFORM, RD_INIT_GLOROT_UNIFORM, RD_INIT_TORCH_DEFAULT};
    for (int k = 0; k < 3; k++) {
        rd_model_init_params(&a, kinds[k], 123);
        rd_model_init_params(&b, kinds[k], 123);
        assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
        rd_model_init_params(&b, kinds[k], 124);
        size_t same = 0;
        for (size_t i = 0; i < a.n_params; i++) same += a.params[i] == b.params[i] && a.params[i] != 0.0f;
        assert_true(same < 3);
    }
    /* layers use different streams: the first elements of two dense layers differ */
    rd_model_init_params(&a, RD_INIT_HE_UNIFORM, 0);
    const float *w1 = a.params + a.layers[1].w_off, *w3 = a.params + a.layers[3].w_off;
    double r1 = sqrt(6.0 / a.layers[1].in), r3 = sqrt(6.0 / a.layers[3].in);
    int equal_u = 0;
    for (int i = 0; i < 4; i++) equal_u += fabs(w1[i] / r1 - w3[i] / r3) < 1e-6;
    assert_true(equal_u < 4);
    /* torch_default biases continue the layer's stream after the kernel */
    rd_model_init_params(&a, RD_INIT_TORCH_DEFAULT, 0);
    const rd_layer *L = &a.layers[5];
    float bias[3];
    rd_init_uniform(bias, 3, (size_t)L->in * L->out, 1.0 / sqrt(L->in),
                    rd_rng_key(0, RD_PURPOSE_INIT, 5));
    assert_memory_equal(a.params + L->b_off, bias, sizeof bias);
    rd_model_free(&a);
    rd_model_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_shapes),
        cmocka_unit_test(test_create_rejects_last_dropout),
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_eval_ignores_masks),
        cmocka_unit_test(test_doubled_batch_rows),
        cmocka_unit_test(test_masks_rank_and_sample),
        cmocka_unit_test(test_backward_overwrites),
        cmocka_unit_test(test_init_he_uniform),
        cmocka_unit_test(test_init_glorot_uniform),
        cmocka_unit_test(test_init_torch_default),
        cmocka_unit_test(test_init_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
