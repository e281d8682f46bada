/* optim.c - SGD with momentum / Nesterov (PyTorch convention), LR schedules, max-norm.
 * Fixed-order scalar float loops: ranks on different CPUs compute the same bits. */
#include "optim.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double rd_schedule_lr(const rd_config *c, uint64_t t, uint64_t total_steps)
{
    double lr0 = c->optimizer.lr;
    if (c->schedule.scale_lr_linear)
        lr0 *= (double)c->data.batch_size / (double)c->schedule.base_batch;
    double td = (double)t, lr = lr0;
    switch (c->schedule.kind) {
    case RD_SCHED_CONSTANT:
        break;
    case RD_SCHED_INVERSE_TIME:
        lr = lr0 / (1.0 + c->schedule.decay * td);
        break;
    case RD_SCHED_STEP:
        lr = lr0 * pow(c->schedule.gamma, floor(td / (double)c->schedule.step_steps));
        break;
    case RD_SCHED_EXPONENTIAL:
        lr = lr0 * pow(c->schedule.gamma, td / (double)c->schedule.decay_steps);
        break;
    case RD_SCHED_COSINE: {
        double T = total_steps > 0 ? (double)total_steps : 1.0;
        double x = td < T ? td : T;
        lr = c->schedule.lr_min + 0.5 * (lr0 - c->schedule.lr_min) * (1.0 + cos(M_PI * x / T));
        break;
    }
    }
    if (c->schedule.warmup_steps > 0) {
        double w = (td + 1.0) / (double)c->schedule.warmup_steps;
        if (w < 1.0) lr *= w;
    }
    return lr;
}

/* One element: decay (kernels), momentum, step; separate multiplies and adds. */
#define SGD_LOOP(DECAY, NESTEROV)                                               \
    for (size_t i = 0; i < n; i++) {                                            \
        float gi = g[i];                                                        \
        if (DECAY) gi += fwd * w[i];                                            \
        float vi = fmu * v[i] + gi;                                             \
        v[i] = vi;                                                              \
        w[i] -= (NESTEROV) ? flr * (gi + fmu * vi) : flr * vi;                  \
    }

RD_SIMD_CLONES void rd_sgd_update(float *restrict w, float *restrict v, const float *restrict g, size_t n,
                                  double lr, double mu, bool nesterov, double wd)
{
    const float flr = (float)lr, fmu = (float)mu, fwd = (float)wd;
    if (fwd != 0.0f) {
        if (nesterov) SGD_LOOP(1, 1) else SGD_LOOP(1, 0)
    } else {
        if (nesterov) SGD_LOOP(0, 1) else SGD_LOOP(0, 0)
    }
}

/* Row-wise sweeps over blocks of at most MAXNORM_BLOCK columns (W is row-major, columns are
 * strided): each column's sum of squares is still accumulated in row order, so the result is
 * the same as a column-wise loop, and any width works without allocating. */
enum { MAXNORM_BLOCK = 4096 };

RD_SIMD_CLONES static void col_sumsq_row(double *restrict ss, const float *restrict row, int nj)
{
    for (int j = 0; j < nj; j++) ss[j] += (double)row[j] * (double)row[j];
}

/* scale[j] = c/||W[:,j]|| for the columns over c, else 1; false when no column is over. */
static bool max_norm_scales(const double *ss, float *scale, int nj, double c)
{
    bool any = false;
    for (int j = 0; j < nj; j++) {
        double n = sqrt(ss[j]);
        scale[j] = n > c ? (float)(c / n) : 1.0f;
        any |= n > c;
    }
    return any;
}

/* x * 1.0f == x exactly, so unconstrained columns stay bit-identical. */
static void max_norm_rescale(float *W, int in, int out, int j0, int nj, const float *scale)
{
    for (int i = 0; i < in; i++) {
        float *row = W + (size_t)i * out + j0;
        for (int j = 0; j < nj; j++) row[j] *= scale[j];
    }
}

static void max_norm_block(float *W, int in, int out, int j0, int nj, double c)
{
    double ss[MAXNORM_BLOCK];
    float scale[MAXNORM_BLOCK];
    for (int j = 0; j < nj; j++) ss[j] = 0.0;
    for (int i = 0; i < in; i++) col_sumsq_row(ss, W + (size_t)i * out + j0, nj);
    if (max_norm_scales(ss, scale, nj, c)) max_norm_rescale(W, in, out, j0, nj, scale);
}

void rd_max_norm(float *W, int in, int out, double c)
{
    for (int j0 = 0; j0 < out; j0 += MAXNORM_BLOCK)
        max_norm_block(W, in, out, j0, out - j0 < MAXNORM_BLOCK ? out - j0 : MAXNORM_BLOCK, c);
}

/* An exponent of all ones is Inf or NaN; an integer OR-reduction vectorises. */
RD_SIMD_CLONES static bool all_finite(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

/* One kernel [in x out] in a single sweep over its rows (of a column block): check the
 * gradient row, update it (rd_sgd_update's arithmetic, element by element), and add the
 * updated row to the column sums of squares; then max-norm from those sums. The separate
 * finite check, update and max-norm passes read the 7.4 MB of the default MLP's gradient and
 * kernels three times, this once (docs/benchmarks.md "Optimizer sweep"). Same bits as
 * rd_sgd_update followed by rd_max_norm. */
static bool kernel_step(float *W, float *V, const float *G, int in, int out, double lr, double mu,
                        bool nesterov, double wd, double c)
{
    double ss[MAXNORM_BLOCK];
    float scale[MAXNORM_BLOCK];
    for (int j0 = 0; j0 < out; j0 += MAXNORM_BLOCK) {
        const int nj = out - j0 < MAXNORM_BLOCK ? out - j0 : MAXNORM_BLOCK;
        if (c > 0.0)
            for (int j = 0; j < nj; j++) ss[j] = 0.0;
        for (int i = 0; i < in; i++) {
            const size_t o = (size_t)i * out + j0;
            if (!all_finite(G + o, (size_t)nj)) return false;
            rd_sgd_update(W + o, V + o, G + o, (size_t)nj, lr, mu, nesterov, wd);
            if (c > 0.0) col_sumsq_row(ss, W + o, nj);
        }
        if (c > 0.0 && max_norm_scales(ss, scale, nj, c)) max_norm_rescale(W, in, out, j0, nj, scale);
    }
    return true;
}

bool rd_optim_step(rd_model *m, const rd_config *c, double lr)
{
    const double mu = c->optimizer.momentum, wd = c->optimizer.weight_decay;
    const bool nest = c->optimizer.nesterov;
    for (int l = 0; l < m->n_layers; l++) {
        rd_layer *L = &m->layers[l];
        if (!rd_layer_has_params(L)) continue;   /* dense and conv2d: kernel matrix [k_rows x k_cols] */
        if (!kernel_step(m->params + L->w_off, m->momentum + L->w_off, m->grads + L->w_off, L->k_rows,
                         L->k_cols, lr, mu, nest, wd, L->max_norm))
            return false;
        if (!all_finite(m->grads + L->b_off, (size_t)L->k_cols)) return false;
        rd_sgd_update(m->params + L->b_off, m->momentum + L->b_off, m->grads + L->b_off,
                      (size_t)L->k_cols, lr, mu, nest, c->optimizer.decay_biases ? wd : 0.0);
    }
    return true;
}
