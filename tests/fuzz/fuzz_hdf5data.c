/* libFuzzer target: the HDF5 data reader's own checks (rd_data_load_hdf5, rd_data_check_classes,
 * the streamed gather), structure-aware.
 *
 * The input does not become the file's bytes (that would fuzz libhdf5's metadata parser, whose
 * known crashes are what tests/fuzz/hdf5-findings holds); it chooses a WELL-FORMED file's
 * structure: whether X and y exist, their ranks, extents, dtypes (uint8, int16, float32,
 * float64 for X; int8..uint64, float for y), chunking and gzip, label values (negative, huge),
 * NaN/Inf positions, and data.classes. The file is written with the HDF5 API and read back in
 * memory and stream mode. Invariants: 0 or RD_EXIT_DATA only; an error is one line that starts
 * with the file's path and key; a failed load leaves *d zeroed; an accepted set has n >= 1,
 * rows x cols x channels = features, every label in [0, classes), finite float X, and the
 * streamed gather returns the bytes the in-memory gather returns.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "data.h"

static char dir[256], path[300];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("RDROP_FUZZ_TMP");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/rdrop-fuzz-h5.XXXXXX", base);
    if (!mkdtemp(dir)) { perror("mkdtemp"); abort(); }
    snprintf(path, sizeof path, "%s/data.h5", dir);
    atexit(cleanup);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

typedef struct { const uint8_t *p; size_t n, i; } bytes;
static unsigned take(bytes *b) { return b->i < b->n ? b->p[b->i++] : 0; }

static const hid_t *x_types(void)
{
    static hid_t t[4];
    t[0] = H5T_STD_U8LE; t[1] = H5T_STD_I16LE; t[2] = H5T_IEEE_F32LE; t[3] = H5T_IEEE_F64LE;
    return t;
}

static const hid_t *y_types(void)
{
    static hid_t t[6];
    t[0] = H5T_STD_I8LE; t[1] = H5T_STD_U8LE; t[2] = H5T_STD_I32LE; t[3] = H5T_STD_I64LE; t[4] = H5T_STD_U64LE;
    t[5] = H5T_IEEE_F32LE;
    return t;
}

/* Writes the file the input describes; returns data.classes (0 = from the labels). */
static long write_file(bytes *b)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) abort();
    unsigned flags = take(b);
    hsize_t n = take(b) % 40;                          /* 0..39 samples, 0 = empty */
    int xrank = 1 + (int)(take(b) % 5);                /* 1..5: 2..4 are valid */
    hsize_t xd[5] = {n, 1 + take(b) % 4, 1 + take(b) % 4, 1 + take(b) % 3, 2};
    hid_t xt = x_types()[take(b) % 4];
    if (!(flags & 1)) {                                /* X present */
        hid_t sp = H5Screate_simple(xrank, xd, NULL);
        hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
        if ((flags & 2) && n > 0) {
            hsize_t cd[5];
            for (int i = 0; i < xrank; i++) cd[i] = xd[i];
            cd[0] = 1 + take(b) % n;
            if (xrank > 1 && (flags & 16)) cd[1] = 1;  /* chunks that split samples */
            H5Pset_chunk(pl, xrank, cd);
            if (flags & 4) H5Pset_deflate(pl, 1);
        }
        hid_t d = H5Dcreate2(f, "X", xt, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        hsize_t total = 1;
        for (int i = 0; i < xrank; i++) total *= xd[i];
        double *v = malloc((total ? total : 1) * sizeof *v);
        for (hsize_t i = 0; i < total; i++) {
            unsigned c = take(b);
            v[i] = c == 255 ? NAN : c == 254 ? INFINITY : (double)c;
        }
        if (d >= 0 && total) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
        if (d >= 0) H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(sp);
    }
    if (!(flags & 8)) {                                /* y present */
        /* a length off by -1..+1 when flag 32 is set (never below 0: with n = 0 and -1 the
         * unsigned length wrapped, and the harness asked malloc for 2^64 bytes) */
        hsize_t yn = n;
        if (flags & 32) {
            hsize_t less = take(b) % 3;
            yn = n + 1 >= less ? n + 1 - less : 0;
        }
        hsize_t yd[2] = {yn, 1 + (take(b) % 2)};
        int yrank = 1 + (flags & 64 ? 1 : 0);
        hid_t sp = H5Screate_simple(yrank, yd, NULL);
        hid_t d = H5Dcreate2(f, "y", y_types()[take(b) % 6], sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t total = yn * (yrank == 2 ? yd[1] : 1);
        int64_t *v = malloc((total ? total : 1) * sizeof *v);
        for (hsize_t i = 0; i < total; i++) {
            unsigned c = take(b);
            v[i] = c == 255 ? -1 : c == 254 ? (int64_t)1 << 40 : (int64_t)(c % 12);
        }
        if (d >= 0 && total) H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
    }
    H5Fclose(f);
    unsigned k = take(b);
    return k < 128 ? 0 : (long)(k % 16);
}

static void check_error(int rc, const rd_error *e, const rd_dataset *d)
{
    if (rc != RD_EXIT_DATA) { fprintf(stderr, "unexpected exit code %d: %s\n", rc, e->msg); abort(); }
    if (strncmp(e->msg, path, strlen(path)) || strncmp(e->msg + strlen(path), ": data.train_file: ", 19) ||
        strchr(e->msg, '\n')) {
        fprintf(stderr, "bad error message: [%s]\n", e->msg);
        abort();
    }
    if (d->n || d->features || d->x || d->xf || d->y || d->stream) { fprintf(stderr, "failed load left data\n"); abort(); }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) LLVMFuzzerInitialize(NULL, NULL);
    bytes b = {data, size, 0};
    long classes = write_file(&b);
    rd_dataset mem, str;
    rd_error e = {0};
    rd_hdf5_source src = {path, "data.train_file", "/X", "/y", false};
    memset(&mem, 0xa5, sizeof mem);
    int rc = rd_data_load_hdf5(&mem, &src, "", &e);
    src.stream = true;
    memset(&str, 0xa5, sizeof str);
    rd_error es = {0};
    int rs = rd_data_load_hdf5(&str, &src, "", &es);
    if (rc != rs || strcmp(e.msg, es.msg)) {
        fprintf(stderr, "memory and stream disagree: %d [%s] vs %d [%s]\n", rc, e.msg, rs, es.msg);
        abort();
    }
    if (rc) {
        check_error(rc, &e, &mem);
        check_error(rs, &es, &str);
        return 0;
    }
    uint32_t K = classes > 0 ? (uint32_t)classes : mem.classes;
    rc = rd_data_check_classes(&mem, K, path, "data.train_file", "/y", &e);
    if (rc && rc != RD_EXIT_DATA) abort();
    if (mem.n < 1 || mem.rows * mem.cols * mem.channels != mem.features || (!mem.x) == (!mem.xf) || !mem.y) {
        fprintf(stderr, "inconsistent set: n %u features %u = %u x %u x %u\n", mem.n, mem.features, mem.rows, mem.cols,
                mem.channels);
        abort();
    }
    for (uint32_t i = 0; i < mem.n; i++) {
        if (mem.y[i] < 0 || (!rc && (uint32_t)mem.y[i] >= K)) { fprintf(stderr, "label %d accepted\n", mem.y[i]); abort(); }
    }
    uint32_t idx[64];
    for (uint32_t i = 0; i < 64; i++) idx[i] = (take(&b) + i * 7) % mem.n;
    float *a = malloc((size_t)64 * mem.features * sizeof *a), *c = malloc((size_t)64 * mem.features * sizeof *c);
    int32_t ya[64], yc[64];
    rd_data_prefetch(&str, idx + 32, 32);
    rd_data_gather(&mem, idx, 64, a, ya);
    if (rd_data_fetch(&str, idx, 64, &e)) { fprintf(stderr, "stream read failed: %s\n", e.msg); abort(); }
    rd_data_gather(&str, idx, 64, c, yc);
    for (size_t i = 0; i < (size_t)64 * mem.features; i++)
        if (!isfinite(a[i])) { fprintf(stderr, "non-finite X accepted\n"); abort(); }
    if (memcmp(a, c, (size_t)64 * mem.features * sizeof *a) || memcmp(ya, yc, sizeof ya)) {
        fprintf(stderr, "streamed gather differs from the in-memory one\n");
        abort();
    }
    free(a);
    free(c);
    rd_data_free(&mem);
    rd_data_free(&str);
    return 0;
}
