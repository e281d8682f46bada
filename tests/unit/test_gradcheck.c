/* test_gradcheck.c - analytic gradients against finite differences (docs/ARCHITECTURE.md "Formulas").
 *
 * Method: the model is float, so the finite differences are taken on the loss computed in
 * double (rd_rdrop_loss) from the float logits of rd_model_forward. Every parameter, input and
 * logit of the problems is a multiple of 2^-10 of magnitude below 16, and h is a power of two,
 * so w +- h and w +- 2h are exact in float and the stencil has exactly the nominal steps.
 * We use the 5-point stencil  f' ~ (f(-2h) - 8f(-h) + 8f(h) - f(2h)) / (12h), truncation
 * O(h^4), which allows a step large enough that float rounding of the forward pass
 * (~1e-7 relative per logit) stays small after division by h.
 *
 * Tolerances (stated, measured with margin):
 *   - loss w.r.t. logits (double loss, float dlogits), h = 2^-7: |an - num| <= 1e-6 + 1e-5*|num|
 *   - whole model (float forward), h = 2^-7:           |an - num| <= 1e-4 + 1e-3*|num|
 *     (measured worst: 0.4 of this tolerance, alpha 4 with sum reduction)
 *   - rd_act_grad vs numeric rd_act', h = 2^-6:        |an - num| <= 2e-5 + 1e-4*|num|
 * Kinks: for relu / leaky_relu / elu / relu6 the pattern of z's regions (z > 0, z > 6) is
 * recorded at the base point and must not change under any perturbation; data seeds whose
 * stencil would cross a kink are skipped (the search must succeed within a few seeds), and
 * both sides of 0 (and z > 6 for relu6) must occur at the base point.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "model.h"

/* ---- deterministic test data ---- */

static uint64_t g_lcg;

static double urand(void)   /* [0, 1) */
{
    g_lcg = g_lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_lcg >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [lo, hi], rounded to a multiple of 2^-10 (exact in float with room for +-2h) */
static float qrand(double lo, double hi)
{
    return (float)(round((lo + (hi - lo) * urand()) * 1024.0) / 1024.0);
}

static const char *act_name(rd_activation a)
{
    static const char *names[] = {"linear", "relu", "leaky_relu", "elu", "relu6",
                                  "tanh", "sigmoid", "swish", "mish"};
    return (int)a >= 0 && a < RD_ACT_COUNT ? names[a] : "?";
}

static bool kinked(rd_activation a)
{
    return a == RD_ACT_RELU || a == RD_ACT_LEAKY_RELU || a == RD_ACT_ELU || a == RD_ACT_RELU6;
}

/* ---- 1. rd_act_grad vs the numeric derivative of rd_act ---- */

static double act_numeric(rd_activation a, float z, float h)
{
    double fm2 = rd_act(a, z - 2 * h), fm1 = rd_act(a, z - h);
    double fp1 = rd_act(a, z + h), fp2 = rd_act(a, z + 2 * h);
    return (fm2 - 8.0 * fm1 + 8.0 * fp1 - fp2) / (12.0 * h);
}

static void test_act_grad_pointwise(void **state)
{
    /* multiples of 2^-8, at least 0.25 from the kinks at 0 and 6; h = 2^-6 */
    static const float pts[] = {-7.5f, -3.0f, -1.5f, -0.75f, -0.25f, 0.25f, 0.75f,
                                1.5f,  3.0f,  5.5f,  5.75f, 6.25f, 6.5f,   8.0f, 12.0f};
    const float h = 1.0f / 64.0f;
    int checked = 0;
    for (int a = 0; a < RD_ACT_COUNT; a++) {
        for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
            float z = pts[i], y = rd_act((rd_activation)a, z);
            double an = rd_act_grad((rd_activation)a, z, y);
            double num = act_numeric((rd_activation)a, z, h);
            double tol = 2e-5 + 1e-4 * fabs(num);
            if (!(fabs(an - num) <= tol)) {
                print_error("%s'(%g): rd_act_grad %.9g, numeric %.9g\n", act_name(a), z, an, num);
                fail();
            }
            checked++;
        }
    }
    assert_int_equal(checked, RD_ACT_COUNT * 15);
    /* relu's derivative at 0 is 0 (docs/ARCHITECTURE.md "Formulas") */
    assert_true(rd_act_grad(RD_ACT_RELU, 0.0f, 0.0f) == 0.0f);
}

/* rd_act itself against closed forms in double (README "Config reference": activations). */
static void test_act_values(void **state)
{
    const double e = exp(1.0);
    struct { rd_activation a; float z; double want; } cases[] = {
        {RD_ACT_LINEAR, -2.5f, -2.5},
        {RD_ACT_RELU, -2.0f, 0.0}, {RD_ACT_RELU, 2.0f, 2.0},
        {RD_ACT_LEAKY_RELU, -2.0f, -0.02}, {RD_ACT_LEAKY_RELU, 3.0f, 3.0},
        {RD_ACT_ELU, -1.0f, exp(-1.0) - 1.0}, {RD_ACT_ELU, 1.5f, 1.5},
        {RD_ACT_RELU6, -1.0f, 0.0}, {RD_ACT_RELU6, 4.0f, 4.0}, {RD_ACT_RELU6, 7.0f, 6.0},
        {RD_ACT_TANH, 0.5f, tanh(0.5)},
        {RD_ACT_SIGMOID, 0.0f, 0.5}, {RD_ACT_SIGMOID, 2.0f, 1.0 / (1.0 + exp(-2.0))},
        {RD_ACT_SWISH, 1.0f, 1.0 / (1.0 + exp(-1.0))}, {RD_ACT_SWISH, -2.0f, -2.0 / (1.0 + exp(2.0))},
        {RD_ACT_MISH, 1.0f, tanh(log1p(e))}, {RD_ACT_MISH, -1.0f, -tanh(log1p(1.0 / e))},
        {RD_ACT_MISH, 30.0f, 30.0 * tanh(log1p(exp(30.0)))},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_close(rd_act(cases[i].a, cases[i].z), cases[i].want, 1e-7, 1e-6);
}

/* ---- 2. the R-Drop loss w.r.t. both halves of the logits ---- */

enum { LB = 3, LK = 5 };

enum { LMAXP = 4 };   /* most passes checked */

/* Per-sample loss straight from the formulas of docs/ARCHITECTURE.md, in double (independent of loss.c):
 * CE averaged over the passes, KL the mean over the pairs of 0.5 sum_k (P-Q)(log P - log Q). */
static void loss_formula(const float *lg, int B, int K, int passes, const int32_t *y, double alpha,
                         double *ce_sum, double *kl_sum)
{
    *ce_sum = *kl_sum = 0.0;
    for (int i = 0; i < B; i++) {
        double P[LMAXP][LK];
        for (int q = 0; q < passes; q++) {
            double z = 0;
            for (int k = 0; k < K; k++) {
                P[q][k] = exp(lg[(q * B + i) * K + k]);
                z += P[q][k];
            }
            for (int k = 0; k < K; k++) P[q][k] /= z;
            *ce_sum += -log(P[q][y[i]]) / passes;
        }
        if (passes == 1) continue;
        double kl = 0;
        int pairs = 0;
        for (int p = 0; p < passes; p++)
            for (int q = p + 1; q < passes; q++, pairs++)
                for (int k = 0; k < K; k++) kl += 0.5 * (P[p][k] - P[q][k]) * (log(P[p][k]) - log(P[q][k]));
        *kl_sum += kl / pairs;
    }
}

static void check_loss_logits(int passes, double alpha, rd_reduction red)
{
    const int B = LB, K = LK, rows = passes * B;
    const double scale = red == RD_REDUCE_MEAN ? 1.0 / B : 1.0;
    float lg[LMAXP * LB * LK], dl[LMAXP * LB * LK];
    int32_t y[LB];
    g_lcg = 1234567u + (uint64_t)(alpha * 10) + 100u * (uint64_t)passes + 1000u * (uint64_t)red;
    for (int i = 0; i < rows * K; i++) lg[i] = qrand(-3.0, 3.0);
    for (int i = 0; i < B; i++) y[i] = (int32_t)(urand() * K);

    rd_loss_sums s;
    rd_rdrop_loss(lg, B, K, passes, y, alpha, scale, dl, &s);
    double ce, kl;
    loss_formula(lg, B, K, passes, y, alpha, &ce, &kl);
    assert_close(s.ce, ce, 1e-12, 1e-10);
    assert_close(s.kl, kl, 1e-12, 1e-10);
    assert_close(s.loss, ce + alpha * kl, 1e-12, 1e-10);
    if (passes == 1) assert_true(s.kl == 0.0);
    else assert_true(s.kl > 1e-3);   /* the passes differ: KL is really exercised */

    const float h = 1.0f / 128.0f;
    double maxg = 0;
    for (int i = 0; i < rows * K; i++) {
        float v0 = lg[i];
        double f[4];
        const int steps[4] = {-2, -1, 1, 2};
        for (int k = 0; k < 4; k++) {
            lg[i] = v0 + (float)steps[k] * h;
            rd_loss_sums t;
            rd_rdrop_loss(lg, B, K, passes, y, alpha, scale, NULL, &t);
            f[k] = t.loss * scale;
        }
        lg[i] = v0;
        double num = (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h);
        double tol = 1e-6 + 1e-5 * fabs(num);
        if (!(fabs(dl[i] - num) <= tol)) {
            print_error("passes %d alpha %g %s: dlogits[%d] = %.9g, numeric %.9g\n", passes, alpha,
                        red == RD_REDUCE_MEAN ? "mean" : "sum", i, dl[i], num);
            fail();
        }
        if (fabs(num) > maxg) maxg = fabs(num);
    }
    assert_true(maxg > 0.05 * scale);
    /* both halves receive a gradient; rows of one sample sum to 0 over k (softmax shift) */
    for (int r = 0; r < rows; r++) {
        double sr = 0;
        for (int k = 0; k < K; k++) sr += dl[r * K + k];
        assert_close(sr, 0.0, 1e-6, 0);
    }
}

static void test_loss_logits_gradcheck(void **state)
{
    const double alphas[] = {0.0, 0.5, 4.0};
    for (int r = 0; r < 2; r++) {
        rd_reduction red = r ? RD_REDUCE_SUM : RD_REDUCE_MEAN;
        for (int a = 0; a < 3; a++) check_loss_logits(2, alphas[a], red);
        for (int a = 0; a < 3; a++) check_loss_logits(3, alphas[a], red);   /* rdrop.passes 3 */
        check_loss_logits(4, 1.5, red);
        check_loss_logits(1, 0.0, red);
    }
}

/* alpha = 0 with two passes: the gradient is half the single-pass CE gradient per pass. */
static void test_loss_alpha0_is_two_pass_ce(void **state)
{
    const int B = LB, K = LK;
    float lg[2 * LB * LK], dl2[2 * LB * LK], dl1[2 * LB * LK];
    int32_t y[LB] = {0, 4, 2};
    g_lcg = 99;
    for (int i = 0; i < 2 * B * K; i++) lg[i] = qrand(-2.0, 2.0);
    rd_loss_sums s2, s1a, s1b;
    rd_rdrop_loss(lg, B, K, 2, y, 0.0, 1.0, dl2, &s2);
    rd_rdrop_loss(lg, B, K, 1, y, 0.0, 1.0, dl1, &s1a);
    rd_rdrop_loss(lg + B * K, B, K, 1, y, 0.0, 1.0, dl1 + B * K, &s1b);
    assert_close(s2.loss, 0.5 * (s1a.loss + s1b.loss), 1e-12, 1e-12);
    for (int i = 0; i < 2 * B * K; i++) assert_close(dl2[i], 0.5 * dl1[i], 1e-7, 1e-6);
}

/* ---- 3. the whole model: dense, every activation, dropout with fixed masks ---- */

enum { NIN = 3, H1 = 4, H2 = 4, NOUT = 3, B = 3, MAXR = 3 * B };   /* up to 3 passes */

typedef struct {
    rd_config c;
    rd_model m;
    int passes, rows;
    double alpha, scale;
    float x[MAXR * NIN];
    int32_t labels[B];
} gc_problem;

/* layers: [dropout 0.2, dense H1 act, dropout 0.5, dense H2 act2, dropout 0.25, dense NOUT linear]
 * with_dropout false: the dense layers only. */
static void gc_build(gc_problem *P, rd_activation act, rd_activation act2, bool with_dropout,
                     int passes, double alpha, rd_reduction red, uint64_t seed)
{
    memset(P, 0, sizeof *P);
    rd_layer_spec *L = P->c.model.layers;
    int n = 0;
    if (with_dropout) L[n++] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    L[n++] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = H1, .activation = act};
    if (with_dropout) L[n++] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[n++] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = H2, .activation = act2};
    if (with_dropout) L[n++] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.25};
    L[n++] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR};
    P->c.model.n_layers = n;
    P->passes = passes;
    P->rows = passes * B;
    P->alpha = alpha;
    P->scale = red == RD_REDUCE_MEAN ? 1.0 / B : 1.0;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&P->m, &P->c, NIN, MAXR, &e), 0);

    g_lcg = seed * 0x9E3779B97F4A7C15ull + 17;
    rd_model *m = &P->m;
    bool first_dense = true;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *Ly = &m->layers[i];
        if (Ly->kind == RD_LAYER_DENSE) {
            for (int k = 0; k < Ly->in * Ly->out; k++) m->params[Ly->w_off + k] = qrand(-1.0, 1.0);
            for (int k = 0; k < Ly->out; k++) m->params[Ly->b_off + k] = qrand(-0.5, 0.5);
            /* relu6: one unit of the first dense layer saturates (|x W| <= 3 * 1.25) */
            if (first_dense && act == RD_ACT_RELU6) m->params[Ly->b_off] = 10.0f;
            first_dense = false;
        } else {
            /* a fixed mask with some drops in every layer; never all rows dropped */
            for (int k = 0; k < P->rows * Ly->out; k++) Ly->mask[k] = urand() >= Ly->rate;
            Ly->mask[0] = 0;
            Ly->mask[1] = 1;
        }
    }
    for (int r = 0; r < B; r++)
        for (int k = 0; k < NIN; k++) P->x[r * NIN + k] = qrand(-1.0, 1.0);
    for (int q = 1; q < passes; q++) memcpy(P->x + q * B * NIN, P->x, sizeof(float) * B * NIN);
    for (int r = 0; r < B; r++) P->labels[r] = (int32_t)(urand() * NOUT);
}

static double gc_loss(gc_problem *P, float *dlogits)
{
    const float *lg = rd_model_forward(&P->m, P->x, P->rows, true);
    rd_loss_sums s;
    rd_rdrop_loss(lg, B, NOUT, P->passes, P->labels, P->alpha, P->scale, dlogits, &s);
    return s.loss * P->scale;
}

/* region code of every pre-activation of kinked layers (after the last forward) */
static int gc_regions(const gc_problem *P, uint8_t *code)
{
    int n = 0;
    for (int i = 0; i < P->m.n_layers; i++) {
        const rd_layer *L = &P->m.layers[i];
        if (L->kind != RD_LAYER_DENSE || !kinked(L->act)) continue;
        for (int k = 0; k < P->rows * L->out; k++) code[n++] = (uint8_t)((L->z[k] > 0.0f) + 2 * (L->z[k] > 6.0f));
    }
    return n;
}

typedef struct { double max_ratio; int nonzero; int n; } gc_result;

/* Returns false when a stencil crossed a kink (caller tries another data seed). */
static bool gc_run(gc_problem *P, gc_result *res)
{
    rd_model *m = &P->m;
    const size_t np = m->n_params;
    float dl[MAXR * NOUT];
    uint8_t base[512], now[512];
    gc_loss(P, dl);
    int nreg = gc_regions(P, base);
    rd_model_backward(m, P->x, dl, P->rows);
    float *an = malloc(np * sizeof *an);
    memcpy(an, m->grads, np * sizeof *an);

    const float h = 1.0f / 128.0f;
    const int steps[4] = {-2, -1, 1, 2};
    bool ok = true;
    res->max_ratio = 0;
    res->nonzero = 0;
    res->n = (int)np;
    for (size_t i = 0; i < np && ok; i++) {
        float w0 = m->params[i];
        double f[4];
        for (int k = 0; k < 4; k++) {
            m->params[i] = w0 + (float)steps[k] * h;
            assert_true((double)m->params[i] == (double)w0 + steps[k] * (double)h);  /* exact step */
            f[k] = gc_loss(P, NULL);
            if (gc_regions(P, now) != nreg || memcmp(now, base, (size_t)nreg) != 0) ok = false;
        }
        m->params[i] = w0;
        double num = (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h);
        double tol = 1e-4 + 1e-3 * fabs(num);
        double ratio = fabs(an[i] - num) / tol;
        if (ratio > res->max_ratio) res->max_ratio = ratio;
        if (fabs(num) > 1e-3) res->nonzero++;
        if (ok && !(ratio <= 1.0)) {
            print_error("grad[%zu] = %.9g, numeric %.9g (tol %.3g)\n", i, an[i], num, tol);
            free(an);
            fail();
        }
    }
    /* base point: both sides of the kink occur; relu6 also saturates */
    if (ok && nreg > 0) {
        int neg = 0, pos = 0, sat = 0;
        for (int k = 0; k < nreg; k++) {
            neg += base[k] == 0;
            pos += base[k] >= 1;
            sat += base[k] == 3;
        }
        if (neg == 0 || pos == 0) ok = false;
        if (P->m.layers[P->c.model.layers[0].kind == RD_LAYER_DENSE ? 0 : 1].act == RD_ACT_RELU6 && sat == 0)
            ok = false;
    }
    free(an);
    return ok;
}

static double g_worst_ratio;

static void gradcheck_model(rd_activation act, bool with_dropout, int passes, double alpha,
                            rd_reduction red)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        gc_problem P;
        gc_build(&P, act, act, with_dropout, passes, alpha, red, seed);
        gc_result r;
        bool ok = gc_run(&P, &r);
        rd_model_free(&P.m);
        /* a real gradient: a good share of the parameters must see a non-zero derivative
         * (ReLU nets with dropout can be mostly dead for some data: try another seed) */
        if (!ok || r.nonzero < r.n / 2) continue;
        if (r.max_ratio > g_worst_ratio) g_worst_ratio = r.max_ratio;
        printf("  %-10s dropout %d passes %d alpha %-3g %-4s: seed %2d, %2d/%d non-zero, "
               "worst |an-num|/tol %.3g\n", act_name(act), with_dropout, passes, alpha,
               red == RD_REDUCE_MEAN ? "mean" : "sum", (int)seed, r.nonzero, r.n, r.max_ratio);
        return;
    }
    print_error("%s: no data seed keeps the stencil away from the kinks with half the gradients "
                "non-zero\n", act_name(act));
    fail();
}

#define ACT_TEST(NAME, ACT) \
    static void test_gradcheck_##NAME(void **state) { gradcheck_model(ACT, true, 2, 0.5, RD_REDUCE_MEAN); }
ACT_TEST(linear, RD_ACT_LINEAR)
ACT_TEST(relu, RD_ACT_RELU)
ACT_TEST(leaky_relu, RD_ACT_LEAKY_RELU)
ACT_TEST(elu, RD_ACT_ELU)
ACT_TEST(relu6, RD_ACT_RELU6)
ACT_TEST(tanh, RD_ACT_TANH)
ACT_TEST(sigmoid, RD_ACT_SIGMOID)
ACT_TEST(swish, RD_ACT_SWISH)
ACT_TEST(mish, RD_ACT_MISH)

/* Dense layers alone (no dropout): plain Y = XW + b chain. */
static void test_gradcheck_dense_only(void **state)
{
    gradcheck_model(RD_ACT_TANH, false, 2, 1.0, RD_REDUCE_MEAN);
    gradcheck_model(RD_ACT_LINEAR, false, 1, 0.0, RD_REDUCE_SUM);
}

/* The R-Drop loss through the model: alpha in {0, 0.5, 4} x {mean, sum} with 2 and 3 passes,
 * and passes 1. */
static void test_gradcheck_rdrop_model(void **state)
{
    const double alphas[] = {0.0, 0.5, 4.0};
    for (int r = 0; r < 2; r++) {
        rd_reduction red = r ? RD_REDUCE_SUM : RD_REDUCE_MEAN;
        for (int a = 0; a < 3; a++) gradcheck_model(RD_ACT_ELU, true, 2, alphas[a], red);
        gradcheck_model(RD_ACT_ELU, true, 1, 0.0, red);
        gradcheck_model(RD_ACT_SWISH, true, 1, 0.0, red);
        for (int a = 0; a < 3; a++) gradcheck_model(RD_ACT_ELU, true, 3, alphas[a], red);   /* passes 3 */
    }
}

/* Dropout with a fixed mask: forward is x*m/(1-p) exactly, eval is identity, and a unit
 * dropped in every row passes no gradient to the parameters that feed it. */
static void test_dropout_fixed_mask(void **state)
{
    gc_problem P;
    gc_build(&P, RD_ACT_TANH, RD_ACT_TANH, true, 2, 0.5, RD_REDUCE_MEAN, 7);
    rd_model *m = &P.m;
    rd_layer *D = &m->layers[2], *Dn = &m->layers[1];   /* dropout 0.5 after dense H1 */
    assert_int_equal(D->kind, RD_LAYER_DROPOUT);
    for (int r = 0; r < P.rows; r++) D->mask[r * H1 + 2] = 0;   /* unit 2 dropped everywhere */
    D->mask[0] = 1;

    float dl[MAXR * NOUT];
    gc_loss(&P, dl);
    for (int k = 0; k < P.rows * H1; k++) {
        float want = D->mask[k] ? Dn->y[k] * 2.0f : 0.0f;
        assert_true(D->y[k] == want);
    }
    rd_model_backward(m, P.x, dl, P.rows);
    for (int i = 0; i < NIN; i++) assert_true(m->grads[Dn->w_off + (size_t)i * H1 + 2] == 0.0f);
    assert_true(m->grads[Dn->b_off + 2] == 0.0f);
    /* the other units do get a gradient */
    double other = 0;
    for (int j = 0; j < H1; j++)
        if (j != 2) other += fabs(m->grads[Dn->b_off + j]);
    assert_true(other > 1e-4);

    /* and the finite differences agree with this mask */
    gc_result r;
    assert_true(gc_run(&P, &r));
    assert_true(r.max_ratio <= 1.0);

    /* eval: dropout is the identity, masks ignored */
    rd_model_forward(m, P.x, B, false);
    for (int k = 0; k < B * H1; k++) assert_true(D->y[k] == Dn->y[k]);
    rd_model_free(m);
}

static void test_report(void **state)
{
    printf("model gradcheck: worst |an-num|/tol = %.3g\n", g_worst_ratio);
    assert_true(g_worst_ratio > 0.0 && g_worst_ratio <= 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_grad_pointwise),
        cmocka_unit_test(test_act_values),
        cmocka_unit_test(test_loss_logits_gradcheck),
        cmocka_unit_test(test_loss_alpha0_is_two_pass_ce),
        cmocka_unit_test(test_gradcheck_linear),
        cmocka_unit_test(test_gradcheck_relu),
        cmocka_unit_test(test_gradcheck_leaky_relu),
        cmocka_unit_test(test_gradcheck_elu),
        cmocka_unit_test(test_gradcheck_relu6),
        cmocka_unit_test(test_gradcheck_tanh),
        cmocka_unit_test(test_gradcheck_sigmoid),
        cmocka_unit_test(test_gradcheck_swish),
        cmocka_unit_test(test_gradcheck_mish),
        cmocka_unit_test(test_gradcheck_dense_only),
        cmocka_unit_test(test_gradcheck_rdrop_model),
        cmocka_unit_test(test_dropout_fixed_mask),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
