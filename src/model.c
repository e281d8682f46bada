/* model.c - dense and dropout layers over one flat parameter buffer; forward over the
 * doubled batch (both passes in one GEMM per layer), backward into one gradient buffer. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

int rd_model_create(rd_model *m, const rd_config *c, int input_dim, int max_rows, rd_error *e)
{
    memset(m, 0, sizeof *m);
    m->input_dim = input_dim;
    m->max_rows = max_rows;
    int width = input_dim;
    size_t off = 0;
    for (int i = 0; i < c->model.n_layers; i++) {
        const rd_layer_spec *s = &c->model.layers[i];
        rd_layer *L = &m->layers[i];
        L->kind = s->kind;
        L->spec_index = i;
        L->in = width;
        L->dense_index = -1;
        if (s->kind == RD_LAYER_DENSE) {
            L->out = s->units;
            L->act = s->activation;
            L->max_norm = s->max_norm;
            L->dense_index = m->n_dense++;
            L->w_off = off;
            off += (size_t)L->in * L->out;
            L->b_off = off;
            off += (size_t)L->out;
        } else {
            L->out = width;
            L->rate = s->rate;
        }
        width = L->out;
    }
    m->n_layers = c->model.n_layers;
    if (m->n_layers == 0 || m->layers[m->n_layers - 1].kind != RD_LAYER_DENSE)
        return rd_fail(e, RD_EXIT_CONFIG, "model.layers: the last layer must be dense");
    m->output_dim = width;
    m->n_params = off;
    m->params = rd_calloc(off, sizeof(float));
    m->grads = rd_calloc(off + RD_CONTROL_FLOATS, sizeof(float));
    m->momentum = rd_calloc(off, sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        size_t n = (size_t)max_rows * L->out;
        L->y = rd_calloc(n, sizeof(float));
        L->dy = rd_calloc(n, sizeof(float));
        if (L->kind == RD_LAYER_DENSE)
            L->z = L->act == RD_ACT_LINEAR ? L->y : rd_calloc(n, sizeof(float));
        else
            L->mask = rd_calloc(n, 1);
    }
    return 0;
}

void rd_model_free(rd_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->z != L->y) free(L->z);
        free(L->y);
        free(L->dy);
        free(L->mask);
    }
    free(m->params);
    free(m->grads);
    free(m->momentum);
    memset(m, 0, sizeof *m);
}

void rd_model_init_params(rd_model *m, rd_init_kind init, uint64_t seed)
{
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind != RD_LAYER_DENSE) continue;
        double fan_in = L->in, fan_out = L->out, limit;
        switch (init) {
        case RD_INIT_GLOROT_UNIFORM: limit = sqrt(6.0 / (fan_in + fan_out)); break;
        case RD_INIT_TORCH_DEFAULT: limit = 1.0 / sqrt(fan_in); break;
        default: limit = sqrt(6.0 / fan_in); break;
        }
        rd_key key = rd_rng_key(seed, RD_PURPOSE_INIT, (uint32_t)L->spec_index);
        size_t nw = (size_t)L->in * L->out;
        rd_init_uniform(m->params + L->w_off, nw, 0, limit, key);
        /* torch_default: biases continue the layer's stream after the kernel's elements. */
        if (init == RD_INIT_TORCH_DEFAULT)
            rd_init_uniform(m->params + L->b_off, (size_t)L->out, nw, limit, key);
        else
            memset(m->params + L->b_off, 0, (size_t)L->out * sizeof(float));
    }
}

void rd_model_masks_rank(rd_model *m, int rows, rd_key key, uint64_t t)
{
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind == RD_LAYER_DROPOUT)
            rd_dropout_mask_rank(L->mask, (size_t)rows * L->out, L->rate, key, (uint32_t)i, t);
    }
}

void rd_model_masks_sample(rd_model *m, int B, int passes, const uint32_t *idx,
                           uint64_t seed, uint32_t epoch)
{
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind != RD_LAYER_DROPOUT) continue;
        rd_key key = rd_rng_key(seed, RD_PURPOSE_DROPOUT_SAMPLE, (uint32_t)i);
        for (int r = 0; r < passes * B; r++)
            rd_dropout_mask_sample(L->mask + (size_t)r * L->out, (size_t)L->out, L->rate, key,
                                   idx[r % B], epoch, (uint32_t)(r / B));
    }
}

float rd_act(rd_activation a, float z)
{
    switch (a) {
    case RD_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case RD_ACT_LEAKY_RELU: return z > 0.0f ? z : 0.01f * z;
    case RD_ACT_ELU: return z > 0.0f ? z : expm1f(z);
    case RD_ACT_RELU6: return z < 0.0f ? 0.0f : (z > 6.0f ? 6.0f : z);
    case RD_ACT_TANH: return tanhf(z);
    case RD_ACT_SIGMOID: return 1.0f / (1.0f + expf(-z));
    case RD_ACT_SWISH: return z / (1.0f + expf(-z));
    case RD_ACT_MISH: {
        float sp = z > 20.0f ? z : log1pf(expf(z));
        return z * tanhf(sp);
    }
    default: return z;
    }
}

/* d act / d z at z (y = act(z), used where cheaper). ReLU-family derivative at 0 is 0. */
float rd_act_grad(rd_activation a, float z, float y)
{
    switch (a) {
    case RD_ACT_RELU: return z > 0.0f ? 1.0f : 0.0f;
    case RD_ACT_LEAKY_RELU: return z > 0.0f ? 1.0f : 0.01f;
    case RD_ACT_ELU: return z > 0.0f ? 1.0f : y + 1.0f;
    case RD_ACT_RELU6: return (z > 0.0f && z < 6.0f) ? 1.0f : 0.0f;
    case RD_ACT_TANH: return 1.0f - y * y;
    case RD_ACT_SIGMOID: return y * (1.0f - y);
    case RD_ACT_SWISH: {
        float s = 1.0f / (1.0f + expf(-z));
        return s + z * s * (1.0f - s);
    }
    case RD_ACT_MISH: {
        float sp = z > 20.0f ? z : log1pf(expf(z));
        float t = tanhf(sp);
        float s = 1.0f / (1.0f + expf(-z));
        return t + z * (1.0f - t * t) * s;
    }
    default: return 1.0f;
    }
}

/* Z = X W + b over [rows x out]: the bias rows are the GEMM's C (beta = 1). */
static void dense_gemm(rd_layer *L, const float *params, const float *x, int rows)
{
    const float *W = params + L->w_off, *b = params + L->b_off;
    const int out = L->out;
    for (int r = 0; r < rows; r++) memcpy(L->z + (size_t)r * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, out, L->in,
                1.0f, x, L->in, W, out, 1.0f, L->z, out);
}

/* The elementwise sweeps below are branch-free on the mask so that they vectorise (a random
 * mask mispredicts every other branch): a dropped value's bits are ANDed to +0.0, exactly
 * what `m ? v : 0.0f` gives, as an integer op that GCC vectorises next to uint8 masks. */
static inline float keep_if(float v, uint8_t m)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u &= 0u - (uint32_t)(m != 0);
    memcpy(&v, &u, sizeof v);
    return v;
}

static void relu_sweep(const float *restrict z, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

static void relu_dropout_sweep(const float *restrict z, float *restrict y, float *restrict d,
                               const uint8_t *restrict m, float scale, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = z[i] > 0.0f ? z[i] : 0.0f;
        y[i] = a;
        d[i] = keep_if(a * scale, m[i]);
    }
}

static void dropout_sweep(const float *restrict x, float *restrict d, const uint8_t *restrict m,
                          float scale, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = keep_if(x[i] * scale, m[i]);
}

static float dropout_scale(const rd_layer *D) { return (float)(1.0 / (1.0 - D->rate)); }

/* Y = act(Z) and, when D (the dropout layer after L, or NULL) is active, its output in the
 * same sweep. */
static void dense_activate(rd_layer *L, rd_layer *D, int rows)
{
    size_t n = (size_t)rows * L->out;
    if (L->act == RD_ACT_RELU) {
        if (D) relu_dropout_sweep(L->z, L->y, D->y, D->mask, dropout_scale(D), n);
        else relu_sweep(L->z, L->y, n);
        return;
    }
    if (L->act != RD_ACT_LINEAR)
        for (size_t i = 0; i < n; i++) L->y[i] = rd_act(L->act, L->z[i]);
    if (D) dropout_sweep(L->y, D->y, D->mask, dropout_scale(D), n);
}

static bool dropout_active(const rd_layer *D, bool train)
{
    return D->kind == RD_LAYER_DROPOUT && train && D->rate > 0.0;
}

static void mark(const rd_model *m, int i, bool backward, bool end)
{
    if (m->on_layer) m->on_layer(m->on_layer_ctx, i, backward, end);
}

const float *rd_model_forward(rd_model *m, const float *x, int rows, bool train)
{
    const float *in = x;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        mark(m, i, false, false);
        if (L->kind == RD_LAYER_DENSE) {
            rd_layer *D = i + 1 < m->n_layers && dropout_active(&m->layers[i + 1], train) ? &m->layers[i + 1] : NULL;
            dense_gemm(L, m->params, in, rows);
            dense_activate(L, D, rows);
            mark(m, i, false, true);
            if (D) {
                in = D->y;
                i++;   /* the dropout layer's output was made by the fused sweep */
                continue;
            }
        } else if (dropout_active(L, train)) {
            dropout_sweep(in, L->y, L->mask, dropout_scale(L), (size_t)rows * L->out);
        } else {
            memcpy(L->y, in, (size_t)rows * L->out * sizeof(float));
        }
        if (L->kind != RD_LAYER_DENSE) mark(m, i, false, true);
        in = L->y;
    }
    return in;
}

/* Does any layer before i carry parameters (so that dX of layer i is needed)? */
static bool needs_dx(const rd_model *m, int i)
{
    for (int j = 0; j < i; j++)
        if (m->layers[j].kind == RD_LAYER_DENSE) return true;
    return false;
}

static void relu_mask_dz_row(const float *restrict g, const uint8_t *restrict mk, const float *restrict z,
                             float *restrict dz, float *restrict db, float scale, int n)
{
    for (int j = 0; j < n; j++) {
        float v = keep_if(g[j] * scale, (uint8_t)((mk[j] != 0) & (z[j] > 0.0f)));
        dz[j] = v;
        db[j] += v;
    }
}

static void relu_dz_row(const float *restrict z, float *restrict dz, float *restrict db, int n)
{
    for (int j = 0; j < n; j++) {
        float v = z[j] > 0.0f ? dz[j] : 0.0f;
        dz[j] = v;
        db[j] += v;
    }
}

static void linear_dz_row(const float *restrict dz, float *restrict db, int n)
{
    for (int j = 0; j < n; j++) db[j] += dz[j];
}

/* Any activation, any mask (g may be dz itself when mk is NULL). */
static void generic_dz_row(const rd_layer *L, const float *g, const uint8_t *mk, const float *z,
                           const float *y, float *dz, float *db, float scale, int n)
{
    for (int j = 0; j < n; j++) {
        float v = mk ? (mk[j] ? g[j] * scale : 0.0f) : g[j];
        if (L->act != RD_ACT_LINEAR) v *= rd_act_grad(L->act, z[j], y[j]);
        dz[j] = v;
        db[j] += v;
    }
}

/* dZ = G * mask/(1-p) * act'(Z) into L->dy and db = the column sums of dZ (in row order),
 * in one sweep. With D (the active dropout layer after L), G = D->dy; else G = L->dy. */
static void dense_dz_db(rd_layer *L, const rd_layer *D, float *db, int rows)
{
    const int out = L->out;
    const float scale = D ? dropout_scale(D) : 1.0f;
    memset(db, 0, (size_t)out * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const size_t o = (size_t)r * out;
        float *dz = L->dy + o;
        const float *g = D ? D->dy + o : dz;
        const uint8_t *mk = D ? D->mask + o : NULL;
        if (L->act == RD_ACT_RELU && mk) relu_mask_dz_row(g, mk, L->z + o, dz, db, scale, out);
        else if (L->act == RD_ACT_RELU) relu_dz_row(L->z + o, dz, db, out);
        else if (L->act == RD_ACT_LINEAR && !mk) linear_dz_row(dz, db, out);
        else generic_dz_row(L, g, mk, L->z + o, L->y + o, dz, db, scale, out);
    }
}

/* Panels of a backward GEMM over the `in` rows of W: 1 without a progress hook, else about
 * one per RD_PANEL_FLOPS, at least RD_PANEL_MIN_ROWS rows each (edges on multiples of 16). */
static int n_panels(const rd_model *m, const rd_layer *L)
{
    if (!m->progress) return 1;
    double flops = 2.0 * m->max_rows * (double)L->in * L->out;
    int n = (int)(flops / RD_PANEL_FLOPS + 0.5), most = L->in / RD_PANEL_MIN_ROWS;
    if (n > most) n = most;
    return n < 1 ? 1 : n;
}

static int panel_edge(int in, int n, int p)
{
    return p >= n ? in : (int)((int64_t)in * p / n) & ~15;
}

/* dW = X^T dZ in row panels [i0, i1) of W, last panel first: each finishes the gradients
 * from w_off + i0*out upwards, so buckets above it can start. */
static void dense_dw(rd_model *m, rd_layer *L, const float *in, const float *dz, int rows)
{
    const int out = L->out, np = n_panels(m, L);
    float *dW = m->grads + L->w_off;
    for (int p = np - 1; p >= 0; p--) {
        const int i0 = panel_edge(L->in, np, p), i1 = panel_edge(L->in, np, p + 1);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1 - i0, out, rows,
                    1.0f, in + i0, L->in, dz, out, 0.0f, dW + (size_t)i0 * out, out);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->w_off + (size_t)i0 * out);
    }
}

/* dX = dZ W^T in column panels [i0, i1) of dX (rows of W). */
static void dense_dx(rd_model *m, rd_layer *L, const float *dz, float *dx, int rows)
{
    const int out = L->out, np = n_panels(m, L);
    const float *W = m->params + L->w_off;
    for (int p = 0; p < np; p++) {
        const int i0 = panel_edge(L->in, np, p), i1 = panel_edge(L->in, np, p + 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, i1 - i0, out,
                    1.0f, dz, out, W + (size_t)i0 * out, out, 0.0f, dx + i0, L->in);
        if (m->progress) m->progress(m->grad_ready_ctx);
    }
}

void rd_model_backward(rd_model *m, const float *x, const float *dlogits, int rows)
{
    rd_layer *last = &m->layers[m->n_layers - 1];
    memcpy(last->dy, dlogits, (size_t)rows * last->out * sizeof(float));
    for (int i = m->n_layers - 1; i >= 0; i--) {
        rd_layer *L = &m->layers[i];
        const float *in = i == 0 ? x : m->layers[i - 1].y;
        float *dx = (i > 0 && needs_dx(m, i)) ? m->layers[i - 1].dy : NULL;
        if (L->kind == RD_LAYER_DROPOUT) {
            /* after a dense layer, that layer's dZ sweep applies the mask */
            if (!dx || m->layers[i - 1].kind == RD_LAYER_DENSE) continue;
            mark(m, i, true, false);
            if (L->rate > 0.0) dropout_sweep(L->dy, dx, L->mask, dropout_scale(L), (size_t)rows * L->out);
            else memcpy(dx, L->dy, (size_t)rows * L->out * sizeof(float));
            mark(m, i, true, true);
            continue;
        }
        mark(m, i, true, false);
        const rd_layer *N = i + 1 < m->n_layers && m->layers[i + 1].kind == RD_LAYER_DROPOUT ? &m->layers[i + 1] : NULL;
        if (N && !(N->rate > 0.0)) memcpy(L->dy, N->dy, (size_t)rows * L->out * sizeof(float));
        dense_dz_db(L, N && N->rate > 0.0 ? N : NULL, m->grads + L->b_off, rows);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->b_off);
        dense_dw(m, L, in, L->dy, rows);
        if (dx) dense_dx(m, L, L->dy, dx, rows);
        mark(m, i, true, true);
    }
}
