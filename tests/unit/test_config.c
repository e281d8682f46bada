/* test_config.c - config loader: defaults, every error class with its FILE:LINE:COL,
 * --set overrides, path resolution, YAML round trip, layers JSON, the shipped configs. */
#include "config.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

static void check_msg(const rd_error *e, const char *prefix, const char *needle)
{
    if (strncmp(e->msg, prefix, strlen(prefix)) != 0 || !strstr(e->msg, needle)) {
        print_error("message: %s\nwant prefix: %s\nwant text: %s\n", e->msg, prefix, needle);
        fail();
    }
}

/* Load `yaml` from a temp file with overrides; returns the exit code, message in *e. */
static int load_yaml(const char *yaml, int nset, char *const *sets, rd_config *c, rd_error *e,
                     char *path_out, size_t cap)
{
    char *path = rd_test_tmpfile(".yaml", yaml, strlen(yaml));
    assert_non_null(path);
    memset(e, 0, sizeof *e);
    int rc = rd_config_load(c, path, nset, sets, e);
    if (path_out) snprintf(path_out, cap, "%s", path);
    unlink(path);
    free(path);
    return rc;
}

/* The file must fail with exit 2 and "FILE:LINE:COL: ..." (or "FILE: ..." when line is 0). */
static void expect_err(const char *yaml, int line, int col, const char *needle)
{
    rd_config c;
    rd_error e;
    char path[512], prefix[600];
    int rc = load_yaml(yaml, 0, NULL, &c, &e, path, sizeof path);
    if (line > 0) snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, line, col);
    else snprintf(prefix, sizeof prefix, "%s: ", path);
    assert_int_equal(rc, RD_EXIT_CONFIG);
    assert_int_equal(e.code, RD_EXIT_CONFIG);
    check_msg(&e, prefix, needle);
    assert_null(strchr(e.msg, '\n'));
}

static void expect_set_err(const char *yaml, const char *set, const char *needle)
{
    rd_config c;
    rd_error e;
    char *sets[] = {(char *)set};
    char prefix[600];
    snprintf(prefix, sizeof prefix, "--set %s: ", set);
    assert_int_equal(load_yaml(yaml, 1, sets, &c, &e, NULL, 0), RD_EXIT_CONFIG);
    assert_int_equal(e.code, RD_EXIT_CONFIG);
    check_msg(&e, prefix, needle);
}

static void load_ok(const char *yaml, int nset, char *const *sets, rd_config *c)
{
    rd_error e;
    int rc = load_yaml(yaml, nset, sets, c, &e, NULL, 0);
    if (rc) print_error("unexpected error: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Short enough that every expected path below fits in RD_PATH_MAX. */
static const char *cwd(void)
{
    static char buf[RD_PATH_MAX / 2];
    assert_non_null(getcwd(buf, sizeof buf));
    return buf;
}

/* A small valid config that needs no data files. */
#define SYNTH "data: {format: synthetic}\n"

/* ------------------------------------------------------------------ defaults and good files */

static void test_defaults(void **state)
{
    rd_config c;
    rd_config_defaults(&c);
    assert_int_equal(c.model.init, RD_INIT_HE_UNIFORM);
    assert_int_equal(c.model.n_layers, 6);
    const rd_layer_kind kinds[] = {RD_LAYER_DROPOUT, RD_LAYER_DENSE, RD_LAYER_DROPOUT,
                                   RD_LAYER_DENSE, RD_LAYER_DROPOUT, RD_LAYER_DENSE};
    for (int i = 0; i < 6; i++) assert_int_equal(c.model.layers[i].kind, kinds[i]);
    assert_true(c.model.layers[0].rate == 0.2);
    assert_true(c.model.layers[2].rate == 0.5 && c.model.layers[4].rate == 0.5);
    assert_int_equal(c.model.layers[1].units, 1024);
    assert_int_equal(c.model.layers[1].activation, RD_ACT_RELU);
    assert_true(c.model.layers[1].max_norm == 3.0);
    assert_int_equal(c.model.layers[3].units, 1024);
    assert_true(c.model.layers[3].max_norm == 3.0);
    assert_int_equal(c.model.layers[5].units, 10);
    assert_int_equal(c.model.layers[5].activation, RD_ACT_LINEAR);
    assert_true(c.model.layers[5].max_norm == 0.0);
    assert_int_equal(c.rdrop.passes, 2);
    assert_true(c.rdrop.alpha == 1.0);
    assert_int_equal(c.rdrop.reduction, RD_REDUCE_MEAN);
    assert_true(c.optimizer.lr == 0.05 && c.optimizer.momentum == 0.9);
    assert_false(c.optimizer.nesterov);
    assert_true(c.optimizer.weight_decay == 0.0);
    assert_int_equal(c.schedule.kind, RD_SCHED_CONSTANT);
    assert_int_equal(c.schedule.warmup_steps, 0);
    assert_true(c.schedule.decay == 0.0 && c.schedule.gamma == 0.1 && c.schedule.lr_min == 0.0);
    assert_int_equal(c.schedule.step_steps, 0);
    assert_int_equal(c.schedule.decay_steps, 0);
    assert_false(c.schedule.scale_lr_linear);
    assert_int_equal(c.schedule.base_batch, 128);
    assert_int_equal(c.data.format, RD_DATA_IDX);
    assert_string_equal(c.data.train_images, "");
    assert_int_equal(c.data.batch_size, 128);
    assert_true(c.data.shuffle && c.data.drop_last);
    assert_int_equal(c.data.validation, 0);
    assert_int_equal(c.data.synthetic.train, 2048);
    assert_int_equal(c.data.synthetic.test, 512);
    assert_int_equal(c.data.synthetic.features, 32);
    assert_int_equal(c.data.synthetic.classes, 4);
    assert_int_equal(c.training.epochs, 20);
    assert_int_equal(c.training.max_steps, 0);
    assert_true(c.training.max_seconds == 0.0);
    assert_int_equal(c.training.log_every_steps, 0);
    assert_int_equal(c.training.eval_every_epochs, 1);
    assert_int_equal(c.training.patience, 0);
    assert_int_equal(c.checkpoint.every_steps, 0);
    assert_int_equal(c.checkpoint.every_epochs, 1);
    assert_true(c.checkpoint.every_seconds == 0.0);
    assert_int_equal(c.checkpoint.keep, 3);
    assert_int_equal(c.checkpoint.keep_every_epochs, 0);
    assert_int_equal(c.rng.dropout_stream, RD_STREAM_RANK);
    assert_true(c.dist.bucket_mb == 4.0);
    assert_true(c.dist.overlap);
    assert_true(c.run.seed == 0);
    assert_int_equal(c.run.blas_threads, 1);
}

static void test_defaults_validate(void **state)
{
    rd_config c;
    rd_error e = {0};
    rd_config_defaults(&c);
    assert_int_equal(rd_config_validate(&c, "defaults", &e), RD_EXIT_CONFIG);
    check_msg(&e, "defaults: data.train_images: ", "required when data.format is idx");
    c.data.format = RD_DATA_SYNTHETIC;
    assert_int_equal(rd_config_validate(&c, "defaults", &e), 0);
    c.optimizer.lr = -1;
    assert_int_equal(rd_config_validate(&c, "mem", &e), RD_EXIT_CONFIG);
    check_msg(&e, "mem: optimizer.lr: ", "must be > 0, got -1");
    c.optimizer.lr = 0.1;
    c.model.layers[5].kind = RD_LAYER_DROPOUT;
    c.model.layers[5].rate = 0.5;
    assert_int_equal(rd_config_validate(&c, "mem", &e), RD_EXIT_CONFIG);
    check_msg(&e, "mem: model.layers.5: ", "the last layer must be dense");
    c.model.n_layers = 0;
    assert_int_equal(rd_config_validate(&c, "mem", &e), RD_EXIT_CONFIG);
    check_msg(&e, "mem: model.layers: ", "must hold 1 to 32 layers");
}

static const char canonical[] =
    "model:\n"
    "  init: he_uniform\n"
    "  layers:\n"
    "    - {type: dropout, rate: 0.2}\n"
    "    - {type: dense, units: 1024, activation: relu, max_norm: 3.0}\n"
    "    - {type: dropout, rate: 0.5}\n"
    "    - {type: dense, units: 1024, activation: relu, max_norm: 3.0}\n"
    "    - {type: dropout, rate: 0.5}\n"
    "    - {type: dense, units: 10, activation: linear}\n"
    "rdrop:      {passes: 2, alpha: 1.0, reduction: mean}\n"
    "optimizer:  {lr: 0.05, momentum: 0.9, nesterov: false, weight_decay: 0.0}\n"
    "schedule:   {kind: constant, warmup_steps: 0, decay: 0.0, gamma: 0.1, step_steps: 0,\n"
    "             decay_steps: 0, lr_min: 0.0, scale_lr: none, base_batch: 128}\n"
    "data:       {format: idx, train_images: d/train-img.gz, train_labels: ./d/train-lab.gz,\n"
    "             test_images: d//test-img.gz, test_labels: /abs/test-lab.gz,\n"
    "             batch_size: 128, shuffle: true, drop_last: true, validation: 0}\n"
    "training:   {epochs: 20, max_steps: 0, max_seconds: 0, log_every_steps: 0, eval_every_epochs: 1, patience: 0}\n"
    "checkpoint: {every_steps: 0, every_epochs: 1, every_seconds: 0, keep: 3, keep_every_epochs: 0}\n"
    "rng:        {dropout_stream: rank}            # rank | sample\n"
    "dist:       {bucket_mb: 4, overlap: auto}\n"
    "run:        {out: runs/NAME, seed: 0, blas_threads: 1}\n";

static void test_canonical_file(void **state)
{
    rd_config c, want;
    load_ok(canonical, 0, NULL, &c);
    rd_config_defaults(&want);
    char buf[2 * RD_PATH_MAX];
    snprintf(buf, sizeof buf, "%s/d/train-img.gz", cwd());
    strcpy(want.data.train_images, buf);
    snprintf(buf, sizeof buf, "%s/d/train-lab.gz", cwd());
    strcpy(want.data.train_labels, buf);
    snprintf(buf, sizeof buf, "%s/d/test-img.gz", cwd());
    strcpy(want.data.test_images, buf);
    strcpy(want.data.test_labels, "/abs/test-lab.gz");
    memset(want.run.out, 0, sizeof want.run.out);
    snprintf(buf, sizeof buf, "%s/runs/NAME", cwd());
    strcpy(want.run.out, buf);
    assert_string_equal(c.data.train_images, want.data.train_images);
    assert_string_equal(c.data.train_labels, want.data.train_labels);
    assert_string_equal(c.data.test_images, want.data.test_images);
    assert_string_equal(c.run.out, want.run.out);
    assert_memory_equal(&c, &want, sizeof c); /* every other field is the default */
}

static void test_all_keys_parse(void **state)
{
    rd_config c;
    load_ok("model:\n"
            "  init: torch_default\n"
            "  layers:\n"
            "    - type: dense\n"
            "      units: 7\n"
            "      activation: mish\n"
            "      max_norm: 2\n"
            "    - {type: dropout, rate: 0}\n"
            "    - {type: dense, units: 3, activation: swish}\n"
            "rdrop: {passes: 1, alpha: 0.5, reduction: sum}\n"
            "optimizer: {lr: 1e-3, momentum: 0, nesterov: true, weight_decay: 5.0e-4}\n"
            "schedule: {kind: exponential, warmup_steps: 10, decay: .5, gamma: 0.5, step_steps: 3,\n"
            "           decay_steps: 100, lr_min: 1E-6, scale_lr: linear, base_batch: 256}\n"
            "data: {format: synthetic, batch_size: 32, shuffle: false, validation: 100,\n"
            "       synthetic: {train: 1000, test: 200, features: 8, classes: 3}}\n"
            "training: {epochs: 2, max_steps: 50, max_seconds: 1.5, log_every_steps: 5,\n"
            "           eval_every_epochs: 0, patience: 4}\n"
            "checkpoint: {every_steps: 9, every_epochs: 0, every_seconds: 60, keep: 1, keep_every_epochs: 2}\n"
            "rng: {dropout_stream: sample}\n"
            "dist: {bucket_mb: 0.25, overlap: false}\n"
            "run: {out: /tmp/x, seed: 18446744073709551615, blas_threads: 4}\n",
            0, NULL, &c);
    assert_int_equal(c.model.init, RD_INIT_TORCH_DEFAULT);
    assert_int_equal(c.model.n_layers, 3);
    assert_int_equal(c.model.layers[0].kind, RD_LAYER_DENSE);
    assert_int_equal(c.model.layers[0].units, 7);
    assert_int_equal(c.model.layers[0].activation, RD_ACT_MISH);
    assert_true(c.model.layers[0].max_norm == 2.0);
    assert_int_equal(c.model.layers[1].kind, RD_LAYER_DROPOUT);
    assert_true(c.model.layers[1].rate == 0.0);
    assert_int_equal(c.model.layers[2].activation, RD_ACT_SWISH);
    assert_true(c.model.layers[2].max_norm == 0.0);
    assert_int_equal(c.rdrop.passes, 1);
    assert_true(c.rdrop.alpha == 0.5);
    assert_int_equal(c.rdrop.reduction, RD_REDUCE_SUM);
    assert_true(c.optimizer.lr == 1e-3 && c.optimizer.momentum == 0.0);
    assert_true(c.optimizer.nesterov);
    assert_true(c.optimizer.weight_decay == 5e-4);
    assert_int_equal(c.schedule.kind, RD_SCHED_EXPONENTIAL);
    assert_int_equal(c.schedule.warmup_steps, 10);
    assert_true(c.schedule.decay == 0.5 && c.schedule.gamma == 0.5 && c.schedule.lr_min == 1e-6);
    assert_int_equal(c.schedule.step_steps, 3);
    assert_int_equal(c.schedule.decay_steps, 100);
    assert_true(c.schedule.scale_lr_linear);
    assert_int_equal(c.schedule.base_batch, 256);
    assert_int_equal(c.data.format, RD_DATA_SYNTHETIC);
    assert_int_equal(c.data.batch_size, 32);
    assert_false(c.data.shuffle);
    assert_int_equal(c.data.validation, 100);
    assert_int_equal(c.data.synthetic.train, 1000);
    assert_int_equal(c.data.synthetic.test, 200);
    assert_int_equal(c.data.synthetic.features, 8);
    assert_int_equal(c.data.synthetic.classes, 3);
    assert_int_equal(c.training.epochs, 2);
    assert_int_equal(c.training.max_steps, 50);
    assert_true(c.training.max_seconds == 1.5);
    assert_int_equal(c.training.log_every_steps, 5);
    assert_int_equal(c.training.eval_every_epochs, 0);
    assert_int_equal(c.training.patience, 4);
    assert_int_equal(c.checkpoint.every_steps, 9);
    assert_int_equal(c.checkpoint.every_epochs, 0);
    assert_true(c.checkpoint.every_seconds == 60.0);
    assert_int_equal(c.checkpoint.keep, 1);
    assert_int_equal(c.checkpoint.keep_every_epochs, 2);
    assert_int_equal(c.rng.dropout_stream, RD_STREAM_SAMPLE);
    assert_true(c.dist.bucket_mb == 0.25);
    assert_false(c.dist.overlap);
    assert_string_equal(c.run.out, "/tmp/x");
    assert_true(c.run.seed == UINT64_MAX);
    assert_int_equal(c.run.blas_threads, 4);
}

static void test_paths_and_default_out(void **state)
{
    rd_config c;
    char path[512], want[2 * RD_PATH_MAX];
    rd_error e;
    int rc = load_yaml(SYNTH "run: {}\nrng:\n", 0, NULL, &c, &e, path, sizeof path);
    assert_int_equal(rc, 0);
    /* run.out = cwd/runs/<file name without directory and extension> */
    char stem[256];
    snprintf(stem, sizeof stem, "%s", strrchr(path, '/') + 1);
    stem[strlen(stem) - strlen(".yaml")] = '\0';
    snprintf(want, sizeof want, "%s/runs/%s", cwd(), stem);
    assert_string_equal(c.run.out, want);

    load_ok(SYNTH "run: {out: ./a/./b//c/.}\n", 0, NULL, &c);
    snprintf(want, sizeof want, "%s/a/b/c", cwd());
    assert_string_equal(c.run.out, want);
    load_ok(SYNTH "run: {out: '/x y/./z: w/'}\n", 0, NULL, &c);
    assert_string_equal(c.run.out, "/x y/z: w");

    rd_config_load_text(&c, SYNTH, strlen(SYNTH), "/some/dir/ckpt-000000042.h5", 0, NULL, &e);
    snprintf(want, sizeof want, "%s/runs/ckpt-000000042", cwd());
    assert_string_equal(c.run.out, want);
}

static void test_load_text(void **state)
{
    rd_config c;
    rd_error e = {0};
    const char *text = SYNTH "optimizer: {lr: 0.25}\n";
    assert_int_equal(rd_config_load_text(&c, text, strlen(text), "ckpt.h5:config", 0, NULL, &e), 0);
    assert_true(c.optimizer.lr == 0.25);
    const char *bad = SYNTH "optimizer: {lr: x}\n";
    assert_int_equal(rd_config_load_text(&c, bad, strlen(bad), "ckpt.h5:config", 0, NULL, &e),
                     RD_EXIT_CONFIG);
    check_msg(&e, "ckpt.h5:config:2:17: optimizer.lr: ", "expected a number, got 'x'");
}

/* ------------------------------------------------------------------ error classes */

static void test_err_syntax(void **state)
{
    expect_err("model:\n  init: [he_uniform\n", 3, 1, "YAML syntax error: did not find expected ',' or ']'");
    expect_err("optimizer:\n  lr: 0.1\n   momentum: 0.9\n", 3, 12, "YAML syntax error: mapping values are not allowed");
    expect_err("rdrop: {passes: 2\n", 2, 1, "YAML syntax error");
}

static void test_err_file_missing(void **state)
{
    rd_config c;
    rd_error e = {0};
    assert_int_equal(rd_config_load(&c, "/nonexistent/rdrop.yaml", 0, NULL, &e), RD_EXIT_CONFIG);
    assert_string_equal(e.msg, "/nonexistent/rdrop.yaml: cannot read: No such file or directory");
    assert_int_equal(rd_config_load(&c, "/tmp", 0, NULL, &e), RD_EXIT_CONFIG);
    assert_string_equal(e.msg, "/tmp: cannot read: Is a directory");
}

static void test_err_top_level(void **state)
{
    expect_err("- model\n- data\n", 1, 1, "expected a mapping of sections");
    expect_err("\n\nhello\n", 3, 1, "at the top level, got 'hello'");
    expect_err("", 0, 0, "the config is empty");
    expect_err("# only a comment\n", 0, 0, "the config is empty");
    expect_err(SYNTH "---\n" SYNTH, 3, 1, "a second YAML document");
    expect_err(SYNTH "optimizer: 0.1\n", 2, 12, "optimizer: expected a mapping, got '0.1'");
    expect_err(SYNTH "optimizer: [1, 2]\n", 2, 12, "optimizer: expected a mapping, got a list");
}

static void test_err_unknown_key(void **state)
{
    expect_err(SYNTH "optimiser:\n  lr: 0.1\n", 2, 1, "optimiser: unknown key; did you mean 'optimizer'?");
    expect_err(SYNTH "banana: 1\n", 2, 1,
               "banana: unknown key; top-level keys are: model, rdrop, optimizer, schedule, data, "
               "training, checkpoint, rng, dist, run");
    expect_err(SYNTH "optimizer:\n  lr: 0.1\n  lrr: 0.2\n", 4, 3, "optimizer.lrr: unknown key; did you mean 'lr'?");
    expect_err(SYNTH "optimizer:\n  zzz: 1\n", 3, 3,
               "optimizer.zzz: unknown key; optimizer keys are: lr, momentum, nesterov, weight_decay");
    expect_err("data: {format: synthetic, synthetic: {train: 10, feature: 3}}\n", 1, 50,
               "data.synthetic.feature: unknown key; did you mean 'features'?");
    expect_err("model:\n  layers:\n    - {type: dense, units: 4, rate: 0.5}\n", 3, 31,
               "model.layers.0.rate: not a key of a dense layer; dense layer keys are: type, units, activation, max_norm");
    expect_err("model:\n  layers:\n    - {type: dropout, rate: 0.5, units: 3}\n    - {type: dense, units: 2}\n",
               3, 34, "model.layers.0.units: not a key of a dropout layer; dropout layer keys are: type, rate");
    expect_err("model:\n  layers:\n    - type: dense\n      unit: 4\n", 4, 7,
               "model.layers.0.unit: unknown key; did you mean 'units'?");
    expect_err(SYNTH "model: {layers.0: 1}\n", 2, 9, "model.layers.0: unknown key");
}

static void test_err_wrong_type(void **state)
{
    expect_err(SYNTH "training:\n  epochs: abc\n", 3, 11, "training.epochs: expected an integer, got 'abc'");
    expect_err(SYNTH "training:\n  epochs: 2.0\n", 3, 11, "training.epochs: expected an integer, got '2.0'");
    expect_err(SYNTH "training:\n  epochs: 1e3\n", 3, 11, "training.epochs: expected an integer, got '1e3'");
    expect_err(SYNTH "training:\n  epochs: 12abc\n", 3, 11, "training.epochs: expected an integer, got '12abc'");
    expect_err(SYNTH "training:\n  epochs:\n", 3, 10, "training.epochs: expected an integer, got an empty value");
    expect_err("data: {format: synthetic, shuffle: yes}\n", 1, 36, "data.shuffle: expected true or false, got 'yes'");
    expect_err(SYNTH "dist: {overlap: 1}\n", 2, 17, "dist.overlap: expected one of: false, true, auto; got '1'");
    expect_err(SYNTH "optimizer:\n  lr: {value: 0.1}\n", 3, 7, "optimizer.lr: expected a number, got a mapping");
    expect_err(SYNTH "optimizer:\n  lr: [0.1]\n", 3, 7, "optimizer.lr: expected a number, got a list");
    expect_err(SYNTH "optimizer:\n  lr: \"0.1\"\n", 3, 7, "optimizer.lr: expected a number, got the string '0.1'");
    expect_err(SYNTH "optimizer:\n  lr: |\n    0.1\n", 3, 7, "optimizer.lr: expected a number, got the string '0.1 '");
    expect_err(SYNTH "optimizer:\n  \"l\\nr\": 1\n", 3, 3, "optimizer.l r: unknown key");
    expect_err(SYNTH "optimizer:\n  lr: fast\n", 3, 7, "optimizer.lr: expected a number, got 'fast'");
    expect_err(SYNTH "optimizer:\n  lr: 0x10\n", 3, 7, "optimizer.lr: expected a number, got '0x10'");
    expect_err(SYNTH "run: {out: [a, b]}\n", 2, 12, "run.out: expected a string, got a list");
    expect_err("model:\n  layers: {type: dense}\n", 2, 11, "model.layers: expected a list of layers, got a mapping");
    expect_err("model:\n  layers:\n    - dense\n", 3, 7, "model.layers.0: expected a layer like {type: dense, units: 10}");
    expect_err("model:\n  layers:\n    - {type: dense, units: ten}\n", 3, 28, "model.layers.0.units: expected an integer, got 'ten'");
    expect_err("model:\n  layers:\n    - {type: conv, units: 3}\n", 3, 14,
               "model.layers.0.type: expected a layer type (one of: dense, dropout, conv2d, max_pool), got 'conv'");
    expect_err("model:\n  layers:\n    - {units: 3}\n", 3, 7, "model.layers.0: a layer needs 'type' (dense, dropout, conv2d or max_pool)");
    expect_err("model:\n  layers:\n    - {type: dense}\n", 3, 7, "model.layers.0: a dense layer needs 'units'");
    expect_err("model:\n  layers:\n    - {type: dropout}\n    - {type: dense, units: 1}\n", 3, 7,
               "model.layers.0: a dropout layer needs 'rate'");
    expect_err(SYNTH "[a]: 1\n", 2, 1, "expected a key name, got a list");
}

static void test_err_integers(void **state)
{
    expect_err("data: {format: synthetic, batch_size: 99999999999999999999}\n", 1, 39,
               "data.batch_size: integer out of range, got '99999999999999999999'");
    expect_err(SYNTH "training: {epochs: -1}\n", 2, 20, "training.epochs: must be >= 1, got -1");
    expect_err(SYNTH "training: {max_steps: -5}\n", 2, 23, "training.max_steps: must be >= 0, got -5");
    expect_err(SYNTH "checkpoint: {every_steps: -1}\n", 2, 27, "checkpoint.every_steps: must be >= 0, got -1");
    expect_err(SYNTH "run: {seed: 18446744073709551616}\n", 2, 13,
               "run.seed: must be between 0 and 18446744073709551615, got 18446744073709551616");
    expect_err(SYNTH "run: {seed: -1}\n", 2, 13, "run.seed: must be >= 0, got -1");
    expect_err(SYNTH "run: {seed: 1.5}\n", 2, 13, "run.seed: expected an integer, got '1.5'");
    expect_err(SYNTH "run: {blas_threads: 99999999999}\n", 2, 21,
               "run.blas_threads: must be between 1 and 4096, got 99999999999");
    rd_config c;
    load_ok(SYNTH "run: {seed: 18446744073709551615}\n", 0, NULL, &c);
    assert_true(c.run.seed == UINT64_MAX);
    load_ok(SYNTH "run: {seed: +12}\ntraining: {epochs: +3}\n", 0, NULL, &c);
    assert_true(c.run.seed == 12);
    assert_int_equal(c.training.epochs, 3);
}

static void test_err_doubles(void **state)
{
    expect_err(SYNTH "optimizer: {lr: .nan}\n", 2, 17, "optimizer.lr: expected a finite number, got '.nan'");
    expect_err(SYNTH "optimizer: {lr: .inf}\n", 2, 17, "optimizer.lr: expected a finite number, got '.inf'");
    expect_err(SYNTH "optimizer: {lr: nan}\n", 2, 17, "expected a finite number, got 'nan'");
    expect_err(SYNTH "optimizer: {lr: inf}\n", 2, 17, "expected a finite number, got 'inf'");
    expect_err(SYNTH "optimizer: {lr: 1e999}\n", 2, 17, "expected a finite number, got '1e999'");
    expect_err(SYNTH "optimizer: {lr: 1e}\n", 2, 17, "expected a number, got '1e'");
    expect_err(SYNTH "optimizer: {lr: 0.1.2}\n", 2, 17, "expected a number, got '0.1.2'");
    rd_config c;
    load_ok(SYNTH "optimizer: {lr: 1e-3, momentum: .5, weight_decay: 3}\ndist: {bucket_mb: 2.5E+1}\n", 0, NULL, &c);
    assert_true(c.optimizer.lr == 1e-3);
    assert_true(c.optimizer.momentum == 0.5);
    assert_true(c.optimizer.weight_decay == 3.0);
    assert_true(c.dist.bucket_mb == 25.0);
}

static void test_err_range(void **state)
{
    expect_err(SYNTH "optimizer:\n  lr: 0\n", 3, 7, "optimizer.lr: must be > 0, got 0");
    expect_err(SYNTH "optimizer:\n  lr: -0.1\n", 3, 7, "optimizer.lr: must be > 0, got -0.1");
    expect_err(SYNTH "optimizer:\n  momentum: 1\n", 3, 13, "optimizer.momentum: must be in [0, 1), got 1");
    expect_err(SYNTH "optimizer:\n  momentum: -0.5\n", 3, 13, "optimizer.momentum: must be in [0, 1)");
    expect_err(SYNTH "optimizer:\n  weight_decay: -1\n", 3, 17, "optimizer.weight_decay: must be >= 0");
    expect_err(SYNTH "rdrop:\n  passes: 17\n", 3, 11, "rdrop.passes: must be between 1 and 16, got 17");
    expect_err(SYNTH "rdrop:\n  passes: 0\n", 3, 11, "rdrop.passes: must be between 1 and 16, got 0");
    expect_err(SYNTH "rdrop:\n  kl_reduction: avg\n", 3, 17, "rdrop.kl_reduction: expected one of: mean, sum; got 'avg'");
    expect_err(SYNTH "rdrop:\n  alpha_rampup_epochs: -1\n", 3, 24, "rdrop.alpha_rampup_epochs: must be >= 0, got -1");
    expect_err(SYNTH "rdrop:\n  alpha: -1\n", 3, 10, "rdrop.alpha: must be >= 0, got -1");
    expect_err(SYNTH "rdrop:\n  reduction: avg\n", 3, 14, "rdrop.reduction: expected one of: mean, sum; got 'avg'");
    expect_err("data:\n  format: csv\n", 2, 11, "data.format: expected one of: idx, synthetic, hdf5; got 'csv'");
    expect_err("data: {format: synthetic, batch_size: 0}\n", 1, 39, "data.batch_size: must be >= 1, got 0");
    expect_err("data: {format: synthetic, synthetic: {classes: 1}}\n", 1, 48, "data.synthetic.classes: must be between 2 and 1048576");
    expect_err(SYNTH "dist: {bucket_mb: 0}\n", 2, 19, "dist.bucket_mb: must be > 0, got 0");
    expect_err(SYNTH "checkpoint: {keep: 0}\n", 2, 20, "checkpoint.keep: must be >= 1, got 0");
    expect_err(SYNTH "training: {epochs: 0}\n", 2, 20, "training.epochs: must be >= 1, got 0");
    expect_err(SYNTH "run: {blas_threads: 0}\n", 2, 21, "run.blas_threads: must be between 1 and 4096, got 0");
    expect_err(SYNTH "schedule: {kind: linear}\n", 2, 18,
               "schedule.kind: expected one of: constant, inverse_time, step, exponential, cosine; got 'linear'");
    expect_err(SYNTH "schedule: {scale_lr: sqrt}\n", 2, 22, "schedule.scale_lr: expected one of: none, linear; got 'sqrt'");
    expect_err(SYNTH "schedule: {gamma: 0}\n", 2, 19, "schedule.gamma: must be > 0");
    expect_err(SYNTH "rng: {dropout_stream: node}\n", 2, 23, "rng.dropout_stream: expected one of: rank, sample; got 'node'");
    expect_err(SYNTH "model: {init: he}\n", 2, 15, "model.init: expected one of: he_uniform, glorot_uniform, torch_default; got 'he'");
    expect_err("model:\n  layers:\n    - {type: dropout, rate: 1.0}\n", 3, 29, "model.layers.0.rate: must be in [0, 1), got 1.0");
    expect_err("model:\n  layers:\n    - {type: dropout, rate: -0.1}\n", 3, 29, "model.layers.0.rate: must be in [0, 1)");
    expect_err("model:\n  layers:\n    - {type: dense, units: 0}\n", 3, 28, "model.layers.0.units: must be between 1 and 1048576, got 0");
    expect_err("model:\n  layers:\n    - {type: dense, units: 1048577}\n", 3, 28, "model.layers.0.units: must be between 1 and 1048576");
    expect_err("model:\n  layers:\n    - {type: dense, units: 2, max_norm: -3}\n", 3, 41, "model.layers.0.max_norm: must be >= 0");
    expect_err("model:\n  layers:\n    - {type: dense, units: 2, activation: gelu}\n", 3, 43,
               "model.layers.0.activation: expected one of: linear, relu, leaky_relu, elu, relu6, tanh, sigmoid, swish, mish; got 'gelu'");
}

static void test_err_duplicate(void **state)
{
    expect_err(SYNTH "optimizer:\n  lr: 0.1\n  lr: 0.2\n", 4, 3, "optimizer.lr: duplicate key (first given at line 3)");
    expect_err(SYNTH "run: {}\n" "run: {}\n", 3, 1, "run: duplicate key (first given at line 2)");
    expect_err("model:\n  layers:\n    - {type: dense, units: 2, units: 3}\n", 3, 31,
               "model.layers.0.units: duplicate key (first given at line 3)");
}

static void test_err_semantic(void **state)
{
    expect_err(SYNTH "model:\n  layers:\n    - {type: dense, units: 4}\n    - {type: dropout, rate: 0.5}\n", 5, 7,
               "model.layers.1: the last layer must be dense (it gives the logits), got a dropout layer");
    expect_err(SYNTH "model:\n  layers:\n    - {type: dropout, rate: 0.5}\n", 4, 5,
               "model.layers: needs at least one dense layer");
    expect_err(SYNTH "model:\n  layers: []\n", 3, 11, "model.layers: needs at least one layer");
    {
        char yaml[4096] = "model:\n  layers:\n";
        for (int i = 0; i < RD_MAX_LAYERS + 1; i++) strcat(yaml, "    - {type: dense, units: 2}\n");
        expect_err(yaml, 3 + RD_MAX_LAYERS, 7, "model.layers: at most 32 layers, got 33");
    }
    /* step needs step_steps: at step_steps when given, else at kind */
    expect_err(SYNTH "schedule:\n  kind: step\n", 3, 9, "schedule.step_steps: must be > 0 when schedule.kind is step");
    expect_err(SYNTH "schedule:\n  kind: step\n  step_steps: 0\n", 4, 15, "schedule.step_steps: must be > 0 when schedule.kind is step");
    expect_err(SYNTH "schedule:\n  kind: exponential\n  decay_steps: 0\n", 4, 16,
               "schedule.decay_steps: must be > 0 when schedule.kind is exponential");
    expect_err("data:\n  format: synthetic\n  drop_last: false\n", 3, 14, "data.drop_last: partial batches are not supported");
    /* idx needs the four paths: at the empty path if given, else at data.format, else the file */
    expect_err("data:\n  train_images: ''\n", 2, 17, "data.train_images: required when data.format is idx");
    expect_err("data:\n  format: idx\n", 2, 11, "data.train_images: required when data.format is idx");
    expect_err("rng: {}\n", 0, 0, "data.train_images: required when data.format is idx");
    expect_err("data: {train_images: a, train_labels: b, test_images: c}\n", 0, 0,
               "data.test_labels: required when data.format is idx");
    expect_err("data: {format: synthetic, validation: 2048}\n", 1, 39,
               "data.validation: must be less than data.synthetic.train (2048), got 2048");
    expect_err(SYNTH "run: {out: ''}\n", 2, 12, "run.out: must not be empty");
}

/* The duplicate-"data" case above is a real error too; check its position precisely. */
static void test_err_duplicate_section(void **state)
{
    expect_err(SYNTH "data:\n  drop_last: false\n", 2, 1, "data: duplicate key (first given at line 1)");
}

/* ------------------------------------------------------------------ --set */

static void test_set_scalars(void **state)
{
    rd_config c;
    char *sets[] = {"optimizer.lr=0.2", "run.seed=18446744073709551615", "data.shuffle=false",
                    "schedule.kind=cosine", "run.out=\"out dir/a: b\"", "data.synthetic.classes=10",
                    "optimizer.lr=0.3"};
    load_ok(SYNTH "optimizer: {lr: 0.1}\n", 7, sets, &c);
    assert_true(c.optimizer.lr == 0.3); /* later --set wins */
    assert_true(c.run.seed == UINT64_MAX);
    assert_false(c.data.shuffle);
    assert_int_equal(c.schedule.kind, RD_SCHED_COSINE);
    char want[2 * RD_PATH_MAX];
    snprintf(want, sizeof want, "%s/out dir/a: b", cwd());
    assert_string_equal(c.run.out, want);
    assert_int_equal(c.data.synthetic.classes, 10);
    /* a --set fixes what the file got wrong only when validation comes after all overrides */
    char *fix[] = {"data.drop_last=true"};
    load_ok("data:\n  format: synthetic\n  drop_last: false\n", 1, fix, &c);
    assert_true(c.data.drop_last);
}

static void test_set_list_index(void **state)
{
    rd_config c;
    char *sets[] = {"model.layers.2.rate=0.3", "model.layers.3.units=512", "model.layers.3.activation=tanh",
                    "model.layers.0={type: dropout, rate: 0.1}", "model.layers.5.max_norm=4"};
    load_ok(SYNTH, 5, sets, &c);
    assert_int_equal(c.model.n_layers, 6);
    assert_true(c.model.layers[0].rate == 0.1);
    assert_true(c.model.layers[2].rate == 0.3);
    assert_int_equal(c.model.layers[3].units, 512);
    assert_int_equal(c.model.layers[3].activation, RD_ACT_TANH);
    assert_true(c.model.layers[3].max_norm == 3.0);
    assert_true(c.model.layers[5].max_norm == 4.0);
    assert_int_equal(c.model.layers[1].units, 1024);
    char *same_type[] = {"model.layers.1.type=dense"};
    load_ok(SYNTH, 1, same_type, &c);
    assert_int_equal(c.model.layers[1].kind, RD_LAYER_DENSE);
}

static void test_set_flow_values(void **state)
{
    rd_config c;
    char *sets[] = {"model.layers=[{type: dense, units: 10, activation: relu}, {type: dropout, rate: 0.5}, "
                    "{type: dense, units: 4}]",
                    "optimizer={lr: 0.5, nesterov: true}", "data.synthetic={train: 300, test: 30}"};
    load_ok(SYNTH "optimizer: {momentum: 0.5}\n", 3, sets, &c);
    assert_int_equal(c.model.n_layers, 3);
    assert_int_equal(c.model.layers[0].units, 10);
    assert_int_equal(c.model.layers[0].activation, RD_ACT_RELU);
    assert_int_equal(c.model.layers[1].kind, RD_LAYER_DROPOUT);
    assert_int_equal(c.model.layers[2].units, 4);
    for (int i = 3; i < RD_MAX_LAYERS; i++) assert_int_equal(c.model.layers[i].units, 0);
    assert_true(c.optimizer.lr == 0.5);
    assert_true(c.optimizer.momentum == 0.5); /* a mapping merges into the section */
    assert_true(c.optimizer.nesterov);
    assert_int_equal(c.data.synthetic.train, 300);
    assert_int_equal(c.data.synthetic.test, 30);
    assert_int_equal(c.data.synthetic.features, 32);
    /* the file's list is replaced, not merged */
    char *one[] = {"model.layers=[{type: dense, units: 3}]"};
    load_ok(SYNTH "model:\n  layers:\n    - {type: dropout, rate: 0.2}\n    - {type: dense, units: 9}\n", 1, one, &c);
    assert_int_equal(c.model.n_layers, 1);
    assert_int_equal(c.model.layers[0].units, 3);
    assert_int_equal(c.model.layers[1].units, 0);
}

static void test_set_errors(void **state)
{
    expect_set_err(SYNTH, "optimizer.lr", "expected key.path=VALUE");
    expect_set_err(SYNTH, "=3", "expected key.path=VALUE");
    expect_set_err(SYNTH, "optimizer.lr=abc", "expected a number, got 'abc'");
    expect_set_err(SYNTH, "optimizer.lr=", "expected a number, got an empty value");
    expect_set_err(SYNTH, "optimizer.lr=0", "must be > 0, got 0");
    expect_set_err(SYNTH, "optimizer.lrr=0.1", "unknown key; did you mean 'lr'?");
    expect_set_err(SYNTH, "optimzer.lr=0.1", "optimzer: unknown key; did you mean 'optimizer'?");
    expect_set_err(SYNTH, "optimizer.lr.x=1", "optimizer.lr is a single value and has no sub-keys");
    expect_set_err(SYNTH, "optimizer.lr=[1", "the value is not valid YAML: did not find expected ',' or ']'");
    expect_set_err(SYNTH, "model.layers.6.rate=0.3", "model.layers.6: index 6 is past the end of model.layers (6 layers: 0..5)");
    expect_set_err(SYNTH, "model.layers.x=1", "expected a 0-based layer index");
    expect_set_err(SYNTH, "model.layers.1.rate=0.3", "not a key of a dense layer");
    expect_set_err(SYNTH, "model.layers.0.rate=1.5", "must be in [0, 1), got 1.5");
    expect_set_err(SYNTH, "model.layers.0.type=dense", "changing a layer's type needs the whole layer");
    expect_set_err(SYNTH, "model.layers.0={type: dense}", "a dense layer needs 'units'");
    expect_set_err(SYNTH, "model.layers=[{type: dense, unit: 10}]", "model.layers.0.unit: unknown key; did you mean 'units'?");
    expect_set_err(SYNTH, "model.layers=[{type: dense, units: 2}, {type: dropout, rate: 0.1}]",
                   "model.layers.1: the last layer must be dense");
    expect_set_err(SYNTH, "schedule.kind=step", "schedule.step_steps: must be > 0 when schedule.kind is step");
    expect_set_err(SYNTH, "data.drop_last=false", "data.drop_last: partial batches are not supported");
    expect_set_err(SYNTH, "run.out=a: b", "expected a string, got a mapping");
    expect_set_err(SYNTH, "optimizer={lr: 0.1, bogus: 1}", "optimizer.bogus: unknown key");
    expect_set_err(SYNTH, "data.shuffle=yes", "expected true or false, got 'yes'");
}

/* ------------------------------------------------------------------ writers */

static void test_round_trip(void **state)
{
    rd_config c, back;
    rd_error e = {0};
    char *sets[] = {"optimizer.lr=0.1", "optimizer.momentum=0.3333333333333333", "rdrop.alpha=1e-7",
                    "schedule.lr_min=2.5e-300", "dist.bucket_mb=1e20", "run.seed=18446744073709551615",
                    "run.out='/tmp/we\"ird \\ dir: #x'", "data.train_images=\"a\\tb\\nc\"",
                    "model.layers.2.rate=0.30000000000000004", "schedule.scale_lr=linear",
                    "training.max_seconds=3600", "rng.dropout_stream=sample"};
    load_ok(SYNTH, (int)(sizeof sets / sizeof sets[0]), sets, &c);
    assert_string_equal(c.run.out, "/tmp/we\"ird \\ dir: #x");
    char *yaml = rd_config_to_yaml(&c);
    assert_non_null(yaml);
    memset(&back, 0xAB, sizeof back);
    int rc = rd_config_load_text(&back, yaml, strlen(yaml), "round-trip", 0, NULL, &e);
    if (rc) print_error("%s\n%s\n", e.msg, yaml);
    assert_int_equal(rc, 0);
    assert_memory_equal(&c, &back, sizeof c);
    char *again = rd_config_to_yaml(&back);
    assert_string_equal(yaml, again);
    /* block style, every key, doubles exact and readable */
    assert_non_null(strstr(yaml, "\n  lr: 0.1\n"));
    assert_non_null(strstr(yaml, "\n  momentum: 0.3333333333333333\n"));
    assert_non_null(strstr(yaml, "\n  alpha: 1.0e-07\n"));
    assert_non_null(strstr(yaml, "\n  bucket_mb: 1.0e+20\n"));
    assert_non_null(strstr(yaml, "\n  max_seconds: 3600.0\n"));
    assert_non_null(strstr(yaml, "\n  seed: 18446744073709551615\n"));
    assert_non_null(strstr(yaml, "\n  out: \"/tmp/we\\\"ird \\\\ dir: #x\"\n"));
    assert_non_null(strstr(yaml, "\n  - type: dropout\n    rate: 0.30000000000000004\n"));   /* libyaml's layout */
    assert_non_null(strstr(yaml, "\n  synthetic:\n    train: 2048\n"));
    for (const char *k = "model:\0rdrop:\0optimizer:\0schedule:\0data:\0training:\0checkpoint:\0rng:\0dist:\0run:\0";
         *k; k += strlen(k) + 1)
        assert_non_null(strstr(yaml, k));
    free(yaml);
    free(again);
}

/* The resume check compares configs section by section as structs (rd_config_section_equal):
 * a change is seen in its own section only, nested sections and layer keys included. */
static void test_section_equal(void **state)
{
    rd_config a, b;
    rd_config_defaults(&a);
    static const char *sections[] = {"model", "rdrop", "optimizer", "schedule", "data", "training",
                                     "checkpoint", "rng", "dist", "run"};
    const size_t n = sizeof sections / sizeof *sections;
    for (int k = 0; k < 6; k++) {
        b = a;
        const char *want;
        switch (k) {
        case 0: b.data.augment.shift = 2; want = "data"; break;                  /* nested section */
        case 1: b.model.layers[1].units = 512; want = "model"; break;            /* a layer key */
        case 2: b.model.n_layers = 5; want = "model"; break;                      /* the layer count */
        case 3: b.schedule.scale_lr_linear = true; want = "schedule"; break;      /* a flag enum */
        case 4: snprintf(b.data.test_images, sizeof b.data.test_images, "/x"); want = "data"; break;   /* a path */
        default: b.run.seed = 5; want = "run"; break;
        }
        for (size_t i = 0; i < n; i++) {
            bool equal = rd_config_section_equal(&a, &b, sections[i]);
            if (equal == !strcmp(sections[i], want)) print_error("case %d, section %s\n", k, sections[i]);
            assert_int_equal(equal, strcmp(sections[i], want) != 0);
        }
    }
    /* a value no section holds (a dropout layer's unused units) is not compared */
    b = a;
    b.model.layers[0].units = 99;
    assert_true(rd_config_section_equal(&a, &b, "model"));
}

static void test_round_trip_files(void **state)
{
    rd_config c, back;
    rd_error e = {0};
    load_ok(canonical, 0, NULL, &c);
    char *yaml = rd_config_to_yaml(&c);
    assert_int_equal(rd_config_load_text(&back, yaml, strlen(yaml), "x", 0, NULL, &e), 0);
    assert_memory_equal(&c, &back, sizeof c);
    free(yaml);
}

static void test_layers_json(void **state)
{
    rd_config c;
    rd_config_defaults(&c);
    char *json = rd_config_layers_json(&c);
    assert_string_equal(json,
        "[{\"type\":\"dropout\",\"rate\":0.2},"
        "{\"type\":\"dense\",\"units\":1024,\"activation\":\"relu\",\"max_norm\":3.0},"
        "{\"type\":\"dropout\",\"rate\":0.5},"
        "{\"type\":\"dense\",\"units\":1024,\"activation\":\"relu\",\"max_norm\":3.0},"
        "{\"type\":\"dropout\",\"rate\":0.5},"
        "{\"type\":\"dense\",\"units\":10,\"activation\":\"linear\",\"max_norm\":0.0}]");
    free(json);
    char *sets[] = {"model.layers=[{type: dense, units: 3, activation: leaky_relu, max_norm: 0.5}]"};
    load_ok(SYNTH, 1, sets, &c);
    json = rd_config_layers_json(&c);
    assert_string_equal(json, "[{\"type\":\"dense\",\"units\":3,\"activation\":\"leaky_relu\",\"max_norm\":0.5}]");
    free(json);
}

static void test_names(void **state)
{
    const char *acts[] = {"linear", "relu", "leaky_relu", "elu", "relu6", "tanh", "sigmoid", "swish", "mish"};
    for (int i = 0; i < RD_ACT_COUNT; i++) {
        assert_string_equal(rd_activation_name((rd_activation)i), acts[i]);
        assert_int_equal(rd_activation_parse(acts[i]), i);
    }
    assert_null(rd_activation_name(RD_ACT_COUNT));
    assert_int_equal(rd_activation_parse("gelu"), -1);
    assert_string_equal(rd_sched_name(RD_SCHED_CONSTANT), "constant");
    assert_string_equal(rd_sched_name(RD_SCHED_INVERSE_TIME), "inverse_time");
    assert_string_equal(rd_sched_name(RD_SCHED_STEP), "step");
    assert_string_equal(rd_sched_name(RD_SCHED_EXPONENTIAL), "exponential");
    assert_string_equal(rd_sched_name(RD_SCHED_COSINE), "cosine");
}

/* ------------------------------------------------------------------ shipped configs */

static void configs_dir(char *buf, size_t cap) { snprintf(buf, cap, "%s/../../configs", RDROP_TEST_DATA); }

static void load_shipped(const char *name, rd_config *c)
{
    char dir[2048], path[4096];
    rd_error e = {0};
    configs_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = rd_config_load(c, path, 0, NULL, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void test_shipped_configs_load(void **state)
{
    char dir[2048];
    configs_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml")) continue;
        rd_config c;
        load_shipped(de->d_name, &c);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

static void test_shipped_configs_values(void **state)
{
    rd_config r, p, t, want;
    char buf[2 * RD_PATH_MAX];
    load_shipped("fashion_mlp_rdrop.yaml", &r);
    rd_config_defaults(&want); /* the reference recipe is the canonical defaults */
    const char *files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    char *dst[] = {want.data.train_images, want.data.train_labels, want.data.test_images, want.data.test_labels};
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%s/datasets/fashion-mnist/%s", cwd(), files[i]);
        strcpy(dst[i], buf);
    }
    memset(want.run.out, 0, sizeof want.run.out);
    snprintf(buf, sizeof buf, "%s/runs/fashion_mlp_rdrop", cwd());
    strcpy(want.run.out, buf);
    assert_memory_equal(&r, &want, sizeof r);

    load_shipped("fashion_mlp_dropout.yaml", &p);
    assert_int_equal(p.rdrop.passes, 1);
    p.rdrop.passes = 2;
    memcpy(p.run.out, r.run.out, sizeof p.run.out);
    assert_memory_equal(&p, &r, sizeof p); /* otherwise the same recipe */

    load_shipped("tiny_synthetic.yaml", &t);
    assert_int_equal(t.data.format, RD_DATA_SYNTHETIC);
    assert_int_equal(t.data.synthetic.train, 2048);
    assert_int_equal(t.data.synthetic.test, 512);
    assert_int_equal(t.data.synthetic.features, 32);
    assert_int_equal(t.data.synthetic.classes, 4);
    assert_int_equal(t.model.n_layers, 4);
    assert_true(t.model.layers[0].kind == RD_LAYER_DROPOUT && t.model.layers[0].rate == 0.1);
    assert_int_equal(t.model.layers[1].units, 64);
    assert_int_equal(t.model.layers[1].activation, RD_ACT_RELU);
    assert_true(t.model.layers[1].max_norm == 3.0);
    assert_true(t.model.layers[2].rate == 0.5);
    assert_int_equal(t.model.layers[3].units, 4);
    assert_int_equal(t.model.layers[3].activation, RD_ACT_LINEAR);
    assert_int_equal(t.data.batch_size, 64);
    assert_int_equal(t.training.epochs, 3);
    assert_true(t.optimizer.lr == 0.1);
    snprintf(buf, sizeof buf, "%s/runs/tiny_synthetic", cwd());
    assert_string_equal(t.run.out, buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_defaults_validate),
        cmocka_unit_test(test_canonical_file),
        cmocka_unit_test(test_all_keys_parse),
        cmocka_unit_test(test_paths_and_default_out),
        cmocka_unit_test(test_load_text),
        cmocka_unit_test(test_err_syntax),
        cmocka_unit_test(test_err_file_missing),
        cmocka_unit_test(test_err_top_level),
        cmocka_unit_test(test_err_unknown_key),
        cmocka_unit_test(test_err_wrong_type),
        cmocka_unit_test(test_err_integers),
        cmocka_unit_test(test_err_doubles),
        cmocka_unit_test(test_err_range),
        cmocka_unit_test(test_err_duplicate),
        cmocka_unit_test(test_err_semantic),
        cmocka_unit_test(test_err_duplicate_section),
        cmocka_unit_test(test_set_scalars),
        cmocka_unit_test(test_set_list_index),
        cmocka_unit_test(test_set_flow_values),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_files),
        cmocka_unit_test(test_section_equal),
        cmocka_unit_test(test_layers_json),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_shipped_configs_load),
        cmocka_unit_test(test_shipped_configs_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
