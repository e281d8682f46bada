/* config.c - YAML config -> rd_config.
 *
 * One table (rd_keys) lists every key with its type, field offset and allowed range; the
 * file walk, the --set walk, validation and the YAML writer all read it, so a new key is
 * one table line plus its default. The file is loaded with libyaml's document API: nodes
 * keep their marks, so every error can name FILE:LINE:COL. Where each key was given
 * (file position or --set argument) is recorded so that semantic errors found after all
 * overrides still point at the right place.
 */
#include "config.h"
#include "conv.h"
#include "blas.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define RD_CONFIG_MAX_BYTES (16u << 20)

/* ------------------------------------------------------------------ names */

static const char *const act_names[] = {"linear", "relu", "leaky_relu", "elu", "relu6",
                                        "tanh", "sigmoid", "swish", "mish", NULL};
static const char *const init_names[] = {"he_uniform", "glorot_uniform", "torch_default", NULL};
static const char *const sched_names[] = {"constant", "inverse_time", "step", "exponential",
                                          "cosine", NULL};
static const char *const reduction_names[] = {"mean", "sum", NULL};
static const char *const stream_names[] = {"rank", "sample", NULL};
static const char *const format_names[] = {"idx", "synthetic", "hdf5", NULL};
static const char *const load_names[] = {"memory", "stream", NULL};
static const char *const scale_names[] = {"none", "linear", NULL};
static const char *const layer_type_names[] = {"dense", "dropout", "conv2d", "max_pool", NULL};
static const char *const padding_names[] = {"valid", "same", NULL};
static const char *const compress_names[] = {"none", "bf16", "fp16", NULL};   /* = rd_compress */
static const char *const overlap_names[] = {"false", "true", "auto", NULL};   /* = rd_overlap_mode */

static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static int name_count(const char *const *names)
{
    int n = 0;
    while (names[n]) n++;
    return n;
}

static const char *name_of(const char *const *names, int v)
{
    return v >= 0 && v < name_count(names) ? names[v] : NULL;
}

const char *rd_activation_name(rd_activation a) { return name_of(act_names, (int)a); }
int rd_activation_parse(const char *s) { return s ? name_index(act_names, s) : -1; }
const char *rd_sched_name(rd_sched_kind k) { return name_of(sched_names, (int)k); }
const char *rd_layer_type_name(rd_layer_kind k) { return name_of(layer_type_names, (int)k); }
const char *rd_padding_name(rd_padding p) { return name_of(padding_names, (int)p); }

/* ------------------------------------------------------------------ key table */

typedef enum {
    K_SECTION, K_LAYERS, K_LAYER_TYPE, K_INT, K_LONG, K_U64, K_DOUBLE, K_BOOL, K_PATH,
    K_ENUM,      /* int-sized enum field */
    K_FLAG_ENUM, /* bool field spelled names[0] (false) | names[1] (true) */
    K_PAIR,      /* int[2] field given as an int (both) or [h, w] */
} rd_kind;

typedef struct {
    const char *path;   /* full dotted path; for layer keys just the key */
    rd_kind kind;
    size_t off;         /* offset in rd_config (rd_layer_spec for layer keys) */
    const char *const *names;
    double lo, hi;      /* numeric range; hi = INFINITY when unbounded */
    bool lo_open, hi_open;
    unsigned layers;    /* layer keys: mask of rd_layer_kind bits allowing the key */
} rd_key;

#define OFF(f) offsetof(rd_config, f)
#define KEY(p, k, f) .path = (p), .kind = (k), .off = OFF(f)
#define SECTION(p) {.path = (p), .kind = K_SECTION}
#define GE(x) .lo = (x), .hi = INFINITY
#define GT(x) .lo = (x), .lo_open = true, .hi = INFINITY
#define IN(a, b) .lo = (a), .hi = (b)
#define IN_OPEN(a, b) .lo = (a), .hi = (b), .hi_open = true

/* Order = order in the written YAML; sub-sections follow their parent's leaves. */
static const rd_key rd_keys[] = {
    SECTION("model"),
    {KEY("model.init", K_ENUM, model.init), .names = init_names},
    {.path = "model.layers", .kind = K_LAYERS},
    SECTION("rdrop"),
    {KEY("rdrop.passes", K_INT, rdrop.passes), IN(1, RD_MAX_PASSES)},
    {KEY("rdrop.alpha", K_DOUBLE, rdrop.alpha), GE(0)},
    {KEY("rdrop.reduction", K_ENUM, rdrop.reduction), .names = reduction_names},
    {KEY("rdrop.kl_reduction", K_ENUM, rdrop.kl_reduction), .names = reduction_names},
    {KEY("rdrop.alpha_rampup_epochs", K_DOUBLE, rdrop.alpha_rampup_epochs), GE(0)},
    SECTION("optimizer"),
    {KEY("optimizer.lr", K_DOUBLE, optimizer.lr), GT(0)},
    {KEY("optimizer.momentum", K_DOUBLE, optimizer.momentum), IN_OPEN(0, 1)},
    {KEY("optimizer.nesterov", K_BOOL, optimizer.nesterov)},
    {KEY("optimizer.weight_decay", K_DOUBLE, optimizer.weight_decay), GE(0)},
    {KEY("optimizer.decay_biases", K_BOOL, optimizer.decay_biases)},
    SECTION("schedule"),
    {KEY("schedule.kind", K_ENUM, schedule.kind), .names = sched_names},
    {KEY("schedule.warmup_steps", K_LONG, schedule.warmup_steps), GE(0)},
    {KEY("schedule.decay", K_DOUBLE, schedule.decay), GE(0)},
    {KEY("schedule.gamma", K_DOUBLE, schedule.gamma), GT(0)},
    {KEY("schedule.step_steps", K_LONG, schedule.step_steps), GE(0)},
    {KEY("schedule.decay_steps", K_LONG, schedule.decay_steps), GE(0)},
    {KEY("schedule.lr_min", K_DOUBLE, schedule.lr_min), GE(0)},
    {KEY("schedule.scale_lr", K_FLAG_ENUM, schedule.scale_lr_linear), .names = scale_names},
    {KEY("schedule.base_batch", K_LONG, schedule.base_batch), GE(1)},
    SECTION("data"),
    {KEY("data.format", K_ENUM, data.format), .names = format_names},
    {KEY("data.train_images", K_PATH, data.train_images)},
    {KEY("data.train_labels", K_PATH, data.train_labels)},
    {KEY("data.test_images", K_PATH, data.test_images)},
    {KEY("data.test_labels", K_PATH, data.test_labels)},
    {KEY("data.train_file", K_PATH, data.train_file)},
    {KEY("data.test_file", K_PATH, data.test_file)},
    {KEY("data.images", K_PATH, data.images)},
    {KEY("data.labels", K_PATH, data.labels)},
    {KEY("data.classes", K_LONG, data.classes), IN(0, 1 << 24)},
    {KEY("data.load", K_ENUM, data.load), .names = load_names},
    {KEY("data.batch_size", K_LONG, data.batch_size), GE(1)},   /* and <= RD_MAX_BATCH */
    {KEY("data.shuffle", K_BOOL, data.shuffle)},
    {KEY("data.drop_last", K_BOOL, data.drop_last)},
    {KEY("data.validation", K_LONG, data.validation), GE(0)},
    {KEY("data.train_samples", K_LONG, data.train_samples), GE(0)},
    SECTION("data.augment"),
    {KEY("data.augment.flip", K_BOOL, data.augment.flip)},
    {KEY("data.augment.shift", K_LONG, data.augment.shift), IN(0, 64)},
    SECTION("data.synthetic"),
    {KEY("data.synthetic.train", K_LONG, data.synthetic.train), IN(1, 1 << 30)},
    {KEY("data.synthetic.test", K_LONG, data.synthetic.test), IN(1, 1 << 30)},
    {KEY("data.synthetic.features", K_LONG, data.synthetic.features), IN(1, 1 << 20)},
    {KEY("data.synthetic.classes", K_LONG, data.synthetic.classes), IN(2, 1 << 20)},
    SECTION("training"),
    {KEY("training.epochs", K_LONG, training.epochs), GE(1)},
    {KEY("training.max_steps", K_LONG, training.max_steps), GE(0)},
    {KEY("training.max_seconds", K_DOUBLE, training.max_seconds), GE(0)},
    {KEY("training.log_every_steps", K_LONG, training.log_every_steps), GE(0)},
    {KEY("training.eval_every_epochs", K_LONG, training.eval_every_epochs), GE(0)},
    {KEY("training.patience", K_LONG, training.patience), GE(0)},
    {KEY("training.accumulate", K_LONG, training.accumulate), IN(1, 1 << 20)},
    SECTION("checkpoint"),
    {KEY("checkpoint.every_steps", K_LONG, checkpoint.every_steps), GE(0)},
    {KEY("checkpoint.every_epochs", K_LONG, checkpoint.every_epochs), GE(0)},
    {KEY("checkpoint.every_seconds", K_DOUBLE, checkpoint.every_seconds), GE(0)},
    {KEY("checkpoint.keep", K_LONG, checkpoint.keep), GE(1)},
    {KEY("checkpoint.keep_every_epochs", K_LONG, checkpoint.keep_every_epochs), GE(0)},
    SECTION("rng"),
    {KEY("rng.dropout_stream", K_ENUM, rng.dropout_stream), .names = stream_names},
    SECTION("dist"),
    {KEY("dist.bucket_mb", K_DOUBLE, dist.bucket_mb), GT(0)},
    {KEY("dist.overlap", K_ENUM, dist.overlap), .names = overlap_names},
    {KEY("dist.compress", K_ENUM, dist.compress), .names = compress_names},
    {KEY("dist.hierarchical", K_BOOL, dist.hierarchical)},
    SECTION("run"),
    {KEY("run.out", K_PATH, run.out)},
    {.path = "run.seed", .kind = K_U64, .off = OFF(run.seed)},
    {KEY("run.blas_threads", K_INT, run.blas_threads), IN(1, 4096)},
    {KEY("run.timeline", K_PATH, run.timeline)},
    {KEY("run.timeline_steps", K_LONG, run.timeline_steps), IN(1, 100000)},
    {KEY("run.blas_core", K_PATH, run.blas_core)},
};
#define RD_NKEYS (sizeof rd_keys / sizeof rd_keys[0])

#define LKEY(p, k, f) .path = (p), .kind = (k), .off = offsetof(rd_layer_spec, f)
#define DENSE (1u << RD_LAYER_DENSE)
#define DROPOUT (1u << RD_LAYER_DROPOUT)
#define CONV (1u << RD_LAYER_CONV2D)
#define POOL (1u << RD_LAYER_MAX_POOL)

static const rd_key rd_layer_keys[] = {
    {LKEY("type", K_LAYER_TYPE, kind), .names = layer_type_names, .layers = DENSE | DROPOUT | CONV | POOL},
    {LKEY("units", K_INT, units), IN(1, 1 << 20), .layers = DENSE},
    {LKEY("filters", K_INT, filters), IN(1, 1 << 16), .layers = CONV},
    {LKEY("size", K_PAIR, size), IN(1, 1 << 12), .layers = CONV | POOL},
    {LKEY("stride", K_PAIR, stride), IN(1, 1 << 12), .layers = CONV | POOL},
    {LKEY("padding", K_ENUM, padding), .names = padding_names, .layers = CONV},
    {LKEY("activation", K_ENUM, activation), .names = act_names, .layers = DENSE | CONV},
    {LKEY("max_norm", K_DOUBLE, max_norm), GE(0), .layers = DENSE | CONV},
    {LKEY("rate", K_DOUBLE, rate), IN_OPEN(0, 1), .layers = DROPOUT},
};
#define RD_NLAYER_KEYS (sizeof rd_layer_keys / sizeof rd_layer_keys[0])

static const rd_key *find_key(const char *path)
{
    for (size_t i = 0; i < RD_NKEYS; i++)
        if (strcmp(rd_keys[i].path, path) == 0) return &rd_keys[i];
    return NULL;
}

static const rd_key *find_layer_key(const char *key)
{
    for (size_t i = 0; i < RD_NLAYER_KEYS; i++)
        if (strcmp(rd_layer_keys[i].path, key) == 0) return &rd_layer_keys[i];
    return NULL;
}

/* Is `path` a direct child of section `parent` ("" = top level)? */
static bool is_child_of(const char *path, const char *parent)
{
    size_t n = strlen(parent);
    if (n == 0) return strchr(path, '.') == NULL;
    return strncmp(path, parent, n) == 0 && path[n] == '.' && !strchr(path + n + 1, '.');
}

static const char *last_segment(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static int path_depth(const char *path)
{
    int d = 0;
    for (; *path; path++) d += *path == '.';
    return d;
}

/* ------------------------------------------------------------------ defaults */

static void set_dense(rd_layer_spec *l, int units, rd_activation act, double max_norm)
{
    l->kind = RD_LAYER_DENSE;
    l->units = units;
    l->activation = act;
    l->max_norm = max_norm;
}

static void set_dropout(rd_layer_spec *l, double rate)
{
    l->kind = RD_LAYER_DROPOUT;
    l->rate = rate;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    memset(dst, 0, cap); /* zero tail: configs compare with memcmp */
    size_t n = strlen(src);
    memcpy(dst, src, n < cap ? n : cap - 1);
}

void rd_config_defaults(rd_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.init = RD_INIT_HE_UNIFORM;
    rd_layer_spec *l = c->model.layers;
    set_dropout(&l[0], 0.2);
    set_dense(&l[1], 1024, RD_ACT_RELU, 3.0);
    set_dropout(&l[2], 0.5);
    set_dense(&l[3], 1024, RD_ACT_RELU, 3.0);
    set_dropout(&l[4], 0.5);
    set_dense(&l[5], 10, RD_ACT_LINEAR, 0.0);
    c->model.n_layers = 6;

    c->rdrop.passes = 2;
    c->rdrop.alpha = 1.0;
    c->rdrop.reduction = RD_REDUCE_MEAN;
    c->rdrop.kl_reduction = RD_REDUCE_MEAN;
    c->rdrop.alpha_rampup_epochs = 0.0;

    c->optimizer.lr = 0.05;
    c->optimizer.momentum = 0.9;
    c->optimizer.nesterov = false;
    c->optimizer.weight_decay = 0.0;
    c->optimizer.decay_biases = false;

    c->schedule.kind = RD_SCHED_CONSTANT;
    c->schedule.gamma = 0.1;
    c->schedule.scale_lr_linear = false;
    c->schedule.base_batch = 128;

    c->data.format = RD_DATA_IDX;
    c->data.batch_size = 128;
    c->data.shuffle = true;
    c->data.drop_last = true;
    copy_str(c->data.images, RD_PATH_MAX, "/X");
    copy_str(c->data.labels, RD_PATH_MAX, "/y");
    c->data.synthetic.train = 2048;
    c->data.synthetic.test = 512;
    c->data.synthetic.features = 32;
    c->data.synthetic.classes = 4;

    c->training.epochs = 20;
    c->training.eval_every_epochs = 1;

    c->checkpoint.every_epochs = 1;
    c->checkpoint.keep = 3;

    c->rng.dropout_stream = RD_STREAM_RANK;
    c->dist.bucket_mb = 4.0;
    c->dist.overlap = RD_OVERLAP_AUTO;
    c->dist.compress = 0;   /* RD_COMPRESS_NONE (half.h) */
    c->training.accumulate = 1;
    c->run.timeline_steps = 10;

    copy_str(c->run.out, sizeof c->run.out, "runs/rdrop"); /* the loader uses the file stem */
    c->run.seed = 0;
    c->run.blas_threads = 1;
    copy_str(c->run.blas_core, RD_PATH_MAX, "auto");
}

/* As rd_fmt_double, but always a YAML 1.1 float (PyYAML needs a '.' in the mantissa). */
static void fmt_yaml_double(char *buf, size_t cap, double v)
{
    char t[40];
    rd_fmt_double(t, sizeof t, v);
    if (strchr(t, '.') || !isfinite(v)) {
        snprintf(buf, cap, "%s", t);
        return;
    }
    char *e = strchr(t, 'e');
    if (e) snprintf(buf, cap, "%.*s.0%s", (int)(e - t), t, e);
    else snprintf(buf, cap, "%s.0", t);
}

static int one_line(int rc, rd_error *e);

/* ------------------------------------------------------------------ error context */

typedef struct {
    char path[64];
    int line, col;         /* 1-based, file origin */
    const char *set_arg;   /* non-NULL: given by this --set */
} rd_loc;

typedef struct {
    rd_config *c;
    const char *name;      /* file or display name */
    const char *set_arg;   /* the --set being applied, else NULL */
    const char *set_path;  /* its key path */
    rd_loc *locs;
    size_t nlocs, caplocs;
    rd_error *e;
} rd_ctx;

static void record_loc(rd_ctx *x, const char *path, const yaml_node_t *n)
{
    if (x->nlocs == x->caplocs) {
        size_t cap = x->caplocs ? 2 * x->caplocs : 64;
        rd_loc *p = rd_malloc(cap * sizeof *p);
        if (x->nlocs) memcpy(p, x->locs, x->nlocs * sizeof *p);
        free(x->locs);
        x->locs = p;
        x->caplocs = cap;
    }
    rd_loc *l = &x->locs[x->nlocs++];
    copy_str(l->path, sizeof l->path, path);
    l->set_arg = x->set_arg;
    l->line = n && !x->set_arg ? (int)n->start_mark.line + 1 : 0;
    l->col = n && !x->set_arg ? (int)n->start_mark.column + 1 : 0;
}

/* Forget where entries under `prefix` came from (their list was replaced). */
static void forget_locs(rd_ctx *x, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < x->nlocs; i++)
        if (strncmp(x->locs[i].path, prefix, n) == 0) x->locs[i].path[0] = '\0';
}

static const rd_loc *find_loc(const rd_ctx *x, const char *path)
{
    for (size_t i = x->nlocs; i-- > 0;)
        if (strcmp(x->locs[i].path, path) == 0) return &x->locs[i];
    return NULL;
}

/* Format "WHERE: path: what". WHERE is the --set argument, FILE:LINE:COL of `n` or `loc`,
 * or just FILE. The path is left out when it is exactly the --set's own path. */
static int fail_v(rd_ctx *x, const yaml_node_t *n, const rd_loc *loc, const char *path,
                  const char *fmt, va_list ap)
{
    char what[768], where[512];
    vsnprintf(what, sizeof what, fmt, ap);
    const char *set_arg = loc ? loc->set_arg : x->set_arg;
    int line = 0, col = 0;
    if (loc) {
        line = loc->line;
        col = loc->col;
    } else if (n) {
        line = (int)n->start_mark.line + 1;
        col = (int)n->start_mark.column + 1;
    }
    if (set_arg) snprintf(where, sizeof where, "--set %s", set_arg);
    else if (line > 0) snprintf(where, sizeof where, "%s:%d:%d", x->name, line, col);
    else snprintf(where, sizeof where, "%s", x->name);
    bool own_path = !loc && x->set_path && path && strcmp(path, x->set_path) == 0;
    char msg[2048]; /* rd_fail cuts it to rd_error.msg */
    if (path && *path && !own_path) snprintf(msg, sizeof msg, "%s: %s: %s", where, path, what);
    else snprintf(msg, sizeof msg, "%s: %s", where, what);
    for (char *c = msg; *c; c++) /* one line, even for quoted keys or values holding newlines */
        if ((unsigned char)*c < 0x20) *c = ' ';
    return rd_fail(x->e, RD_EXIT_CONFIG, "%s", msg);
}

static int fail_at(rd_ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(rd_ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(x, n, NULL, path, fmt, ap);
    va_end(ap);
    return rc;
}

/* A semantic error about `path`: point where `path` was given, else where `alt` was given
 * (may be NULL), else at the file as a whole. */
static int fail_key(rd_ctx *x, const char *path, const char *alt, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_key(rd_ctx *x, const char *path, const char *alt, const char *fmt, ...)
{
    const rd_loc *loc = find_loc(x, path);
    if (!loc && alt) loc = find_loc(x, alt);
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(x, NULL, loc, path, fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------------ unknown keys */

static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* "unknown key; did you mean 'lr'?" or "unknown key; optimizer keys are: lr, ..." */
static int fail_unknown(rd_ctx *x, const yaml_node_t *n, const char *path, const char *key,
                        const char *const *cands, int ncand, const char *what_keys)
{
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < ncand; i++) {
        int d = edit_distance(key, cands[i]);
        if (d < bestd && d < (int)strlen(key)) {
            best = cands[i];
            bestd = d;
        }
    }
    if (best) return fail_at(x, n, path, "unknown key; did you mean '%s'?", best);
    char list[512] = "";
    for (int i = 0; i < ncand; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", cands[i]);
    }
    return fail_at(x, n, path, "unknown key; %s keys are: %s", what_keys, list);
}

static int fail_unknown_in_section(rd_ctx *x, const yaml_node_t *n, const char *section,
                                   const char *key)
{
    const char *cands[RD_NKEYS];
    int nc = 0;
    for (size_t i = 0; i < RD_NKEYS; i++)
        if (is_child_of(rd_keys[i].path, section)) cands[nc++] = last_segment(rd_keys[i].path);
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", section, *section ? "." : "", key);
    return fail_unknown(x, n, path, key, cands, nc, *section ? section : "top-level");
}

static int fail_unknown_in_layer(rd_ctx *x, const yaml_node_t *n, const char *layer_path,
                                 const char *key, rd_layer_kind kind)
{
    const char *cands[RD_NLAYER_KEYS];
    int nc = 0;
    char list[128] = "";
    for (size_t i = 0; i < RD_NLAYER_KEYS; i++) {
        if (!(rd_layer_keys[i].layers & (1u << kind))) continue;
        cands[nc] = rd_layer_keys[i].path;
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", nc ? ", " : "", cands[nc]);
        nc++;
    }
    char path[256], what[32];
    snprintf(path, sizeof path, "%s.%s", layer_path, key);
    snprintf(what, sizeof what, "%s layer", layer_type_names[kind]);
    if (find_layer_key(key)) /* a key of the other layer type: say so rather than guess a spelling */
        return fail_at(x, n, path, "not a key of a %s; %s keys are: %s", what, what, list);
    return fail_unknown(x, n, path, key, cands, nc, what);
}

/* ------------------------------------------------------------------ scalars */

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Quoted and block (| >) scalars are strings in YAML, never numbers or booleans. */
static bool is_quoted(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}

/* How a node reads in "got ..." messages. */
static void describe(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_MAPPING_NODE) snprintf(buf, cap, "a mapping");
    else if (n->type == YAML_SEQUENCE_NODE) snprintf(buf, cap, "a list");
    else if (is_null(n)) snprintf(buf, cap, "an empty value");
    else {
        const char *s = scalar_text(n);
        int len = (int)strlen(s), shown = len > 60 ? 57 : len;
        snprintf(buf, cap, "%s'%.*s%s'", is_quoted(n) ? "the string " : "", shown, s,
                 len > shown ? "..." : "");
    }
}

static const char *kind_noun(const rd_key *k)
{
    switch (k->kind) {
    case K_INT: case K_LONG: case K_U64: return "an integer";
    case K_DOUBLE: return "a number";
    case K_BOOL: return "true or false";
    case K_PATH: return "a string";
    default: return "a value";
    }
}

/* "expected WHAT, got 'x'" */
static int fail_got(rd_ctx *x, const yaml_node_t *n, const char *path, const char *what)
{
    char got[128];
    describe(n, got, sizeof got);
    return fail_at(x, n, path, "expected %s, got %s", what, got);
}

/* A non-null plain scalar is required for numbers and booleans. */
static int need_plain(rd_ctx *x, const rd_key *k, const char *path, const yaml_node_t *n)
{
    if (n->type == YAML_SCALAR_NODE && !is_quoted(n) && !is_null(n)) return 0;
    return fail_got(x, n, path, kind_noun(k));
}

/* 0 ok, 1 not an integer, 2 out of range. Decimal only: no floats, no trailing garbage. */
static int parse_ll(const char *s, long long *v)
{
    const char *q = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*q)) return 1;
    for (; *q; q++)
        if (!isdigit((unsigned char)*q)) return 1;
    errno = 0;
    *v = strtoll(s, NULL, 10);
    return errno == ERANGE ? 2 : 0;
}

/* 0 ok, 1 not a number, 2 not finite. YAML float forms: 1e-3, .5, 3, 1.0e+20. */
static int parse_double(const char *s, double *v)
{
    const char *q = s + (*s == '+' || *s == '-');
    char low[8] = "";
    for (int i = 0; i < 7 && q[i]; i++) low[i] = (char)tolower((unsigned char)q[i]);
    if (!strcmp(low, ".inf") || !strcmp(low, ".nan") || !strcmp(low, "inf") ||
        !strcmp(low, "nan") || !strncmp(low, "infinit", 7))
        return 2;
    size_t digits = 0;
    while (isdigit((unsigned char)*q)) q++, digits++;
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q)) q++, digits++;
    }
    if (!digits) return 1;
    if (*q == 'e' || *q == 'E') {
        q++;
        q += *q == '+' || *q == '-';
        if (!isdigit((unsigned char)*q)) return 1;
        while (isdigit((unsigned char)*q)) q++;
    }
    if (*q) return 1;
    *v = strtod(s, NULL);
    return isfinite(*v) ? 0 : 2;
}

static bool in_range(const rd_key *k, double v)
{
    if (k->lo_open ? !(v > k->lo) : !(v >= k->lo)) return false;
    if (isfinite(k->hi) && (k->hi_open ? !(v < k->hi) : !(v <= k->hi))) return false;
    return true;
}

static void range_text(const rd_key *k, char *buf, size_t cap)
{
    char lo[40], hi[40];
    rd_fmt_double(lo, sizeof lo, k->lo);
    rd_fmt_double(hi, sizeof hi, k->hi);
    bool integer = k->kind == K_INT || k->kind == K_LONG;
    if (!isfinite(k->hi)) snprintf(buf, cap, "must be %s %s", k->lo_open ? ">" : ">=", lo);
    else if (integer && k->hi - k->lo == 1) snprintf(buf, cap, "must be %s or %s", lo, hi);
    else if (integer) snprintf(buf, cap, "must be between %s and %s", lo, hi);
    else snprintf(buf, cap, "must be in %c%s, %s%c", k->lo_open ? '(' : '[', lo, hi,
                  k->hi_open ? ')' : ']');
}

static int check_range(rd_ctx *x, const rd_key *k, const char *path, const yaml_node_t *n,
                       double v, const char *text)
{
    if (in_range(k, v)) return 0;
    char rule[160];
    range_text(k, rule, sizeof rule);
    return fail_at(x, n, path, "%s, got %s", rule, text);
}

static int set_integer(rd_ctx *x, const rd_key *k, const char *path, const yaml_node_t *n, void *p)
{
    const char *s = scalar_text(n);
    long long v;
    int bad = parse_ll(s, &v);
    if (bad == 1) return fail_got(x, n, path, "an integer");
    if (bad == 2) return fail_at(x, n, path, "integer out of range, got '%s'", s);
    int rc = check_range(x, k, path, n, (double)v, s);
    if (rc) return rc;
    if (k->kind == K_INT) *(int *)p = (int)v;
    else *(long *)p = (long)v;
    return 0;
}

static int set_u64(rd_ctx *x, const char *path, const yaml_node_t *n, uint64_t *p)
{
    const char *s = scalar_text(n);
    long long neg;
    if (s[0] == '-' && parse_ll(s, &neg) != 1)
        return fail_at(x, n, path, "must be >= 0, got %s", s);
    const char *q = s + (*s == '+');
    if (!isdigit((unsigned char)*q) || q[strspn(q, "0123456789")]) return fail_got(x, n, path, "an integer");
    errno = 0;
    unsigned long long v = strtoull(q, NULL, 10);
    if (errno == ERANGE)
        return fail_at(x, n, path, "must be between 0 and %" PRIu64 ", got %s", UINT64_MAX, s);
    *p = (uint64_t)v;
    return 0;
}

static int set_double(rd_ctx *x, const rd_key *k, const char *path, const yaml_node_t *n, double *p)
{
    const char *s = scalar_text(n);
    double v = 0;
    int bad = parse_double(s, &v);
    if (bad == 1) return fail_got(x, n, path, "a number");
    if (bad == 2) return fail_got(x, n, path, "a finite number");
    int rc = check_range(x, k, path, n, v, s);
    if (rc) return rc;
    *p = v;
    return 0;
}

static int set_bool(rd_ctx *x, const char *path, const yaml_node_t *n, bool *p)
{
    const char *s = scalar_text(n);
    if (!strcmp(s, "true")) *p = true;
    else if (!strcmp(s, "false")) *p = false;
    else return fail_got(x, n, path, "true or false");
    return 0;
}

static void join_names(const char *const *names, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; names[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
    }
}

static int set_enum(rd_ctx *x, const rd_key *k, const char *path, const yaml_node_t *n, void *p)
{
    int v = n->type == YAML_SCALAR_NODE && !is_null(n) ? name_index(k->names, scalar_text(n)) : -1;
    if (v < 0) {
        char list[256], got[128];
        join_names(k->names, list, sizeof list);
        describe(n, got, sizeof got);
        return fail_at(x, n, path, "expected one of: %s; got %s", list, got);
    }
    if (k->kind == K_ENUM) *(int *)p = v;
    else *(bool *)p = v == 1;
    return 0;
}

static int set_path_str(rd_ctx *x, const char *path, const yaml_node_t *n, char *dst)
{
    if (n->type != YAML_SCALAR_NODE) {
        char got[128];
        describe(n, got, sizeof got);
        return fail_at(x, n, path, "expected a string, got %s%s", got,
                       x->set_arg ? " (a value with ': ' must be quoted, e.g. "
                                    "--set 'run.out=\"a: b\"')" : "");
    }
    const char *s = is_null(n) ? "" : scalar_text(n);
    if (strlen(s) != n->data.scalar.length && !is_null(n))
        return fail_at(x, n, path, "contains a NUL character");
    if (strlen(s) >= RD_PATH_MAX)
        return fail_at(x, n, path, "path too long (%zu bytes, at most %d)", strlen(s), RD_PATH_MAX - 1);
    copy_str(dst, RD_PATH_MAX, s);
    return 0;
}

/* Parse the scalar `n` as key `k` and store it at base + k->off. */
static int set_leaf(rd_ctx *x, const rd_key *k, void *base, const char *path, const yaml_node_t *n)
{
    void *p = (char *)base + k->off;
    if (k->kind == K_PATH) return set_path_str(x, path, n, p);
    if (k->kind == K_ENUM || k->kind == K_FLAG_ENUM) return set_enum(x, k, path, n, p);
    int rc = need_plain(x, k, path, n);
    if (rc) return rc;
    switch (k->kind) {
    case K_INT: case K_LONG: return set_integer(x, k, path, n, p);
    case K_U64: return set_u64(x, path, n, p);
    case K_DOUBLE: return set_double(x, k, path, n, p);
    case K_BOOL: return set_bool(x, path, n, p);
    default: return fail_at(x, n, path, "internal error: key kind %d", (int)k->kind);
    }
}

/* ------------------------------------------------------------------ mappings and layers */

static yaml_node_t *node_at(yaml_document_t *d, int i) { return yaml_document_get_node(d, i); }

/* Keys must be scalars and unique. */
static int check_keys(rd_ctx *x, yaml_document_t *d, const char *path, const yaml_node_t *map)
{
    const yaml_node_pair_t *b = map->data.mapping.pairs.start, *t = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = b; p < t; p++) {
        const yaml_node_t *k = node_at(d, p->key);
        if (k->type != YAML_SCALAR_NODE) return fail_got(x, k, path, "a key name");
        for (const yaml_node_pair_t *q = b; q < p; q++) {
            const yaml_node_t *k0 = node_at(d, q->key);
            if (k0->type == YAML_SCALAR_NODE && !strcmp(scalar_text(k0), scalar_text(k))) {
                char full[256];
                snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", scalar_text(k));
                return fail_at(x, k, full, "duplicate key (first given at line %d)",
                               (int)k0->start_mark.line + 1);
            }
        }
    }
    return 0;
}

static int apply_value(rd_ctx *x, yaml_document_t *d, const rd_key *k, const char *path,
                       yaml_node_t *n);

static int apply_mapping(rd_ctx *x, yaml_document_t *d, const char *path, yaml_node_t *map)
{
    if (is_null(map)) return 0; /* "rng:" with everything commented out */
    if (map->type != YAML_MAPPING_NODE) return fail_got(x, map, path, "a mapping");
    int rc = check_keys(x, d, path, map);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; !rc && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(d, p->key), *vn = node_at(d, p->value);
        const char *key = scalar_text(kn);
        char child[256];
        snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", key);
        const rd_key *k = strchr(key, '.') ? NULL : find_key(child);
        if (!k) return fail_unknown_in_section(x, kn, path, key);
        record_loc(x, child, vn);
        rc = apply_value(x, d, k, child, vn);
    }
    return rc;
}

/* Set one key of an existing layer; `kn` (may be NULL) is the key node for errors. */
/* An int (both entries) or a list [h, w] of ints into p[2]. */
static int set_pair(rd_ctx *x, yaml_document_t *d, const rd_key *k, const char *path,
                    const yaml_node_t *n, int *p)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count != 2) return fail_got(x, n, path, "an integer or a list [h, w] of two integers");
        for (int i = 0; i < 2; i++) {
            const yaml_node_t *v = node_at(d, n->data.sequence.items.start[i]);
            if (v->type != YAML_SCALAR_NODE || is_quoted(v) || is_null(v))
                return fail_got(x, v, path, "an integer");
            int rc = set_integer(x, &(rd_key){.kind = K_INT, .lo = k->lo, .hi = k->hi}, path, v, p + i);
            if (rc) return rc;
        }
        return 0;
    }
    if (n->type != YAML_SCALAR_NODE || is_quoted(n) || is_null(n))
        return fail_got(x, n, path, "an integer or a list [h, w] of two integers");
    int rc = set_integer(x, &(rd_key){.kind = K_INT, .lo = k->lo, .hi = k->hi}, path, n, p);
    p[1] = p[0];
    return rc;
}

static int set_layer_key(rd_ctx *x, yaml_document_t *d, const char *lpath, rd_layer_spec *l,
                         const char *key, const yaml_node_t *kn, const yaml_node_t *vn)
{
    const rd_key *k = find_layer_key(key);
    if (!k || !(k->layers & (1u << l->kind)))
        return fail_unknown_in_layer(x, kn, lpath, key, l->kind);
    char path[256];
    snprintf(path, sizeof path, "%s.%s", lpath, key);
    if (k->kind == K_LAYER_TYPE) {
        int v = vn->type == YAML_SCALAR_NODE ? name_index(layer_type_names, scalar_text(vn)) : -1;
        if (v == (int)l->kind) return 0;
        static const char *const example[] = {"{type: dense, units: 10}", "{type: dropout, rate: 0.5}",
                                              "{type: conv2d, filters: 32, size: 3}", "{type: max_pool, size: 2}"};
        return fail_at(x, vn, path, "changing a layer's type needs the whole layer, e.g. "
                       "--set %s=%s", lpath, example[v >= 0 ? v : 0]);
    }
    record_loc(x, path, vn);
    if (k->kind == K_PAIR) return set_pair(x, d, k, path, vn, (int *)((char *)l + k->off));
    return set_leaf(x, k, l, path, vn);
}

/* The value of `key` in a mapping whose keys are all scalars, or NULL. */
static const yaml_node_t *find_value(yaml_document_t *d, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (!strcmp(scalar_text(node_at(d, p->key)), key)) return node_at(d, p->value);
    return NULL;
}

/* The layer's kind from its 'type' key, or -1 with e set. */
static int layer_type(rd_ctx *x, yaml_document_t *d, const char *path, const yaml_node_t *n)
{
    const yaml_node_t *tv = find_value(d, n, "type");
    if (!tv) {
        fail_at(x, n, path, "a layer needs 'type' (dense, dropout, conv2d or max_pool)");
        return -1;
    }
    int kind = tv->type == YAML_SCALAR_NODE ? name_index(layer_type_names, scalar_text(tv)) : -1;
    if (kind < 0) {
        char tpath[256];
        snprintf(tpath, sizeof tpath, "%s.type", path);
        fail_got(x, tv, tpath, "a layer type (one of: dense, dropout, conv2d, max_pool)");
    }
    return kind;
}

/* A whole layer {type: ..., ...} into *out (zeroed first: configs compare with memcmp). */
static int parse_layer(rd_ctx *x, yaml_document_t *d, const char *path, const yaml_node_t *n,
                       rd_layer_spec *out)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_got(x, n, path, "a layer like {type: dense, units: 10} or {type: dropout, rate: 0.5}");
    int rc = check_keys(x, d, path, n);
    if (rc) return rc;
    int kind = layer_type(x, d, path, n);
    if (kind < 0) return RD_EXIT_CONFIG;
    memset(out, 0, sizeof *out);
    out->kind = (rd_layer_kind)kind;
    out->activation = RD_ACT_LINEAR;
    out->rate = -1; /* "not given" marker; the parser never stores a negative rate */
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !rc && p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = node_at(d, p->key);
        if (strcmp(scalar_text(kn), "type"))
            rc = set_layer_key(x, d, path, out, scalar_text(kn), kn, node_at(d, p->value));
    }
    if (rc) return rc;
    if (kind == RD_LAYER_CONV2D && out->filters == 0)
        return fail_at(x, n, path, "a conv2d layer needs 'filters'");
    if ((kind == RD_LAYER_CONV2D || kind == RD_LAYER_MAX_POOL) && out->size[0] == 0)
        return fail_at(x, n, path, "a %s layer needs 'size' (an integer or [h, w])", layer_type_names[kind]);
    if (kind == RD_LAYER_CONV2D && out->stride[0] == 0) out->stride[0] = out->stride[1] = 1;
    if (kind == RD_LAYER_MAX_POOL && out->stride[0] == 0) {
        out->stride[0] = out->size[0];
        out->stride[1] = out->size[1];
    }
    if (kind == RD_LAYER_DENSE && out->units == 0)
        return fail_at(x, n, path, "a dense layer needs 'units'");
    if (kind == RD_LAYER_DROPOUT && out->rate < 0)
        return fail_at(x, n, path, "a dropout layer needs 'rate'");
    if (kind != RD_LAYER_DROPOUT) out->rate = 0;
    return 0;
}

static int apply_layers(rd_ctx *x, yaml_document_t *d, const char *path, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) return fail_got(x, n, path, "a list of layers");
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) return fail_at(x, n, path, "needs at least one layer (the last one dense)");
    if (count > RD_MAX_LAYERS)
        return fail_at(x, node_at(d, n->data.sequence.items.start[RD_MAX_LAYERS]), path,
                       "at most %d layers, got %d", RD_MAX_LAYERS, count);
    rd_layer_spec tmp[RD_MAX_LAYERS];
    memset(tmp, 0, sizeof tmp);
    forget_locs(x, "model.layers.");
    for (int i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(d, n->data.sequence.items.start[i]);
        char lpath[64];
        snprintf(lpath, sizeof lpath, "%s.%d", path, i);
        record_loc(x, lpath, item);
        int rc = parse_layer(x, d, lpath, item, &tmp[i]);
        if (rc) return rc;
    }
    memcpy(x->c->model.layers, tmp, sizeof tmp);
    x->c->model.n_layers = count;
    return 0;
}

static int apply_value(rd_ctx *x, yaml_document_t *d, const rd_key *k, const char *path,
                       yaml_node_t *n)
{
    switch (k->kind) {
    case K_SECTION: return apply_mapping(x, d, path, n);
    case K_LAYERS: return apply_layers(x, d, path, n);
    default: return set_leaf(x, k, x->c, path, n);
    }
}

/* ------------------------------------------------------------------ YAML documents */

static int syntax_error(rd_ctx *x, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    if (x->set_arg)
        return rd_fail(x->e, RD_EXIT_CONFIG, "--set %s: the value is not valid YAML: %s",
                       x->set_arg, problem);
    if (p->error == YAML_READER_ERROR)
        return rd_fail(x->e, RD_EXIT_CONFIG, "%s: invalid YAML input at byte %zu: %s", x->name,
                       p->problem_offset, problem);
    if (p->context)
        return rd_fail(x->e, RD_EXIT_CONFIG, "%s:%d:%d: YAML syntax error: %s (%s that starts at line %d)",
                       x->name, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                       problem, p->context, (int)p->context_mark.line + 1);
    return rd_fail(x->e, RD_EXIT_CONFIG, "%s:%d:%d: YAML syntax error: %s", x->name,
                   (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, problem);
}

/* Load exactly one document from text into *d (deleted by the caller when 0 is returned). */
static int load_document(rd_ctx *x, const char *text, size_t len, yaml_document_t *d)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return rd_fail(x->e, RD_EXIT_INTERNAL, "libyaml: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&p, d)) {
        rc = syntax_error(x, &p);
    } else if (yaml_document_get_root_node(d)) {
        yaml_document_t extra;
        if (!yaml_parser_load(&p, &extra)) {
            rc = syntax_error(x, &p);
        } else {
            yaml_node_t *root2 = yaml_document_get_root_node(&extra);
            if (root2)
                rc = fail_at(x, root2, NULL, "a second YAML document; the config must be one document");
            yaml_document_delete(&extra);
        }
        if (rc) yaml_document_delete(d);
    }
    yaml_parser_delete(&p);
    return rc;
}

static int apply_file_text(rd_ctx *x, const char *text, size_t len)
{
    yaml_document_t d;
    int rc = load_document(x, text, len, &d);
    if (rc) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root) {
        rc = rd_fail(x->e, RD_EXIT_CONFIG, "%s: the config is empty; expected a mapping with "
                     "sections such as model, data, optimizer", x->name);
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = fail_got(x, root, NULL, "a mapping of sections (model, rdrop, optimizer, schedule, data, "
                      "training, checkpoint, rng, dist, run) at the top level");
    } else {
        rc = apply_mapping(x, &d, "", root);
    }
    yaml_document_delete(&d);
    return rc;
}

/* ------------------------------------------------------------------ --set */

/* "model.layers.N[.key]": N must index an existing layer. */
static int apply_layer_path(rd_ctx *x, yaml_document_t *d, const char *path, yaml_node_t *n)
{
    const char *rest = path + strlen("model.layers.");
    size_t nd = strspn(rest, "0123456789");
    char lpath[64];
    if (nd == 0 || nd > 6 || (rest[nd] && rest[nd] != '.'))
        return fail_at(x, NULL, path, "expected a 0-based layer index after model.layers, "
                       "e.g. model.layers.1.units");
    int idx = atoi(rest);
    int nl = x->c->model.n_layers;
    snprintf(lpath, sizeof lpath, "model.layers.%d", idx);
    if (idx >= nl)
        return fail_at(x, NULL, lpath, "index %d is past the end of model.layers (%d layers: 0..%d)",
                       idx, nl, nl - 1);
    rd_layer_spec *l = &x->c->model.layers[idx];
    if (!rest[nd]) {
        rd_layer_spec tmp;
        char prefix[72];
        snprintf(prefix, sizeof prefix, "%s.", lpath);
        forget_locs(x, prefix);
        record_loc(x, lpath, n);
        int rc = parse_layer(x, d, lpath, n, &tmp);
        if (!rc) *l = tmp;
        return rc;
    }
    const char *key = rest + nd + 1;
    if (strchr(key, '.')) return fail_at(x, NULL, path, "no such key: layer keys have no sub-keys");
    return set_layer_key(x, d, lpath, l, key, NULL, n);
}

/* Walk "a.b.c" through the table and apply n there. */
static int apply_path(rd_ctx *x, yaml_document_t *d, const char *path, yaml_node_t *n)
{
    const rd_key *k = find_key(path);
    if (k) {
        record_loc(x, path, n);
        return apply_value(x, d, k, path, n);
    }
    if (!strncmp(path, "model.layers.", 13)) return apply_layer_path(x, d, path, n);
    const char *prefix = ""; /* the deepest known section so far (a table path) */
    const char *seg = path;
    while (*seg) {
        size_t len = strcspn(seg, ".");
        char key[128], cand[256];
        snprintf(key, sizeof key, "%.*s", (int)(len < 127 ? len : 127), seg);
        snprintf(cand, sizeof cand, "%s%s%s", prefix, *prefix ? "." : "", key);
        const rd_key *ck = find_key(cand);
        if (!ck || !*key) return fail_unknown_in_section(x, NULL, prefix, key);
        if (ck->kind != K_SECTION)
            return fail_at(x, NULL, path, "%s is a single value and has no sub-keys", cand);
        prefix = ck->path;
        seg += len + (seg[len] == '.');
    }
    return fail_at(x, NULL, path, "no such key");
}

static int apply_set_value(rd_ctx *x, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return fail_at(x, NULL, NULL, "expected key.path=VALUE, e.g. --set optimizer.lr=0.1");
    char path[256];
    if ((size_t)(eq - arg) >= sizeof path) return fail_at(x, NULL, NULL, "key path too long");
    snprintf(path, sizeof path, "%.*s", (int)(eq - arg), arg);
    x->set_path = path;
    const char *value = eq + 1;
    yaml_document_t d;
    int rc = load_document(x, value, strlen(value), &d);
    if (rc) return rc;
    if (!yaml_document_get_root_node(&d)) { /* empty VALUE: an empty plain scalar */
        yaml_document_delete(&d);
        rc = load_document(x, "~", 1, &d);
        if (rc) return rc;
    }
    rc = apply_path(x, &d, path, yaml_document_get_root_node(&d));
    yaml_document_delete(&d);
    return rc;
}

/* Errors and recorded locations name the --set argument while it is applied. */
static int apply_set(rd_ctx *x, const char *arg)
{
    x->set_arg = arg;
    int rc = apply_set_value(x, arg);
    x->set_arg = NULL;
    x->set_path = NULL;
    return rc;
}

/* ------------------------------------------------------------------ validation */

static double read_number(const rd_key *k, const void *base)
{
    const char *p = (const char *)base + k->off;
    if (k->kind == K_INT) return *(const int *)p;
    if (k->kind == K_LONG) return (double)*(const long *)p;
    return *(const double *)p;
}

static int check_field(rd_ctx *x, const rd_key *k, const void *base, const char *path)
{
    const char *p = (const char *)base + k->off;
    if (k->kind == K_ENUM) {
        int v = *(const int *)p;
        if (v < 0 || v >= name_count(k->names))
            return fail_key(x, path, NULL, "invalid value %d", v);
        return 0;
    }
    if (k->kind == K_PAIR) {
        const int *v = (const int *)p;
        for (int i = 0; i < 2; i++)
            if (!in_range(k, v[i]))
                return fail_key(x, path, NULL, "must be between %g and %g, got %d", k->lo, k->hi, v[i]);
        return 0;
    }
    if (k->kind != K_INT && k->kind != K_LONG && k->kind != K_DOUBLE) return 0;
    double v = read_number(k, base);
    if (!isfinite(v)) return fail_key(x, path, NULL, "must be a finite number");
    if (in_range(k, v)) return 0;
    char rule[160], got[40];
    range_text(k, rule, sizeof rule);
    if (k->kind == K_LONG) snprintf(got, sizeof got, "%ld", *(const long *)p);
    else rd_fmt_double(got, sizeof got, v);
    return fail_key(x, path, NULL, "%s, got %s", rule, got);
}

/* Size limits, checked before anything is allocated (a config asking for more is an error,
 * not an out-of-memory abort): the parameter count (params, gradients and momentum are one
 * float buffer each) and the synthetic data set's bytes (the IDX reader's limit). */
#define RD_MAX_PARAMS (1ull << 31)
#define RD_MAX_DATA_BYTES (1ull << 33)
/* The most samples an IDX file may hold; also keeps passes x batch within an int. */
#define RD_MAX_BATCH (1l << 28)

/* One spatial dimension of a conv2d or max_pool output (docs/conv.md): valid: floor((in-k)/s)+1,
 * 0 when the window is larger than the input; same: ceil(in/s). */
static long conv_out(long in, long k, long s, rd_padding pad)
{
    if (pad == RD_PAD_SAME) return (in + s - 1) / s;
    return in < k ? 0 : (in - k) / s + 1;
}

static double phys_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : INFINITY;
}

/* The output shape of every layer on [H, W, C] samples; returns the first bad layer (why
 * says what is wrong) or -1. rows > 0: each conv2d's im2col buffer of rows samples must fit
 * in physical memory. */
static int walk_shapes(const rd_config *c, long H, long W, long C, long rows, int (*shapes)[3],
                       char *why, size_t cap)
{
    uint64_t params = 0;
    bool has_conv = false;
    for (int i = 0; i < c->model.n_layers && i < RD_MAX_LAYERS; i++) has_conv |= c->model.layers[i].kind == RD_LAYER_CONV2D;
    for (int i = 0; i < c->model.n_layers && i < RD_MAX_LAYERS; i++) {
        const rd_layer_spec *l = &c->model.layers[i];
        const char *type = layer_type_names[l->kind];
        if (l->kind == RD_LAYER_DENSE) {
            params += (uint64_t)(H * W * C) * (uint64_t)l->units + (uint64_t)l->units;
            H = W = 1;
            C = l->units;
        } else if (l->kind == RD_LAYER_CONV2D || l->kind == RD_LAYER_MAX_POOL) {
            const long kh = l->size[0], kw = l->size[1];
            const rd_padding pad = l->kind == RD_LAYER_CONV2D ? l->padding : RD_PAD_VALID;
            long oh = conv_out(H, kh, l->stride[0], pad), ow = conv_out(W, kw, l->stride[1], pad);
            if (oh < 1 || ow < 1) {   /* valid padding with the window larger than the input */
                snprintf(why, cap, "%s window %ldx%ld does not fit its input %ldx%ld (padding valid): "
                         "output size %ldx%ld", type, kh, kw, H, W, oh, ow);
                return i;
            }
            if (l->kind == RD_LAYER_CONV2D && rows > 0) {
                /* the im2col scratch holds rd_conv_chunk samples: ~RD_CONV_CHUNK_FLOATS, at least one */
                const double per = (double)(oh * ow) * (double)(kh * kw * C);
                double n = per >= RD_CONV_CHUNK_FLOATS ? 1.0 : floor(RD_CONV_CHUNK_FLOATS / per);
                if (n > rows) n = (double)rows;
                const double need = n * per * sizeof(float), have = phys_bytes();
                if (need > have) {
                    snprintf(why, cap, "the conv2d im2col buffer needs %.3g GiB (%.0f sample(s) x %ldx%ld "
                             "outputs x %ld patch values x 4 bytes), more than this machine's memory "
                             "(%.3g GiB); use a smaller window or input", need / 1073741824.0, n, oh, ow,
                             kh * kw * C, have / 1073741824.0);
                    return i;
                }
            }
            H = oh;
            W = ow;
            if (l->kind == RD_LAYER_CONV2D) {
                params += (uint64_t)(kh * kw * C) * (uint64_t)l->filters + (uint64_t)l->filters;
                C = l->filters;
            }
        }
        if (params > RD_MAX_PARAMS && has_conv) {   /* MLPs: params_over_limit says it per units key */
            snprintf(why, cap, "the model would have %llu parameters up to this layer, more than the limit of "
                     "%llu (2^31)", (unsigned long long)params, (unsigned long long)RD_MAX_PARAMS);
            return i;
        }
        if (H * W * C > (1l << 28)) {
            snprintf(why, cap, "%s output [%ld, %ld, %ld] has more than 2^28 values per sample", type, H, W, C);
            return i;
        }
        if (shapes) {
            shapes[i][0] = (int)H;
            shapes[i][1] = (int)W;
            shapes[i][2] = (int)C;
        }
    }
    return -1;
}

static int validate_layers(rd_ctx *x, const rd_config *c)
{
    int n = c->model.n_layers;
    if (n < 1 || n > RD_MAX_LAYERS)
        return fail_key(x, "model.layers", NULL, "must hold 1 to %d layers, got %d", RD_MAX_LAYERS, n);
    int dense = 0;
    for (int i = 0; i < n; i++) {
        const rd_layer_spec *l = &c->model.layers[i];
        char lpath[64], path[96];
        snprintf(lpath, sizeof lpath, "model.layers.%d", i);
        if (l->kind < RD_LAYER_DENSE || l->kind > RD_LAYER_MAX_POOL)
            return fail_key(x, lpath, NULL, "invalid layer kind %d", (int)l->kind);
        if (dense && (l->kind == RD_LAYER_CONV2D || l->kind == RD_LAYER_MAX_POOL))
            return fail_key(x, lpath, NULL, "a %s layer cannot follow a dense layer (its output has no "
                            "[H, W, C] shape); put conv2d and max_pool layers before the dense ones",
                            layer_type_names[l->kind]);
        dense += l->kind == RD_LAYER_DENSE;
        for (size_t j = 0; j < RD_NLAYER_KEYS; j++) {
            const rd_key *k = &rd_layer_keys[j];
            if (k->kind == K_LAYER_TYPE || !(k->layers & (1u << l->kind))) continue;
            snprintf(path, sizeof path, "%s.%s", lpath, k->path);
            int rc = check_field(x, k, l, path);
            if (rc) return rc;
        }
    }
    if (c->data.format == RD_DATA_SYNTHETIC) { /* the input shape [1, 1, features] is known now */
        char why[256];
        /* data.batch_size is bounded only later (validate_sizes); here it must not overflow */
        const long batch = c->data.batch_size < RD_MAX_BATCH ? c->data.batch_size : RD_MAX_BATCH;
        int bad = walk_shapes(c, 1, 1, (int)c->data.synthetic.features, (long)c->rdrop.passes * batch, NULL, why,
                              sizeof why);
        if (bad >= 0) {
            char lpath[64];
            snprintf(lpath, sizeof lpath, "model.layers.%d", bad);
            return fail_key(x, lpath, "model.layers", "%s (data.format synthetic: samples are [1, 1, %ld])",
                            why, c->data.synthetic.features);
        }
    }
    if (!dense)
        return fail_key(x, "model.layers", NULL,
                        "needs at least one dense layer (the last layer gives the logits)");
    if (c->model.layers[n - 1].kind != RD_LAYER_DENSE) {
        char lpath[64];
        snprintf(lpath, sizeof lpath, "model.layers.%d", n - 1);
        return fail_key(x, lpath, "model.layers",
                        "the last layer must be dense (it gives the logits), got a dropout layer");
    }
    return 0;
}


/* The first dense layer at which the parameter count passes RD_MAX_PARAMS, or -1. The input
 * width is `input_dim` (0 = not known yet: counted as 1, a lower bound). *count receives the
 * total (or the partial sum that passed the limit). Layer widths are <= 2^20 and there are at
 * most RD_MAX_LAYERS layers, so nothing here can overflow 64 bits. */
static int params_over_limit(const rd_config *c, uint64_t input_dim, uint64_t *count)
{
    uint64_t width = input_dim ? input_dim : 1, total = 0;
    for (int i = 0; i < c->model.n_layers && i < RD_MAX_LAYERS; i++) {
        const rd_layer_spec *l = &c->model.layers[i];
        if (l->kind == RD_LAYER_CONV2D) { /* a lower bound: the spatial size is not known here */
            total += (uint64_t)l->size[0] * (uint64_t)l->size[1] * width * (uint64_t)l->filters + (uint64_t)l->filters;
            width = (uint64_t)l->filters;
        }
        if (l->kind != RD_LAYER_DENSE) continue;
        uint64_t units = l->units > 0 ? (uint64_t)l->units : 0;
        total += width * units + units;
        width = units;
        if (total > RD_MAX_PARAMS) {
            *count = total;
            return i;
        }
    }
    *count = total;
    return -1;
}

static int validate_sizes(rd_ctx *x, const rd_config *c)
{
    if (c->data.batch_size > RD_MAX_BATCH)
        return fail_key(x, "data.batch_size", NULL, "must be at most %ld (2^28), got %ld", RD_MAX_BATCH,
                        c->data.batch_size);
    if ((int64_t)c->rdrop.passes * c->data.batch_size > INT32_MAX)
        return fail_key(x, "rdrop.passes", NULL, "%d passes of data.batch_size %ld are %lld rows, more than "
                        "2^31-1", c->rdrop.passes, c->data.batch_size, (long long)c->rdrop.passes * c->data.batch_size);
    uint64_t input = c->data.format == RD_DATA_SYNTHETIC ? (uint64_t)c->data.synthetic.features : 0, count = 0;
    int i = params_over_limit(c, input, &count);
    if (i >= 0) {
        char lpath[64];
        snprintf(lpath, sizeof lpath, "model.layers.%d.units", i);
        return fail_key(x, lpath, "model.layers",
                        "the model would have %llu parameters up to this layer%s, more than the "
                        "limit of %llu (2^31); use fewer or narrower dense layers",
                        (unsigned long long)count, input ? "" : " (counting one input)",
                        (unsigned long long)RD_MAX_PARAMS);
    }
    if (c->data.format == RD_DATA_SYNTHETIC) {
        const char *keys[] = {"data.synthetic.train", "data.synthetic.test"};
        const long n[] = {c->data.synthetic.train, c->data.synthetic.test};
        for (int k = 0; k < 2; k++) {
            uint64_t bytes = (uint64_t)n[k] * (uint64_t)c->data.synthetic.features;
            if (bytes > RD_MAX_DATA_BYTES)
                return fail_key(x, keys[k], "data.synthetic.features",
                                "%ld samples x %ld features = %llu bytes, more than the limit of "
                                "%llu (2^33)", n[k], c->data.synthetic.features,
                                (unsigned long long)bytes, (unsigned long long)RD_MAX_DATA_BYTES);
        }
    }
    return 0;
}

int rd_config_check_shapes(const rd_config *c, int H, int W, int C, long rows, const char *name,
                           int (*shapes)[3], rd_error *e)
{
    char why[320];
    int bad = walk_shapes(c, H, W, C, rows, shapes, why, sizeof why);
    if (bad < 0) return 0;
    return one_line(rd_fail(e, RD_EXIT_CONFIG, "%s: model.layers.%d: %s (input samples are [%d, %d, %d])",
                            name ? name : "config", bad, why, H, W, C), e);
}

int rd_config_check_model_size(const rd_config *c, long input_dim, const char *name, rd_error *e)
{
    uint64_t count = 0;
    int i = input_dim > 0 ? params_over_limit(c, (uint64_t)input_dim, &count) : -1;
    if (i < 0) return 0;
    return one_line(rd_fail(e, RD_EXIT_CONFIG,
                            "%s: model.layers.%d.units: with %ld inputs per sample the model would have "
                            "%llu parameters up to this layer, more than the limit of %llu (2^31); use "
                            "fewer or narrower dense layers", name ? name : "config", i, input_dim,
                            (unsigned long long)count, (unsigned long long)RD_MAX_PARAMS), e);
}

static int validate_data(rd_ctx *x, const rd_config *c)
{
    if (!c->data.drop_last)
        return fail_key(x, "data.drop_last", NULL, "partial batches are not supported: every step "
                        "uses a full global batch, so drop_last must be true");
    if (c->data.format == RD_DATA_IDX) {
        const char *keys[] = {"data.train_images", "data.train_labels", "data.test_images",
                              "data.test_labels"};
        const char *vals[] = {c->data.train_images, c->data.train_labels, c->data.test_images,
                              c->data.test_labels};
        for (int i = 0; i < 4; i++)
            if (!vals[i][0])
                return fail_key(x, keys[i], "data.format", "required when data.format is idx");
    }
    if (c->data.format == RD_DATA_HDF5) {
        if (!c->data.train_file[0]) return fail_key(x, "data.train_file", "data.format", "required when data.format is hdf5");
        if (!c->data.test_file[0]) return fail_key(x, "data.test_file", "data.format", "required when data.format is hdf5");
        if (!c->data.images[0]) return fail_key(x, "data.images", NULL, "must name a dataset, e.g. /X");
        if (!c->data.labels[0]) return fail_key(x, "data.labels", NULL, "must name a dataset, e.g. /y");
    }
    if (c->data.format == RD_DATA_SYNTHETIC && c->data.validation >= c->data.synthetic.train)
        return fail_key(x, "data.validation", NULL, "must be less than data.synthetic.train (%ld), got %ld",
                        c->data.synthetic.train, c->data.validation);
    if (c->data.format == RD_DATA_SYNTHETIC && c->data.validation + c->data.train_samples > c->data.synthetic.train)
        return fail_key(x, "data.train_samples", NULL, "%ld plus data.validation %ld is more than data.synthetic.train "
                        "(%ld)", c->data.train_samples, c->data.validation, c->data.synthetic.train);
    return 0;
}

static int validate_all(rd_ctx *x, const rd_config *c)
{
    for (size_t i = 0; i < RD_NKEYS; i++) {
        int rc = check_field(x, &rd_keys[i], c, rd_keys[i].path);
        if (rc) return rc;
    }
    int rc = validate_layers(x, c);
    if (rc) return rc;
    if (c->schedule.kind == RD_SCHED_STEP && c->schedule.step_steps <= 0)
        return fail_key(x, "schedule.step_steps", "schedule.kind", "must be > 0 when schedule.kind is step");
    if (c->schedule.kind == RD_SCHED_EXPONENTIAL && c->schedule.decay_steps <= 0)
        return fail_key(x, "schedule.decay_steps", "schedule.kind",
                        "must be > 0 when schedule.kind is exponential");
    rc = validate_data(x, c);
    if (!rc) rc = validate_sizes(x, c);
    if (rc) return rc;
    if (!c->run.out[0]) return fail_key(x, "run.out", NULL, "must not be empty");
    const char *core = c->run.blas_core;
    if (strcmp(core, "auto") && strcmp(core, "best") && strcmp(core, "keep") && !rd_blas_kernel_known(core))
        return fail_key(x, "run.blas_core", NULL,
                        "must be auto, best, keep or an OpenBLAS kernel name (e.g. Haswell, SkylakeX), got '%s'", core);
    return 0;
}

/* Every message is one line, even when a file name, a --set argument or a libyaml problem
 * holds a newline or another control character (found by fuzzing: a --set value with a
 * newline and a YAML syntax error gave a two-line message). */
static int one_line(int rc, rd_error *e)
{
    if (rc && e)
        for (char *p = e->msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return rc;
}

int rd_config_validate(const rd_config *c, const char *name, rd_error *e)
{
    rd_ctx x = {.name = name ? name : "config", .e = e};
    return one_line(validate_all(&x, c), e);
}

/* ------------------------------------------------------------------ paths */

/* Join (cwd, p) unless p is absolute; drop empty and "." segments. */
static int resolve_path(rd_ctx *x, const char *key, char *p)
{
    if (!p[0]) return 0;
    char cwd[4096] = "";
    if (p[0] != '/' && !getcwd(cwd, sizeof cwd))
        return fail_key(x, key, NULL, "cannot get the current directory to resolve '%s': %s", p,
                        strerror(errno));
    size_t cap = strlen(cwd) + strlen(p) + 2;
    char *joined = rd_malloc(cap), *out = rd_malloc(cap + 1);
    snprintf(joined, cap, "%s/%s", cwd, p);
    size_t n = 0;
    for (char *save = NULL, *seg = strtok_r(joined, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (!strcmp(seg, ".")) continue;
        n += (size_t)sprintf(out + n, "/%s", seg);
    }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
    int rc = 0;
    if (n >= RD_PATH_MAX)
        rc = fail_key(x, key, NULL, "path too long after resolving against the current directory "
                      "(%zu bytes, at most %d)", n, RD_PATH_MAX - 1);
    else copy_str(p, RD_PATH_MAX, out);
    free(joined);
    free(out);
    return rc;
}

static int resolve_paths(rd_ctx *x, rd_config *c)
{
    struct { const char *key; char *p; } paths[] = {
        {"data.train_images", c->data.train_images}, {"data.train_labels", c->data.train_labels},
        {"data.test_images", c->data.test_images}, {"data.test_labels", c->data.test_labels},
        {"data.train_file", c->data.train_file}, {"data.test_file", c->data.test_file},
        {"run.out", c->run.out},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int rc = resolve_path(x, paths[i].key, paths[i].p);
        if (rc) return rc;
    }
    return 0;
}

int rd_config_set_out(rd_config *c, const char *dir, rd_error *e)
{
    if (!rd_utf8_valid(dir))
        return rd_fail(e, RD_EXIT_CONFIG, "--out: the folder name must be UTF-8 text (it is stored in the run's YAML config)");
    if (strlen(dir) >= RD_PATH_MAX)
        return rd_fail(e, RD_EXIT_CONFIG, "--out: path too long (%zu bytes, at most %d)", strlen(dir), RD_PATH_MAX - 1);
    char p[RD_PATH_MAX];
    copy_str(p, sizeof p, dir);
    rd_ctx x = {.c = c, .name = "--out", .e = e};
    int rc = resolve_path(&x, "run.out", p);
    if (!rc) copy_str(c->run.out, sizeof c->run.out, p);
    return one_line(rc, e);
}

/* "runs/<file name without directory and extension>" */
static void default_out(const char *name, char *out)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    char buf[RD_PATH_MAX];
    snprintf(buf, sizeof buf, "runs/%s", stem[0] ? stem : "run");
    copy_str(out, RD_PATH_MAX, buf);
}

/* ------------------------------------------------------------------ loading */

int rd_config_load_text(rd_config *c, const char *text, size_t len, const char *name,
                        int nset, char *const *sets, rd_error *e)
{
    rd_ctx x = {.c = c, .name = name ? name : "config", .e = e};
    rd_config_defaults(c);
    default_out(x.name, c->run.out);
    int rc = apply_file_text(&x, text, len);
    for (int i = 0; !rc && i < nset; i++) rc = apply_set(&x, sets[i]);
    if (!rc) rc = validate_all(&x, c);
    if (!rc) rc = resolve_paths(&x, c);
    free(x.locs);
    return one_line(rc, e);
}

static char *read_text(const char *path, size_t *len, rd_error *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rd_fail(e, RD_EXIT_CONFIG, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = rd_malloc(cap);
    for (;;) {
        if (n == cap) {
            char *bigger = rd_malloc(2 * cap);
            memcpy(bigger, buf, n);
            free(buf);
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n > RD_CONFIG_MAX_BYTES) break;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err || n > RD_CONFIG_MAX_BYTES) {
        if (err) rd_fail(e, RD_EXIT_CONFIG, "%s: cannot read: %s", path, strerror(err));
        else rd_fail(e, RD_EXIT_CONFIG, "%s: too large for a config (more than %u bytes)", path,
                     RD_CONFIG_MAX_BYTES);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int rd_config_load(rd_config *c, const char *path, int nset, char *const *sets, rd_error *e)
{
    size_t len = 0;
    char *text = read_text(path, &len, e);
    if (!text) {
        rd_config_defaults(c);
        return one_line(RD_EXIT_CONFIG, e);
    }
    int rc = rd_config_load_text(c, text, len, path, nset, sets, e);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ writing */

/* One leaf (config or layer key) of `base` as YAML scalar text: numbers and names plain,
 * paths double-quoted. */
static const char *leaf_text(const rd_key *k, const void *base, char *num, size_t cap, bool *quoted)
{
    const char *p = (const char *)base + k->off;
    *quoted = false;
    switch (k->kind) {
    case K_INT: snprintf(num, cap, "%d", *(const int *)p); return num;
    case K_LONG: snprintf(num, cap, "%ld", *(const long *)p); return num;
    case K_U64: snprintf(num, cap, "%" PRIu64, *(const uint64_t *)p); return num;
    case K_DOUBLE: fmt_yaml_double(num, cap, *(const double *)p); return num;
    case K_BOOL: return *(const bool *)p ? "true" : "false";
    case K_PATH: *quoted = true; return p;
    case K_ENUM: case K_LAYER_TYPE: {
        const char *s = name_of(k->names, *(const int *)p);
        return s ? s : "invalid";
    }
    case K_FLAG_ENUM: return k->names[*(const bool *)p ? 1 : 0];
    default: return "";
    }
}

/* The layer keys that apply to layer l, in table order ("type" first). */
static bool layer_key_applies(const rd_key *k, const rd_layer_spec *l)
{
    return (k->layers & (1u << l->kind)) != 0;
}

typedef struct {
    yaml_emitter_t em;
    int ok;
} yaml_out;

static void y_event(yaml_out *y, yaml_event_t *ev, int made)
{
    if (y->ok && !(made && yaml_emitter_emit(&y->em, ev))) y->ok = 0;
}

static void y_scalar(yaml_out *y, const char *text, bool quoted)
{
    yaml_event_t ev;
    int made = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), !quoted, 1,
                                            quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
    y_event(y, &ev, made);
}

static void y_mapping(yaml_out *y, bool start)
{
    yaml_event_t ev;
    int made = start ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
                     : yaml_mapping_end_event_initialize(&ev);
    y_event(y, &ev, made);
}

static void y_leaf(yaml_out *y, const rd_key *k, const void *base, const char *name)
{
    char num[48];
    bool quoted;
    if (k->kind == K_PAIR) {   /* [h, w] */
        const int *v = (const int *)((const char *)base + k->off);
        yaml_event_t ev;
        y_scalar(y, name, false);
        y_event(y, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE));
        for (int i = 0; i < 2; i++) {
            snprintf(num, sizeof num, "%d", v[i]);
            y_scalar(y, num, false);
        }
        y_event(y, &ev, yaml_sequence_end_event_initialize(&ev));
        return;
    }
    const char *text = leaf_text(k, base, num, sizeof num, &quoted);
    y_scalar(y, name, false);
    y_scalar(y, text, quoted);
}

static void y_layers(yaml_out *y, const rd_config *c)
{
    yaml_event_t ev;
    y_event(y, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
    for (int i = 0; i < c->model.n_layers && i < RD_MAX_LAYERS; i++) {
        const rd_layer_spec *l = &c->model.layers[i];
        y_mapping(y, true);
        for (size_t j = 0; j < RD_NLAYER_KEYS; j++)
            if (layer_key_applies(&rd_layer_keys[j], l)) y_leaf(y, &rd_layer_keys[j], l, rd_layer_keys[j].path);
        y_mapping(y, false);
    }
    y_event(y, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int y_write(void *data, unsigned char *buffer, size_t size)
{
    rd_buf_append(data, buffer, size);
    return 1;
}

/* The key table in order; a section's depth closes the mappings of deeper ones. */
char *rd_config_to_yaml(const rd_config *c)
{
    rd_buf b = {0};
    rd_buf_printf(&b, "# rdrop %s resolved config: every key, absolute paths\n", RDROP_VERSION);
    yaml_out y = {.ok = 1};
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&y.em)) y.ok = 0;
    yaml_emitter_set_output(&y.em, y_write, &b);
    yaml_emitter_set_unicode(&y.em, 1);
    yaml_emitter_set_width(&y.em, -1);   /* never fold a long path */
    y_event(&y, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    y_event(&y, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    y_mapping(&y, true);
    int depth = 0;   /* open section mappings */
    for (size_t i = 0; i < RD_NKEYS; i++) {
        const rd_key *k = &rd_keys[i];
        int d = path_depth(k->path);
        for (; depth > d; depth--) y_mapping(&y, false);
        if (k->kind == K_SECTION) {
            y_scalar(&y, last_segment(k->path), false);
            y_mapping(&y, true);
            depth++;
        } else if (k->kind == K_LAYERS) {
            y_scalar(&y, last_segment(k->path), false);
            y_layers(&y, c);
        } else {
            y_leaf(&y, k, c, last_segment(k->path));
        }
    }
    for (; depth > 0; depth--) y_mapping(&y, false);
    y_mapping(&y, false);
    y_event(&y, &ev, yaml_document_end_event_initialize(&ev, 1));
    y_event(&y, &ev, yaml_stream_end_event_initialize(&ev));
    yaml_emitter_delete(&y.em);
    if (!y.ok) {   /* libyaml fails only on invalid UTF-8, which the loader never accepts */
        fprintf(stderr, "rdrop: internal error: libyaml could not write the resolved config\n");
        abort();
    }
    return b.p;
}

/* A leaf as JSON: numbers as numbers, the rest as strings. */
static json_t *leaf_json(const rd_key *k, const void *base)
{
    const char *p = (const char *)base + k->off;
    char num[48];
    bool quoted;
    switch (k->kind) {
    case K_INT: return json_integer(*(const int *)p);
    case K_LONG: return json_integer(*(const long *)p);
    case K_U64: return json_integer((json_int_t)*(const uint64_t *)p);
    case K_DOUBLE: return json_real(*(const double *)p);
    case K_BOOL: return json_boolean(*(const bool *)p);
    case K_PAIR: {
        json_t *a = json_array();
        json_array_append_new(a, json_integer(((const int *)p)[0]));
        json_array_append_new(a, json_integer(((const int *)p)[1]));
        return a;
    }
    default: return rd_json_str(leaf_text(k, base, num, sizeof num, &quoted));
    }
}

static json_t *layers_json(const rd_config *c)
{
    json_t *a = json_array();
    for (int i = 0; i < c->model.n_layers && i < RD_MAX_LAYERS; i++) {
        const rd_layer_spec *l = &c->model.layers[i];
        json_t *o = json_object();
        for (size_t j = 0; j < RD_NLAYER_KEYS; j++)
            if (layer_key_applies(&rd_layer_keys[j], l)) rd_json_set(o, rd_layer_keys[j].path, leaf_json(&rd_layer_keys[j], l));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *shape_json(const int v[3])
{
    json_t *a = json_array();
    for (int i = 0; i < 3; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

char *rd_config_layers_json(const rd_config *c) { return rd_config_layers_json_shapes(c, NULL, NULL); }

char *rd_config_layers_json_shapes(const rd_config *c, const int input[3], const int (*shapes)[3])
{
    json_t *a = layers_json(c);
    for (int i = 0; shapes && i < c->model.n_layers && i < RD_MAX_LAYERS; i++)
        rd_json_set(json_array_get(a, (size_t)i), "output_shape", shape_json(shapes[i]));
    if (input) {
        json_t *o = json_object();
        rd_json_set(o, "type", rd_json_str("input"));
        rd_json_set(o, "output_shape", shape_json(input));
        json_array_insert_new(a, 0, o);
    }
    char *s = rd_json_text(a);
    json_decref(a);
    return s;
}

char *rd_config_section_json(const rd_config *c, const char *section)
{
    json_t *o = json_object();
    for (size_t i = 0; i < RD_NKEYS; i++) {
        const rd_key *k = &rd_keys[i];
        if (k->kind != K_SECTION && k->kind != K_LAYERS && is_child_of(k->path, section))
            rd_json_set(o, last_segment(k->path), leaf_json(k, c));
    }
    char *s = rd_json_text(o);
    json_decref(o);
    return s;
}

/* ------------------------------------------------------------------ comparing */

static bool leaf_equal(const rd_key *k, const void *a, const void *b)
{
    const char *p = (const char *)a + k->off, *q = (const char *)b + k->off;
    switch (k->kind) {
    case K_INT: case K_ENUM: case K_LAYER_TYPE: return *(const int *)p == *(const int *)q;
    case K_LONG: return *(const long *)p == *(const long *)q;
    case K_U64: return *(const uint64_t *)p == *(const uint64_t *)q;
    case K_DOUBLE: return *(const double *)p == *(const double *)q;
    case K_BOOL: case K_FLAG_ENUM: return *(const bool *)p == *(const bool *)q;
    case K_PATH: return strcmp(p, q) == 0;
    case K_PAIR: return ((const int *)p)[0] == ((const int *)q)[0] && ((const int *)p)[1] == ((const int *)q)[1];
    default: return true;
    }
}

static bool layers_equal(const rd_config *a, const rd_config *b)
{
    if (a->model.n_layers != b->model.n_layers) return false;
    for (int i = 0; i < a->model.n_layers && i < RD_MAX_LAYERS; i++) {
        const rd_layer_spec *la = &a->model.layers[i], *lb = &b->model.layers[i];
        if (la->kind != lb->kind) return false;
        for (size_t j = 0; j < RD_NLAYER_KEYS; j++)
            if (layer_key_applies(&rd_layer_keys[j], la) && !leaf_equal(&rd_layer_keys[j], la, lb)) return false;
    }
    return true;
}

bool rd_config_section_equal(const rd_config *a, const rd_config *b, const char *section)
{
    for (size_t i = 0; i < RD_NKEYS; i++) {
        const rd_key *k = &rd_keys[i];
        size_t n = strlen(section);
        bool under = !strncmp(k->path, section, n) && k->path[n] == '.';
        if (k->kind == K_SECTION || !under) continue;
        if (k->kind == K_LAYERS ? !layers_equal(a, b) : !leaf_equal(k, a, b)) return false;
    }
    return true;
}
