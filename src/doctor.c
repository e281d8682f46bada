/* doctor.c - measure instead of listing: kernel, GF/s, cores and binding, allreduce, node
 * pairs, run folder; then a step-time prediction for the config (see doctor.h). */
#define _GNU_SOURCE
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cblas.h>

#include "blas.h"
#include "checkpoint.h"
#include "log.h"
#include "model.h"
#include "train.h"

#define MASK_BYTES 128   /* CPUs 0..1023 */

/* What each rank measures of itself; gathered to every rank. */
typedef struct {
    char host[64];
    char core[32], best[32];
    int local_rank, local_size, blas_threads, cores_online;
    double gflops, peak;
    uint8_t mask[MASK_BYTES];
} rank_facts;

typedef struct {
    const rd_dist *d;
    int problems;
} report;

static void line(report *r, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(report *r, bool ok, const char *fmt, ...)
{
    if (r->d->rank != 0) return;   /* rank 0 judges from the gathered facts (and alone checks the folder) */
    if (!ok) r->problems++;
    va_list ap;
    va_start(ap, fmt);
    printf("%-9s", ok ? "ok" : "problem");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

double rd_doctor_peak_gflops(int kernel_class, char *how, size_t how_len)
{
    double mhz = 0.0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char buf[512], src[32] = "";
    while (f && fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, "cpu MHz", 7) && mhz == 0.0) {
            const char *p = strchr(buf, ':');
            if (p) { mhz = strtod(p + 1, NULL); snprintf(src, sizeof src, "cpu MHz"); }
        }
        if (!strncmp(buf, "model name", 10) && mhz == 0.0) {
            const char *at = strstr(buf, "@ ");
            if (at) { mhz = 1000.0 * strtod(at + 2, NULL); snprintf(src, sizeof src, "model name"); }
        }
    }
    if (f) fclose(f);
    int lanes = kernel_class >= 2 ? 16 : kernel_class == 1 ? 8 : 4;
    double peak = 2.0 * lanes * 2.0 * mhz / 1000.0;
    if (how && how_len)
        snprintf(how, how_len, "2 FMA units x %d float lanes x 2 flops x %.2f GHz (/proc/cpuinfo %s)", lanes,
                 mhz / 1000.0, src[0] ? src : "unknown");
    return peak;
}

static int popcount_mask(const uint8_t *m)
{
    int n = 0;
    for (int i = 0; i < MASK_BYTES; i++) n += __builtin_popcount(m[i]);
    return n;
}

static void my_facts(rank_facts *f, const rd_dist *d, int blas_threads)
{
    memset(f, 0, sizeof *f);
    snprintf(f->host, sizeof f->host, "%s", d->host);
    snprintf(f->core, sizeof f->core, "%s", rd_blas_corename());
    rd_cpu_features cpu = rd_cpu_detect();
    const char *best = rd_blas_class_kernel(&cpu);
    snprintf(f->best, sizeof f->best, "%s", best ? best : "none");
    f->local_rank = d->local_rank;
    f->local_size = d->local_size;
    f->blas_threads = blas_threads;
    f->cores_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < MASK_BYTES * 8 && c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) f->mask[c / 8] |= (uint8_t)(1u << (c % 8));
    int cls = rd_blas_kernel_class(f->core);
    f->peak = rd_doctor_peak_gflops(best ? rd_blas_kernel_class(best) : cls, NULL, 0) * blas_threads;
    f->gflops = rd_blas_gflops(1024, 1024, 1024, 0.2);
}

static void check_kernels(report *r, const rank_facts *all, int n)
{
    for (int i = 0; i < n; i++) {
        const rank_facts *f = &all[i];
        bool below = strcmp(f->best, "none") && rd_blas_kernel_class(f->core) < rd_blas_kernel_class(f->best);
        if (n > 8 && !below && i > 0) continue;   /* many ranks: problems and rank 0 only */
        line(r, !below, "rank %d (%s): OpenBLAS kernel %s%s%s%s", i, f->host, f->core,
             below ? ", below this CPU's " : " (this CPU's class: ", f->best,
             below ? " (4-6x slower GEMMs; run.blas_core: auto or best fixes it)" : ")");
    }
    char how[160];
    rd_doctor_peak_gflops(rd_blas_kernel_class(all[0].best), how, sizeof how);
    for (int i = 0; i < n; i++) {
        const rank_facts *f = &all[i];
        double frac = f->peak > 0 ? f->gflops / f->peak : 1.0;
        bool ok = frac >= 0.25;
        if (n > 8 && ok && i > 0) continue;
        line(r, ok, "rank %d (%s): sgemm 1024^3 %.1f GF/s on %d thread%s, %.0f%% of the estimated peak %.0f GF/s%s",
             i, f->host, f->gflops, f->blas_threads, f->blas_threads == 1 ? "" : "s", 100.0 * frac, f->peak,
             ok ? "" : " (below 25%: a fallback kernel, a shared or throttled core)");
    }
    if (r->d->rank == 0) printf("         peak estimate per core: %s\n", how);
}

static void check_cores(report *r, const rank_facts *all, int n)
{
    for (int i = 0; i < n; i++) {
        if (all[i].local_rank != 0) continue;   /* one line per node */
        int threads = 0;
        uint8_t uni[MASK_BYTES] = {0};
        bool shared = false;
        for (int j = 0; j < n; j++) {
            if (strcmp(all[j].host, all[i].host)) continue;
            threads += all[j].blas_threads;
            for (int b = 0; b < MASK_BYTES; b++) {
                if (uni[b] & all[j].mask[b] && popcount_mask(all[j].mask) < all[j].blas_threads * all[i].local_size)
                    shared = true;
                uni[b] |= all[j].mask[b];
            }
        }
        int usable = popcount_mask(uni);
        if (usable <= 0 || usable > all[i].cores_online) usable = all[i].cores_online;
        bool ok = threads <= all[i].cores_online && threads <= usable;
        line(r, ok, "node %s: %d rank%s x BLAS threads = %d thread%s on %d core%s (binding allows %d)%s", all[i].host,
             all[i].local_size, all[i].local_size == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
             all[i].cores_online, all[i].cores_online == 1 ? "" : "s", usable,
             ok ? (shared ? "; ranks share cores in their binding" : "")
                : ": oversubscribed (fewer ranks per node or run.blas_threads, or more cores)");
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of an allreduce of n floats (every rank; rank 0's figure). */
static double time_allreduce(const rd_dist *d, size_t n, int iters)
{
    float *buf = rd_calloc(n, sizeof(float));
    double *t = rd_malloc((size_t)iters * sizeof *t);
    rd_dist_allreduce_floats(d, buf, n);   /* warm-up */
    for (int i = 0; i < iters; i++) {
        rd_dist_barrier(d);
        double t0 = rd_now();
        rd_dist_allreduce_floats(d, buf, n);
        t[i] = rd_now() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    double med = t[iters / 2];
    free(t);
    free(buf);
    return med;
}

/* The allreduce at a few sizes up to the bucket; returns seconds per byte at the largest. */
static double check_network(report *r, const rank_facts *all, double bucket_mb)
{
    const rd_dist *d = r->d;
    if (d->size < 2) {
        line(r, true, "network: 1 rank, no allreduce to measure (run under mpirun for the network checks)");
        return 0.0;
    }
    size_t top = (size_t)(bucket_mb * 1048576.0);
    size_t sizes[4] = {4096, 65536, 1048576, top};
    int ns = top > 1048576 ? 4 : 3;
    double per_byte = 0.0;
    for (int i = 0; i < ns; i++) {
        size_t bytes = sizes[i];
        double t = time_allreduce(d, bytes / sizeof(float), bytes > 1048576 ? 5 : 15);
        double busbw = 2.0 * (d->size - 1) / d->size * (double)bytes / t / 1e9;
        line(r, true, "allreduce %8.0f KB over %d ranks: %8.3f ms, bus bandwidth %.2f GB/s", bytes / 1024.0, d->size,
             1e3 * t, busbw);
        per_byte = t / (double)bytes;
    }
    /* node pairs: one leader per node, ping-pong at up to 4 MB */
    int leaders[256], nl = 0;
    for (int i = 0; i < d->size && nl < 256; i++)
        if (all[i].local_rank == 0) leaders[nl++] = i;
    if (nl < 2) {
        line(r, true, "node pairs: all %d ranks on one node (%s)", d->size, all[0].host);
        return per_byte;
    }
    size_t pp = top < 4194304 ? top : 4194304;
    double worst = 0.0;
    int wa = 0, wb = 0;
    for (int i = 0; i < nl; i++)
        for (int j = i + 1; j < nl; j++) {
            rd_dist_barrier(d);
            double t = rd_dist_pingpong(d, leaders[i], leaders[j], pp, 3);
            double v = d->rank == leaders[i] ? t : 0.0;
            rd_dist_allreduce_doubles(d, &v, 1);
            if (v > worst) { worst = v; wa = leaders[i]; wb = leaders[j]; }
        }
    line(r, true, "slowest node pair: %s - %s, %.0f KB round trip %.3f ms (%.2f GB/s each way)", all[wa].host,
         all[wb].host, pp / 1024.0, 1e3 * worst, 2.0 * (double)pp / worst / 1e9);
    return per_byte;
}

/* The nearest existing folder at or above path. */
static void existing_parent(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path[0] ? path : ".");
    struct stat st;
    while (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(out, '/');
        if (!slash) { snprintf(out, n, "."); return; }
        if (slash == out) { out[1] = '\0'; return; }
        *slash = '\0';
    }
}

static void check_folder(report *r, const char *run_dir, double ckpt_bytes, long keep)
{
    int rc = 0;
    char dir[RD_PATH_MAX], path[RD_PATH_MAX + 64], why[256] = "";
    double mbps = 0.0, free_b = 0.0, need = ckpt_bytes * (double)(keep + 1);
    if (r->d->rank == 0) {
        existing_parent(run_dir, dir, sizeof dir);
        struct statvfs vfs;
        if (statvfs(dir, &vfs) == 0) free_b = (double)vfs.f_bavail * (double)vfs.f_frsize;
        snprintf(path, sizeof path, "%s/.rdrop-doctor.%ld.tmp", dir, (long)getpid());
        size_t total = (size_t)fmin(fmax(ckpt_bytes, 8.0 * 1048576.0), 64.0 * 1048576.0), chunk = 1048576;
        char *buf = rd_calloc(chunk, 1);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        double t0 = rd_now();
        if (fd < 0) { rc = 1; snprintf(why, sizeof why, "cannot create a file there: %s", strerror(errno)); }
        for (size_t done = 0; !rc && done < total; done += chunk) {
            ssize_t w = write(fd, buf, chunk);
            if (w != (ssize_t)chunk) { rc = 1; snprintf(why, sizeof why, "write failed: %s", w < 0 ? strerror(errno) : "short write"); }
        }
        if (!rc && fsync(fd) != 0) { rc = 1; snprintf(why, sizeof why, "fsync failed: %s", strerror(errno)); }
        double dt = rd_now() - t0;
        if (fd >= 0) { close(fd); unlink(path); }
        free(buf);
        if (!rc) mbps = (double)total / 1048576.0 / dt;
    }
    bool room = free_b >= need;
    if (rc) line(r, false, "run folder %s: %s", run_dir, why);
    else line(r, true, "run folder %s: write+fsync %.0f MB/s (a checkpoint of %.1f MB in %.2f s)", run_dir, mbps,
              ckpt_bytes / 1048576.0, mbps > 0 ? ckpt_bytes / 1048576.0 / mbps : 0.0);
    line(r, room, "free space %.1f MB for checkpoints of %.1f MB x (checkpoint.keep %ld + 1 being written) = %.1f MB%s",
         free_b / 1048576.0, ckpt_bytes / 1048576.0, keep, need / 1048576.0, room ? "" : ": not enough");
}

static void print_versions(const rd_dist *d)
{
    if (d->rank != 0) return;
    char mpi[160], h5[32];
    rd_dist_mpi_version(mpi, sizeof mpi);
    rd_ckpt_hdf5_version(h5, sizeof h5);
    printf("versions rdrop %s; %s; HDF5 %s; OpenBLAS %s\n", RDROP_VERSION, mpi, h5, rd_blas_version());
}

/* FLOPs of one step's GEMMs on this rank (rows = passes x local batch): forward, dW, and dX
 * of every layer but the first with parameters. */
static double step_flops(const rd_model *m, int rows, int *big)
{
    double f = 0.0, most = 0.0;
    bool first = true;
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        if (!rd_layer_has_params(L)) continue;
        /* dense: [rows x in] x [in x out]; conv2d: [rows*OH*OW x KH*KW*C_in] x [.. x C_out] */
        const double M = L->kind == RD_LAYER_CONV2D ? (double)rows * L->g.OH * L->g.OW : rows;
        double g = 2.0 * M * (double)L->k_rows * L->k_cols;
        f += g * (first ? 2.0 : 3.0);
        first = false;
        if (g > most) { most = g; *big = i; }
    }
    return f;
}

static int predict(report *r, const rd_config *c, double per_byte, double *ckpt_bytes)
{
    const rd_dist *d = r->d;
    rd_dataset train, test;
    rd_error e = {0};
    int rc = rd_load_datasets(c, &train, &test, &e);
    if (rc) {
        rd_print_error(d, e.msg);
        return 2;
    }
    rd_model m;
    int B_l = (int)((c->data.batch_size + d->size - 1) / d->size), rows = c->rdrop.passes * B_l;
    rc = rd_model_create_for(&m, c, &train, rows, &e);
    long spe = c->data.batch_size > 0 ? (long)((train.n - (uint32_t)c->data.validation) / (uint32_t)c->data.batch_size) : 0;
    if (c->data.train_samples > 0) spe = c->data.train_samples / c->data.batch_size;
    rd_data_free(&train);
    rd_data_free(&test);
    if (rc) {
        rd_print_error(d, e.msg);
        return 2;
    }
    int big = -1;
    double flops = step_flops(&m, rows, &big), gf = 0.0;
    if (big >= 0)
        gf = rd_blas_gflops(rd_layer_gemm_m(&m.layers[big], rows), m.layers[big].k_cols, m.layers[big].k_rows, 0.1);
    double compute = gf > 0 ? flops / (gf * 1e9) : 0.0;
    double bytes = (double)(m.n_params + RD_CONTROL_FLOATS) * sizeof(float);
    double comm = per_byte * bytes;
    size_t n_params = m.n_params;
    *ckpt_bytes = 2.0 * sizeof(float) * (double)n_params + 1048576.0;   /* weights, momentum, metadata */
    rd_model_free(&m);
    if (r->d->rank == 0) {
        printf("predict  %zu parameters, %.2f GFLOP of GEMM per rank per step at %.1f GF/s (this rank's kernel on the "
               "step's largest GEMM shape)\n", n_params, flops / 1e9, gf);
        printf("         step >= %.1f ms GEMM + %.1f ms allreduce of %.1f MB (%.1f ms if fully overlapped); "
               "epoch of %ld steps: %.1f - %.1f s\n", 1e3 * compute, 1e3 * comm, bytes / 1048576.0,
               1e3 * fmax(compute, comm), spe, spe * fmax(compute, comm), spe * (compute + comm));
        printf("         (GEMMs only: the elementwise work, masks and the optimizer add 10-30%%: tests/bench measures it)\n");
    }
    return 0;
}

int rd_doctor_run(const rd_config *c, rd_dist *d)
{
    double t0 = rd_now();
    report r = {.d = d};
    int threads = c ? c->run.blas_threads : 1;
    openblas_set_num_threads(threads);
    if (d->rank == 0) {
        printf("rdrop doctor: %d rank%s%s%s\n", d->size, d->size == 1 ? "" : "s", c ? ", config " : "",
               c ? c->run.out : "");
        fflush(stdout);
    }
    print_versions(d);
    rank_facts mine, *all = rd_calloc((size_t)d->size, sizeof *all);
    my_facts(&mine, d, threads);
    if (rd_dist_allgather_bytes(d, &mine, all, sizeof mine)) {
        free(all);
        return 2;
    }
    check_kernels(&r, all, d->size);
    check_cores(&r, all, d->size);
    double per_byte = check_network(&r, all, c ? c->dist.bucket_mb : 25.0);
    double ckpt = 16.0 * 1048576.0;   /* without a config: a mid-sized model */
    int rc = c ? predict(&r, c, per_byte, &ckpt) : 0;
    check_folder(&r, c ? c->run.out : ".", ckpt, c ? c->checkpoint.keep : 1);
    free(all);
    int problems = rd_dist_max_int(d, r.problems);
    if (d->rank == 0) {
        printf("doctor: %s (%.1f s)\n", rc ? "could not finish" : problems ? "problems found" : "all checks ok",
               rd_now() - t0);
        fflush(stdout);
    }
    return rc ? 2 : problems ? 1 : 0;
}
