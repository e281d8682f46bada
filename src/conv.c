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

/* The window runs of few-channel inputs are a handful of floats (3 for a 3x3 kernel on one
 * channel): a library call per run costs more than the copy, so these loops must stay loops
 * (GCC would otherwise turn them back into memset/memcpy calls). */
#if defined(__GNUC__) && !defined(__clang__)
#define RD_PLAIN_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define RD_PLAIN_LOOPS
#endif

RD_PLAIN_LOOPS static inline void zero_run(float *restrict d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = 0.0f;
}

RD_PLAIN_LOOPS static inline void copy_run(float *restrict d, const float *restrict s, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

RD_PLAIN_LOOPS static inline void add_run(float *restrict d, const float *restrict s, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] += s[i];
}

/* Window columns [lo, hi) of output column ow lie on the input (0 <= lo <= hi <= KW). */
static inline void window_cols(const rd_conv_geom *g, int ow, int *w0, int *lo, int *hi)
{
    *w0 = ow * g->SW - g->pad_left;
    int l = *w0 < 0 ? -*w0 : 0, h = *w0 + g->KW > g->W ? g->W - *w0 : g->KW;
    if (l > g->KW) l = g->KW;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* One window row (kh) of output column ow: the KW*C floats at input row `row` (NULL: the row is
 * off the input), zeros where the window is off the input. */
RD_PLAIN_LOOPS static inline void window_row(const rd_conv_geom *g, const float *row, int ow, float *o)
{
    const int C = g->C, KW = g->KW;
    const size_t run = (size_t)KW * C;
    if (!row) {
        zero_run(o, run);
        return;
    }
    int w0, lo, hi;
    window_cols(g, ow, &w0, &lo, &hi);
    const float *src = row + (size_t)(w0 + lo) * C;   /* the first column on the input */
    if (lo == 0 && hi == KW) {   /* the whole window row is on the input */
        copy_run(o, src, run);
        return;
    }
    zero_run(o, (size_t)lo * C);
    copy_run(o + (size_t)lo * C, src, (size_t)(hi - lo) * C);
    zero_run(o + (size_t)hi * C, (size_t)(KW - hi) * C);
}

/* Window rows shorter than this many floats (few channels: 3 for a 3x3 kernel on one channel)
 * are copied a float position at a time across a whole output row, a loop of OW steps, instead
 * of one call per window: a 3-float copy costs less than its loop's set-up (docs/benchmarks.md
 * "im2col"). */
enum { IM2COL_SHORT_RUN = 16 };

RD_SIMD_CLONES RD_PLAIN_LOOPS void im2col(const rd_conv_geom *g, const float *x, int rows, float *patches)
{
    const int C = g->C, KW = g->KW, P = rd_conv_patch(g);
    const size_t in = (size_t)g->H * g->W * C, run = (size_t)KW * C;
    /* output columns whose windows lie wholly on the input horizontally: [owa, owb) */
    const int last = g->W - KW + g->pad_left;   /* w0 + pad_left of the rightmost such window */
    int owa = (g->pad_left + g->SW - 1) / g->SW, owb = last >= 0 ? last / g->SW + 1 : 0;
    if (owb > g->OW) owb = g->OW;
    if (owa > owb) owa = owb;
    const bool short_run = run < IM2COL_SHORT_RUN;
    float *out = patches;
    for (int n = 0; n < rows; n++) {
        const float *xs = x + (size_t)n * in;
        for (int oh = 0; oh < g->OH; oh++, out += (size_t)g->OW * P) {
            const int h0 = oh * g->SH - g->pad_top;
            for (int kh = 0; kh < g->KH; kh++) {
                const int h = h0 + kh;
                const float *row = h < 0 || h >= g->H ? NULL : xs + (size_t)h * g->W * C;
                float *o = out + (size_t)kh * run;
                if (!short_run || !row) {
                    for (int ow = 0; ow < g->OW; ow++) window_row(g, row, ow, o + (size_t)ow * P);
                    continue;
                }
                for (int ow = 0; ow < owa; ow++) window_row(g, row, ow, o + (size_t)ow * P);
                const float *s = row + (size_t)(owa * g->SW - g->pad_left) * C;   /* >= 0: owa is on the input */
                const size_t step = (size_t)g->SW * C;
                for (size_t i = 0; i < run; i++)
                    for (int ow = owa; ow < owb; ow++) o[(size_t)ow * P + i] = s[(size_t)(ow - owa) * step + i];
                for (int ow = owb; ow < g->OW; ow++) window_row(g, row, ow, o + (size_t)ow * P);
            }
        }
    }
}

RD_SIMD_CLONES RD_PLAIN_LOOPS void col2im(const rd_conv_geom *g, const float *dpatches, int rows, float *dx)
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
                int w0, lo, hi;
                window_cols(g, ow, &w0, &lo, &hi);
                if (hi <= lo) continue;
                for (int kh = 0; kh < g->KH; kh++) {
                    const int h = h0 + kh;
                    if (h < 0 || h >= g->H) continue;
                    add_run(xs + ((size_t)h * g->W + w0 + lo) * C, src + ((size_t)kh * KW + lo) * C,
                            (size_t)(hi - lo) * C);
                }
            }
        }
    }
}

RD_SIMD_CLONES RD_PLAIN_LOOPS static void bias_rows(float *restrict z, const float *restrict b, int M, int F)
{
    for (int r = 0; r < M; r++)
        for (int f = 0; f < F; f++) z[(size_t)r * F + f] = b[f];
}

int rd_conv_chunk(const rd_conv_geom *g, int rows)
{
    const long per = (long)g->OH * g->OW * rd_conv_patch(g);
    long n = per > 0 ? RD_CONV_CHUNK_FLOATS / per : rows;
    if (n < 1) n = 1;
    return n < rows ? (int)n : (rows > 0 ? rows : 1);
}

void conv2d_forward_ex(const rd_conv_geom *g, int F, const float *x, const float *K, const float *b, int rows,
                       int chunk, float *patches, bool keep, float *z, bool z_chunk, const rd_conv_geom *pool,
                       float *pooled, int32_t *argmax)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW;
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)pos * F;
    const size_t pout = pool ? (size_t)pool->OH * pool->OW * pool->C : 0;
    if (chunk < 1) chunk = 1;
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        const int n = rows - r0 < chunk ? rows - r0 : chunk, M = n * pos;
        float *pc = keep ? patches + (size_t)r0 * pos * P : patches;
        float *zc = z_chunk ? z : z + (size_t)r0 * out;
        im2col(g, x + (size_t)r0 * in, n, pc);
        bias_rows(zc, b, M, F);   /* the bias rows are the GEMM's C (beta = 1) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, F, P, 1.0f, pc, P, K, F, 1.0f, zc, F);
        if (pool) maxpool_relu_forward(pool, zc, n, pooled + (size_t)r0 * pout, argmax + (size_t)r0 * pout);
    }
}

void conv2d_forward(const rd_conv_geom *g, int F, const float *x, const float *K, const float *b,
                    int rows, float *scratch, float *z)
{
    conv2d_forward_ex(g, F, x, K, b, rows, rd_conv_chunk(g, rows), scratch, false, z, false, NULL, NULL, NULL);
}

void conv2d_backward_kernel_ex(const rd_conv_geom *g, int F, const float *x, const float *dz, int rows,
                               float *patches, bool keep, float *dK)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW, step = rd_conv_chunk(g, rows);
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)pos * F;
    for (int r0 = 0; r0 < rows; r0 += step) {
        const int n = rows - r0 < step ? rows - r0 : step, M = n * pos;
        float *pc = keep ? patches + (size_t)r0 * pos * P : patches;
        if (!keep) im2col(g, x + (size_t)r0 * in, n, pc);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, F, M, 1.0f, pc, P, dz + (size_t)r0 * out, F,
                    r0 ? 1.0f : 0.0f, dK, F);
    }
}

void conv2d_backward_kernel(const rd_conv_geom *g, int F, const float *x, const float *dz,
                            int rows, float *scratch, float *dK)
{
    conv2d_backward_kernel_ex(g, F, x, dz, rows, scratch, false, dK);
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

RD_SIMD_CLONES static void maxpool_forward_impl(const rd_conv_geom *g, const float *x, int rows, float *y, int32_t *argmax,
                                 bool relu)
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
                if (relu)   /* max(relu(z)) = relu(max(z)); a window <= 0 is a tie of zeros */
                    for (int c = 0; c < C; c++) {
                        const int32_t pos = -(int32_t)(yo[c] > 0.0f);   /* all ones where positive */
                        yo[c] = yo[c] > 0.0f ? yo[c] : 0.0f;
                        ao[c] = (ao[c] & pos) | ((first + c) & ~pos);
                    }
            }
    }
}

void maxpool_forward(const rd_conv_geom *g, const float *x, int rows, float *y, int32_t *argmax)
{
    maxpool_forward_impl(g, x, rows, y, argmax, false);
}

bool rd_maxpool_tiles(const rd_conv_geom *g) { return g->SH == g->KH && g->SW == g->KW; }

void maxpool_relu_forward(const rd_conv_geom *g, const float *z, int rows, float *y, int32_t *argmax)
{
    maxpool_forward_impl(g, z, rows, y, argmax, true);
}

/* Windows that tile the input (stride = size): every input value lies in at most one window,
 * so dx is written window by window (dy at the maximum, 0 elsewhere) with no zeroing pass;
 * only the rows and columns that the floor drops are zeroed. */
RD_SIMD_CLONES static void maxpool_backward_tiled(const rd_conv_geom *g, const float *ds, const int32_t *as, float *xs,
                                   const float *ys, float *gate, float *db)
{
    const int C = g->C, W = g->W, KH = g->KH, KW = g->KW;
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            const size_t o = ((size_t)oh * g->OW + ow) * C;
            const float *src = ds + o;
            if (ys) {   /* ReLU derivative at the maximum (y > 0), the bias gradient on the way */
                for (int c = 0; c < C; c++) {
                    uint32_t u;
                    memcpy(&u, &ds[o + c], sizeof u);
                    u &= 0u - (uint32_t)(ys[o + c] > 0.0f);
                    memcpy(&gate[c], &u, sizeof u);
                    db[c] += gate[c];
                }
                src = gate;
            }
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    const int32_t base = ((oh * KH + kh) * W + ow * KW + kw) * C;
                    float *restrict d = xs + base;
                    const float *restrict v = src;
                    const int32_t *restrict a = as + o;
                    /* branch-free (the argmax pattern is data: a branch mispredicts about one
                     * time in four) so that it vectorises: dy's bits ANDed with all-ones or 0 */
                    for (int c = 0; c < C; c++) {
                        uint32_t u;
                        memcpy(&u, &v[c], sizeof u);
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
            maxpool_backward_tiled(g, ds, as, xs, NULL, NULL, NULL);
            continue;
        }
        for (size_t j = 0; j < out; j++) xs[as[j]] += ds[j];
    }
}

void maxpool_relu_backward(const rd_conv_geom *g, const float *dy, const float *y, const int32_t *argmax,
                           int rows, float *dz, float *db)
{
    const size_t in = (size_t)g->H * g->W * g->C, out = (size_t)g->OH * g->OW * g->C;
    float gate[RD_POOL_MAX_CHANNELS];
    for (int n = 0; n < rows; n++)
        maxpool_backward_tiled(g, dy + (size_t)n * out, argmax + (size_t)n * out, dz + (size_t)n * in,
                               y + (size_t)n * out, gate, db);
}

void conv2d_pool_backward(const rd_conv_geom *g, int F, const float *x, const float *K, int rows, int chunk,
                          float *patches, bool keep, const rd_conv_geom *pool, const float *dy, const float *y,
                          const int32_t *argmax, float *dz, float *dK, float *db, float *dx,
                          void (*progress)(void *), void *ctx)
{
    const int P = rd_conv_patch(g), pos = g->OH * g->OW;
    const size_t in = (size_t)g->H * g->W * g->C, pout = (size_t)pool->OH * pool->OW * pool->C;
    if (chunk < 1) chunk = 1;
    memset(db, 0, (size_t)F * sizeof(float));
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        const int n = rows - r0 < chunk ? rows - r0 : chunk, M = n * pos;
        maxpool_relu_backward(pool, dy + (size_t)r0 * pout, y + (size_t)r0 * pout, argmax + (size_t)r0 * pout, n,
                              dz, db);
        float *pc = keep ? patches + (size_t)r0 * pos * P : patches;
        if (!keep) im2col(g, x + (size_t)r0 * in, n, pc);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, F, M, 1.0f, pc, P, dz, F, r0 ? 1.0f : 0.0f, dK, F);
        if (dx) {   /* this chunk's patches are used: its dPatches go in their place */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, P, F, 1.0f, dz, F, K, F, 0.0f, pc, P);
            col2im(g, pc, n, dx + (size_t)r0 * in);
        }
        if (progress) progress(ctx);
    }
}
