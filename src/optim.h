/* optim.h - SGD (PyTorch convention), LR schedules, max-norm. Plain C loops in a fixed
 * order (never BLAS), so every rank computes bitwise the same update. */
#ifndef RDROP_OPTIM_H
#define RDROP_OPTIM_H

#include "model.h"

/* LR for step index t (0-based), computed in double from t; total_steps = T for cosine.
 * Includes warmup and scale_lr (global_batch / base_batch). */
double rd_schedule_lr(const rd_config *c, uint64_t t, uint64_t total_steps);

/* One SGD step over a contiguous range: for kernels (is_kernel) g += wd*w; v = mu*v + g;
 * w -= lr*v (Nesterov: w -= lr*(g + mu*v)). */
void rd_sgd_update(float *restrict w, float *restrict v, const float *restrict g, size_t n, double lr,
                   double mu, bool nesterov, double wd);

/* Apply the step to the whole model (kernels get weight decay, biases do not), then
 * max-norm on constrained layers; checks every gradient on the way (one sweep per kernel).
 * Returns false at the first NaN/Inf gradient: the layers before it (and the rows before it
 * in its kernel) are already updated, so the caller must discard the model (rdrop stops with
 * exit 6 and writes nothing; DESIGN "Control block"). */
bool rd_optim_step(rd_model *m, const rd_config *c, double lr);

/* Max-norm on W [in x out]: for each column j with ||W[:,j]||_2 > c, W[:,j] *= c/n. */
void rd_max_norm(float *W, int in, int out, double c);

#endif
