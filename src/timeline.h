/* timeline.h - run.timeline: a Chrome trace (chrome://tracing, Perfetto) of the first
 * run.timeline_steps steps on every rank (docs/scale.md). Plain C, no MPI: the step records
 * events into a buffer allocated once; train.c gathers every rank's buffer (dist.c) and rank 0
 * writes one JSON file with one process per rank.
 */
#ifndef RDROP_TIMELINE_H
#define RDROP_TIMELINE_H

#include "common.h"

/* What an event is; `index` says which layer, micro-batch or bucket. */
typedef enum {
    RD_TL_STEP, RD_TL_MICRO, RD_TL_GATHER, RD_TL_MASKS, RD_TL_FORWARD, RD_TL_LOSS, RD_TL_BACKWARD,
    RD_TL_LAYER_FWD, RD_TL_LAYER_BWD, RD_TL_ACCUMULATE, RD_TL_WAIT, RD_TL_BUCKET, RD_TL_CHECK,
    RD_TL_UPDATE
} rd_tl_kind;

/* POD, so that ranks exchange their buffers as bytes. Times in seconds since the origin. */
typedef struct {
    int32_t kind, index, step, tid;   /* tid 0: compute, 1: the allreduce of the buckets */
    double ts, dur;
} rd_tl_event;

typedef struct {
    rd_tl_event *ev;
    size_t n, cap;
    long steps_max, steps_done;
    int64_t step;         /* the step being recorded */
    double origin;        /* rd_now() at a common barrier */
    bool written;
} rd_timeline;

/* Room for `steps` steps of at most `per_step` events each. */
void rd_timeline_init(rd_timeline *tl, long steps, size_t per_step, double origin);
void rd_timeline_free(rd_timeline *tl);
/* Is the step now running recorded? */
static inline bool rd_timeline_on(const rd_timeline *tl) { return tl && tl->steps_done < tl->steps_max; }
/* Add the event [t0, t1) (rd_now() seconds) of the current step; ignored when full. */
void rd_timeline_add(rd_timeline *tl, rd_tl_kind kind, int index, int tid, double t0, double t1);

/* Write the merged trace: counts[r] events of rank r, concatenated in ev. layer_names[i]
 * names layer i ("dense_0", "dropout_1"). Returns 0 or RD_EXIT_WRITE naming the file. */
int rd_timeline_write(const char *path, const rd_tl_event *ev, const size_t *counts, int ranks,
                      const char *const *layer_names, int n_layers, rd_error *e);

#endif
