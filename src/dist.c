/* dist.c - MPI: world setup, broadcasts, reductions, bucketed nonblocking gradient allreduce. */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mpi.h>

#include "half.h"

static long env_size(const char *name)
{
    const char *v = getenv(name);
    return v ? strtol(v, NULL, 10) : 0;
}

int rd_dist_init(rd_dist *d, int *argc, char ***argv, rd_error *e)
{
    memset(d, 0, sizeof *d);
    /* Open MPI's libnbc runs an in-place MPI_Iallreduce (and any below 4 ranks) as a binomial
     * tree through rank 0: on 2 ranks of one node measured 2.6x slower than its ring for a
     * 4 MB bucket (1.70 vs 0.66 ms) and 10x for 7 MB. Ask for the ring unless the user chose
     * (mpirun --mca or the environment); MPI_Init reads OMPI_MCA_* variables. */
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    d->mpi = true;
    /* Every MPI failure aborts the job (dist.h): the default, stated so that no caller is
     * led to expect an error code. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    gethostname(d->host, sizeof d->host - 1);
    static const char *vars[] = {"SLURM_NTASKS", "PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE"};
    if (d->size == 1) {
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
            long n = env_size(vars[i]);
            if (n > 1)
                return rd_fail(e, RD_EXIT_INTERNAL,
                               "MPI not started as expected: %s=%ld but this process sees 1 rank "
                               "(use mpirun, or srun --mpi=pmix)", vars[i], n);
        }
    }
    return 0;
}

void rd_dist_init_serial(rd_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    gethostname(d->host, sizeof d->host - 1);
}

void rd_dist_finalize(rd_dist *d)
{
    if (d->mpi) MPI_Finalize();
    d->mpi = false;
}

static bool parallel(const rd_dist *d) { return d->mpi && d->size > 1; }

void rd_dist_bcast(const rd_dist *d, void *buf, size_t bytes, int root)
{
    if (!parallel(d)) return;
    char *p = buf;
    while (bytes > 0) {
        int chunk = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        MPI_Bcast(p, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
        p += chunk;
        bytes -= (size_t)chunk;
    }
}

static void allreduce(const rd_dist *d, void *buf, size_t n, MPI_Datatype t, size_t elem)
{
    if (!parallel(d)) return;
    char *p = buf;
    while (n > 0) {
        int chunk = n > (size_t)(INT_MAX / 8) ? INT_MAX / 8 : (int)n;
        MPI_Allreduce(MPI_IN_PLACE, p, chunk, t, MPI_SUM, MPI_COMM_WORLD);
        p += (size_t)chunk * elem;
        n -= (size_t)chunk;
    }
}

void rd_dist_allreduce_floats(const rd_dist *d, float *buf, size_t n)
{
    allreduce(d, buf, n, MPI_FLOAT, sizeof(float));
}

void rd_dist_allreduce_doubles(const rd_dist *d, double *buf, size_t n)
{
    allreduce(d, buf, n, MPI_DOUBLE, sizeof(double));
}

static int reduce_int(const rd_dist *d, int v, MPI_Op op)
{
    if (!parallel(d)) return v;
    int r = v;
    MPI_Allreduce(&v, &r, 1, MPI_INT, op, MPI_COMM_WORLD);
    return r;
}

int rd_dist_max_int(const rd_dist *d, int v) { return reduce_int(d, v, MPI_MAX); }
int rd_dist_min_int(const rd_dist *d, int v) { return reduce_int(d, v, MPI_MIN); }

void rd_dist_minmax_u32(const rd_dist *d, uint32_t v, uint32_t *mn, uint32_t *mx)
{
    *mn = *mx = v;
    if (!parallel(d)) return;
    MPI_Allreduce(&v, mn, 1, MPI_UINT32_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&v, mx, 1, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD);
}

void rd_dist_barrier(const rd_dist *d)
{
    if (parallel(d)) MPI_Barrier(MPI_COMM_WORLD);
}

void rd_dist_mpi_version(char *buf, size_t n)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    /* First line only, e.g. "Open MPI v4.1.4, package: ..." -> up to the comma. */
    size_t k = strcspn(v, ",\n");
    v[k] = '\0';
    /* The nonblocking allreduce algorithm decides the summation order: record it too, so a
     * resume under another choice says that bitwise continuation is not guaranteed. */
    const char *alg = getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm");
    snprintf(buf, n, "%s (iallreduce algorithm %s)", v, alg ? alg : "default");
}

/* ---- bucketed nonblocking allreduce ---- */

struct rd_allreduce {
    const rd_dist *d;
    float *buf;
    int n_buckets;
    size_t *lo, *hi;          /* bucket i covers [lo[i], hi[i]); bucket 0 is the END of buf */
    MPI_Request *req;
    int next;                 /* next bucket to start */
    int done_upto;            /* buckets [0, done_upto) known complete */
    /* dist.compress (docs/scale.md): buckets travel as 16-bit values in `half`, except the
     * last `tail` floats of buf (the control block), reduced as float32 with bucket 0. */
    rd_compress fmt;
    uint16_t *half;           /* mirrors buf */
    size_t tail;
    MPI_Op op;
    MPI_Request tail_req;
    float pre, post;          /* scale before compressing and after expanding */
    double *t_start, *t_done; /* rd_now() when each bucket was started / seen complete */
    /* dist.hierarchical (docs/scale.md): a bucket is reduced to the node's first rank
     * (node_reduce), summed among those leaders (leaders), broadcast inside the node
     * (node_bcast). Every stage is issued in bucket order on its own communicator, so all
     * members of a communicator issue its collectives in the same order. */
    bool hier;
    MPI_Comm node_reduce, node_bcast, leaders;   /* leaders: MPI_COMM_NULL off the leaders */
    MPI_Request *req_leader, *req_bcast;         /* req: the node-local reduce */
    int n_leader, n_bcast;    /* buckets whose leader / broadcast stage has been issued */
};

rd_allreduce *rd_allreduce_create(const rd_dist *d, float *buf, const size_t *edges, int n_buckets)
{
    rd_allreduce *a = rd_calloc(1, sizeof *a);
    a->d = d;
    a->buf = buf;
    a->n_buckets = n_buckets;
    a->lo = rd_calloc((size_t)n_buckets, sizeof *a->lo);
    a->hi = rd_calloc((size_t)n_buckets, sizeof *a->hi);
    a->req = rd_calloc((size_t)n_buckets, sizeof *a->req);
    a->t_start = rd_calloc((size_t)n_buckets, sizeof *a->t_start);
    a->t_done = rd_calloc((size_t)n_buckets, sizeof *a->t_done);
    for (int i = 0; i < n_buckets; i++) {
        a->hi[i] = edges[i];
        a->lo[i] = edges[i + 1];
        a->req[i] = MPI_REQUEST_NULL;
    }
    a->next = a->n_buckets;   /* nothing in flight until the first ready() */
    a->done_upto = a->n_buckets;
    a->op = MPI_OP_NULL;
    a->tail_req = MPI_REQUEST_NULL;
    return a;
}

void rd_allreduce_set_hierarchical(rd_allreduce *a, int *nodes)
{
    *nodes = 1;
    if (!parallel(a->d) || a->hier) return;
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, a->d->rank, MPI_INFO_NULL, &node);
    int local;
    MPI_Comm_rank(node, &local);
    MPI_Comm_dup(node, &a->node_reduce);
    MPI_Comm_dup(node, &a->node_bcast);
    MPI_Comm_free(&node);
    MPI_Comm_split(MPI_COMM_WORLD, local == 0 ? 0 : MPI_UNDEFINED, a->d->rank, &a->leaders);
    int n = 0;
    if (a->leaders != MPI_COMM_NULL) MPI_Comm_size(a->leaders, &n);
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);   /* world rank 0 is a leader */
    *nodes = n;
    a->req_leader = rd_calloc((size_t)a->n_buckets, sizeof *a->req_leader);
    a->req_bcast = rd_calloc((size_t)a->n_buckets, sizeof *a->req_bcast);
    for (int i = 0; i < a->n_buckets; i++) a->req_leader[i] = a->req_bcast[i] = MPI_REQUEST_NULL;
    a->hier = true;
}

/* The user-defined reductions on MPI_UINT16_T: one float32 addition, one rounding (half.h). */
static void bf16_sum_op(void *in, void *inout, int *len, MPI_Datatype *t)
{
    (void)t;
    rd_bf16_sum(in, inout, (size_t)*len);
}

static void f16_sum_op(void *in, void *inout, int *len, MPI_Datatype *t)
{
    (void)t;
    rd_f16_sum(in, inout, (size_t)*len);
}

void rd_allreduce_set_compress(rd_allreduce *a, rd_compress fmt, size_t tail)
{
    if (!parallel(a->d) || fmt == RD_COMPRESS_NONE || a->fmt != RD_COMPRESS_NONE) return;
    a->fmt = fmt;
    a->tail = tail;
    a->half = rd_malloc(a->hi[0] * sizeof *a->half);
    MPI_Op_create(fmt == RD_COMPRESS_BF16 ? bf16_sum_op : f16_sum_op, 1, &a->op);
    /* fp16: pre-scale by 1/N so that the sum of N values stays below 65504 whenever every
     * value does (docs/scale.md); expanded values are scaled back by N. */
    a->pre = fmt == RD_COMPRESS_FP16 ? 1.0f / (float)a->d->size : 1.0f;
    a->post = fmt == RD_COMPRESS_FP16 ? (float)a->d->size : 1.0f;
}

/* The compressed range of bucket i: [lo, end) with end below the float32 tail. */
static size_t packed_end(const rd_allreduce *a, int i)
{
    size_t end = a->hi[0] - a->tail;
    if (a->hi[i] < end) end = a->hi[i];
    return end > a->lo[i] ? end : a->lo[i];
}

int rd_allreduce_buckets(const rd_allreduce *a) { return a->n_buckets; }

/* What bucket i sends: its floats, or (dist.compress) its 16-bit copy. */
static void bucket_payload(const rd_allreduce *a, int i, void **p, int *count, MPI_Datatype *t, MPI_Op *op)
{
    if (a->fmt == RD_COMPRESS_NONE) {
        *p = a->buf + a->lo[i];
        *count = (int)(a->hi[i] - a->lo[i]);
        *t = MPI_FLOAT;
        *op = MPI_SUM;
    } else {
        *p = a->half + a->lo[i];
        *count = (int)(packed_end(a, i) - a->lo[i]);
        *t = MPI_UINT16_T;
        *op = a->op;
    }
}

static void start_bucket(rd_allreduce *a, int i)
{
    a->t_start[i] = rd_now();
    if (a->fmt != RD_COMPRESS_NONE) {
        if (i == 0 && a->tail)
            MPI_Iallreduce(MPI_IN_PLACE, a->buf + a->hi[0] - a->tail, (int)a->tail, MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &a->tail_req);
        size_t lo = a->lo[i];
        rd_compress_floats(a->fmt, a->buf + lo, a->half + lo, packed_end(a, i) - lo, a->pre);
    }
    void *p;
    int count;
    MPI_Datatype t;
    MPI_Op op;
    bucket_payload(a, i, &p, &count, &t, &op);
    if (!a->hier) {
        MPI_Iallreduce(MPI_IN_PLACE, p, count, t, op, MPI_COMM_WORLD, &a->req[i]);
    } else if (a->leaders != MPI_COMM_NULL) {
        MPI_Ireduce(MPI_IN_PLACE, p, count, t, op, 0, a->node_reduce, &a->req[i]);
    } else {
        MPI_Ireduce(p, NULL, count, t, op, 0, a->node_reduce, &a->req[i]);
    }
}

/* Bucket i has arrived: expand it to float32 (the same bits on every rank). */
static void complete_bucket(rd_allreduce *a, int i)
{
    a->t_done[i] = rd_now();
    if (a->fmt == RD_COMPRESS_NONE) return;
    size_t lo = a->lo[i];
    rd_expand_floats(a->fmt, a->half + lo, a->buf + lo, packed_end(a, i) - lo, a->post);
}

/* dist.hierarchical: issue the next stages whose inputs are complete, in bucket order;
 * `block` waits for them instead of testing. */
static void advance_hier(rd_allreduce *a, bool block)
{
    for (;;) {
        bool moved = false;
        int flag = 0;
        if (a->n_leader < a->next) {
            int i = a->n_leader;
            if (block) { MPI_Wait(&a->req[i], MPI_STATUS_IGNORE); flag = 1; }
            else MPI_Test(&a->req[i], &flag, MPI_STATUS_IGNORE);
            if (flag) {
                if (a->leaders != MPI_COMM_NULL) {
                    void *p;
                    int count;
                    MPI_Datatype t;
                    MPI_Op op;
                    bucket_payload(a, i, &p, &count, &t, &op);
                    MPI_Iallreduce(MPI_IN_PLACE, p, count, t, op, a->leaders, &a->req_leader[i]);
                }
                a->n_leader++;
                moved = true;
            }
        }
        if (a->n_bcast < a->n_leader) {
            int i = a->n_bcast;
            if (block) { MPI_Wait(&a->req_leader[i], MPI_STATUS_IGNORE); flag = 1; }
            else MPI_Test(&a->req_leader[i], &flag, MPI_STATUS_IGNORE);
            if (flag) {
                void *p;
                int count;
                MPI_Datatype t;
                MPI_Op op;
                bucket_payload(a, i, &p, &count, &t, &op);
                MPI_Ibcast(p, count, t, 0, a->node_bcast, &a->req_bcast[i]);
                a->n_bcast++;
                moved = true;
            }
        }
        if (a->done_upto < a->n_bcast) {
            if (block) { MPI_Wait(&a->req_bcast[a->done_upto], MPI_STATUS_IGNORE); flag = 1; }
            else MPI_Test(&a->req_bcast[a->done_upto], &flag, MPI_STATUS_IGNORE);
            if (flag) {
                complete_bucket(a, a->done_upto++);
                moved = true;
            }
        }
        if (!moved) return;
    }
}


void rd_allreduce_begin(rd_allreduce *a)
{
    a->next = 0;
    a->done_upto = 0;
    a->n_leader = a->n_bcast = 0;
}

void rd_allreduce_ready(rd_allreduce *a, size_t ready_from)
{
    if (!parallel(a->d)) return;
    while (a->next < a->n_buckets && a->lo[a->next] >= ready_from) start_bucket(a, a->next++);
}

void rd_allreduce_poll(rd_allreduce *a)
{
    if (!parallel(a->d)) return;
    if (a->hier) { advance_hier(a, false); return; }
    while (a->done_upto < a->next) {
        int flag = 0;
        MPI_Test(&a->req[a->done_upto], &flag, MPI_STATUS_IGNORE);
        if (!flag) return;
        complete_bucket(a, a->done_upto++);
    }
}

double rd_allreduce_finish(rd_allreduce *a)
{
    if (!parallel(a->d)) return 0.0;
    double t0 = MPI_Wtime();
    while (a->next < a->n_buckets) start_bucket(a, a->next++);
    if (a->hier) {
        advance_hier(a, true);
    } else {
        MPI_Waitall(a->n_buckets - a->done_upto, a->req + a->done_upto, MPI_STATUSES_IGNORE);
        while (a->done_upto < a->n_buckets) complete_bucket(a, a->done_upto++);
    }
    MPI_Wait(&a->tail_req, MPI_STATUS_IGNORE);
    return MPI_Wtime() - t0;
}

void rd_allreduce_times(const rd_allreduce *a, int i, double *start, double *done)
{
    *start = a->t_start[i];
    *done = a->t_done[i];
}

void *rd_dist_gather_bytes(const rd_dist *d, const void *buf, size_t bytes, size_t *counts)
{
    if (!parallel(d)) {
        counts[0] = bytes;
        void *out = rd_malloc(bytes ? bytes : 1);
        memcpy(out, buf, bytes);
        return out;
    }
    int n = (int)bytes, *all = NULL, *displ = NULL;
    char *out = NULL;
    if (d->rank == 0) all = rd_calloc((size_t)d->size, sizeof *all);
    MPI_Gather(&n, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (d->rank == 0) {
        displ = rd_calloc((size_t)d->size, sizeof *displ);
        size_t total = 0;
        for (int r = 0; r < d->size; r++) {
            displ[r] = (int)total;
            counts[r] = (size_t)all[r];
            total += (size_t)all[r];
        }
        out = rd_malloc(total ? total : 1);
    }
    MPI_Gatherv(buf, n, MPI_BYTE, out, all, displ, MPI_BYTE, 0, MPI_COMM_WORLD);
    free(all);
    free(displ);
    return out;
}

void rd_allreduce_free(rd_allreduce *a)
{
    if (!a) return;
    if (a->op != MPI_OP_NULL) MPI_Op_free(&a->op);
    if (a->hier) {
        MPI_Comm_free(&a->node_reduce);
        MPI_Comm_free(&a->node_bcast);
        if (a->leaders != MPI_COMM_NULL) MPI_Comm_free(&a->leaders);
        free(a->req_leader);
        free(a->req_bcast);
    }
    free(a->half);
    free(a->t_start);
    free(a->t_done);
    free(a->lo);
    free(a->hi);
    free(a->req);
    free(a);
}

/* ---- measurements for `rdrop doctor` ---- */

int rd_dist_allgather_bytes(const rd_dist *d, const void *mine, void *all, size_t bytes)
{
    if (!parallel(d)) {
        memcpy(all, mine, bytes);
        return 0;
    }
    if (bytes > (size_t)INT_MAX) return RD_EXIT_INTERNAL;
    return MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0 : RD_EXIT_INTERNAL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double rd_dist_pingpong(const rd_dist *d, int a, int b, size_t bytes, int iters)
{
    if (!parallel(d) || (d->rank != a && d->rank != b) || a == b || iters < 1 || bytes > (size_t)INT_MAX) return 0.0;
    char *buf = rd_calloc(bytes ? bytes : 1, 1);
    double *t = rd_malloc((size_t)iters * sizeof *t);
    int peer = d->rank == a ? b : a;
    for (int i = -1; i < iters; i++) {   /* one warm-up round */
        double t0 = MPI_Wtime();
        if (d->rank == a) {
            MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 7, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 7, MPI_COMM_WORLD);
        }
        if (i >= 0) t[i] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    double med = t[iters / 2];
    free(t);
    free(buf);
    return med;
}
