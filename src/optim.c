/* optim.c - SGD with momentum / Nesterov (PyTorch convention), LR schedules, max-norm.
 * Fixed-order scalar float loops: ranks on different CPUs compute the same bits. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

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

void rd_sgd_update(float *w, float *v, const float *g, size_t n, double lr, double mu,
                   bool nesterov, double wd)
{
    const float flr = (float)lr, fmu = (float)mu, fwd = (float)wd;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (fwd != 0.0f) gi += fwd * w[i];
        float vi = fmu * v[i] + gi;
        v[i] = vi;
        w[i] -= nesterov ? flr * (gi + fmu * vi) : flr * vi;
    }
}

/* Row-wise sweeps over blocks of at most MAXNORM_BLOCK columns (W is row-major, columns are
 * strided): each column's sum of squares is still accumulated in row order, so the result is
 * the same as a column-wise loop, and any width works without allocating. */
enum { MAXNORM_BLOCK = 4096 };

static void max_norm_block(float *W, int in, int out, int j0, int nj, double c)
{
    double ss[MAXNORM_BLOCK];
    float scale[MAXNORM_BLOCK];
    for (int j = 0; j < nj; j++) ss[j] = 0.0;
    for (int i = 0; i < in; i++) {
        const float *row = W + (size_t)i * out + j0;
        for (int j = 0; j < nj; j++) ss[j] += (double)row[j] * (double)row[j];
    }
    bool any = false;
    for (int j = 0; j < nj; j++) {
        double n = sqrt(ss[j]);
        scale[j] = n > c ? (float)(c / n) : 1.0f;
        any |= n > c;
    }
    if (!any) return;
    /* x * 1.0f == x exactly, so unconstrained columns stay bit-identical. */
    for (int i = 0; i < in; i++) {
        float *row = W + (size_t)i * out + j0;
        for (int j = 0; j < nj; j++) row[j] *= scale[j];
    }
}

void rd_max_norm(float *W, int in, int out, double c)
{
    for (int j0 = 0; j0 < out; j0 += MAXNORM_BLOCK)
        max_norm_block(W, in, out, j0, out - j0 < MAXNORM_BLOCK ? out - j0 : MAXNORM_BLOCK, c);
}

void rd_optim_step(rd_model *m, const rd_config *c, double lr)
{
    const double mu = c->optimizer.momentum, wd = c->optimizer.weight_decay;
    const bool nest = c->optimizer.nesterov;
    for (int l = 0; l < m->n_layers; l++) {
        rd_layer *L = &m->layers[l];
        if (!rd_layer_has_params(L)) continue;   /* dense and conv2d: kernel matrix [k_rows x k_cols] */
        size_t nw = (size_t)L->k_rows * L->k_cols;
        rd_sgd_update(m->params + L->w_off, m->momentum + L->w_off, m->grads + L->w_off, nw,
                      lr, mu, nest, wd);
        rd_sgd_update(m->params + L->b_off, m->momentum + L->b_off, m->grads + L->b_off,
                      (size_t)L->k_cols, lr, mu, nest, 0.0);
        if (L->max_norm > 0.0) rd_max_norm(m->params + L->w_off, L->k_rows, L->k_cols, L->max_norm);
    }
}
