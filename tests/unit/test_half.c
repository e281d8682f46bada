/* test_half.c - bf16 / fp16 conversions and the 16-bit reduction rule of dist.compress
 * (src/half.c, docs/scale.md): rounding to nearest even including ties and subnormals,
 * overflow to Inf, NaN and Inf kept, exact widening, and the one-rounding-per-addition sum. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "half.h"

static float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t u_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_bf16_rounding(void **state)
{
    assert_int_equal(rd_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(rd_f32_to_bf16(-2.0f), 0xc000);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: tie to even (1.0) */
    assert_int_equal(rd_f32_to_bf16(f_of(0x3f808000u)), 0x3f80);
    /* 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to even */
    assert_int_equal(rd_f32_to_bf16(f_of(0x3f818000u)), 0x3f82);
    /* just above and below the tie */
    assert_int_equal(rd_f32_to_bf16(f_of(0x3f808001u)), 0x3f81);
    assert_int_equal(rd_f32_to_bf16(f_of(0x3f807fffu)), 0x3f80);
    /* subnormals round the same way: 0x00008000 is a tie -> 0 (even), 0x00018000 -> 0x0002 */
    assert_int_equal(rd_f32_to_bf16(f_of(0x00008000u)), 0x0000);
    assert_int_equal(rd_f32_to_bf16(f_of(0x00018000u)), 0x0002);
    assert_int_equal(rd_f32_to_bf16(f_of(0x00010001u)), 0x0001);
    /* the largest float rounds to Inf; Inf and NaN are kept with their sign */
    assert_int_equal(rd_f32_to_bf16(f_of(0x7f7fffffu)), 0x7f80);
    assert_int_equal(rd_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(rd_f32_to_bf16(-INFINITY), 0xff80);
    uint16_t nan = rd_f32_to_bf16(f_of(0x7f800001u));   /* payload only in the dropped bits */
    assert_true(isnan(rd_bf16_to_f32(nan)));
    assert_true(isnan(rd_bf16_to_f32(rd_f32_to_bf16(-NAN))));
    assert_true(signbit(rd_bf16_to_f32(rd_f32_to_bf16(-NAN))));
    assert_true(signbit(rd_bf16_to_f32(rd_f32_to_bf16(-0.0f))));
}

static void test_bf16_exhaustive_roundtrip(void **state)
{
    /* every non-NaN bf16 value widens exactly and converts back to itself */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rd_bf16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(rd_f32_to_bf16(f), h);
        assert_int_equal(u_of(f), h << 16);
    }
}

/* Reference fp16 rounding: the nearest of the two neighbouring fp16 values by exact double
 * arithmetic, ties to the even encoding. */
static uint16_t f16_reference(float f)
{
    if (isnan(f)) return 0x7e00;
    double a = fabs((double)f);
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (a >= 65520.0) return sign | 0x7c00;
    uint16_t lo = 0;   /* largest encoding with value <= a */
    for (int step = 1 << 14; step; step >>= 1)
        if (lo + step < 0x7c00 && (double)rd_f16_to_f32((uint16_t)(lo + step)) <= a) lo = (uint16_t)(lo + step);
    double vlo = rd_f16_to_f32(lo), vhi = rd_f16_to_f32((uint16_t)(lo + 1));
    if (vlo == a) return sign | lo;
    double dlo = a - vlo, dhi = vhi - a;
    uint16_t r = dlo < dhi ? lo : dhi < dlo ? (uint16_t)(lo + 1) : (lo & 1) ? (uint16_t)(lo + 1) : lo;
    return sign | r;
}

static void test_f16_rounding(void **state)
{
    assert_int_equal(rd_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(rd_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(rd_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(rd_f32_to_f16(65519.0f), 0x7bff);      /* below the tie: largest finite */
    assert_int_equal(rd_f32_to_f16(65520.0f), 0x7c00);      /* tie with an odd mantissa: Inf */
    assert_int_equal(rd_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(rd_f32_to_f16(-1e6f), 0xfc00);
    assert_int_equal(rd_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);   /* tie -> even */
    assert_int_equal(rd_f32_to_f16(1.0f + 0x3p-11f), 0x3c02);   /* tie -> even (up) */
    assert_int_equal(rd_f32_to_f16(0x1p-14f), 0x0400);         /* smallest normal */
    assert_int_equal(rd_f32_to_f16(0x1p-24f), 0x0001);          /* smallest subnormal */
    assert_int_equal(rd_f32_to_f16(0x1p-25f), 0x0000);          /* tie -> 0 (even) */
    assert_int_equal(rd_f32_to_f16(0x1.000002p-25f), 0x0001);   /* just above the tie */
    assert_int_equal(rd_f32_to_f16(0x3p-25f), 0x0002);          /* 1.5 units: tie -> 2 */
    assert_int_equal(rd_f32_to_f16(0x1.ffcp-15f), 0x0400);      /* rounds up into the normals */
    assert_int_equal(rd_f32_to_f16(1e-30f), 0x0000);
    assert_int_equal(rd_f32_to_f16(-1e-30f), 0x8000);
    assert_int_equal(rd_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(rd_f32_to_f16(-INFINITY), 0xfc00);
    assert_true(isnan(rd_f16_to_f32(rd_f32_to_f16(NAN))));
    assert_true(isnan(rd_f16_to_f32(rd_f32_to_f16(f_of(0x7f800001u)))));
    assert_true(signbit(rd_f16_to_f32(rd_f32_to_f16(-NAN))));
    assert_true(isinf(rd_f16_to_f32(0x7c00)) && rd_f16_to_f32(0xfc00) < 0);
    assert_true(rd_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(rd_f16_to_f32(0x03ff) == 0x3ffp-24f);
}

static void test_f16_against_reference(void **state)
{
    /* every fp16 value round-trips; float32 values across the whole fp16 range (every
     * 2^13/7-th bit pattern, so ties, subnormals and overflow are all visited) round as the
     * reference does */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rd_f16_to_f32((uint16_t)h);
        if (!isnan(f)) assert_int_equal(rd_f32_to_f16(f), h);
    }
    for (uint32_t u = 0x33000000u - 4096; u < 0x47800000u + 4096; u += 1171) {
        float f = f_of(u);
        assert_int_equal(rd_f32_to_f16(f), f16_reference(f));
        assert_int_equal(rd_f32_to_f16(-f), f16_reference(-f));
    }
    for (uint32_t u = 0x38800000u - 64; u < 0x38800000u + 64; u++)   /* the subnormal/normal border */
        assert_int_equal(rd_f32_to_f16(f_of(u)), f16_reference(f_of(u)));
    for (uint32_t m = 0; m < 0x2000u; m++) {                          /* every tail of one binade */
        float f = f_of(0x3f800000u | m);
        assert_int_equal(rd_f32_to_f16(f), f16_reference(f));
    }
}

static void test_sum_rule(void **state)
{
    /* bf16: 1 + 2^-8 in float32 is exact, then one rounding: the tie goes to even (1.0) */
    uint16_t in[4] = {rd_f32_to_bf16(1.0f), rd_f32_to_bf16(0x1p-8f), rd_f32_to_bf16(3.0f),
                      rd_f32_to_bf16(INFINITY)};
    uint16_t io[4] = {rd_f32_to_bf16(0x1p-8f), rd_f32_to_bf16(1.0f), rd_f32_to_bf16(0x1p-7f), rd_f32_to_bf16(1.0f)};
    rd_bf16_sum(in, io, 4);
    assert_true(rd_bf16_to_f32(io[0]) == 1.0f);
    assert_true(rd_bf16_to_f32(io[1]) == 1.0f);
    assert_true(rd_bf16_to_f32(io[2]) == 3.0f);   /* 3 + 2^-7: below half an ulp (2^-7 of 2) -> 3 */
    assert_true(isinf(rd_bf16_to_f32(io[3])));
    /* rounding once per addition: adding 2^-8 to 1 four times stays 1 (each a tie to even),
     * while the exact sum 1 + 2^-6 is representable: the rule is not the exact sum */
    uint16_t acc = rd_f32_to_bf16(1.0f), small = rd_f32_to_bf16(0x1p-8f);
    for (int i = 0; i < 4; i++) rd_bf16_sum(&small, &acc, 1);
    assert_true(rd_bf16_to_f32(acc) == 1.0f);
    /* commutative, bit for bit */
    for (uint32_t a = 0; a < 65536; a += 257)
        for (uint32_t b = 0; b < 65536; b += 263) {
            uint16_t x = (uint16_t)a, y = (uint16_t)b, x2 = (uint16_t)a, y2 = (uint16_t)b;
            rd_bf16_sum(&x, &y, 1);
            rd_f16_sum(&y2, &x2, 1);
            uint16_t p = (uint16_t)b, q = (uint16_t)a, p2 = (uint16_t)a, q2 = (uint16_t)b;
            rd_bf16_sum(&p, &q, 1);
            rd_f16_sum(&q2, &p2, 1);
            if (!isnan(rd_bf16_to_f32(y))) assert_int_equal(y, q);
            if (!isnan(rd_f16_to_f32(x2))) assert_int_equal(x2, p2);
        }
    /* fp16: overflow of a sum becomes Inf (kept, so the non-finite guard fires); NaN stays */
    uint16_t big = rd_f32_to_f16(40000.0f), big2 = rd_f32_to_f16(40000.0f);
    rd_f16_sum(&big, &big2, 1);
    assert_int_equal(big2, 0x7c00);
    uint16_t nan = rd_f32_to_f16(NAN), one = rd_f32_to_f16(1.0f);
    rd_f16_sum(&nan, &one, 1);
    assert_true(isnan(rd_f16_to_f32(one)));
    uint16_t ninf = 0xfc00, pinf = 0x7c00;
    rd_f16_sum(&ninf, &pinf, 1);                  /* Inf - Inf = NaN: still non-finite */
    assert_true(isnan(rd_f16_to_f32(pinf)));
    /* fp16 sums round once: 2048 + 1 is a tie between 2048 and 2050 -> 2048 */
    uint16_t a = rd_f32_to_f16(2048.0f), b = rd_f32_to_f16(1.0f);
    rd_f16_sum(&b, &a, 1);
    assert_true(rd_f16_to_f32(a) == 2048.0f);
}

static void test_array_conversions(void **state)
{
    float src[5] = {1.0f, -3.0f, 65504.0f, 0.1f, NAN}, back[5];
    uint16_t h[5];
    /* fp16 with the 1/world-size pre-scale and the scale back (world size 4: exact) */
    rd_compress_floats(RD_COMPRESS_FP16, src, h, 5, 0.25f);
    rd_expand_floats(RD_COMPRESS_FP16, h, back, 5, 4.0f);
    assert_true(back[0] == 1.0f && back[1] == -3.0f && back[2] == 65504.0f);
    assert_true(back[3] == rd_f16_to_f32(rd_f32_to_f16(0.025f)) * 4.0f);
    assert_true(isnan(back[4]));
    rd_compress_floats(RD_COMPRESS_BF16, src, h, 5, 1.0f);
    rd_expand_floats(RD_COMPRESS_BF16, h, back, 5, 1.0f);
    assert_true(back[0] == 1.0f && back[1] == -3.0f && back[2] == 65536.0f);   /* 65504 -> 2^16 in bf16 */
    assert_true(back[3] == rd_bf16_to_f32(rd_f32_to_bf16(0.1f)) && isnan(back[4]));
}

/* The array functions (vectorised; F16C when the CPU has it) give the scalar rules' bits for
 * every non-NaN value, and a NaN of the same sign for NaN: float32 patterns across the whole
 * range (every 65,537th, plus the fp16 subnormal/normal borders), all 16-bit pairs on a grid. */
static void same_or_both_nan(uint16_t got, uint16_t want, int f16)
{
    float g = f16 ? rd_f16_to_f32(got) : rd_bf16_to_f32(got), w = f16 ? rd_f16_to_f32(want) : rd_bf16_to_f32(want);
    if (isnan(w)) assert_true(isnan(g) && signbit(g) == signbit(w));
    else assert_int_equal(got, want);
}

static void test_array_matches_scalar(void **state)
{
    enum { N = 65536 + 4096 };
    static float src[N], back[N];
    static uint16_t h[N], in[N], io[N], ref[N];
    size_t n = 0;
    for (uint64_t u = 0; u <= 0xffffffffu && n < 65536; u += 65537) src[n++] = f_of((uint32_t)u);
    for (uint32_t u = 0x33000000u - 1024; n < N; u += 57, n++) src[n] = f_of(u ^ (n & 1 ? 0x80000000u : 0));
    for (int f16 = 0; f16 <= 1; f16++) {
        rd_compress fmt = f16 ? RD_COMPRESS_FP16 : RD_COMPRESS_BF16;
        rd_compress_floats(fmt, src, h, n, 1.0f);
        for (size_t i = 0; i < n; i++) same_or_both_nan(h[i], f16 ? rd_f32_to_f16(src[i]) : rd_f32_to_bf16(src[i]), f16);
        rd_compress_floats(fmt, src, h, n, 0.25f);
        for (size_t i = 0; i < n; i++)
            same_or_both_nan(h[i], f16 ? rd_f32_to_f16(src[i] * 0.25f) : rd_f32_to_bf16(src[i] * 0.25f), f16);
        rd_expand_floats(fmt, h, back, n, 4.0f);
        for (size_t i = 0; i < n; i++) {
            float w = (f16 ? rd_f16_to_f32(h[i]) : rd_bf16_to_f32(h[i])) * 4.0f;
            if (isnan(w)) assert_true(isnan(back[i]));
            else assert_true(u_of(back[i]) == u_of(w));
        }
        for (size_t i = 0; i < n; i++) {
            in[i] = (uint16_t)(i * 40503u);
            io[i] = ref[i] = (uint16_t)(i * 9973u + 7u);
        }
        if (f16) rd_f16_sum(in, io, n);
        else rd_bf16_sum(in, io, n);
        for (size_t i = 0; i < n; i++) {
            uint16_t w = f16 ? rd_f32_to_f16(rd_f16_to_f32(in[i]) + rd_f16_to_f32(ref[i]))
                             : rd_f32_to_bf16(rd_bf16_to_f32(in[i]) + rd_bf16_to_f32(ref[i]));
            same_or_both_nan(io[i], w, f16);
        }
    }
    print_message("fp16 arrays %s F16C\n", rd_half_f16c() ? "use" : "do not use");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_bf16_exhaustive_roundtrip),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_f16_against_reference),
        cmocka_unit_test(test_sum_rule),
        cmocka_unit_test(test_array_conversions),
        cmocka_unit_test(test_array_matches_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
