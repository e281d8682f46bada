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

/* Row-wise sweeps (W is row-major, columns are strided): each column's sum of squares is
 * still accumulated in row order, so the result is the same as a column-wise loop. */
void rd_max_norm(float *W, int in, int out, double c)
{
    enum { STACK_COLS = 4096 };
    double stack_ss[STACK_COLS];
    float stack_scale[STACK_COLS];
    double *ss = out <= STACK_COLS ? stack_ss : rd_malloc((size_t)out * sizeof *ss);
    float *scale = out <= STACK_COLS ? stack_scale : rd_malloc((size_t)out * sizeof *scale);
    for (int j = 0; j < out; j++) ss[j] = 0.0;
    for (int i = 0; i < in; i++) {
        const float *row = W + (size_t)i * out;
        for (int j = 0; j < out; j++) ss[j] += (double)row[j] * (double)row[j];
    }
    bool any = false;
    for (int j = 0; j < out; j++) {
        double n = sqrt(ss[j]);
        scale[j] = n > c ? (float)(c / n) : 1.0f;
        any |= n > c;
    }
    if (any) {
        /* x * 1.0f == x exactly, so unconstrained columns stay bit-identical. */
        for (int i = 0; i < in; i++) {
            float *row = W + (size_t)i * out;
            for (int j = 0; j < out; j++) row[j] *= scale[j];
        }
    }
    if (ss != stack_ss) free(ss);
    if (scale != stack_scale) free(scale);
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
