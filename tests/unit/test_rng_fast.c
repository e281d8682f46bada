/* test_rng_fast.c - the fast dropout-mask paths of src/rng.c (a byte lookup per 8 one-bit
 * lanes, a per-call table for 2-, 4- and 8-bit lanes on long masks, four Philox blocks per
 * SSE2 pass, 16-bit lanes compared 8 at a time) give exactly
 * the masks of the bit mapping (docs/ARCHITECTURE.md "RNG: keys and counters"), written here
 * element by element on top of the scalar rd_philox, for every lane width and ragged tails.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Element e uses lane e mod (128/b) of block e div (128/b); kept iff lane >= T. */
static void reference_mask(uint8_t *mask, size_t n, double p, rd_key key, const uint32_t c[4])
{
    int b;
    uint32_t T;
    rd_dropout_lanes(p, &b, &T);
    const size_t per_block = 128u / (unsigned)b;
    for (size_t e = 0; e < n; e++) {
        uint32_t ctr[4] = {(uint32_t)(e / per_block), c[1], c[2], c[3]}, out[4];
        rd_philox(key, ctr, out);
        size_t bit = (e % per_block) * (size_t)b;
        uint32_t lane = (out[bit / 32] >> (bit % 32)) & (uint32_t)((1ull << b) - 1u);
        mask[e] = lane >= T;
    }
}

static void test_masks_match_reference(void **state)
{
    /* 0.25 / 0.75: 2-bit lanes; 0.4375: 4-bit; 1/128: 8-bit (the table path from 4096 /
     * 2048 / 1024 elements on, so the two longest masks take it, with ragged tails) */
    const double ps[] = {0.0, 0.0001, 0.1, 0.2, 0.25, 0.3, 0.4375, 0.5, 0.625, 0.75, 0.9, 1.0 / 128, 0.999999};
    const size_t ns[] = {1, 7, 8, 9, 127, 128, 129, 513, 784, 1024 * 3 + 5, 4096 + 64 * 3 + 17, 20011};
    static uint8_t got[20011], want[20011];
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
        for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
            const size_t n = ns[j];
            rd_key key = rd_rng_key(i * 31 + j, RD_PURPOSE_DROPOUT_RANK, 1);
            const uint64_t t = 0x100000003ull + j;   /* both counter words of t in use */
            rd_dropout_mask_rank(got, n, ps[i], key, 4, t);
            reference_mask(want, n, ps[i], key, (const uint32_t[4]){0, 4, (uint32_t)t, (uint32_t)(t >> 32)});
            assert_memory_equal(got, want, n);
            rd_key skey = rd_rng_key(j, RD_PURPOSE_DROPOUT_SAMPLE, 2);
            rd_dropout_mask_sample(got, n, ps[i], skey, 1234, 5, 1);
            reference_mask(want, n, ps[i], skey, (const uint32_t[4]){0, 1234, 5, 1});
            assert_memory_equal(got, want, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
