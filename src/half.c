/* half.c - bf16 / fp16 conversions and the 16-bit reduction rule (see half.h). */
#include "half.h"
#include "cpu.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RD_HAVE_F16C_PATH 1
#endif

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t rd_f32_to_bf16(float f)
{
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);   /* quiet NaN */
    /* Round to nearest even on the 16 dropped bits; a carry into the exponent is right
     * (the largest finite floats round to Inf), and subnormals round the same way. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rd_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

/* Round m >> shift to nearest, ties to even (shift >= 1). */
static uint32_t shift_rne(uint32_t m, int shift)
{
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1u)));
}

uint16_t rd_f32_to_f16(float f)
{
    uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));   /* NaN */
    if (a == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);                          /* Inf */
    uint32_t e = a >> 23;   /* biased float32 exponent */
    if (e >= 113) {
        /* Normal fp16 (>= 2^-14): rebias 127 -> 15 and round the 13 dropped mantissa bits; a
         * carry may step the exponent up, up to 0x7c00 = Inf (from 65520 on). */
        if (e > 142) return (uint16_t)(sign | 0x7c00u);   /* >= 2^16: Inf */
        uint32_t h = ((e - 112) << 10) | ((a & 0x7fffffu) >> 13), rem = a & 0x1fffu;
        h += rem > 0x1000u || (rem == 0x1000u && (h & 1u));
        return (uint16_t)(sign | h);
    }
    /* Subnormal fp16: units of 2^-24. Value = m * 2^(e-150) (e >= 1) or m * 2^-149 (e = 0),
     * so the count of units is m >> (126 - e) with e = 1 for float32 subnormals. */
    uint32_t m = (a & 0x7fffffu) | (e ? 0x800000u : 0u);
    int shift = 126 - (int)(e ? e : 1);
    if (shift > 24) return (uint16_t)sign;   /* below 2^-25: rounds to zero */
    return (uint16_t)(sign | shift_rne(m, shift));   /* 0x400 (2^-14) when it rounds up */
}

float rd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = (float)m * 0x1p-24f;   /* exact: m < 2^10 */
        return float_of(bits_of(v) | sign);
    }
    if (e == 31) return float_of(sign | 0x7f800000u | (m << 13));
    return float_of(sign | ((e + 112) << 23) | (m << 13));
}

/* Branch-free forms of the scalar rules above for the array loops (the compiler vectorises
 * them); the results are the same bits (tests/unit/test_half.c compares them). */
static inline uint16_t bf16_of_bits(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x0040u : r);
}

#ifdef RD_HAVE_F16C_PATH
/* x86 F16C: VCVTPS2PH with round-to-nearest-even is the conversion above (subnormals, overflow
 * to Inf, NaN quieted with its sign); used when the CPU has it, 8 values at a time. */
static bool have_f16c(void) { return rd_cpu_detect().f16c; }

__attribute__((target("avx,f16c")))
static size_t f16_sum_f16c(const uint16_t *in, uint16_t *inout, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(inout + i)));
        _mm_storeu_si128((__m128i *)(inout + i), _mm256_cvtps_ph(_mm256_add_ps(a, b), _MM_FROUND_TO_NEAREST_INT));
    }
    return i;
}

__attribute__((target("avx,f16c")))
static size_t f16_compress_f16c(const float *src, uint16_t *dst, size_t n, float scale)
{
    size_t i = 0;
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(src + i), s), _MM_FROUND_TO_NEAREST_INT));
    return i;
}

__attribute__((target("avx,f16c")))
static size_t f16_expand_f16c(const uint16_t *src, float *dst, size_t n, float scale)
{
    size_t i = 0;
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))), s));
    return i;
}
#else
static bool have_f16c(void) { return false; }
static size_t f16_sum_f16c(const uint16_t *in, uint16_t *inout, size_t n) { (void)in; (void)inout; (void)n; return 0; }
static size_t f16_compress_f16c(const float *src, uint16_t *dst, size_t n, float scale)
{ (void)src; (void)dst; (void)n; (void)scale; return 0; }
static size_t f16_expand_f16c(const uint16_t *src, float *dst, size_t n, float scale)
{ (void)src; (void)dst; (void)n; (void)scale; return 0; }
#endif

void rd_bf16_sum(const uint16_t *in, uint16_t *inout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float s = rd_bf16_to_f32(in[i]) + rd_bf16_to_f32(inout[i]);
        inout[i] = bf16_of_bits(bits_of(s));
    }
}

void rd_f16_sum(const uint16_t *in, uint16_t *inout, size_t n)
{
    size_t i = have_f16c() ? f16_sum_f16c(in, inout, n) : 0;
    for (; i < n; i++) inout[i] = rd_f32_to_f16(rd_f16_to_f32(in[i]) + rd_f16_to_f32(inout[i]));
}

/* x * 1.0f is x (NaN stays NaN, -0 stays -0), so the scale needs no branch. */
void rd_compress_floats(rd_compress fmt, const float *src, uint16_t *dst, size_t n, float scale)
{
    if (fmt == RD_COMPRESS_BF16) {
        for (size_t i = 0; i < n; i++) dst[i] = bf16_of_bits(bits_of(src[i] * scale));
        return;
    }
    size_t i = have_f16c() ? f16_compress_f16c(src, dst, n, scale) : 0;
    for (; i < n; i++) dst[i] = rd_f32_to_f16(src[i] * scale);
}

void rd_expand_floats(rd_compress fmt, const uint16_t *src, float *dst, size_t n, float scale)
{
    if (fmt == RD_COMPRESS_BF16) {
        for (size_t i = 0; i < n; i++) dst[i] = rd_bf16_to_f32(src[i]) * scale;
        return;
    }
    size_t i = have_f16c() ? f16_expand_f16c(src, dst, n, scale) : 0;
    for (; i < n; i++) dst[i] = rd_f16_to_f32(src[i]) * scale;
}

bool rd_half_f16c(void) { return have_f16c(); }
