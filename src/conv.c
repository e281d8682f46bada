/* conv.c - conv2d (im2col + one cblas_sgemm over the whole doubled batch) and max_pool on
 * NHWC rows; see conv.h and docs/conv.md. */
#include "conv.h"

#include <stdbool.h>
#include <string.h>
#include <cblas.h>

static int out_size(int in, int k, int s, rd_padding pad)
{
    if (pad == RD_PAD_SAME) return (in + s - 1) / s;
    return in < k ? 0 : (in - k) / s + 1;
}

/* TensorFlow's rule: the smaller half of the total padding goes before. */
static int pad_before(int in, int k, int s, int out, rd_padding pad)
{
    if (pad != RD_PAD_SAME) return 0;
    int total = (out - 1) * s + k - in;
    return total > 0 ? total / 2 : 0;
}

rd_conv_geom rd_conv_geom_make(int H, int W, int C, int kh, int kw, int sh, int sw, rd_padding pad)
{
    rd_conv_geom g = {.H = H, .W = W, .C = C, .KH = kh, .KW = kw, .SH = sh, .SW = sw};
    g.OH = out_size(H, kh, sh, pad);
    g.OW = out_size(W, kw, sw, pad);
    g.pad_top = pad_before(H, kh, sh, g.OH, pad);
    g.pad_left = pad_before(W, kw, sw, g.OW, pad);
    return g;
}

/* A plain loop for the short runs of few-channel inputs (a memcpy call costs more there). */
static inline void copy_floats(float *restrict d, const float *restrict s, size_t n)
{
    if (n >= 32) {
        memcpy(d, s, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

void im2col(const rd_conv_geom *g, const float *x, int rows, float *patches)
{
    const int C = g->C, KW = g->KW, P = rd_conv_patch(g);
    const size_t in = (size_t)g->H * g->W * C, cbytes = (size_t)C * sizeof(float);
    float *out = patches;
    for (int n = 0; n < rows; n++) {
        const float *xs = x + (size_t)n * in;
        for (int oh = 0; oh < g->OH; oh++) {
            const int h0 = oh * g->SH - g->pad_top;
            for (int ow = 0; ow < g->OW; ow++, out += P) {
                const int w0 = ow * g->SW - g->pad_left;
                int lo = w0 < 0 ? -w0 : 0, hi = w0 + KW > g->W ? g->W - w0 : KW;
                if (lo > KW) lo = KW;
                if (hi < lo) hi = lo;   /* window columns [lo, hi) are on the input */
                float *o = out;
                for (int kh = 0; kh < g->KH; kh++, o += (size_t)KW * C) {
                    const int h = h0 + kh;
                    if (h < 0 || h >= g->H) {
                        memset(o, 0, (size_t)KW * cbytes);
                        continue;
                    }
                    memset(o, 0, (size_t)lo * cbytes);
                    copy_floats(o + (size_t)lo * C, xs + ((size_t)h * g->W + w0 + lo) * C, (size_t)(hi - lo) * C);
                    memset(o + (size_t)hi * C, 0, (size_t)(KW - hi) * cbytes);
                }
            }
        }
    }
}

void col2im(const rd_conv_geom *g, const float *dpatches, int rows, float *dx)
{
    const int C = g->C, KW = g->KW, P = rd_conv_patch(g);
    const size_t in = (size_t)g->H * g->W * C;
    memset(dx, 0, (size_t)rows * in * sizeof(float));
    const float *src = dpatches;
    for (int n = 0; n < rows; n++) {
        float *xs = dx + (size_t)n * in;
        for (int oh = 0; oh < g->OH; oh++) {
            const int h0 = oh * g->SH - g->pad_top;
            for (int ow = 0; ow < g->OW; ow++, src += P) {
                const int w0 = ow * g->SW - g->pad_left;
                const int lo = w0 < 0 ? -w0 : 0, hi = w0 + KW > g->W ? g->W - w0 : KW;
                for (int kh = 0; kh < g->KH; kh++) {
                    const int h = h0 + kh;
                    if (h < 0 || h >= g->H || hi <= lo) continue;
                    const float *s = src + ((size_t)kh * KW + lo) * C;
                    float *d = xs + ((size_t)h * g->W + w0 + lo) * C;
                    const size_t len = (size_t)(hi - lo) * C;
                    for (size_t j = 0; j < len; j++) d[j] += s[j];
                }
            }
        }
    }
}

int rd_conv_chunk(const rd_conv_geom *g, int rows)
{
    const long per = (long)g->OH * g->OW * rd_conv_patch(g);
    long n = per > 0 ? RD_CONV_CHUNK_FLOATS / per : rows;
    if (n < 1) n = 1;
    return n < rows ? (int)n : (rows > 0 ? rows : 1);
}

void conv2d_forward(const rd_conv_geom *g, int F, const float *x, const float *K, const float *b,
                    int rows, float *scratch, float *z)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW, step = rd_conv_chunk(g, rows);
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)pos * F;
    for (int r0 = 0; r0 < rows; r0 += step) {
        const int n = rows - r0 < step ? rows - r0 : step, M = n * pos;
        float *zc = z + (size_t)r0 * out;
        im2col(g, x + (size_t)r0 * in, n, scratch);
        for (int r = 0; r < M; r++)   /* the bias rows are the GEMM's C (beta = 1) */
            for (int f = 0; f < F; f++) zc[(size_t)r * F + f] = b[f];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, F, P, 1.0f, scratch, P, K, F, 1.0f, zc, F);
    }
}

void conv2d_backward_kernel(const rd_conv_geom *g, int F, const float *x, const float *dz,
                            int rows, float *scratch, float *dK)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW, step = rd_conv_chunk(g, rows);
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)pos * F;
    for (int r0 = 0; r0 < rows; r0 += step) {
        const int n = rows - r0 < step ? rows - r0 : step, M = n * pos;
        im2col(g, x + (size_t)r0 * in, n, scratch);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, F, M, 1.0f, scratch, P, dz + (size_t)r0 * out, F,
                    r0 ? 1.0f : 0.0f, dK, F);
    }
}

void conv2d_backward_input(const rd_conv_geom *g, int F, const float *dz, const float *K, int rows,
                           float *scratch, float *dx)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW, step = rd_conv_chunk(g, rows);
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)pos * F;
    for (int r0 = 0; r0 < rows; r0 += step) {
        const int n = rows - r0 < step ? rows - r0 : step, M = n * pos;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, P, F, 1.0f, dz + (size_t)r0 * out, F, K, F, 0.0f,
                    scratch, P);
        col2im(g, scratch, n, dx + (size_t)r0 * in);
    }
}

/* y = max(y, x[o..o+C)), a = the offset of the maximum; strict: the first maximum wins a tie.
 * Branch-free so that it vectorises (the comparisons are data-dependent). */
static void max_update(float *restrict y, int32_t *restrict a, const float *restrict x, int32_t o, int C)
{
    for (int c = 0; c < C; c++) {
        const float v = x[o + c], w = y[c];
        const int32_t m = -(int32_t)(v > w);   /* all ones where v wins */
        uint32_t vb, wb;
        memcpy(&vb, &v, sizeof vb);
        memcpy(&wb, &w, sizeof wb);
        const uint32_t r = (vb & (uint32_t)m) | (wb & ~(uint32_t)m);
        memcpy(&y[c], &r, sizeof r);
        a[c] = ((o + c) & m) | (a[c] & ~m);
    }
}

void maxpool_forward(const rd_conv_geom *g, const float *x, int rows, float *y, int32_t *argmax)
{
    const int C = g->C;
    const size_t in = (size_t)g->H * g->W * C, out = (size_t)g->OH * g->OW * C;
    for (int n = 0; n < rows; n++) {
        const float *xs = x + (size_t)n * in;
        float *ys = y + (size_t)n * out;
        int32_t *as = argmax + (size_t)n * out;
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                float *yo = ys + ((size_t)oh * g->OW + ow) * C;
                int32_t *ao = as + ((size_t)oh * g->OW + ow) * C;
                const int first = (oh * g->SH * g->W + ow * g->SW) * C;
                for (int c = 0; c < C; c++) {
                    yo[c] = xs[first + c];
                    ao[c] = first + c;
                }
                for (int kh = 0; kh < g->KH; kh++)
                    for (int kw = kh ? 0 : 1; kw < g->KW; kw++)
                        max_update(yo, ao, xs, ((oh * g->SH + kh) * g->W + ow * g->SW + kw) * C, C);
            }
    }
}

/* Windows that tile the input (stride = size): every input value lies in at most one window,
 * so dx is written window by window (dy at the maximum, 0 elsewhere) with no zeroing pass;
 * only the rows and columns that the floor drops are zeroed. */
static void maxpool_backward_tiled(const rd_conv_geom *g, const float *ds, const int32_t *as, float *xs)
{
    const int C = g->C, W = g->W, KH = g->KH, KW = g->KW;
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            const size_t o = ((size_t)oh * g->OW + ow) * C;
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    const int32_t base = ((oh * KH + kh) * W + ow * KW + kw) * C;
                    float *restrict d = xs + base;
                    const float *restrict g = ds + o;
                    const int32_t *restrict a = as + o;
                    /* branch-free (the argmax pattern is data: a branch mispredicts about one
                     * time in four) so that it vectorises: dy's bits ANDed with all-ones or 0 */
                    for (int c = 0; c < C; c++) {
                        uint32_t u;
                        memcpy(&u, &g[c], sizeof u);
                        u &= 0u - (uint32_t)(a[c] == base + c);
                        memcpy(&d[c], &u, sizeof u);
                    }
                }
        }
    const int used_w = g->OW * KW, used_h = g->OH * KH;
    if (used_w < W)
        for (int h = 0; h < used_h; h++) memset(xs + ((size_t)h * W + used_w) * C, 0, (size_t)(W - used_w) * C * sizeof(float));
    if (used_h < g->H) memset(xs + (size_t)used_h * W * C, 0, (size_t)(g->H - used_h) * W * C * sizeof(float));
}

void maxpool_backward(const rd_conv_geom *g, const float *dy, const int32_t *argmax, int rows, float *dx)
{
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)g->OH * g->OW * g->C;
    const bool tiled = g->SH == g->KH && g->SW == g->KW;
    if (!tiled) memset(dx, 0, (size_t)rows * in * sizeof(float));
    for (int n = 0; n < rows; n++) {
        float *xs = dx + (size_t)n * in;
        const float *ds = dy + (size_t)n * out;
        const int32_t *as = argmax + (size_t)n * out;
        if (tiled) {
            maxpool_backward_tiled(g, ds, as, xs);
            continue;
        }
        for (size_t j = 0; j < out; j++) xs[as[j]] += ds[j];
    }
}
