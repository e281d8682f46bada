/* test_conv_reference.c - the convolutional oracle: tests/data/conv_reference.json (PyTorch 1.13
 * autograd in float64; docs/conv.md). Every array is flattened row-major; samples are NHWC rows.
 *
 * layer_cases: conv2d forward y = conv(x, K) + b and, for the given dy, dx, dK and db (db as the
 * column sums of dy over rows x positions: the model's own db sweep is checked by the networks);
 * max_pool forward y and dx. net_cases: the whole network built from the JSON's layer list with
 * rd_model_create_hwc, the given parameters and dropout masks on the doubled batch; per alpha:
 * logits, loss/CE/KL (means over the batch) and every gradient; then 3 SGD steps (momentum,
 * max-norm on every conv2d kernel and every dense kernel but the last): the loss before each step
 * and every parameter after it. Tolerance as the MLP oracle: |got - ref| <= 1e-5 + 1e-4*|ref|.
 */
#include "refjson.h"

#include <math.h>

#include "conv.h"
#include "loss.h"
#include "model.h"
#include "optim.h"

#define ATOL 1e-5
#define RTOL 1e-4

static long g_compared;
static double g_max_tol_ratio;

static void cmp(double got, double want, const char *what, int i)
{
    double err = fabs(got - want), tol = ATOL + RTOL * fabs(want);
    if (err / tol > g_max_tol_ratio) g_max_tol_ratio = err / tol;
    if (!(err <= tol)) {
        print_error("%s[%d]: got %.9g, reference %.17g (|diff| %.3g > tol %.3g)\n", what, i, got, want, err, tol);
        fail();
    }
    g_compared++;
}

/* A flat list of n numbers as floats (malloc'd). */
static float *floats(yaml_node_t *n, int len)
{
    assert_int_equal(seq_len(n), len);
    float *v = malloc((size_t)len * sizeof *v);
    for (int i = 0; i < len; i++) v[i] = (float)num(seq_at(n, i));
    return v;
}

static void cmp_list(const float *got, yaml_node_t *n, int len, const char *what)
{
    assert_int_equal(seq_len(n), len);
    for (int i = 0; i < len; i++) cmp(got[i], num(seq_at(n, i)), what, i);
}

static void ints(yaml_node_t *n, int len, int *out)
{
    assert_int_equal(seq_len(n), len);
    for (int i = 0; i < len; i++) out[i] = (int)num(seq_at(n, i));
}

static int setup(void **state)
{
    (void)state;
    return ref_open("conv_reference.json");
}

/* ---- single layers ---- */

static void conv_case(yaml_node_t *cs)
{
    int in[3], out[3], k[2], s[2];
    ints(node_get(cs, "input_shape"), 3, in);
    ints(node_get(cs, "output_shape"), 3, out);
    ints(node_get(cs, "kernel_size"), 2, k);
    ints(node_get(cs, "stride"), 2, s);
    const int B = (int)num_at(cs, "batch"), F = (int)num_at(cs, "filters");
    const rd_padding pad = !strcmp(scalar(node_get(cs, "padding")), "same") ? RD_PAD_SAME : RD_PAD_VALID;
    rd_conv_geom g = rd_conv_geom_make(in[0], in[1], in[2], k[0], k[1], s[0], s[1], pad);
    assert_int_equal(g.OH, out[0]);
    assert_int_equal(g.OW, out[1]);
    assert_int_equal(F, out[2]);
    const int nin = in[0] * in[1] * in[2], nout = out[0] * out[1] * F, P = rd_conv_patch(&g);
    float *x = floats(node_get(cs, "x"), B * nin), *K = floats(node_get(cs, "kernel"), P * F);
    float *b = floats(node_get(cs, "bias"), F), *dy = floats(node_get(cs, "dy"), B * nout);
    float *patches = malloc((size_t)rd_conv_chunk(&g, B) * g.OH * g.OW * P * sizeof(float));
    float *y = malloc((size_t)B * nout * sizeof(float)), *dx = malloc((size_t)B * nin * sizeof(float));
    float *dK = malloc((size_t)P * F * sizeof(float)), db[64] = {0};
    assert_true(F <= 64);
    conv2d_forward(&g, F, x, K, b, B, patches, y);
    cmp_list(y, node_get(cs, "y"), B * nout, "conv y");
    conv2d_backward_kernel(&g, F, x, dy, B, patches, dK);
    cmp_list(dK, node_get(cs, "dkernel"), P * F, "conv dkernel");
    for (int r = 0; r < B * g.OH * g.OW; r++)
        for (int f = 0; f < F; f++) db[f] += dy[(size_t)r * F + f];
    cmp_list(db, node_get(cs, "dbias"), F, "conv dbias");
    conv2d_backward_input(&g, F, dy, K, B, patches, dx);
    cmp_list(dx, node_get(cs, "dx"), B * nin, "conv dx");
    free(x), free(K), free(b), free(dy), free(patches), free(y), free(dx), free(dK);
}

static void pool_case(yaml_node_t *cs)
{
    int in[3], out[3], k[2], s[2];
    ints(node_get(cs, "input_shape"), 3, in);
    ints(node_get(cs, "output_shape"), 3, out);
    ints(node_get(cs, "size"), 2, k);
    ints(node_get(cs, "stride"), 2, s);
    const int B = (int)num_at(cs, "batch");
    rd_conv_geom g = rd_conv_geom_make(in[0], in[1], in[2], k[0], k[1], s[0], s[1], RD_PAD_VALID);
    assert_int_equal(g.OH, out[0]);
    assert_int_equal(g.OW, out[1]);
    assert_int_equal(in[2], out[2]);
    const int nin = in[0] * in[1] * in[2], nout = out[0] * out[1] * out[2];
    float *x = floats(node_get(cs, "x"), B * nin), *dy = floats(node_get(cs, "dy"), B * nout);
    float *y = malloc((size_t)B * nout * sizeof(float)), *dx = malloc((size_t)B * nin * sizeof(float));
    int32_t *am = malloc((size_t)B * nout * sizeof(int32_t));
    maxpool_forward(&g, x, B, y, am);
    cmp_list(y, node_get(cs, "y"), B * nout, "pool y");
    maxpool_backward(&g, dy, am, B, dx);
    cmp_list(dx, node_get(cs, "dx"), B * nin, "pool dx");
    free(x), free(dy), free(y), free(dx), free(am);
}

static void test_layer_cases(void **state)
{
    (void)state;
    yaml_node_t *cases = node_get(g_root, "layer_cases");
    assert_int_equal(seq_len(cases), 9);
    int nconv = 0, npool = 0;
    long before = g_compared;
    for (int i = 0; i < seq_len(cases); i++) {
        yaml_node_t *cs = seq_at(cases, i);
        const char *op = scalar(node_get(cs, "op"));
        if (!strcmp(op, "conv2d")) conv_case(cs), nconv++;
        else if (!strcmp(op, "max_pool")) pool_case(cs), npool++;
        else fail_msg("unknown op %s", op);
    }
    assert_int_equal(nconv, 6);
    assert_int_equal(npool, 3);
    printf("layer_cases: %ld values compared\n", g_compared - before);
}

/* ---- networks ---- */

typedef struct {
    rd_config c;
    rd_model m;
    int B, rows, K;
    float *x2;               /* doubled batch */
    int32_t labels[64];
} net;

static rd_activation act_of(yaml_node_t *l)
{
    int a = rd_activation_parse(scalar(node_get(l, "activation")));
    assert_true(a >= 0);
    return (rd_activation)a;
}

/* The config from the JSON's layer list; max_norm on every conv2d and every dense but the last. */
static void net_config(rd_config *c, yaml_node_t *layers, double max_norm)
{
    memset(c, 0, sizeof *c);
    rd_config_defaults(c);
    const int n = seq_len(layers);
    c->model.n_layers = n;
    for (int i = 0; i < n; i++) {
        yaml_node_t *l = seq_at(layers, i);
        const char *type = scalar(node_get(l, "type"));
        rd_layer_spec *s = &c->model.layers[i];
        memset(s, 0, sizeof *s);
        if (!strcmp(type, "dropout")) {
            s->kind = RD_LAYER_DROPOUT;
            s->rate = num_at(l, "rate");
        } else if (!strcmp(type, "dense")) {
            s->kind = RD_LAYER_DENSE;
            s->units = (int)num_at(l, "units");
            s->activation = act_of(l);
            s->max_norm = i == n - 1 ? 0.0 : max_norm;
        } else if (!strcmp(type, "conv2d")) {
            s->kind = RD_LAYER_CONV2D;
            s->filters = (int)num_at(l, "filters");
            ints(node_get(l, "size"), 2, s->size);
            ints(node_get(l, "stride"), 2, s->stride);
            s->padding = !strcmp(scalar(node_get(l, "padding")), "same") ? RD_PAD_SAME : RD_PAD_VALID;
            s->activation = act_of(l);
            s->max_norm = max_norm;
        } else {
            assert_string_equal(type, "max_pool");
            s->kind = RD_LAYER_MAX_POOL;
            ints(node_get(l, "size"), 2, s->size);
            ints(node_get(l, "stride"), 2, s->stride);
        }
    }
}

static void net_build(net *N, yaml_node_t *cs, double max_norm)
{
    int in[3];
    ints(node_get(cs, "input_shape"), 3, in);
    N->B = (int)num_at(cs, "batch");
    N->rows = 2 * N->B;
    assert_true(N->B <= 64);
    yaml_node_t *layers = node_get(cs, "layers");
    net_config(&N->c, layers, max_norm);
    rd_error e = {0};
    assert_int_equal(rd_model_create_hwc(&N->m, &N->c, in[0], in[1], in[2], N->rows, &e), 0);
    rd_model *m = &N->m;
    N->K = m->output_dim;
    for (int i = 0; i < m->n_layers; i++) {   /* output shapes as the JSON says */
        int sh[3];
        ints(node_get(seq_at(layers, i), "output_shape"), 3, sh);
        for (int j = 0; j < 3; j++) assert_int_equal(m->layers[i].shape[j], sh[j]);
    }
    const int nin = m->input_dim;
    float *x = floats(node_get(cs, "x"), N->B * nin);
    N->x2 = malloc((size_t)N->rows * nin * sizeof(float));
    memcpy(N->x2, x, (size_t)N->B * nin * sizeof(float));
    memcpy(N->x2 + (size_t)N->B * nin, x, (size_t)N->B * nin * sizeof(float));
    free(x);
    ints(node_get(cs, "labels"), N->B, N->labels);
    /* parameters: kernel, bias per parameterised layer in forward order */
    yaml_node_t *params = node_get(cs, "params");
    int p = 0;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (!rd_layer_has_params(L)) continue;
        float *k = floats(seq_at(params, p++), L->k_rows * L->k_cols);
        float *b = floats(seq_at(params, p++), L->k_cols);
        memcpy(m->params + L->w_off, k, (size_t)L->k_rows * L->k_cols * sizeof(float));
        memcpy(m->params + L->b_off, b, (size_t)L->k_cols * sizeof(float));
        free(k), free(b);
    }
    assert_int_equal(p, seq_len(params));
    yaml_node_t *masks = node_get(cs, "masks");
    int d = 0;
    long zeros = 0;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind != RD_LAYER_DROPOUT) continue;
        yaml_node_t *mk = seq_at(masks, d++);
        assert_int_equal(seq_len(mk), N->rows * L->out);
        for (int j = 0; j < N->rows * L->out; j++) {
            double v = num(seq_at(mk, j));
            assert_true(v == 0.0 || v == 1.0);
            L->mask[j] = (uint8_t)(v != 0.0);
            zeros += v == 0.0;
        }
    }
    assert_int_equal(d, seq_len(masks));
    assert_true(zeros > 0);
}

static void net_free(net *N)
{
    rd_model_free(&N->m);
    free(N->x2);
}

/* Compare every parameter-shaped list (grads or params) in forward order. */
static void cmp_params(const rd_model *m, const float *buf, yaml_node_t *lists, const char *what)
{
    int p = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        if (!rd_layer_has_params(L)) continue;
        cmp_list(buf + L->w_off, seq_at(lists, p++), L->k_rows * L->k_cols, what);
        cmp_list(buf + L->b_off, seq_at(lists, p++), L->k_cols, what);
    }
    assert_int_equal(p, seq_len(lists));
}

static void test_net_cases(void **state)
{
    (void)state;
    yaml_node_t *cases = node_get(g_root, "net_cases");
    assert_int_equal(seq_len(cases), 2);
    long before = g_compared;
    for (int ci = 0; ci < seq_len(cases); ci++) {
        yaml_node_t *cs = seq_at(cases, ci);
        net N;
        net_build(&N, cs, 0.0);
        rd_model *m = &N.m;
        float *dl = malloc((size_t)N.rows * N.K * sizeof(float));
        yaml_node_t *lc = node_get(cs, "loss_cases");
        assert_int_equal(seq_len(lc), 2);
        for (int k = 0; k < 2; k++) {
            yaml_node_t *c = seq_at(lc, k);
            const double alpha = num_at(c, "alpha"), scale = 1.0 / N.B;
            const float *logits = rd_model_forward(m, N.x2, N.rows, true);
            cmp_list(logits, node_get(c, "logits"), N.rows * N.K, "logits");
            rd_loss_sums s;
            rd_rdrop_loss(logits, N.B, N.K, 2, N.labels, alpha, scale, dl, &s);
            cmp(s.loss * scale, num_at(c, "loss"), "loss", k);
            cmp(s.ce * scale, num_at(c, "ce"), "ce", k);
            cmp(s.kl * scale, num_at(c, "kl"), "kl", k);
            rd_model_backward(m, N.x2, dl, N.rows);
            cmp_params(m, m->grads, node_get(c, "grads"), "grad");
        }
        net_free(&N);

        yaml_node_t *sc = node_get(cs, "sgd_cases");
        assert_int_equal(seq_len(sc), 1);
        yaml_node_t *c = seq_at(sc, 0);
        net_build(&N, cs, num_at(c, "max_norm"));
        m = &N.m;
        N.c.optimizer.lr = num_at(c, "lr");
        N.c.optimizer.momentum = num_at(c, "momentum");
        N.c.optimizer.nesterov = false;
        N.c.optimizer.weight_decay = 0.0;
        const double alpha = num_at(c, "alpha");
        yaml_node_t *steps = node_get(c, "steps");
        assert_int_equal(seq_len(steps), 3);
        for (int st = 0; st < 3; st++) {
            yaml_node_t *ts = seq_at(steps, st);
            const float *logits = rd_model_forward(m, N.x2, N.rows, true);
            rd_loss_sums s;
            rd_rdrop_loss(logits, N.B, N.K, 2, N.labels, alpha, 1.0 / N.B, dl, &s);
            cmp(s.loss / N.B, num_at(ts, "loss"), "sgd loss", st);
            rd_model_backward(m, N.x2, dl, N.rows);
            rd_optim_step(m, &N.c, N.c.optimizer.lr);
            cmp_params(m, m->params, node_get(ts, "params"), "sgd param");
        }
        free(dl);
        net_free(&N);
    }
    printf("net_cases: %ld values compared\n", g_compared - before);
}

static void test_summary(void **state)
{
    (void)state;
    /* every reference number was compared: count them from the JSON */
    long want = 0;
    yaml_node_t *lc = node_get(g_root, "layer_cases");
    const char *const keys[] = {"y", "dx", "dkernel", "dbias"};
    for (int i = 0; i < seq_len(lc); i++)
        for (int k = 0; k < (strcmp(scalar(node_get(seq_at(lc, i), "op")), "conv2d") ? 2 : 4); k++)
            want += seq_len(node_get(seq_at(lc, i), keys[k]));
    yaml_node_t *nc = node_get(g_root, "net_cases");
    for (int i = 0; i < seq_len(nc); i++) {
        long np = 0;
        yaml_node_t *ps = node_get(seq_at(nc, i), "params");
        for (int j = 0; j < seq_len(ps); j++) np += seq_len(seq_at(ps, j));
        yaml_node_t *cs = node_get(seq_at(nc, i), "loss_cases");
        for (int j = 0; j < seq_len(cs); j++) want += seq_len(node_get(seq_at(cs, j), "logits")) + 3 + np;
        want += 3 * (1 + np);
    }
    printf("conv reference: %ld values compared, max |diff|/tol %.3g\n", g_compared, g_max_tol_ratio);
    assert_int_equal(g_compared, want);
    assert_true(g_max_tol_ratio <= 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_cases),
        cmocka_unit_test(test_net_cases),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, setup, ref_close);
}
