/* cpu.c - CPUID feature bits (see cpu.h). */
#include "cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static rd_cpu_features probe(void)
{
    rd_cpu_features f;
    memset(&f, 0, sizeof f);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    unsigned max_leaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    f.amd = !strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine");
    if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d)) return f;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave) return f;
    unsigned long long xcr0 = xgetbv0();
    bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    f.fma = ymm && fma;
    f.f16c = ymm && avx && f16c;
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned sub_max = a;
    f.avx2 = ymm && (b & (1u << 5));
    f.avx512f = zmm && (b & (1u << 16));
    f.avx512dq = zmm && (b & (1u << 17));
    f.avx512bw = zmm && (b & (1u << 30));
    f.avx512vl = zmm && (b & (1u << 31));
    if (sub_max >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f.avx512bf16 = zmm && (a & (1u << 5));
    }
    return f;
}
#else
static rd_cpu_features probe(void)
{
    rd_cpu_features f;
    memset(&f, 0, sizeof f);
    return f;
}
#endif

rd_cpu_features rd_cpu_detect(void)
{
    static rd_cpu_features cached;
    static bool done;
    if (!done) {
        cached = probe();
        done = true;
    }
    return cached;
}
