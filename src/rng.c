/* rng.c - Philox4x32-10 streams and the fixed bit mappings of rng_version 1. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <Random123/philox.h>

uint64_t rd_splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

rd_key rd_rng_key(uint64_t seed, uint32_t purpose, uint32_t id)
{
    uint64_t s = rd_splitmix64(seed);
    rd_key k;
    k.k[0] = (uint32_t)s;
    k.k[1] = (uint32_t)(s >> 32) ^ ((purpose << 24) | (id & 0xFFFFFFu));
    return k;
}

void rd_philox(rd_key key, const uint32_t ctr[4], uint32_t out[4])
{
    philox4x32_ctr_t c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
    philox4x32_key_t k = {{key.k[0], key.k[1]}};
    philox4x32_ctr_t r = philox4x32_R(10, c, k);
    memcpy(out, r.v, sizeof r.v);
}

void rd_dropout_lanes(double p, int *bits, uint32_t *threshold)
{
    static const int widths[] = {1, 2, 4, 8, 16};
    for (int i = 0; i < 5; i++) {
        double scaled = p * (double)(1u << widths[i]);
        if (scaled == floor(scaled)) {
            *bits = widths[i];
            *threshold = (uint32_t)scaled;
            return;
        }
    }
    *bits = 16;
    *threshold = (uint32_t)llround(p * 65536.0);
}

/* Cut blocks of 128 bits into lanes of `bits`; lane i of a block is bits [i*b, (i+1)*b)
 * of the little-endian 128-bit integer (v[0] = bits 0-31). ctr[0] is the block index. */
static void fill_mask(uint8_t *mask, size_t n, double p, rd_key key, uint32_t ctr[4])
{
    int b;
    uint32_t T;
    rd_dropout_lanes(p, &b, &T);
    if (T == 0) { memset(mask, 1, n); return; }
    const size_t per_block = 128u / (unsigned)b;
    const uint32_t lane_mask = (b == 32) ? 0xFFFFFFFFu : ((1u << b) - 1u);
    const size_t per_word = 32u / (unsigned)b;
    uint32_t out[4];
    size_t e = 0;
    for (uint32_t block = 0; e < n; block++) {
        ctr[0] = block;
        rd_philox(key, ctr, out);
        size_t end = e + per_block < n ? e + per_block : n;
        if (b == 1) {
            /* T is 1 here (p = 0.5): keep iff the bit is set. */
            for (size_t i = 0; e < end; i++, e++)
                mask[e] = (uint8_t)((out[i >> 5] >> (i & 31)) & 1u);
        } else {
            for (size_t i = 0; e < end; i++, e++) {
                uint32_t lane = (out[i / per_word] >> ((i % per_word) * (unsigned)b)) & lane_mask;
                mask[e] = lane >= T;
            }
        }
    }
}

void rd_dropout_mask_rank(uint8_t *mask, size_t n, double p, rd_key key, uint32_t layer, uint64_t t)
{
    uint32_t ctr[4] = {0, layer, (uint32_t)t, (uint32_t)(t >> 32)};
    fill_mask(mask, n, p, key, ctr);
}

void rd_dropout_mask_sample(uint8_t *mask, size_t units, double p, rd_key key,
                            uint32_t index, uint32_t epoch, uint32_t pass)
{
    uint32_t ctr[4] = {0, index, epoch, pass};
    fill_mask(mask, units, p, key, ctr);
}

void rd_init_uniform(float *w, size_t n, size_t first, double limit, rd_key key)
{
    uint32_t out[4];
    uint32_t ctr[4] = {0, 0, 0, 0};
    uint32_t have = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t e = first + i;
        uint32_t block = (uint32_t)(e / 4);
        if (block != have) {
            ctr[0] = block;
            rd_philox(key, ctr, out);
            have = block;
        }
        double u = (double)(out[e % 4] >> 8) * (1.0 / 16777216.0);
        w[i] = (float)((2.0 * u - 1.0) * limit);
    }
}

void rd_wordstream_init(rd_wordstream *s, rd_key key, uint32_t c1, uint32_t c2, uint32_t c3)
{
    s->key = key;
    s->ctr[0] = 0;
    s->ctr[1] = c1;
    s->ctr[2] = c2;
    s->ctr[3] = c3;
    s->used = 4;
}

uint32_t rd_wordstream_next(rd_wordstream *s)
{
    if (s->used == 4) {
        rd_philox(s->key, s->ctr, s->buf);
        s->ctr[0]++;
        s->used = 0;
    }
    return s->buf[s->used++];
}

/* Lemire's nearly-divisionless multiply-and-reject. */
uint32_t rd_uniform_below(rd_wordstream *s, uint32_t range)
{
    uint64_t m = (uint64_t)rd_wordstream_next(s) * range;
    uint32_t low = (uint32_t)m;
    if (low < range) {
        uint32_t t = (uint32_t)(-range) % range;
        while (low < t) {
            m = (uint64_t)rd_wordstream_next(s) * range;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rd_shuffle(uint32_t *perm, uint32_t n, rd_wordstream *s)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rd_uniform_below(s, i);
        uint32_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

void rd_epoch_permutation(uint32_t *perm, const uint32_t *train_ids, uint32_t n,
                          uint64_t seed, uint32_t epoch, bool shuffle)
{
    memcpy(perm, train_ids, (size_t)n * sizeof *perm);
    if (!shuffle) return;
    rd_wordstream s;
    rd_wordstream_init(&s, rd_rng_key(seed, RD_PURPOSE_SHUFFLE, 0), epoch, 0, 0);
    rd_shuffle(perm, n, &s);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void rd_validation_split(uint32_t n, uint32_t nval, uint64_t seed, uint32_t *val_ids, uint32_t *train_ids)
{
    uint32_t *perm = rd_malloc((size_t)n * sizeof *perm);
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    if (nval > 0) {
        rd_wordstream s;
        rd_wordstream_init(&s, rd_rng_key(seed, RD_PURPOSE_VALIDATION, 0), 0, 0, 0);
        rd_shuffle(perm, n, &s);
    }
    if (nval) memcpy(val_ids, perm, (size_t)nval * sizeof *perm);
    memcpy(train_ids, perm + nval, (size_t)(n - nval) * sizeof *perm);
    if (nval) qsort(val_ids, nval, sizeof *val_ids, cmp_u32);
    qsort(train_ids, n - nval, sizeof *train_ids, cmp_u32);
    free(perm);
}
