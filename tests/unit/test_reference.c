/* test_reference.c - the outside oracle: tests/data/rdrop_reference.json, computed with
 * PyTorch 1.13 autograd in float64 on a 6-5-4-3 net (tests/data/rdrop_reference.json).
 *
 * Network (from the JSON's sizes/activations and the masks' shapes: mask_input [2B x 6],
 * mask_hidden[0] [2B x 5], mask_hidden[1] [2B x 4], i.e. a dropout before every dense):
 *   dropout p_input, dense 5 relu, dropout p_hidden, dense 4 tanh, dropout p_hidden, dense 3 linear
 * loss_cases: forward of the doubled batch with the given masks, R-Drop loss (loss/ce/kl are
 * batch-reduced: mean or sum over the batch, as "reduction" says), dlogits, and every
 * dkernel/dbias. sgd_cases: 3 SGD steps (same batch and masks) with weight decay on kernels,
 * momentum or Nesterov and max-norm on the hidden dense layers.
 * kl_sum_cases: rdrop.kl_reduction sum (the R-Drop snippet's alpha * sum_i KL_i) is the mean
 * reduction with alpha * B: each loss case again, with the snippet's alpha = alpha / B.
 * kpass_cases: tests/data/kpass_reference.json (tests/tools/gen_kpass_reference.py, PyTorch
 * float64 autograd, the snippet's F.kl_div formulation): 3 and 4 passes (CE averaged over the
 * passes, KL the mean over the pairs), kl_reduction sum, on the same network shape.
 * Tolerance (as for every oracle here, float32 reaches ~6e-6): |got - ref| <= 1e-5 + 1e-4*|ref|.
 */
#include "refjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "loss.h"
#include "model.h"
#include "optim.h"
#include "step.h"

#define ATOL 1e-5
#define RTOL 1e-4

static int setup(void **state)
{
    (void)state;
    return ref_open("rdrop_reference.json");
}

/* ---- the reference problem ---- */

enum { NIN = 6, NH1 = 5, NH2 = 4, NOUT = 3, MAXB = 16 };

typedef struct {
    int B;
    double p_in, p_hid;
    float x2[2 * MAXB * NIN];            /* doubled batch */
    int32_t labels[MAXB];
    uint8_t mask[3][2 * MAXB * NH1 + 2 * MAXB * NIN];
    int mask_width[3];
    double kernel[3][NIN * NH1];
    double bias[3][NH1];
} reference;

static const int k_in[3] = {NIN, NH1, NH2};
static const int k_out[3] = {NH1, NH2, NOUT};
static const int k_layer_of_dense[3] = {1, 3, 5};     /* index in model.layers */
static const int k_layer_of_dropout[3] = {0, 2, 4};

/* Comparison bookkeeping. */
static long g_compared;
static double g_max_rel, g_max_tol_ratio;

static void cmp(double got, double want, const char *what, int i)
{
    double err = fabs(got - want), tol = ATOL + RTOL * fabs(want);
    if (fabs(want) > 1e-3 && err / fabs(want) > g_max_rel) g_max_rel = err / fabs(want);
    if (err / tol > g_max_tol_ratio) g_max_tol_ratio = err / tol;
    if (!(err <= tol)) {
        print_error("%s[%d]: got %.9g, reference %.17g (|diff| %.3g > tol %.3g)\n", what, i, got,
                    want, err, tol);
        fail();
    }
    g_compared++;
}

static void load_reference(reference *R)
{
    memset(R, 0, sizeof *R);
    yaml_node_t *sizes = node_get(g_root, "sizes");
    assert_int_equal(seq_len(sizes), 4);
    const int want_sizes[4] = {NIN, NH1, NH2, NOUT};
    for (int i = 0; i < 4; i++) assert_int_equal((int)num(seq_at(sizes, i)), want_sizes[i]);
    yaml_node_t *acts = node_get(g_root, "activations");
    assert_int_equal(seq_len(acts), 3);
    assert_string_equal(scalar(seq_at(acts, 0)), "relu");
    assert_string_equal(scalar(seq_at(acts, 1)), "tanh");
    assert_string_equal(scalar(seq_at(acts, 2)), "linear");
    R->B = (int)num_at(g_root, "batch");
    assert_true(R->B >= 1 && R->B <= MAXB);
    R->p_in = num_at(g_root, "p_input");
    R->p_hid = num_at(g_root, "p_hidden");
    const int B = R->B;

    double buf[2 * MAXB * NIN];
    matrix(node_get(g_root, "x"), B, NIN, buf);
    for (int r = 0; r < B; r++)
        for (int c = 0; c < NIN; c++)
            R->x2[r * NIN + c] = R->x2[(B + r) * NIN + c] = (float)buf[r * NIN + c];
    yaml_node_t *lab = node_get(g_root, "labels");
    assert_int_equal(seq_len(lab), B);
    for (int i = 0; i < B; i++) {
        R->labels[i] = (int32_t)num(seq_at(lab, i));
        assert_true(R->labels[i] >= 0 && R->labels[i] < NOUT);
    }

    /* masks: one per dropout layer; the shapes say which dropout layers exist */
    yaml_node_t *mh = node_get(g_root, "mask_hidden");
    assert_int_equal(seq_len(mh), 2);
    yaml_node_t *mnodes[3] = {node_get(g_root, "mask_input"), seq_at(mh, 0), seq_at(mh, 1)};
    const int widths[3] = {NIN, NH1, NH2};
    long zeros = 0;
    for (int d = 0; d < 3; d++) {
        R->mask_width[d] = widths[d];
        double mb[2 * MAXB * NIN];
        matrix(mnodes[d], 2 * B, widths[d], mb);
        for (int i = 0; i < 2 * B * widths[d]; i++) {
            assert_true(mb[i] == 0.0 || mb[i] == 1.0);
            R->mask[d][i] = (uint8_t)(mb[i] != 0.0);
            zeros += mb[i] == 0.0;
        }
    }
    assert_true(zeros > 0);   /* the masks really drop something */

    yaml_node_t *kn = node_get(g_root, "kernel"), *bn = node_get(g_root, "bias");
    assert_int_equal(seq_len(kn), 3);
    assert_int_equal(seq_len(bn), 3);
    for (int l = 0; l < 3; l++) {
        matrix(seq_at(kn, l), k_in[l], k_out[l], R->kernel[l]);
        vector(seq_at(bn, l), k_out[l], R->bias[l]);
    }
}

static void make_config(rd_config *c, const reference *R, double max_norm_hidden)
{
    memset(c, 0, sizeof *c);
    c->model.init = RD_INIT_HE_UNIFORM;
    c->model.n_layers = 6;
    rd_layer_spec *L = c->model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = R->p_in};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = NH1, .activation = RD_ACT_RELU,
                           .max_norm = max_norm_hidden};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = R->p_hid};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = NH2, .activation = RD_ACT_TANH,
                           .max_norm = max_norm_hidden};
    L[4] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = R->p_hid};
    L[5] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = NOUT, .activation = RD_ACT_LINEAR};
}

/* Create the model, copy kernels/biases and masks in. */
static void build_model(rd_model *m, const rd_config *c, const reference *R)
{
    rd_error e = {0};
    assert_int_equal(rd_model_create(m, c, NIN, 2 * R->B, &e), 0);
    assert_int_equal(m->n_layers, 6);
    assert_int_equal(m->n_dense, 3);
    assert_int_equal(m->output_dim, NOUT);
    assert_int_equal((int)m->n_params, NIN * NH1 + NH1 + NH1 * NH2 + NH2 + NH2 * NOUT + NOUT);
    for (int l = 0; l < 3; l++) {
        rd_layer *L = &m->layers[k_layer_of_dense[l]];
        assert_int_equal(L->kind, RD_LAYER_DENSE);
        assert_int_equal(L->in, k_in[l]);
        assert_int_equal(L->out, k_out[l]);
        for (int i = 0; i < k_in[l] * k_out[l]; i++) m->params[L->w_off + i] = (float)R->kernel[l][i];
        for (int j = 0; j < k_out[l]; j++) m->params[L->b_off + j] = (float)R->bias[l][j];
    }
    for (int d = 0; d < 3; d++) {
        rd_layer *L = &m->layers[k_layer_of_dropout[d]];
        assert_int_equal(L->kind, RD_LAYER_DROPOUT);
        assert_int_equal(L->out, R->mask_width[d]);
        memcpy(L->mask, R->mask[d], (size_t)2 * R->B * L->out);
    }
}

static rd_reduction parse_reduction(yaml_node_t *n)
{
    const char *s = scalar(n);
    if (strcmp(s, "mean") == 0) return RD_REDUCE_MEAN;
    assert_string_equal(s, "sum");
    return RD_REDUCE_SUM;
}

static void test_loss_cases(void **state)
{
    reference R;
    load_reference(&R);
    const int B = R.B, rows = 2 * B;
    rd_config c;
    make_config(&c, &R, 0.0);
    rd_model m;
    build_model(&m, &c, &R);

    yaml_node_t *cases = node_get(g_root, "loss_cases");
    const int ncases = seq_len(cases);
    assert_int_equal(ncases, 6);
    long before = g_compared;
    int seen_mean = 0, seen_sum = 0;
    for (int ci = 0; ci < ncases; ci++) {
        yaml_node_t *cs = seq_at(cases, ci);
        double alpha = num_at(cs, "alpha");
        rd_reduction red = parse_reduction(node_get(cs, "reduction"));
        seen_mean += red == RD_REDUCE_MEAN;
        seen_sum += red == RD_REDUCE_SUM;
        double scale = red == RD_REDUCE_MEAN ? 1.0 / B : 1.0;

        const float *logits = rd_model_forward(&m, R.x2, rows, true);
        double ref[2 * MAXB * NIN];
        matrix(node_get(cs, "logits"), rows, NOUT, ref);
        for (int i = 0; i < rows * NOUT; i++) cmp(logits[i], ref[i], "logits", i);

        float dlogits[2 * MAXB * NOUT];
        rd_loss_sums s;
        rd_rdrop_loss(logits, B, NOUT, 2, R.labels, alpha, scale, dlogits, &s);
        /* loss/ce/kl in the JSON are batch-reduced like the loss itself */
        cmp(s.loss * scale, num_at(cs, "loss"), "loss", ci);
        cmp(s.ce * scale, num_at(cs, "ce"), "ce", ci);
        cmp(s.kl * scale, num_at(cs, "kl"), "kl", ci);
        matrix(node_get(cs, "dlogits"), rows, NOUT, ref);
        for (int i = 0; i < rows * NOUT; i++) cmp(dlogits[i], ref[i], "dlogits", i);

        rd_model_backward(&m, R.x2, dlogits, rows);
        yaml_node_t *dk = node_get(cs, "dkernel"), *db = node_get(cs, "dbias");
        assert_int_equal(seq_len(dk), 3);
        assert_int_equal(seq_len(db), 3);
        for (int l = 0; l < 3; l++) {
            const rd_layer *L = &m.layers[k_layer_of_dense[l]];
            double g[NIN * NH1];
            matrix(seq_at(dk, l), k_in[l], k_out[l], g);
            for (int i = 0; i < k_in[l] * k_out[l]; i++) cmp(m.grads[L->w_off + i], g[i], "dkernel", i);
            vector(seq_at(db, l), k_out[l], g);
            for (int j = 0; j < k_out[l]; j++) cmp(m.grads[L->b_off + j], g[j], "dbias", j);
        }
    }
    assert_true(seen_mean > 0 && seen_sum > 0);
    /* per case: logits + 3 scalars + dlogits + all dkernel/dbias */
    const long per_case = 2L * rows * NOUT + 3 + (long)(m.n_params);
    assert_int_equal(g_compared - before, ncases * per_case);
    printf("loss_cases: %ld values compared\n", g_compared - before);
    rd_model_free(&m);
}

static void test_sgd_cases(void **state)
{
    reference R;
    load_reference(&R);
    const int B = R.B, rows = 2 * B;

    yaml_node_t *cases = node_get(g_root, "sgd_cases");
    const int ncases = seq_len(cases);
    assert_int_equal(ncases, 2);
    long before = g_compared, nsteps_total = 0;
    int seen_nesterov = 0;
    for (int ci = 0; ci < ncases; ci++) {
        yaml_node_t *cs = seq_at(cases, ci);
        double max_norm = num_at(cs, "max_norm_hidden");
        rd_config c;
        make_config(&c, &R, max_norm);
        c.optimizer.lr = num_at(cs, "lr");
        c.optimizer.momentum = num_at(cs, "momentum");
        c.optimizer.nesterov = boolean(node_get(cs, "nesterov"));
        c.optimizer.weight_decay = num_at(cs, "weight_decay");
        c.rdrop.passes = 2;
        c.rdrop.alpha = num_at(cs, "alpha");
        c.rdrop.reduction = parse_reduction(node_get(cs, "reduction"));
        seen_nesterov += c.optimizer.nesterov;
        assert_true(c.optimizer.weight_decay > 0.0 && c.optimizer.momentum > 0.0 && max_norm > 0.0);
        double scale = c.rdrop.reduction == RD_REDUCE_MEAN ? 1.0 / B : 1.0;

        rd_model m;
        build_model(&m, &c, &R);
        assert_true(m.layers[1].max_norm == max_norm && m.layers[3].max_norm == max_norm);
        assert_true(m.layers[5].max_norm == 0.0);

        yaml_node_t *traj = node_get(cs, "trajectory");
        const int nsteps = seq_len(traj);
        assert_int_equal(nsteps, 3);
        for (int st = 0; st < nsteps; st++) {
            yaml_node_t *ts = seq_at(traj, st);
            assert_int_equal((int)num_at(ts, "step"), st + 1);
            const float *logits = rd_model_forward(&m, R.x2, rows, true);
            float dlogits[2 * MAXB * NOUT];
            rd_loss_sums s;
            rd_rdrop_loss(logits, B, NOUT, 2, R.labels, c.rdrop.alpha, scale, dlogits, &s);
            cmp(s.loss * scale, num_at(ts, "loss_before_step"), "loss_before_step", st);
            rd_model_backward(&m, R.x2, dlogits, rows);
            rd_optim_step(&m, &c, c.optimizer.lr);

            yaml_node_t *kn = node_get(ts, "kernel"), *bn = node_get(ts, "bias");
            for (int l = 0; l < 3; l++) {
                const rd_layer *L = &m.layers[k_layer_of_dense[l]];
                double w[NIN * NH1];
                matrix(seq_at(kn, l), k_in[l], k_out[l], w);
                for (int i = 0; i < k_in[l] * k_out[l]; i++) cmp(m.params[L->w_off + i], w[i], "kernel", i);
                vector(seq_at(bn, l), k_out[l], w);
                for (int j = 0; j < k_out[l]; j++) cmp(m.params[L->b_off + j], w[j], "bias", j);
            }
            nsteps_total++;
        }
        rd_model_free(&m);
    }
    assert_int_equal(seen_nesterov, 1);
    const long per_step = 1 + (long)(NIN * NH1 + NH1 + NH1 * NH2 + NH2 + NH2 * NOUT + NOUT);
    assert_int_equal(g_compared - before, nsteps_total * per_step);
    printf("sgd_cases: %ld values compared\n", g_compared - before);
}

/* rdrop.kl_reduction: sum is rdrop's mean reduction with alpha * B (rd_step_alpha, the path
 * training takes): every loss case of the reference again, with the snippet's alpha =
 * alpha / B for the mean cases (reduction sum: unchanged), must give the case's values. */
static long g_kl_sum_compared;

static void test_kl_sum_cases(void **state)
{
    reference R;
    load_reference(&R);
    const int B = R.B, rows = 2 * B;
    rd_config c;
    make_config(&c, &R, 0.0);
    rd_model m;
    build_model(&m, &c, &R);
    yaml_node_t *cases = node_get(g_root, "loss_cases");
    long before = g_compared;
    int scaled = 0;
    for (int ci = 0; ci < seq_len(cases); ci++) {
        yaml_node_t *cs = seq_at(cases, ci);
        c.rdrop.passes = 2;
        c.rdrop.reduction = parse_reduction(node_get(cs, "reduction"));
        c.rdrop.kl_reduction = RD_REDUCE_SUM;
        const bool mean = c.rdrop.reduction == RD_REDUCE_MEAN;
        c.rdrop.alpha = mean ? num_at(cs, "alpha") / B : num_at(cs, "alpha");
        scaled += mean && c.rdrop.alpha > 0.0;
        double alpha = rd_step_alpha(&c, B, 0, 0), scale = mean ? 1.0 / B : 1.0;
        const float *logits = rd_model_forward(&m, R.x2, rows, true);
        float dlogits[2 * MAXB * NOUT];
        double ref[2 * MAXB * NOUT];
        rd_loss_sums s;
        rd_rdrop_loss(logits, B, NOUT, 2, R.labels, alpha, scale, dlogits, &s);
        cmp(s.loss * scale, num_at(cs, "loss"), "kl_sum loss", ci);
        /* the snippet's loss: mean CE + alpha_snippet * sum_i KL_i */
        if (mean) cmp(s.ce / B + c.rdrop.alpha * s.kl, num_at(cs, "loss"), "kl_sum snippet loss", ci);
        matrix(node_get(cs, "dlogits"), rows, NOUT, ref);
        for (int i = 0; i < rows * NOUT; i++) cmp(dlogits[i], ref[i], "kl_sum dlogits", i);
    }
    assert_int_equal(scaled, 2);   /* the alpha 0.7 and 4 mean cases */
    g_kl_sum_compared = g_compared - before;
    printf("kl_sum_cases: %ld values compared\n", g_kl_sum_compared);
    rd_model_free(&m);
}

/* ---- K passes: tests/data/kpass_reference.json ---- */

enum { MAXK = 4 };
static long g_kpass_compared;

static void test_kpass_cases(void **state)
{
    /* the K-pass reference is its own document: swap it in, swap back at the end */
    yaml_document_t main_doc = g_doc;
    yaml_node_t *main_root = g_root;
    FILE *f = fopen(rd_test_data("kpass_reference.json"), "rb");
    assert_non_null(f);
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    assert_true(yaml_parser_load(&parser, &g_doc));
    yaml_parser_delete(&parser);
    fclose(f);
    g_root = yaml_document_get_root_node(&g_doc);
    assert_non_null(g_root);

    reference R;
    memset(&R, 0, sizeof R);
    R.B = (int)num_at(g_root, "batch");
    R.p_in = num_at(g_root, "p_input");
    R.p_hid = num_at(g_root, "p_hidden");
    const int B = R.B, KP = (int)num_at(g_root, "max_passes");
    assert_true(B >= 1 && B <= MAXB && KP >= 3 && KP <= MAXK);
    double x[MAXB * NIN];
    matrix(node_get(g_root, "x"), B, NIN, x);
    yaml_node_t *lab = node_get(g_root, "labels");
    for (int i = 0; i < B; i++) R.labels[i] = (int32_t)num(seq_at(lab, i));
    static uint8_t masks[3][MAXK * MAXB * NIN];
    static const int widths[3] = {NIN, NH1, NH2};
    yaml_node_t *mn = node_get(g_root, "masks");
    for (int d = 0; d < 3; d++) {
        double mb[MAXK * MAXB * NIN];
        matrix(seq_at(mn, d), KP * B, widths[d], mb);
        for (int i = 0; i < KP * B * widths[d]; i++) masks[d][i] = (uint8_t)(mb[i] != 0.0);
    }
    yaml_node_t *kn = node_get(g_root, "kernel"), *bn = node_get(g_root, "bias");
    for (int l = 0; l < 3; l++) {
        matrix(seq_at(kn, l), k_in[l], k_out[l], R.kernel[l]);
        vector(seq_at(bn, l), k_out[l], R.bias[l]);
    }

    yaml_node_t *cases = node_get(g_root, "cases");
    long before = g_compared;
    int seen[MAXK + 1] = {0};
    for (int ci = 0; ci < seq_len(cases); ci++) {
        yaml_node_t *cs = seq_at(cases, ci);
        rd_config c;
        make_config(&c, &R, 0.0);
        c.rdrop.passes = (int)num_at(cs, "passes");
        c.rdrop.alpha = num_at(cs, "alpha");
        c.rdrop.reduction = parse_reduction(node_get(cs, "reduction"));
        c.rdrop.kl_reduction = parse_reduction(node_get(cs, "kl_reduction"));
        const int K = c.rdrop.passes, rows = K * B;
        assert_true(K >= 2 && K <= KP);
        seen[K]++;
        rd_model m;
        rd_error e = {0};
        assert_int_equal(rd_model_create(&m, &c, NIN, rows, &e), 0);
        for (int l = 0; l < 3; l++) {
            rd_layer *L = &m.layers[k_layer_of_dense[l]];
            for (int i = 0; i < k_in[l] * k_out[l]; i++) m.params[L->w_off + i] = (float)R.kernel[l][i];
            for (int j = 0; j < k_out[l]; j++) m.params[L->b_off + j] = (float)R.bias[l][j];
        }
        for (int d = 0; d < 3; d++)   /* pass q's rows are rows [qB, (q+1)B) of the masks */
            memcpy(m.layers[k_layer_of_dropout[d]].mask, masks[d], (size_t)rows * widths[d]);
        float xk[MAXK * MAXB * NIN];   /* the K-fold batch */
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < NIN; j++) xk[r * NIN + j] = (float)x[(r % B) * NIN + j];

        const bool mean = c.rdrop.reduction == RD_REDUCE_MEAN;
        const bool kl_summed = !mean || c.rdrop.kl_reduction == RD_REDUCE_SUM;
        double alpha = rd_step_alpha(&c, B, 0, 0), scale = mean ? 1.0 / B : 1.0;
        const float *logits = rd_model_forward(&m, xk, rows, true);
        double ref[MAXK * MAXB * NIN];
        matrix(node_get(cs, "logits"), rows, NOUT, ref);
        for (int i = 0; i < rows * NOUT; i++) cmp(logits[i], ref[i], "kpass logits", i);
        float dlogits[MAXK * MAXB * NOUT];
        rd_loss_sums s;
        rd_rdrop_loss(logits, B, NOUT, K, R.labels, alpha, scale, dlogits, &s);
        cmp(s.loss * scale, num_at(cs, "loss"), "kpass loss", ci);
        cmp(s.ce * scale, num_at(cs, "ce"), "kpass ce", ci);
        cmp(kl_summed ? s.kl : s.kl / B, num_at(cs, "kl"), "kpass kl", ci);
        matrix(node_get(cs, "dlogits"), rows, NOUT, ref);
        for (int i = 0; i < rows * NOUT; i++) cmp(dlogits[i], ref[i], "kpass dlogits", i);
        rd_model_backward(&m, xk, dlogits, rows);
        yaml_node_t *dk = node_get(cs, "dkernel"), *db = node_get(cs, "dbias");
        for (int l = 0; l < 3; l++) {
            const rd_layer *L = &m.layers[k_layer_of_dense[l]];
            double g[NIN * NH1];
            matrix(seq_at(dk, l), k_in[l], k_out[l], g);
            for (int i = 0; i < k_in[l] * k_out[l]; i++) cmp(m.grads[L->w_off + i], g[i], "kpass dkernel", i);
            vector(seq_at(db, l), k_out[l], g);
            for (int j = 0; j < k_out[l]; j++) cmp(m.grads[L->b_off + j], g[j], "kpass dbias", j);
        }
        rd_model_free(&m);
    }
    assert_true(seen[3] >= 3 && seen[4] >= 1 && seen[2] >= 1);
    g_kpass_compared = g_compared - before;
    printf("kpass_cases: %ld values compared\n", g_kpass_compared);
    yaml_document_delete(&g_doc);
    g_doc = main_doc;
    g_root = main_root;
}

/* Runs last: everything was compared, report the worst error. */
static void test_summary(void **state)
{
    /* 6 loss cases x (24 logits + 3 scalars + 24 dlogits + 74 gradients)
     * + 2 sgd cases x 3 steps x (1 loss + 74 parameters)
     * + 6 kl_sum cases x (1 loss + 24 dlogits) + 3 snippet losses (the mean cases)
     * + the K-pass cases: each 2 x (K*4 x 3) logits and dlogits + 3 scalars + 74 gradients */
    long kpass = 0;
    const int k_of_case[6] = {3, 3, 3, 3, 4, 2};
    for (int i = 0; i < 6; i++) kpass += 2L * k_of_case[i] * 4 * NOUT + 3 + 74;
    assert_int_equal(g_kl_sum_compared, 6 * 25 + 3);
    assert_int_equal(g_kpass_compared, kpass);
    assert_int_equal(g_compared, 6 * 125 + 2 * 3 * 75 + g_kl_sum_compared + kpass);
    printf("reference: %ld values compared, max relative error %.3g (|ref| > 1e-3), "
           "max |diff|/tol %.3g\n", g_compared, g_max_rel, g_max_tol_ratio);
    assert_true(g_max_tol_ratio <= 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_cases),
        cmocka_unit_test(test_sgd_cases),
        cmocka_unit_test(test_kl_sum_cases),
        cmocka_unit_test(test_kpass_cases),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, setup, ref_close);
}
