/* step.c - one training step on this rank: the sequence of docs/ARCHITECTURE.md "One training step". */
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
    S->accumulate = (int)c->training.accumulate;
    S->overlap = c->dist.overlap != RD_OVERLAP_OFF;
    int B_micro = (B_max + S->accumulate - 1) / S->accumulate;
    size_t rows = (size_t)S->passes * (size_t)B_micro;
    S->x = rd_malloc(rows * (size_t)m->input_dim * sizeof(float));
    S->y = rd_malloc(rows * sizeof(int32_t));
    S->dlogits = rd_malloc(rows * (size_t)m->output_dim * sizeof(float));
    S->scratch = rd_malloc((size_t)m->input_dim * sizeof(float));
    size_t *edges = rd_malloc((m->n_params + RD_CONTROL_FLOATS) / 1024 * sizeof *edges + 4 * sizeof *edges);
    int nb = rd_step_buckets(m, c->dist.bucket_mb, edges);
    S->ar = rd_allreduce_create(d, m->grads, edges, nb);
    rd_allreduce_set_compress(S->ar, (rd_compress)c->dist.compress, RD_CONTROL_FLOATS);
    S->nodes = 1;
    if (c->dist.hierarchical) rd_allreduce_set_hierarchical(S->ar, &S->nodes);
    free(edges);
    if (S->accumulate > 1) S->acc = rd_malloc(m->n_params * sizeof(float));
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
        if (rd_layer_has_params(&m->layers[i])) {   /* the first parameterised layer */
            first_end = m->layers[i].b_off + (size_t)m->layers[i].k_cols;
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
    free(S->acc);
    memset(S, 0, sizeof *S);
}

/* training.accumulate: before the last micro-batch's gradients at [from, acc_from) may be
 * reduced, the earlier micro-batches' sum (acc) is added to them. */
static void add_accumulated(rd_step *S, size_t from)
{
    if (!S->acc_pending) return;
    float *g = S->m->grads;
    for (size_t i = from; i < S->acc_from; i++) g[i] += S->acc[i];
    if (from < S->acc_from) S->acc_from = from;
}

static void grad_ready(void *ctx, size_t from)
{
    rd_step *S = ctx;
    add_accumulated(S, from);
    rd_allreduce_ready(S->ar, from);
    rd_allreduce_poll(S->ar);
}

static void progress(void *ctx) { rd_allreduce_poll(((rd_step *)ctx)->ar); }

/* run.timeline: an event [t0, now) of the step being recorded. */
static void mark(rd_step *S, rd_tl_kind kind, int index, double t0)
{
    if (S->rec) rd_timeline_add(S->tl, kind, index, 0, t0, rd_now());
}

/* Adds the seconds since *t0 to *acc, records them as event `kind`, restarts the clock. */
static void lap(rd_step *S, rd_tl_kind kind, int index, double *acc, double *t0)
{
    double now = rd_now();
    *acc += now - *t0;
    if (S->rec) rd_timeline_add(S->tl, kind, index, 0, *t0, now);
    *t0 = now;
}

static void on_layer(void *ctx, int layer, bool backward, bool end)
{
    rd_step *S = ctx;
    if (!end) S->layer_t0[layer] = rd_now();
    else mark(S, backward ? RD_TL_LAYER_BWD : RD_TL_LAYER_FWD, layer, S->layer_t0[layer]);
}

/* One micro-batch of B samples idx[0..B): gather and double the batch, draw the masks
 * (rank mode: Philox counter `ctr`), forward, loss (its sums ADDED to the control block),
 * backward into m->grads. `last`: the gradients go to the allreduce as they are produced. */
static void micro_batch(rd_step *S, const rd_dataset *ds, const uint32_t *idx, int B, uint64_t ctr,
                        uint32_t epoch, int j, bool last, rd_step_timing *tm)
{
    const rd_config *c = S->c;
    rd_model *m = S->m;
    const int rows = S->passes * B, in = m->input_dim, K = m->output_dim;
    double t0 = rd_now();

    rd_data_gather(ds, idx, (uint32_t)B, S->x, S->y);
    const rd_augment aug = {c->data.augment.flip, (int)c->data.augment.shift};
    rd_data_augment(ds, &aug, c->run.seed, epoch, idx, (uint32_t)B, S->x, S->scratch);
    for (int q = 1; q < S->passes; q++)   /* the K-fold batch: pass q's rows are a copy */
        memcpy(S->x + (size_t)q * B * in, S->x, (size_t)B * in * sizeof(float));
    lap(S, RD_TL_GATHER, j, &tm->gather, &t0);

    if (c->rng.dropout_stream == RD_STREAM_RANK) rd_model_masks_rank(m, rows, S->drop_key, ctr);
    else rd_model_masks_sample(m, B, S->passes, idx, c->run.seed, epoch);
    lap(S, RD_TL_MASKS, j, &tm->masks, &t0);

    m->on_layer = S->rec ? on_layer : NULL;
    m->on_layer_ctx = S;
    const float *logits = rd_model_forward(m, S->x, rows, true);
    lap(S, RD_TL_FORWARD, j, &tm->forward, &t0);

    rd_loss_sums ls;
    double scale = c->rdrop.reduction == RD_REDUCE_MEAN ? 1.0 / (double)S->B_g : 1.0;
    rd_rdrop_loss(logits, B, K, S->passes, S->y, S->alpha, scale, S->dlogits, &ls);
    float *ctl = rd_step_control(S);
    if (!isfinite(ls.loss)) ctl[RD_CTL_NONFINITE] = 1.0f;
    ctl[RD_CTL_LOSS] += (float)ls.loss;
    ctl[RD_CTL_CE] += (float)ls.ce;
    ctl[RD_CTL_KL] += (float)ls.kl;
    ctl[RD_CTL_CORRECT] += (float)ls.correct;
    ctl[RD_CTL_SAMPLES] += (float)B;
    lap(S, RD_TL_LOSS, j, &tm->loss, &t0);

    const bool overlap = last && S->overlap && S->parallel;
    m->grad_ready = overlap ? grad_ready : NULL;
    m->progress = overlap ? progress : NULL;
    m->grad_ready_ctx = S;
    rd_model_backward(m, S->x, S->dlogits, rows);
    lap(S, RD_TL_BACKWARD, j, &tm->backward, &t0);
    m->on_layer = NULL;
}

void rd_step_compute(rd_step *S, const rd_dataset *ds, const uint32_t *idx, int B, uint64_t t,
                     uint32_t epoch, rd_step_timing *tm)
{
    const int k = S->accumulate;
    const size_t n = S->m->n_params;
    double start = rd_now();
    S->rec = rd_timeline_on(S->tl);
    if (S->rec) S->tl->step = (int64_t)t;
    S->t_step0 = start;
    float *ctl = rd_step_control(S);
    ctl[RD_CTL_NONFINITE] = ctl[RD_CTL_LOSS] = ctl[RD_CTL_CE] = ctl[RD_CTL_KL] = 0.0f;
    ctl[RD_CTL_CORRECT] = ctl[RD_CTL_SAMPLES] = 0.0f;
    S->acc_pending = false;
    S->alpha = rd_step_alpha(S->c, S->B_g, t, S->steps_per_epoch);
    /* Micro-batch j holds samples [j*B/k, (j+1)*B/k); the rank-mode counter is t*k + j
     * (= t when k = 1), docs/scale.md. */
    for (int j = 0; j < k; j++) {
        const int lo = (int)((int64_t)j * B / k), hi = (int)((int64_t)(j + 1) * B / k);
        const bool last = j == k - 1;
        if (last) rd_allreduce_begin(S->ar);
        double tj = rd_now();
        micro_batch(S, ds, idx + lo, hi - lo, t * (uint64_t)k + (uint64_t)j, epoch, j, last, tm);
        if (k > 1) mark(S, RD_TL_MICRO, j, tj);
        if (last) break;
        double t0 = rd_now();
        if (j == 0) memcpy(S->acc, S->m->grads, n * sizeof(float));
        else for (size_t i = 0; i < n; i++) S->acc[i] += S->m->grads[i];
        S->acc_pending = true;
        S->acc_from = n;
        tm->backward += rd_now() - t0;
        mark(S, RD_TL_ACCUMULATE, j, t0);
    }
    double t0 = rd_now();
    add_accumulated(S, 0);
    tm->backward += rd_now() - t0;
    t0 = rd_now();
    tm->comm += rd_allreduce_finish(S->ar);
    mark(S, RD_TL_WAIT, -1, t0);
    if (S->rec && S->parallel)
        for (int i = 0; i < rd_allreduce_buckets(S->ar); i++) {
            double b0, b1;
            rd_allreduce_times(S->ar, i, &b0, &b1);
            rd_timeline_add(S->tl, RD_TL_BUCKET, i, 1, b0, b1);
        }
    tm->total += rd_now() - start;
}

bool rd_step_finite(rd_step *S, rd_step_timing *tm)
{
    double t0 = rd_now();
    bool ok = !(rd_step_control(S)[RD_CTL_NONFINITE] > 0.0f);
    double dt = rd_now() - t0;
    tm->check += dt;
    tm->total += dt;
    mark(S, RD_TL_CHECK, -1, t0);
    return ok;
}

bool rd_step_update(rd_step *S, double lr, rd_step_timing *tm)
{
    double t0 = rd_now();
    bool ok = rd_optim_step(S->m, S->c, lr);
    double dt = rd_now() - t0;
    tm->update += dt;
    tm->total += dt;
    mark(S, RD_TL_UPDATE, -1, t0);
    mark(S, RD_TL_STEP, -1, S->t_step0);
    if (S->rec) S->tl->steps_done++;
    S->rec = false;
    return ok;
}
