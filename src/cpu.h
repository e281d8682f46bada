/* cpu.h - what this x86-64 CPU can do, from CPUID feature bits and whether the operating
 * system saves the vector registers (XGETBV): one probe for the BLAS kernel choice
 * (src/blas.h) and the fp16 conversions (src/half.h). All false on other architectures. */
#ifndef RDROP_CPU_H
#define RDROP_CPU_H

#include <stdbool.h>

typedef struct {
    bool amd;                     /* vendor AuthenticAMD or HygonGenuine */
    bool avx2, fma;               /* and the OS saves the YMM state */
    bool f16c;                    /* with AVX, and the OS saves the YMM state */
    bool avx512f, avx512bw, avx512dq, avx512vl;   /* and the OS saves the ZMM state */
    bool avx512bf16;
} rd_cpu_features;

/* This CPU's features (computed once, then cached). */
rd_cpu_features rd_cpu_detect(void);

#endif
