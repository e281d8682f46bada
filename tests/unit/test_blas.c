/* test_blas.c - the kernel table (CPUID feature bits -> OpenBLAS kernel), kernel classes, the
 * restart decision for every run.blas_core mode, and the start-up correctness check with its
 * refusal path (src/blas.h). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"

typedef struct {
    const char *what;
    rd_cpu_features f;
    const char *kernel;   /* NULL = none */
} feature_case;

static void test_class_kernel_table(void **state)
{
    (void)state;
    const feature_case cases[] = {
        {"Emerald Rapids (AVX-512 + BF16)", {.avx2 = 1, .fma = 1, .avx512f = 1, .avx512bw = 1, .avx512dq = 1, .avx512vl = 1, .avx512bf16 = 1}, "Cooperlake"},
        {"Skylake-SP (AVX-512, no BF16)", {.avx2 = 1, .fma = 1, .avx512f = 1, .avx512bw = 1, .avx512dq = 1, .avx512vl = 1}, "SkylakeX"},
        {"Zen 4 (AMD, AVX-512 + BF16)", {.amd = 1, .avx2 = 1, .fma = 1, .avx512f = 1, .avx512bw = 1, .avx512dq = 1, .avx512vl = 1, .avx512bf16 = 1}, "Cooperlake"},
        {"Knights Landing (F without BW/DQ/VL)", {.avx2 = 1, .fma = 1, .avx512f = 1}, "Haswell"},
        {"AVX-512 F+BW+DQ without VL", {.avx2 = 1, .fma = 1, .avx512f = 1, .avx512bw = 1, .avx512dq = 1}, "Haswell"},
        {"Haswell (Intel AVX2+FMA)", {.avx2 = 1, .fma = 1}, "Haswell"},
        {"Zen 3 (AMD AVX2+FMA)", {.amd = 1, .avx2 = 1, .fma = 1}, "Zen"},
        {"AVX2 without FMA", {.avx2 = 1}, NULL},
        {"FMA without AVX2", {.fma = 1}, NULL},
        {"SSE only (Intel)", {0}, NULL},
        {"SSE only (AMD)", {.amd = 1}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = rd_blas_class_kernel(&cases[i].f);
        if (!cases[i].kernel) {
            if (got) fail_msg("%s: expected no kernel, got %s", cases[i].what, got);
        } else if (!got || strcmp(got, cases[i].kernel)) {
            fail_msg("%s: expected %s, got %s", cases[i].what, cases[i].kernel, got ? got : "none");
        }
    }
}

static void test_kernel_classes(void **state)
{
    (void)state;
    const struct { const char *name; int cls; } cases[] = {
        {"Prescott", 0}, {"Core2", 0}, {"Nehalem", 0}, {"Sandybridge", 0}, {"Barcelona", 0},
        {"Haswell", 1}, {"Zen", 1}, {"haswell", 1}, {"SkylakeX", 2}, {"Cooperlake", 2},
        {"SapphireRapids", 2}, {"COOPERLAKE", 2}, {"nonsense", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rd_blas_kernel_class(cases[i].name) != cases[i].cls)
            fail_msg("%s: class %d, expected %d", cases[i].name, rd_blas_kernel_class(cases[i].name), cases[i].cls);
    assert_true(rd_blas_kernel_known("Prescott"));
    assert_true(rd_blas_kernel_known("skylakex"));
    assert_false(rd_blas_kernel_known("Skylake"));
    assert_false(rd_blas_kernel_known(""));
}

static void test_decide(void **state)
{
    (void)state;
    char w[256];
    const struct {
        const char *mode, *picked, *env, *best, *want;
        int warns;          /* 1: a warning, 2: refused (the message is an error) */
        const char *says;   /* in the message, if not NULL */
    } cases[] = {
        /* auto: restart only when below class and the environment chose nothing */
        {"auto", "Prescott", NULL, "Cooperlake", "Cooperlake", 0, NULL},
        {"auto", "Prescott", "", "SkylakeX", "SkylakeX", 0, NULL},
        {"auto", "Prescott", "Prescott", "Cooperlake", NULL, 1, NULL},   /* the user's choice stays, with a warning */
        {"auto", "Haswell", NULL, "Cooperlake", "Cooperlake", 0, NULL},
        {"auto", "Cooperlake", NULL, "Cooperlake", NULL, 0, NULL},
        {"auto", "SkylakeX", NULL, "Cooperlake", NULL, 0, NULL},         /* same class: no restart */
        {"auto", "SapphireRapids", NULL, "Cooperlake", NULL, 0, NULL},
        {"auto", "Zen", NULL, "Zen", NULL, 0, NULL},
        {"auto", "Prescott", NULL, NULL, NULL, 0, NULL},                 /* an old CPU: nothing better */
        /* best: also replaces a kernel set in the environment */
        {"best", "Prescott", "Prescott", "Cooperlake", "Cooperlake", 0, NULL},
        {"best", "Haswell", "Haswell", "SkylakeX", "SkylakeX", 0, NULL},
        {"best", "Cooperlake", NULL, "Cooperlake", NULL, 0, NULL},
        /* keep: never */
        {"keep", "Prescott", NULL, "Cooperlake", NULL, 0, NULL},
        /* a name: restart when OpenBLAS runs another */
        {"Haswell", "Prescott", NULL, "Cooperlake", "Haswell", 0, NULL},
        {"Haswell", "Haswell", NULL, "Cooperlake", NULL, 0, NULL},
        {"haswell", "Haswell", NULL, "Cooperlake", NULL, 0, NULL},
        /* a kernel above the CPU's class (OPENBLAS_CORETYPE from an AVX-512 machine on an AVX2
         * one; OpenBLAS would load it and die of SIGILL): auto and best replace it, keep and a
         * name refuse */
        {"auto", "SkylakeX", "SkylakeX", "Zen", "Zen", 1, "needs AVX-512, lacking on this CPU: running on Zen"},
        {"best", "Cooperlake", "cooperlake", "Haswell", "Haswell", 1, "OPENBLAS_CORETYPE=cooperlake"},
        {"auto", "Haswell", "Haswell", NULL, "Prescott", 1, "needs AVX2 and FMA"},   /* a class-0 CPU */
        {"keep", "SkylakeX", "SkylakeX", "Zen", NULL, 2, "unset it, or set run.blas_core: auto"},
        {"SkylakeX", "Zen", NULL, "Zen", NULL, 2, "run.blas_core: SkylakeX needs AVX-512"},
        {"Haswell", "Prescott", NULL, NULL, NULL, 2, "needs AVX2 and FMA"},
        {"keep", "SkylakeX", NULL, "Zen", NULL, 0, NULL},          /* OpenBLAS's own choice is trusted */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool refuse = true;
        const char *got = rd_blas_decide(cases[i].mode, cases[i].picked, cases[i].env, cases[i].best, w,
                                         sizeof w, &refuse);
        bool same = (!got && !cases[i].want) || (got && cases[i].want && !strcmp(got, cases[i].want));
        if (!same)
            fail_msg("case %zu (%s, picked %s, env %s): restart with %s, expected %s", i, cases[i].mode,
                     cases[i].picked, cases[i].env ? cases[i].env : "unset", got ? got : "none",
                     cases[i].want ? cases[i].want : "none");
        if ((w[0] != '\0') != (cases[i].warns != 0))
            fail_msg("case %zu: warning '%s', expected %s", i, w, cases[i].warns ? "one" : "none");
        if (refuse != (cases[i].warns == 2))
            fail_msg("case %zu: refused %d, expected %d", i, refuse, cases[i].warns == 2);
        if (cases[i].says && !strstr(w, cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, w, cases[i].says);
    }
}

static void test_verify_and_refusal(void **state)
{
    (void)state;
    rd_error e = {0};
    unsetenv("RDROP_TEST_BLAS_CORRUPT");
    assert_int_equal(rd_blas_verify(32, 100, 77, &e), 0);
    setenv("RDROP_TEST_BLAS_CORRUPT", "1", 1);
    assert_int_equal(rd_blas_verify(32, 100, 77, &e), RD_EXIT_INTERNAL);
    unsetenv("RDROP_TEST_BLAS_CORRUPT");
    assert_non_null(strstr(e.msg, rd_blas_corename()));
    assert_non_null(strstr(e.msg, "run.blas_core"));
    assert_null(strchr(e.msg, '\n'));
    double gf = rd_blas_gflops(64, 64, 64, 0.01);
    assert_true(gf > 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_kernel_table),
        cmocka_unit_test(test_kernel_classes),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_verify_and_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
