/* test_checkpoint.c - checkpoint round trip, integrity checks, atomic writes, run folder. */
#include "testutil.h"

#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

/* ------------------------------------------------------------------------- fixtures */

typedef struct {
    char dir[256];
    rd_config c;
    rd_model m;
    rd_train_state s;
    rd_ckpt_meta meta;
} fx;

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Deterministic float bits with a few special values (-0, denormal, NaN payload, max). */
static void fill_floats(float *v, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        float f = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.2f;
        v[i] = f;
    }
    const uint32_t special[] = {0x80000000u, 0x00000123u, 0x7fc12345u, 0x7f7fffffu};
    for (size_t i = 0; i < 4 && 3 + 7 * i < n; i++) memcpy(&v[3 + 7 * i], &special[i], 4);
}

/* Model: dropout, dense(in->u0, relu, 3), dropout, dense(u0->u1, relu, 3), dense(u1->u2, linear). */
static void build_model(rd_model *m, rd_config *c, int input, const int *units)
{
    rd_config_defaults(c);
    c->model.n_layers = 5;
    c->model.layers[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    c->model.layers[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = units[0], .activation = RD_ACT_RELU, .max_norm = 3.0};
    c->model.layers[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    c->model.layers[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = units[1], .activation = RD_ACT_RELU, .max_norm = 3.0};
    c->model.layers[4] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = units[2], .activation = RD_ACT_LINEAR};
    c->run.seed = 0x123456789abcdef0ull;
    c->optimizer.nesterov = true;
    c->optimizer.weight_decay = 5e-4;
    c->rng.dropout_stream = RD_STREAM_SAMPLE;

    memset(m, 0, sizeof *m);
    m->n_layers = 5;
    m->input_dim = input;
    int width = input, d = 0;
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        const rd_layer_spec *sp = &c->model.layers[i];
        rd_layer *L = &m->layers[i];
        L->kind = sp->kind;
        L->spec_index = i;
        L->in = width;
        if (sp->kind == RD_LAYER_DENSE) {
            L->dense_index = d++;
            L->conv_index = -1;
            L->out = sp->units;
            L->k_rows = L->in;      /* the kernel matrix [in x out] */
            L->k_cols = L->out;
            L->act = sp->activation;
            L->max_norm = sp->max_norm;
            L->w_off = off;
            off += (size_t)L->in * (size_t)L->out;
            L->b_off = off;
            off += (size_t)L->out;
        } else {
            L->dense_index = L->conv_index = -1;
            L->out = width;
            L->rate = sp->rate;
        }
        width = L->out;
    }
    m->n_dense = d;
    m->output_dim = width;
    m->n_params = off;
    m->params = calloc(off, sizeof(float));
    m->momentum = calloc(off, sizeof(float));
    assert_non_null(m->params);
    assert_non_null(m->momentum);
}

static void free_model(rd_model *m)
{
    free(m->params);
    free(m->momentum);
    m->params = m->momentum = NULL;
}

static const char metrics_bytes[] = "{\"kind\":\"train\",\"step\":10}\n\0\xff{\"kind\":\"eval\"}\n";

static void fill_state(rd_train_state *s)
{
    memset(s, 0, sizeof *s);
    s->step = 4680;
    s->epoch = 10;
    s->position = 12345;
    s->lr = 0.1 + 0.2;
    s->sum_loss = 1.0 / 3.0;
    s->sum_ce = 2.5e-300;
    s->sum_kl = -0.0;
    s->sum_correct = 1234;
    s->sum_samples = 5678;
    s->sum_steps = 42;
    s->best_val_acc = 0.8765432109876543;
    s->best_step = 4212;
    s->patience_left = 3;
    s->n_validation = 7;
    s->validation_indices = malloc(7 * sizeof(uint32_t));
    const uint32_t vi[7] = {0, 5, 17, 99, 1000, 59999, 4000000000u};
    memcpy(s->validation_indices, vi, sizeof vi);
    s->metrics_len = sizeof metrics_bytes - 1;
    s->metrics = malloc(s->metrics_len);
    memcpy(s->metrics, metrics_bytes, s->metrics_len);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rdrop-ckpt-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    const int units[3] = {48, 40, 10};
    build_model(&f->m, &f->c, 20, units);
    fill_floats(f->m.params, f->m.n_params, 1);
    fill_floats(f->m.momentum, f->m.n_params, 2);
    fill_state(&f->s);
    f->meta = (rd_ckpt_meta){.world_size = 3, .config_yaml = NULL, .git = "abc1234",
                             .build_flags = "Release GNU-12.2.0 -O2", .mpi_version = "Open MPI v4.1.4",
                             .blas_core = "Haswell", .blas_threads = 2, .bucket_mb = 4.5, .overlap = true};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    remove_tree(f->dir);
    free_model(&f->m);
    free(f->s.validation_indices);
    free(f->s.metrics);
    free(f);
    return 0;
}

static char *path_in(const fx *f, const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", f->dir, name);
    return p;
}

static void write_ok(fx *f, const char *path)
{
    rd_error e = {0};
    int rc = rd_ckpt_write(path, &f->m, &f->c, &f->s, &f->meta, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Count files in DIR whose name ends in ".tmp". */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t k = strlen(de->d_name);
        if (k >= 4 && !strcmp(de->d_name + k - 4, ".tmp")) n++;
    }
    closedir(d);
    return n;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = read_all(from, &n);
    write_all(to, b, n);
    free(b);
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Independent implementation of the user block, for files the test edits on purpose. */
static void reseal(const char *path)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    uint32_t crc = rd_crc32(0, b + 512, n - 512);
    memset(b, 0, 512);
    memcpy(b, "RDROPCK1", 8);
    b[8] = 1;
    for (int i = 0; i < 8; i++) b[12 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    for (int i = 0; i < 4; i++) b[20 + i] = (unsigned char)(crc >> (8 * i));
    write_all(path, b, n);
    free(b);
}

static size_t find_bytes(const unsigned char *hay, size_t n, const void *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return i;
    return (size_t)-1;
}

static void expect_msg(const rd_error *e, const char *want)
{
    if (!strstr(e->msg, want)) print_error("message \"%s\" lacks \"%s\"\n", e->msg, want);
    assert_non_null(strstr(e->msg, want));
}

/* ------------------------------------------------------------------------- round trip */

static void test_name(void **state)
{
    (void)state;
    char buf[128];
    rd_ckpt_name(buf, sizeof buf, "runs/x", 468);
    assert_string_equal(buf, "runs/x/ckpt-000000468.h5");
    rd_ckpt_name(buf, sizeof buf, "/r", 1234567890123LL);
    assert_string_equal(buf, "/r/ckpt-1234567890123.h5");
}

static void test_roundtrip(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    assert_int_equal(count_tmp(f->dir), 0);

    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), 0);

    rd_ckpt_info in;
    int rc = rd_ckpt_read_info(path, &in, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(in.format_version, 1);
    assert_string_equal(in.rdrop_version, RDROP_VERSION);
    assert_int_equal(in.step, 4680);
    assert_int_equal(in.epoch, 10);
    assert_int_equal(in.world_size, 3);
    assert_true(in.seed == 0x123456789abcdef0ull);
    assert_int_equal(strlen(in.created), 20);   /* 2025-11-26T13:45:00Z */
    assert_int_equal(in.created[10], 'T');
    assert_int_equal(in.created[19], 'Z');
    char *yaml = rd_config_to_yaml(&f->c);
    assert_string_equal(in.config_yaml, yaml);
    free(yaml);
    char *arch = rd_config_layers_json(&f->c);
    assert_string_equal(in.architecture, arch);
    free(arch);
    assert_string_equal(in.git, "abc1234");
    assert_string_equal(in.build_flags, "Release GNU-12.2.0 -O2");
    assert_string_equal(in.mpi_version, "Open MPI v4.1.4");
    assert_string_equal(in.blas_core, "Haswell");
    assert_int_equal(in.blas_threads, 2);
    assert_true(in.bucket_mb == 4.5);
    assert_int_equal(in.overlap, 1);
    assert_string_equal(in.dropout_stream, "sample");
    assert_int_equal(in.rng_version, 1);
    assert_true(in.lr == 0.1 + 0.2);
    assert_true(in.momentum == 0.9);
    assert_int_equal(in.nesterov, 1);
    assert_true(in.weight_decay == 5e-4);
    assert_non_null(strstr(in.schedule, "\"kind\":\"constant\""));
    assert_non_null(strstr(in.schedule, "\"gamma\":0.1,"));
    assert_non_null(strstr(in.schedule, "\"base_batch\":128}"));

    assert_int_equal(in.n_dense, 3);
    const int ins[3] = {20, 48, 40}, outs[3] = {48, 40, 10};
    const char *acts[3] = {"relu", "relu", "linear"};
    const double mn[3] = {3.0, 3.0, 0.0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(in.dense[i].in, ins[i]);
        assert_int_equal(in.dense[i].out, outs[i]);
        assert_string_equal(in.dense[i].activation, acts[i]);
        assert_true(in.dense[i].max_norm == mn[i]);
    }

    /* Every state field bitwise. */
    const rd_train_state *s = &in.state, *w = &f->s;
    assert_int_equal(s->step, w->step);
    assert_int_equal(s->epoch, w->epoch);
    assert_int_equal(s->position, w->position);
    assert_memory_equal(&s->lr, &w->lr, sizeof(double));
    assert_memory_equal(&s->sum_loss, &w->sum_loss, sizeof(double));
    assert_memory_equal(&s->sum_ce, &w->sum_ce, sizeof(double));
    assert_memory_equal(&s->sum_kl, &w->sum_kl, sizeof(double));   /* -0.0 keeps its sign */
    assert_memory_equal(&s->sum_correct, &w->sum_correct, sizeof(double));
    assert_memory_equal(&s->sum_samples, &w->sum_samples, sizeof(double));
    assert_int_equal(s->sum_steps, w->sum_steps);
    assert_memory_equal(&s->best_val_acc, &w->best_val_acc, sizeof(double));
    assert_int_equal(s->best_step, w->best_step);
    assert_int_equal(s->patience_left, w->patience_left);
    assert_int_equal(s->n_validation, 7);
    assert_memory_equal(s->validation_indices, w->validation_indices, 7 * sizeof(uint32_t));
    assert_int_equal(s->metrics_len, w->metrics_len);
    assert_memory_equal(s->metrics, w->metrics, w->metrics_len);
    assert_int_equal(s->metrics[s->metrics_len], '\0');
    rd_ckpt_info_free(&in);
    assert_null(in.config_yaml);

    /* Params and momentum bitwise (NaN payload, -0, denormals included). */
    rd_model m2;
    rd_config c2;
    const int units[3] = {48, 40, 10};
    build_model(&m2, &c2, 20, units);
    rc = rd_ckpt_read_params(path, &m2, true, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_memory_equal(m2.params, f->m.params, f->m.n_params * sizeof(float));
    assert_memory_equal(m2.momentum, f->m.momentum, f->m.n_params * sizeof(float));

    /* momentum = false leaves the momentum buffer alone. */
    memset(m2.params, 0, m2.n_params * sizeof(float));
    memset(m2.momentum, 0x5a, m2.n_params * sizeof(float));
    assert_int_equal(rd_ckpt_read_params(path, &m2, false, &e), 0);
    assert_memory_equal(m2.params, f->m.params, f->m.n_params * sizeof(float));
    for (size_t i = 0; i < m2.n_params; i++) {
        uint32_t b;
        memcpy(&b, &m2.momentum[i], 4);
        assert_int_equal(b, 0x5a5a5a5au);
    }
    free_model(&m2);
}

/* Empty validation split and metrics, explicit config text, no momentum buffer. */
static void test_roundtrip_empty_state(void **state)
{
    fx *f = *state;
    free(f->s.validation_indices);
    free(f->s.metrics);
    f->s.validation_indices = NULL;
    f->s.metrics = NULL;
    f->s.n_validation = 0;
    f->s.metrics_len = 0;
    f->s.best_val_acc = -1;
    f->s.best_step = -1;
    f->meta.config_yaml = "model:\n  init: he_uniform\n# \xc3\xa9t\xc3\xa9\n";
    f->meta.overlap = false;
    float *mom = f->m.momentum;
    f->m.momentum = NULL;
    const char *path = path_in(f, "best.h5");
    write_ok(f, path);
    f->m.momentum = mom;

    rd_error e = {0};
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), 0);
    assert_string_equal(in.config_yaml, f->meta.config_yaml);
    assert_int_equal(in.overlap, 0);
    assert_int_equal(in.state.n_validation, 0);
    assert_null(in.state.validation_indices);
    assert_int_equal(in.state.metrics_len, 0);
    assert_non_null(in.state.metrics);
    assert_string_equal(in.state.metrics, "");
    assert_true(in.state.best_val_acc == -1.0);
    assert_int_equal(in.state.best_step, -1);
    rd_ckpt_info_free(&in);

    /* Momentum was written as zeros. */
    memset(f->m.momentum, 0x11, f->m.n_params * sizeof(float));
    assert_int_equal(rd_ckpt_read_params(path, &f->m, true, &e), 0);
    for (size_t i = 0; i < f->m.n_params; i++) assert_true(f->m.momentum[i] == 0.0f);
}

/* A split stored without the dataset (allowed when the count is 0) still reads. */
static void test_validation_dataset_omitted(void **state)
{
    fx *f = *state;
    free(f->s.validation_indices);
    f->s.validation_indices = NULL;
    f->s.n_validation = 0;
    const char *path = path_in(f, "ckpt-000000001.h5");
    write_ok(f, path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(h >= 0);
    assert_true(H5Ldelete(h, "/data/validation_indices", H5P_DEFAULT) >= 0);
    assert_true(H5Fclose(h) >= 0);
    reseal(path);
    rd_error e = {0};
    rd_ckpt_info in;
    int rc = rd_ckpt_read_info(path, &in, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(in.state.n_validation, 0);
    assert_null(in.state.validation_indices);
    rd_ckpt_info_free(&in);
}

static void test_userblock_layout(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    assert_memory_equal(b, "RDROPCK1", 8);
    assert_int_equal(le(b + 8, 4), 1);
    assert_int_equal(le(b + 12, 8), n);
    assert_int_equal(le(b + 20, 4), rd_crc32(0, b + 512, n - 512));
    for (int i = 24; i < 512; i++) assert_int_equal(b[i], 0);
    /* HDF5's superblock follows the user block. */
    assert_memory_equal(b + 512, "\x89HDF\r\n\x1a\n", 8);
    free(b);
}

/* ------------------------------------------------------------------------- integrity */

static void test_truncated(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5"), *cut = path_in(f, "cut.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    char want[256];
    rd_error e = {0};

    write_all(cut, b, n / 2);
    assert_int_equal(rd_ckpt_verify(cut, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: truncated: %zu bytes, the header says %zu", cut, n / 2, n);
    assert_string_equal(e.msg, want);

    write_all(cut, b, n - 1);
    assert_int_equal(rd_ckpt_verify(cut, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: truncated: %zu bytes, the header says %zu", cut, n - 1, n);
    assert_string_equal(e.msg, want);

    write_all(cut, b, 100);   /* inside the user block */
    assert_int_equal(rd_ckpt_verify(cut, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: truncated: 100 bytes, the header says %zu", cut, n);
    assert_string_equal(e.msg, want);

    write_all(cut, b, 0);
    assert_int_equal(rd_ckpt_verify(cut, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "not an rdrop checkpoint");

    /* Readers refuse before HDF5 sees the file. */
    write_all(cut, b, n / 2);
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(cut, &in, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "truncated");
    assert_int_equal(rd_ckpt_read_params(cut, &f->m, true, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "truncated");
    free(b);
}

static void test_trailing(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    unsigned char *more = calloc(n + 3, 1);
    memcpy(more, b, n);
    write_all(path, more, n + 3);
    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), RD_EXIT_CHECKPOINT);
    char want[256];
    snprintf(want, sizeof want, "%s: %zu bytes, the header says %zu (trailing data)", path, n + 3, n);
    assert_string_equal(e.msg, want);
    free(more);
    free(b);
}

static void test_bitflip_crc(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    const rd_layer *L = &f->m.layers[1];
    size_t at = find_bytes(b, n, f->m.params + L->w_off, 64);
    assert_true(at != (size_t)-1 && at >= 512);
    uint32_t stored = (uint32_t)le(b + 20, 4);
    b[at + 40] ^= 0x10;
    uint32_t computed = rd_crc32(0, b + 512, n - 512);
    write_all(path, b, n);

    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), RD_EXIT_CHECKPOINT);
    char want[256];
    snprintf(want, sizeof want, "%s: corrupt: CRC-32 mismatch (stored 0x%08x, computed 0x%08x)", path,
             stored, computed);
    assert_string_equal(e.msg, want);
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "CRC-32 mismatch");
    float before = f->m.params[0];
    assert_int_equal(rd_ckpt_read_params(path, &f->m, true, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "CRC-32 mismatch");
    assert_memory_equal(&f->m.params[0], &before, sizeof before);

    /* A flip inside the user block's reserved bytes is caught too. */
    b[at + 40] ^= 0x10;
    b[300] = 1;
    write_all(path, b, n);
    assert_int_equal(rd_ckpt_verify(path, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "corrupt");
    free(b);
}

/* Corrupt kernel bytes behind a valid CRC: Fletcher32 still catches it. */
static void test_fletcher32(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    const rd_layer *L = &f->m.layers[1];
    size_t at = find_bytes(b, n, f->m.params + L->w_off, 64);
    assert_true(at != (size_t)-1);
    b[at + 8] ^= 0x01;
    write_all(path, b, n);
    free(b);
    reseal(path);
    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), 0);
    rd_model m2;
    rd_config c2;
    const int units[3] = {48, 40, 10};
    build_model(&m2, &c2, 20, units);
    assert_int_equal(rd_ckpt_read_params(path, &m2, true, &e), RD_EXIT_CHECKPOINT);
    char want[256];
    snprintf(want, sizeof want, "%s: corrupt dataset /model/dense_0/kernel (checksum)", path);
    assert_string_equal(e.msg, want);
    free_model(&m2);
}

static void make_foreign_hdf5(const char *path, hsize_t userblock)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (userblock) assert_true(H5Pset_userblock(fcpl, userblock) >= 0);
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    assert_true(h >= 0);
    hsize_t dims[2] = {4, 3};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t g = H5Gcreate2(h, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t d = H5Dcreate2(g, "kernel", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float v[12] = {0};
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Gclose(g);
    H5Sclose(sp);
    H5Pclose(fcpl);
    assert_true(H5Fclose(h) >= 0);
}

static void test_foreign(void **state)
{
    fx *f = *state;
    rd_error e = {0};
    char want[512];
    const char *h5 = path_in(f, "foreign.h5");
    make_foreign_hdf5(h5, 0);
    assert_int_equal(rd_ckpt_verify(h5, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: not an rdrop checkpoint (no RDROPCK1 user block)", h5);
    assert_string_equal(e.msg, want);
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(h5, &in, &e), RD_EXIT_CHECKPOINT);
    assert_string_equal(e.msg, want);

    make_foreign_hdf5(h5, 512);   /* a user block of zeros is still foreign */
    assert_int_equal(rd_ckpt_verify(h5, &e), RD_EXIT_CHECKPOINT);
    assert_string_equal(e.msg, want);

    const char *txt = path_in(f, "notes.h5");
    write_all(txt, "hello, world\n", 13);
    assert_int_equal(rd_ckpt_verify(txt, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "not an rdrop checkpoint (no RDROPCK1 user block)");

    assert_int_equal(rd_ckpt_verify(path_in(f, "absent.h5"), &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "absent.h5: cannot open checkpoint: No such file or directory");
    assert_int_equal(rd_ckpt_verify(f->dir, &e), RD_EXIT_CHECKPOINT);
    expect_msg(&e, "not a regular file");
}

static void test_bad_version(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *b = read_all(path, &n);
    b[8] = 3;   /* 1 = MLP-only, 2 = with conv2d layers (docs/conv.md) */
    write_all(path, b, n);
    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), RD_EXIT_CHECKPOINT);
    char want[512];
    snprintf(want, sizeof want, "%s: unsupported checkpoint format version 3 (this rdrop reads versions 1 and 2)", path);
    assert_string_equal(e.msg, want);
    free(b);
}

/* Edit the HDF5 content (valid CRC afterwards): missing attribute, foreign format string. */
static void test_missing_attr(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(h >= 0);
    assert_true(H5Adelete_by_name(h, "/train", "best_step", H5P_DEFAULT) >= 0);
    assert_true(H5Fclose(h) >= 0);
    reseal(path);
    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), 0);
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), RD_EXIT_CHECKPOINT);
    char want[512];
    snprintf(want, sizeof want, "%s: missing /train attribute best_step", path);
    assert_string_equal(e.msg, want);
    assert_null(in.config_yaml);   /* nothing left allocated */
    assert_null(in.state.metrics);

    write_ok(f, path);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(h, "step") >= 0);
    assert_true(H5Ldelete(h, "/rng", H5P_DEFAULT) >= 0);
    assert_true(H5Fclose(h) >= 0);
    reseal(path);
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: missing root attribute step", path);
    assert_string_equal(e.msg, want);

    /* The root `format` attribute must say rdrop-checkpoint. */
    write_ok(f, path);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(h, "format") >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(h, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *other = "something-else";
    assert_true(H5Awrite(a, t, &other) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    assert_true(H5Fclose(h) >= 0);
    reseal(path);
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want, "%s: not an rdrop checkpoint (format attribute is \"something-else\")", path);
    assert_string_equal(e.msg, want);
}

static void test_arch_mismatch(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    rd_error e = {0};
    char want[512];
    rd_model m2;
    rd_config c2;

    const int wider[3] = {48, 64, 10};
    build_model(&m2, &c2, 20, wider);
    fill_floats(m2.params, m2.n_params, 9);
    float *snapshot = malloc(m2.n_params * sizeof(float));
    memcpy(snapshot, m2.params, m2.n_params * sizeof(float));
    assert_int_equal(rd_ckpt_read_params(path, &m2, true, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want,
             "%s: architecture mismatch: dense_1/kernel is [48 x 40], the config wants [48 x 64]", path);
    assert_string_equal(e.msg, want);
    /* dense_0 matched, but nothing was read: the model is unchanged. */
    assert_memory_equal(m2.params, snapshot, m2.n_params * sizeof(float));
    free(snapshot);
    free_model(&m2);

    const int narrow_in[3] = {48, 40, 10};
    build_model(&m2, &c2, 21, narrow_in);
    assert_int_equal(rd_ckpt_read_params(path, &m2, false, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want,
             "%s: architecture mismatch: dense_0/kernel is [20 x 48], the config wants [21 x 48]", path);
    assert_string_equal(e.msg, want);
    free_model(&m2);

    /* Different activation. */
    build_model(&m2, &c2, 20, narrow_in);
    m2.layers[3].act = RD_ACT_TANH;
    assert_int_equal(rd_ckpt_read_params(path, &m2, false, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want,
             "%s: architecture mismatch: dense_1 activation is relu, the config wants tanh", path);
    assert_string_equal(e.msg, want);
    free_model(&m2);

    /* Different number of dense layers: drop the last dense. */
    build_model(&m2, &c2, 20, narrow_in);
    m2.n_layers = 4;
    m2.n_dense = 2;
    assert_int_equal(rd_ckpt_read_params(path, &m2, false, &e), RD_EXIT_CHECKPOINT);
    snprintf(want, sizeof want,
             "%s: architecture mismatch: the checkpoint has 3 dense layers, the config wants 2", path);
    assert_string_equal(e.msg, want);
    free_model(&m2);
}

/* ------------------------------------------------------------------------- writing */

static void test_write_bad_dir(void **state)
{
    fx *f = *state;
    rd_error e = {0};
    char path[512], want[600];

    snprintf(path, sizeof path, "%s/missing/ckpt-000000001.h5", f->dir);
    assert_int_equal(rd_ckpt_write(path, &f->m, &f->c, &f->s, &f->meta, &e), RD_EXIT_WRITE);
    snprintf(want, sizeof want,
             "%s: cannot write checkpoint: No such file or directory (previous checkpoints kept)", path);
    assert_string_equal(e.msg, want);

    const char *file = path_in(f, "plain");
    write_all(file, "x", 1);
    snprintf(path, sizeof path, "%s/ckpt-000000001.h5", file);
    assert_int_equal(rd_ckpt_write(path, &f->m, &f->c, &f->s, &f->meta, &e), RD_EXIT_WRITE);
    snprintf(want, sizeof want, "%s: cannot write checkpoint: Not a directory (previous checkpoints kept)", path);
    assert_string_equal(e.msg, want);

    if (geteuid() != 0) {   /* root ignores permissions */
        char ro[300];
        snprintf(ro, sizeof ro, "%s/ro", f->dir);
        assert_int_equal(mkdir(ro, 0500), 0);
        snprintf(path, sizeof path, "%s/ckpt-000000001.h5", ro);
        assert_int_equal(rd_ckpt_write(path, &f->m, &f->c, &f->s, &f->meta, &e), RD_EXIT_WRITE);
        expect_msg(&e, "Permission denied (previous checkpoints kept)");
        assert_int_equal(count_tmp(ro), 0);
    }
    assert_int_equal(count_tmp(f->dir), 0);
}

/* The temp file is replaced, the final name appears atomically, and overwriting works. */
static void test_atomic_rename(void **state)
{
    fx *f = *state;
    const char *path = path_in(f, "ckpt-000004680.h5");
    const char *stale = path_in(f, ".ckpt-000004680.h5.tmp");
    write_all(stale, "junk from a crash", 17);
    write_ok(f, path);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(count_tmp(f->dir), 0);

    f->s.step = 4681;
    write_ok(f, path);   /* overwrite */
    rd_error e = {0};
    rd_ckpt_info in;
    assert_int_equal(rd_ckpt_read_info(path, &in, &e), 0);
    assert_int_equal(in.step, 4681);
    rd_ckpt_info_free(&in);
    assert_int_equal(count_tmp(f->dir), 0);
}

/* A file-size limit hits the write at several points (data, metadata at close, user block);
 * every time: exit 5, the existing checkpoint untouched, no temp file. */
static void test_write_disk_full(void **state)
{
    fx *f = *state;
    free_model(&f->m);
    const int units[3] = {512, 256, 10};
    build_model(&f->m, &f->c, 256, units);
    fill_floats(f->m.params, f->m.n_params, 3);
    fill_floats(f->m.momentum, f->m.n_params, 4);
    const char *path = path_in(f, "ckpt-000004680.h5");
    write_ok(f, path);
    size_t n;
    unsigned char *good = read_all(path, &n);
    assert_true(n > 1000000);

    const rlim_t limits[] = {256, 600, 4096, 65536, n / 2, n - 4096, n - 1};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {limits[i], limits[i]};
            if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(2);
            rd_error e = {0};
            f->s.step = 999;
            int rc = rd_ckpt_write(path, &f->m, &f->c, &f->s, &f->meta, &e);
            bool ok = rc == RD_EXIT_WRITE && strstr(e.msg, ": cannot write checkpoint: File too large") &&
                      strstr(e.msg, "(previous checkpoints kept)");
            if (!ok) fprintf(stderr, "limit %llu: rc %d: %s\n", (unsigned long long)limits[i], rc, e.msg);
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        size_t n2;
        unsigned char *now = read_all(path, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(now, good, n);
        free(now);
        assert_int_equal(count_tmp(f->dir), 0);
    }
    rd_error e = {0};
    assert_int_equal(rd_ckpt_verify(path, &e), 0);
    free(good);
}

/* The state groups are a pure function of the state: h5diff finds them equal across two
 * writes at different times, and finds a changed weight. */
static void test_deterministic_groups(void **state)
{
    fx *f = *state;
    if (access("/usr/bin/h5diff", X_OK) != 0) {
        print_message("SKIP: /usr/bin/h5diff missing (apt-get install hdf5-tools)\n");
        skip();
    }
    const char *a = path_in(f, "ckpt-000000001.h5"), *b = path_in(f, "ckpt-000000002.h5");
    write_ok(f, a);
    sleep(1);
    f->meta.git = "other";
    write_ok(f, b);
    const char *groups[] = {"/model", "/optimizer", "/rng", "/data", "/train", "/metrics"};
    char cmd[1200];
    for (int i = 0; i < 6; i++) {
        snprintf(cmd, sizeof cmd, "h5diff -q %s %s %s %s >/dev/null 2>&1", a, b, groups[i], groups[i]);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(cmd, sizeof cmd, "h5diff -q %s %s / / >/dev/null 2>&1", a, b);
    assert_int_not_equal(system(cmd), 0);   /* root attributes differ (created, git) */
    f->m.params[5] = 42.0f;
    write_ok(f, b);
    snprintf(cmd, sizeof cmd, "h5diff -q %s %s /model /model >/dev/null 2>&1", a, b);
    assert_int_not_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------------- run folder */

static void touch(const fx *f, const char *name)
{
    write_all(path_in(f, name), "", 0);
}

static void test_list(void **state)
{
    fx *f = *state;
    char p[512];
    const int64_t steps[3] = {5, 20, 10};
    for (int i = 0; i < 3; i++) {
        f->s.step = steps[i];
        rd_ckpt_name(p, sizeof p, f->dir, steps[i]);
        write_ok(f, p);
    }
    copy_file(path_in(f, "ckpt-000000020.h5"), path_in(f, "ckpt-000000001.h5"));   /* step attr 20 */
    copy_file(path_in(f, "ckpt-000000020.h5"), path_in(f, "best.h5"));
    copy_file(path_in(f, "ckpt-000000020.h5"), path_in(f, ".ckpt-000000040.h5.tmp"));
    size_t n;
    unsigned char *b = read_all(path_in(f, "ckpt-000000005.h5"), &n);
    write_all(path_in(f, "ckpt-000000030.h5"), b, 1000);
    free(b);
    make_foreign_hdf5(path_in(f, "ckpt-bogus.h5"), 0);
    touch(f, "notes.txt");

    rd_ckpt_entry *list = NULL;
    char *bad = NULL;
    int count = rd_ckpt_list(f->dir, &list, &bad);
    assert_int_equal(count, 4);
    const int64_t want_steps[4] = {20, 20, 10, 5};
    const char *want_names[4] = {"ckpt-000000020.h5", "ckpt-000000001.h5", "ckpt-000000010.h5", "ckpt-000000005.h5"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(list[i].step, want_steps[i]);
        assert_string_equal(list[i].path, path_in(f, want_names[i]));
    }
    assert_non_null(bad);
    char want[2048];
    snprintf(want, sizeof want,
             "%s/ckpt-000000030.h5: truncated: 1000 bytes, the header says %zu\n"
             "%s/ckpt-bogus.h5: not an rdrop checkpoint (no RDROPCK1 user block)\n",
             f->dir, n, f->dir);
    assert_string_equal(bad, want);
    rd_ckpt_list_free(list, count);
    free(bad);

    /* No folder: nothing, no report. Empty folder likewise. */
    count = rd_ckpt_list(path_in(f, "nothing-here"), &list, &bad);
    assert_int_equal(count, 0);
    assert_null(list);
    assert_null(bad);
}

static bool exists(const fx *f, const char *name)
{
    return access(path_in(f, name), F_OK) == 0;
}

static void test_prune_keep(void **state)
{
    fx *f = *state;
    char name[64];
    for (int s = 1; s <= 10; s++) {
        snprintf(name, sizeof name, "ckpt-%09d.h5", s * 100);
        touch(f, name);
    }
    const char *others[] = {"best.h5", "notes.txt", "ckpt-abc.h5", ".ckpt-000000050.h5.tmp", "ckpt-000000050.h5.bak",
                            "metrics.jsonl"};
    for (int i = 0; i < 6; i++) touch(f, others[i]);

    rd_ckpt_prune(f->dir, 0, 0, 0);   /* keep <= 0: delete nothing */
    for (int s = 1; s <= 10; s++) {
        snprintf(name, sizeof name, "ckpt-%09d.h5", s * 100);
        assert_true(exists(f, name));
    }

    rd_ckpt_prune(f->dir, 3, 0, 0);
    for (int s = 1; s <= 10; s++) {
        snprintf(name, sizeof name, "ckpt-%09d.h5", s * 100);
        assert_int_equal(exists(f, name), s >= 8);
    }
    for (int i = 0; i < 6; i++) assert_true(exists(f, others[i]));

    rd_ckpt_prune(f->dir, 5, 0, 0);   /* fewer than keep: nothing to do */
    assert_true(exists(f, "ckpt-000000800.h5"));
    rd_ckpt_prune(f->dir, 1, 0, 0);
    assert_false(exists(f, "ckpt-000000900.h5"));
    assert_true(exists(f, "ckpt-000001000.h5"));
}

static void test_prune_keep_every_epochs(void **state)
{
    fx *f = *state;
    /* 3 steps per epoch, keep_every_epochs 2: boundaries at steps 6, 12, 18. */
    const int steps[] = {2, 4, 5, 7, 9, 12, 13, 17, 20, 21};
    char name[64];
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        snprintf(name, sizeof name, "ckpt-%09d.h5", steps[i]);
        touch(f, name);
    }
    touch(f, "best.h5");
    rd_ckpt_prune(f->dir, 2, 2, 3);
    /* newest 2: 20, 21; first at or after 6: 7; 12: 12; 18: 20 (already kept). */
    const int kept[] = {7, 12, 20, 21};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        bool want = false;
        for (size_t k = 0; k < 4; k++) want |= steps[i] == kept[k];
        snprintf(name, sizeof name, "ckpt-%09d.h5", steps[i]);
        assert_int_equal(exists(f, name), want);
    }
    assert_true(exists(f, "best.h5"));
}

/* The resume broadcast carries the state through the checkpoint's field table: every scalar
 * survives pack + unpack, and unpack leaves the pointers alone. */
static void test_state_pack(void **state)
{
    rd_train_state a, b;
    memset(&a, 0, sizeof a);
    a.step = 123456789012LL; a.epoch = 17; a.position = 1ull << 40; a.lr = 0.0123;
    a.sum_loss = 1.5; a.sum_ce = 1.25; a.sum_kl = 0.25; a.sum_correct = 99; a.sum_samples = 128;
    a.sum_steps = 3; a.best_val_acc = 0.875; a.best_step = 4096; a.patience_left = 2;
    a.n_validation = 512; a.n_train = 4000;
    uint64_t slots[RD_STATE_SLOTS];
    int n = rd_train_state_pack(&a, slots);
    assert_true(n >= 15 && n <= RD_STATE_SLOTS);
    memset(&b, 0, sizeof b);
    uint32_t keep = 7;
    b.validation_indices = &keep;
    rd_train_state_unpack(&b, slots);
    assert_ptr_equal(b.validation_indices, &keep);
    b.validation_indices = NULL;
    assert_memory_equal(&a, &b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_state_pack),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_empty_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_dataset_omitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_userblock_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bitflip_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fletcher32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_attr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arch_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_bad_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keep_every_epochs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
