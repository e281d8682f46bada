/* common.h - error reporting shared by every module.
 *
 * Library functions never print and never exit: they fill an rd_error and return
 * its exit code (0 = ok; codes of docs/ARCHITECTURE.md "Errors and exit codes": 1 internal/MPI, 2 usage/config,
 * 3 data, 4 checkpoint, 5 write failure, 6 non-finite, 75 stopped).
 * The message has the form "FILE[:LINE:COL]: what is wrong" (main adds "rdrop: ").
 */
#ifndef RDROP_COMMON_H
#define RDROP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define RDROP_VERSION "0.1.0"

/* Hot elementwise loops get AVX-512 and AVX2 clones picked at load time (GCC/clang
 * target_clones, an ifunc), so a portable x86-64-v2 build still runs them at the CPU's width.
 * The bits do not change with the clone: every loop so marked works element by element (or
 * per column in row order), and -std=c11 means -ffp-contract=off, so no FMA contraction
 * (docs/benchmarks.md "Vector clones"). -DRDROP_NO_CLONES turns them off. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(RDROP_NO_CLONES)
#if __has_attribute(target_clones)
#define RD_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef RD_SIMD_CLONES
#define RD_SIMD_CLONES
#endif

/* The most dropout passes (rdrop.passes) the loss handles. */
#define RD_MAX_PASSES 16

enum {
    RD_OK = 0,
    RD_EXIT_INTERNAL = 1,
    RD_EXIT_CONFIG = 2,
    RD_EXIT_DATA = 3,
    RD_EXIT_CHECKPOINT = 4,
    RD_EXIT_WRITE = 5,
    RD_EXIT_NONFINITE = 6,
    RD_EXIT_STOPPED = 75,
};

typedef struct {
    int code;
    char msg[1024];
} rd_error;

/* Set e->code = code and e->msg = formatted text; returns code. e may be NULL. */
int rd_fail(rd_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* malloc/calloc that return NULL only for size 0; abort with a message on OOM. */
void *rd_malloc(size_t n);
void *rd_calloc(size_t n, size_t size);
char *rd_strdup(const char *s);

/* Monotonic seconds. */
double rd_now(void);

/* zlib CRC-32 of a buffer (continue from crc; start with 0). */
uint32_t rd_crc32(uint32_t crc, const void *buf, size_t n);

/* The one string builder: a growable byte buffer, always NUL-terminated (p is NULL until
 * the first append). Aborts with a message on out of memory, like rd_malloc. */
typedef struct { char *p; size_t len, cap; } rd_buf;
void rd_buf_printf(rd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rd_buf_append(rd_buf *b, const void *data, size_t n);
void rd_buf_free(rd_buf *b);

/* The shortest of %.15g, %.16g, %.17g that reads back as the same double ("0.05", not
 * "0.050000000000000003"). */
void rd_fmt_double(char *buf, size_t n, double v);

/* Bytes of the valid UTF-8 sequence at s (1-4; RFC 3629: no overlong forms, no surrogates),
 * 0 when invalid. rd_utf8_valid: the whole string is valid UTF-8. */
int rd_utf8_len(const char *s);
bool rd_utf8_valid(const char *s);

#endif
