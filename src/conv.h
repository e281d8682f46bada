/* conv.h - conv2d and max_pool kernels on NHWC rows (docs/conv.md).
 *
 * A sample is one row of H*W*C floats, row-major over (h, w, c). conv2d is lowered to
 * im2col + one GEMM over all rows: the patch matrix [rows*OH*OW x KH*KW*C] times the kernel
 * matrix [KH*KW*C x F] (Keras layout [KH, KW, C, F] read row-major) gives the NHWC output
 * [rows x OH*OW*F] directly. Padding is zero; `same` follows TensorFlow (out = ceil(in/s),
 * pad_total = max((out-1)*s + k - in, 0), the smaller half before).
 */
#ifndef RDROP_CONV_H
#define RDROP_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct {
    int H, W, C;              /* input sample [H, W, C] */
    int KH, KW, SH, SW;       /* window and stride */
    int pad_top, pad_left;    /* zero rows/columns before the input (same padding) */
    int OH, OW;               /* output positions */
} rd_conv_geom;

/* The geometry of a window of kh x kw, stride sh x sw over [H, W, C] with `pad`. */
rd_conv_geom rd_conv_geom_make(int H, int W, int C, int kh, int kw, int sh, int sw, rd_padding pad);

/* Values in one patch row: KH*KW*C. */
static inline int rd_conv_patch(const rd_conv_geom *g) { return g->KH * g->KW * g->C; }

/* patches [rows*OH*OW x KH*KW*C] <- x [rows x H*W*C] (zeros where the window is off the input). */
void im2col(const rd_conv_geom *g, const float *x, int rows, float *patches);

/* dx [rows x H*W*C] = the sum of dpatches [rows*OH*OW x KH*KW*C] over the windows (overwrites dx). */
void col2im(const rd_conv_geom *g, const float *dpatches, int rows, float *dx);

/* The GEMMs run over chunks of samples whose patch matrix stays in cache (~RD_CONV_CHUNK_FLOATS
 * floats; backward recomputes im2col unless the whole batch's patches are small enough to keep,
 * RD_CONV_KEEP_BYTES: docs/conv.md "Buffers"). Samples per chunk for this geometry (>= 1,
 * <= rows); the chunk plan depends on the geometry and rows only. */
#define RD_CONV_CHUNK_FLOATS (1 << 17)
/* A layer keeps its whole-batch patch matrix when it is at most this many bytes. */
#define RD_CONV_KEEP_BYTES ((size_t)16 << 20)
/* Output floats of one forward chunk of a ReLU + max_pool pair (~1 MB: in L2 for the pool). */
#define RD_CONV_Z_CHUNK_FLOATS (1 << 18)
int rd_conv_chunk(const rd_conv_geom *g, int rows);

/* z [rows x OH*OW*F] = im2col(x) K + b; K [KH*KW*C x F], b [F]; scratch holds the patches of
 * rd_conv_chunk(g, rows) samples. */
void conv2d_forward(const rd_conv_geom *g, int F, const float *x, const float *K, const float *b,
                    int rows, float *scratch, float *z);

/* dK [KH*KW*C x F] = im2col(x)^T dz, chunk by chunk (accumulated in chunk order); dz [rows x OH*OW*F]. */
void conv2d_backward_kernel(const rd_conv_geom *g, int F, const float *x, const float *dz,
                            int rows, float *scratch, float *dK);

/* The same, chunk by chunk of `chunk` samples (the forward values do not depend on the chunks),
 * with the choices the model makes per layer (docs/conv.md "Buffers"): keep = patches holds the
 * whole batch's patch matrix (it stays for conv2d_backward_kernel_ex: no second im2col), else one
 * chunk's; z_chunk = z holds one chunk of outputs (the pool below consumes it while it is in
 * cache), else all rows; pool != NULL = the ReLU + max_pool pair (maxpool_relu_forward of each
 * chunk into pooled / argmax). */
void conv2d_forward_ex(const rd_conv_geom *g, int F, const float *x, const float *K, const float *b, int rows,
                       int chunk, float *patches, bool keep, float *z, bool z_chunk, const rd_conv_geom *pool,
                       float *pooled, int32_t *argmax);
/* conv2d_backward_kernel with the patches kept by conv2d_forward_ex (keep) or recomputed. */
void conv2d_backward_kernel_ex(const rd_conv_geom *g, int F, const float *x, const float *dz, int rows,
                               float *patches, bool keep, float *dK);

/* dx [rows x H*W*C] = col2im(dz K^T), chunk by chunk through scratch. */
void conv2d_backward_input(const rd_conv_geom *g, int F, const float *dz, const float *K, int rows,
                           float *scratch, float *dx);

/* y [rows x OH*OW*C] = window maxima of x [rows x H*W*C]; argmax [rows x OH*OW*C] = the input
 * offset (within the sample) of each maximum, the first in row-major window order on a tie. */
void maxpool_forward(const rd_conv_geom *g, const float *x, int rows, float *y, int32_t *argmax);

/* dx [rows x H*W*C] = dy routed to each window's maximum; overlapping windows add. */
void maxpool_backward(const rd_conv_geom *g, const float *dy, const int32_t *argmax, int rows, float *dx);

/* A ReLU conv2d layer followed by a max_pool whose windows tile its input (stride = size), as
 * one step each way (docs/conv.md "ReLU + max_pool"): the pool reads the conv layer's
 * pre-activation z and never its ReLU output.
 * Forward: y and argmax exactly as maxpool_forward over relu(z): max(z) when it is > 0 (the
 * same first maximum), else +0 with the window's first offset (relu makes the window a tie).
 * Backward: dz [rows x H*W*C] = dy routed to the maximum where y > 0 (= relu'(z) there), zero
 * elsewhere: maxpool_backward followed by the conv layer's ReLU derivative; db [C] += the
 * column sums of dz, accumulated over the pooled outputs (dz is zero off the maxima). */
#define RD_POOL_MAX_CHANNELS 4096   /* the fused backward keeps one window's gate on the stack */
bool rd_maxpool_tiles(const rd_conv_geom *g);
void maxpool_relu_forward(const rd_conv_geom *g, const float *z, int rows, float *y, int32_t *argmax);
void maxpool_relu_backward(const rd_conv_geom *g, const float *dy, const float *y, const int32_t *argmax,
                           int rows, float *dz, float *db);   /* adds to db */
/* The pair's whole backward in chunks of `chunk` samples (the forward's): per chunk, dz [chunk x
 * OH*OW*F] from the pool (maxpool_relu_backward; db zeroed first, then summed chunk by chunk),
 * dK (+)= patches^T dz (the kept patches or im2col again), and with dx: dPatches = dz K^T in
 * the chunk's patch space, dx = col2im of it; progress (may be NULL) after each chunk. dz holds
 * one chunk: the conv output's gradient is never written out whole. */
void conv2d_pool_backward(const rd_conv_geom *g, int F, const float *x, const float *K, int rows, int chunk,
                          float *patches, bool keep, const rd_conv_geom *pool, const float *dy, const float *y,
                          const int32_t *argmax, float *dz, float *dK, float *db, float *dx,
                          void (*progress)(void *), void *ctx);

#endif
