/* halfbench.c - CPU time per float of dist.compress's conversions and 16-bit reduction
 * (src/half.c: rd_compress_floats, rd_expand_floats, rd_bf16_sum, rd_f16_sum) next to a plain
 * float32 sum (what MPI_SUM does on a float bucket), over a gradient-sized array; medians of
 * --reps runs after one warm-up. launch/model.py --features uses these as the conversion cost
 * of dist.compress (docs/scale/model-fit.md). Prints one JSON object.
 *
 * build (after launch/build.sh):
 *   built by CMake with the trainer (build/launch/halfbench)
 * usage: build/launch/halfbench [N_FLOATS (default 1863698)] [REPS (default 21)]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "half.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void f32_sum(const float *in, float *inout, size_t n)
{
    for (size_t i = 0; i < n; i++) inout[i] += in[i];
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1863698;
    int reps = argc > 2 ? atoi(argv[2]) : 21;
    if (n < 1 || reps < 1) { fprintf(stderr, "usage: halfbench [N_FLOATS] [REPS]\n"); return 2; }
    float *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
    uint16_t *h = malloc(n * sizeof *h), *h2 = malloc(n * sizeof *h2);
    double *t = malloc((size_t)(reps + 1) * sizeof *t);
    if (!f || !g || !h || !h2 || !t) { fprintf(stderr, "halfbench: out of memory\n"); return 1; }
    srand(1);
    for (size_t i = 0; i < n; i++) f[i] = g[i] = ((float)rand() / RAND_MAX - 0.5f) * 1e-3f;
    const char *names[] = {"f32_sum", "bf16_compress", "bf16_expand", "bf16_sum", "fp16_compress", "fp16_expand", "fp16_sum"};
    printf("{\"floats\":%zu,\"reps\":%d,\"f16c\":%s", n, reps, rd_half_f16c() ? "true" : "false");
    for (int k = 0; k < 7; k++) {
        rd_compress fmt = k < 4 ? RD_COMPRESS_BF16 : RD_COMPRESS_FP16;
        rd_compress_floats(fmt, f, h2, n, 1.0f);
        for (int r = 0; r <= reps; r++) {
            double t0 = now_ms();
            switch (k) {
            case 0: f32_sum(f, g, n); break;
            case 1: case 4: rd_compress_floats(fmt, f, h, n, k == 4 ? 0.5f : 1.0f); break;
            case 2: case 5: rd_expand_floats(fmt, h2, g, n, k == 5 ? 2.0f : 1.0f); break;
            case 3: rd_compress_floats(fmt, f, h, n, 1.0f); t0 = now_ms(); rd_bf16_sum(h2, h, n); break;
            default: rd_compress_floats(fmt, f, h, n, 1.0f); t0 = now_ms(); rd_f16_sum(h2, h, n); break;
            }
            t[r] = now_ms() - t0;
        }
        qsort(t + 1, (size_t)reps, sizeof *t, cmp_d);
        printf(",\"%s_ns_per_float\":%.4f", names[k], 1e6 * t[1 + reps / 2] / (double)n);
    }
    printf("}\n");
    free(f); free(g); free(h); free(h2); free(t);
    return 0;
}
