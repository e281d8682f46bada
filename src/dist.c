/* dist.c - MPI: world setup, broadcasts, reductions, bucketed nonblocking gradient allreduce. */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mpi.h>

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

int rd_dist_bcast(const rd_dist *d, void *buf, size_t bytes, int root)
{
    if (!parallel(d)) return 0;
    char *p = buf;
    while (bytes > 0) {
        int chunk = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        if (MPI_Bcast(p, chunk, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS) return RD_EXIT_INTERNAL;
        p += chunk;
        bytes -= (size_t)chunk;
    }
    return 0;
}

static int allreduce(const rd_dist *d, void *buf, size_t n, MPI_Datatype t, size_t elem)
{
    if (!parallel(d)) return 0;
    char *p = buf;
    while (n > 0) {
        int chunk = n > (size_t)(INT_MAX / 8) ? INT_MAX / 8 : (int)n;
        if (MPI_Allreduce(MPI_IN_PLACE, p, chunk, t, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return RD_EXIT_INTERNAL;
        p += (size_t)chunk * elem;
        n -= (size_t)chunk;
    }
    return 0;
}

int rd_dist_allreduce_floats(const rd_dist *d, float *buf, size_t n)
{
    return allreduce(d, buf, n, MPI_FLOAT, sizeof(float));
}

int rd_dist_allreduce_doubles(const rd_dist *d, double *buf, size_t n)
{
    return allreduce(d, buf, n, MPI_DOUBLE, sizeof(double));
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
    for (int i = 0; i < n_buckets; i++) {
        a->hi[i] = edges[i];
        a->lo[i] = edges[i + 1];
        a->req[i] = MPI_REQUEST_NULL;
    }
    a->next = a->n_buckets;   /* nothing in flight until the first ready() */
    a->done_upto = a->n_buckets;
    return a;
}

int rd_allreduce_buckets(const rd_allreduce *a) { return a->n_buckets; }

static void start_bucket(rd_allreduce *a, int i)
{
    int count = (int)(a->hi[i] - a->lo[i]);
    MPI_Iallreduce(MPI_IN_PLACE, a->buf + a->lo[i], count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                   &a->req[i]);
}

void rd_allreduce_begin(rd_allreduce *a)
{
    a->next = 0;
    a->done_upto = 0;
}

void rd_allreduce_ready(rd_allreduce *a, size_t ready_from)
{
    if (!parallel(a->d)) return;
    while (a->next < a->n_buckets && a->lo[a->next] >= ready_from) start_bucket(a, a->next++);
}

void rd_allreduce_poll(rd_allreduce *a)
{
    if (!parallel(a->d)) return;
    while (a->done_upto < a->next) {
        int flag = 0;
        MPI_Test(&a->req[a->done_upto], &flag, MPI_STATUS_IGNORE);
        if (!flag) return;
        a->done_upto++;
    }
}

double rd_allreduce_finish(rd_allreduce *a)
{
    if (!parallel(a->d)) return 0.0;
    double t0 = MPI_Wtime();
    while (a->next < a->n_buckets) start_bucket(a, a->next++);
    MPI_Waitall(a->n_buckets - a->done_upto, a->req + a->done_upto, MPI_STATUSES_IGNORE);
    a->done_upto = a->n_buckets;
    return MPI_Wtime() - t0;
}

void rd_allreduce_free(rd_allreduce *a)
{
    if (!a) return;
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
