/* dist.h - every MPI call of rdrop lives behind this interface (dist.c).
 *
 * Works without MPI_Init too (rank 0 of 1, every collective a no-op), so `eval`
 * and `inspect` run as plain processes.
 */
#ifndef RDROP_DIST_H
#define RDROP_DIST_H

#include "common.h"
#include "half.h"

typedef struct {
    int rank, size;
    int local_rank, local_size;  /* ranks on this node */
    bool mpi;                    /* MPI_Init was called */
    char host[64];
} rd_dist;

/* MPI_Init; checks that a launcher's N > 1 (SLURM_NTASKS, PMI_SIZE, PMIX_SIZE,
 * OMPI_COMM_WORLD_SIZE) matches MPI_Comm_size, else RD_EXIT_INTERNAL with
 * "MPI not started as expected: ...". */
int rd_dist_init(rd_dist *d, int *argc, char ***argv, rd_error *e);
/* Single-process world without MPI. */
void rd_dist_init_serial(rd_dist *d);
void rd_dist_finalize(rd_dist *d);

/* Collectives on the world (no-ops for size 1).
 *
 * MPI errors end the job: rd_dist_init sets MPI_ERRORS_ARE_FATAL on MPI_COMM_WORLD (MPI's
 * default, made explicit), so a failed MPI call (a lost rank, a broken link) aborts every rank
 * with MPI's own message and mpirun's exit code; no MPI call here returns to report an error,
 * and these functions return nothing (docs/ARCHITECTURE.md, "Errors and exit codes"). A rank
 * that dies is the launcher's to report; checkpoints already written stay intact. */
void rd_dist_bcast(const rd_dist *d, void *buf, size_t bytes, int root);
void rd_dist_allreduce_floats(const rd_dist *d, float *buf, size_t n);   /* SUM in place */
void rd_dist_allreduce_doubles(const rd_dist *d, double *buf, size_t n); /* SUM in place */
int rd_dist_max_int(const rd_dist *d, int v);
int rd_dist_min_int(const rd_dist *d, int v);
void rd_dist_minmax_u32(const rd_dist *d, uint32_t v, uint32_t *mn, uint32_t *mx);
void rd_dist_barrier(const rd_dist *d);

/* Bucketed gradient allreduce with overlap: buckets are contiguous ranges of a float
 * buffer, started (MPI_Iallreduce SUM) in the order given, progressed by rd_allreduce_poll.
 * Bucket i covers [edges[i+1], edges[i]) with edges[0] = the buffer's length > edges[1] >
 * ... > edges[n_buckets] = 0: bucket 0 is the END of the buffer (gradients are produced
 * from the last layer backwards). Every rank must pass the same edges. */
typedef struct rd_allreduce rd_allreduce;
rd_allreduce *rd_allreduce_create(const rd_dist *d, float *buf, const size_t *edges, int n_buckets);
int rd_allreduce_buckets(const rd_allreduce *a);
/* dist.compress (docs/scale.md): from now on the buckets travel as bf16 or fp16, summed by a
 * user-defined MPI_Op (half.h's rule) and expanded to float32 on arrival; the last `tail`
 * floats of the buffer (the control block) are reduced as float32, started with bucket 0.
 * fp16 values are pre-scaled by 1/world size and scaled back after expansion. No-op for
 * RD_COMPRESS_NONE or a world of one rank. Call before the first rd_allreduce_begin. */
void rd_allreduce_set_compress(rd_allreduce *a, rd_compress fmt, size_t tail);
/* dist.hierarchical (docs/scale.md): from now on each bucket is reduced inside its node
 * (MPI_Comm_split_type SHARED) to the node's first rank, allreduced among those leaders and
 * broadcast inside the node, all nonblocking and progressed by poll/finish. Sets *nodes to
 * the number of nodes. Collective; no-op (nodes 1) for a world of one rank. */
void rd_allreduce_set_hierarchical(rd_allreduce *a, int *nodes);
/* Reset for a new step (nothing in flight). */
void rd_allreduce_begin(rd_allreduce *a);
/* Start every bucket whose range lies entirely at or above `ready_from` (gradients are
 * produced from the end of the buffer backwards). */
void rd_allreduce_ready(rd_allreduce *a, size_t ready_from);
void rd_allreduce_poll(rd_allreduce *a);
/* Start what remains and wait for all buckets. Returns seconds spent waiting. */
double rd_allreduce_finish(rd_allreduce *a);
void rd_allreduce_free(rd_allreduce *a);
/* rd_now() when bucket i was started and when it was seen complete (run.timeline). The
 * completion is observed in rd_allreduce_poll / rd_allreduce_finish, not by MPI itself. */
void rd_allreduce_times(const rd_allreduce *a, int i, double *start, double *done);

/* Gather `bytes` bytes from every rank to rank 0 (less than 2 GiB each). On rank 0 returns a
 * malloc'd concatenation in rank order and sets counts[r] (room for size entries); NULL on
 * the other ranks. Collective. */
void *rd_dist_gather_bytes(const rd_dist *d, const void *buf, size_t bytes, size_t *counts);

/* Every rank's `bytes` bytes, in rank order, into all (size * bytes) on every rank. */
int rd_dist_allgather_bytes(const rd_dist *d, const void *mine, void *all, size_t bytes);
/* Median seconds per round trip of `bytes` between ranks a and b over `iters` rounds (after
 * one warm-up); called by a and b (others return 0 at once). */
double rd_dist_pingpong(const rd_dist *d, int a, int b, size_t bytes, int iters);

/* "Open MPI 4.1.4" etc. */
void rd_dist_mpi_version(char *buf, size_t n);

#endif
