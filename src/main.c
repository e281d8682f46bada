/* main.c - the rdrop command line: train, eval, inspect, config. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "doctor.h"
#include "json.h"
#include "log.h"
#include "summary.h"
#include "train.h"

#define MAX_SETS 256

/* main's argv, untouched by MPI, for the BLAS kernel restart (src/blas.h). */
static char **g_argv;

static const char *USAGE =
    "usage: rdrop <command> [options]\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train (alone, or under mpirun / srun --mpi=pmix)\n"
    "  eval             evaluate a checkpoint on the test (or train/val) set\n"
    "  inspect FILE     show a checkpoint's metadata, state and layers\n"
    "  config CONFIG    print the resolved config and check it\n"
    "  convert          IDX files -> one HDF5 data file (groups /train and /test)\n"
    "  data FILE        list an HDF5 file's datasets: shapes, dtypes, min/max, class counts\n"
    "  doctor [CONFIG]  measure this machine, network and run folder; predict the step time\n"
    "  version          print the version\n"
    "\n"
    "'rdrop <command> --help' describes a command. Exit codes: 0 done, 1 internal/MPI/lock,\n"
    "2 usage/config, 3 data, 4 checkpoint, 5 write failure, 6 non-finite loss, 75 stopped\n"
    "(continue with --resume auto).\n";

static const char *TRAIN_HELP =
    "usage: rdrop train CONFIG [--set KEY=VALUE]... [--out DIR] [--resume auto|FILE]\n"
    "                   [--allow-config-change]\n"
    "\n"
    "Train the model of CONFIG (YAML). Under mpirun -np N every rank takes its share of each\n"
    "global batch (data.batch_size); rank 0 prints progress and writes the run folder.\n"
    "\n"
    "  --set KEY=VALUE         override a config field, e.g. --set rdrop.alpha=0.5\n"
    "                          --set model.layers.1.units=512 (repeatable)\n"
    "  --out DIR               run folder (same as --set run.out=DIR)\n"
    "  --resume auto           continue from the newest checkpoint in the run folder that\n"
    "                          verifies (starts fresh if there is none)\n"
    "  --resume FILE           continue from this checkpoint\n"
    "  --allow-config-change   resume although optimizer/schedule/data/rdrop/rng settings changed\n"
    "\n"
    "SIGUSR1 (under mpirun), SIGTERM or SIGINT: checkpoint at the next step on every rank and\n"
    "exit 75. A second SIGINT kills.\n";

static const char *EVAL_HELP =
    "usage: rdrop eval --checkpoint FILE [--data test|train|val] [--json]\n"
    "\n"
    "Evaluate a checkpoint (one pass, dropout off): accuracy, mean cross-entropy, per-class\n"
    "accuracy. The data set paths come from the config stored in the checkpoint.\n"
    "\n"
    "  --checkpoint FILE   the checkpoint (.h5)\n"
    "  --data SPLIT        test (default), train, or val (the held-out validation samples)\n"
    "  --json              one JSON object on stdout: {\"accuracy\":..,\"loss\":..,\"samples\":..,...}\n";

static const char *INSPECT_HELP =
    "usage: rdrop inspect FILE\n"
    "\n"
    "Verify a checkpoint (length and CRC-32) and print its metadata, training state, layers\n"
    "and shapes, and the resolved config it was trained with.\n";

static const char *CONFIG_HELP =
    "usage: rdrop config CONFIG [--set KEY=VALUE]... [--out DIR]\n"
    "\n"
    "Print the resolved config (every key, absolute paths) and check it, including that the\n"
    "data files exist. Exit 0 when valid, 2 for a config error, 3 for a missing data file.\n";

static const char *CONVERT_HELP =
    "usage: rdrop convert --train-images F --train-labels F --test-images F --test-labels F\n"
    "                     --out FILE.h5 [--chunk ROWS] [--gzip LEVEL]\n"
    "\n"
    "Write the IDX files (plain or gzip'd) as one HDF5 file for data.format: hdf5: groups\n"
    "/train and /test, each with X uint8 [N,H,W] chunked by ROWS samples (default 64) and\n"
    "y int32 [N]. --gzip 1..9 compresses the chunks (smaller, slower to stream). Point\n"
    "data.train_file and data.test_file at the same FILE.h5 (docs/data.md).\n";

static const char *DATA_HELP =
    "usage: rdrop data FILE.h5\n"
    "\n"
    "List every dataset of an HDF5 file with its shape, dtype and chunking; min and max of\n"
    "numeric ones; class counts of 1-D integer ones (labels). Exit 3 if it cannot be read.\n";
static const char *DOCTOR_HELP =
    "usage: rdrop doctor [CONFIG [--set KEY=VALUE]... [--out DIR]]\n"
    "\n"
    "Measure before a long job (alone, or under mpirun / srun on the job's nodes): the OpenBLAS\n"
    "kernel against this CPU's class, sgemm GF/s against a peak estimate, ranks x BLAS threads\n"
    "against each node's cores and binding, allreduce time and bandwidth up to dist.bucket_mb and\n"
    "the slowest pair of nodes, the run folder's write+fsync speed and free space for\n"
    "checkpoint.keep checkpoints; with CONFIG, the predicted step and epoch time. One line per\n"
    "check ('ok' or 'problem'). Exit 0 all ok, 1 a problem found, 2 could not run.\n";

static int usage_error(const char *msg)
{
    fprintf(stderr, "rdrop: %s (see rdrop --help)\n", msg);
    return RD_EXIT_CONFIG;
}

typedef struct {
    const char *config;
    char *sets[MAX_SETS];
    int nsets;
    const char *out;
    const char *resume;
    bool allow_change;
} train_args;

/* Parse train/config arguments. Returns -1 to go on, else an exit code. */
static int parse_train_args(int argc, char **argv, train_args *a, const char *help, bool train)
{
    static const struct option opts[] = {
        {"set", required_argument, 0, 's'},    {"out", required_argument, 0, 'o'},
        {"resume", required_argument, 0, 'r'}, {"allow-config-change", no_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:o:r:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (a->nsets == MAX_SETS) return usage_error("too many --set options");
            a->sets[a->nsets++] = optarg;
            break;
        case 'o': a->out = optarg; break;
        case 'r':
            if (!train) return usage_error("--resume is an option of 'rdrop train'");
            a->resume = optarg;
            break;
        case 'a':
            if (!train) return usage_error("--allow-config-change is an option of 'rdrop train'");
            a->allow_change = true;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: {
            char msg[256];
            snprintf(msg, sizeof msg, "%s: unknown option or missing value: %s", argv[0], argv[optind - 1]);
            return usage_error(msg);
        }
        }
    }
    if (optind != argc - 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s: expected one CONFIG file argument", argv[0]);
        return usage_error(msg);
    }
    a->config = argv[optind];
    return -1;
}

/* Well-formed UTF-8 without control characters? The run folder's path is stored in the
 * resolved config (YAML), which holds only UTF-8 text. */
static int load_config(rd_config *c, const train_args *a, rd_error *e)
{
    int rc = rd_config_load(c, a->config, a->nsets, a->sets, e);
    if (rc) return rc;
    if (a->out) return rd_config_set_out(c, a->out, e);
    return 0;
}

/* run.blas_core of the config (auto when the config does not load: its error comes later),
 * then the kernel choice, which may re-execute rdrop: before MPI_Init. */
static void select_blas(const train_args *a)
{
    rd_config *c = rd_malloc(sizeof *c);
    rd_error e = {0};
    char mode[64] = "auto";
    if (!rd_config_load(c, a->config, a->nsets, a->sets, &e)) snprintf(mode, sizeof mode, "%s", c->run.blas_core);
    free(c);
    rd_blas_select(mode, a->config, g_argv);
}

static int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse_train_args(argc, argv, &a, TRAIN_HELP, true);
    if (rc >= 0) return rc;
    select_blas(&a);
    rd_dist d;
    rd_error e = {0};
    rc = rd_dist_init(&d, &argc, &argv, &e);
    if (rc) {
        rd_print_error(NULL, e.msg);
        rd_dist_finalize(&d);
        return rc;
    }
    rd_train_install_signals();
    rd_config *c = rd_malloc(sizeof *c);
    rc = rd_agree(&d, load_config(c, &a, &e), &e);
    if (!rc) {
        rd_train_opts o = {.resume = a.resume, .allow_config_change = a.allow_change};
        rc = rd_train_run(c, &o, &d);
    }
    free(c);
    rd_dist_finalize(&d);
    return rc;
}

static int cmd_doctor(int argc, char **argv)
{
    train_args a;
    memset(&a, 0, sizeof a);
    bool with_config = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(DOCTOR_HELP, stdout); return 0; }
        if (argv[i][0] != '-' && (i == 1 || (strcmp(argv[i - 1], "--set") && strcmp(argv[i - 1], "--out")))) with_config = true;
    }
    if (with_config) {
        int rc = parse_train_args(argc, argv, &a, DOCTOR_HELP, false);
        if (rc >= 0) return rc;
        select_blas(&a);
    } else {
        if (argc > 1) return usage_error("doctor: options need a CONFIG file argument");
        rd_blas_select("auto", NULL, g_argv);
    }
    rd_dist d;
    rd_error e = {0};
    int rc = rd_dist_init(&d, &argc, &argv, &e);
    if (rc) {
        rd_print_error(NULL, e.msg);
        rd_dist_finalize(&d);
        return 2;
    }
    rd_config *c = NULL;
    if (with_config) {
        c = rd_malloc(sizeof *c);
        rc = rd_agree(&d, load_config(c, &a, &e), &e);
    }
    if (!rc) rc = rd_doctor_run(c, &d);
    else rc = 2;
    free(c);
    rd_dist_finalize(&d);
    return rc;
}

static int cmd_config(int argc, char **argv)
{
    train_args a;
    int rc = parse_train_args(argc, argv, &a, CONFIG_HELP, false);
    if (rc >= 0) return rc;
    rd_config *c = rd_malloc(sizeof *c);
    rd_error e = {0};
    rc = load_config(c, &a, &e);
    if (!rc && c->data.format == RD_DATA_HDF5) {
        const char *paths[] = {c->data.train_file, c->data.test_file};
        const char *keys[] = {"data.train_file", "data.test_file"};
        for (int i = 0; i < 2 && !rc; i++)
            if (access(paths[i], R_OK) != 0)
                rc = rd_fail(&e, RD_EXIT_DATA, "%s: %s: cannot read (missing or not readable)", paths[i], keys[i]);
    }
    if (!rc && c->data.format == RD_DATA_IDX) {
        const char *paths[] = {c->data.train_images, c->data.train_labels, c->data.test_images, c->data.test_labels};
        const char *keys[] = {"data.train_images", "data.train_labels", "data.test_images", "data.test_labels"};
        for (int i = 0; i < 4 && !rc; i++)
            if (access(paths[i], R_OK) != 0)
                rc = rd_fail(&e, RD_EXIT_DATA, "%s: %s: cannot read (%s)", paths[i], keys[i],
                             "missing or not readable; run datasets/fashion-mnist.sh");
    }
    if (rc) {
        rd_print_error(NULL, e.msg);
    } else {
        char *y = rd_config_to_yaml(c);
        fputs(y, stdout);
        free(y);
    }
    free(c);
    return rc;
}

/* Build the model a checkpoint describes and load its weights. */
static int load_checkpoint_model(const char *path, rd_ckpt_info *info, rd_config *c, rd_model *m,
                                 const rd_dataset *ds, int max_rows, rd_error *e)
{
    int rc = rd_config_load_text(c, info->config_yaml, strlen(info->config_yaml), path, 0, NULL, e);
    if (rc) return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: the stored config does not load: %s", path, e->msg);
    rc = rd_model_create_for(m, c, ds, max_rows, e);
    if (rc) return rd_fail(e, RD_EXIT_CHECKPOINT, "%s: %s", path, e->msg);
    return rd_ckpt_read_params(path, m, false, e);
}

static void print_eval(const char *path, const char *split, const rd_eval_result *r, int K, bool json)
{
    double acc = r->samples ? (double)r->correct / (double)r->samples : 0.0;
    double loss = r->samples ? r->loss_sum / (double)r->samples : 0.0;
    if (json) {
        json_t *o = json_object(), *pc = json_array();
        rd_json_set(o, "checkpoint", rd_json_str(path));
        rd_json_set(o, "data", json_string(split));
        rd_json_set(o, "accuracy", json_real(acc));
        rd_json_set(o, "loss", json_real(loss));
        rd_json_set(o, "samples", json_integer(r->samples));
        rd_json_set(o, "correct", json_integer(r->correct));
        for (int k = 0; k < K && k < r->classes; k++)
            json_array_append_new(pc, json_real(r->class_total[k] ? (double)r->class_correct[k] / (double)r->class_total[k] : 0.0));
        rd_json_set(o, "per_class_accuracy", pc);
        char *text = rd_json_text(o);
        printf("%s\n", text);
        free(text);
        json_decref(o);
        return;
    }
    printf("checkpoint  %s\ndata        %s (%ld samples)\naccuracy    %.4f (%ld correct)\nloss        %.4f (mean cross-entropy)\n",
           path, split, r->samples, acc, r->correct, loss);
    printf("per class  ");
    for (int k = 0; k < K && k < r->classes; k++)
        printf(" %d:%.3f", k, r->class_total[k] ? (double)r->class_correct[k] / (double)r->class_total[k] : 0.0);
    printf("\n");
}

/* eval's options; -1 = go on, else the exit code (help, usage error). */
static int parse_eval_args(int argc, char **argv, const char **path, const char **split, bool *json)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"data", required_argument, 0, 'd'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:d:jh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': *path = optarg; break;
        case 'd': *split = optarg; break;
        case 'j': *json = true; break;
        case 'h': fputs(EVAL_HELP, stdout); return 0;
        default: return usage_error("eval: unknown option or missing value");
        }
    }
    if (optind < argc && !*path) *path = argv[optind++];
    if (!*path) return usage_error("eval: --checkpoint FILE is required");
    if (optind != argc) return usage_error("eval: unexpected argument");
    if (strcmp(*split, "test") && strcmp(*split, "train") && strcmp(*split, "val"))
        return usage_error("eval: --data must be test, train or val");
    return -1;
}

/* The ids of `split` (test: all of the test set; train / val: the run's split). */
static int eval_ids(const rd_config *c, uint32_t n_train_set, uint32_t n_test, const char *split,
                    const char *path, uint32_t **ids, uint32_t *n, rd_error *e)
{
    if (!strcmp(split, "test")) {
        *ids = rd_malloc((size_t)(n_test ? n_test : 1) * sizeof **ids);
        for (uint32_t i = 0; i < n_test; i++) (*ids)[i] = i;
        *n = n_test;
        return 0;
    }
    rd_split sp;
    int rc = rd_split_make(&sp, c, n_train_set, path, e);
    if (rc) return rc;
    bool val = !strcmp(split, "val");
    if (val && sp.n_val == 0) {
        rd_split_free(&sp);
        return rd_fail(e, RD_EXIT_CONFIG, "%s: --data val: this run has no validation split (data.validation is 0)", path);
    }
    *n = val ? sp.n_val : sp.n_train;
    *ids = val ? sp.val_ids : sp.train_ids;
    free(val ? sp.train_ids : sp.val_ids);
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *split = "test";
    bool json = false;
    int rc = parse_eval_args(argc, argv, &path, &split, &json);
    if (rc >= 0) return rc;
    rd_dist d;
    rd_blas_select("auto", NULL, g_argv);
    rd_dist_init_serial(&d);
    rd_error e = {0};
    rd_ckpt_info info;
    memset(&info, 0, sizeof info);
    rd_config *c = rd_calloc(1, sizeof *c);
    rd_model m;
    memset(&m, 0, sizeof m);
    rd_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    uint32_t *ids = NULL, n = 0;
    rc = rd_ckpt_read_info(path, &info, &e);
    if (!rc) rc = rd_config_load_text(c, info.config_yaml, strlen(info.config_yaml), path, 0, NULL, &e) ? RD_EXIT_CHECKPOINT : 0;
    if (!rc) rc = rd_load_datasets(c, &train, &test, &e);
    if (!rc) {
        rd_hdf5_lock();   /* the data sets' I/O threads (data.load: stream) exist from here */
        rc = load_checkpoint_model(path, &info, c, &m, &train, 512, &e);
        rd_hdf5_unlock();
    }
    if (!rc) rc = eval_ids(c, train.n, test.n, split, path, &ids, &n, &e);
    if (!rc) {
        float *x = rd_malloc((size_t)512 * m.input_dim * sizeof *x);
        int32_t *y = rd_malloc(512 * sizeof *y);
        rd_eval_result r;
        rd_evaluate(&m, !strcmp(split, "test") ? &test : &train, ids, n, &d, x, y, &r);
        print_eval(path, split, &r, m.output_dim, json);
        rd_eval_result_free(&r);
        free(x);
        free(y);
    }
    if (rc) rd_print_error(NULL, e.msg);
    free(ids);
    rd_model_free(&m);
    rd_data_free(&train);
    rd_data_free(&test);
    rd_ckpt_info_free(&info);
    free(c);
    return rc;
}

/* The [H, W, C] of the architecture's {"type":"input","output_shape":[H,W,C]} entry, if any. */
static void input_shape(const char *architecture, int in[3])
{
    json_t *arch = architecture ? json_loads(architecture, 0, NULL) : NULL;
    size_t i;
    json_t *layer;
    json_array_foreach(arch, i, layer) {
        const char *type = json_string_value(json_object_get(layer, "type"));
        json_t *shape = json_object_get(layer, "output_shape");
        if (!type || strcmp(type, "input") || json_array_size(shape) != 3) continue;
        for (size_t k = 0; k < 3; k++) in[k] = (int)json_integer_value(json_array_get(shape, k));
        break;
    }
    json_decref(arch);
}

/* The layers as a table (the model rebuilt from the stored config on the architecture's "input"
 * shape for files with conv2d layers, else [1, 1, dense_0 in]); the JSON if that fails. */
static void print_layers(const rd_ckpt_info *info, const char *path)
{
    rd_config *c = rd_malloc(sizeof *c);
    rd_model m;
    rd_error e;
    rd_buf table = {0};
    int in[3] = {1, 1, info->n_dense > 0 ? info->dense[0].in : 1};
    input_shape(info->architecture, in);
    if (info->n_dense > 0 &&
        rd_config_load_text(c, info->config_yaml, strlen(info->config_yaml), path, 0, NULL, &e) == 0 &&
        rd_model_create_hwc(&m, c, in[0], in[1], in[2], 1, &e) == 0) {
        rd_model_summary(&m, "  ", &table);
        rd_model_free(&m);
    }
    if (table.p) printf("layers\n%s", table.p);
    else printf("layers        %s\n", info->architecture);
    rd_buf_free(&table);
    free(c);
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') { fputs(INSPECT_HELP, stdout); return 0; }
        return usage_error("inspect: unknown option");
    }
    if (optind != argc - 1) return usage_error("inspect: expected one checkpoint FILE");
    const char *path = argv[optind];
    rd_error e = {0};
    rd_ckpt_info info;
    memset(&info, 0, sizeof info);
    int rc = rd_ckpt_read_info(path, &info, &e);
    if (rc) {
        rd_print_error(NULL, e.msg);
        return rc;
    }
    const rd_train_state *s = &info.state;
    printf("file          %s\n", path);
    printf("integrity     ok (length and CRC-32 verified; HDF5 datasets Fletcher32-checked on read)\n");
    printf("format        rdrop-checkpoint v%d, written by rdrop %s (git %s) at %s\n", info.format_version,
           info.rdrop_version, info.git, info.created);
    printf("step          %lld (epoch %lld, %llu samples into the next epoch)\n", (long long)info.step,
           (long long)info.epoch, (unsigned long long)s->position);
    printf("world size    %d ranks; seed %llu; dropout stream %s (rng v%d)\n", info.world_size,
           (unsigned long long)info.seed, info.dropout_stream, info.rng_version);
    printf("lr            %.6g (last step)\n", info.lr);
    printf("provenance    %s; OpenBLAS %s x %d threads; bucket %g MB; overlap %s\n", info.mpi_version,
           info.blas_core, info.blas_threads, info.bucket_mb, info.overlap ? "on" : "off");
    if (info.blas_core_origin[0])
        printf("blas          kernel %s (%s), %.1f GF/s at start\n", info.blas_core, info.blas_core_origin,
               info.blas_gflops);
    if (s->best_step >= 0)
        printf("best val      %.4f at step %lld (patience left %lld)\n", s->best_val_acc, (long long)s->best_step,
               (long long)s->patience_left);
    printf("validation    %u held-out samples\n", s->n_validation);
    if (s->n_train) printf("train         %u samples\n", s->n_train);
    size_t rows = 0;
    for (size_t i = 0; i < s->metrics_len; i++) rows += s->metrics[i] == '\n';
    printf("metrics       %zu rows\n", rows);
    print_layers(&info, path);
    size_t total = 0;
    for (int i = 0; i < info.n_dense; i++) {
        const rd_ckpt_dense *L = &info.dense[i];
        size_t n = (size_t)L->in * L->out + (size_t)L->out;
        total += n;
        if (L->rank == 4)
            printf("  %-11s kernel [%d x %d x %d x %d]  bias [%d]  %-10s max_norm %g  stride %dx%d %s  (%zu parameters)\n",
                   L->name, L->kdims[0], L->kdims[1], L->kdims[2], L->kdims[3], L->out, L->activation, L->max_norm,
                   L->stride[0], L->stride[1], L->padding, n);
        else
            printf("  %-11s kernel [%d x %d]  bias [%d]  %-10s max_norm %g  (%zu parameters)\n", L->name, L->in,
                   L->out, L->out, L->activation, L->max_norm, n);
    }
    printf("parameters    %zu (+ as many momentum values)\n", total);
    printf("config:\n");
    for (const char *p = info.config_yaml; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        printf("  %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
    rd_ckpt_info_free(&info);
    return 0;
}

static int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"train-images", required_argument, 0, 'a'}, {"train-labels", required_argument, 0, 'b'},
        {"test-images", required_argument, 0, 'c'},  {"test-labels", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},          {"chunk", required_argument, 0, 'k'},
        {"gzip", required_argument, 0, 'z'},         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *f[4] = {NULL, NULL, NULL, NULL}, *out = NULL;
    long chunk = 64, gzip = 0;
    char *end;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': case 'b': case 'c': case 'd': f[ch - 'a'] = optarg; break;
        case 'o': out = optarg; break;
        case 'k':
            chunk = strtol(optarg, &end, 10);
            if (*end || chunk < 1 || chunk > (1L << 24)) return usage_error("convert: --chunk must be 1..16777216 rows");
            break;
        case 'z':
            gzip = strtol(optarg, &end, 10);
            if (*end || gzip < 0 || gzip > 9) return usage_error("convert: --gzip must be 0..9");
            break;
        case 'h': fputs(CONVERT_HELP, stdout); return 0;
        default: return usage_error("convert: unknown option or missing value");
        }
    }
    if (optind != argc) return usage_error("convert: unexpected argument");
    if (!f[0] || !f[1] || !f[2] || !f[3] || !out)
        return usage_error("convert: --train-images, --train-labels, --test-images, --test-labels and --out are required");
    rd_error e = {0};
    int rc = rd_data_convert_idx(out, f[0], f[1], f[2], f[3], (uint32_t)chunk, (int)gzip, &e);
    if (rc) rd_print_error(NULL, e.msg);
    else printf("wrote %s (groups /train and /test; X uint8 chunked by %ld samples%s, y int32)\n", out, chunk,
                gzip ? ", gzip" : "");
    return rc;
}

static int cmd_data(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(DATA_HELP, stdout);
        return 0;
    }
    if (argc != 2) return usage_error("data: expected one HDF5 FILE");
    rd_error e = {0};
    int rc = rd_data_describe(argv[1], stdout, &e);
    if (rc) rd_print_error(NULL, e.msg);
    return rc;
}

int main(int argc, char **argv)
{
    /* getopt_long permutes argv's pointers: keep the order the user gave for the restart */
    char **copy = rd_malloc(((size_t)argc + 1) * sizeof *copy);
    memcpy(copy, argv, ((size_t)argc + 1) * sizeof *copy);
    g_argv = copy;
    if (argc < 2) {
        fputs(USAGE, stderr);
        return RD_EXIT_CONFIG;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        rd_cpu_features f = rd_cpu_detect();
        const char *best = rd_blas_class_kernel(&f);
        printf("rdrop %s\nblas kernel %s (OpenBLAS %s)\ncpu class kernel %s\n", RDROP_VERSION, rd_blas_corename(),
               rd_blas_version(), best ? best : "none");
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "config")) return cmd_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "doctor")) return cmd_doctor(argc - 1, argv + 1);
    fprintf(stderr, "rdrop: unknown command '%s' (see rdrop --help)\n", cmd);
    return RD_EXIT_CONFIG;
}
