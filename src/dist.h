/* dist.h - every MPI call of rdrop lives behind this interface (dist.c).
 *
 * Works without MPI_Init too (rank 0 of 1, every collective a no-op), so `eval`
 * and `inspect` run as plain processes.
 */
#ifndef RDROP_DIST_H
#define RDROP_DIST_H

#include "common.h"

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

/* Collectives on the world (no-ops for size 1). Return 0 or RD_EXIT_INTERNAL. */
int rd_dist_bcast(const rd_dist *d, void *buf, size_t bytes, int root);
int rd_dist_allreduce_floats(const rd_dist *d, float *buf, size_t n);   /* SUM in place */
int rd_dist_allreduce_doubles(const rd_dist *d, double *buf, size_t n); /* SUM in place */
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
/* Reset for a new step (nothing in flight). */
void rd_allreduce_begin(rd_allreduce *a);
/* Start every bucket whose range lies entirely at or above `ready_from` (gradients are
 * produced from the end of the buffer backwards). */
void rd_allreduce_ready(rd_allreduce *a, size_t ready_from);
void rd_allreduce_poll(rd_allreduce *a);
/* Start what remains and wait for all buckets. Returns seconds spent waiting. */
double rd_allreduce_finish(rd_allreduce *a);
void rd_allreduce_free(rd_allreduce *a);

/* Every rank's `bytes` bytes, in rank order, into all (size * bytes) on every rank. */
int rd_dist_allgather_bytes(const rd_dist *d, const void *mine, void *all, size_t bytes);
/* Median seconds per round trip of `bytes` between ranks a and b over `iters` rounds (after
 * one warm-up); called by a and b (others return 0 at once). */
double rd_dist_pingpong(const rd_dist *d, int a, int b, size_t bytes, int iters);

/* "Open MPI 4.1.4" etc. */
void rd_dist_mpi_version(char *buf, size_t n);

#endif
