/* model.c - dense and dropout layers over one flat parameter buffer; forward over the
 * doubled batch (both passes in one GEMM per layer), backward into one gradient buffer. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

int rd_model_create(rd_model *m, const rd_config *c, int input_dim, int max_rows, rd_error *e)
{
    return rd_model_create_hwc(m, c, 1, 1, input_dim, max_rows, e);
}

/* Layer i's shape, kernel matrix and parameter offsets on input [H, W, C]; returns the
 * offset after its parameters. */
static size_t layer_setup(rd_model *m, rd_layer *L, const rd_layer_spec *s, const int in_shape[3],
                          const int shape[3], size_t off)
{
    const int H = in_shape[0], W = in_shape[1], C = in_shape[2];
    L->kind = s->kind;
    L->in = H * W * C;
    L->dense_index = L->conv_index = -1;
    memcpy(L->shape, shape, sizeof L->shape);
    L->out = shape[0] * shape[1] * shape[2];
    if (s->kind == RD_LAYER_DENSE) {
        L->dense_index = m->n_dense++;
        L->k_rows = L->in;
        L->k_cols = s->units;
    } else if (s->kind == RD_LAYER_CONV2D) {
        L->conv_index = m->n_conv++;
        L->g = rd_conv_geom_make(H, W, C, s->size[0], s->size[1], s->stride[0], s->stride[1], s->padding);
        L->k_rows = rd_conv_patch(&L->g);
        L->k_cols = s->filters;
        L->padding = s->padding;
    } else if (s->kind == RD_LAYER_MAX_POOL) {
        L->g = rd_conv_geom_make(H, W, C, s->size[0], s->size[1], s->stride[0], s->stride[1], RD_PAD_VALID);
    } else {
        L->rate = s->rate;
    }
    if (rd_layer_has_params(L)) {
        L->act = s->activation;
        L->max_norm = s->max_norm;
        L->w_off = off;
        off += (size_t)L->k_rows * L->k_cols;
        L->b_off = off;
        off += (size_t)L->k_cols;
    }
    return off;
}

/* A ReLU conv2d layer whose output goes straight into a max_pool that tiles it: the pool reads
 * the pre-activation and routes the gradient with the ReLU derivative (conv.h, docs/conv.md
 * "ReLU + max_pool"); the conv layer's ReLU output is never formed (its y is its z). */
static bool relu_pool_pair(const rd_layer *L, const rd_layer *P)
{
    return L->kind == RD_LAYER_CONV2D && L->act == RD_ACT_RELU && P && P->kind == RD_LAYER_MAX_POOL &&
           rd_maxpool_tiles(&P->g) && P->g.C <= RD_POOL_MAX_CHANNELS;
}

static bool fused_conv(const rd_model *m, int i)
{
    return i + 1 < m->n_layers && relu_pool_pair(&m->layers[i], &m->layers[i + 1]);
}

static bool fused_pool(const rd_model *m, int i)
{
    return i > 0 && relu_pool_pair(&m->layers[i - 1], &m->layers[i]);
}

/* conv2d: the patch matrix stays from forward to backward when the whole batch's fits in
 * RD_CONV_KEEP_BYTES; a ReLU + max_pool pair runs forward and backward in chunks whose output
 * fits in RD_CONV_Z_CHUNK_FLOATS, and z (= y, never read: the pool applies the ReLU) and dy (dZ)
 * hold one chunk. */
static void conv_buffers(rd_layer *L, int max_rows, bool fused)
{
    const size_t per = (size_t)L->g.OH * L->g.OW * (size_t)L->k_rows;
    const int chunk = rd_conv_chunk(&L->g, max_rows);
    L->keep_patches = (size_t)max_rows * per * sizeof(float) <= RD_CONV_KEEP_BYTES;
    int fc = chunk;
    if (fused) {
        fc = RD_CONV_Z_CHUNK_FLOATS / L->out;
        if (fc < 1) fc = 1;
        if (!L->keep_patches && fc > chunk) fc = chunk;
        if (fc > max_rows) fc = max_rows;
    }
    L->fwd_chunk = fc;
    L->z_chunk = fused;
    L->patches = rd_calloc((size_t)(L->keep_patches ? max_rows : chunk) * per, sizeof(float));
}

static void layer_buffers(rd_layer *L, int max_rows, bool fused)
{
    size_t n = (size_t)max_rows * L->out;
    if (L->kind == RD_LAYER_CONV2D) conv_buffers(L, max_rows, fused);
    L->y = rd_calloc(fused ? (size_t)L->fwd_chunk * L->out : n, sizeof(float));
    L->dy = rd_calloc(fused ? (size_t)L->fwd_chunk * L->out : n, sizeof(float));   /* fused: one chunk of dZ */
    if (rd_layer_has_params(L))
        L->z = L->act == RD_ACT_LINEAR || fused ? L->y : rd_calloc(n, sizeof(float));
    else if (L->kind == RD_LAYER_MAX_POOL)
        L->argmax = rd_calloc(n, sizeof(int32_t));
    else
        L->mask = rd_calloc(n, 1);
}

int rd_model_create_hwc(rd_model *m, const rd_config *c, int H, int W, int C, int max_rows, rd_error *e)
{
    memset(m, 0, sizeof *m);
    int shapes[RD_MAX_LAYERS][3];
    int rc = rd_config_check_shapes(c, H, W, C, (long)max_rows, "config", shapes, e);
    if (rc) return rc;
    m->input_dim = H * W * C;
    m->input_shape[0] = H;
    m->input_shape[1] = W;
    m->input_shape[2] = C;
    m->max_rows = max_rows;
    size_t off = 0;
    for (int i = 0; i < c->model.n_layers; i++) {
        m->layers[i].spec_index = i;
        off = layer_setup(m, &m->layers[i], &c->model.layers[i], i ? shapes[i - 1] : m->input_shape,
                          shapes[i], off);
    }
    m->n_layers = c->model.n_layers;
    if (m->n_layers == 0 || m->layers[m->n_layers - 1].kind != RD_LAYER_DENSE) {
        m->n_layers = 0;
        return rd_fail(e, RD_EXIT_CONFIG, "model.layers: the last layer must be dense");
    }
    m->output_dim = m->layers[m->n_layers - 1].out;
    m->n_params = off;
    m->params = rd_calloc(off, sizeof(float));
    m->grads = rd_calloc(off + RD_CONTROL_FLOATS, sizeof(float));
    m->momentum = rd_calloc(off, sizeof(float));
    for (int i = 0; i < m->n_layers; i++) layer_buffers(&m->layers[i], max_rows, fused_conv(m, i));
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
        free(L->patches);
        free(L->argmax);
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
        if (!rd_layer_has_params(L)) continue;
        /* conv2d: fan_in = KH*KW*C_in, fan_out = KH*KW*C_out (Keras; PyTorch's Conv2d bound
         * 1/sqrt(fan_in) for torch_default). */
        double fan_in = L->k_rows, fan_out = L->k_cols, limit;
        if (L->kind == RD_LAYER_CONV2D) fan_out = (double)L->g.KH * L->g.KW * L->k_cols;
        switch (init) {
        case RD_INIT_GLOROT_UNIFORM: limit = sqrt(6.0 / (fan_in + fan_out)); break;
        case RD_INIT_TORCH_DEFAULT: limit = 1.0 / sqrt(fan_in); break;
        default: limit = sqrt(6.0 / fan_in); break;
        }
        rd_key key = rd_rng_key(seed, RD_PURPOSE_INIT, (uint32_t)L->spec_index);
        size_t nw = (size_t)L->k_rows * L->k_cols;
        rd_init_uniform(m->params + L->w_off, nw, 0, limit, key);
        /* torch_default: biases continue the layer's stream after the kernel's elements. */
        if (init == RD_INIT_TORCH_DEFAULT)
            rd_init_uniform(m->params + L->b_off, (size_t)L->k_cols, nw, limit, key);
        else
            memset(m->params + L->b_off, 0, (size_t)L->k_cols * sizeof(float));
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

/* ReLU then dropout: only the dropout output is written. Nothing reads the ReLU layer's own
 * y behind an active dropout (its backward takes act' from z), and skipping it saves a
 * [rows x out] store per layer (docs/benchmarks.md "Optimizer sweep"). */
static void relu_dropout_sweep(const float *restrict z, float *restrict d, const uint8_t *restrict m,
                               float scale, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = z[i] > 0.0f ? z[i] : 0.0f;
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
 * same sweep (for ReLU only D's output). */
static void dense_activate(rd_layer *L, rd_layer *D, int rows)
{
    size_t n = (size_t)rows * L->out;
    if (L->act == RD_ACT_RELU) {
        if (D) relu_dropout_sweep(L->z, D->y, D->mask, dropout_scale(D), n);
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
        if (L->kind == RD_LAYER_MAX_POOL) {
            if (!fused_pool(m, i)) maxpool_forward(&L->g, in, rows, L->y, L->argmax);
            /* else the conv layer's forward chunks made y and argmax */
        } else if (rd_layer_has_params(L)) {
            rd_layer *D = i + 1 < m->n_layers && dropout_active(&m->layers[i + 1], train) ? &m->layers[i + 1] : NULL;
            if (L->kind == RD_LAYER_CONV2D) {
                rd_layer *P = fused_conv(m, i) ? &m->layers[i + 1] : NULL;
                conv2d_forward_ex(&L->g, L->k_cols, in, m->params + L->w_off, m->params + L->b_off, rows,
                                  L->fwd_chunk, L->patches, L->keep_patches, L->z, L->z_chunk, P ? &P->g : NULL,
                                  P ? P->y : NULL, P ? P->argmax : NULL);
            } else
                dense_gemm(L, m->params, in, rows);
            if (!fused_conv(m, i)) dense_activate(L, D, rows);   /* fused: the pool applies the ReLU */
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
        if (!rd_layer_has_params(L)) mark(m, i, false, true);
        in = L->y;
    }
    return in;
}

/* Does any layer before i carry parameters (so that dX of layer i is needed)? */
static bool needs_dx(const rd_model *m, int i)
{
    for (int j = 0; j < i; j++)
        if (rd_layer_has_params(&m->layers[j])) return true;
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
 * in one sweep. With D (the active dropout layer after L), G = D->dy; else G = L->dy.
 * A conv2d layer's [rows x OH*OW*F] is swept as [rows*OH*OW x F] (the same memory). */
static void dense_dz_db(rd_layer *L, const rd_layer *D, float *db, int rows)
{
    const int out = L->k_cols;
    if (L->kind == RD_LAYER_CONV2D) rows *= L->g.OH * L->g.OW;
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
            /* after a dense or conv2d layer, that layer's dZ sweep applies the mask */
            if (!dx || rd_layer_has_params(&m->layers[i - 1])) continue;
            mark(m, i, true, false);
            if (L->rate > 0.0) dropout_sweep(L->dy, dx, L->mask, dropout_scale(L), (size_t)rows * L->out);
            else memcpy(dx, L->dy, (size_t)rows * L->out * sizeof(float));
            mark(m, i, true, true);
            continue;
        }
        mark(m, i, true, false);
        const rd_layer *N = i + 1 < m->n_layers && m->layers[i + 1].kind == RD_LAYER_DROPOUT ? &m->layers[i + 1] : NULL;
        if (N && !(N->rate > 0.0)) memcpy(L->dy, N->dy, (size_t)rows * L->out * sizeof(float));
        if (L->kind == RD_LAYER_MAX_POOL) {
            /* fused: the conv layer's backward below runs this pool's, chunk by chunk */
            if (!fused_pool(m, i) && dx) maxpool_backward(&L->g, L->dy, L->argmax, rows, dx);
            mark(m, i, true, true);
            continue;
        }
        if (fused_conv(m, i)) {
            const rd_layer *P = &m->layers[i + 1];
            conv2d_pool_backward(&L->g, L->k_cols, in, m->params + L->w_off, rows, L->fwd_chunk, L->patches,
                                 L->keep_patches, &P->g, P->dy, P->y, P->argmax, L->dy, m->grads + L->w_off,
                                 m->grads + L->b_off, dx, m->progress, m->grad_ready_ctx);
            if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->b_off);
            if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->w_off);
            mark(m, i, true, true);
            continue;
        }
        dense_dz_db(L, N && N->rate > 0.0 ? N : NULL, m->grads + L->b_off, rows);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->b_off);
        if (L->kind == RD_LAYER_CONV2D) {
            const float *K = m->params + L->w_off;
            conv2d_backward_kernel_ex(&L->g, L->k_cols, in, L->dy, rows, L->patches, L->keep_patches,
                                      m->grads + L->w_off);
            if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->w_off);
            if (dx) conv2d_backward_input(&L->g, L->k_cols, L->dy, K, rows, L->patches, dx);
            if (m->progress) m->progress(m->grad_ready_ctx);
            mark(m, i, true, true);
            continue;
        }
        dense_dw(m, L, in, L->dy, rows);
        if (dx) dense_dx(m, L, L->dy, dx, rows);
        mark(m, i, true, true);
    }
}

int rd_layer_gemm_m(const rd_layer *L, int rows)
{
    if (L->kind != RD_LAYER_CONV2D) return rows;
    return rd_conv_chunk(&L->g, rows) * L->g.OH * L->g.OW;
}
