/* summary.c - the model as a table (train's header, inspect). */
#include "summary.h"

#include <stdio.h>

size_t rd_layer_params(const rd_model *m, int i)
{
    const rd_layer *L = &m->layers[i];
    return rd_layer_has_params(L) ? (size_t)L->k_rows * (size_t)L->k_cols + (size_t)L->k_cols : 0;
}

/* 1863690 -> "1,863,690" */
static void grouped(char *buf, size_t n, size_t v)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
}

/* The output column: the width, or H x W x C when the model has conv2d layers. */
static const char *out_text(const rd_model *m, const int shape[3], char *buf, size_t n)
{
    if (m->n_conv > 0) snprintf(buf, n, "%dx%dx%d", shape[0], shape[1], shape[2]);
    else snprintf(buf, n, "%d", shape[0] * shape[1] * shape[2]);
    return buf;
}

void rd_model_summary(const rd_model *m, const char *indent, rd_buf *b)
{
    char num[32], out[40];
    rd_buf_printf(b, "%s%-12s %8s %12s  %s\n", indent, "layer", "output", "params", "settings");
    rd_buf_printf(b, "%s%-12s %8s %12d\n", indent, "input", out_text(m, m->input_shape, out, sizeof out), 0);
    int dropouts = 0, pools = 0;
    size_t total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        char name[32];
        size_t n = rd_layer_params(m, i);
        total += n;
        grouped(num, sizeof num, n);
        out_text(m, L->shape, out, sizeof out);
        if (rd_layer_has_params(L)) {
            if (L->kind == RD_LAYER_CONV2D) snprintf(name, sizeof name, "conv2d_%d", L->conv_index);
            else snprintf(name, sizeof name, "dense_%d", L->dense_index);
            rd_buf_printf(b, "%s%-12s %8s %12s  ", indent, name, out, num);
            if (L->kind == RD_LAYER_CONV2D)
                rd_buf_printf(b, "%dx%d stride %dx%d %s, ", L->g.KH, L->g.KW, L->g.SH, L->g.SW, rd_padding_name(L->padding));
            rd_buf_printf(b, "%s", rd_activation_name(L->act));
            if (L->max_norm > 0) rd_buf_printf(b, ", max_norm %g", L->max_norm);
            rd_buf_printf(b, "\n");
        } else if (L->kind == RD_LAYER_MAX_POOL) {
            snprintf(name, sizeof name, "max_pool_%d", pools++);
            rd_buf_printf(b, "%s%-12s %8s %12s  %dx%d stride %dx%d\n", indent, name, out, num, L->g.KH, L->g.KW,
                          L->g.SH, L->g.SW);
        } else {
            snprintf(name, sizeof name, "dropout_%d", dropouts++);
            rd_buf_printf(b, "%s%-12s %8s %12s  rate %g\n", indent, name, out, num, L->rate);
        }
    }
    grouped(num, sizeof num, total);
    rd_buf_printf(b, "%s%-12s %8s %12s\n", indent, "total", "", num);
}
