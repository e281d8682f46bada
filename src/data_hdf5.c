/* data_hdf5.c - HDF5 data sets (docs/data.md "Data from HDF5"): X [N,H,W,C], [N,H,W] or
 * [N,D] in uint8 or float32, y [N] of any integer type. data.load: memory reads X whole;
 * stream leaves it in the file and an I/O thread per set reads each requested batch (this
 * rank's slice only) with one hyperslab selection over its sorted indices, while the
 * caller computes on the previous one. Debian's libhdf5 is built without thread safety, so
 * every HDF5 call made while such a thread may run holds rd_hdf5_lock. Also `rdrop
 * convert` (IDX -> HDF5) and `rdrop data FILE`.
 */
#include "data.h"
#include "config.h"   /* RD_PATH_MAX */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

/* Refused from the shapes alone (as for IDX); memory mode also limits X's bytes. */
#define MAX_SAMPLES (1ull << 28)
#define MAX_FEATURES (1ull << 24)
#define MAX_MEMORY_BYTES (1ull << 33)
/* Rows per block when X is scanned for NaN/Inf or min/max: about this many bytes. */
#define SCAN_BYTES ((size_t)8 << 20)
#define NSLOTS 4

/* ---------------------------------------------------------------- the HDF5 lock */

static pthread_mutex_t hdf5_mutex = PTHREAD_MUTEX_INITIALIZER;

void rd_hdf5_lock(void) { pthread_mutex_lock(&hdf5_mutex); }
void rd_hdf5_unlock(void) { pthread_mutex_unlock(&hdf5_mutex); }

/* The innermost message of HDF5's error stack ("truncated file: eof = ..."), or "". */
static herr_t innermost(unsigned n, const H5E_error2_t *err, void *data)
{
    if (n == 0 && err->desc) snprintf(data, 200, "%s", err->desc);
    return 0;
}

static const char *h5_reason(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---------------------------------------------------------------- one opened set */

typedef struct {
    char path[RD_PATH_MAX], key[64];
    char xname[RD_PATH_MAX + 16], yname[RD_PATH_MAX + 16];
    hid_t file, dx, dy;
    int xrank;
    hsize_t xdims[4];
    bool is_float;
    bool filtered;            /* X compressed (or otherwise filtered) */
    hsize_t chunk_rows;       /* rows per chunk of X, 0 = contiguous */
    uint64_t n, features;
    /* Direct reads (stream, unfiltered X whose chunks hold whole samples, native byte order,
     * no user block): the file offset of every chunk, found once through HDF5; the I/O thread
     * then reads rows with pread (docs/data.md: HDF5's own per-row path cost ~110 us/row). */
    int fd;                   /* -1 = read through HDF5 */
    uint64_t *chunk_addr;     /* [ceil(n / rows_per_chunk)] */
    uint64_t rows_per_chunk, row_bytes;
} h5set;

static int fail_set(rd_error *e, const h5set *s, const char *dset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "PATH: KEY: DATASET: what" (DATASET omitted when NULL). */
static int fail_set(rd_error *e, const h5set *s, const char *dset, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (dset) return rd_fail(e, RD_EXIT_DATA, "%s: %s: %s: %s", s->path, s->key, dset, what);
    return rd_fail(e, RD_EXIT_DATA, "%s: %s: %s", s->path, s->key, what);
}

static void close_set(h5set *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    free(s->chunk_addr);
    s->chunk_addr = NULL;
    if (s->dx > 0) H5Dclose(s->dx);   /* hid_t 0 is never a valid identifier */
    if (s->dy > 0) H5Dclose(s->dy);
    if (s->file > 0) H5Fclose(s->file);
    s->dx = s->dy = s->file = 0;
}

static const char *type_name(hid_t t, char *buf, size_t cap)
{
    H5T_class_t cl = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cl == H5T_INTEGER)
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * size);
    else if (cl == H5T_FLOAT) snprintf(buf, cap, "float%zu", 8 * size);
    else if (cl == H5T_STRING) snprintf(buf, cap, "string");
    else if (cl == H5T_COMPOUND) snprintf(buf, cap, "compound");
    else snprintf(buf, cap, "class %d, %zu bytes", (int)cl, size);
    return buf;
}

static void join_name(char *out, size_t cap, const char *group, const char *name)
{
    snprintf(out, cap, "%s%s%s", group, name[0] == '/' ? "" : "/", name);
}

static int open_dataset(h5set *s, const char *name, hid_t dapl, hid_t *out, rd_error *e)
{
    char why[200];
    *out = H5Dopen2(s->file, name, dapl);
    if (*out < 0) {
        *out = 0;
        h5_reason(why);
        return fail_set(e, s, name, "no such dataset in the file%s%s%s", why[0] ? " (HDF5: " : "", why,
                        why[0] ? ")" : "");
    }
    return 0;
}

/* Opens the file and both datasets and checks ranks, dtypes, lengths and sizes. */
static int open_set(h5set *s, const char *group, const char *images, const char *labels, bool stream,
                    rd_error *e)
{
    char why[200];
    join_name(s->xname, sizeof s->xname, group, images);
    join_name(s->yname, sizeof s->yname, group, labels);
    if (access(s->path, R_OK) != 0) return fail_set(e, s, NULL, "cannot open: %s", strerror(errno));
    htri_t is = H5Fis_hdf5(s->path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail_set(e, s, NULL, "not an HDF5 file");
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    s->file = H5Fopen(s->path, H5F_ACC_RDONLY, fapl);
    if (s->file < 0) h5_reason(why);   /* before the next call clears the error stack */
    H5Pclose(fapl);
    if (s->file < 0) {
        s->file = 0;
        return fail_set(e, s, NULL, "truncated or corrupt HDF5 file (HDF5: %s)", why[0] ? why : "cannot open");
    }
    /* Streamed, unfiltered X: a chunk cache of 0 bytes makes HDF5 read just the selected
     * rows from the file (docs/data.md); filtered chunks are decompressed whole either way. */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (stream) H5Pset_chunk_cache(dapl, 521, 0, 1.0);
    int rc = open_dataset(s, s->xname, dapl, &s->dx, e);
    H5Pclose(dapl);
    if (!rc) rc = open_dataset(s, s->yname, H5P_DEFAULT, &s->dy, e);
    if (rc) return rc;

    char tn[64];
    hid_t sp = H5Dget_space(s->dx), ty = H5Dget_type(s->dx);
    s->xrank = H5Sget_simple_extent_ndims(sp);
    if (s->xrank >= 2 && s->xrank <= 4) H5Sget_simple_extent_dims(sp, s->xdims, NULL);
    H5Sclose(sp);
    H5T_class_t cl = H5Tget_class(ty);
    size_t sz = H5Tget_size(ty);
    bool u8 = cl == H5T_INTEGER && sz == 1 && H5Tget_sign(ty) == H5T_SGN_NONE;
    s->is_float = cl == H5T_FLOAT && sz == 4;
    type_name(ty, tn, sizeof tn);
    H5Tclose(ty);
    if (s->xrank < 2 || s->xrank > 4)
        return fail_set(e, s, s->xname, "rank %d, expected 2, 3 or 4 ([N,D], [N,H,W] or [N,H,W,C])", s->xrank);
    if (!u8 && !s->is_float)
        return fail_set(e, s, s->xname, "unsupported dtype %s: X must be uint8 (scaled by 1/255) or float32", tn);
    hid_t pl = H5Dget_create_plist(s->dx);
    s->filtered = H5Pget_nfilters(pl) > 0;
    if (H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t cd[4] = {0};
        H5Pget_chunk(pl, 4, cd);
        s->chunk_rows = cd[0];
    }
    H5Pclose(pl);

    sp = H5Dget_space(s->dy);
    ty = H5Dget_type(s->dy);
    int yrank = H5Sget_simple_extent_ndims(sp);
    hsize_t yd[2] = {0, 0};
    if (yrank == 1 || yrank == 2) H5Sget_simple_extent_dims(sp, yd, NULL);
    H5Sclose(sp);
    cl = H5Tget_class(ty);
    type_name(ty, tn, sizeof tn);
    H5Tclose(ty);
    if (yrank != 1 && !(yrank == 2 && yd[1] == 1))
        return fail_set(e, s, s->yname, "rank %d, expected [N] (or [N,1]) integer labels", yrank);
    if (cl != H5T_INTEGER)
        return fail_set(e, s, s->yname, "unsupported dtype %s: labels must be integers", tn);

    s->n = s->xdims[0];
    uint64_t f = 1;
    for (int i = 1; i < s->xrank; i++) f *= s->xdims[i];
    s->features = f;
    if (yd[0] != s->n)
        return fail_set(e, s, s->xname, "%llu samples but %s has %llu labels", (unsigned long long)s->n,
                        s->yname, (unsigned long long)yd[0]);
    if (s->n == 0) return fail_set(e, s, s->xname, "no samples (N = 0)");
    if (s->n > MAX_SAMPLES)
        return fail_set(e, s, s->xname, "%llu samples, more than the limit of %llu (2^28)",
                        (unsigned long long)s->n, MAX_SAMPLES);
    if (f == 0 || f > MAX_FEATURES)
        return fail_set(e, s, s->xname, "%llu values per sample (allowed 1..%llu)", (unsigned long long)f,
                        MAX_FEATURES);
    uint64_t bytes = s->n * f * (s->is_float ? 4 : 1);
    if (!stream && (bytes > MAX_MEMORY_BYTES || bytes > SIZE_MAX))
        return fail_set(e, s, s->xname, "%llu bytes of X, more than data.load: memory allows (%llu); "
                        "use data.load: stream", (unsigned long long)bytes, MAX_MEMORY_BYTES);
    return 0;
}

/* Finds where every chunk of X lies in the file, if X can be read directly (see h5set).
 * Leaves s->fd = -1 (HDF5 reads) when it cannot. */
static void setup_direct(h5set *s)
{
    s->fd = -1;
    hid_t ty = H5Dget_type(s->dx), fcpl = H5Fget_create_plist(s->file);
    hsize_t ub = 1;
    H5Pget_userblock(fcpl, &ub);
    H5Pclose(fcpl);
    bool native = !s->is_float || H5Tequal(ty, H5T_NATIVE_FLOAT) > 0;
    H5Tclose(ty);
    if (s->filtered || !native || ub != 0) return;
    s->row_bytes = s->features * (s->is_float ? 4 : 1);
    uint64_t nchunks;
    if (s->chunk_rows == 0) {             /* contiguous: one "chunk" of every row */
        haddr_t a = H5Dget_offset(s->dx);
        if (a == HADDR_UNDEF) { H5Eclear2(H5E_DEFAULT); return; }
        s->rows_per_chunk = s->n;
        s->chunk_addr = rd_malloc(sizeof *s->chunk_addr);
        s->chunk_addr[0] = a;
        nchunks = 1;
    } else {
        hid_t pl = H5Dget_create_plist(s->dx);
        hsize_t cd[4] = {0};
        H5Pget_chunk(pl, 4, cd);
        H5Pclose(pl);
        for (int i = 1; i < s->xrank; i++)
            if (cd[i] != s->xdims[i]) return;   /* a chunk holds parts of samples */
        s->rows_per_chunk = s->chunk_rows;
        nchunks = (s->n + s->chunk_rows - 1) / s->chunk_rows;
        s->chunk_addr = rd_malloc((size_t)nchunks * sizeof *s->chunk_addr);
        for (uint64_t c = 0; c < nchunks; c++) {
            hsize_t off[4] = {c * s->chunk_rows, 0, 0, 0};
            unsigned mask = 0;
            haddr_t a = HADDR_UNDEF;
            hsize_t size = 0;
            if (H5Dget_chunk_info_by_coord(s->dx, off, &mask, &a, &size) < 0 || a == HADDR_UNDEF ||
                size < s->chunk_rows * s->row_bytes) {   /* never written (fill values) or odd */
                H5Eclear2(H5E_DEFAULT);
                free(s->chunk_addr);
                s->chunk_addr = NULL;
                return;
            }
            s->chunk_addr[c] = a;
        }
    }
    s->fd = open(s->path, O_RDONLY);
    if (s->fd < 0) {
        s->fd = -1;
        free(s->chunk_addr);
        s->chunk_addr = NULL;
    }
}

/* Rows [first, first+count) of X into buf (native uint8 or float); on failure HDF5's reason
 * in why[200]. */
static int read_rows(const h5set *s, uint64_t first, uint64_t count, void *buf, char *why)
{
    hsize_t start[4] = {first, 0, 0, 0}, cnt[4] = {count, 0, 0, 0};
    for (int i = 1; i < s->xrank; i++) cnt[i] = s->xdims[i];
    hid_t fs = H5Dget_space(s->dx);
    /* The memory space has the file's shape: a different one sends HDF5 down its slow
     * element-by-element path (2.1 s instead of 0.1 s for Fashion-MNIST's 47 MB). */
    hsize_t md[4] = {count, 1, 1, 1};
    for (int i = 1; i < s->xrank; i++) md[i] = s->xdims[i];
    hid_t ms = H5Screate_simple(s->xrank, md, NULL);
    herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
    if (r >= 0) r = H5Dread(s->dx, s->is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, buf);
    if (r < 0) h5_reason(why);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? -1 : 0;
}

static uint64_t scan_rows(const h5set *s)
{
    uint64_t rows = SCAN_BYTES / (s->features * (s->is_float ? 4 : 1));
    if (s->chunk_rows > 0 && rows > s->chunk_rows) rows -= rows % s->chunk_rows;   /* whole chunks */
    return rows ? rows : 1;
}

/* The first NaN/Inf of rows [first, first+count) of float X, as "sample I (value F)". */
static bool find_nonfinite(const float *x, uint64_t count, uint64_t features, uint64_t first, char *where,
                           size_t cap)
{
    for (uint64_t i = 0; i < count * features; i++)
        if (!isfinite(x[i])) {
            snprintf(where, cap, "%s at sample %llu (value %llu of the sample)", isnan(x[i]) ? "NaN" : "Inf",
                     (unsigned long long)(first + i / features), (unsigned long long)(i % features));
            return true;
        }
    return false;
}

/* X whole into d->x / d->xf, or (stream) a pass over float X chunk by chunk for NaN/Inf. */
static int read_x(h5set *s, rd_dataset *d, bool stream, rd_error *e)
{
    char why[200], where[128];
    if (!stream) {
        size_t bytes = (size_t)(s->n * s->features * (s->is_float ? 4 : 1));
        void *buf = malloc(bytes ? bytes : 1);
        if (!buf) return rd_fail(e, RD_EXIT_INTERNAL, "%s: out of memory (%zu bytes of X)", s->path, bytes);
        if (read_rows(s, 0, s->n, buf, why)) {
            free(buf);
            return fail_set(e, s, s->xname, "cannot read (truncated or corrupt? HDF5: %s)", why);
        }
        if (s->is_float && find_nonfinite(buf, s->n, s->features, 0, where, sizeof where)) {
            free(buf);
            return fail_set(e, s, s->xname, "%s: float X must be finite", where);
        }
        if (s->is_float) d->xf = buf;
        else d->x = buf;
        return 0;
    }
    uint64_t rows = scan_rows(s);
    void *buf = rd_malloc((size_t)(rows * s->features * (s->is_float ? 4 : 1)));
    int rc = 0;
    for (uint64_t i = 0; !rc && i < s->n; i += rows) {
        uint64_t k = s->n - i < rows ? s->n - i : rows;
        if (read_rows(s, i, k, buf, why)) {
            rc = fail_set(e, s, s->xname, "cannot read samples %llu..%llu (truncated or corrupt? HDF5: %s)",
                          (unsigned long long)i, (unsigned long long)(i + k - 1), why);
        } else if (s->is_float && find_nonfinite(buf, k, s->features, i, where, sizeof where)) {
            rc = fail_set(e, s, s->xname, "%s: float X must be finite", where);
        }
        if (!s->is_float) break;   /* uint8 cannot hold a NaN: one block shows X is readable */
    }
    free(buf);
    return rc;
}

/* y in blocks of LABEL_BLOCK (as int64, so every integer type converts exactly) into
 * d->y (int32); every label must be in [0, 2^24). */
#define LABEL_BLOCK ((uint64_t)1 << 20)

static int read_labels(h5set *s, rd_dataset *d, rd_error *e)
{
    char why[200] = "";
    const uint64_t blk = s->n < LABEL_BLOCK ? s->n : LABEL_BLOCK;
    int64_t *v = rd_malloc((size_t)blk * sizeof *v);
    d->y = rd_malloc((size_t)s->n * sizeof *d->y);
    hid_t fs = H5Dget_space(s->dy);
    int64_t max = 0;
    int rc = 0;
    for (uint64_t i = 0; !rc && i < s->n; i += blk) {
        hsize_t k = s->n - i < blk ? s->n - i : blk, start[2] = {i, 0}, cnt[2] = {k, 1};
        hid_t ms = H5Screate_simple(1, &k, NULL);
        herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        if (r >= 0) r = H5Dread(s->dy, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, v);
        if (r < 0) h5_reason(why);
        H5Sclose(ms);
        if (r < 0) {
            rc = fail_set(e, s, s->yname, "cannot read (truncated or corrupt? HDF5: %s)", why);
            break;
        }
        for (uint64_t j = 0; j < k; j++) {
            if (v[j] < 0 || v[j] >= (int64_t)1 << 24) {
                rc = fail_set(e, s, s->yname, "label %lld at index %llu is out of range (labels are 0..%d)",
                              (long long)v[j], (unsigned long long)(i + j), (1 << 24) - 1);
                break;
            }
            d->y[i + j] = (int32_t)v[j];
            if (v[j] > max) max = v[j];
        }
    }
    H5Sclose(fs);
    free(v);
    if (!rc) d->classes = (uint32_t)max + 1;
    return rc;
}

/* ---------------------------------------------------------------- the stream */

enum { SLOT_FREE = 0, SLOT_QUEUED, SLOT_BUSY, SLOT_READY };

typedef struct {
    int state;
    uint64_t seq;             /* request order: the I/O thread serves the oldest first */
    uint32_t count, cap;
    uint32_t *idx;            /* the rows as requested */
    uint64_t *key;            /* (index << 32 | position), sorted */
    uint32_t *at;             /* at[i] = row of idx[i] in buf */
    void *buf;                /* [unique rows x features], ascending index order */
    int err;
    char msg[600];
} slot;

struct rd_stream {
    h5set s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit, started;
    uint64_t next_seq;
    slot slots[NSLOTS];
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Direct reads: one pread per run of consecutive rows inside one chunk, in ascending order.
 * The rows' places in buf (sl->at) were set by read_slot. */
static int read_direct(const h5set *s, const slot *sl, char *why)
{
    uint32_t u = 0;
    for (uint32_t i = 0; i < sl->count;) {
        uint64_t row = sl->key[i] >> 32, len = 1;
        uint64_t c = row / s->rows_per_chunk;
        while (++i < sl->count) {
            uint64_t v = sl->key[i] >> 32;
            if (v == row + len - 1) continue;                 /* repeated index */
            if (v != row + len || v / s->rows_per_chunk != c) break;
            len++;
        }
        size_t bytes = (size_t)(len * s->row_bytes);
        off_t at = (off_t)(s->chunk_addr[c] + (row - c * s->rows_per_chunk) * s->row_bytes);
        char *dst = (char *)sl->buf + (size_t)u * s->row_bytes;
        size_t got = 0;
        while (got < bytes) {
            ssize_t r = pread(s->fd, dst + got, bytes - got, at + (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                snprintf(why, 200, "%s", r < 0 ? strerror(errno) : "short read: the file was truncated");
                return -1;
            }
            got += (size_t)r;
        }
        u += (uint32_t)len;
    }
    return 0;
}

/* One hyperslab selection of the slot's rows, runs of consecutive indices merged, in
 * ascending order (HDF5 then visits each chunk once); one H5Dread, with the HDF5 lock held.
 * Or direct reads (no HDF5 call). */
static void read_slot(struct rd_stream *st, slot *sl)
{
    const h5set *s = &st->s;
    for (uint32_t i = 0; i < sl->count; i++) sl->key[i] = (uint64_t)sl->idx[i] << 32 | i;
    qsort(sl->key, sl->count, sizeof *sl->key, cmp_u64);
    if (s->fd >= 0) {
        uint32_t u = 0;
        for (uint32_t i = 0; i < sl->count; i++) {
            if (i > 0 && sl->key[i] >> 32 != sl->key[i - 1] >> 32) u++;
            sl->at[(uint32_t)sl->key[i]] = u;
        }
        char why[200];
        sl->err = 0;
        if (read_direct(s, sl, why)) {
            sl->err = RD_EXIT_DATA;
            snprintf(sl->msg, sizeof sl->msg, "%s: %s: %s: cannot read %u samples during training (%s)", s->path,
                     s->key, s->xname, sl->count, why);
        }
        return;
    }
    hid_t fs = H5Dget_space(s->dx);
    hsize_t start[4] = {0, 0, 0, 0}, cnt[4] = {0, 0, 0, 0};
    for (int i = 1; i < s->xrank; i++) cnt[i] = s->xdims[i];
    uint32_t uniq = 0;
    herr_t r = 0;
    for (uint32_t i = 0; i < sl->count && r >= 0;) {
        uint32_t first = (uint32_t)(sl->key[i] >> 32), len = 0;
        /* a run: first, first+1, ... (repeated indices share one row) */
        while (i < sl->count && (uint32_t)(sl->key[i] >> 32) <= first + len) {
            uint32_t v = (uint32_t)(sl->key[i] >> 32);
            if (v == first + len) len++;
            sl->at[(uint32_t)sl->key[i]] = uniq + (v - first);
            i++;
        }
        start[0] = first;
        cnt[0] = len;
        r = H5Sselect_hyperslab(fs, uniq == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL, cnt, NULL);
        uniq += len;
    }
    hsize_t md[4] = {uniq, 1, 1, 1};   /* the file's shape (see read_rows) */
    for (int i = 1; i < s->xrank; i++) md[i] = s->xdims[i];
    hid_t ms = H5Screate_simple(s->xrank, md, NULL);
    char why[200];
    if (r >= 0) r = H5Dread(s->dx, s->is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, sl->buf);
    if (r < 0) h5_reason(why);
    H5Sclose(ms);
    H5Sclose(fs);
    sl->err = 0;
    if (r < 0) {
        sl->err = RD_EXIT_DATA;
        snprintf(sl->msg, sizeof sl->msg, "%s: %s: %s: cannot read %u samples during training (HDF5: %s)",
                 s->path, s->key, s->xname, sl->count, why);
    }
}

static void *io_thread(void *arg)
{
    struct rd_stream *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        slot *next = NULL;
        for (int i = 0; i < NSLOTS; i++)
            if (st->slots[i].state == SLOT_QUEUED && (!next || st->slots[i].seq < next->seq)) next = &st->slots[i];
        if (!next) {
            if (st->quit) break;
            pthread_cond_wait(&st->cv, &st->mu);
            continue;
        }
        next->state = SLOT_BUSY;
        pthread_mutex_unlock(&st->mu);
        const bool direct = st->s.fd >= 0;   /* pread only: no HDF5 call, no lock */
        if (!direct) rd_hdf5_lock();
        read_slot(st, next);
        if (!direct) rd_hdf5_unlock();
        pthread_mutex_lock(&st->mu);
        next->state = SLOT_READY;
        pthread_cond_broadcast(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static slot *find_slot(struct rd_stream *st, const uint32_t *idx, uint32_t count)
{
    for (int i = 0; i < NSLOTS; i++) {
        slot *sl = &st->slots[i];
        if (sl->state != SLOT_FREE && sl->count == count && !memcmp(sl->idx, idx, (size_t)count * sizeof *idx))
            return sl;
    }
    return NULL;
}

/* Queue rows idx[0..count) unless queued already; called with st->mu held. A request that
 * finds every slot taken evicts the oldest finished one; if none is finished it waits. */
static slot *queue_rows(struct rd_stream *st, const uint32_t *idx, uint32_t count)
{
    slot *sl = find_slot(st, idx, count);
    while (!sl) {
        slot *free_one = NULL, *oldest_ready = NULL;
        for (int i = 0; i < NSLOTS; i++) {
            slot *c = &st->slots[i];
            if (c->state == SLOT_FREE && !free_one) free_one = c;
            if (c->state == SLOT_READY && (!oldest_ready || c->seq < oldest_ready->seq)) oldest_ready = c;
        }
        if (!free_one && oldest_ready) {
            oldest_ready->state = SLOT_FREE;
            free_one = oldest_ready;
        }
        if (!free_one) {
            pthread_cond_wait(&st->cv, &st->mu);
            sl = find_slot(st, idx, count);
            continue;
        }
        sl = free_one;
        if (count > sl->cap) {   /* grows to the largest request once (a batch, an eval chunk) */
            size_t row = (size_t)st->s.features * (st->s.is_float ? 4 : 1);
            free(sl->idx);
            free(sl->key);
            free(sl->at);
            free(sl->buf);
            sl->idx = rd_malloc((size_t)count * sizeof *sl->idx);
            sl->key = rd_malloc((size_t)count * sizeof *sl->key);
            sl->at = rd_malloc((size_t)count * sizeof *sl->at);
            sl->buf = rd_malloc((size_t)count * row);
            sl->cap = count;
        }
        memcpy(sl->idx, idx, (size_t)count * sizeof *idx);
        sl->count = count;
        sl->seq = st->next_seq++;
        sl->state = SLOT_QUEUED;
        pthread_cond_broadcast(&st->cv);
    }
    return sl;
}

void rd_data_prefetch(const rd_dataset *d, const uint32_t *idx, uint32_t count)
{
    struct rd_stream *st = d->stream;
    if (!st || count == 0) return;
    pthread_mutex_lock(&st->mu);
    queue_rows(st, idx, count);
    pthread_mutex_unlock(&st->mu);
}

/* Waits for the rows; returns the slot (still READY), st->mu held. */
static slot *wait_rows(struct rd_stream *st, const uint32_t *idx, uint32_t count)
{
    pthread_mutex_lock(&st->mu);
    slot *sl = queue_rows(st, idx, count);
    while (sl->state != SLOT_READY) pthread_cond_wait(&st->cv, &st->mu);
    return sl;
}

int rd_data_fetch(const rd_dataset *d, const uint32_t *idx, uint32_t count, rd_error *e)
{
    struct rd_stream *st = d->stream;
    if (!st || count == 0) return 0;
    slot *sl = wait_rows(st, idx, count);
    int rc = sl->err ? rd_fail(e, sl->err, "%s", sl->msg) : 0;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void rd_data_stream_gather(const rd_dataset *d, const uint32_t *idx, uint32_t count, float *x)
{
    struct rd_stream *st = d->stream;
    const size_t f = d->features;
    if (count == 0) return;
    slot *sl = wait_rows(st, idx, count);
    for (uint32_t i = 0; i < count; i++) {
        float *dst = x + (size_t)i * f;
        if (sl->err) {   /* a NaN row makes the step non-finite on every rank: nothing is updated */
            for (size_t j = 0; j < f; j++) dst[j] = NAN;
        } else if (st->s.is_float) {
            memcpy(dst, (const float *)sl->buf + (size_t)sl->at[i] * f, f * sizeof *dst);
        } else {
            const uint8_t *src = (const uint8_t *)sl->buf + (size_t)sl->at[i] * f;
            for (size_t j = 0; j < f; j++) dst[j] = (float)src[j] / 255.0f;   /* exactly as IDX */
        }
    }
    sl->state = SLOT_FREE;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

void rd_data_stream_free(struct rd_stream *st)
{
    if (!st) return;
    if (st->started) {
        pthread_mutex_lock(&st->mu);
        st->quit = true;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
    }
    rd_hdf5_lock();
    close_set(&st->s);
    rd_hdf5_unlock();
    for (int i = 0; i < NSLOTS; i++) {
        free(st->slots[i].idx);
        free(st->slots[i].key);
        free(st->slots[i].at);
        free(st->slots[i].buf);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

/* ---------------------------------------------------------------- loading */

static void set_shape(rd_dataset *d, const h5set *s)
{
    d->n = (uint32_t)s->n;
    d->features = (uint32_t)s->features;
    if (s->xrank == 2) {              /* flat data is [1, 1, D] */
        d->rows = d->cols = 1;
        d->channels = (uint32_t)s->xdims[1];
    } else {
        d->rows = (uint32_t)s->xdims[1];
        d->cols = (uint32_t)s->xdims[2];
        d->channels = s->xrank == 4 ? (uint32_t)s->xdims[3] : 1;
    }
}

int rd_data_load_hdf5(rd_dataset *d, const rd_hdf5_source *src, const char *group, rd_error *e)
{
    memset(d, 0, sizeof *d);
    h5set s;
    memset(&s, 0, sizeof s);
    s.fd = -1;
    snprintf(s.path, sizeof s.path, "%s", src->path);
    snprintf(s.key, sizeof s.key, "%s", src->key);
    rd_hdf5_lock();
    h5_quiet();
    int rc = open_set(&s, group ? group : "", src->images, src->labels, src->stream, e);
    if (!rc) rc = read_labels(&s, d, e);
    if (!rc) rc = read_x(&s, d, src->stream, e);
    s.fd = -1;
    if (!rc && src->stream) setup_direct(&s);
    if (rc || !src->stream) close_set(&s);
    rd_hdf5_unlock();
    if (rc) {
        rd_data_free(d);
        return rc;
    }
    set_shape(d, &s);
    if (src->stream) {
        struct rd_stream *st = rd_calloc(1, sizeof *st);
        st->s = s;
        pthread_mutex_init(&st->mu, NULL);
        pthread_cond_init(&st->cv, NULL);
        /* The thread blocks every signal: SIGUSR1/SIGTERM reach the trainer's thread. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int started = pthread_create(&st->thread, NULL, io_thread, st);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (started != 0) {
            rd_data_stream_free(st);
            rd_data_free(d);
            return rd_fail(e, RD_EXIT_INTERNAL, "%s: cannot start the I/O thread", src->path);
        }
        st->started = true;
        d->stream = st;
    }
    return 0;
}

int rd_data_check_classes(const rd_dataset *d, uint32_t classes, const char *path, const char *key,
                          const char *labels, rd_error *e)
{
    for (uint32_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || (uint32_t)d->y[i] >= classes)
            return rd_fail(e, RD_EXIT_DATA, "%s: %s: %s: label %d at index %u is out of range (0..%u, data.classes)",
                           path, key, labels, (int)d->y[i], i, classes - 1);
    return 0;
}

/* ---------------------------------------------------------------- rdrop convert */

static int write_split(hid_t file, const char *group, const rd_dataset *d, uint32_t chunk_rows, int gzip)
{
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    hsize_t dims[3] = {d->n, d->rows, d->cols}, chunk[3] = {chunk_rows < d->n ? chunk_rows : d->n, d->rows, d->cols};
    int rank = 3;
    if (d->rows <= 1) {
        dims[1] = chunk[1] = d->features;
        rank = 2;
    }
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    herr_t r = H5Pset_chunk(pl, rank, chunk);
    if (r >= 0 && gzip > 0) r = H5Pset_deflate(pl, (unsigned)gzip);
    hid_t dx = r >= 0 ? H5Dcreate2(g, "X", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT) : -1;
    r = dx < 0 ? -1 : H5Dwrite(dx, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->x);
    if (dx >= 0) H5Dclose(dx);
    H5Sclose(sp);
    H5Pclose(pl);
    if (r >= 0) {
        hsize_t n = d->n;
        sp = H5Screate_simple(1, &n, NULL);
        hid_t dy = H5Dcreate2(g, "y", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        r = dy < 0 ? -1 : H5Dwrite(dy, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->y);
        if (dy >= 0) H5Dclose(dy);
        H5Sclose(sp);
    }
    H5Gclose(g);
    return r < 0 ? -1 : 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int rd_data_convert_idx(const char *out, const char *train_images, const char *train_labels,
                        const char *test_images, const char *test_labels, uint32_t chunk_rows,
                        int gzip, rd_error *e)
{
    rd_dataset tr, te;
    int rc = rd_data_load_idx(&tr, train_images, train_labels, e);
    if (rc) return rc;
    rc = rd_data_load_idx(&te, test_images, test_labels, e);
    if (rc) {
        rd_data_free(&tr);
        return rc;
    }
    if (tr.rows != te.rows || tr.cols != te.cols)
        rc = rd_fail(e, RD_EXIT_DATA, "%s: images of %u x %u, but %s has %u x %u", test_images, te.rows, te.cols,
                     train_images, tr.rows, tr.cols);
    char tmp[RD_PATH_MAX + 16], why[200] = "";
    const char *slash = strrchr(out, '/');
    if (slash) snprintf(tmp, sizeof tmp, "%.*s/.%s.tmp", (int)(slash - out), out, slash + 1);
    else snprintf(tmp, sizeof tmp, ".%s.tmp", out);
    if (!rc) {
        h5_quiet();
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110);
        H5Pset_file_locking(fapl, 0, 1);
        hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        H5Pclose(fapl);
        int bad = f < 0;
        if (!bad) bad = write_split(f, "train", &tr, chunk_rows, gzip) || write_split(f, "test", &te, chunk_rows, gzip);
        if (bad) h5_reason(why);
        if (f >= 0 && H5Fclose(f) < 0 && !bad) {
            bad = 1;
            h5_reason(why);
        }
        if (!bad && fsync_path(tmp) != 0) {
            bad = 1;
            snprintf(why, sizeof why, "%s", strerror(errno));
        }
        if (!bad && rename(tmp, out) != 0) {
            bad = 1;
            snprintf(why, sizeof why, "%s", strerror(errno));
        }
        if (bad) {
            unlink(tmp);
            rc = rd_fail(e, RD_EXIT_WRITE, "%s: cannot write: %s", out, why[0] ? why : "HDF5 error");
        }
    }
    rd_data_free(&tr);
    rd_data_free(&te);
    return rc;
}

/* ---------------------------------------------------------------- rdrop data FILE */

typedef struct {
    FILE *out;
    int count;
} describe_ctx;

static void describe_values(FILE *out, hid_t ds, int rank, const hsize_t *dims, bool integer)
{
    uint64_t n = rank ? dims[0] : 1, row = 1;
    for (int i = 1; i < rank; i++) row *= dims[i];
    if (n == 0 || row == 0) {
        fprintf(out, "    empty\n");
        return;
    }
    uint64_t rows = SCAN_BYTES / (row * sizeof(double));
    if (rows == 0) rows = 1;
    double *buf = rd_malloc((size_t)(rows * row) * sizeof *buf);
    double lo = INFINITY, hi = -INFINITY;
    uint64_t nonfinite = 0;
    bool labels = integer && (rank == 1 || (rank == 2 && dims[1] == 1));
    enum { MAXK = 1 << 20 };
    uint64_t *counts = labels ? rd_calloc(MAXK, sizeof *counts) : NULL;
    bool countable = labels;
    hid_t fs = H5Dget_space(ds);
    for (uint64_t i = 0; i < n; i += rows) {
        uint64_t k = n - i < rows ? n - i : rows;
        hsize_t start[8] = {i}, cnt[8] = {k};
        for (int j = 1; j < rank && j < 8; j++) cnt[j] = dims[j];
        hsize_t md = k * row;
        hid_t ms = H5Screate_simple(1, &md, NULL);
        herr_t r = rank ? H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) : 0;
        if (r >= 0) r = H5Dread(ds, H5T_NATIVE_DOUBLE, ms, rank ? fs : H5S_ALL, H5P_DEFAULT, buf);
        char why[200] = "";
        if (r < 0) h5_reason(why);
        H5Sclose(ms);
        if (r < 0) {
            fprintf(out, "    cannot read samples %llu..%llu (HDF5: %s)\n", (unsigned long long)i,
                    (unsigned long long)(i + k - 1), why);
            countable = false;
            lo = hi = NAN;
            break;
        }
        for (uint64_t j = 0; j < k * row; j++) {
            double v = buf[j];
            if (!isfinite(v)) { nonfinite++; continue; }
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (countable) {
                if (v < 0 || v >= MAXK) countable = false;
                else counts[(size_t)v]++;
            }
        }
    }
    H5Sclose(fs);
    fprintf(out, "    min %.9g  max %.9g", lo, hi);
    if (nonfinite) fprintf(out, "  (%llu NaN/Inf values)", (unsigned long long)nonfinite);
    fprintf(out, "\n");
    if (countable && hi >= lo) {
        uint64_t K = (uint64_t)hi + 1, used = 0, cmin = UINT64_MAX, cmax = 0;
        for (uint64_t c = 0; c < K; c++) {
            used += counts[c] > 0;
            if (counts[c] < cmin) cmin = counts[c];
            if (counts[c] > cmax) cmax = counts[c];
        }
        fprintf(out, "    classes %llu (max label + 1; %llu present), samples per class %llu..%llu\n",
                (unsigned long long)K, (unsigned long long)used, (unsigned long long)cmin, (unsigned long long)cmax);
        if (K <= 32) {
            fprintf(out, "    counts");
            for (uint64_t c = 0; c < K; c++) fprintf(out, " %llu:%llu", (unsigned long long)c, (unsigned long long)counts[c]);
            fprintf(out, "\n");
        }
    }
    free(counts);
    free(buf);
}

static herr_t describe_link(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    describe_ctx *x = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) return 0;
    if (H5Iget_type(o) == H5I_DATASET) {
        char tn[64];
        hid_t sp = H5Dget_space(o), ty = H5Dget_type(o);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[32] = {0};
        if (rank > 0 && rank <= 32) H5Sget_simple_extent_dims(sp, dims, NULL);
        fprintf(x->out, "/%s  [", name);
        for (int i = 0; i < rank; i++) fprintf(x->out, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        fprintf(x->out, "]  %s", type_name(ty, tn, sizeof tn));
        hid_t pl = H5Dget_create_plist(o);
        if (H5Pget_layout(pl) == H5D_CHUNKED && rank <= 32) {
            hsize_t cd[32];
            H5Pget_chunk(pl, rank, cd);
            fprintf(x->out, "  chunks [");
            for (int i = 0; i < rank; i++) fprintf(x->out, "%s%llu", i ? ", " : "", (unsigned long long)cd[i]);
            fprintf(x->out, "]");
        }
        if (H5Pget_nfilters(pl) > 0) fprintf(x->out, "  filtered (%d filters)", H5Pget_nfilters(pl));
        H5Pclose(pl);
        fprintf(x->out, "\n");
        H5T_class_t cl = H5Tget_class(ty);
        if ((cl == H5T_INTEGER || cl == H5T_FLOAT) && rank >= 0 && rank <= 8)
            describe_values(x->out, o, rank, dims, cl == H5T_INTEGER);
        H5Tclose(ty);
        H5Sclose(sp);
        x->count++;
    }
    H5Oclose(o);
    return 0;
}

int rd_data_describe(const char *path, void *out_file, rd_error *e)
{
    FILE *out = out_file;
    h5_quiet();
    if (access(path, R_OK) != 0) return rd_fail(e, RD_EXIT_DATA, "%s: cannot open: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return rd_fail(e, RD_EXIT_DATA, "%s: not an HDF5 file", path);
    char why[200];
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) h5_reason(why);
    H5Pclose(fapl);
    if (f < 0) return rd_fail(e, RD_EXIT_DATA, "%s: truncated or corrupt HDF5 file (HDF5: %s)", path, why);
    describe_ctx x = {out, 0};
    fprintf(out, "%s\n", path);
    herr_t r = H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, describe_link, &x);
    if (r < 0) h5_reason(why);
    H5Fclose(f);
    if (r < 0) return rd_fail(e, RD_EXIT_DATA, "%s: cannot list the datasets (HDF5: %s)", path, why);
    if (x.count == 0) fprintf(out, "(no datasets)\n");
    return 0;
}
