/* log.h - rank-0 output: notices, progress lines, metrics.jsonl rows, error lines. */
#ifndef RDROP_LOG_H
#define RDROP_LOG_H

#include "common.h"
#include "dist.h"

/* "rdrop: MSG" from rank 0 only: notices on stdout (with the progress), warnings on stderr
 * (stderr carries only warnings and errors). */
void rd_notice(const rd_dist *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rd_warn(const rd_dist *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One-line error "rdrop: [rank R: ]MSG" from this rank (any rank). */
void rd_print_error(const rd_dist *d, const char *msg);

/* Decide an error collectively: code = max over ranks; the lowest failing rank prints its
 * own message (docs/ARCHITECTURE.md "Errors and exit codes"). Returns the agreed code. */
int rd_agree(const rd_dist *d, int code, const rd_error *e);

/* "1h02m03s" / "4m05s" / "12.3s". */
void rd_format_duration(char *buf, size_t n, double seconds);


#endif
