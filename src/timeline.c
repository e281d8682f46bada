/* timeline.c - recording and writing the Chrome trace of run.timeline (see timeline.h). */
#include "timeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "json.h"

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

/* Microseconds, rounded to whole nanoseconds (so the text stays short). */
static double usec(double seconds) { return round(seconds * 1e9) / 1e3; }

/* One trace event per line, written through jansson (consumes ev). Once ok is false, nothing
 * more is written. */
static void put(FILE *f, json_t *ev, bool first, bool *ok)
{
    char *text = *ok ? rd_json_text(ev) : NULL;
    json_decref(ev);
    *ok = *ok && text && fprintf(f, "%s%s", first ? "" : ",\n", text) >= 0;
    free(text);
}

static json_t *meta(const char *what, int pid, int tid, const char *name)
{
    json_t *o = json_object();
    rd_json_set(o, "name", rd_json_str(what));
    rd_json_set(o, "ph", json_string("M"));
    rd_json_set(o, "pid", json_integer(pid));
    if (tid >= 0) rd_json_set(o, "tid", json_integer(tid));
    json_t *args = json_object();
    rd_json_set(args, "name", rd_json_str(name));
    rd_json_set(o, "args", args);
    return o;
}

int rd_timeline_write(const char *path, const rd_tl_event *ev, const size_t *counts, int ranks,
                      const char *const *layer_names, int n_layers, rd_error *e)
{
    char tmp[RD_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rd_fail(e, RD_EXIT_WRITE, "%s: run.timeline: cannot write: %s", path, strerror(errno));
    bool ok = fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n") >= 0, first = true;
    for (int r = 0; r < ranks; r++) {
        char name[32];
        snprintf(name, sizeof name, "rank %d", r);
        put(f, meta("process_name", r, -1, name), first, &ok);
        put(f, meta("thread_name", r, 0, "compute"), false, &ok);
        put(f, meta("thread_name", r, 1, "allreduce"), false, &ok);
        first = false;
    }
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < counts[r]; i++, ev++) {
            char name[96];
            event_name(ev, layer_names, n_layers, name, sizeof name);
            json_t *o = json_object(), *args = json_object();
            rd_json_set(o, "name", rd_json_str(name));
            rd_json_set(o, "cat", json_string(ev->tid ? "comm" : "compute"));
            rd_json_set(o, "ph", json_string("X"));
            rd_json_set(o, "pid", json_integer(r));
            rd_json_set(o, "tid", json_integer(ev->tid));
            rd_json_set(o, "ts", json_real(usec(ev->ts)));
            rd_json_set(o, "dur", json_real(usec(ev->ts + ev->dur) - usec(ev->ts)));
            rd_json_set(args, "step", json_integer(ev->step));
            rd_json_set(args, "index", json_integer(ev->index));
            rd_json_set(o, "args", args);
            put(f, o, false, &ok);
        }
    ok = ok && fprintf(f, "\n]}\n") >= 0;
    int bad = (!ok) | (ferror(f) != 0) | (fflush(f) != 0);
    int err = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        if (!bad) err = errno;
        unlink(tmp);
        return rd_fail(e, RD_EXIT_WRITE, "%s: run.timeline: cannot write: %s", path, strerror(err ? err : EIO));
    }
    return 0;
}
