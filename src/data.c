/* data.c - IDX readers (plain or gzip'd, through zlib) and the synthetic generator. */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <Random123/philox.h>

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_2D 0x00000802u
#define IDX_MAGIC_3D 0x00000803u
#define IDX_CLASSES 10u

/* Sizes above these are refused from the header alone, before any allocation. */
#define MAX_SAMPLES (1ull << 28)
#define MAX_FEATURES (1ull << 24)
#define MAX_BYTES (1ull << 33)

/* First body allocation; it doubles as data actually arrives, so a header that
 * announces gigabytes in front of a short file costs no more than this. */
#define FIRST_CHUNK ((size_t)1 << 24)

/* ---------------------------------------------------------------- zlib helpers */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads until len bytes, end of data or an error; returns the bytes read. */
static size_t gz_read_upto(gzFile gz, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(gz, (unsigned char *)buf + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* zlib prefixes its messages with the path given to gzopen; we add our own. */
static const char *strip_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
    return msg;
}

/* Describes a pending zlib error in e and returns RD_EXIT_DATA; returns 0 if none.
 * With truncation_ok, Z_BUF_ERROR ("unexpected end of file" inside a gzip stream)
 * is left to the caller, which reports it as truncated data with byte counts. */
static int gz_check(gzFile gz, const char *path, bool truncation_ok, rd_error *e)
{
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum == Z_OK || (truncation_ok && errnum == Z_BUF_ERROR)) return 0;
    if (errnum == Z_ERRNO) return rd_fail(e, RD_EXIT_DATA, "%s: cannot read: %s", path, strip_path(msg, path));
    return rd_fail(e, RD_EXIT_DATA, "%s: corrupt gzip data: %s", path, strip_path(msg, path));
}

static int gz_open(gzFile *gz, const char *path, rd_error *e)
{
    errno = 0;
    *gz = gzopen(path, "rb");
    if (!*gz)
        return rd_fail(e, RD_EXIT_DATA, "%s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(*gz, 1u << 17);
    return 0;
}

/* ---------------------------------------------------------------- IDX parts */

typedef struct {
    uint32_t magic;
    int ndims;
    uint32_t dims[3];
} idx_header;

/* Reads the magic and the dimensions it announces. `labels` selects what is expected. */
static int read_header(gzFile gz, const char *path, bool labels, idx_header *h, rd_error *e)
{
    unsigned char buf[16];
    size_t got = gz_read_upto(gz, buf, 4);
    int rc = gz_check(gz, path, true, e);
    if (rc) return rc;
    if (got < 4) return rd_fail(e, RD_EXIT_DATA, "%s: truncated header (got %zu of at least 4 bytes)", path, got);

    h->magic = be32(buf);
    if (labels && h->magic != IDX_MAGIC_LABELS)
        return rd_fail(e, RD_EXIT_DATA, "%s: not an IDX label file (magic 0x%08x, expected 0x%08x)",
                       path, h->magic, IDX_MAGIC_LABELS);
    if (!labels && h->magic != IDX_MAGIC_3D && h->magic != IDX_MAGIC_2D)
        return rd_fail(e, RD_EXIT_DATA,
                       "%s: not an IDX image file (magic 0x%08x, expected 0x%08x or 0x%08x)",
                       path, h->magic, IDX_MAGIC_3D, IDX_MAGIC_2D);

    h->ndims = (int)(h->magic & 0xff);
    size_t want = 4 * (size_t)h->ndims;
    got = gz_read_upto(gz, buf + 4, want);
    rc = gz_check(gz, path, true, e);
    if (rc) return rc;
    if (got < want)
        return rd_fail(e, RD_EXIT_DATA, "%s: truncated header (got %zu of %zu bytes)", path, 4 + got, 4 + want);
    for (int i = 0; i < h->ndims; i++) h->dims[i] = be32(buf + 4 + 4 * i);
    return 0;
}

static int check_image_sizes(const char *path, const idx_header *h, uint64_t *features, rd_error *e)
{
    uint64_t n = h->dims[0];
    uint64_t f = h->ndims == 3 ? (uint64_t)h->dims[1] * h->dims[2] : h->dims[1];
    char shape[64];
    if (h->ndims == 3)
        snprintf(shape, sizeof shape, "%u x %u", h->dims[1], h->dims[2]);
    else
        snprintf(shape, sizeof shape, "%u", h->dims[1]);

    if (n == 0 || n > MAX_SAMPLES)
        return rd_fail(e, RD_EXIT_DATA, "%s: absurd header: %llu images (allowed 1..%llu)", path,
                       (unsigned long long)n, MAX_SAMPLES);
    if (f == 0 || f > MAX_FEATURES)
        return rd_fail(e, RD_EXIT_DATA, "%s: absurd header: images of %s = %llu values (allowed 1..%llu)",
                       path, shape, (unsigned long long)f, MAX_FEATURES);
    /* n <= 2^28 and f <= 2^24, so the product cannot overflow */
    if (n * f > MAX_BYTES || n * f > SIZE_MAX)
        return rd_fail(e, RD_EXIT_DATA, "%s: absurd header: %llu images of %s = %llu bytes (limit %llu)",
                       path, (unsigned long long)n, shape, (unsigned long long)(n * f), MAX_BYTES);
    *features = f;
    return 0;
}

/* Reads exactly len bytes into a fresh buffer, growing it as data arrives. */
static int read_body(gzFile gz, const char *path, size_t len, const char *what, uint8_t **out,
                     rd_error *e)
{
    size_t cap = len < FIRST_CHUNK ? len : FIRST_CHUNK;
    size_t got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return rd_fail(e, RD_EXIT_INTERNAL, "%s: out of memory (%zu bytes)", path, cap);
    for (;;) {
        got += gz_read_upto(gz, buf + got, cap - got);
        if (got < cap || cap == len) break;
        size_t next = cap > len / 2 ? len : 2 * cap;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return rd_fail(e, RD_EXIT_INTERNAL, "%s: out of memory (%zu bytes)", path, next);
        }
        buf = grown;
        cap = next;
    }
    int rc = gz_check(gz, path, true, e);
    if (!rc && got < len)
        rc = rd_fail(e, RD_EXIT_DATA, "%s: truncated: expected %zu bytes of %s, got %zu", path, len, what, got);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* After the announced bytes the file must end: one more read returns 0 and no error
 * (zlib verifies the gzip CRC and length trailer only when it reaches it). */
static int check_end(gzFile gz, const char *path, rd_error *e)
{
    unsigned char buf[4096];
    int r = gzread(gz, buf, sizeof buf);
    if (r > 0) {
        unsigned long long extra = (unsigned long long)r;
        while ((r = gzread(gz, buf, sizeof buf)) > 0) extra += (unsigned long long)r;
        return rd_fail(e, RD_EXIT_DATA, "%s: %llu unexpected byte%s after the data", path, extra,
                       extra == 1 ? "" : "s");
    }
    int errnum = Z_OK;
    gzerror(gz, &errnum);
    if (errnum == Z_BUF_ERROR)   /* every data byte arrived, the gzip trailer did not */
        return rd_fail(e, RD_EXIT_DATA, "%s: corrupt gzip data: unexpected end of file (all data present, truncated before "
                       "the end of the gzip stream)", path);
    return gz_check(gz, path, false, e);
}

static int load_images(const char *path, uint32_t *n, uint32_t *features, uint32_t *rows, uint8_t **x,
                       rd_error *e)
{
    gzFile gz;
    int rc = gz_open(&gz, path, e);
    if (rc) return rc;
    idx_header h;
    uint64_t f = 0;
    rc = read_header(gz, path, false, &h, e);
    if (!rc) rc = check_image_sizes(path, &h, &f, e);
    if (!rc) rc = read_body(gz, path, (size_t)(h.dims[0] * f), "pixels", x, e);
    if (!rc) {
        rc = check_end(gz, path, e);
        if (rc) {
            free(*x);
            *x = NULL;
        }
    }
    gzclose(gz);
    if (!rc) {
        *n = h.dims[0];
        *features = (uint32_t)f;
        *rows = h.ndims == 3 ? h.dims[1] : 1;
    }
    return rc;
}

static int check_labels(const char *path, const uint8_t *y, uint32_t n, rd_error *e)
{
    for (uint32_t i = 0; i < n; i++)
        if (y[i] >= IDX_CLASSES)
            return rd_fail(e, RD_EXIT_DATA, "%s: label %u at index %u is out of range (0..%u)", path,
                           (unsigned)y[i], i, IDX_CLASSES - 1);
    return 0;
}

static int load_label_bytes(const char *path, const char *images_path, uint32_t n_images, uint8_t **y,
                            rd_error *e)
{
    gzFile gz;
    int rc = gz_open(&gz, path, e);
    if (rc) return rc;
    idx_header h;
    rc = read_header(gz, path, true, &h, e);
    if (!rc && h.dims[0] != n_images)
        rc = rd_fail(e, RD_EXIT_DATA, "%s: %u labels but %s has %u images", path, h.dims[0],
                     images_path, n_images);
    if (!rc) rc = read_body(gz, path, n_images, "labels", y, e);
    if (!rc) {
        rc = check_end(gz, path, e);
        if (!rc) rc = check_labels(path, *y, n_images, e);
        if (rc) {
            free(*y);
            *y = NULL;
        }
    }
    gzclose(gz);
    return rc;
}

static int load_labels(const char *path, const char *images_path, uint32_t n_images, int32_t **y,
                       rd_error *e)
{
    uint8_t *bytes = NULL;
    int rc = load_label_bytes(path, images_path, n_images, &bytes, e);
    if (rc) return rc;
    *y = rd_malloc((size_t)n_images * sizeof **y);
    for (uint32_t i = 0; i < n_images; i++) (*y)[i] = bytes[i];
    free(bytes);
    return 0;
}

int rd_data_load_idx(rd_dataset *d, const char *images_path, const char *labels_path, rd_error *e)
{
    memset(d, 0, sizeof *d);
    uint32_t n = 0, features = 0, rows = 1;
    uint8_t *x = NULL;
    int32_t *y = NULL;
    int rc = load_images(images_path, &n, &features, &rows, &x, e);
    if (rc) return rc;
    rc = load_labels(labels_path, images_path, n, &y, e);
    if (rc) {
        free(x);
        return rc;
    }
    d->n = n;
    d->features = features;
    d->rows = rows;
    d->cols = features / rows;
    d->channels = 1;
    d->classes = IDX_CLASSES;
    d->x = x;
    d->y = y;
    return 0;
}

/* "PATH: what" -> "PATH: KEY: what" for whichever of the two paths the message starts with
 * (the longer one when both do), so that the config key of the failing file is named. */
static void name_key(rd_error *e, const char *images_path, const char *images_key,
                     const char *labels_path, const char *labels_key)
{
    const char *paths[2] = {images_path, labels_path}, *keys[2] = {images_key, labels_key};
    size_t best = 0;
    int which = -1;
    for (int i = 0; i < 2; i++) {
        size_t n = paths[i] && keys[i] ? strlen(paths[i]) : 0;
        if (n > best && !strncmp(e->msg, paths[i], n) && e->msg[n] == ':' && e->msg[n + 1] == ' ') {
            best = n;
            which = i;
        }
    }
    if (which < 0) return;
    char rest[sizeof e->msg];
    snprintf(rest, sizeof rest, "%s", e->msg + best + 2);
    snprintf(e->msg, sizeof e->msg, "%.*s: %s: %s", (int)best, paths[which], keys[which], rest);
}

int rd_data_load_idx_keys(rd_dataset *d, const char *images_path, const char *images_key,
                          const char *labels_path, const char *labels_key, rd_error *e)
{
    int rc = rd_data_load_idx(d, images_path, labels_path, e);
    if (rc && e) name_key(e, images_path, images_key, labels_path, labels_key);
    return rc;
}

/* ---------------------------------------------------------------- synthetic */

/* Synthetic data keys are rd_rng_key(seed, SYNTH_PURPOSE, id), a purpose far from the RNG
 * table's (1..6), so they never collide with a training stream.
 * id 0 = class prototypes, id 1 + split = that split's samples. */
#define SYNTH_PURPOSE 0x40u

/* Mixing weight t toward a second class is uniform in [0, SYNTH_MIX_MAX/1024]: samples with
 * t > 1/2 sit nearer the other prototype, which caps accuracy near 1 - 51/563 = 91%. */
#define SYNTH_MIX_MAX 563
/* Noise = (sum of a word's 4 bytes - 510) * SYNTH_NOISE / 1024: approx. Gaussian, sd ~25, |.| <= 86. */
#define SYNTH_NOISE 173

static philox4x32_key_t synth_key(uint64_t seed, uint32_t id)
{
    rd_key k = rd_rng_key(seed, SYNTH_PURPOSE, id);
    philox4x32_key_t pk = {{k.k[0], k.k[1]}};
    return pk;
}

static philox4x32_ctr_t synth_block(philox4x32_key_t key, uint32_t block, uint32_t row)
{
    philox4x32_ctr_t c = {{block, row, 0, 0}};
    return philox4x32(c, key);
}

/* proto[c*features + f] in [40, 215]: feature f of class c uses word f%4 of block f/4. */
static void synth_prototypes(uint8_t *proto, uint32_t features, uint32_t classes, uint64_t seed)
{
    philox4x32_key_t key = synth_key(seed, 0);
    for (uint32_t c = 0; c < classes; c++) {
        philox4x32_ctr_t r = {{0, 0, 0, 0}};
        for (uint32_t f = 0; f < features; f++) {
            if (f % 4 == 0) r = synth_block(key, f / 4, c);
            proto[(size_t)c * features + f] = (uint8_t)(40 + rd_word_below(r.v[f % 4], 176));
        }
    }
}

/* Sample i: block 0 gives label, second class and mixing weight; feature f uses word f%4
 * of block 1 + f/4 for its noise. Integer arithmetic only, so the bytes are the same on
 * every machine and compiler. */
static void synth_sample(uint8_t *x, int32_t *y, const uint8_t *proto, uint32_t features,
                         uint32_t classes, philox4x32_key_t key, uint32_t i)
{
    philox4x32_ctr_t r = synth_block(key, 0, i);
    uint32_t c = rd_word_below(r.v[0], classes);
    uint32_t other = classes > 1 ? (c + 1 + rd_word_below(r.v[1], classes - 1)) % classes : c;
    int64_t t = rd_word_below(r.v[2], SYNTH_MIX_MAX + 1);
    const uint8_t *pc = proto + (size_t)c * features;
    const uint8_t *po = proto + (size_t)other * features;
    for (uint32_t f = 0; f < features; f++) {
        if (f % 4 == 0) r = synth_block(key, 1 + f / 4, i);
        uint32_t w = r.v[f % 4];
        int64_t bytes = (int64_t)(w & 0xff) + ((w >> 8) & 0xff) + ((w >> 16) & 0xff) + (w >> 24);
        int64_t v = (1024 - t) * pc[f] + t * po[f] + (bytes - 510) * SYNTH_NOISE;  /* x 1024 */
        v = (v + 512) / 1024;
        x[f] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    *y = (int32_t)c;
}

void rd_data_synthetic(rd_dataset *d, uint32_t n, uint32_t features, uint32_t classes,
                       uint64_t seed, int split)
{
    memset(d, 0, sizeof *d);
    if (classes == 0) classes = 1;
    uint8_t *proto = rd_malloc((size_t)classes * features);
    synth_prototypes(proto, features, classes, seed);
    d->n = n;
    d->features = features;
    d->rows = 1;
    d->cols = features;
    d->channels = 1;
    d->classes = classes;
    d->x = rd_malloc((size_t)n * features);
    d->y = rd_malloc((size_t)n * sizeof *d->y);
    philox4x32_key_t key = synth_key(seed, 1 + (uint32_t)split);
    for (uint32_t i = 0; i < n; i++)
        synth_sample(d->x + (size_t)i * features, d->y + i, proto, features, classes, key, i);
    free(proto);
}

/* ---------------------------------------------------------------- common */

void rd_data_free(rd_dataset *d)
{
    if (!d) return;
    if (d->stream) rd_data_stream_free(d->stream);
    free(d->x);
    free(d->xf);
    free(d->y);
    memset(d, 0, sizeof *d);
}

void rd_data_gather(const rd_dataset *d, const uint32_t *idx, uint32_t count, float *x, int32_t *y)
{
    const size_t f = d->features;
    if (d->stream) rd_data_stream_gather(d, idx, count, x);
    for (uint32_t i = 0; i < count; i++) {
        float *dst = x + (size_t)i * f;
        if (d->x) {
            const uint8_t *src = d->x + (size_t)idx[i] * f;
            for (size_t j = 0; j < f; j++) dst[j] = (float)src[j] / 255.0f;
        } else if (d->xf) {
            memcpy(dst, d->xf + (size_t)idx[i] * f, f * sizeof *dst);
        }
        if (y) y[i] = d->y[idx[i]];
    }
}

/* ---------------------------------------------------------------- augmentation */

void rd_data_augment(const rd_dataset *d, const rd_augment *a, uint64_t seed, uint32_t epoch,
                     const uint32_t *idx, uint32_t count, float *x, float *scratch)
{
    if (!a->flip && a->shift <= 0) return;
    /* A pixel is `channels` floats (NHWC): moved as a whole. */
    const int R = (int)d->rows, C = (int)d->cols, s = a->shift > 0 ? a->shift : 0;
    const int ch = d->channels > 1 ? (int)d->channels : 1;
    const uint32_t range = 2u * (uint32_t)s + 1u;
    const size_t f = d->features;
    const rd_key key = rd_rng_key(seed, RD_PURPOSE_AUGMENT, 0);
    for (uint32_t i = 0; i < count; i++) {
        const uint32_t ctr[4] = {idx[i], epoch, 0, 0};
        uint32_t v[4];
        rd_philox(key, ctr, v);
        const bool mirror = a->flip && (v[0] & 1u);
        const int dx = s ? (int)rd_word_below(v[1], range) - s : 0;
        const int dy = s && R > 1 ? (int)rd_word_below(v[2], range) - s : 0;
        if (!mirror && dx == 0 && dy == 0) continue;
        float *row = x + (size_t)i * f;
        memcpy(scratch, row, f * sizeof *row);
        for (int r = 0; r < R; r++) {
            float *out = row + (size_t)r * C * ch;
            const int sr = r - dy;
            if (sr < 0 || sr >= R) {
                memset(out, 0, (size_t)C * ch * sizeof *out);
                continue;
            }
            const float *in = scratch + (size_t)sr * C * ch;
            for (int c = 0; c < C; c++) {
                const int sc = c - dx;
                for (int k = 0; k < ch; k++)
                    out[c * ch + k] = sc < 0 || sc >= C ? 0.0f : in[(mirror ? C - 1 - sc : sc) * ch + k];
            }
        }
    }
}
