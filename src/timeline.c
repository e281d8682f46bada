/* timeline.c - recording and writing the Chrome trace of run.timeline (see timeline.h). */
#include "timeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

void rd_timeline_init(rd_timeline *tl, long steps, size_t per_step, double origin)
{
    memset(tl, 0, sizeof *tl);
    tl->cap = (size_t)steps * per_step;
    tl->ev = rd_malloc((tl->cap ? tl->cap : 1) * sizeof *tl->ev);
    tl->steps_max = steps;
    tl->origin = origin;
}

void rd_timeline_free(rd_timeline *tl)
{
    free(tl->ev);
    memset(tl, 0, sizeof *tl);
}

void rd_timeline_add(rd_timeline *tl, rd_tl_kind kind, int index, int tid, double t0, double t1)
{
    if (!rd_timeline_on(tl) || tl->n >= tl->cap) return;
    tl->ev[tl->n++] = (rd_tl_event){.kind = kind, .index = index, .step = (int32_t)tl->step, .tid = tid,
                                    .ts = t0 - tl->origin, .dur = t1 - t0};
}

static void event_name(const rd_tl_event *v, const char *const *layers, int n_layers, char *buf, size_t n)
{
    static const char *const names[] = {"step", "micro-batch", "gather", "masks", "forward", "loss",
                                        "backward", "forward", "backward", "accumulate", "wait",
                                        "allreduce", "check", "update"};
    const char *base = v->kind >= 0 && v->kind <= RD_TL_UPDATE ? names[v->kind] : "?";
    if (v->kind == RD_TL_LAYER_FWD || v->kind == RD_TL_LAYER_BWD)
        snprintf(buf, n, "%s %s", base, v->index >= 0 && v->index < n_layers ? layers[v->index] : "?");
    else if (v->kind == RD_TL_BUCKET || v->kind == RD_TL_MICRO)
        snprintf(buf, n, "%s %d", base, v->index);
    else if (v->kind == RD_TL_STEP)
        snprintf(buf, n, "%s %d", base, v->step);
    else
        snprintf(buf, n, "%s", base);
}

int rd_timeline_write(const char *path, const rd_tl_event *ev, const size_t *counts, int ranks,
                      const char *const *layer_names, int n_layers, rd_error *e)
{
    char tmp[RD_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rd_fail(e, RD_EXIT_WRITE, "%s: run.timeline: cannot write: %s", path, strerror(errno));
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    bool first = true;
    for (int r = 0; r < ranks; r++) {
        fprintf(f, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"rank %d\"}}", first ? "" : ",\n", r, r);
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"compute\"}}", r);
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":1,\"args\":{\"name\":\"allreduce\"}}", r);
        first = false;
    }
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < counts[r]; i++, ev++) {
            char name[96];
            event_name(ev, layer_names, n_layers, name, sizeof name);
            fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
                       "\"args\":{\"step\":%d,\"index\":%d}}",
                    name, ev->tid ? "comm" : "compute", r, ev->tid, ev->ts * 1e6, ev->dur * 1e6, ev->step, ev->index);
        }
    fprintf(f, "\n]}\n");
    int bad = ferror(f) | (fflush(f) != 0);
    int err = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        if (!bad) err = errno;
        unlink(tmp);
        return rd_fail(e, RD_EXIT_WRITE, "%s: run.timeline: cannot write: %s", path, strerror(err ? err : EIO));
    }
    return 0;
}
