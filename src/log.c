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
