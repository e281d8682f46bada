/* blas_gflops - sgemm n x n x n GF/s (best of repeated calls for S seconds) on the OpenBLAS
 * kernel that rdrop's choice gives (src/blas.h): blas_gflops [MODE [N [SECONDS]]], MODE
 * auto (default) | best | keep | a kernel name. Prints "KERNEL ORIGIN GFLOPS". */
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"

int main(int argc, char **argv)
{
    rd_blas_select(argc > 1 ? argv[1] : "auto", NULL, argv);
    int n = argc > 2 ? atoi(argv[2]) : 2048;
    double s = argc > 3 ? atof(argv[3]) : 1.0;
    if (n < 1 || !(s > 0)) {
        fprintf(stderr, "usage: blas_gflops [auto|best|keep|KERNEL [N [SECONDS]]]\n");
        return 2;
    }
    printf("%s\t%s\t%.1f\n", rd_blas_corename(), rd_blas_origin(), rd_blas_gflops(n, n, n, s));
    return 0;
}
