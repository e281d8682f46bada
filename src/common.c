#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

int rd_fail(rd_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

static void oom(size_t n)
{
    fprintf(stderr, "rdrop: out of memory allocating %zu bytes (a smaller model or batch, or more memory)\n", n);
    exit(RD_EXIT_INTERNAL);
}

void *rd_malloc(size_t n)
{
    if (n == 0) return NULL;
    void *p = malloc(n);
    if (!p) oom(n);
    return p;
}

void *rd_calloc(size_t n, size_t size)
{
    if (n == 0 || size == 0) return NULL;
    void *p = calloc(n, size);
    if (!p) oom(n * size);
    return p;
}

char *rd_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = rd_malloc(n);
    memcpy(p, s, n);
    return p;
}

double rd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint32_t rd_crc32(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}

void rd_buf_append(rd_buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) oom(cap);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void rd_buf_printf(rd_buf *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { rd_buf_append(b, tmp, (size_t)n); return; }
    char *big = rd_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rd_buf_append(b, big, (size_t)n);
    free(big);
}

void rd_buf_free(rd_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rd_fmt_double(char *buf, size_t n, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 (RFC 3629: no overlongs, no surrogates). */
int rd_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80) return 1;
    int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (n == 0 || (n == 3 && p[0] >= 0xf0)) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

bool rd_utf8_valid(const char *s)
{
    for (int k; *s; s += k)
        if ((k = rd_utf8_len(s)) == 0) return false;
    return true;
}
