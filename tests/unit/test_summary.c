/* test_summary.c - the model table (train's header, inspect): every layer's parameter count
 * against the model's own buffer layout, the total against n_params.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"

static void reference_config(rd_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.n_layers = 6;
    rd_layer_spec *L = c->model.layers;
    L[0] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.2};
    L[1] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 1024, .activation = RD_ACT_RELU, .max_norm = 3.0};
    L[2] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[3] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 1024, .activation = RD_ACT_RELU, .max_norm = 3.0};
    L[4] = (rd_layer_spec){.kind = RD_LAYER_DROPOUT, .rate = 0.5};
    L[5] = (rd_layer_spec){.kind = RD_LAYER_DENSE, .units = 10, .activation = RD_ACT_LINEAR};
}

/* A dense layer's parameters run from its kernel's offset to the next dense layer's (or the
 * end of the buffer): the count the table shows must be that span. */
static void test_counts_match_buffer_layout(void **state)
{
    rd_config c;
    reference_config(&c);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 784, 1, &e), 0);
    size_t total = 0;
    for (int i = 0; i < m.n_layers; i++) {
        const rd_layer *L = &m.layers[i];
        size_t n = rd_layer_params(&m, i);
        total += n;
        if (L->kind != RD_LAYER_DENSE) { assert_int_equal(n, 0); continue; }
        size_t end = m.n_params;
        for (int j = i + 1; j < m.n_layers; j++)
            if (m.layers[j].kind == RD_LAYER_DENSE) { end = m.layers[j].w_off; break; }
        assert_int_equal(n, end - L->w_off);
        assert_int_equal(L->b_off, L->w_off + (size_t)L->in * (size_t)L->out);
    }
    assert_int_equal(total, m.n_params);
    assert_int_equal(total, 1863690);
    rd_model_free(&m);
}

/* The printed table: one row per layer plus input and total; the params column (digits with
 * thousands commas) sums to the total row and to n_params; the widths follow the layers. */
static void test_table_rows(void **state)
{
    rd_config c;
    reference_config(&c);
    rd_model m;
    rd_error e = {0};
    assert_int_equal(rd_model_create(&m, &c, 784, 1, &e), 0);
    rd_buf b = {0};
    rd_model_summary(&m, "  ", &b);
    assert_non_null(strstr(b.p, "1,049,600"));
    assert_non_null(strstr(b.p, "relu, max_norm 3"));
    const char *want_names[] = {"input", "dropout_0", "dense_0", "dropout_1", "dense_1", "dropout_2", "dense_2"};
    const int want_width[] = {784, 784, 1024, 1024, 1024, 1024, 10};
    int row = -1;
    size_t sum = 0, total = 0;
    for (char *line = strtok(b.p, "\n"); line; line = strtok(NULL, "\n")) {
        assert_memory_equal(line, "  ", 2);
        char name[32], num[32];
        if (row == -1) { assert_non_null(strstr(line, "layer")); row++; continue; }
        if (sscanf(line, " total %31s", num) == 1) {
            for (char *q = num; *q; q++) if (*q != ',') total = total * 10 + (size_t)(*q - '0');
            continue;
        }
        int width;
        assert_int_equal(sscanf(line, " %31s %d %31s", name, &width, num), 3);
        assert_true(row < 7);
        assert_string_equal(name, want_names[row]);
        assert_int_equal(width, want_width[row]);
        size_t n = 0;
        for (char *q = num; *q; q++) if (*q != ',') n = n * 10 + (size_t)(*q - '0');
        if (row > 0) assert_int_equal(n, rd_layer_params(&m, row - 1));
        sum += n;
        row++;
    }
    assert_int_equal(row, 7);
    assert_int_equal(sum, m.n_params);
    assert_int_equal(total, m.n_params);
    rd_buf_free(&b);
    rd_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match_buffer_layout),
        cmocka_unit_test(test_table_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
