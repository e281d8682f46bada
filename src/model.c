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

/* Z = X W + b, Y = act(Z) over rows [rows x out]. */
static void dense_forward(rd_layer *L, const float *params, const float *x, int rows)
{
    const float *W = params + L->w_off, *b = params + L->b_off;
    const int out = L->out;
    for (int r = 0; r < rows; r++) memcpy(L->z + (size_t)r * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, out, L->in,
                1.0f, x, L->in, W, out, 1.0f, L->z, out);
    if (L->act == RD_ACT_LINEAR) return;
    size_t n = (size_t)rows * out;
    if (L->act == RD_ACT_RELU) {
        for (size_t i = 0; i < n; i++) L->y[i] = L->z[i] > 0.0f ? L->z[i] : 0.0f;
    } else {
        for (size_t i = 0; i < n; i++) L->y[i] = rd_act(L->act, L->z[i]);
    }
}

/* Inverted dropout with the layer's mask: y = x * m / (1-p). */
static void dropout_forward(rd_layer *L, const float *x, int rows)
{
    const float scale = (float)(1.0 / (1.0 - L->rate));
    size_t n = (size_t)rows * L->out;
    for (size_t i = 0; i < n; i++) L->y[i] = L->mask[i] ? x[i] * scale : 0.0f;
}

static const float *layer_input(const rd_model *m, const float *x, int i)
{
    return i == 0 ? x : m->layers[i - 1].y;
}

const float *rd_model_forward(rd_model *m, const float *x, int rows, bool train)
{
    const float *in = x;
    for (int i = 0; i < m->n_layers; i++) {
        rd_layer *L = &m->layers[i];
        if (L->kind == RD_LAYER_DENSE) {
            dense_forward(L, m->params, in, rows);
        } else if (train && L->rate > 0.0) {
            dropout_forward(L, in, rows);
        } else {
            memcpy(L->y, in, (size_t)rows * L->out * sizeof(float));
        }
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

void rd_model_backward(rd_model *m, const float *x, const float *dlogits, int rows)
{
    rd_layer *last = &m->layers[m->n_layers - 1];
    memcpy(last->dy, dlogits, (size_t)rows * last->out * sizeof(float));
    for (int i = m->n_layers - 1; i >= 0; i--) {
        rd_layer *L = &m->layers[i];
        const float *in = layer_input(m, x, i);
        float *dx = (i > 0 && needs_dx(m, i)) ? m->layers[i - 1].dy : NULL;
        size_t n = (size_t)rows * L->out;
        if (L->kind == RD_LAYER_DROPOUT) {
            if (!dx) continue;
            if (L->rate > 0.0) {
                const float scale = (float)(1.0 / (1.0 - L->rate));
                for (size_t k = 0; k < n; k++) dx[k] = L->mask[k] ? L->dy[k] * scale : 0.0f;
            } else {
                memcpy(dx, L->dy, n * sizeof(float));
            }
            continue;
        }
        float *dz = L->dy;   /* dZ overwrites dY in place */
        if (L->act == RD_ACT_RELU) {
            for (size_t k = 0; k < n; k++)
                if (!(L->z[k] > 0.0f)) dz[k] = 0.0f;
        } else if (L->act != RD_ACT_LINEAR) {
            for (size_t k = 0; k < n; k++) dz[k] *= rd_act_grad(L->act, L->z[k], L->y[k]);
        }
        const int out = L->out;
        float *dW = m->grads + L->w_off, *db = m->grads + L->b_off;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L->in, out, rows,
                    1.0f, in, L->in, dz, out, 0.0f, dW, out);
        memset(db, 0, (size_t)out * sizeof(float));
        for (int r = 0; r < rows; r++) {
            const float *row = dz + (size_t)r * out;
            for (int j = 0; j < out; j++) db[j] += row[j];
        }
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, L->w_off);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, L->in, out,
                        1.0f, dz, out, m->params + L->w_off, out, 0.0f, dx, L->in);
    }
}
