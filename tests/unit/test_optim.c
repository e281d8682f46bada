/* test_optim.c - SGD (PyTorch convention), LR schedules and max-norm against hand-computed
 * values (docs/ARCHITECTURE.md "Formulas": SGD, schedules, max-norm, counting).
 *
 * The SGD expectations are written as literals with their derivation; the update runs in
 * float, so they are compared with a relative tolerance of 1e-6 (a few float roundings).
 * Schedules are computed in double from t: compared to 1e-12 relative.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "optim.h"

#define FRT 1e-6   /* float update, relative */

/* ---- SGD ---- */

static void test_sgd_plain(void **state)
{
    /* mu = 0, wd = 0, lr = 0.1, v starts at 0:
     *   v = g;  w = w - 0.1*g
     *   1.0  - 0.1*0.5   = 0.95
     *  -2.0  - 0.1*-1.0  = -1.9
     *   0.5  - 0.1*0.25  = 0.475 */
    float w[3] = {1.0f, -2.0f, 0.5f}, v[3] = {0}, g[3] = {0.5f, -1.0f, 0.25f};
    rd_sgd_update(w, v, g, 3, 0.1, 0.0, false, 0.0);
    assert_close(w[0], 0.95, 0, FRT);
    assert_close(w[1], -1.9, 0, FRT);
    assert_close(w[2], 0.475, 0, FRT);
    for (int i = 0; i < 3; i++) assert_true(v[i] == g[i]);
    /* g is read only */
    assert_true(g[0] == 0.5f && g[1] == -1.0f && g[2] == 0.25f);
}

static void test_sgd_momentum(void **state)
{
    /* mu = 0.9, lr = 0.1, w0 = 1:
     *   step 1, g = 1.0:  v = 0.9*0 + 1.0 = 1.0;      w = 1 - 0.1*1.0 = 0.9
     *   step 2, g = 0.5:  v = 0.9*1.0 + 0.5 = 1.4;    w = 0.9 - 0.1*1.4 = 0.76
     *   step 3, g = -2.0: v = 0.9*1.4 - 2.0 = -0.74;  w = 0.76 + 0.074 = 0.834 */
    float w = 1.0f, v = 0.0f, g;
    g = 1.0f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, false, 0.0);
    assert_close(v, 1.0, 0, FRT);
    assert_close(w, 0.9, 0, FRT);
    g = 0.5f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, false, 0.0);
    assert_close(v, 1.4, 0, FRT);
    assert_close(w, 0.76, 0, FRT);
    g = -2.0f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, false, 0.0);
    assert_close(v, -0.74, 0, FRT);
    assert_close(w, 0.834, 0, FRT);
}

static void test_sgd_nesterov(void **state)
{
    /* Nesterov uses the updated v: w -= lr*(g + mu*v); mu = 0.9, lr = 0.1, w0 = 1:
     *   step 1, g = 1.0: v = 1.0;              w = 1 - 0.1*(1.0 + 0.9*1.0) = 1 - 0.19  = 0.81
     *   step 2, g = 0.5: v = 0.9*1.0+0.5 = 1.4; w = 0.81 - 0.1*(0.5 + 0.9*1.4)
     *                                            = 0.81 - 0.1*1.76 = 0.634 */
    float w = 1.0f, v = 0.0f, g = 1.0f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, true, 0.0);
    assert_close(v, 1.0, 0, FRT);
    assert_close(w, 0.81, 0, FRT);
    g = 0.5f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, true, 0.0);
    assert_close(v, 1.4, 0, FRT);
    assert_close(w, 0.634, 0, FRT);
}

static void test_sgd_weight_decay_momentum(void **state)
{
    /* g += wd*w before the momentum (PyTorch): wd = 0.1, mu = 0.9, lr = 0.1, g = 0, w0 = 1:
     *   step 1: g = 0.1*1 = 0.1;       v = 0.1;                 w = 1 - 0.01 = 0.99
     *   step 2: g = 0.1*0.99 = 0.099;  v = 0.09 + 0.099 = 0.189; w = 0.99 - 0.0189 = 0.9711 */
    float w = 1.0f, v = 0.0f, g = 0.0f;
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, false, 0.1);
    assert_close(v, 0.1, 0, FRT);
    assert_close(w, 0.99, 0, FRT);
    rd_sgd_update(&w, &v, &g, 1, 0.1, 0.9, false, 0.1);
    assert_close(v, 0.189, 0, FRT);
    assert_close(w, 0.9711, 0, FRT);
    assert_true(g == 0.0f);   /* decay goes into v, not into the caller's gradient */
}

/* A 2 -> 2 linear model + 2 -> 1 output to run rd_optim_step (kernels decayed, biases not). */
static void make_small(rd_model *m, rd_config *c, double max_norm_hidden)
{
    memset(c, 0, sizeof *c);
    c->model.n_layers = 3;
    c->model.layers[0] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 2,
                                         .activation = RD_ACT_LINEAR, .max_norm = max_norm_hidden};
    c->model.layers[1] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    c->model.layers[2] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 1, .activation = RD_ACT_LINEAR};
    rd_error e = {0};
    assert_int_equal(rd_model_create(m, c, 2, 4, &e), 0);
    assert_int_equal((int)m->n_params, 4 + 2 + 2 + 1);
}

/* make_small with no momentum, weight decay 0.1 and fixed weights and gradients. */
static void make_decay(rd_model *m, rd_config *c, bool decay_biases)
{
    make_small(m, c, 0.0);
    c->optimizer.momentum = 0.0;
    c->optimizer.weight_decay = 0.1;
    c->optimizer.decay_biases = decay_biases;
    const rd_layer *L0 = &m->layers[0], *L2 = &m->layers[2];
    const float W[4] = {1, 2, 3, 4}, b[2] = {1, -1}, dW[4] = {0.1f, 0.2f, 0.3f, 0.4f}, db[2] = {0.5f, 0.5f};
    memcpy(m->params + L0->w_off, W, sizeof W);
    memcpy(m->params + L0->b_off, b, sizeof b);
    memcpy(m->grads + L0->w_off, dW, sizeof dW);
    memcpy(m->grads + L0->b_off, db, sizeof db);
    m->params[L2->w_off] = 2.0f;
    m->params[L2->w_off + 1] = -4.0f;
    m->params[L2->b_off] = 3.0f;
    m->grads[L2->w_off] = 0.0f;
    m->grads[L2->w_off + 1] = 1.0f;
    m->grads[L2->b_off] = -1.0f;
}

static void test_optim_step_weight_decay_kernels_only(void **state)
{
    rd_model m;
    rd_config c;
    make_decay(&m, &c, false);
    const rd_layer *L0 = &m.layers[0], *L2 = &m.layers[2];
    const float dW[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    rd_optim_step(&m, &c, 0.5);
    /* kernels: w -= 0.5*(g + 0.1*w)
     *   1 - 0.5*(0.1 + 0.1) = 0.9     2 - 0.5*(0.2 + 0.2) = 1.8
     *   3 - 0.5*(0.3 + 0.3) = 2.7     4 - 0.5*(0.4 + 0.4) = 3.6 */
    const double Wn[4] = {0.9, 1.8, 2.7, 3.6};
    for (int i = 0; i < 4; i++) assert_close(m.params[L0->w_off + i], Wn[i], 0, FRT);
    /* biases: no decay: 1 - 0.5*0.5 = 0.75, -1 - 0.5*0.5 = -1.25 (with decay it would be 0.7, -1.2) */
    assert_close(m.params[L0->b_off], 0.75, 0, FRT);
    assert_close(m.params[L0->b_off + 1], -1.25, 0, FRT);
    /* output layer: kernel 2 - 0.5*(0 + 0.2) = 1.9, -4 - 0.5*(1 - 0.4) = -4.3; bias 3 + 0.5 = 3.5 */
    assert_close(m.params[L2->w_off], 1.9, 0, FRT);
    assert_close(m.params[L2->w_off + 1], -4.3, 0, FRT);
    assert_close(m.params[L2->b_off], 3.5, 0, FRT);
    /* momentum buffers hold g (+ wd*w for kernels): 0.2 0.4 0.6 0.8 | 0.5 0.5 */
    const double Vn[4] = {0.2, 0.4, 0.6, 0.8};
    for (int i = 0; i < 4; i++) assert_close(m.momentum[L0->w_off + i], Vn[i], 0, FRT);
    assert_close(m.momentum[L0->b_off], 0.5, 0, FRT);
    /* the gradient buffer is untouched */
    assert_true(memcmp(m.grads + L0->w_off, dW, sizeof dW) == 0);
    rd_model_free(&m);
}

/* optimizer.decay_biases: the same step as PyTorch's SGD(weight_decay=0.1) over every parameter:
 * the kernels as above, the biases b -= 0.5*(g + 0.1*b). */
static void test_optim_step_weight_decay_biases(void **state)
{
    rd_model m;
    rd_config c;
    make_decay(&m, &c, true);
    const rd_layer *L0 = &m.layers[0], *L2 = &m.layers[2];
    rd_optim_step(&m, &c, 0.5);
    const double Wn[4] = {0.9, 1.8, 2.7, 3.6};   /* kernels: unchanged by the switch */
    for (int i = 0; i < 4; i++) assert_close(m.params[L0->w_off + i], Wn[i], 0, FRT);
    /* 1 - 0.5*(0.5 + 0.1) = 0.7, -1 - 0.5*(0.5 - 0.1) = -1.2; 3 - 0.5*(-1 + 0.3) = 3.35 */
    assert_close(m.params[L0->b_off], 0.7, 0, FRT);
    assert_close(m.params[L0->b_off + 1], -1.2, 0, FRT);
    assert_close(m.params[L2->b_off], 3.35, 0, FRT);
    assert_close(m.momentum[L0->b_off], 0.6, 0, FRT);   /* momentum holds g + wd*b */
    rd_model_free(&m);
}

static void test_optim_step_momentum_nesterov(void **state)
{
    for (int nest = 0; nest <= 1; nest++) {
        rd_model m;
        rd_config c;
        make_small(&m, &c, 0.0);
        c.optimizer.momentum = 0.9;
        c.optimizer.nesterov = nest;
        for (size_t i = 0; i < m.n_params; i++) {
            m.params[i] = 1.0f;
            m.grads[i] = 1.0f;
        }
        rd_optim_step(&m, &c, 0.1);
        for (size_t i = 0; i < m.n_params; i++) m.grads[i] = 0.5f;   /* second step */
        rd_optim_step(&m, &c, 0.1);
        /* same numbers as test_sgd_momentum / test_sgd_nesterov for every parameter */
        for (size_t i = 0; i < m.n_params; i++) {
            assert_close(m.momentum[i], 1.4, 0, FRT);
            assert_close(m.params[i], nest ? 0.634 : 0.76, 0, FRT);
        }
        rd_model_free(&m);
    }
}

/* ---- LR schedules ---- */

static void sched_config(rd_config *c, rd_sched_kind kind)
{
    memset(c, 0, sizeof *c);
    c->optimizer.lr = 0.1;
    c->schedule.kind = kind;
    c->schedule.gamma = 0.1;
    c->schedule.base_batch = 128;
    c->data.batch_size = 128;
}

#define LR(c, t, T) rd_schedule_lr(&(c), (t), (T))
#define SRT 1e-12

static void test_schedule_constant(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_CONSTANT);
    assert_close(LR(c, 0, 100), 0.1, 0, SRT);
    assert_close(LR(c, 99, 100), 0.1, 0, SRT);
    assert_close(LR(c, 1000000, 100), 0.1, 0, SRT);
}

static void test_schedule_inverse_time(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_INVERSE_TIME);
    c.schedule.decay = 0.01;
    /* lr0/(1 + decay*t): t=0 -> 0.1; t=100 -> 0.1/2 = 0.05; t=300 -> 0.1/4 = 0.025 */
    assert_close(LR(c, 0, 0), 0.1, 0, SRT);
    assert_close(LR(c, 100, 0), 0.05, 0, SRT);
    assert_close(LR(c, 300, 0), 0.025, 0, SRT);
}

static void test_schedule_step(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_STEP);
    c.schedule.gamma = 0.5;
    c.schedule.step_steps = 10;
    /* lr0*gamma^floor(t/10): t=9 -> 0.1; t=10 -> 0.05; t=25 -> 0.1*0.25 = 0.025 */
    assert_close(LR(c, 0, 0), 0.1, 0, SRT);
    assert_close(LR(c, 9, 0), 0.1, 0, SRT);
    assert_close(LR(c, 10, 0), 0.05, 0, SRT);
    assert_close(LR(c, 25, 0), 0.025, 0, SRT);
}

static void test_schedule_exponential(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_EXPONENTIAL);
    c.schedule.gamma = 0.5;
    c.schedule.decay_steps = 10;
    /* lr0*gamma^(t/10) (continuous): t=5 -> 0.1*sqrt(0.5) = 0.070710678118654752;
     * t=20 -> 0.1*0.25 = 0.025; t=15 -> 0.1*0.5^1.5 = 0.035355339059327376 */
    assert_close(LR(c, 0, 0), 0.1, 0, SRT);
    assert_close(LR(c, 5, 0), 0.070710678118654752, 0, SRT);
    assert_close(LR(c, 15, 0), 0.035355339059327376, 0, SRT);
    assert_close(LR(c, 20, 0), 0.025, 0, SRT);
}

static void test_schedule_cosine(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_COSINE);
    c.schedule.lr_min = 0.01;
    /* lr_min + 0.5(lr0 - lr_min)(1 + cos(pi*min(t,T)/T)), T = 100:
     *   t=0   -> 0.01 + 0.045*2 = 0.1
     *   t=25  -> 0.01 + 0.045*(1 + 0.70710678118654752) = 0.086819805153394639
     *   t=50  -> 0.01 + 0.045*1 = 0.055
     *   t=75  -> 0.01 + 0.045*(1 - 0.70710678118654752) = 0.023180194846605361
     *   t=100 -> 0.01; t=150 -> 0.01 (t clamped to T) */
    assert_close(LR(c, 0, 100), 0.1, 0, SRT);
    assert_close(LR(c, 25, 100), 0.086819805153394639, 0, SRT);
    assert_close(LR(c, 50, 100), 0.055, 0, SRT);
    assert_close(LR(c, 75, 100), 0.023180194846605361, 0, SRT);
    assert_close(LR(c, 100, 100), 0.01, 0, SRT);
    assert_close(LR(c, 150, 100), 0.01, 0, SRT);
}

static void test_schedule_warmup(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_CONSTANT);
    c.schedule.warmup_steps = 10;
    /* factor min(1, (t+1)/10): t=0 -> 0.01; t=4 -> 0.05; t=9 -> 0.1; t=1000 -> 0.1 */
    assert_close(LR(c, 0, 0), 0.01, 0, SRT);
    assert_close(LR(c, 4, 0), 0.05, 0, SRT);
    assert_close(LR(c, 9, 0), 0.1, 0, SRT);
    assert_close(LR(c, 1000, 0), 0.1, 0, SRT);
    /* warmup multiplies the schedule: step (gamma 0.5 every 2 steps), warmup 10:
     *   t=4 -> 0.1*0.5^2 * 5/10 = 0.0125 */
    c.schedule.kind = RD_SCHED_STEP;
    c.schedule.gamma = 0.5;
    c.schedule.step_steps = 2;
    assert_close(LR(c, 4, 0), 0.0125, 0, SRT);
}

static void test_schedule_scale_lr_linear(void **state)
{
    rd_config c;
    sched_config(&c, RD_SCHED_CONSTANT);
    c.schedule.scale_lr_linear = true;
    c.schedule.base_batch = 128;
    c.data.batch_size = 512;
    /* lr0 * B_g/base = 0.1 * 512/128 = 0.4 */
    assert_close(LR(c, 0, 0), 0.4, 0, SRT);
    assert_close(LR(c, 77, 0), 0.4, 0, SRT);
    c.data.batch_size = 64;   /* 0.1 * 64/128 = 0.05 */
    assert_close(LR(c, 3, 0), 0.05, 0, SRT);
    /* with warmup 4 at t=0: 0.4 * 1/4 = 0.1; with inverse_time decay 0.5 at t=2: 0.4/2 = 0.2 */
    c.data.batch_size = 512;
    c.schedule.warmup_steps = 4;
    assert_close(LR(c, 0, 0), 0.1, 0, SRT);
    c.schedule.warmup_steps = 0;
    c.schedule.kind = RD_SCHED_INVERSE_TIME;
    c.schedule.decay = 0.5;
    assert_close(LR(c, 2, 0), 0.2, 0, SRT);
    /* off: no scaling whatever the batch */
    c.schedule.scale_lr_linear = false;
    assert_close(LR(c, 2, 0), 0.05, 0, SRT);
}

/* ---- max-norm ---- */

static double col_norm(const float *W, int in, int out, int j)
{
    double ss = 0;
    for (int i = 0; i < in; i++) ss += (double)W[(size_t)i * out + j] * W[(size_t)i * out + j];
    return sqrt(ss);
}

static void test_max_norm_hand(void **state)
{
    /* W [3 x 6], c = 2.5, columns:
     *   0: (3, 4, 0)          norm 5        > c -> scaled by 0.5: (1.5, 2, 0)
     *   1: (1.5, 2, 0)        norm 2.5     == c -> bit-identical
     *   2: (0.1, -0.2, 0.3)   norm 0.374    < c -> bit-identical
     *   3: (-3, 0, 4)         norm 5        > c -> (-1.5, 0, 2)
     *   4: (1.5, 1.999, 0)    norm 2.49920  < c (by 3e-4 c) -> bit-identical
     *   5: (1.5, 2.001, 0)    norm 2.50080  > c (by 3e-4 c) -> * 2.5/2.500800 */
    float W[18] = {3, 1.5f, 0.1f, -3, 1.5f, 1.5f,
                   4, 2, -0.2f, 0, 1.999f, 2.001f,
                   0, 0, 0.3f, 4, 0, 0};
    float W0[18];
    memcpy(W0, W, sizeof W);
    rd_max_norm(W, 3, 6, 2.5);
    const double n5 = sqrt(1.5 * 1.5 + (double)2.001f * 2.001f);
    const double want[18] = {1.5, 1.5, 0.1f, -1.5, 1.5, 1.5 * 2.5 / n5,
                             2, 2, -0.2f, 0, 1.999f, 2.001f * 2.5 / n5,
                             0, 0, 0.3f, 2, 0, 0};
    for (int i = 0; i < 18; i++) assert_close(W[i], want[i], 0, 1e-7);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(&W[i * 6 + 1], &W0[i * 6 + 1], sizeof(float));
        assert_memory_equal(&W[i * 6 + 2], &W0[i * 6 + 2], sizeof(float));
        assert_memory_equal(&W[i * 6 + 4], &W0[i * 6 + 4], sizeof(float));
    }
    const int scaled[3] = {0, 3, 5};
    for (int k = 0; k < 3; k++) {
        const int j = scaled[k];
        double ss = 0;
        for (int i = 0; i < 3; i++) ss += (double)W[i * 6 + j] * W[i * 6 + j];
        assert_true(fabs(sqrt(ss) - 2.5) <= 1e-6 * 2.5);
    }
}

static void test_max_norm_random(void **state)
{
    enum { IN = 784, OUT = 64 };
    const double c = 1.0;
    float *W = malloc(sizeof(float) * IN * OUT), *W0 = malloc(sizeof(float) * IN * OUT);
    uint64_t s = 42;
    for (int j = 0; j < OUT; j++) {
        /* column scale so that norms spread over [0.25, 2.25] c */
        double target = 0.25 + 2.0 * j / (OUT - 1);
        for (int i = 0; i < IN; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) / 9007199254740992.0 - 0.5;
            W[(size_t)i * OUT + j] = (float)(u * target * sqrt(12.0 / IN));
        }
    }
    memcpy(W0, W, sizeof(float) * IN * OUT);
    rd_max_norm(W, IN, OUT, c);
    int above = 0, below = 0;
    for (int j = 0; j < OUT; j++) {
        double n0 = col_norm(W0, IN, OUT, j), n = col_norm(W, IN, OUT, j);
        if (n0 > c) {
            above++;
            assert_true(fabs(n - c) <= 1e-6 * c);
            for (int i = 0; i < IN; i++)   /* same direction: every element scaled by c/n0 */
                assert_close(W[(size_t)i * OUT + j], W0[(size_t)i * OUT + j] * (c / n0), 1e-12, 1e-6);
        } else {
            below++;
            for (int i = 0; i < IN; i++)
                assert_memory_equal(&W[(size_t)i * OUT + j], &W0[(size_t)i * OUT + j], sizeof(float));
        }
    }
    assert_true(above >= 10 && below >= 10);
    free(W);
    free(W0);
}

/* Wider than one block of the row sweep (4096 columns): every column, in either block, gets
 * exactly the bits of a plain column-wise reference (sum of squares in row order, scale). */
static void test_max_norm_wide(void **state)
{
    enum { IN = 3, OUT = 5000 };
    const double c = 0.6;
    float *W = malloc(sizeof(float) * IN * OUT), *R = malloc(sizeof(float) * IN * OUT);
    uint64_t s = 7;
    for (int k = 0; k < IN * OUT; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        W[k] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.3);   /* column norms around 0.6 */
    }
    memcpy(R, W, sizeof(float) * IN * OUT);
    int scaled = 0;
    for (int j = 0; j < OUT; j++) {
        double ss = 0.0;
        for (int i = 0; i < IN; i++) ss += (double)R[i * OUT + j] * (double)R[i * OUT + j];
        double n = sqrt(ss);
        float f = n > c ? (float)(c / n) : 1.0f;
        scaled += n > c;
        for (int i = 0; i < IN; i++) R[i * OUT + j] *= f;
    }
    rd_max_norm(W, IN, OUT, c);
    assert_memory_equal(W, R, sizeof(float) * IN * OUT);
    assert_true(scaled > 100 && scaled < OUT - 100);
    free(W);
    free(R);
}

/* rd_optim_step applies max-norm to constrained layers only, after the update, never to biases. */
static void test_optim_step_max_norm(void **state)
{
    rd_model m;
    rd_config c;
    make_small(&m, &c, 1.0);
    const rd_layer *L0 = &m.layers[0], *L2 = &m.layers[2];
    assert_true(L0->max_norm == 1.0 && L2->max_norm == 0.0);
    /* layer 0 kernel [2 x 2] = [[3, 0.3], [4, 0.4]]: column 0 norm 5 -> (0.6, 0.8);
     * column 1 norm 0.5 stays. Biases 10, -10 (way above c) stay. Output kernel (5, 12)
     * norm 13 unconstrained stays. Zero gradients, lr 0.1: only max-norm acts. */
    const float W[4] = {3, 0.3f, 4, 0.4f};
    memcpy(m.params + L0->w_off, W, sizeof W);
    m.params[L0->b_off] = 10;
    m.params[L0->b_off + 1] = -10;
    m.params[L2->w_off] = 5;
    m.params[L2->w_off + 1] = 12;
    m.params[L2->b_off] = 7;
    memset(m.grads, 0, m.n_params * sizeof(float));
    rd_optim_step(&m, &c, 0.1);
    assert_close(m.params[L0->w_off + 0], 0.6, 0, 1e-6);
    assert_close(m.params[L0->w_off + 2], 0.8, 0, 1e-6);
    assert_true(m.params[L0->w_off + 1] == 0.3f && m.params[L0->w_off + 3] == 0.4f);
    assert_true(m.params[L0->b_off] == 10.0f && m.params[L0->b_off + 1] == -10.0f);
    assert_true(m.params[L2->w_off] == 5.0f && m.params[L2->w_off + 1] == 12.0f);
    assert_true(m.params[L2->b_off] == 7.0f);

    /* max-norm acts on the updated weights: column 0 = (0.6, 0.8) norm 1, gradient (-1, 0)
     * with lr 0.5: (1.1, 0.8), norm 1.36015 > 1 -> (0.80873608, 0.58817169) */
    memset(m.momentum, 0, m.n_params * sizeof(float));
    m.grads[L0->w_off + 0] = -1.0f;
    rd_optim_step(&m, &c, 0.5);
    double n = sqrt(1.1 * 1.1 + 0.8 * 0.8);
    assert_close(m.params[L0->w_off + 0], 1.1 / n, 0, 1e-6);
    assert_close(m.params[L0->w_off + 2], 0.8 / n, 0, 1e-6);
    rd_model_free(&m);
}

/* The DESIGN's update written out plainly (this file is built without vector clones), as the
 * reference for rd_optim_step's single sweep, which runs its AVX-512/AVX2 clone where the CPU
 * has one. */
static void ref_sgd(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        float vi = mu * v[i] + gi;
        v[i] = vi;
        w[i] -= lr * (gi + mu * vi);   /* Nesterov */
    }
}

static void ref_max_norm(float *W, int in, int out, double c)
{
    for (int j = 0; j < out; j++) {
        double ss = 0.0;
        for (int i = 0; i < in; i++) ss += (double)W[(size_t)i * out + j] * (double)W[(size_t)i * out + j];
        double n = sqrt(ss);
        if (n > c)
            for (int i = 0; i < in; i++) W[(size_t)i * out + j] *= (float)(c / n);
    }
}

/* rd_optim_step's single sweep (check, update, column sums) gives bitwise what the separate
 * passes give: SGD over each kernel and bias, then max-norm column by column. A kernel of 4,100
 * columns crosses the 4,096-column block; Nesterov and weight decay on; most columns over c. */
static void test_optim_step_fused_equals_passes(void **state)
{
    enum { IN = 5, H = 4100, OUT = 3 };
    rd_config c;
    memset(&c, 0, sizeof c);
    c.model.n_layers = 2;
    c.model.layers[0] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = H, .activation = RD_ACT_RELU,
                                        .max_norm = 0.5};
    c.model.layers[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = OUT, .activation = RD_ACT_LINEAR};
    c.optimizer.momentum = 0.9;
    c.optimizer.nesterov = true;
    c.optimizer.weight_decay = 5e-4;
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, IN, 2, &e), 0);
    const size_t n = m.n_params;
    float *w = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    assert_non_null(w);
    assert_non_null(v);
    srand(11);
    for (size_t i = 0; i < n; i++) {
        m.params[i] = (float)(rand() / (double)RAND_MAX - 0.5) * 0.6f;
        m.momentum[i] = (float)(rand() / (double)RAND_MAX - 0.5) * 0.01f;
    }
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++) m.grads[i] = (float)(rand() / (double)RAND_MAX - 0.5) * 0.2f;
        memcpy(w, m.params, n * sizeof(float));
        memcpy(v, m.momentum, n * sizeof(float));
        for (int l = 0; l < m.n_layers; l++) {
            const rd_layer *L = &m.layers[l];
            size_t nw = (size_t)L->k_rows * L->k_cols;
            ref_sgd(w + L->w_off, v + L->w_off, m.grads + L->w_off, nw, 0.05f, 0.9f, 5e-4f);
            ref_sgd(w + L->b_off, v + L->b_off, m.grads + L->b_off, (size_t)L->k_cols, 0.05f, 0.9f, 0.0f);
            if (L->max_norm > 0.0) ref_max_norm(w + L->w_off, L->k_rows, L->k_cols, L->max_norm);
        }
        assert_true(rd_optim_step(&m, &c, 0.05));
        assert_memory_equal(m.params, w, n * sizeof(float));
        assert_memory_equal(m.momentum, v, n * sizeof(float));
    }
    /* some columns were rescaled, some not: both paths ran */
    int over = 0;
    for (int j = 0; j < H; j++) {
        double ss = 0;
        for (int i = 0; i < IN; i++) ss += (double)m.params[i * H + j] * m.params[i * H + j];
        over += sqrt(ss) > 0.5 * (1 - 1e-6);
    }
    assert_true(over > 0 && over < H);

    /* a NaN or Inf anywhere (kernel, block edge, last bias) is reported; a finite step is not */
    const size_t where[] = {0, (size_t)m.layers[0].w_off + 4096, (size_t)m.layers[0].w_off + n / 2,
                            (size_t)m.layers[1].b_off + OUT - 1};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof where / sizeof *where; k++)
        for (size_t b = 0; b < 3; b++) {
            for (size_t i = 0; i < n; i++) m.grads[i] = 1e-3f;
            m.grads[where[k] % n] = bad[b];
            assert_false(rd_optim_step(&m, &c, 0.05));
        }
    for (size_t i = 0; i < n; i++) m.grads[i] = 1e30f;   /* large but finite */
    assert_true(rd_optim_step(&m, &c, 0.0));
    free(w);
    free(v);
    rd_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_weight_decay_momentum),
        cmocka_unit_test(test_optim_step_weight_decay_kernels_only),
        cmocka_unit_test(test_optim_step_weight_decay_biases),
        cmocka_unit_test(test_optim_step_momentum_nesterov),
        cmocka_unit_test(test_schedule_constant),
        cmocka_unit_test(test_schedule_inverse_time),
        cmocka_unit_test(test_schedule_step),
        cmocka_unit_test(test_schedule_exponential),
        cmocka_unit_test(test_schedule_cosine),
        cmocka_unit_test(test_schedule_warmup),
        cmocka_unit_test(test_schedule_scale_lr_linear),
        cmocka_unit_test(test_max_norm_hand),
        cmocka_unit_test(test_max_norm_random),
        cmocka_unit_test(test_max_norm_wide),
        cmocka_unit_test(test_optim_step_max_norm),
        cmocka_unit_test(test_optim_step_fused_equals_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
