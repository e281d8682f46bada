/* testutil.h - helpers for the cmocka tests (cmocka 1.1.5 has no relative-tolerance assert). */
#ifndef RDROP_TESTUTIL_H
#define RDROP_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* |got - want| <= atol + rtol*|want|, else fail with both values and `what`. */
void rd_assert_close(double got, double want, double atol, double rtol, const char *what,
                     const char *file, int line);
#define assert_close(got, want, atol, rtol) \
    rd_assert_close((got), (want), (atol), (rtol), #got, __FILE__, __LINE__)

/* Path of a file in tests/data. Static buffer. */
const char *rd_test_data(const char *name);

/* Write `len` bytes to a fresh temp file; returns its path (static buffer per call slot). */
char *rd_test_tmpfile(const char *suffix, const void *data, size_t len);

#endif
