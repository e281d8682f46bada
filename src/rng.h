/* rng.h - Random123 Philox4x32-10 streams (docs/ARCHITECTURE.md "RNG: keys and counters", rng_version 1).
 *
 * A stream is a Philox key; draws are pure functions of (key, counter), so no state
 * beyond the key and a position is ever saved. Purposes never share a key.
 */
#ifndef RDROP_RNG_H
#define RDROP_RNG_H

#include "common.h"

#define RD_RNG_VERSION 1

enum {
    RD_PURPOSE_DROPOUT_RANK = 1,
    RD_PURPOSE_DROPOUT_SAMPLE = 2,
    RD_PURPOSE_INIT = 3,
    RD_PURPOSE_SHUFFLE = 4,
    RD_PURPOSE_VALIDATION = 5,
    RD_PURPOSE_AUGMENT = 6,
};

typedef struct { uint32_t k[2]; } rd_key;

uint64_t rd_splitmix64(uint64_t x);

/* key = {(uint32)s, (uint32)(s>>32) ^ (purpose<<24 | id)}, s = splitmix64(seed), id < 2^24. */
rd_key rd_rng_key(uint64_t seed, uint32_t purpose, uint32_t id);

/* floor(w * range / 2^32): an integer in [0, range) from one 32-bit word by multiply-shift
 * (bias below range / 2^32; synthetic data and augmentation, where that does not matter). */
static inline uint32_t rd_word_below(uint32_t w, uint32_t range)
{
    return (uint32_t)(((uint64_t)w * range) >> 32);
}

/* One Philox4x32-10 block. */
void rd_philox(rd_key key, const uint32_t ctr[4], uint32_t out[4]);

/* Lane width b for drop probability p: smallest of 1,2,4,8,16 with p*2^b integral, else 16;
 * threshold T = round(p*2^b); an element is kept iff its lane >= T. */
void rd_dropout_lanes(double p, int *bits, uint32_t *threshold);

/* rank mode: mask[e] = 1 (keep) or 0 for e < n, counter {block, layer, t lo, t hi}. */
void rd_dropout_mask_rank(uint8_t *mask, size_t n, double p, rd_key key, uint32_t layer, uint64_t t);

/* sample mode: mask of one row (units elements) of (dataset index, epoch, pass),
 * key = rd_rng_key(seed, RD_PURPOSE_DROPOUT_SAMPLE, layer), counter {block, index, epoch, pass}. */
void rd_dropout_mask_sample(uint8_t *mask, size_t units, double p, rd_key key,
                            uint32_t index, uint32_t epoch, uint32_t pass);

/* Uniform init: w[e] = (2u-1)*limit, u = (x>>8)*2^-24, x = word e%4 of block e/4,
 * counter {block + first/4 ... } -- elements first..first+n-1 of the layer's stream. */
void rd_init_uniform(float *w, size_t n, size_t first, double limit, rd_key key);

/* Lemire's unbiased integer in [0, range) from a word source. */
typedef struct {
    rd_key key;
    uint32_t ctr[4];   /* ctr[0] = draw (block) index, advanced as words are used */
    uint32_t buf[4];
    int used;          /* words of buf consumed (4 = empty) */
} rd_wordstream;

void rd_wordstream_init(rd_wordstream *s, rd_key key, uint32_t c1, uint32_t c2, uint32_t c3);
uint32_t rd_wordstream_next(rd_wordstream *s);
uint32_t rd_uniform_below(rd_wordstream *s, uint32_t range);

/* Fisher-Yates from the last index down over perm[0..n) (caller fills perm). */
void rd_shuffle(uint32_t *perm, uint32_t n, rd_wordstream *s);

/* The epoch's order of the training positions: perm[i] = train_ids[pi(i)], shuffle key
 * {draw, epoch, 0, 0}. With shuffle false, perm = train_ids. */
void rd_epoch_permutation(uint32_t *perm, const uint32_t *train_ids, uint32_t n,
                          uint64_t seed, uint32_t epoch, bool shuffle);

/* Validation split: stream-5 permutation of [0, n); its first `nval` entries (sorted
 * ascending) go to val_ids, the rest (sorted ascending) to train_ids. */
void rd_validation_split(uint32_t n, uint32_t nval, uint64_t seed, uint32_t *val_ids, uint32_t *train_ids);

/* The same split with a training subset: val_ids as above; train_ids gets the next `ntrain`
 * entries of the same permutation (sorted ascending), so the validation set does not depend
 * on ntrain and a smaller subset is a subset of a larger one. ntrain = n - nval is
 * rd_validation_split. Requires nval + ntrain <= n. */
void rd_data_split(uint32_t n, uint32_t nval, uint32_t ntrain, uint64_t seed, uint32_t *val_ids,
                   uint32_t *train_ids);

#endif
