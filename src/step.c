/* step.c - one training step on this rank: the sequence of DESIGN "One training step". */
#include "step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

void rd_step_create(rd_step *S, rd_model *m, const rd_config *c, const rd_dist *d, int B_max)
{
    memset(S, 0, sizeof *S);
    S->m = m;
    S->c = c;
    S->passes = c->rdrop.passes;
    S->B_g = (int)c->data.batch_size;
    size_t rows = (size_t)S->passes * (size_t)B_max;
    S->x = rd_malloc(rows * (size_t)m->input_dim * sizeof(float));
    S->y = rd_malloc(rows * sizeof(int32_t));
    S->dlogits = rd_malloc(rows * (size_t)m->output_dim * sizeof(float));
    S->scratch = rd_malloc((size_t)m->input_dim * sizeof(float));
    size_t *edges = rd_malloc((m->n_params + RD_CONTROL_FLOATS) / 1024 * sizeof *edges + 4 * sizeof *edges);
    int nb = rd_step_buckets(m, c->dist.bucket_mb, edges);
    S->ar = rd_allreduce_create(d, m->grads, edges, nb);
    free(edges);
    S->drop_key = rd_rng_key(c->run.seed, RD_PURPOSE_DROPOUT_RANK, (uint32_t)d->rank);
    S->parallel = d->mpi && d->size > 1;
}

double rd_step_alpha(const rd_config *c, int B_g, uint64_t t, int64_t steps_per_epoch)
{
    double alpha = c->rdrop.alpha;
    if (c->rdrop.kl_reduction == RD_REDUCE_SUM && c->rdrop.reduction == RD_REDUCE_MEAN)
        alpha *= (double)B_g;   /* the snippet's alpha * sum_i KL_i over the global batch */
    const double ramp = c->rdrop.alpha_rampup_epochs;
    if (ramp > 0.0 && steps_per_epoch > 0) {
        double u = (double)t / ((double)steps_per_epoch * ramp);
        if (u < 1.0) alpha *= exp(-5.0 * (1.0 - u) * (1.0 - u));
    }
    return alpha;
}

/* Cut [lo, hi) into k near-equal parts, appending the edges below hi (descending). */
static int cut(size_t lo, size_t hi, size_t k, size_t *edges, int n)
{
    for (size_t j = 1; j <= k; j++) edges[n++] = hi - (hi - lo) * j / k;
    return n;
}

int rd_step_buckets(const rd_model *m, double bucket_mb, size_t *edges)
{
    size_t bucket = (size_t)(bucket_mb * 1048576.0 / sizeof(float));
    if (bucket < 1024) bucket = 1024;
    if (bucket > ((size_t)1 << 28)) bucket = (size_t)1 << 28;   /* counts stay ints */
    size_t total = m->n_params + RD_CONTROL_FLOATS, first_end = total;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == RD_LAYER_DENSE) {
            first_end = m->layers[i].b_off + (size_t)m->layers[i].out;
            break;
        }
    int n = 0;
    edges[n++] = total;
    if (total > first_end) n = cut(first_end, total, (total - first_end + bucket - 1) / bucket, edges, n);
    size_t k = (first_end + bucket - 1) / bucket;
    if (k < 2 && first_end >= 2048) k = 2;
    return cut(0, first_end, k, edges, n) - 1;
}

void rd_step_free(rd_step *S)
{
    rd_allreduce_free(S->ar);
    free(S->x);
    free(S->y);
    free(S->dlogits);
    free(S->scratch);
    memset(S, 0, sizeof *S);
}

static void grad_ready(void *ctx, size_t from)
{
    rd_allreduce *a = ctx;
    rd_allreduce_ready(a, from);
    rd_allreduce_poll(a);
}

static void progress(void *ctx) { rd_allreduce_poll(ctx); }

/* Adds the seconds since *t0 to *acc and restarts the clock. */
static void lap(double *acc, double *t0)
{
    double now = rd_now();
    *acc += now - *t0;
    *t0 = now;
}

void rd_step_compute(rd_step *S, const rd_dataset *ds, const uint32_t *idx, int B, uint64_t t,
                     uint32_t epoch, rd_step_timing *tm)
{
    const rd_config *c = S->c;
    rd_model *m = S->m;
    const int rows = S->passes * B, in = m->input_dim, K = m->output_dim;
    double t0 = rd_now(), start = t0;

    rd_data_gather(ds, idx, (uint32_t)B, S->x, S->y);
    const rd_augment aug = {c->data.augment.flip, (int)c->data.augment.shift};
    rd_data_augment(ds, &aug, c->run.seed, epoch, idx, (uint32_t)B, S->x, S->scratch);
    for (int q = 1; q < S->passes; q++)   /* the K-fold batch: pass q's rows are a copy */
        memcpy(S->x + (size_t)q * B * in, S->x, (size_t)B * in * sizeof(float));
    lap(&tm->gather, &t0);

    if (c->rng.dropout_stream == RD_STREAM_RANK) rd_model_masks_rank(m, rows, S->drop_key, t);
    else rd_model_masks_sample(m, B, S->passes, idx, c->run.seed, epoch);
    lap(&tm->masks, &t0);

    const float *logits = rd_model_forward(m, S->x, rows, true);
    lap(&tm->forward, &t0);

    rd_loss_sums ls;
    double scale = c->rdrop.reduction == RD_REDUCE_MEAN ? 1.0 / (double)S->B_g : 1.0;
    double alpha = rd_step_alpha(c, S->B_g, t, S->steps_per_epoch);
    rd_rdrop_loss(logits, B, K, S->passes, S->y, alpha, scale, S->dlogits, &ls);
    float *ctl = rd_step_control(S);
    ctl[1] = isfinite(ls.loss) ? 0.0f : 1.0f;
    ctl[3] = (float)ls.loss;
    ctl[4] = (float)ls.ce;
    ctl[5] = (float)ls.kl;
    ctl[6] = (float)ls.correct;
    ctl[7] = (float)B;
    lap(&tm->loss, &t0);

    rd_allreduce_begin(S->ar);
    const bool overlap = c->dist.overlap && S->parallel;
    m->grad_ready = overlap ? grad_ready : NULL;
    m->progress = overlap ? progress : NULL;
    m->grad_ready_ctx = S->ar;
    rd_model_backward(m, S->x, S->dlogits, rows);
    lap(&tm->backward, &t0);

    tm->comm += rd_allreduce_finish(S->ar);
    t0 = rd_now();
    tm->total += t0 - start;
}

/* An exponent of all ones is Inf or NaN. An integer OR-reduction vectorises; a float
 * probe sum (g*0 accumulated) is one long dependency chain. */
static bool all_finite(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

bool rd_step_finite(rd_step *S, rd_step_timing *tm)
{
    double t0 = rd_now();
    bool ok = !(rd_step_control(S)[1] > 0.0f) && all_finite(S->m->grads, S->m->n_params);
    double dt = rd_now() - t0;
    tm->check += dt;
    tm->total += dt;
    return ok;
}

void rd_step_update(rd_step *S, double lr, rd_step_timing *tm)
{
    double t0 = rd_now();
    rd_optim_step(S->m, S->c, lr);
    double dt = rd_now() - t0;
    tm->update += dt;
    tm->total += dt;
}
