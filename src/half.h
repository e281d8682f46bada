/* half.h - 16-bit floating-point formats for compressed gradient allreduce (docs/scale.md).
 *
 * Plain C, no MPI: the conversions and the element-wise reduction rule that dist.c wraps in
 * user-defined MPI_Ops on MPI_UINT16_T, so that they can be tested without MPI.
 *
 * bf16: the upper 16 bits of an IEEE float32 (8 exponent bits, 7 mantissa bits).
 * fp16: IEEE 754 binary16 (5 exponent bits, 10 mantissa bits, largest finite 65504).
 * float32 -> 16 bit rounds to nearest, ties to even, including into the subnormal range;
 * a value too large for the format becomes Inf of its sign; NaN stays a (quiet) NaN with its
 * sign; Inf stays Inf. 16 bit -> float32 is exact.
 */
#ifndef RDROP_HALF_H
#define RDROP_HALF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RD_COMPRESS_NONE = 0, RD_COMPRESS_BF16 = 1, RD_COMPRESS_FP16 = 2 } rd_compress;

uint16_t rd_f32_to_bf16(float f);
float rd_bf16_to_f32(uint16_t h);
uint16_t rd_f32_to_f16(float f);
float rd_f16_to_f32(uint16_t h);

/* The reduction rule, element-wise: inout[i] = R(W(in[i]) + W(inout[i])), where W widens to
 * float32 exactly, + is one IEEE float32 addition (round to nearest even) and R rounds the
 * float32 sum to the 16-bit format as above. Commutative, not associative. */
void rd_bf16_sum(const uint16_t *in, uint16_t *inout, size_t n);
void rd_f16_sum(const uint16_t *in, uint16_t *inout, size_t n);

/* Whole-array conversions: dst[i] = R(src[i] * scale) and dst[i] = W(src[i]) * scale (the
 * multiplication is skipped when scale is 1). */
void rd_compress_floats(rd_compress fmt, const float *src, uint16_t *dst, size_t n, float scale);
void rd_expand_floats(rd_compress fmt, const uint16_t *src, float *dst, size_t n, float scale);

/* The array functions and rd_f16_sum use the CPU's F16C conversions when it has them (the
 * same bits as the scalar rules for every non-NaN value; a NaN stays a quiet NaN of its sign);
 * true when they do. */
bool rd_half_f16c(void);

#endif
