/* checkpoint.c - HDF5 checkpoints (docs/ARCHITECTURE.md "Checkpoint schema", "Run folder")
 * behind a CRC-checked 512-byte user block that is verified in plain C before any HDF5 call.
 */
#include "checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#define CK_PATH 4096
#define CHUNK_CAP_BYTES (1u << 20)
#define IO_BUF_BYTES (1u << 20)

/* Offsets in the user block (see checkpoint.h). */
enum { UB_VERSION = 8, UB_LENGTH = 12, UB_CRC = 20, UB_USED = 24 };

/* HDF5 prints its error stack by default; rdrop reports errors itself. */
static bool hdf5_silenced;

static void hdf5_silence(void)
{
    if (!hdf5_silenced) {
        /* A file whose H5Fclose failed (ENOSPC/EFBIG while flushing) stays half-open inside
         * libhdf5 1.10, and its atexit clean-up then crashes on it (measured: SIGSEGV in
         * H5F__close_cb). rdrop closes every file it opens itself, so skip that clean-up.
         * Must come before any other HDF5 call. */
        H5dont_atexit();
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hdf5_silenced = true;
    }
}

static herr_t set_no_locking(hid_t fapl)
{
#if (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7) || H5_VERSION_GE(1, 12, 1)
    return H5Pset_file_locking(fapl, 0, 1);
#else
    (void)fapl;
    return 0;
#endif
}

/* ------------------------------------------------------------------ plain-C file layer */

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Returns bytes read (short only at EOF) or -1 with errno set. */
static ssize_t pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return errno;
        if (k == 0) return EIO;
        done += (size_t)k;
    }
    return 0;
}

/* CRC-32 of bytes [from, to) of fd. Returns 0 or an errno value. */
static int crc_range(int fd, uint64_t from, uint64_t to, uint32_t *crc)
{
    unsigned char *buf = rd_malloc(IO_BUF_BYTES);
    uint32_t c = 0;
    int err = 0;
    for (uint64_t off = from; off < to;) {
        size_t want = to - off < IO_BUF_BYTES ? (size_t)(to - off) : IO_BUF_BYTES;
        ssize_t got = pread_full(fd, buf, want, (off_t)off);
        if (got < 0) { err = errno; break; }
        if ((size_t)got != want) { err = EIO; break; }   /* the file shrank under us */
        c = rd_crc32(c, buf, want);
        off += want;
    }
    free(buf);
    *crc = c;
    return err;
}

static int verify_fd(int fd, const char *path, rd_error *e, uint64_t *size_out)
{
    struct stat st;
    if (fstat(fd, &st))
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: cannot read checkpoint: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: not a regular file", path);
    uint64_t size = (uint64_t)st.st_size;
    unsigned char ub[RD_CKPT_USERBLOCK] = {0};
    size_t head = size < RD_CKPT_USERBLOCK ? (size_t)size : RD_CKPT_USERBLOCK;
    ssize_t got = pread_full(fd, ub, head, 0);
    if (got < 0)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: cannot read checkpoint: %s", path, strerror(errno));
    if ((size_t)got < 8 || memcmp(ub, RD_CKPT_MAGIC, 8) != 0)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: not an rdrop checkpoint (no %s user block)", path,
                       RD_CKPT_MAGIC);
    if ((size_t)got < UB_USED)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: truncated: %llu bytes, inside the user block", path,
                       (unsigned long long)size);
    uint32_t version = (uint32_t)get_le(ub + UB_VERSION, 4);
    if (version != RD_CKPT_FORMAT_VERSION && version != RD_CKPT_FORMAT_VERSION_CONV)
        return rd_fail(e, RD_EXIT_CHECKPOINT,
                       "%s: unsupported checkpoint format version %u (this rdrop reads versions %d and %d)",
                       path, version, RD_CKPT_FORMAT_VERSION, RD_CKPT_FORMAT_VERSION_CONV);
    uint64_t len = get_le(ub + UB_LENGTH, 8);
    if (len < RD_CKPT_USERBLOCK)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: corrupt: the header says %llu bytes", path,
                       (unsigned long long)len);
    if (size < len)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: truncated: %llu bytes, the header says %llu", path,
                       (unsigned long long)size, (unsigned long long)len);
    if (size > len)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: %llu bytes, the header says %llu (trailing data)",
                       path, (unsigned long long)size, (unsigned long long)len);
    for (size_t i = UB_USED; i < RD_CKPT_USERBLOCK; i++)
        if (ub[i])
            return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: corrupt: user block byte %zu is not zero", path, i);
    uint32_t stored = (uint32_t)get_le(ub + UB_CRC, 4), computed;
    int err = crc_range(fd, RD_CKPT_USERBLOCK, size, &computed);
    if (err)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: cannot read checkpoint: %s", path, strerror(err));
    if (stored != computed)
        return rd_fail(e, RD_EXIT_CHECKPOINT,
                       "%s: corrupt: CRC-32 mismatch (stored 0x%08x, computed 0x%08x)", path,
                       stored, computed);
    if (size_out) *size_out = size;
    return 0;
}

static int verify(const char *path, rd_error *e, uint64_t *size_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: cannot open checkpoint: %s", path, strerror(errno));
    int rc = verify_fd(fd, path, e, size_out);
    close(fd);
    return rc;
}

int rd_ckpt_verify(const char *path, rd_error *e)
{
    return verify(path, e, NULL);
}

/* Fill the user block of a closed HDF5 file and fsync it. Returns 0 or an errno value. */
static int seal_fd(int fd, int version)
{
    struct stat st;
    if (fstat(fd, &st)) return errno;
    uint64_t size = (uint64_t)st.st_size;
    if (size < RD_CKPT_USERBLOCK) return EIO;
    uint32_t crc;
    int err = crc_range(fd, RD_CKPT_USERBLOCK, size, &crc);
    if (err) return err;
    unsigned char ub[RD_CKPT_USERBLOCK] = {0};
    memcpy(ub, RD_CKPT_MAGIC, 8);
    put_le(ub + UB_VERSION, (uint64_t)version, 4);
    put_le(ub + UB_LENGTH, size, 8);
    put_le(ub + UB_CRC, crc, 4);
    if ((err = pwrite_full(fd, ub, sizeof ub, 0))) return err;
    if (fsync(fd)) return errno;
    return 0;
}

static int seal_file(const char *tmp, int version)
{
    int fd = open(tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = seal_fd(fd, version);
    if (close(fd) && !err) err = errno;
    return err;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = 0;
    /* Some filesystems cannot sync a folder; that is not a failed write. */
    if (fsync(fd) && errno != EINVAL && errno != ENOTSUP) err = errno;
    close(fd);
    return err;
}

/* DIR and DIR/.NAME.tmp of path DIR/NAME. Returns 0 or an errno value. */
static int split_path(const char *path, char *dir, char *tmp, size_t n)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) return EISDIR;
    size_t dlen = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 0;
    if (dlen + 2 > n) return ENAMETOOLONG;
    if (slash) {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
    } else {
        strcpy(dir, ".");
    }
    int k = snprintf(tmp, n, "%.*s.%s.tmp", (int)(base - path), path, base);
    return k < 0 || (size_t)k >= n ? ENAMETOOLONG : 0;
}

/* ------------------------------------------------------------------------ HDF5 writer */

typedef struct {
    int err;          /* 0 ok; errno of the first failure, -1 if HDF5 gave none */
    hid_t str_t;      /* variable-length UTF-8 string */
    hid_t gcpl;       /* group creation: no timestamps */
} writer;

/* libhdf5's POSIX driver records "errno = N" in the error stack; that beats a global errno
 * that later cleanup may have overwritten. */
static herr_t errno_from_stack(unsigned n, const H5E_error2_t *d, void *data)
{
    (void)n;
    int *err = data;
    const char *p = d->desc ? strstr(d->desc, "errno = ") : NULL;
    if (p && *err <= 0) *err = atoi(p + 8);
    return 0;
}

static void w_fail(writer *w)
{
    int sys = errno;
    if (w->err) return;
    int from_stack = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, errno_from_stack, &from_stack);
    w->err = from_stack > 0 ? from_stack : sys > 0 ? sys : -1;
}

static hid_t w_group(writer *w, hid_t parent, const char *name)
{
    if (w->err) return H5I_INVALID_HID;
    errno = 0;
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
    if (g < 0) w_fail(w);
    return g;
}

static void w_close_group(writer *w, hid_t g)
{
    errno = 0;
    if (g >= 0 && H5Gclose(g) < 0) w_fail(w);
}

static void w_attr(writer *w, hid_t obj, const char *name, hid_t ftype, hid_t mtype, int n,
                   const void *val)
{
    if (w->err) return;
    errno = 0;
    hsize_t dim = (hsize_t)n;
    hid_t sp = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = sp < 0 ? H5I_INVALID_HID : H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, val) < 0) w_fail(w);
    if (a >= 0 && H5Aclose(a) < 0) w_fail(w);
    if (sp >= 0) H5Sclose(sp);
}

static void w_str(writer *w, hid_t obj, const char *name, const char *s)
{
    const char *v = s ? s : "";
    w_attr(w, obj, name, w->str_t, w->str_t, -1, &v);
}

static void w_i32(writer *w, hid_t obj, const char *name, int v)
{
    w_attr(w, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, -1, &v);
}

static void w_u32(writer *w, hid_t obj, const char *name, uint32_t v)
{
    w_attr(w, obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, -1, &v);
}

static void w_i64(writer *w, hid_t obj, const char *name, int64_t v)
{
    w_attr(w, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &v);
}

static void w_u64(writer *w, hid_t obj, const char *name, uint64_t v)
{
    w_attr(w, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, -1, &v);
}

static void w_f64(writer *w, hid_t obj, const char *name, double v)
{
    w_attr(w, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &v);
}

/* Chunk = the whole dataset, cut to at most CHUNK_CAP_BYTES (whole rows when possible). */
static void chunk_dims(int rank, const hsize_t *dims, size_t esize, hsize_t *chunk)
{
    hsize_t cap = CHUNK_CAP_BYTES / esize;
    if (rank == 1) {
        chunk[0] = dims[0] < cap ? dims[0] : cap;
        return;
    }
    /* innermost dimensions whole while they fit, the next one cut to the remaining budget */
    hsize_t left = cap;
    for (int i = rank - 1; i >= 0; i--) {
        if (left < 1) left = 1;
        chunk[i] = dims[i] < left ? dims[i] : left;
        left /= chunk[i];
    }
}

/* Chunked + Fletcher32; an empty dataset cannot be chunked and has nothing to checksum,
 * so it is contiguous. */
static void w_data(writer *w, hid_t parent, const char *name, hid_t ftype, hid_t mtype,
                   size_t esize, int rank, const hsize_t *dims, const void *buf)
{
    if (w->err) return;
    hsize_t n = 1, chunk[4];
    for (int i = 0; i < rank; i++) n *= dims[i];
    errno = 0;
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    bool ok = sp >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0;
    if (ok && n > 0) {
        chunk_dims(rank, dims, esize, chunk);
        ok = H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0;
    }
    hid_t d = ok ? H5Dcreate2(parent, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                 : H5I_INVALID_HID;
    if (d < 0 || (n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) w_fail(w);
    if (d >= 0 && H5Dclose(d) < 0) w_fail(w);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
}

/* Everything the writer needs, gathered once. */
typedef struct {
    const rd_model *m;
    const rd_config *c;
    const rd_train_state *s;
    const rd_ckpt_meta *meta;
    const rd_layer *dense[RD_MAX_LAYERS];   /* every parameterised layer (dense, conv2d), forward order */
    int n_param;
    const char *config_yaml;
    const float *momentum;     /* m->momentum, or zeros */
} ckpt_src;

/* MLP-only files keep version 1 (they read as before); files with conv2d layers are version 2,
 * which an rdrop that predates them refuses by its user-block check. */
static int format_version(const rd_model *m)
{
    return m->n_conv > 0 ? RD_CKPT_FORMAT_VERSION_CONV : RD_CKPT_FORMAT_VERSION;
}

/* The group of a parameterised layer: dense_<i> or conv2d_<i> (0-based within its type). */
static void param_group_name(const rd_layer *L, char *name, size_t n)
{
    if (L->kind == RD_LAYER_CONV2D) snprintf(name, n, "conv2d_%d", L->conv_index);
    else snprintf(name, n, "dense_%d", L->dense_index);
}

/* The kernel's stored shape: dense [in, out], conv2d [KH, KW, C_in, C_out] (Keras). */
static int kernel_dims(const rd_layer *L, hsize_t kd[4])
{
    if (L->kind != RD_LAYER_CONV2D) {
        kd[0] = (hsize_t)L->k_rows;
        kd[1] = (hsize_t)L->k_cols;
        return 2;
    }
    kd[0] = (hsize_t)L->g.KH;
    kd[1] = (hsize_t)L->g.KW;
    kd[2] = (hsize_t)L->g.C;
    kd[3] = (hsize_t)L->k_cols;
    return 4;
}

static void write_dense(writer *w, hid_t parent, const rd_layer *L, const float *buf, bool attrs)
{
    char name[32];
    param_group_name(L, name, sizeof name);
    hid_t g = w_group(w, parent, name);
    hsize_t kd[4], bd[1] = {(hsize_t)L->k_cols};
    int rank = kernel_dims(L, kd);
    w_data(w, g, "kernel", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), rank, kd, buf + L->w_off);
    w_data(w, g, "bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), 1, bd, buf + L->b_off);
    if (attrs) {
        w_str(w, g, "activation", rd_activation_name(L->act));
        w_f64(w, g, "max_norm", L->max_norm);
        if (L->kind == RD_LAYER_CONV2D) {
            const int stride[2] = {L->g.SH, L->g.SW};
            w_attr(w, g, "stride", H5T_STD_I32LE, H5T_NATIVE_INT, 2, stride);
            w_str(w, g, "padding", rd_padding_name(L->padding));
        }
    }
    w_close_group(w, g);
}

/* architecture JSON: the config's layer list; with conv2d layers every layer also gets its
 * output shape [H, W, C] (MLP-only files keep the old string). */
static char *architecture_json(const rd_model *m, const rd_config *c)
{
    if (m->n_conv == 0) return rd_config_layers_json(c);
    int shapes[RD_MAX_LAYERS][3];
    for (int i = 0; i < m->n_layers; i++) memcpy(shapes[i], m->layers[i].shape, sizeof shapes[i]);
    return rd_config_layers_json_shapes(c, m->input_shape, shapes);
}

static void iso8601_now(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "unknown");
}

/* ---- the training state's scalars ----
 *
 * One table says where each scalar of rd_train_state lives in the file; it drives the write
 * (w_state), the read (r_state) and the resume broadcast (rd_train_state_pack / _unpack), so a
 * field added here is saved, read and broadcast alike (docs/ARCHITECTURE.md, "Checkpoint schema"). */
typedef enum { SF_I64, SF_U64, SF_U32, SF_F64 } sf_kind;
typedef struct {
    const char *group;   /* "/" or "/train" ... */
    const char *name;    /* attribute name */
    sf_kind kind;
    size_t off;          /* in rd_train_state */
    bool optional;       /* absent in older files: read as 0 */
} state_field;

#define SF(g, n, k, f) {g, n, k, offsetof(rd_train_state, f), false}
static const state_field state_fields[] = {
    SF("/", "step", SF_I64, step),
    SF("/", "epoch", SF_I64, epoch),
    SF("/optimizer", "lr", SF_F64, lr),
    SF("/data", "position", SF_U64, position),
    SF("/data", "validation", SF_U32, n_validation),
    {"/data", "train_samples", SF_U32, offsetof(rd_train_state, n_train), true},
    SF("/train", "sum_loss", SF_F64, sum_loss),
    SF("/train", "sum_ce", SF_F64, sum_ce),
    SF("/train", "sum_kl", SF_F64, sum_kl),
    SF("/train", "sum_correct", SF_F64, sum_correct),
    SF("/train", "sum_samples", SF_F64, sum_samples),
    SF("/train", "sum_steps", SF_I64, sum_steps),
    SF("/train", "best_val_acc", SF_F64, best_val_acc),
    SF("/train", "best_step", SF_I64, best_step),
    SF("/train", "patience_left", SF_I64, patience_left),
};
#define N_STATE_FIELDS (sizeof state_fields / sizeof state_fields[0])
_Static_assert(N_STATE_FIELDS <= RD_STATE_SLOTS, "RD_STATE_SLOTS holds every state field");

static size_t sf_size(sf_kind k) { return k == SF_U32 ? sizeof(uint32_t) : 8; }

int rd_train_state_pack(const rd_train_state *s, uint64_t slots[RD_STATE_SLOTS])
{
    memset(slots, 0, RD_STATE_SLOTS * sizeof *slots);
    for (size_t i = 0; i < N_STATE_FIELDS; i++)
        memcpy(&slots[i], (const char *)s + state_fields[i].off, sf_size(state_fields[i].kind));
    return (int)N_STATE_FIELDS;
}

void rd_train_state_unpack(rd_train_state *s, const uint64_t slots[RD_STATE_SLOTS])
{
    for (size_t i = 0; i < N_STATE_FIELDS; i++)
        memcpy((char *)s + state_fields[i].off, &slots[i], sf_size(state_fields[i].kind));
}

static void w_state(writer *w, hid_t obj, const char *group, const rd_train_state *s)
{
    for (size_t i = 0; i < N_STATE_FIELDS; i++) {
        const state_field *f = &state_fields[i];
        const void *p = (const char *)s + f->off;
        if (strcmp(f->group, group)) continue;
        switch (f->kind) {
        case SF_I64: w_i64(w, obj, f->name, *(const int64_t *)p); break;
        case SF_U64: w_u64(w, obj, f->name, *(const uint64_t *)p); break;
        case SF_U32: w_u32(w, obj, f->name, *(const uint32_t *)p); break;
        case SF_F64: w_f64(w, obj, f->name, *(const double *)p); break;
        }
    }
}

static void write_root(writer *w, hid_t f, const ckpt_src *src)
{
    const rd_ckpt_meta *meta = src->meta;
    char created[40];
    iso8601_now(created, sizeof created);
    w_str(w, f, "format", RD_CKPT_FORMAT);
    w_i32(w, f, "format_version", format_version(src->m));
    w_str(w, f, "rdrop_version", RDROP_VERSION);
    w_state(w, f, "/", src->s);
    w_i32(w, f, "world_size", meta->world_size);
    w_u64(w, f, "seed", src->c->run.seed);
    w_str(w, f, "created", created);
    w_str(w, f, "config", src->config_yaml);
    w_str(w, f, "git", meta->git ? meta->git : "unknown");
    w_str(w, f, "build_flags", meta->build_flags ? meta->build_flags : "unknown");
    w_str(w, f, "mpi_version", meta->mpi_version ? meta->mpi_version : "unknown");
    w_str(w, f, "blas_core", meta->blas_core ? meta->blas_core : "unknown");
    w_str(w, f, "blas_core_origin", meta->blas_core_origin ? meta->blas_core_origin : "unknown");
    w_f64(w, f, "blas_gflops", meta->blas_gflops);
    w_i32(w, f, "blas_threads", meta->blas_threads);
    w_f64(w, f, "bucket_mb", meta->bucket_mb);
    w_i32(w, f, "overlap", meta->overlap ? 1 : 0);
    if (meta->overlap_choice) w_str(w, f, "overlap_choice", meta->overlap_choice);
}

static void write_model(writer *w, hid_t f, const ckpt_src *src)
{
    int n = src->n_param;
    char names[RD_MAX_LAYERS][32];
    const char *order[RD_MAX_LAYERS];
    for (int i = 0; i < n; i++) {
        param_group_name(src->dense[i], names[i], sizeof names[i]);
        order[i] = names[i];
    }
    char *arch = architecture_json(src->m, src->c);
    hid_t g = w_group(w, f, "model");
    w_attr(w, g, "order", w->str_t, w->str_t, n, order);
    w_str(w, g, "architecture", arch);
    for (int i = 0; i < n; i++) write_dense(w, g, src->dense[i], src->m->params, true);
    w_close_group(w, g);
    free(arch);
}

static void write_optimizer(writer *w, hid_t f, const ckpt_src *src)
{
    const rd_config *c = src->c;
    char *sched = rd_config_section_json(c, "schedule");
    hid_t g = w_group(w, f, "optimizer");
    w_state(w, g, "/optimizer", src->s);
    w_f64(w, g, "momentum", c->optimizer.momentum);
    w_i32(w, g, "nesterov", c->optimizer.nesterov ? 1 : 0);
    w_f64(w, g, "weight_decay", c->optimizer.weight_decay);
    w_str(w, g, "schedule", sched);
    hid_t gm = w_group(w, g, "momentum");
    for (int i = 0; i < src->n_param; i++) write_dense(w, gm, src->dense[i], src->momentum, false);
    w_close_group(w, gm);
    w_close_group(w, g);
    free(sched);
}

static void write_state(writer *w, hid_t f, const ckpt_src *src)
{
    const rd_train_state *s = src->s;
    hid_t g = w_group(w, f, "rng");
    w_str(w, g, "algorithm", "philox4x32-10");
    w_i32(w, g, "rng_version", RD_RNG_VERSION);
    w_str(w, g, "dropout_stream", src->c->rng.dropout_stream == RD_STREAM_SAMPLE ? "sample" : "rank");
    w_close_group(w, g);

    g = w_group(w, f, "data");
    w_state(w, g, "/data", s);
    hsize_t nv = s->n_validation;
    w_data(w, g, "validation_indices", H5T_STD_U32LE, H5T_NATIVE_UINT32, sizeof(uint32_t), 1, &nv,
           s->validation_indices);
    w_close_group(w, g);

    g = w_group(w, f, "train");
    w_state(w, g, "/train", s);
    w_close_group(w, g);

    g = w_group(w, f, "metrics");
    hsize_t nm = s->metrics_len;
    w_data(w, g, "jsonl", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, 1, &nm, s->metrics);
    w_close_group(w, g);
}

/* Write the HDF5 part of the checkpoint to `tmp`. Returns 0, an errno value, or -1. */
static int write_hdf5(const char *tmp, const ckpt_src *src)
{
    writer w = {0, H5I_INVALID_HID, H5I_INVALID_HID};
    errno = 0;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
    w.gcpl = H5Pcreate(H5P_GROUP_CREATE);
    w.str_t = H5Tcopy(H5T_C_S1);
    if (fcpl < 0 || fapl < 0 || w.gcpl < 0 || w.str_t < 0 ||
        H5Pset_userblock(fcpl, RD_CKPT_USERBLOCK) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110) < 0 ||
        set_no_locking(fapl) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_obj_track_times(w.gcpl, 0) < 0 || H5Tset_size(w.str_t, H5T_VARIABLE) < 0 ||
        H5Tset_cset(w.str_t, H5T_CSET_UTF8) < 0)
        w_fail(&w);
    hid_t f = w.err ? H5I_INVALID_HID : H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (!w.err && f < 0) w_fail(&w);
    if (f >= 0) {
        write_root(&w, f, src);
        write_model(&w, f, src);
        write_optimizer(&w, f, src);
        write_state(&w, f, src);
        errno = 0;
        if (H5Fclose(f) < 0) w_fail(&w);   /* metadata is flushed here: ENOSPC may show up late */
    }
    if (w.str_t >= 0) H5Tclose(w.str_t);
    if (w.gcpl >= 0) H5Pclose(w.gcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    return w.err;
}

/* The parameterised layers of m (dense, conv2d) in forward order, checked against the flat
 * buffer; returns their number, or -1 with e set. */
static int collect_dense(const rd_model *m, const rd_layer **dense, const char *path, rd_error *e)
{
    if (m->n_dense < 1 || m->n_dense > RD_MAX_LAYERS || m->n_layers > RD_MAX_LAYERS || !m->params) {
        rd_fail(e, RD_EXIT_INTERNAL, "%s: internal error: the model has no dense layers", path);
        return -1;
    }
    int n = 0, nd = 0, nc = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        if (!rd_layer_has_params(L)) continue;
        size_t wn = (size_t)L->k_rows * (size_t)L->k_cols;
        bool idx_ok = L->kind == RD_LAYER_CONV2D ? L->conv_index == nc++ : L->dense_index == nd++;
        if (!idx_ok || L->k_rows < 1 || L->k_cols < 1 ||
            L->w_off + wn > m->n_params || L->b_off + (size_t)L->k_cols > m->n_params ||
            !rd_activation_name(L->act)) {
            rd_fail(e, RD_EXIT_INTERNAL, "%s: internal error: layer %d of the model is inconsistent", path, i);
            return -1;
        }
        dense[n++] = L;
    }
    if (nd != m->n_dense || nc != m->n_conv) {
        rd_fail(e, RD_EXIT_INTERNAL, "%s: internal error: n_dense is %d, the layer list has %d", path,
                m->n_dense, nd);
        return -1;
    }
    return n;
}

static int write_fail(rd_error *e, const char *path, int err)
{
    return rd_fail(e, RD_EXIT_WRITE, "%s: cannot write checkpoint: %s (previous checkpoints kept)", path,
                   err > 0 ? strerror(err) : "HDF5 library error");
}

int rd_ckpt_write(const char *path, const rd_model *m, const rd_config *c, const rd_train_state *s,
                  const rd_ckpt_meta *meta, rd_error *e)
{
    hdf5_silence();
    ckpt_src src = {.m = m, .c = c, .s = s, .meta = meta};
    src.n_param = collect_dense(m, src.dense, path, e);
    if (src.n_param < 0) return RD_EXIT_INTERNAL;
    if ((s->n_validation && !s->validation_indices) || (s->metrics_len && !s->metrics))
        return rd_fail(e, RD_EXIT_INTERNAL, "%s: internal error: training state without its buffers", path);
    char dir[CK_PATH], tmp[CK_PATH];
    int err = split_path(path, dir, tmp, sizeof tmp);
    if (err) return write_fail(e, path, err);

    char *yaml = meta->config_yaml ? NULL : rd_config_to_yaml(c);
    float *zeros = m->momentum ? NULL : rd_calloc(m->n_params, sizeof(float));
    src.config_yaml = meta->config_yaml ? meta->config_yaml : yaml;
    src.momentum = m->momentum ? m->momentum : zeros;

    err = write_hdf5(tmp, &src);
    free(yaml);
    free(zeros);
    if (!err) err = seal_file(tmp, format_version(m));
    if (!err && rename(tmp, path)) err = errno;
    if (err) {
        unlink(tmp);
        return write_fail(e, path, err);
    }
    /* The new file is complete and verifiable; if only the folder sync fails it stays. */
    if ((err = fsync_dir(dir))) return write_fail(e, path, err);
    return 0;
}

/* ------------------------------------------------------------------------ HDF5 reader */

typedef struct {
    const char *path;
    rd_error *e;
    int rc;
    uint64_t size;    /* file size: no dataset can be larger */
} reader;

static void r_fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void r_fail(reader *r, const char *fmt, ...)
{
    if (r->rc) return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->rc = rd_fail(r->e, RD_EXIT_CHECKPOINT, "%s: %s", r->path, msg);
}

static const char *where_label(const char *group)
{
    return strcmp(group, "/") ? group : "root";
}

static hid_t open_hdf5(reader *r)
{
    hdf5_silence();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = H5I_INVALID_HID;
    if (fapl >= 0 && set_no_locking(fapl) >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        f = H5Fopen(r->path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) r_fail(r, "cannot open checkpoint with HDF5");
    return f;
}

static hid_t r_group(reader *r, hid_t parent, const char *name, const char *full)
{
    if (r->rc || parent < 0) return H5I_INVALID_HID;
    hid_t g = H5Lexists(parent, name, H5P_DEFAULT) > 0 ? H5Gopen2(parent, name, H5P_DEFAULT)
                                                       : H5I_INVALID_HID;
    if (g < 0) r_fail(r, "missing group %s", full);
    return g;
}

static void close_id(hid_t id)
{
    if (id >= 0) H5Oclose(id);
}

/* Open attribute `name` of obj (in group `where`) with type class cls; scalar = one value. */
static hid_t r_attr(reader *r, hid_t obj, const char *where, const char *name, H5T_class_t cls,
                    bool scalar)
{
    if (r->rc || obj < 0) return H5I_INVALID_HID;
    if (H5Aexists(obj, name) <= 0) {
        r_fail(r, "missing %s attribute %s", where_label(where), name);
        return H5I_INVALID_HID;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    bool ok = t >= 0 && H5Tget_class(t) == cls && (scalar ? np == 1 : np >= 0);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        r_fail(r, "%s attribute %s has the wrong type or shape", where_label(where), name);
        if (a >= 0) H5Aclose(a);
        return H5I_INVALID_HID;
    }
    return a;
}

static void r_num(reader *r, hid_t obj, const char *where, const char *name, H5T_class_t cls,
                  hid_t mtype, void *out)
{
    hid_t a = r_attr(r, obj, where, name, cls, true);
    if (a < 0) return;
    if (H5Aread(a, mtype, out) < 0) r_fail(r, "cannot read %s attribute %s", where_label(where), name);
    H5Aclose(a);
}

static void r_int(reader *r, hid_t o, const char *where, const char *name, int *v)
{
    r_num(r, o, where, name, H5T_INTEGER, H5T_NATIVE_INT, v);
}

static void r_u32(reader *r, hid_t o, const char *where, const char *name, uint32_t *v)
{
    r_num(r, o, where, name, H5T_INTEGER, H5T_NATIVE_UINT32, v);
}

static void r_i64(reader *r, hid_t o, const char *where, const char *name, int64_t *v)
{
    r_num(r, o, where, name, H5T_INTEGER, H5T_NATIVE_INT64, v);
}

static void r_u64(reader *r, hid_t o, const char *where, const char *name, uint64_t *v)
{
    r_num(r, o, where, name, H5T_INTEGER, H5T_NATIVE_UINT64, v);
}

static void r_f64(reader *r, hid_t o, const char *where, const char *name, double *v)
{
    r_num(r, o, where, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, v);
}

/* The state fields of `group` (optional ones absent in older files read as 0). */
static void r_state(reader *r, hid_t obj, const char *group, rd_train_state *s)
{
    for (size_t i = 0; i < N_STATE_FIELDS && !r->rc; i++) {
        const state_field *f = &state_fields[i];
        void *p = (char *)s + f->off;
        if (strcmp(f->group, group)) continue;
        if (f->optional && H5Aexists(obj, f->name) <= 0) {
            memset(p, 0, sf_size(f->kind));
            continue;
        }
        switch (f->kind) {
        case SF_I64: r_i64(r, obj, group, f->name, p); break;
        case SF_U64: r_u64(r, obj, group, f->name, p); break;
        case SF_U32: r_u32(r, obj, group, f->name, p); break;
        case SF_F64: r_f64(r, obj, group, f->name, p); break;
        }
    }
}

static void free_strs(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* All strings of a string attribute (variable- or fixed-length), malloc'd. */
static char **r_strs(reader *r, hid_t obj, const char *where, const char *name, bool scalar, int *count)
{
    hid_t a = r_attr(r, obj, where, name, H5T_STRING, scalar);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    int n = np > 0 && np <= 4096 ? (int)np : 0;
    char **out = rd_calloc((size_t)n + 1, sizeof *out);
    bool ok = n > 0;
    if (ok && H5Tis_variable_str(ft) > 0) {
        char **raw = rd_calloc((size_t)n, sizeof *raw);
        hid_t mt = H5Tcopy(H5T_C_S1);
        ok = mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Tset_cset(mt, H5Tget_cset(ft)) >= 0 &&
             H5Aread(a, mt, raw) >= 0;
        if (ok) {
            for (int i = 0; i < n; i++) out[i] = rd_strdup(raw[i] ? raw[i] : "");
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        if (mt >= 0) H5Tclose(mt);
        free(raw);
    } else if (ok) {
        size_t len = H5Tget_size(ft);
        /* A fixed-length string attribute is stored in the file: it cannot be larger than the
         * file (refuse before allocating what a damaged header claims). */
        if (len == 0 || (uint64_t)n * len > r->size) {
            r_fail(r, "%s attribute %s claims %llu bytes, more than the file holds", where_label(where), name,
                   (unsigned long long)((uint64_t)n * len));
            ok = false;
        }
        char *raw = ok ? rd_calloc((size_t)n * len + 1, 1) : NULL;
        ok = ok && H5Aread(a, ft, raw) >= 0;
        for (int i = 0; ok && i < n; i++) out[i] = strndup(raw + (size_t)i * len, len);
        free(raw);
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    if (!ok) {
        r_fail(r, "cannot read %s attribute %s", where_label(where), name);
        free_strs(out, n);
        return NULL;
    }
    *count = n;
    return out;
}

static char *r_str(reader *r, hid_t obj, const char *where, const char *name)
{
    int n = 0;
    char **v = r_strs(r, obj, where, name, true, &n);
    if (!v) return NULL;
    char *s = v[0];
    v[0] = NULL;
    free_strs(v, n);
    return s;
}

static void r_strbuf(reader *r, hid_t obj, const char *where, const char *name, char *buf, size_t n)
{
    char *s = r_str(r, obj, where, name);
    if (s) snprintf(buf, n, "%s", s);
    free(s);
}

/* Open dataset parent/name of type class cls and `rank` dimensions; dims receives the extent. */
static hid_t r_dset(reader *r, hid_t parent, const char *name, const char *full, H5T_class_t cls,
                    int rank, hsize_t *dims)
{
    if (r->rc || parent < 0) return H5I_INVALID_HID;
    if (H5Lexists(parent, name, H5P_DEFAULT) <= 0) {
        r_fail(r, "missing dataset %s", full);
        return H5I_INVALID_HID;
    }
    hid_t d = H5Dopen2(parent, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hid_t t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
    bool ok = sp >= 0 && t >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_ndims(sp) == rank &&
              H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        r_fail(r, "dataset %s has the wrong type or shape", full);
        close_id(d);
        return H5I_INVALID_HID;
    }
    return d;
}

static herr_t checksum_in_stack(unsigned n, const H5E_error2_t *d, void *data)
{
    (void)n;
    if (d->maj_num == H5E_PLINE || d->min_num == H5E_CANTFILTER ||
        (d->desc && strstr(d->desc, "checksum")))
        *(bool *)data = true;
    return 0;
}

static void r_read(reader *r, hid_t d, const char *full, hid_t mtype, void *buf)
{
    if (r->rc || d < 0) return;
    if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        bool checksum = false;
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, checksum_in_stack, &checksum);
        r_fail(r, "corrupt dataset %s (%s)", full, checksum ? "checksum" : "read error");
    }
}

/* /model attribute order: dense_0 .. dense_{n-1}. Returns n or -1. */
/* /model attribute order: dense_<k> and conv2d_<k> groups, each type numbered from 0 in
 * forward order, conv2d ones only before the first dense one. Names go to out[n][32]. */
static int r_order(reader *r, hid_t model, char (*out)[32])
{
    int n = 0;
    char **names = r_strs(r, model, "/model", "order", false, &n);
    if (!names) return -1;
    if (n > RD_MAX_LAYERS) r_fail(r, "/model attribute order lists %d layers (at most %d)", n, RD_MAX_LAYERS);
    int nd = 0, nc = 0;
    for (int i = 0; i < n && !r->rc; i++) {
        char want[32];
        bool conv = !strncmp(names[i], "conv2d_", 7) && nd == 0;
        snprintf(want, sizeof want, conv ? "conv2d_%d" : "dense_%d", conv ? nc++ : nd++);
        if (strcmp(names[i], want))
            r_fail(r, "/model attribute order: entry %d is \"%s\", expected \"%s\"", i, names[i], want);
        else snprintf(out[i], 32, "%s", want);
    }
    free_strs(names, n);
    return r->rc ? -1 : n;
}

/* A dense group's kernel [in,out] (conv2d: rank 4 [KH,KW,C_in,C_out]) and bias [out]; ids
 * returned open. */
static void r_dense_dsets(reader *r, hid_t g, const char *gpath, hid_t *kernel, hid_t *bias,
                          hsize_t *kd, int rank, hsize_t bd[1])
{
    char full[96];
    snprintf(full, sizeof full, "%s/kernel", gpath);
    *kernel = r_dset(r, g, "kernel", full, H5T_FLOAT, rank, kd);
    snprintf(full, sizeof full, "%s/bias", gpath);
    *bias = r_dset(r, g, "bias", full, H5T_FLOAT, 1, bd);
}

static void read_root(reader *r, hid_t f, rd_ckpt_info *in)
{
    char format[64] = "";
    r_strbuf(r, f, "/", "format", format, sizeof format);
    if (!r->rc && strcmp(format, RD_CKPT_FORMAT))
        r_fail(r, "not an rdrop checkpoint (format attribute is \"%s\")", format);
    r_int(r, f, "/", "format_version", &in->format_version);
    if (!r->rc && in->format_version != RD_CKPT_FORMAT_VERSION && in->format_version != RD_CKPT_FORMAT_VERSION_CONV)
        r_fail(r, "unsupported checkpoint format version %d (this rdrop reads versions %d and %d)",
               in->format_version, RD_CKPT_FORMAT_VERSION, RD_CKPT_FORMAT_VERSION_CONV);
    r_strbuf(r, f, "/", "rdrop_version", in->rdrop_version, sizeof in->rdrop_version);
    r_state(r, f, "/", &in->state);
    in->step = in->state.step;
    in->epoch = in->state.epoch;
    r_int(r, f, "/", "world_size", &in->world_size);
    r_u64(r, f, "/", "seed", &in->seed);
    r_strbuf(r, f, "/", "created", in->created, sizeof in->created);
    if (!r->rc) in->config_yaml = r_str(r, f, "/", "config");
    r_strbuf(r, f, "/", "git", in->git, sizeof in->git);
    r_strbuf(r, f, "/", "build_flags", in->build_flags, sizeof in->build_flags);
    r_strbuf(r, f, "/", "mpi_version", in->mpi_version, sizeof in->mpi_version);
    r_strbuf(r, f, "/", "blas_core", in->blas_core, sizeof in->blas_core);
    if (!r->rc && H5Aexists(f, "blas_core_origin") > 0) {   /* absent before the kernel check */
        r_strbuf(r, f, "/", "blas_core_origin", in->blas_core_origin, sizeof in->blas_core_origin);
        r_f64(r, f, "/", "blas_gflops", &in->blas_gflops);
    }
    r_int(r, f, "/", "blas_threads", &in->blas_threads);
    r_f64(r, f, "/", "bucket_mb", &in->bucket_mb);
    r_int(r, f, "/", "overlap", &in->overlap);
}

static void read_model_info(reader *r, hid_t f, rd_ckpt_info *in)
{
    hid_t g = r_group(r, f, "model", "/model");
    char names[RD_MAX_LAYERS][32];
    int n = r_order(r, g, names);
    if (!r->rc) in->architecture = r_str(r, g, "/model", "architecture");
    for (int i = 0; i < n && !r->rc; i++) {
        char gpath[64];
        const char *name = names[i];
        rd_ckpt_dense *D = &in->dense[i];
        snprintf(gpath, sizeof gpath, "/model/%s", name);
        snprintf(D->name, sizeof D->name, "%s", name);
        hid_t gd = r_group(r, g, name, gpath);
        hid_t k, b;
        hsize_t kd[4] = {1, 1, 1, 1}, bd[1];
        const bool conv = !strncmp(name, "conv2d_", 7);
        const int rank = conv ? 4 : 2;
        r_dense_dsets(r, gd, gpath, &k, &b, kd, rank, bd);
        bool fits = true;
        for (int j = 0; j < rank; j++) fits &= kd[j] >= 1 && kd[j] <= (1u << 24);
        if (!r->rc && (!fits || bd[0] != kd[rank - 1]))
            r_fail(r, "%s: kernel and bias [%llu] do not fit", gpath, (unsigned long long)bd[0]);
        r_strbuf(r, gd, gpath, "activation", D->activation, sizeof D->activation);
        r_f64(r, gd, gpath, "max_norm", &D->max_norm);
        if (conv) {
            r_strbuf(r, gd, gpath, "padding", D->padding, sizeof D->padding);
            hid_t a = r_attr(r, gd, gpath, "stride", H5T_INTEGER, false);
            if (a >= 0 && H5Aread(a, H5T_NATIVE_INT, D->stride) < 0) r_fail(r, "%s: cannot read attribute stride", gpath);
            close_id(a);
        }
        if (!r->rc) {
            D->rank = rank;
            for (int j = 0; j < 4; j++) D->kdims[j] = (int)kd[j];
            D->out = (int)kd[rank - 1];
            D->in = (int)(kd[0] * (rank == 4 ? kd[1] * kd[2] : 1));
        }
        close_id(k);
        close_id(b);
        close_id(gd);
    }
    in->n_dense = r->rc ? 0 : n;
    close_id(g);
}

static void read_optimizer_info(reader *r, hid_t f, rd_ckpt_info *in)
{
    hid_t g = r_group(r, f, "optimizer", "/optimizer");
    r_state(r, g, "/optimizer", &in->state);
    in->lr = in->state.lr;
    r_f64(r, g, "/optimizer", "momentum", &in->momentum);
    r_int(r, g, "/optimizer", "nesterov", &in->nesterov);
    r_f64(r, g, "/optimizer", "weight_decay", &in->weight_decay);
    if (!r->rc) in->schedule = r_str(r, g, "/optimizer", "schedule");
    close_id(g);

    g = r_group(r, f, "rng", "/rng");
    char algorithm[32] = "";
    r_strbuf(r, g, "/rng", "algorithm", algorithm, sizeof algorithm);
    if (!r->rc && strcmp(algorithm, "philox4x32-10"))
        r_fail(r, "unsupported RNG algorithm \"%s\" (this rdrop uses philox4x32-10)", algorithm);
    r_int(r, g, "/rng", "rng_version", &in->rng_version);
    if (!r->rc && in->rng_version != RD_RNG_VERSION)
        r_fail(r, "unsupported rng_version %d (this rdrop has %d)", in->rng_version, RD_RNG_VERSION);
    r_strbuf(r, g, "/rng", "dropout_stream", in->dropout_stream, sizeof in->dropout_stream);
    if (!r->rc && strcmp(in->dropout_stream, "rank") && strcmp(in->dropout_stream, "sample"))
        r_fail(r, "/rng attribute dropout_stream is \"%s\" (rank or sample)", in->dropout_stream);
    close_id(g);
}

/* A 1-D integer dataset of `want` elements of `esize` bytes into a fresh buffer (+1 zero byte). */
static void *r_vector(reader *r, hid_t parent, const char *name, const char *full, hid_t mtype,
                      size_t esize, uint64_t *count)
{
    hsize_t dim[1] = {0};
    hid_t d = r_dset(r, parent, name, full, H5T_INTEGER, 1, dim);
    if (d < 0) return NULL;
    if (dim[0] > r->size / esize) {
        r_fail(r, "dataset %s claims %llu elements, more than the file holds", full, (unsigned long long)dim[0]);
        close_id(d);
        return NULL;
    }
    char *buf = rd_calloc((size_t)dim[0] * esize + 1, 1);
    if (dim[0] > 0) r_read(r, d, full, mtype, buf);
    close_id(d);
    if (r->rc) {
        free(buf);
        return NULL;
    }
    *count = dim[0];
    return buf;
}

static void read_train_state(reader *r, hid_t f, rd_train_state *s)
{
    hid_t g = r_group(r, f, "data", "/data");
    r_state(r, g, "/data", s);
    /* An empty split may be stored as an empty dataset or not at all. */
    if (!r->rc && (s->n_validation > 0 || H5Lexists(g, "validation_indices", H5P_DEFAULT) > 0)) {
        uint64_t n = 0;
        s->validation_indices = r_vector(r, g, "validation_indices", "/data/validation_indices",
                                         H5T_NATIVE_UINT32, sizeof(uint32_t), &n);
        if (!r->rc && n != s->n_validation)
            r_fail(r, "/data/validation_indices has %llu entries, /data attribute validation says %u",
                   (unsigned long long)n, s->n_validation);
        if (!r->rc && n == 0) {
            free(s->validation_indices);
            s->validation_indices = NULL;
        }
    }
    close_id(g);

    g = r_group(r, f, "train", "/train");
    r_state(r, g, "/train", s);
    close_id(g);

    g = r_group(r, f, "metrics", "/metrics");
    uint64_t n = 0;
    if (!r->rc) s->metrics = r_vector(r, g, "jsonl", "/metrics/jsonl", H5T_NATIVE_UINT8, 1, &n);
    s->metrics_len = (size_t)n;
    close_id(g);
}

int rd_ckpt_read_info(const char *path, rd_ckpt_info *info, rd_error *e)
{
    memset(info, 0, sizeof *info);
    reader r = {path, e, 0, 0};
    int rc = verify(path, e, &r.size);
    if (rc) return rc;
    hid_t f = open_hdf5(&r);
    if (f >= 0) {
        read_root(&r, f, info);
        read_model_info(&r, f, info);
        read_optimizer_info(&r, f, info);
        read_train_state(&r, f, &info->state);
        H5Fclose(f);
    }
    if (r.rc) rd_ckpt_info_free(info);
    return r.rc;
}

void rd_ckpt_info_free(rd_ckpt_info *info)
{
    free(info->config_yaml);
    free(info->architecture);
    free(info->schedule);
    free(info->state.validation_indices);
    free(info->state.metrics);
    memset(info, 0, sizeof *info);
}

/* Open the kernel/bias datasets of dense_<i> under `parent` and compare their shapes with L. */
static void dims_text(char *buf, size_t n, const hsize_t *d, int rank)
{
    int k = snprintf(buf, n, "[");
    for (int j = 0; j < rank && k > 0 && (size_t)k < n; j++)
        k += snprintf(buf + k, n - (size_t)k, "%s%llu", j ? " x " : "", (unsigned long long)d[j]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
}

static void check_dense(reader *r, hid_t parent, const char *ppath, const char *label,
                        const rd_layer *L, bool attrs, hid_t ids[2])
{
    char name[32], gpath[96];
    param_group_name(L, name, sizeof name);
    snprintf(gpath, sizeof gpath, "%s/%s", ppath, name);
    hid_t g = r_group(r, parent, name, gpath);
    hsize_t want[4], kd[4] = {0, 0, 0, 0}, bd[1] = {0};
    const int rank = kernel_dims(L, want);
    r_dense_dsets(r, g, gpath, &ids[0], &ids[1], kd, rank, bd);
    if (!r->rc && memcmp(kd, want, (size_t)rank * sizeof kd[0])) {
        char got_s[96], want_s[96];
        dims_text(got_s, sizeof got_s, kd, rank);
        dims_text(want_s, sizeof want_s, want, rank);
        r_fail(r, "architecture mismatch: %s%s/kernel is %s, the config wants %s", label, name, got_s, want_s);
    }
    if (!r->rc && bd[0] != (hsize_t)L->k_cols)
        r_fail(r, "architecture mismatch: %s%s/bias is [%llu], the config wants [%d]", label, name,
               (unsigned long long)bd[0], L->k_cols);
    if (attrs) {
        char act[32] = "";
        double max_norm = 0;
        r_strbuf(r, g, gpath, "activation", act, sizeof act);
        r_f64(r, g, gpath, "max_norm", &max_norm);
        const char *want = rd_activation_name(L->act);
        if (!r->rc && strcmp(act, want))
            r_fail(r, "architecture mismatch: %s activation is %s, the config wants %s", name, act, want);
        if (!r->rc && max_norm != L->max_norm)
            r_fail(r, "architecture mismatch: %s max_norm is %g, the config wants %g", name, max_norm,
                   L->max_norm);
    }
    close_id(g);
}

int rd_ckpt_read_params(const char *path, rd_model *m, bool momentum, rd_error *e)
{
    const rd_layer *dense[RD_MAX_LAYERS];
    const int np = collect_dense(m, dense, path, e);
    if (np < 0) return RD_EXIT_INTERNAL;
    int rc;
    if (momentum && !m->momentum)
        return rd_fail(e, RD_EXIT_INTERNAL, "%s: internal error: the model has no momentum buffer", path);
    reader r = {path, e, 0, 0};
    if ((rc = verify(path, e, &r.size))) return rc;
    hid_t f = open_hdf5(&r);
    hid_t gm = r_group(&r, f, "model", "/model");
    char names[RD_MAX_LAYERS][32];
    int n = r_order(&r, gm, names);
    bool mlp = m->n_conv == 0;
    for (int i = 0; i < n; i++) mlp &= !strncmp(names[i], "dense_", 6);
    if (!r.rc && n != np)
        r_fail(&r, "architecture mismatch: the checkpoint has %d %s layers, the config wants %d", n,
               mlp ? "dense" : "parameterised (dense and conv2d)", np);
    for (int i = 0; i < np && !r.rc; i++) {
        char want[32];
        param_group_name(dense[i], want, sizeof want);
        if (strcmp(names[i], want))
            r_fail(&r, "architecture mismatch: parameterised layer %d is %s in the checkpoint, the config wants %s",
                   i, names[i], want);
    }
    hid_t go = momentum ? r_group(&r, f, "optimizer", "/optimizer") : H5I_INVALID_HID;
    hid_t gv = momentum ? r_group(&r, go, "momentum", "/optimizer/momentum") : H5I_INVALID_HID;

    /* Every shape first, so that a mismatch leaves the model untouched. */
    hid_t ids[RD_MAX_LAYERS][4];
    for (int i = 0; i < RD_MAX_LAYERS; i++) ids[i][0] = ids[i][1] = ids[i][2] = ids[i][3] = H5I_INVALID_HID;
    for (int i = 0; i < np && !r.rc; i++) {
        check_dense(&r, gm, "/model", "", dense[i], true, &ids[i][0]);
        if (momentum) check_dense(&r, gv, "/optimizer/momentum", "optimizer/momentum/", dense[i], false, &ids[i][2]);
    }
    for (int i = 0; i < np && !r.rc; i++) {
        const rd_layer *L = dense[i];
        char full[96];
        snprintf(full, sizeof full, "/model/%s/kernel", names[i]);
        r_read(&r, ids[i][0], full, H5T_NATIVE_FLOAT, m->params + L->w_off);
        snprintf(full, sizeof full, "/model/%s/bias", names[i]);
        r_read(&r, ids[i][1], full, H5T_NATIVE_FLOAT, m->params + L->b_off);
        if (!momentum) continue;
        snprintf(full, sizeof full, "/optimizer/momentum/%s/kernel", names[i]);
        r_read(&r, ids[i][2], full, H5T_NATIVE_FLOAT, m->momentum + L->w_off);
        snprintf(full, sizeof full, "/optimizer/momentum/%s/bias", names[i]);
        r_read(&r, ids[i][3], full, H5T_NATIVE_FLOAT, m->momentum + L->b_off);
    }
    for (int i = 0; i < RD_MAX_LAYERS; i++)
        for (int j = 0; j < 4; j++) close_id(ids[i][j]);
    close_id(gv);
    close_id(go);
    close_id(gm);
    if (f >= 0) H5Fclose(f);
    return r.rc;
}

/* ------------------------------------------------------------------------- run folder */

void rd_ckpt_name(char *out, size_t n, const char *dir, int64_t step)
{
    snprintf(out, n, "%s/ckpt-%09lld.h5", dir, (long long)step);
}

static bool is_ckpt_name(const char *name)
{
    size_t n = strlen(name);
    return n > 8 && strncmp(name, "ckpt-", 5) == 0 && strcmp(name + n - 3, ".h5") == 0;
}

/* ckpt-<digits>.h5 -> step. */
static bool parse_ckpt_step(const char *name, int64_t *step)
{
    if (strncmp(name, "ckpt-", 5)) return false;
    const char *p = name + 5;
    int64_t v = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*p - '0');
    }
    if (digits == 0 || strcmp(p, ".h5")) return false;
    *step = v;
    return true;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = rd_malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* verify + the root `step` attribute. */
static int read_step(const char *path, int64_t *step, rd_error *e)
{
    reader r = {path, e, 0, 0};
    int rc = verify(path, e, &r.size);
    if (rc) return rc;
    hid_t f = open_hdf5(&r);
    char format[64] = "";
    r_strbuf(&r, f, "/", "format", format, sizeof format);
    if (!r.rc && strcmp(format, RD_CKPT_FORMAT))
        r_fail(&r, "not an rdrop checkpoint (format attribute is \"%s\")", format);
    r_i64(&r, f, "/", "step", step);
    if (f >= 0) H5Fclose(f);
    return r.rc;
}

static int cmp_entry_desc(const void *a, const void *b)
{
    const rd_ckpt_entry *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? 1 : -1;
    return strcmp(y->path, x->path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines joined, each ending in '\n'; frees the lines. */
static char *join_lines(char **lines, int n)
{
    if (n == 0) return NULL;
    qsort(lines, (size_t)n, sizeof *lines, cmp_str);
    rd_buf b = {0};
    for (int i = 0; i < n; i++) {
        rd_buf_printf(&b, "%s\n", lines[i]);
        free(lines[i]);
    }
    return b.p;
}

static void push_line(char ***lines, int *n, int *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        char **grown = realloc(*lines, (size_t)*cap * sizeof **lines);
        if (!grown) abort();
        *lines = grown;
    }
    (*lines)[(*n)++] = rd_strdup(s);
}

int rd_ckpt_list(const char *dir, rd_ckpt_entry **good, char **bad_report)
{
    *good = NULL;
    if (bad_report) *bad_report = NULL;
    char **bad = NULL;
    int nbad = 0, capbad = 0, n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT && bad_report) {
            char msg[CK_PATH + 128];
            snprintf(msg, sizeof msg, "%s: cannot read folder: %s", dir, strerror(errno));
            push_line(&bad, &nbad, &capbad, msg);
            *bad_report = join_lines(bad, nbad);
            free(bad);
        }
        return 0;
    }
    rd_ckpt_entry *list = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_ckpt_name(de->d_name)) continue;
        char *path = join_path(dir, de->d_name);
        rd_error e = {0};
        int64_t step = 0;
        if (read_step(path, &step, &e)) {
            push_line(&bad, &nbad, &capbad, e.msg);
            free(path);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            rd_ckpt_entry *grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) abort();
            list = grown;
        }
        list[n++] = (rd_ckpt_entry){path, step};
    }
    closedir(d);
    if (n > 0) qsort(list, (size_t)n, sizeof *list, cmp_entry_desc);
    char *report = join_lines(bad, nbad);
    free(bad);
    if (bad_report) *bad_report = report;
    else free(report);
    *good = list;
    return n;
}

void rd_ckpt_list_free(rd_ckpt_entry *list, int n)
{
    if (!list) return;
    for (int i = 0; i < n; i++) free(list[i].path);
    free(list);
}

typedef struct { char *name; int64_t step; bool keep; } prune_entry;

static int cmp_prune_asc(const void *a, const void *b)
{
    const prune_entry *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return strcmp(x->name, y->name);
}

void rd_ckpt_prune(const char *dir, long keep, long keep_every_epochs, int64_t steps_per_epoch)
{
    if (keep <= 0) return;
    DIR *d = opendir(dir);
    if (!d) return;
    prune_entry *v = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t step;
        if (!parse_ckpt_step(de->d_name, &step)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            prune_entry *grown = realloc(v, (size_t)cap * sizeof *v);
            if (!grown) abort();
            v = grown;
        }
        v[n++] = (prune_entry){rd_strdup(de->d_name), step, false};
    }
    closedir(d);
    if (n > 0) qsort(v, (size_t)n, sizeof *v, cmp_prune_asc);
    for (int i = n - (int)(keep < n ? keep : n); i < n; i++) v[i].keep = true;
    if (keep_every_epochs > 0 && steps_per_epoch > 0 && keep_every_epochs <= INT64_MAX / steps_per_epoch) {
        /* The first checkpoint at or after k*period is the first whose k = step/period
         * exceeds its predecessor's. */
        int64_t period = (int64_t)keep_every_epochs * steps_per_epoch, prev_k = 0;
        for (int i = 0; i < n; i++) {
            int64_t k = v[i].step / period;
            if (k > prev_k) v[i].keep = true;
            prev_k = k > prev_k ? k : prev_k;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!v[i].keep) {
            char *path = join_path(dir, v[i].name);
            unlink(path);
            free(path);
        }
        free(v[i].name);
    }
    free(v);
}

void rd_ckpt_hdf5_version(char *out, size_t n)
{
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(out, n, "%u.%u.%u", maj, min, rel);
}
