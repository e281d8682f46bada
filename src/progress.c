/* progress.c - rank 0's live line on a terminal, plain progress lines elsewhere. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LIVE_WIDTH 79   /* the live line must not wrap: "\r" only returns to its last row */

/* The live line of this process, so that log.c can erase it before a notice. */
static rd_progress *current;

bool rd_progress_stdout_is_terminal(void)
{
    if (!isatty(STDOUT_FILENO)) return false;
    /* Open MPI (its orte_iof pty support) hands every local rank a pseudo-terminal as stdout
     * and copies it to mpirun's stdout, a log file as often as not: ask about mpirun's. A rank
     * started by mpirun is its child; one started by orted on another node sees orted's. */
    if (!getenv("OMPI_COMM_WORLD_SIZE")) return true;
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/%ld/fd/1", (long)getppid());
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    return !strncmp(target, "/dev/pts/", 9) || !strncmp(target, "/dev/tty", 8);
}

void rd_progress_init(rd_progress *p, rd_progress_mode mode, FILE *out)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->out = out;
    p->spe = 1;
    p->epoch = -1;
    p->t_last = -1e300;
}

void rd_progress_plan(rd_progress *p, int64_t spe, int64_t total_steps, long batch, long log_every_steps)
{
    p->spe = spe > 0 ? spe : 1;
    p->total_steps = total_steps;
    p->epochs = (total_steps + p->spe - 1) / p->spe;
    p->batch = batch;
    p->plain_every_s = log_every_steps > 0 ? 0.0 : RD_PROGRESS_PLAIN_S;
}

void rd_progress_set_current(rd_progress *p) { current = p && p->mode == RD_PROGRESS_LIVE ? p : NULL; }

void rd_progress_clear_current(void)
{
    if (current) rd_progress_clear(current);
}

void rd_progress_clear(rd_progress *p)
{
    if (p->mode != RD_PROGRESS_LIVE || p->shown == 0) return;
    fprintf(p->out, "\r%*s\r", p->shown, "");
    fflush(p->out);
    p->shown = 0;
}

/* Redraw the live line in place; pads over what a longer previous text left. */
static void draw(rd_progress *p, const char *text, double now)
{
    int len = (int)strlen(text);
    if (len > LIVE_WIDTH) len = LIVE_WIDTH;
    fprintf(p->out, "\r%.*s%*s", len, text, p->shown > len ? p->shown - len : 0, "");
    fflush(p->out);
    if (len > p->shown) p->shown = len;   /* padding included: clear() wipes it all */
    p->t_last = now;
    p->lines++;
}

static void plain(rd_progress *p, const char *text, double now)
{
    fprintf(p->out, "rdrop: %s\n", text);
    fflush(p->out);
    p->t_last = now;
    p->lines++;
}

/* "epoch 2/5  step 234/468  5832 samples/s  ETA 12.3s (epoch), 1m02s (run)" */
static void step_text(const rd_progress *p, int64_t step, double now, char *buf, size_t n)
{
    const int64_t in_epoch = (step - 1) % p->spe + 1;
    const double de = now - p->t_epoch0, dr = now - p->t_run0;
    const int64_t se = step - p->step_epoch0, sr = step - p->step_run0;
    int k = snprintf(buf, n, "epoch %lld/%lld  step %lld/%lld", (long long)(p->epoch + 1), (long long)p->epochs,
                     (long long)in_epoch, (long long)p->spe);
    if (se <= 0 || de <= 0 || sr <= 0 || dr <= 0 || k < 0 || (size_t)k >= n) return;
    char eta_e[32], eta_r[32];
    rd_format_duration(eta_e, sizeof eta_e, (double)(p->spe - in_epoch) * de / (double)se);
    rd_format_duration(eta_r, sizeof eta_r, (double)(p->total_steps - step) * dr / (double)sr);
    snprintf(buf + k, n - (size_t)k, "  %.0f samples/s  ETA %s (epoch), %s (run)",
             (double)se * (double)p->batch / de, eta_e, eta_r);
}

void rd_progress_step(rd_progress *p, int64_t step, double now)
{
    if (p->mode == RD_PROGRESS_OFF || step <= 0) return;
    const int64_t epoch = (step - 1) / p->spe;
    if (p->step_run0 == 0) {   /* the first step this process runs (a resume starts later) */
        p->t_run0 = now;
        p->step_run0 = step;
    }
    if (epoch != p->epoch) {   /* rates restart with the epoch; the interval starts here too */
        p->epoch = epoch;
        p->t_epoch0 = now;
        p->step_epoch0 = step;
        if (p->mode == RD_PROGRESS_PLAIN) p->t_last = now;
    }
    char text[256];
    if (p->mode == RD_PROGRESS_LIVE) {
        if (now - p->t_last < RD_PROGRESS_LIVE_S) return;
        step_text(p, step, now, text, sizeof text);
        draw(p, text, now);
    } else if (p->plain_every_s > 0 && now - p->t_last >= p->plain_every_s) {
        step_text(p, step, now, text, sizeof text);
        plain(p, text, now);
    }
}

void rd_progress_phase(rd_progress *p, bool plain_too, double now, const char *fmt, ...)
{
    if (p->mode == RD_PROGRESS_OFF || (p->mode == RD_PROGRESS_PLAIN && !plain_too)) return;
    /* live: a phase that follows a step update within the rate limit is not drawn (the line
     * still updates at most 4 times a second); after other output (nothing shown) it is. */
    if (p->mode == RD_PROGRESS_LIVE && p->shown > 0 && now - p->t_last < RD_PROGRESS_LIVE_S) return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (p->mode == RD_PROGRESS_LIVE) {
        size_t len = strlen(text);
        if (len + 3 < sizeof text) memcpy(text + len, "...", 4);
        draw(p, text, now);
    } else {
        plain(p, text, now);
    }
}
