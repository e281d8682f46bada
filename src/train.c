/* train.c - the training loop (docs/ARCHITECTURE.md "One training step"), evaluation, run folder. */
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <cblas.h>

#include "blas.h"
#include "json.h"
#include "log.h"
#include "optim.h"
#include "progress.h"
#include "step.h"
#include "summary.h"

#ifndef RDROP_GIT
#define RDROP_GIT "unknown"
#endif
#ifndef RDROP_BUILD_FLAGS
#define RDROP_BUILD_FLAGS "unknown"
#endif

/* ---- signals: the only global state besides MPI ---- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (sig == SIGINT && stop_requested) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    stop_requested = 1;
}

void rd_train_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

/* ---- data ---- */

/* One HDF5 file may hold both sets: then they are its groups /train and /test (docs/data.md). */
static int load_hdf5_sets(const rd_config *c, rd_dataset *train, rd_dataset *test, rd_error *e)
{
    const bool one_file = !strcmp(c->data.train_file, c->data.test_file);
    const bool stream = c->data.load == RD_LOAD_STREAM;
    rd_hdf5_source tr = {c->data.train_file, "data.train_file", c->data.images, c->data.labels, stream};
    rd_hdf5_source te = {c->data.test_file, "data.test_file", c->data.images, c->data.labels, stream};
    int rc = rd_data_load_hdf5(train, &tr, one_file ? "/train" : "", e);
    if (rc) return rc;
    rc = rd_data_load_hdf5(test, &te, one_file ? "/test" : "", e);
    if (rc) return rc;
    char xn[RD_PATH_MAX + 16], yn[RD_PATH_MAX + 16];
    snprintf(xn, sizeof xn, "%s%s%s", one_file ? "/test" : "", c->data.images[0] == '/' ? "" : "/", c->data.images);
    if (test->rows != train->rows || test->cols != train->cols || test->channels != train->channels)
        return rd_fail(e, RD_EXIT_DATA, "%s: data.test_file: %s: samples of [%u, %u, %u], but data.train_file's are "
                       "[%u, %u, %u]", c->data.test_file, xn, test->rows, test->cols, test->channels, train->rows,
                       train->cols, train->channels);
    uint32_t K = c->data.classes > 0 ? (uint32_t)c->data.classes
                                     : (train->classes > test->classes ? train->classes : test->classes);
    const rd_hdf5_source *src[2] = {&tr, &te};
    const rd_dataset *sets[2] = {train, test};
    for (int i = 0; i < 2 && !rc; i++) {
        snprintf(yn, sizeof yn, "%s%s%s", one_file ? (i ? "/test" : "/train") : "", c->data.labels[0] == '/' ? "" : "/",
                 c->data.labels);
        rc = rd_data_check_classes(sets[i], K, src[i]->path, src[i]->key, yn, e);
    }
    train->classes = test->classes = K;
    return rc;
}

int rd_load_datasets(const rd_config *c, rd_dataset *train, rd_dataset *test, rd_error *e)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (c->data.format == RD_DATA_SYNTHETIC) {
        const long f = c->data.synthetic.features, k = c->data.synthetic.classes;
        rd_data_synthetic(train, (uint32_t)c->data.synthetic.train, (uint32_t)f, (uint32_t)k, c->run.seed, 0);
        rd_data_synthetic(test, (uint32_t)c->data.synthetic.test, (uint32_t)f, (uint32_t)k, c->run.seed, 1);
        return 0;
    }
    int rc = 0;
    const char *train_name = c->data.train_images;
    if (c->data.format == RD_DATA_HDF5) {
        train_name = c->data.train_file;
        rc = load_hdf5_sets(c, train, test, e);
    } else {
        /* Errors name the file and its config key: "PATH: data.train_images: what is wrong". */
        rc = rd_data_load_idx_keys(train, c->data.train_images, "data.train_images", c->data.train_labels,
                                   "data.train_labels", e);
        if (!rc) rc = rd_data_load_idx_keys(test, c->data.test_images, "data.test_images", c->data.test_labels,
                                            "data.test_labels", e);
        if (!rc && test->features != train->features)
            rc = rd_fail(e, RD_EXIT_DATA, "%s: data.test_images: %u values per sample, but %s (data.train_images) has %u",
                         c->data.test_images, test->features, c->data.train_images, train->features);
    }
    /* The input width is known now: the model's size limit with the real first layer. */
    if (!rc) rc = rd_config_check_model_size(c, (long)train->features, train_name, e);
    if (!rc) {
        int sh[3];
        rd_data_shape(train, sh);
        rc = rd_config_check_shapes(c, sh[0], sh[1], sh[2], 0, train_name, NULL, e);
    }
    if (rc) {
        rd_data_free(train);
        rd_data_free(test);
    }
    return rc;
}

void rd_data_shape(const rd_dataset *ds, int shape[3])
{
    const uint32_t C = ds->channels ? ds->channels : 1;
    const bool image = (uint64_t)ds->rows * ds->cols * C == ds->features;
    shape[0] = image ? (int)ds->rows : 1;
    shape[1] = image ? (int)ds->cols : 1;
    shape[2] = image ? (int)C : (int)ds->features;
}

int rd_model_create_for(rd_model *m, const rd_config *c, const rd_dataset *ds, int max_rows, rd_error *e)
{
    int sh[3];
    rd_data_shape(ds, sh);
    return rd_model_create_hwc(m, c, sh[0], sh[1], sh[2], max_rows, e);
}

/* ---- evaluation ---- */

void rd_evaluate(rd_model *m, const rd_dataset *ds, const uint32_t *ids, uint32_t n,
                 const rd_dist *d, float *xbuf, int32_t *ybuf, rd_eval_result *r)
{
    memset(r, 0, sizeof *r);
    const int K = m->output_dim, chunk = m->max_rows;
    r->classes = K;
    r->class_correct = rd_calloc((size_t)K, sizeof *r->class_correct);
    r->class_total = rd_calloc((size_t)K, sizeof *r->class_total);
    uint32_t lo = (uint32_t)((uint64_t)d->rank * n / (uint64_t)d->size);
    uint32_t hi = (uint32_t)((uint64_t)(d->rank + 1) * n / (uint64_t)d->size);
    for (uint32_t i = lo; i < hi; i += (uint32_t)chunk) {
        int rows = (int)(hi - i < (uint32_t)chunk ? hi - i : (uint32_t)chunk);
        uint32_t next = i + (uint32_t)rows;
        if (ds->stream && next < hi) {   /* read the next chunk while this one is evaluated */
            rd_data_prefetch(ds, ids + i, (uint32_t)rows);
            rd_data_prefetch(ds, ids + next, hi - next < (uint32_t)chunk ? hi - next : (uint32_t)chunk);
        }
        rd_data_gather(ds, ids + i, (uint32_t)rows, xbuf, ybuf);
        const float *logits = rd_model_forward(m, xbuf, rows, false);
        for (int k = 0; k < rows; k++) {
            rd_loss_sums s;
            rd_rdrop_loss(logits + (size_t)k * K, 1, K, 1, ybuf + k, 0.0, 1.0, NULL, &s);
            r->loss_sum += s.loss;
            r->correct += s.correct;
            int y = ybuf[k];
            if (y >= 0 && y < K) {
                r->class_total[y]++;
                r->class_correct[y] += s.correct;
            }
        }
        r->samples += rows;
    }
    /* Reduce every count in one call (doubles hold counts exactly up to 2^53). */
    double *v = rd_malloc((size_t)(3 + 2 * (size_t)K) * sizeof *v);
    v[0] = r->loss_sum;
    v[1] = (double)r->correct;
    v[2] = (double)r->samples;
    for (int k = 0; k < K; k++) {
        v[3 + k] = (double)r->class_correct[k];
        v[3 + K + k] = (double)r->class_total[k];
    }
    rd_dist_allreduce_doubles(d, v, (size_t)(3 + 2 * (size_t)K));
    r->loss_sum = v[0];
    r->correct = (long)v[1];
    r->samples = (long)v[2];
    for (int k = 0; k < K; k++) {
        r->class_correct[k] = (long)v[3 + k];
        r->class_total[k] = (long)v[3 + K + k];
    }
    free(v);
}

void rd_eval_result_free(rd_eval_result *r)
{
    free(r->class_correct);
    free(r->class_total);
    r->class_correct = r->class_total = NULL;
}

/* ---- the trainer ---- */

/* dist.overlap auto: after RD_AUTO_WARMUP steps, RD_AUTO_STEPS steps with overlap on and as
 * many off, alternating (on first), timed on every rank (docs/scale.md). */
#define RD_AUTO_WARMUP 5
#define RD_AUTO_STEPS 6

typedef struct {
    const rd_config *c;
    rd_dist *d;
    rd_train_opts opts;
    rd_dataset train, test;
    uint32_t n_train, n_val;
    uint32_t *train_ids, *val_ids, *test_ids, *perm;
    int64_t perm_epoch;
    uint32_t *perm_next;        /* data.load: stream: the next epoch's permutation, for prefetching */
    int64_t perm_next_epoch;
    rd_model m;
    int B_g, B_l, lo;           /* global batch, this rank's share, its offset in the batch */
    int passes;
    rd_step step;               /* the step's buffers and bucketed allreduce */
    float *x;                   /* = step.x, step.y: also the evaluation buffers */
    int32_t *y;
    int64_t spe, total_steps;   /* steps per epoch, steps of the whole run */
    rd_train_state st;
    rd_buf metrics;
    char run_dir[RD_PATH_MAX];
    int lock_fd;
    int64_t last_ckpt_step;
    /* clocks (wall time only, never part of the state) */
    double t_start, t_interval, t_last_ckpt, compute_s, comm_s, step_time_sum;
    int64_t steps_this_process;
    double last_test_acc, last_val_acc;
    double last_probe_kl;       /* < 0: not measured (no dropout) */
    float *probe_logits;        /* [max_rows x classes]: the probe's first pass */
    char mpi_version[160];
    double blas_gflops;        /* the probe of blas_check */
    double blas_check_s;       /* what the check and the probe took */
    bool blas_reported;        /* the kernel fields went into this process's first train row */
    char *config_yaml;
    struct {                    /* dist.overlap auto (docs/scale.md): the trial of this process */
        int64_t seen;           /* trial steps done */
        double on[RD_AUTO_STEPS], off[RD_AUTO_STEPS];
        bool decided;
        char choice[160];       /* "auto: on 12.3 ms, off 13.4 ms per step -> off" */
    } autov;
    rd_timeline tl;             /* run.timeline */
    rd_progress prog;           /* rank 0's live line or plain progress lines */
    bool evaluated;             /* an evaluation ran in this process */
} trainer;

static double now_wall(void) { return rd_now(); }

/* The BLAS kernel's provenance (status.json, the first train row of a process). */
static void add_blas_fields(json_t *o, double gflops)
{
    rd_json_set(o, "blas_core", rd_json_str(rd_blas_corename()));
    rd_json_set(o, "blas_core_origin", rd_json_str(rd_blas_origin()));
    rd_json_set(o, "blas_gflop_per_s", json_real(round(gflops * 10.0) / 10.0));
}

/* ---- run folder (rank 0) ---- */

static int mkdir_p(const char *path, rd_error *e)
{
    char tmp[RD_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return rd_fail(e, RD_EXIT_WRITE, "%s: cannot create folder: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return rd_fail(e, RD_EXIT_WRITE, "%s: cannot create folder: %s", tmp, strerror(errno));
    return 0;
}

static int write_text_file(const char *dir, const char *name, const char *text, size_t len, rd_error *e)
{
    char path[RD_PATH_MAX + 64], tmp[RD_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rd_fail(e, RD_EXIT_WRITE, "%s: cannot write: %s", path, strerror(errno));
    size_t w = fwrite(text, 1, len, f);
    int bad = (w != len) | (fflush(f) != 0);
    int err = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp);
        return rd_fail(e, RD_EXIT_WRITE, "%s: cannot write: %s", path, strerror(err ? err : EIO));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return rd_fail(e, RD_EXIT_WRITE, "%s: cannot write: %s", path, strerror(errno));
    }
    return 0;
}

static void write_status(trainer *T, const char *state, int code)
{
    if (T->d->rank != 0) return;
    json_t *o = json_object();
    rd_json_set(o, "status", json_string(state));
    rd_json_set(o, "step", json_integer(T->st.step));
    rd_json_set(o, "epoch", json_integer(T->st.epoch));
    rd_json_set(o, "exit_code", json_integer(code));
    rd_json_set(o, "host", rd_json_str(T->d->host));
    rd_json_set(o, "pid", json_integer(getpid()));
    rd_json_set(o, "run", rd_json_str(T->run_dir));
    add_blas_fields(o, T->blas_gflops);
    char *text = rd_json_text_digits(o, 9);
    json_decref(o);
    rd_buf b = {0};
    rd_buf_printf(&b, "%s\n", text);
    rd_error e;
    write_text_file(T->run_dir, "status.json", b.p, b.len, &e);
    rd_buf_free(&b);
    free(text);
}

static bool is_run_file(const char *name)
{
    return !strcmp(name, "metrics.jsonl") || !strcmp(name, "config.yaml") || !strcmp(name, "status.json") ||
           !strcmp(name, "best.h5") || (!strncmp(name, "ckpt-", 5) && strstr(name, ".h5"));
}

/* Move a previous run's files to RUN/previous-<k>/ (nothing deleted); remove stale temp files. */
static int tidy_run_folder(trainer *T, bool resuming, rd_error *e)
{
    DIR *dir = opendir(T->run_dir);
    if (!dir) return rd_fail(e, RD_EXIT_WRITE, "%s: cannot open folder: %s", T->run_dir, strerror(errno));
    char names[256][256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (nm[0] == '.' && len > 4 && !strcmp(nm + len - 4, ".tmp")) {
            char p[RD_PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", T->run_dir, nm);
            if (unlink(p) == 0) rd_notice(T->d, "removed stale temporary file %s", p);
            continue;
        }
        if (!resuming && is_run_file(nm) && n < 256) snprintf(names[n++], sizeof names[0], "%s", nm);
    }
    closedir(dir);
    if (n == 0) return 0;
    char prev[RD_PATH_MAX + 64];
    for (int k = 1;; k++) {
        snprintf(prev, sizeof prev, "%s/previous-%d", T->run_dir, k);
        if (mkdir(prev, 0777) == 0) break;
        if (errno != EEXIST) return rd_fail(e, RD_EXIT_WRITE, "%s: cannot create folder: %s", prev, strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        char from[RD_PATH_MAX + 300], to[RD_PATH_MAX + 400];
        snprintf(from, sizeof from, "%s/%s", T->run_dir, names[i]);
        snprintf(to, sizeof to, "%s/%s", prev, names[i]);
        if (rename(from, to) != 0)
            return rd_fail(e, RD_EXIT_WRITE, "%s: cannot move to %s: %s", from, prev, strerror(errno));
    }
    rd_notice(T->d, "%s held a previous run: moved its %d files to %s (use --resume auto to continue a run)",
              T->run_dir, n, prev);
    return 0;
}

static int lock_run_folder(trainer *T, rd_error *e)
{
    char path[RD_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/.lock", T->run_dir);
    int fd = open(path, O_RDWR | O_CREAT, 0666);
    if (fd < 0) return rd_fail(e, RD_EXIT_WRITE, "%s: cannot open: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[256] = "";
        ssize_t r = pread(fd, holder, sizeof holder - 1, 0);
        holder[r > 0 ? r : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        return rd_fail(e, RD_EXIT_INTERNAL, "%s: another trainer holds this run folder (%s)", T->run_dir,
                       holder[0] ? holder : "unknown holder");
    }
    char me[256];
    int n = snprintf(me, sizeof me, "host %s pid %ld\n", T->d->host, (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, me, (size_t)n, 0) < 0) { /* informative only */ }
    T->lock_fd = fd;
    return 0;
}

/* ---- metrics ---- */

/* One metrics.jsonl row: reals at 9 significant digits (what the rows always had). */
static void append_metrics(trainer *T, json_t *row)
{
    char *text = rd_json_text_digits(row, 9);
    json_decref(row);
    if (T->d->rank != 0) { free(text); return; }
    rd_buf_printf(&T->metrics, "%s\n", text);
    char path[RD_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", T->run_dir);
    FILE *f = fopen(path, "ab");
    if (!f) {
        rd_warn(T->d, "%s: cannot append: %s", path, strerror(errno));
    } else {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    free(text);
}

static int64_t epoch_display(const trainer *T)
{
    /* The epoch a step belongs to, 1-based: step s (completed) is in epoch ceil(s/spe). */
    return T->st.step == 0 ? 0 : (T->st.step + T->spe - 1) / T->spe;
}

static void train_row(trainer *T)
{
    rd_train_state *s = &T->st;
    if (s->sum_samples <= 0) return;
    double now = now_wall();
    double wall = now - T->t_interval;
    double loss = s->sum_loss / s->sum_samples, ce = s->sum_ce / s->sum_samples;
    double kl = s->sum_kl / s->sum_samples, acc = s->sum_correct / s->sum_samples;
    double sps = wall > 0 ? s->sum_samples / wall : 0.0;
    double per_step = T->steps_this_process > 0 ? T->step_time_sum / (double)T->steps_this_process : 0.0;
    double eta = per_step * (double)(T->total_steps - s->step);
    json_t *row = json_object();
    rd_json_set(row, "kind", json_string("train"));
    rd_json_set(row, "epoch", json_integer(epoch_display(T)));
    rd_json_set(row, "step", json_integer(s->step));
    rd_json_set(row, "loss", json_real(loss));
    rd_json_set(row, "ce", json_real(ce));
    rd_json_set(row, "kl", json_real(kl));
    rd_json_set(row, "acc", json_real(acc));
    rd_json_set(row, "lr", json_real(s->lr));
    rd_json_set(row, "samples", json_integer((json_int_t)s->sum_samples));
    rd_json_set(row, "time_s", json_real(round((now - T->t_start) * 1e3) / 1e3));
    rd_json_set(row, "samples_per_s", json_real(round(sps * 10.0) / 10.0));
    rd_json_set(row, "compute_s", json_real(round(T->compute_s * 1e3) / 1e3));
    rd_json_set(row, "comm_exposed_s", json_real(round(T->comm_s * 1e3) / 1e3));
    rd_json_set(row, "eta_s", json_real(round(eta * 10.0) / 10.0));
    if (!T->blas_reported) {   /* provenance of the speed figures: once per process */
        add_blas_fields(row, T->blas_gflops);
        rd_json_set(row, "blas_check_s", json_real(round(T->blas_check_s * 1e3) / 1e3));
        T->blas_reported = true;
    }
    append_metrics(T, row);
    if (T->d->rank == 0) {
        rd_progress_clear(&T->prog);
        char el[32], et[32];
        rd_format_duration(el, sizeof el, now - T->t_start);
        rd_format_duration(et, sizeof et, eta);
        double busy = T->compute_s + T->comm_s;
        printf("epoch %3lld/%lld  step %7lld  loss %.4f (ce %.4f kl %.4f)  acc %.4f",
               (long long)epoch_display(T), (long long)T->c->training.epochs, (long long)s->step,
               loss, ce, kl, acc);
        if (T->last_val_acc >= 0) printf("  val %.4f", T->last_val_acc);
        if (T->last_test_acc >= 0) printf("  test %.4f", T->last_test_acc);
        if (T->last_probe_kl >= 0) printf("  probe kl %.4f", T->last_probe_kl);
        printf("  lr %.4g  %.0f samples/s  compute %.0f%% comm %.0f%%  elapsed %s  ETA %s\n",
               s->lr, sps, busy > 0 ? 100.0 * T->compute_s / wall : 0.0,
               busy > 0 ? 100.0 * T->comm_s / wall : 0.0, el, et);
        fflush(stdout);
    }
    s->sum_loss = s->sum_ce = s->sum_kl = s->sum_correct = s->sum_samples = 0.0;
    s->sum_steps = 0;
    T->compute_s = T->comm_s = 0.0;
    T->t_interval = now;
}

/* The first training samples the probe measures (all of them when fewer). */
#define RD_PROBE_SAMPLES 256u

static bool has_dropout(const rd_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == RD_LAYER_DROPOUT && m->layers[i].rate > 0.0) return true;
    return false;
}

/* The pass-to-pass KL (docs/rdrop-strength.md "Probe KL"): the mean symmetric KL between two
 * dropout passes over the first RD_PROBE_SAMPLES training samples (no augmentation), measured
 * without gradients whatever rdrop.passes and alpha are. The masks are keyed by sample as in
 * rng.dropout_stream sample, with the two "epochs" 2^32-1 and 2^32-2 that training never
 * reaches: the same masks at every evaluation, any world size, any chunking. It writes only
 * buffers that the next step overwrites (masks, activations, the batch buffer), draws from no
 * stream state, so the training trajectory is unchanged. */
static double probe_kl(trainer *T)
{
    rd_model *m = &T->m;
    const uint32_t n = T->n_train < RD_PROBE_SAMPLES ? T->n_train : RD_PROBE_SAMPLES;
    const uint32_t lo = (uint32_t)((uint64_t)T->d->rank * n / (uint64_t)T->d->size);
    const uint32_t hi = (uint32_t)((uint64_t)(T->d->rank + 1) * n / (uint64_t)T->d->size);
    const int K = m->output_dim, chunk = m->max_rows;
    double v[2] = {0.0, 0.0};
    for (uint32_t i = lo; i < hi; i += (uint32_t)chunk) {
        int rows = (int)(hi - i < (uint32_t)chunk ? hi - i : (uint32_t)chunk);
        const uint32_t *ids = T->train_ids + i;
        rd_data_gather(&T->train, ids, (uint32_t)rows, T->x, T->y);
        rd_model_masks_sample(m, rows, 1, ids, T->c->run.seed, UINT32_MAX);
        const float *l1 = rd_model_forward(m, T->x, rows, true);
        memcpy(T->probe_logits, l1, (size_t)rows * K * sizeof(float));
        rd_model_masks_sample(m, rows, 1, ids, T->c->run.seed, UINT32_MAX - 1);
        const float *l2 = rd_model_forward(m, T->x, rows, true);
        for (int k = 0; k < rows; k++)
            v[0] += rd_symmetric_kl(T->probe_logits + (size_t)k * K, l2 + (size_t)k * K, K);
        v[1] += rows;
    }
    rd_dist_allreduce_doubles(T->d, v, 2);
    return v[1] > 0 ? v[0] / v[1] : -1.0;
}

static double eval_split(trainer *T, const char *split, const uint32_t *ids, uint32_t n)
{
    rd_eval_result r;
    double t0 = now_wall();
    rd_progress_phase(&T->prog, !T->evaluated, t0, "evaluating on %s (%u samples)", split, n);
    T->evaluated = true;
    rd_evaluate(&T->m, !strcmp(split, "test") ? &T->test : &T->train,
                ids, n, T->d, T->x, T->y, &r);
    double acc = r.samples ? (double)r.correct / (double)r.samples : 0.0;
    double loss = r.samples ? r.loss_sum / (double)r.samples : 0.0;
    json_t *row = json_object();
    rd_json_set(row, "kind", json_string("eval"));
    rd_json_set(row, "split", json_string(split));
    rd_json_set(row, "epoch", json_integer(epoch_display(T)));
    rd_json_set(row, "step", json_integer(T->st.step));
    rd_json_set(row, "loss", json_real(loss));
    rd_json_set(row, "acc", json_real(acc));
    rd_json_set(row, "samples", json_integer(r.samples));
    if (!strcmp(split, "test") && T->probe_logits) {
        T->last_probe_kl = probe_kl(T);
        if (T->last_probe_kl >= 0) rd_json_set(row, "probe_kl", json_real(T->last_probe_kl));
    }
    rd_json_set(row, "time_s", json_real(round((now_wall() - t0) * 1e3) / 1e3));
    append_metrics(T, row);
    rd_eval_result_free(&r);
    return acc;
}

/* ---- checkpoints ---- */

static int save_checkpoint(trainer *T, const char *name)
{
    rd_error e = {0};
    /* Ranks must hold bitwise equal weights: compare a CRC of the parameter buffer. */
    uint32_t crc = rd_crc32(0, T->m.params, T->m.n_params * sizeof(float)), mn, mx;
    rd_dist_minmax_u32(T->d, crc, &mn, &mx);
    if (mn != mx) {
        rd_fail(&e, RD_EXIT_INTERNAL, "%s: internal error: weights differ across ranks at step %lld "
                "(CRC-32 0x%08x vs 0x%08x)", T->run_dir, (long long)T->st.step, mn, mx);
        return rd_agree(T->d, T->d->rank == 0 ? RD_EXIT_INTERNAL : 0, &e);
    }
    int rc = 0;
    if (T->d->rank == 0) {
        char path[RD_PATH_MAX + 64];
        if (name) snprintf(path, sizeof path, "%s/%s", T->run_dir, name);
        else rd_ckpt_name(path, sizeof path, T->run_dir, T->st.step);
        T->st.position = (uint64_t)(T->st.step % T->spe) * (uint64_t)T->B_g;
        T->st.epoch = T->st.step / T->spe;
        T->st.metrics = T->metrics.p;
        T->st.metrics_len = T->metrics.len;
        char core[64];
        snprintf(core, sizeof core, "%s", openblas_get_corename());
        rd_ckpt_meta meta = {
            .world_size = T->d->size, .config_yaml = T->config_yaml, .git = RDROP_GIT,
            .build_flags = RDROP_BUILD_FLAGS, .mpi_version = T->mpi_version, .blas_core = core,
            .blas_core_origin = rd_blas_origin(), .blas_gflops = T->blas_gflops,
            .blas_threads = T->c->run.blas_threads, .bucket_mb = T->c->dist.bucket_mb,
            .overlap = T->step.overlap,
            .overlap_choice = T->c->dist.overlap != RD_OVERLAP_AUTO ? NULL
                            : T->autov.decided ? T->autov.choice : "auto: undecided (trial not finished)",
        };
        double t0 = now_wall();
        const char *base = strrchr(path, '/');
        rd_progress_phase(&T->prog, false, t0, "writing checkpoint %s", base ? base + 1 : path);
        rd_hdf5_lock();   /* a streaming I/O thread may be reading (libhdf5 is not thread-safe) */
        rc = rd_ckpt_write(path, &T->m, T->c, &T->st, &meta, &e);
        rd_hdf5_unlock();
        if (rc == 0 && !name) {
            T->last_ckpt_step = T->st.step;
            rd_ckpt_prune(T->run_dir, T->c->checkpoint.keep, T->c->checkpoint.keep_every_epochs, T->spe);
            rd_notice(T->d, "checkpoint %s (step %lld, %.2fs; weights CRC-32 0x%08x equal on all %d ranks)", path,
                      (long long)T->st.step, now_wall() - t0, crc, T->d->size);
        }
    }
    T->t_last_ckpt = now_wall();
    return rd_agree(T->d, rc, &e);
}

/* ---- one step ---- */

/* data.load: stream: make sure this step's rows are queued, queue the next step's (the
 * I/O thread reads them while this step computes; at an epoch end from the next epoch's
 * permutation) and wait for this step's. Returns a read error (0 otherwise). */
static int prefetch_batches(trainer *T, const uint32_t *idx, int64_t epoch, int64_t pos, rd_error *e)
{
    if (!T->train.stream) return 0;
    rd_data_prefetch(&T->train, idx, (uint32_t)T->B_l);
    if (T->st.step + 1 < T->total_steps) {
        const uint32_t *next;
        if (pos + 1 < T->spe) {
            next = T->perm + (size_t)(pos + 1) * T->B_g + T->lo;
        } else {
            if (T->perm_next_epoch != epoch + 1) {
                rd_epoch_permutation(T->perm_next, T->train_ids, T->n_train, T->c->run.seed, (uint32_t)(epoch + 1),
                                     T->c->data.shuffle);
                T->perm_next_epoch = epoch + 1;
            }
            next = T->perm_next + T->lo;
        }
        rd_data_prefetch(&T->train, next, (uint32_t)T->B_l);
    }
    return rd_data_fetch(&T->train, idx, (uint32_t)T->B_l, e);
}

typedef struct { bool stop, ckpt_now, stop_clock; } step_flags;

/* dist.overlap auto: which setting this step runs with (both give the same bits). */
static void overlap_before_step(trainer *T)
{
    if (T->c->dist.overlap != RD_OVERLAP_AUTO || T->autov.decided) return;
    int64_t i = T->autov.seen - RD_AUTO_WARMUP;
    T->step.overlap = i < 0 || i % 2 == 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Record this step's time; after the trial, every rank's medians are summed over the ranks
 * (one allreduce: the same bits everywhere, so every rank reaches the same verdict). */
static void overlap_after_step(trainer *T, double seconds)
{
    if (T->c->dist.overlap != RD_OVERLAP_AUTO || T->autov.decided) return;
    if (T->d->size == 1) {
        T->autov.decided = true;
        snprintf(T->autov.choice, sizeof T->autov.choice, "auto: one rank, nothing to overlap");
        return;
    }
    int64_t i = T->autov.seen++ - RD_AUTO_WARMUP;
    if (i < 0) return;
    if (i % 2 == 0) T->autov.on[i / 2] = seconds;
    else T->autov.off[i / 2] = seconds;
    if (i + 1 < 2 * RD_AUTO_STEPS) return;
    double v[2] = {median(T->autov.on, RD_AUTO_STEPS), median(T->autov.off, RD_AUTO_STEPS)};
    rd_dist_allreduce_doubles(T->d, v, 2);
    const double on_ms = 1e3 * v[0] / T->d->size, off_ms = 1e3 * v[1] / T->d->size;
    T->step.overlap = on_ms <= off_ms;
    T->autov.decided = true;
    snprintf(T->autov.choice, sizeof T->autov.choice, "auto: on %.3f ms, off %.3f ms per step -> %s",
             on_ms, off_ms, T->step.overlap ? "on" : "off");
    rd_notice(T->d, "dist.overlap %s (medians of %d steps each after %d warm-up steps, mean over %d ranks)",
              T->autov.choice, RD_AUTO_STEPS, RD_AUTO_WARMUP, T->d->size);
}

static int train_step(trainer *T, step_flags *fl)
{
    const rd_config *c = T->c;
    rd_train_state *s = &T->st;
    const uint64_t t = (uint64_t)s->step;
    const int64_t epoch = s->step / T->spe, pos = s->step % T->spe;
    rd_step_timing tm = {0};

    if (T->perm_epoch != epoch) {
        if (T->perm_next && T->perm_next_epoch == epoch) {
            uint32_t *p = T->perm;
            T->perm = T->perm_next;
            T->perm_next = p;
            T->perm_next_epoch = -1;
        } else {
            rd_epoch_permutation(T->perm, T->train_ids, T->n_train, c->run.seed, (uint32_t)epoch, c->data.shuffle);
        }
        T->perm_epoch = epoch;
    }
    const uint32_t *idx = T->perm + (size_t)pos * T->B_g + T->lo;
    rd_error data_err = {0};
    int data_rc = prefetch_batches(T, idx, epoch, pos, &data_err);

    float *ctl = rd_step_control(&T->step);
    ctl[RD_CTL_STOP] = stop_requested ? 1.0f : 0.0f;
    ctl[RD_CTL_CLOCK] = RD_CLOCK_NONE;
    if (T->d->rank == 0) {
        double elapsed = now_wall() - T->t_start;
        if (c->training.max_seconds > 0 && elapsed >= c->training.max_seconds) ctl[RD_CTL_CLOCK] = RD_CLOCK_STOP;
        else if (c->checkpoint.every_seconds > 0 && now_wall() - T->t_last_ckpt >= c->checkpoint.every_seconds)
            ctl[RD_CTL_CLOCK] = RD_CLOCK_CHECKPOINT;
    }
    overlap_before_step(T);
    rd_step_compute(&T->step, &T->train, idx, T->B_l, t, (uint32_t)epoch, &tm);

    /* the loss flag first; the gradient is checked inside the update's sweep, which leaves the
     * model partly updated when it finds a NaN/Inf: discarded, as the run stops here */
    double lr = rd_schedule_lr(c, t, (uint64_t)T->total_steps);
    bool loss_ok = rd_step_finite(&T->step, &tm);
    if (!loss_ok || !rd_step_update(&T->step, lr, &tm)) {
        if (data_rc) {   /* this rank's batch could not be read: its NaN rows stopped every rank */
            rd_print_error(T->d, data_err.msg);
            return data_rc;
        }
        rd_error e;
        char last[64];
        if (T->last_ckpt_step >= 0) snprintf(last, sizeof last, "ckpt-%09lld.h5", (long long)T->last_ckpt_step);
        rd_fail(&e, RD_EXIT_NONFINITE,
                "%s: non-finite %s at step %lld (epoch %lld): update skipped, nothing written; %s%s "
                "(try a lower optimizer.lr)",
                T->run_dir, !loss_ok ? "loss" : "gradient", (long long)s->step + 1, (long long)epoch + 1,
                T->last_ckpt_step >= 0 ? "resume point: " : "no checkpoint written yet",
                T->last_ckpt_step >= 0 ? last : "");
        if (T->d->rank == 0) rd_print_error(T->d, e.msg);
        return RD_EXIT_NONFINITE;
    }

    overlap_after_step(T, tm.total);
    s->step++;
    s->lr = lr;
    s->sum_loss += ctl[RD_CTL_LOSS];
    s->sum_ce += ctl[RD_CTL_CE];
    s->sum_kl += ctl[RD_CTL_KL];
    s->sum_correct += ctl[RD_CTL_CORRECT];
    s->sum_samples += ctl[RD_CTL_SAMPLES];
    s->sum_steps++;
    fl->stop = ctl[RD_CTL_STOP] > 0.0f;
    fl->ckpt_now = ctl[RD_CTL_CLOCK] >= RD_CLOCK_CHECKPOINT;
    fl->stop_clock = ctl[RD_CTL_CLOCK] >= RD_CLOCK_STOP;
    T->comm_s += tm.comm;
    T->compute_s += tm.total - tm.comm;
    T->step_time_sum += tm.total;
    T->steps_this_process++;
    return 0;
}

/* ---- setup ---- */

int rd_split_make(rd_split *s, const rd_config *c, uint32_t n, const char *name, rd_error *e)
{
    memset(s, 0, sizeof *s);
    if (c->data.validation < 0 || (uint64_t)c->data.validation >= n)
        return rd_fail(e, RD_EXIT_CONFIG, "%s: data.validation: %ld held-out samples leave none to train on "
                       "(the training set has %u)", name, c->data.validation, n);
    s->n_val = (uint32_t)c->data.validation;
    s->n_train = n - s->n_val;
    if (c->data.train_samples > 0) {
        if ((uint64_t)c->data.train_samples > s->n_train)
            return rd_fail(e, RD_EXIT_CONFIG, "%s: data.train_samples: %ld is more than the %u training samples "
                           "left after data.validation (%ld held out)", name, c->data.train_samples, s->n_train,
                           c->data.validation);
        s->n_train = (uint32_t)c->data.train_samples;
    }
    s->val_ids = rd_malloc((size_t)(s->n_val ? s->n_val : 1) * sizeof(uint32_t));
    s->train_ids = rd_malloc((size_t)s->n_train * sizeof(uint32_t));
    rd_data_split(n, s->n_val, s->n_train, c->run.seed, s->val_ids, s->train_ids);
    return 0;
}

void rd_split_free(rd_split *s)
{
    free(s->train_ids);
    free(s->val_ids);
    memset(s, 0, sizeof *s);
}

static int setup_data(trainer *T, rd_error *e)
{
    const rd_config *c = T->c;
    rd_progress_phase(&T->prog, true, now_wall(), "loading and checking the training and test data");
    int rc = rd_load_datasets(c, &T->train, &T->test, e);
    if (rc) return rc;
    const char *data_name = c->data.format == RD_DATA_HDF5 ? c->data.train_file : c->data.train_images;
    if ((c->data.augment.flip || c->data.augment.shift > 0) && T->train.rows == 1 && T->train.cols == 1)
        return rd_fail(e, RD_EXIT_CONFIG, "%s: data.augment: mirrors and shifts images, but X is flat [N, %u] "
                       "(store images as [N, H, W] or [N, H, W, C])", data_name, T->train.features);
    rd_split sp;
    rc = rd_split_make(&sp, c, T->train.n, data_name, e);
    if (rc) return rc;
    T->n_val = sp.n_val;
    T->n_train = sp.n_train;
    T->val_ids = sp.val_ids;
    T->train_ids = sp.train_ids;
    T->perm = rd_malloc((size_t)T->n_train * sizeof(uint32_t));
    if (T->train.stream) T->perm_next = rd_malloc((size_t)T->n_train * sizeof(uint32_t));
    T->perm_next_epoch = -1;
    T->st.n_train = T->n_train;                                 /* saved in /data */
    T->st.n_validation = T->n_val;
    T->st.validation_indices = T->n_val ? T->val_ids : NULL;
    T->test_ids = rd_malloc((size_t)T->test.n * sizeof(uint32_t));
    for (uint32_t i = 0; i < T->test.n; i++) T->test_ids[i] = i;
    if ((uint64_t)c->data.batch_size > T->n_train)
        return rd_fail(e, RD_EXIT_CONFIG, "%s: data.batch_size: %ld is larger than the %u training samples",
                       data_name, c->data.batch_size, T->n_train);
    return 0;
}

static int setup_model(trainer *T, rd_error *e)
{
    const rd_config *c = T->c;
    const int N = T->d->size, r = T->d->rank;
    T->B_g = (int)c->data.batch_size;
    if (T->B_g < N)
        return rd_fail(e, RD_EXIT_CONFIG, "data.batch_size: the global batch %d is smaller than the %d ranks",
                       T->B_g, N);
    T->lo = (int)((int64_t)r * T->B_g / N);
    T->B_l = (int)((int64_t)(r + 1) * T->B_g / N) - T->lo;
    T->passes = c->rdrop.passes;
    int B_max = (T->B_g + N - 1) / N;
    rd_progress_phase(&T->prog, false, now_wall(), "building the model and the step's buffers");
    const int k = (int)c->training.accumulate;
    if (k > T->B_g / N)
        return rd_fail(e, RD_EXIT_CONFIG, "training.accumulate: %d micro-batches per step, but each of the %d ranks "
                       "gets only %d samples of data.batch_size %d", k, N, T->B_g / N, T->B_g);
    int rc = rd_model_create_for(&T->m, c, &T->train, T->passes * ((B_max + k - 1) / k), e);
    if (rc) return rc;
    if ((uint32_t)T->m.output_dim != T->train.classes)
        return rd_fail(e, RD_EXIT_CONFIG, "model.layers: the last dense layer has %d units but the data has %u classes",
                       T->m.output_dim, T->train.classes);
    rd_step_create(&T->step, &T->m, c, T->d, B_max);
    T->x = T->step.x;
    T->y = T->step.y;
    T->spe = T->n_train / T->B_g;
    T->total_steps = T->spe * c->training.epochs;
    T->step.steps_per_epoch = T->spe;
    if (has_dropout(&T->m)) T->probe_logits = rd_malloc((size_t)T->m.max_rows * T->m.output_dim * sizeof(float));
    if (c->training.max_steps > 0 && c->training.max_steps < T->total_steps) T->total_steps = c->training.max_steps;
    rd_progress_plan(&T->prog, T->spe, T->total_steps, T->B_g, c->training.log_every_steps);
    return 0;
}

/* The kernel in use computes one of the step's GEMM shapes correctly (8 rows of the layer
 * with the most FLOPs, against a plain loop) and how fast (<= 0.1 s on that whole shape);
 * ranks on different kernels are reported (docs/ARCHITECTURE.md "The BLAS kernel"). */
static int blas_check(trainer *T, rd_error *e)
{
    int rows = T->passes * T->B_l, best = -1;
    double most = 0.0;
    for (int i = 0; i < T->m.n_layers; i++) {
        const rd_layer *L = &T->m.layers[i];
        if (!rd_layer_has_params(L)) continue;
        double f = (double)rd_layer_gemm_m(L, rows) * L->k_rows * L->k_cols;
        if (f > most) { most = f; best = i; }
    }
    if (best < 0) return 0;
    const rd_layer *L = &T->m.layers[best];
    const int M = rd_layer_gemm_m(L, rows);
    double t0 = now_wall();
    int rc = rd_blas_verify(M < 8 ? M : 8, L->k_cols, L->k_rows, e);
    if (rc) return rc;
    T->blas_gflops = rd_blas_gflops(M, L->k_cols, L->k_rows, 0.1);
    T->blas_check_s = now_wall() - t0;
    uint32_t crc = rd_crc32(0, rd_blas_corename(), strlen(rd_blas_corename())), mn, mx;
    rd_dist_minmax_u32(T->d, crc, &mn, &mx);
    if (mn != mx && T->d->rank == 0)
        rd_print_error(T->d, "warning: the ranks of this job run different OpenBLAS kernels (rank 0: "
                       "set run.blas_core to one kernel name for equal speed)");
    return 0;
}

/* A changed setting that the resume may accept: with --allow-config-change a warning, else an
 * error naming it (docs/ARCHITECTURE.md, "Resume"). */
static int fixed_setting_changed(trainer *T, const char *what, const char *path, rd_error *e)
{
    if (T->opts.allow_config_change) {
        rd_warn(T->d, "warning: %s changed since the checkpoint (--allow-config-change): "
                "the trajectory is no longer the original's", what);
        return 0;
    }
    return rd_fail(e, RD_EXIT_CONFIG, "%s: %s differs from the checkpoint's config; "
                   "pass --allow-config-change to resume anyway", path, what);
}

/* Compare the checkpoint's config with the new one, section by section, as structs. */
static int check_resume_config(trainer *T, const rd_ckpt_info *info, const char *path, rd_error *e)
{
    rd_config *old = rd_malloc(sizeof *old);
    rd_error pe;
    int rc = 0;
    if (rd_config_load_text(old, info->config_yaml, strlen(info->config_yaml), path, 0, NULL, &pe) != 0)
        rc = rd_fail(e, RD_EXIT_CHECKPOINT, "%s: the stored config does not load: %s", path, pe.msg);
    /* data.load changes only how X reaches memory, never a value: free to change. */
    if (!rc && old->data.load != T->c->data.load)
        rd_notice(T->d, "resume: data.load changed since the checkpoint; the trajectory is unchanged");
    old->data.load = T->c->data.load;
    if (!rc && !rd_config_section_equal(old, T->c, "model")) {
        char *la = rd_config_layers_json(old), *lb = rd_config_layers_json(T->c);
        rc = rd_fail(e, RD_EXIT_CHECKPOINT, "%s: architecture mismatch: the checkpoint has model.layers %s, "
                     "the config wants %s", path, la, lb);
        free(la);
        free(lb);
    }
    static const char *free_sections[] = {"training", "checkpoint", "dist"};
    static const char *fixed_sections[] = {"rdrop", "optimizer", "schedule", "data", "rng"};
    for (size_t i = 0; !rc && i < sizeof free_sections / sizeof *free_sections; i++)
        if (!rd_config_section_equal(old, T->c, free_sections[i]))
            rd_notice(T->d, "resume: %s.* changed since the checkpoint; using the new values", free_sections[i]);
    for (size_t i = 0; !rc && i < sizeof fixed_sections / sizeof *fixed_sections; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s.*", fixed_sections[i]);
        if (!rd_config_section_equal(old, T->c, fixed_sections[i])) rc = fixed_setting_changed(T, what, path, e);
    }
    if (!rc && (old->dist.compress != T->c->dist.compress || old->training.accumulate != T->c->training.accumulate ||
                old->dist.hierarchical != T->c->dist.hierarchical))
        rd_warn(T->d, "warning: bitwise continuation not guaranteed: %s changed since the checkpoint",
                old->dist.compress != T->c->dist.compress ? "dist.compress"
                : old->dist.hierarchical != T->c->dist.hierarchical ? "dist.hierarchical" : "training.accumulate");
    if (!rc && old->run.seed != T->c->run.seed) rc = fixed_setting_changed(T, "run.seed", path, e);
    free(old);
    return rc;
}

/* Rank 0: the checkpoint to resume from per --resume ("" = none in the folder: start fresh). */
static int pick_checkpoint(trainer *T, char *path, size_t cap, rd_error *e)
{
    int rc = 0;
    if (!strcmp(T->opts.resume, "auto")) {
        rd_ckpt_entry *list = NULL;
        char *bad = NULL;
        int n = rd_ckpt_list(T->run_dir, &list, &bad);
        if (bad && *bad) {
            char *line = bad;
            while (line && *line) {
                char *nl = strchr(line, '\n');
                if (nl) *nl = '\0';
                rd_warn(T->d, "resume: skipped %s", line);
                line = nl ? nl + 1 : NULL;
            }
        }
        if (n > 0) snprintf(path, cap, "%s", list[0].path);
        else if (bad && *bad)
            rc = rd_fail(e, RD_EXIT_CHECKPOINT, "%s: no checkpoint verifies (see the lines above)", T->run_dir);
        rd_ckpt_list_free(list, n);
        free(bad);
    } else {
        snprintf(path, cap, "%s", T->opts.resume);
    }
    return rc;
}

/* Rank 0: say what changed since the checkpoint that decides the bits of the continuation. */
static void report_resume_changes(trainer *T, const rd_ckpt_info *info)
{
    char now_core[64];
    snprintf(now_core, sizeof now_core, "%s", openblas_get_corename());
    const char *changed = info->world_size != T->d->size ? "world size"
                        : info->blas_threads != T->c->run.blas_threads ? "run.blas_threads"
                        : strcmp(info->blas_core, now_core) ? "OpenBLAS core type"
                        : info->bucket_mb != T->c->dist.bucket_mb ? "dist.bucket_mb"
                        : T->c->dist.overlap != RD_OVERLAP_AUTO &&
                          (info->overlap != 0) != (T->c->dist.overlap == RD_OVERLAP_ON) ? "dist.overlap"
                        : strcmp(info->mpi_version, T->mpi_version) ? "MPI version" : NULL;
    if (info->world_size != T->d->size) {
        if (T->c->rng.dropout_stream == RD_STREAM_RANK)
            rd_warn(T->d, "warning: elastic resume: the checkpoint was written by %d ranks, this run has %d; "
                      "with rng.dropout_stream: rank the trajectory differs from a %d-rank run",
                      info->world_size, T->d->size, info->world_size);
        else
            rd_notice(T->d, "elastic resume: %d ranks -> %d; rng.dropout_stream: sample draws the same masks, "
                      "only the floating-point summation order differs", info->world_size, T->d->size);
    } else if (changed) {
        rd_warn(T->d, "warning: bitwise continuation not guaranteed: %s changed", changed);
    }
}

/* Every rank: the checkpoint's split must be this config's. */
static int check_resumed_split(trainer *T, const rd_train_state *s, const char *path, rd_error *e)
{
    int rc = 0;
    if (s->n_validation != T->n_val)
        rc = rd_fail(e, RD_EXIT_CHECKPOINT, "%s: the checkpoint holds out %u validation samples, the config %u",
                     path, s->n_validation, T->n_val);
    else if (s->n_train != 0 && s->n_train != T->n_train)   /* 0: written before train_samples existed */
        rc = rd_fail(e, RD_EXIT_CHECKPOINT, "%s: the checkpoint trains on %u samples, the config on %u "
                     "(data.train_samples)", path, s->n_train, T->n_train);
    return rc ? rd_agree(T->d, T->d->rank == 0 ? rc : 0, e) : 0;
}

/* Rank 0 picks and reads the checkpoint; every rank receives the weights, the momentum and the
 * state (the field table of checkpoint.c). Returns 0, an error, or -1 for "nothing to resume
 * from: start fresh". */
static int resume(trainer *T, rd_error *e)
{
    char path[RD_PATH_MAX + 64] = "";
    rd_ckpt_info info;
    memset(&info, 0, sizeof info);
    int rc = 0;
    if (T->d->rank == 0) {
        rd_hdf5_lock();   /* checkpoint reads while a streaming I/O thread may run */
        rc = pick_checkpoint(T, path, sizeof path, e);
        if (!rc && path[0]) rc = rd_ckpt_read_info(path, &info, e);
        if (!rc && path[0]) rc = check_resume_config(T, &info, path, e);
        if (!rc && path[0]) rc = rd_ckpt_read_params(path, &T->m, true, e);
        rd_hdf5_unlock();
    }
    rc = rd_agree(T->d, rc, e);
    int have = path[0] != '\0';
    if (!rc) rd_dist_bcast(T->d, &have, sizeof have, 0);
    if (rc || !have) {
        rd_ckpt_info_free(&info);
        if (!rc) rd_notice(T->d, "resume: no checkpoint in %s; starting a new run", T->run_dir);
        return rc ? rc : -1;
    }
    uint64_t slots[RD_STATE_SLOTS] = {0};
    if (T->d->rank == 0) {
        rd_train_state_pack(&info.state, slots);
        rd_buf_free(&T->metrics);
        rd_buf_append(&T->metrics, info.state.metrics ? info.state.metrics : "", info.state.metrics_len);
        rd_notice(T->d, "resuming from %s (step %lld, epoch %lld)", path, (long long)info.state.step,
                  (long long)info.state.epoch);
        report_resume_changes(T, &info);
    }
    rd_ckpt_info_free(&info);
    rd_dist_bcast(T->d, slots, sizeof slots, 0);
    rd_train_state s = T->st;
    rd_train_state_unpack(&s, slots);
    rc = check_resumed_split(T, &s, path, e);
    if (rc) return rc;
    rd_dist_bcast(T->d, T->m.params, T->m.n_params * sizeof(float), 0);
    rd_dist_bcast(T->d, T->m.momentum, T->m.n_params * sizeof(float), 0);
    s.n_train = T->n_train;   /* equal, or 0 from a file older than the attribute */
    T->st = s;
    T->last_ckpt_step = s.step;
    return 0;
}

/* run.timeline: every rank's events to rank 0, which writes the merged trace (collective;
 * once). A write failure is a warning: the training goes on. */
static void timeline_flush(trainer *T)
{
    if (!T->step.tl || T->tl.written || T->tl.steps_done == 0) return;
    T->tl.written = true;
    size_t *counts = rd_calloc((size_t)T->d->size, sizeof *counts);
    rd_tl_event *all = rd_dist_gather_bytes(T->d, T->tl.ev, T->tl.n * sizeof *T->tl.ev, counts);
    if (T->d->rank == 0) {
        char names[RD_MAX_LAYERS][24];
        const char *np[RD_MAX_LAYERS];
        for (int i = 0; i < T->m.n_layers; i++) {
            static const char *const kinds[] = {"dense", "dropout", "conv2d", "max_pool"};
            const unsigned k = (unsigned)T->m.layers[i].kind;
            snprintf(names[i], sizeof names[i], "%s_%d", k < 4 ? kinds[k] : "layer", i);
            np[i] = names[i];
        }
        for (int r = 0; r < T->d->size; r++) counts[r] /= sizeof(rd_tl_event);
        rd_error e;
        if (rd_timeline_write(T->c->run.timeline, all, counts, T->d->size, np, T->m.n_layers, &e))
            rd_warn(T->d, "warning: %s", e.msg);
        else
            rd_notice(T->d, "timeline of %ld steps on %d ranks: %s (chrome://tracing or ui.perfetto.dev)",
                      T->tl.steps_done, T->d->size, T->c->run.timeline);
    }
    free(all);
    free(counts);
}

static void trainer_free(trainer *T)
{
    rd_timeline_free(&T->tl);
    rd_step_free(&T->step);
    rd_model_free(&T->m);
    rd_data_free(&T->train);
    rd_data_free(&T->test);
    free(T->train_ids);
    free(T->val_ids);
    free(T->test_ids);
    free(T->perm);
    free(T->probe_logits);
    free(T->perm_next);
    free(T->config_yaml);
    rd_buf_free(&T->metrics);
    if (T->lock_fd > 0) close(T->lock_fd);
    rd_progress_clear(&T->prog);
    rd_progress_set_current(NULL);
}

static void print_settings(trainer *T)
{
    if (T->d->rank != 0) return;
    const rd_config *c = T->c;
    rd_progress_clear(&T->prog);
    printf("rdrop %s  ranks %d  BLAS threads/rank %d (%s)  %s\n", RDROP_VERSION, T->d->size,
           c->run.blas_threads, openblas_get_corename(), T->mpi_version);
    printf("blas      OpenBLAS %s, kernel %s (%s), %.1f GF/s\n", rd_blas_version(), rd_blas_corename(),
           rd_blas_origin(), T->blas_gflops);
    if (rd_blas_warning()[0]) printf("%s\n", rd_blas_warning());
    rd_buf table = {0};
    rd_model_summary(&T->m, "          ", &table);
    printf("model     %d inputs -> %d outputs, %zu parameters:\n%s", T->m.input_dim, T->m.output_dim,
           T->m.n_params, table.p);
    rd_buf_free(&table);
    printf("r-drop    passes %d  alpha %g (kl_reduction %s: %g in mean terms; ramp-up %g epochs)  reduction %s  "
           "dropout stream %s\n", c->rdrop.passes, c->rdrop.alpha, c->rdrop.kl_reduction == RD_REDUCE_MEAN ? "mean" : "sum",
           rd_step_alpha(c, T->B_g, UINT64_MAX >> 1, 0), c->rdrop.alpha_rampup_epochs,
           c->rdrop.reduction == RD_REDUCE_MEAN ? "mean" : "sum", c->rng.dropout_stream == RD_STREAM_RANK ? "rank" : "sample");
    printf("sgd       lr %g  momentum %g%s  weight decay %g%s  schedule %s\n", c->optimizer.lr, c->optimizer.momentum,
           c->optimizer.nesterov ? " (nesterov)" : "", c->optimizer.weight_decay,
           c->optimizer.weight_decay == 0.0 ? "" : c->optimizer.decay_biases ? " (kernels and biases)" : " (kernels)",
           rd_sched_name(c->schedule.kind));
    printf("data      %u train (%u held out for validation), %u test, global batch %d (%d per rank), "
           "%lld steps/epoch, %lld steps\n", T->n_train, T->n_val, T->test.n, T->B_g, T->B_l,
           (long long)T->spe, (long long)T->total_steps);
    static const char *const compress[] = {"none", "bf16", "fp16"}, *const overlap[] = {"off", "on", "auto"};
    printf("dist      compress %s  overlap %s  bucket %g MB  accumulate %ld micro-batches/step  allreduce ",
           compress[c->dist.compress], overlap[c->dist.overlap], c->dist.bucket_mb, c->training.accumulate);
    if (c->dist.hierarchical) printf("hierarchical (%d nodes)\n", T->step.nodes);
    else printf("flat\n");
    printf("run       %s\n", T->run_dir);
    fflush(stdout);
}

/* ---- the run: setup, the step loop and its policies ---- */

static void warn_oversubscribed(const rd_dist *d, int threads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (d->local_rank != 0 || (long)d->local_size * threads <= cores) return;
    char msg[256];
    snprintf(msg, sizeof msg, "warning: %d rank%s x %d BLAS thread%s on %s exceed its %ld cores (slower, not wrong)",
             d->local_size, d->local_size == 1 ? "" : "s", threads, threads == 1 ? "" : "s", d->host, cores);
    rd_print_error(d, msg);
}

static void trainer_init(trainer *T, const rd_config *c, const rd_train_opts *o, rd_dist *d)
{
    memset(T, 0, sizeof *T);
    T->c = c;
    T->d = d;
    T->opts = *o;
    T->perm_epoch = -1;
    T->last_test_acc = T->last_val_acc = T->last_probe_kl = -1.0;
    T->st.best_val_acc = -1.0;
    T->st.best_step = -1;
    T->st.patience_left = c->training.patience;
    T->last_ckpt_step = -1;
    T->t_start = T->t_interval = T->t_last_ckpt = now_wall();
    snprintf(T->run_dir, sizeof T->run_dir, "%s", c->run.out);
    rd_progress_init(&T->prog, d->rank != 0 ? RD_PROGRESS_OFF
                     : rd_progress_stdout_is_terminal() ? RD_PROGRESS_LIVE : RD_PROGRESS_PLAIN, stdout);
    rd_progress_set_current(&T->prog);
    rd_dist_mpi_version(T->mpi_version, sizeof T->mpi_version);
    T->config_yaml = rd_config_to_yaml(c);
    openblas_set_num_threads(c->run.blas_threads);
    warn_oversubscribed(d, c->run.blas_threads);
}

/* Rank 0 alone creates, locks and tidies the folder; every rank joins the agreement, so a
 * failure there (held by another trainer, not creatable) is printed and no rank waits. */
static int prepare_run_folder(trainer *T, rd_error *e)
{
    int rc = 0;
    if (T->d->rank == 0) {
        rc = mkdir_p(T->run_dir, e);
        if (!rc) rc = lock_run_folder(T, e);
        if (!rc) rc = tidy_run_folder(T, T->opts.resume != NULL, e);
    }
    return rd_agree(T->d, rc, e);
}

/* Resume, or rank 0 initialises and broadcasts (docs/ARCHITECTURE.md, "Distribution protocol"). */
static int start_weights(trainer *T, bool *resumed, rd_error *e)
{
    *resumed = false;
    if (T->opts.resume) {
        int r = resume(T, e);
        if (r > 0) return r;
        *resumed = r == 0;
    }
    if (!*resumed) {
        if (T->d->rank == 0) rd_model_init_params(&T->m, T->c->model.init, T->c->run.seed);
        rd_dist_bcast(T->d, T->m.params, T->m.n_params * sizeof(float), 0);
    }
    return 0;
}

/* config.yaml and metrics.jsonl (the checkpoint's rows on a resume); a failure is reported,
 * not fatal: the checkpoints are what a run must write. */
static void write_run_files(trainer *T)
{
    if (T->d->rank != 0) return;
    rd_error e;
    int rc = write_text_file(T->run_dir, "config.yaml", T->config_yaml, strlen(T->config_yaml), &e);
    if (!rc) rc = write_text_file(T->run_dir, "metrics.jsonl", T->metrics.p ? T->metrics.p : "", T->metrics.len, &e);
    if (rc) rd_print_error(T->d, e.msg);
}

static bool log_due(const trainer *T, bool epoch_end)
{
    const long every = T->c->training.log_every_steps;
    return !epoch_end && every > 0 && T->st.step % every == 0;
}

static bool eval_due(const trainer *T, int64_t epoch)
{
    const long every = T->c->training.eval_every_epochs;
    return (every > 0 && epoch % every == 0) || T->st.step >= T->total_steps;
}

static bool checkpoint_due(const trainer *T, const step_flags *fl, bool epoch_end, bool early_stop)
{
    const rd_config *c = T->c;
    const int64_t s = T->st.step;
    return (c->checkpoint.every_steps > 0 && s % c->checkpoint.every_steps == 0) ||
           (epoch_end && c->checkpoint.every_epochs > 0 && (s / T->spe) % c->checkpoint.every_epochs == 0) ||
           fl->ckpt_now || fl->stop || s >= T->total_steps || early_stop;
}

/* After an evaluation with a validation set: keep best.h5, count down the patience. */
static int track_best(trainer *T, int64_t epoch, bool *early_stop)
{
    rd_train_state *s = &T->st;
    const long patience = T->c->training.patience;
    if (T->last_val_acc > s->best_val_acc) {
        s->best_val_acc = T->last_val_acc;
        s->best_step = s->step;
        s->patience_left = patience;
        return save_checkpoint(T, "best.h5");
    }
    if (patience > 0 && --s->patience_left <= 0) {
        *early_stop = true;
        rd_notice(T->d, "early stopping at epoch %lld: validation accuracy has not improved for %ld evaluations "
                  "(best %.4f at step %lld)", (long long)epoch, patience, s->best_val_acc, (long long)s->best_step);
    }
    return 0;
}

static int end_of_epoch(trainer *T, bool *early_stop)
{
    const int64_t epoch = T->st.step / T->spe;
    const bool due = eval_due(T, epoch);
    if (due) {
        if (T->n_val) T->last_val_acc = eval_split(T, "val", T->val_ids, T->n_val);
        T->last_test_acc = eval_split(T, "test", T->test_ids, T->test.n);
    }
    train_row(T);
    return T->n_val && due ? track_best(T, epoch, early_stop) : 0;
}

static int stop_on_request(trainer *T, const step_flags *fl, bool epoch_end)
{
    if (!epoch_end) train_row(T);
    rd_notice(T->d, "stopped at step %lld on %s; continue with --resume auto", (long long)T->st.step,
              fl->stop ? "request (signal)" : "training.max_seconds");
    write_status(T, "stopped", RD_EXIT_STOPPED);
    return RD_EXIT_STOPPED;
}

/* The loop: step, then log, evaluate, checkpoint, stop. Returns 0 or the exit code. */
/* run.timeline: a common time origin (a barrier), the event buffer, the step records. */
static void start_timeline(trainer *T)
{
    if (!T->c->run.timeline[0]) return;
    rd_dist_barrier(T->d);
    size_t per_step = (size_t)T->c->training.accumulate * (7 + 2 * (size_t)T->m.n_layers) +
                      (size_t)rd_allreduce_buckets(T->step.ar) + 8;
    rd_timeline_init(&T->tl, T->c->run.timeline_steps, per_step, rd_now());
    T->step.tl = &T->tl;
}

static int run_steps(trainer *T)
{
    while (T->st.step < T->total_steps) {
        step_flags fl = {0};
        bool early_stop = false;
        int rc = train_step(T, &fl);
        if (!rc && T->tl.steps_max && T->tl.steps_done == T->tl.steps_max) timeline_flush(T);
        if (!rc) rd_progress_step(&T->prog, T->st.step, now_wall());
        const bool epoch_end = T->st.step % T->spe == 0;
        if (!rc && log_due(T, epoch_end)) train_row(T);
        if (!rc && epoch_end) rc = end_of_epoch(T, &early_stop);
        if (!rc && checkpoint_due(T, &fl, epoch_end, early_stop)) rc = save_checkpoint(T, NULL);
        if (rc) {
            write_status(T, "failed", rc);
            return rc;
        }
        if (fl.stop || fl.stop_clock) return stop_on_request(T, &fl, epoch_end);
        if (early_stop) break;
    }
    return 0;
}

/* The last partial epoch's test accuracy, status "finished" and the summary lines. */
static void finish(trainer *T)
{
    if (T->st.step % T->spe != 0) {
        T->last_test_acc = eval_split(T, "test", T->test_ids, T->test.n);
        train_row(T);
    }
    write_status(T, "finished", 0);
    if (T->d->rank != 0) return;
    char el[32], path[RD_PATH_MAX + 64];
    rd_progress_clear(&T->prog);
    rd_format_duration(el, sizeof el, now_wall() - T->t_start);
    printf("final test accuracy %.4f after %lld steps (%s)\n", T->last_test_acc, (long long)T->st.step, el);
    if (T->n_val && T->st.best_step >= 0)
        printf("best validation accuracy %.4f at step %lld: %s/best.h5\n", T->st.best_val_acc,
               (long long)T->st.best_step, T->run_dir);
    rd_ckpt_name(path, sizeof path, T->run_dir, T->st.step);
    printf("checkpoint %s\nmetrics    %s/metrics.jsonl\n", path, T->run_dir);
    fflush(stdout);
}

int rd_train_run(const rd_config *c, const rd_train_opts *o, rd_dist *d)
{
    trainer T;
    trainer_init(&T, c, o, d);
    rd_error e = {0};
    bool resumed = false;
    int rc = rd_agree(d, setup_data(&T, &e), &e);
    if (!rc) rc = rd_agree(d, setup_model(&T, &e), &e);
    if (!rc) rc = rd_agree(d, blas_check(&T, &e), &e);
    if (!rc) rc = prepare_run_folder(&T, &e);
    if (!rc) rc = start_weights(&T, &resumed, &e);
    if (!rc) write_run_files(&T);
    if (!rc && resumed && T.st.step >= T.total_steps) {
        rd_notice(d, "already complete: step %lld of %lld", (long long)T.st.step, (long long)T.total_steps);
        write_status(&T, "finished", 0);
    } else if (!rc) {
        print_settings(&T);
        write_status(&T, "running", 0);
        start_timeline(&T);
        rc = run_steps(&T);
        if (!rc || rc == RD_EXIT_STOPPED) timeline_flush(&T);
        if (!rc) finish(&T);
    }
    trainer_free(&T);
    return rc;
}
