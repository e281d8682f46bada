/* rng.c - Philox4x32-10 streams and the fixed bit mappings of rng_version 1. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <Random123/philox.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* Blocks {c0+j, c1, c2, c3}, j = 0..3, of the key: out[j] = rd_philox of that counter.
 * With SSE2, the four run side by side in the lanes of 128-bit vectors (the same rounds as
 * Random123's philox4x32_R(10): exact integer math, so the bits do not change). */
#if defined(__SSE2__)
static inline void mulhilo_x4(__m128i a, __m128i m, __m128i *lo, __m128i *hi)
{
    __m128i p02 = _mm_mul_epu32(a, m);                      /* lo0 hi0 lo2 hi2 */
    __m128i p13 = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);  /* lo1 hi1 lo3 hi3 */
    __m128i a01 = _mm_unpacklo_epi32(p02, p13);             /* lo0 lo1 hi0 hi1 */
    __m128i a23 = _mm_unpackhi_epi32(p02, p13);             /* lo2 lo3 hi2 hi3 */
    *lo = _mm_unpacklo_epi64(a01, a23);
    *hi = _mm_unpackhi_epi64(a01, a23);
}

static void philox_x4(rd_key key, const uint32_t ctr[4], uint32_t out[4][4])
{
    __m128i x0 = _mm_add_epi32(_mm_set1_epi32((int)ctr[0]), _mm_set_epi32(3, 2, 1, 0));
    __m128i x1 = _mm_set1_epi32((int)ctr[1]), x2 = _mm_set1_epi32((int)ctr[2]);
    __m128i x3 = _mm_set1_epi32((int)ctr[3]);
    const __m128i m0 = _mm_set1_epi32((int)PHILOX_M4x32_0), m1 = _mm_set1_epi32((int)PHILOX_M4x32_1);
    uint32_t k0 = key.k[0], k1 = key.k[1];
    for (int r = 0; r < 10; r++) {
        __m128i lo0, hi0, lo1, hi1;
        mulhilo_x4(x0, m0, &lo0, &hi0);
        mulhilo_x4(x2, m1, &lo1, &hi1);
        x0 = _mm_xor_si128(_mm_xor_si128(hi1, x1), _mm_set1_epi32((int)k0));
        x1 = lo1;
        x2 = _mm_xor_si128(_mm_xor_si128(hi0, x3), _mm_set1_epi32((int)k1));
        x3 = lo0;
        k0 += PHILOX_W32_0;
        k1 += PHILOX_W32_1;
    }
    __m128i t0 = _mm_unpacklo_epi32(x0, x1), t1 = _mm_unpacklo_epi32(x2, x3);  /* blocks 0, 1 */
    __m128i t2 = _mm_unpackhi_epi32(x0, x1), t3 = _mm_unpackhi_epi32(x2, x3);  /* blocks 2, 3 */
    _mm_storeu_si128((__m128i *)out[0], _mm_unpacklo_epi64(t0, t1));
    _mm_storeu_si128((__m128i *)out[1], _mm_unpackhi_epi64(t0, t1));
    _mm_storeu_si128((__m128i *)out[2], _mm_unpacklo_epi64(t2, t3));
    _mm_storeu_si128((__m128i *)out[3], _mm_unpackhi_epi64(t2, t3));
}
#else
static void philox_x4(rd_key key, const uint32_t ctr[4], uint32_t out[4][4])
{
    for (uint32_t j = 0; j < 4; j++) {
        uint32_t c[4] = {ctr[0] + j, ctr[1], ctr[2], ctr[3]};
        rd_philox(key, c, out[j]);
    }
}
#endif

/* SPREAD[b] holds bit j of b in byte j (little-endian): 8 one-bit masks at once. */
#define SPREAD1(b) ((uint64_t)((b) & 1) | (uint64_t)(((b) >> 1) & 1) << 8 | \
                    (uint64_t)(((b) >> 2) & 1) << 16 | (uint64_t)(((b) >> 3) & 1) << 24 | \
                    (uint64_t)(((b) >> 4) & 1) << 32 | (uint64_t)(((b) >> 5) & 1) << 40 | \
                    (uint64_t)(((b) >> 6) & 1) << 48 | (uint64_t)(((b) >> 7) & 1) << 56)
#define SPREAD4(b) SPREAD1(b), SPREAD1((b) + 1), SPREAD1((b) + 2), SPREAD1((b) + 3)
#define SPREAD16(b) SPREAD4(b), SPREAD4((b) + 4), SPREAD4((b) + 8), SPREAD4((b) + 12)
#define SPREAD64(b) SPREAD16(b), SPREAD16((b) + 16), SPREAD16((b) + 32), SPREAD16((b) + 48)
static const uint64_t SPREAD[256] = {SPREAD64(0), SPREAD64(64), SPREAD64(128), SPREAD64(192)};

/* One block, b = 1 (T = 1, keep iff the bit is set): lane i = bit i of the 128-bit
 * little-endian integer, so byte k of it gives the masks of elements 8k..8k+7. */
static void block_bits(uint8_t *mask, const uint32_t out[4])
{
    for (int k = 0; k < 16; k++) {
        uint64_t v = SPREAD[(out[k >> 2] >> (8 * (k & 3))) & 0xFFu];
        memcpy(mask + 8 * k, &v, sizeof v);
    }
}

/* One block, b = 16 (1 <= T <= 65536): 8 lanes, lane i = 16-bit element i of the
 * little-endian block. SSE2 compares them at once (unsigned via the sign-flip trick). */
static void block_lanes16(uint8_t *mask, const uint32_t out[4], uint32_t T)
{
#if defined(__SSE2__)
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        const __m128i flip = _mm_set1_epi16((short)0x8000);
        __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)out), flip);
        __m128i keep = _mm_cmpgt_epi16(v, _mm_set1_epi16((short)((T - 1u) ^ 0x8000u)));
        __m128i bytes = _mm_and_si128(_mm_packs_epi16(keep, keep), _mm_set1_epi8(1));
        _mm_storel_epi64((__m128i *)mask, bytes);
        return;
    }
#endif
    for (int i = 0; i < 8; i++) mask[i] = ((out[i >> 1] >> (16 * (i & 1))) & 0xFFFFu) >= T;
}

/* Elements [0, count) of one block, any b (the reference mapping, also used for tails). */
static void block_lanes(uint8_t *mask, size_t count, const uint32_t out[4], int b, uint32_t T)
{
    const unsigned per_word = 32u / (unsigned)b;
    const uint32_t lane_mask = (1u << b) - 1u;
    for (size_t i = 0; i < count; i++) {
        uint32_t lane = (out[i / per_word] >> ((i % per_word) * (unsigned)b)) & lane_mask;
        mask[i] = lane >= T;
    }
}

/* b = 2, 4 or 8 (8/b lanes per byte): TAB[v] holds the 8/b masks of the byte v of a block in
 * its low bytes (mask of lane i in byte i), so a block is 16 table lookups, not 128/b shifts. */
static void lane_table(uint64_t tab[256], int b, uint32_t T)
{
    const int per = 8 / b;
    const uint32_t lane_mask = (1u << b) - 1u;
    for (uint32_t v = 0; v < 256; v++) {
        uint64_t t = 0;
        for (int i = 0; i < per; i++) t |= (uint64_t)(((v >> (i * b)) & lane_mask) >= T) << (8 * i);
        tab[v] = t;
    }
}

static void block_bytes(uint8_t *mask, const uint32_t out[4], int b, const uint64_t tab[256])
{
    for (int k = 0; k < 16; k++) {
        const uint64_t v = tab[(out[k >> 2] >> (8 * (k & 3))) & 0xFFu];
        if (b == 2) {
            uint32_t w = (uint32_t)v;
            memcpy(mask + 4 * k, &w, sizeof w);
        } else if (b == 4) {
            uint16_t w = (uint16_t)v;
            memcpy(mask + 2 * k, &w, sizeof w);
        } else {
            mask[k] = (uint8_t)v;
        }
    }
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
    const bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    /* the table pays for itself after a few blocks (per-sample streams ask for one row) */
    const bool bytes = little && b >= 2 && b <= 8 && n >= 64 * per_block;
    uint64_t tab[256];
    if (bytes) lane_table(tab, b, T);
    uint32_t out4[4][4];
    size_t e = 0;
    for (uint32_t block = 0; e < n; block += 4) {
        ctr[0] = block;
        philox_x4(key, ctr, out4);
        for (int j = 0; j < 4 && e < n; j++, e += per_block) {
            const uint32_t *out = out4[j];
            if (n - e < per_block) block_lanes(mask + e, n - e, out, b, T);
            else if (b == 1 && T == 1 && little) block_bits(mask + e, out);
            else if (b == 16) block_lanes16(mask + e, out, T);
            else if (bytes) block_bytes(mask + e, out, b, tab);
            else block_lanes(mask + e, per_block, out, b, T);
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

void rd_data_split(uint32_t n, uint32_t nval, uint32_t ntrain, uint64_t seed, uint32_t *val_ids,
                   uint32_t *train_ids)
{
    uint32_t *perm = rd_malloc((size_t)(n ? n : 1) * sizeof *perm);
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    if (nval > 0 || ntrain < n - nval) {
        rd_wordstream s;
        rd_wordstream_init(&s, rd_rng_key(seed, RD_PURPOSE_VALIDATION, 0), 0, 0, 0);
        rd_shuffle(perm, n, &s);
    }
    if (nval) memcpy(val_ids, perm, (size_t)nval * sizeof *perm);
    memcpy(train_ids, perm + nval, (size_t)ntrain * sizeof *perm);
    if (nval) qsort(val_ids, nval, sizeof *val_ids, cmp_u32);
    qsort(train_ids, ntrain, sizeof *train_ids, cmp_u32);
    free(perm);
}

void rd_validation_split(uint32_t n, uint32_t nval, uint64_t seed, uint32_t *val_ids, uint32_t *train_ids)
{
    rd_data_split(n, nval, n - nval, seed, val_ids, train_ids);
}
