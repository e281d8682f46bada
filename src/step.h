/* step.h - one training step on this rank (docs/ARCHITECTURE.md "One training step"), shared by the
 * trainer's loop (train.c) and the benchmark (tests/bench), with a per-phase clock.
 *
 * The step owns the doubled-batch input, the logit gradients and the bucketed allreduce;
 * it never allocates after rd_step_create.
 */
#ifndef RDROP_STEP_H
#define RDROP_STEP_H

#include "data.h"
#include "dist.h"
#include "loss.h"
#include "model.h"
#include "timeline.h"

/* Wall seconds per phase, ADDED to by the step functions (zero it per window). */
typedef struct {
    double gather;     /* batch gather (uint8 -> float) and doubling */
    double masks;      /* dropout masks */
    double forward;
    double loss;
    double backward;   /* includes the MPI_Test calls that progress the overlapped buckets */
    double comm;       /* exposed communication: waiting for the allreduce after backward */
    double check;      /* non-finite probe of the reduced gradient */
    double update;     /* optimizer + max-norm */
    double total;
} rd_step_timing;

typedef struct {
    rd_model *m;
    const rd_config *c;
    rd_allreduce *ar;
    rd_key drop_key;    /* this rank's dropout stream (rank mode) */
    int B_g;            /* global batch */
    int passes;
    int64_t steps_per_epoch;   /* for rdrop.alpha_rampup_epochs; 0 = no ramp (set by the caller) */
    double alpha;              /* this step's KL weight, rd_step_alpha */
    float *x;           /* [passes*B_max x input_dim] doubled batch (also an eval buffer) */
    int32_t *y;         /* [passes*B_max] labels */
    float *dlogits;     /* [passes*B_max x output_dim] */
    float *scratch;     /* [input_dim] for data.augment */
    bool parallel;      /* more than one rank */
    bool overlap;       /* start buckets during backward (dist.overlap; auto sets it per step) */
    int accumulate;     /* training.accumulate: micro-batches per step */
    int nodes;          /* dist.hierarchical: nodes found (1 when flat) */
    float *acc;         /* [n_params] sum of the earlier micro-batches' gradients (k > 1) */
    size_t acc_from;    /* acc is added to grads at [acc_from, n_params) already */
    bool acc_pending;
    rd_timeline *tl;    /* run.timeline (NULL = off): set by the caller */
    bool rec;           /* this step is recorded */
    double t_step0, layer_t0[RD_MAX_LAYERS];
} rd_step;

/* Buffers and the allreduce (buckets of dist.bucket_mb over grads + control block) for at
 * most B_max samples per rank, in training.accumulate = k micro-batches: m must be created
 * with max_rows >= passes*ceil(B_max/k). */
void rd_step_create(rd_step *S, rd_model *m, const rd_config *c, const rd_dist *d, int B_max);
void rd_step_free(rd_step *S);

/* The gradient buckets (docs/ARCHITECTURE.md "One training step", step 5) over grads + control block: edges descending from
 * the buffer's length to 0 (see rd_allreduce_create); returns the number of buckets. Above
 * the first parameterised (dense or conv2d) layer: near-equal buckets of at most bucket_mb; its
 * kernel and bias (nothing in backward follows it) at least two, so its upper rows are
 * reduced while its last panels are computed. edges needs room for n_floats/1024 + 3. */
int rd_step_buckets(const rd_model *m, double bucket_mb, size_t *edges);

/* The control block (docs/ARCHITECTURE.md, "Control block"): RD_CONTROL_FLOATS floats after
 * the gradients, reduced (SUM) with them. The caller sets RD_CTL_STOP and RD_CTL_CLOCK before
 * rd_step_compute; the step fills the rest; after it the block holds the sums over all ranks. */
typedef enum {
    RD_CTL_STOP = 0,        /* > 0: some rank was asked to stop (signal) */
    RD_CTL_NONFINITE = 1,   /* > 0: some rank's loss was not finite */
    RD_CTL_CLOCK = 2,       /* rank 0's clock decision: an rd_clock_decision */
    RD_CTL_LOSS = 3,        /* sums over the step's samples: loss, CE, KL, correct, samples */
    RD_CTL_CE = 4,
    RD_CTL_KL = 5,
    RD_CTL_CORRECT = 6,
    RD_CTL_SAMPLES = 7,
    RD_CTL_SLOTS
} rd_ctl_slot;
_Static_assert(RD_CTL_SLOTS == RD_CONTROL_FLOATS, "one named slot per control float");

/* RD_CTL_CLOCK values (only rank 0 writes it, so the sum is rank 0's value). */
typedef enum { RD_CLOCK_NONE = 0, RD_CLOCK_CHECKPOINT = 1, RD_CLOCK_STOP = 2 } rd_clock_decision;

static inline float *rd_step_control(rd_step *S) { return S->m->grads + S->m->n_params; }

/* Steps 1-6 for this rank's B samples idx[0..B) at step t of epoch `epoch`, in k micro-batches
 * (training.accumulate; k <= B): gather and double the batch, draw the masks, forward, loss,
 * backward, summed over the micro-batches; the last one's backward overlapped (S->overlap)
 * with the bucketed allreduce, wait. Afterwards m->grads holds the global-batch gradient and
 * the control block [1], [3..7] the sums over all ranks and micro-batches. */
void rd_step_compute(rd_step *S, const rd_dataset *ds, const uint32_t *idx, int B, uint64_t t,
                     uint32_t epoch, rd_step_timing *tm);

/* True when the reduced non-finite count is 0 (no rank saw a NaN/Inf loss or an unreadable
 * batch). The gradient itself is checked by rd_step_update, in the optimizer's sweep. */
bool rd_step_finite(rd_step *S, rd_step_timing *tm);

/* The KL weight in rdrop's `mean` terms at step t (0-based): rdrop.alpha, times the global
 * batch B_g under kl_reduction sum (with reduction mean), times the ramp exp(-5(1-u)^2),
 * u = t / (alpha_rampup_epochs * steps_per_epoch), while u < 1. A function of the step
 * alone, so a resumed run continues the same ramp. */
double rd_step_alpha(const rd_config *c, int B_g, uint64_t t, int64_t steps_per_epoch);

/* Step 7: SGD update and max-norm, identical on every rank, checking the reduced gradient on
 * the way (NaN and Inf survive the SUM, so every rank reaches the same verdict). False on a
 * NaN/Inf gradient: the model is then partly updated and must be discarded (exit 6, nothing
 * written). */
bool rd_step_update(rd_step *S, double lr, rd_step_timing *tm);

#endif
