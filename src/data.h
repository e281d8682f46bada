/* data.h - data sets behind one interface: IDX (optionally gzip'd) files, HDF5 files
 * (data_hdf5.c; docs/data.md) and a synthetic generator. uint8 samples (pixels 0..255) are
 * gathered as float pixel/255 (the only preprocessing); float32 samples (HDF5) as they are.
 * Labels are int32 in [0, classes).
 */
#ifndef RDROP_DATA_H
#define RDROP_DATA_H

#include "common.h"
#include "rng.h"

typedef struct {
    uint32_t n;          /* samples */
    uint32_t features;   /* values per sample (28*28 = 784 for Fashion-MNIST) */
    uint32_t classes;    /* labels are < classes (10 for IDX files) */
    uint32_t rows, cols; /* image shape: IDX n x rows x cols; 1 x features otherwise */
    uint32_t channels;   /* C of an [H, W, C] sample (rows x cols x channels = features); 1 for IDX */
    uint8_t *x;          /* [n x features] row-major uint8, or NULL (float or streamed data) */
    float *xf;           /* [n x features] row-major float32 (HDF5 float X in memory), or NULL */
    int32_t *y;          /* [n] labels, always in memory */
    struct rd_stream *stream; /* data.load: stream: X is read per batch (data_hdf5.c) */
} rd_dataset;

/* Read an IDX image file (magic 0x00000803, dims n x rows x cols, or 0x00000801-style
 * 2-D 0x00000802) and its IDX label file (magic 0x00000801), gzip'd or not (zlib detects).
 * Validates magic, dimensions (refuses absurd sizes before allocating), exact length
 * (one more gzread past the announced bytes must return 0 without error), equal counts,
 * labels < 10. Errors name the file: "PATH: truncated: expected N bytes of pixels, got M".
 * Limits: 1..2^28 samples, 1..2^24 values per sample, 2^33 bytes of pixels.
 * Returns 0 or RD_EXIT_DATA (RD_EXIT_INTERNAL only if memory runs out); on error *d is
 * all zero and nothing is left allocated. */
int rd_data_load_idx(rd_dataset *d, const char *images_path, const char *labels_path, rd_error *e);

/* The same, naming the config key of the file that failed after its path:
 * "PATH: data.train_images: cannot open: No such file or directory". */
int rd_data_load_idx_keys(rd_dataset *d, const char *images_path, const char *images_key,
                          const char *labels_path, const char *labels_key, rd_error *e);

/* Deterministic synthetic classification set: `classes` Gaussian-ish clusters in
 * `features` dimensions quantised to uint8, a function of (seed, split) only
 * (split 0 = train, 1 = test: different samples, same class prototypes).
 * Each class has a prototype in [40,215]^features; a sample of class c is c's prototype
 * mixed with a random other class's (weight t uniform in [0, 0.55]) plus noise of sd ~25,
 * clipped to 0..255. Samples with t > 0.5 sit nearer the other prototype, so accuracy
 * tops out near 91% whatever `features` is. Labels are uniform random. */
void rd_data_synthetic(rd_dataset *d, uint32_t n, uint32_t features, uint32_t classes,
                       uint64_t seed, int split);

void rd_data_free(rd_dataset *d);

/* x[i*features + f] = d->x[idx[i]*features + f] / 255.0f (uint8 data) or d->xf[...] (float
 * data), y[i] = d->y[idx[i]], i < count. y may be NULL (features only). A streamed set reads
 * the rows through its I/O thread (the prefetched batch when rd_data_prefetch asked for
 * exactly these indices); after a read error the rows are zeros and rd_data_fetch says why. */
void rd_data_gather(const rd_dataset *d, const uint32_t *idx, uint32_t count, float *x, int32_t *y);

/* ---- HDF5 (data_hdf5.c; layout and stream design in docs/data.md) ---- */

typedef struct {
    const char *path;        /* the file */
    const char *key;         /* its config key, named in errors ("data.train_file") */
    const char *images;      /* dataset of X: [N,H,W,C], [N,H,W] or [N,D]; uint8 or float32 */
    const char *labels;      /* dataset of y: [N] (or [N,1]) of any integer type */
    bool stream;             /* keep only a few batches of X in memory */
} rd_hdf5_source;

/* Open and check an HDF5 data set: file, datasets, ranks, dtypes, equal lengths, N >= 1,
 * every label >= 0, float X finite (checked once, chunk by chunk). Labels are read into
 * d->y; X is read whole (memory) or left in the file (stream: an I/O thread is started,
 * which alone calls HDF5 from then on). d->classes = max label + 1. Errors (exit 3) are one
 * line "PATH: KEY: DATASET: what is wrong"; on error *d is all zero. `group` ("" or NULL =
 * the root, else e.g. "/train") prefixes relative and absolute dataset names alike. */
int rd_data_load_hdf5(rd_dataset *d, const rd_hdf5_source *src, const char *group, rd_error *e);

/* Labels must be < classes: "PATH: KEY: DATASET: label L at index I is out of range (0..K-1)". */
int rd_data_check_classes(const rd_dataset *d, uint32_t classes, const char *path, const char *key,
                          const char *labels, rd_error *e);

/* Streamed sets: queue the read of rows idx[0..count) (the I/O thread reads them while the
 * caller computes); a no-op for in-memory sets. */
void rd_data_prefetch(const rd_dataset *d, const uint32_t *idx, uint32_t count);

/* Streamed sets: wait until rows idx[0..count) are in memory (reading them now if nobody
 * asked before). Returns 0 or RD_EXIT_DATA with the read's error; 0 for in-memory sets. */
int rd_data_fetch(const rd_dataset *d, const uint32_t *idx, uint32_t count, rd_error *e);

/* Internal to data.c / data_hdf5.c: a streamed set's gather and teardown. */
void rd_data_stream_gather(const rd_dataset *d, const uint32_t *idx, uint32_t count, float *x);
void rd_data_stream_free(struct rd_stream *s);

/* libhdf5 (Debian's build) is not thread-safe: every HDF5 call while an I/O thread may run
 * holds this lock (the I/O thread takes it per read; the trainer around checkpoint I/O). */
void rd_hdf5_lock(void);
void rd_hdf5_unlock(void);

/* rdrop convert: IDX images + labels of train and test -> one HDF5 file with groups /train
 * and /test, each holding X uint8 [N,H,W] (or [N,D]) and y int32 [N]; X chunked by
 * chunk_rows samples, gzip level 0..9 (0 = none). Written to a temp file and renamed.
 * Returns 0, RD_EXIT_DATA (bad input) or RD_EXIT_WRITE. */
int rd_data_convert_idx(const char *out, const char *train_images, const char *train_labels,
                        const char *test_images, const char *test_labels, uint32_t chunk_rows,
                        int gzip, rd_error *e);

/* rdrop data FILE: every dataset of the file with shape and dtype; for numeric ones
 * min/max, and for 1-D integer ones the class counts. Writes to out. Returns 0 or 3. */
int rd_data_describe(const char *path, void *out_file, rd_error *e);

/* Training-time augmentation (data.augment) of gathered rows x[i] = sample idx[i], in place:
 * the sample's transform is a function of (seed, epoch, dataset index) only -- the same on
 * any rank, at any world size and after a resume. Philox key rd_rng_key(seed,
 * RD_PURPOSE_AUGMENT, 0), counter {index, epoch, 0, 0}, one block v: mirror left-right iff
 * flip and v[0] & 1; shift by dx = floor(v[1] (2s+1) / 2^32) - s columns and (images with
 * rows > 1) dy = floor(v[2] (2s+1) / 2^32) - s rows, s = shift; pixels shifted in are 0.
 * out[r][c] = in[r - dy][m(c - dx)], m(j) = cols-1-j if mirrored else j; scratch: features floats. */
typedef struct {
    bool flip;
    int shift;           /* 0 = none */
} rd_augment;

void rd_data_augment(const rd_dataset *d, const rd_augment *a, uint64_t seed, uint32_t epoch,
                     const uint32_t *idx, uint32_t count, float *x, float *scratch);

#endif
