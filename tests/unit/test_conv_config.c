/* test_conv_config.c - conv2d / max_pool layer keys: parsing (size and stride as an int or
 * [h, w], padding, defaults), round trip through the resolved YAML, and the one-line
 * "FILE:LINE:COL: key: what is wrong" errors (docs/conv.md). Synthetic data has samples
 * [1, 1, features], so shape errors are found when the file is loaded. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int load_yaml(const char *yaml, rd_config *c, rd_error *e, char *path_out, size_t cap)
{
    char *path = rd_test_tmpfile(".yaml", yaml, strlen(yaml));
    assert_non_null(path);
    memset(e, 0, sizeof *e);
    int rc = rd_config_load(c, path, 0, NULL, e);
    snprintf(path_out, cap, "%s", path);
    unlink(path);
    free(path);
    return rc;
}

/* Exit 2 with "FILE:LINE:COL: " + needle somewhere after it, on one line. */
static void expect_err(const char *yaml, int line, int col, const char *needle)
{
    rd_config c;
    rd_error e;
    char path[512], prefix[600];
    assert_int_equal(load_yaml(yaml, &c, &e, path, sizeof path), RD_EXIT_CONFIG);
    snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, line, col);
    if (strncmp(e.msg, prefix, strlen(prefix)) || !strstr(e.msg, needle)) {
        print_error("message: %s\nwant prefix: %s\nwant text: %s\n", e.msg, prefix, needle);
        fail();
    }
    assert_null(strchr(e.msg, '\n'));
}

/* flat data: samples [1, 1, f] */
#define SYN(f) "data: {format: synthetic, synthetic: {features: " #f "}}\nmodel:\n  layers:\n"
#define DENSE "    - {type: dense, units: 4}\n"

static void test_parse(void **state)
{
    (void)state;
    const char *yaml = SYN(1) "    - {type: conv2d, filters: 8, size: [1, 1], padding: same, activation: relu, max_norm: 2}\n"
                              "    - {type: max_pool, size: 1}\n"
                              "    - {type: conv2d, filters: 3, size: 1, stride: [1, 1]}\n" DENSE;
    rd_config c;
    rd_error e;
    char path[512];
    int rc = load_yaml(yaml, &c, &e, path, sizeof path);
    if (rc) fail_msg("%s", e.msg);
    const rd_layer_spec *l = c.model.layers;
    assert_int_equal(l[0].kind, RD_LAYER_CONV2D);
    assert_int_equal(l[0].filters, 8);
    assert_true(l[0].size[0] == 1 && l[0].size[1] == 1 && l[0].stride[0] == 1 && l[0].stride[1] == 1);
    assert_int_equal(l[0].padding, RD_PAD_SAME);
    assert_int_equal(l[0].activation, RD_ACT_RELU);
    assert_true(l[0].max_norm == 2.0);
    assert_int_equal(l[1].kind, RD_LAYER_MAX_POOL);
    assert_true(l[1].stride[0] == 1 && l[1].stride[1] == 1);   /* stride defaults to size */
    assert_int_equal(l[2].padding, RD_PAD_VALID);                /* padding defaults to valid */
    assert_int_equal(l[2].activation, RD_ACT_LINEAR);
    /* the resolved YAML reloads to the same struct */
    char *out = rd_config_to_yaml(&c);
    rd_config c2;
    assert_int_equal(rd_config_load_text(&c2, out, strlen(out), "resolved", 0, NULL, &e), 0);
    assert_memory_equal(c.model.layers, c2.model.layers, sizeof c.model.layers);
    free(out);
    /* pool defaults: stride = size, per dimension */
    rc = load_yaml("model:\n  layers:\n    - {type: max_pool, size: [3, 2]}\n" DENSE, &c, &e, path, sizeof path);
    assert_true(rc == 0 || rc == RD_EXIT_CONFIG);   /* IDX paths may be missing: only the layer matters */
    int shapes[RD_MAX_LAYERS][3];
    rd_config_defaults(&c);
    c.model.n_layers = 2;
    c.model.layers[0] = (rd_layer_spec){.kind = RD_LAYER_MAX_POOL, .size = {3, 2}, .stride = {3, 2}};
    c.model.layers[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 4};
    assert_int_equal(rd_config_check_shapes(&c, 28, 28, 1, 0, "x", shapes, &e), 0);
    assert_true(shapes[0][0] == 9 && shapes[0][1] == 14 && shapes[0][2] == 1);   /* floor */
}

static void test_errors(void **state)
{
    (void)state;
    expect_err(SYN(16) DENSE "    - {type: conv2d, filters: 2, size: 1}\n" DENSE, 5, 7,
               "model.layers.1: a conv2d layer cannot follow a dense layer");
    expect_err(SYN(16) DENSE "    - {type: max_pool, size: 1}\n" DENSE, 5, 7,
               "model.layers.1: a max_pool layer cannot follow a dense layer");
    expect_err(SYN(16) "    - {type: conv2d, filters: 2, size: 3}\n" DENSE, 4, 7,
               "model.layers.0: conv2d window 3x3 does not fit its input 1x1 (padding valid): output size 0x0");
    expect_err(SYN(16) "    - {type: conv2d, filters: 2, size: 1, stride: [1, 2], padding: same}\n"
                       "    - {type: max_pool, size: [1, 2]}\n" DENSE,
               5, 7, "model.layers.1: max_pool window 1x2 does not fit its input 1x1 (padding valid): output size 1x0");
    expect_err(SYN(16) "    - {type: conv2d, filters: 2, size: 3, padding: full}\n" DENSE, 4, 52,
               "model.layers.0.padding: expected one of: valid, same; got 'full'");
    expect_err(SYN(16) "    - {type: conv2d, filters: 0, size: 3}\n" DENSE, 4, 31,
               "model.layers.0.filters: must be between 1 and 65536, got 0");
    expect_err(SYN(16) "    - {type: conv2d, size: 3}\n" DENSE, 4, 7, "model.layers.0: a conv2d layer needs 'filters'");
    expect_err(SYN(16) "    - {type: max_pool}\n" DENSE, 4, 7, "model.layers.0: a max_pool layer needs 'size'");
    expect_err(SYN(16) "    - {type: conv2d, filters: 2, size: [1, 2, 3]}\n" DENSE, 4, 40,
               "model.layers.0.size: expected an integer or a list [h, w] of two integers");
    expect_err(SYN(16) "    - {type: conv2d, filters: 2, size: 0}\n" DENSE, 4, 40,
               "model.layers.0.size: must be between 1 and 4096, got 0");
    expect_err(SYN(16) "    - {type: max_pool, size: 1, padding: same}\n" DENSE, 4, 33,
               "model.layers.0.padding: not a key of a max_pool layer");
    /* an im2col buffer beyond physical memory: GEMMs run over chunks of samples, but one sample's
     * patch matrix is the least: a 4096x4096 window (same padding) over [1, 1, 16384] has
     * 4096*4096*16384 patch values = 1 TiB */
    expect_err(SYN(16384) "    - {type: conv2d, filters: 1, size: 4096, padding: same}\n" DENSE, 4, 7,
               "model.layers.0: the conv2d im2col buffer needs 1.02e+03 GiB (1 sample(s) x 1x1 outputs x "
               "274877906944 patch values x 4 bytes), more than this machine's memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
