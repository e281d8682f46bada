/* data.h - data sets behind one interface: IDX (optionally gzip'd) files and a synthetic
 * generator. Samples are kept as uint8 (pixels 0..255); a batch is gathered as float
 * pixel/255 (the only preprocessing).
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
    uint8_t *x;          /* [n x features] row-major */
    uint8_t *y;          /* [n] */
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

/* x[i*features + f] = d->x[idx[i]*features + f] / 255.0f, y[i] = d->y[idx[i]], i < count.
 * y may be NULL (features only). */
void rd_data_gather(const rd_dataset *d, const uint32_t *idx, uint32_t count, float *x, int32_t *y);

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
