#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

static void vsay(FILE *out, const rd_dist *d, const char *fmt, va_list ap)
{
    if (d && d->rank != 0) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    rd_progress_clear_current();   /* a notice replaces the live line; the next update redraws it */
    fprintf(out, "rdrop: %s\n", msg);
    fflush(out);
}

void rd_notice(const rd_dist *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(stdout, d, fmt, ap);
    va_end(ap);
}

void rd_warn(const rd_dist *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(stderr, d, fmt, ap);
    va_end(ap);
}

void rd_print_error(const rd_dist *d, const char *msg)
{
    rd_progress_clear_current();
    if (d && d->size > 1)
        fprintf(stderr, "rdrop: rank %d: %s\n", d->rank, msg);
    else
        fprintf(stderr, "rdrop: %s\n", msg);
    fflush(stderr);
}

int rd_agree(const rd_dist *d, int code, const rd_error *e)
{
    int global = rd_dist_max_int(d, code);
    if (global == 0) return 0;
    int first = rd_dist_min_int(d, code != 0 ? d->rank : d->size);
    if (d->rank == first && code != 0) rd_print_error(d, e->msg);
    return global;
}

void rd_format_duration(char *buf, size_t n, double s)
{
    if (s < 0) s = 0;
    if (s < 60) { snprintf(buf, n, "%.1fs", s); return; }
    long t = (long)(s + 0.5);
    if (t < 3600) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%ldh%02ldm%02lds", t / 3600, (t / 60) % 60, t % 60);
}

void rd_buf_append(rd_buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { fprintf(stderr, "rdrop: out of memory\n"); abort(); }
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
