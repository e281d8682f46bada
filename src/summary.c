/* summary.c - the model as a table (train's header, inspect). */
#include "summary.h"

#include <stdio.h>

size_t rd_layer_params(const rd_model *m, int i)
{
    const rd_layer *L = &m->layers[i];
    return L->kind == RD_LAYER_DENSE ? (size_t)L->in * (size_t)L->out + (size_t)L->out : 0;
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

void rd_model_summary(const rd_model *m, const char *indent, rd_buf *b)
{
    char num[32];
    rd_buf_printf(b, "%s%-12s %8s %12s  %s\n", indent, "layer", "output", "params", "settings");
    rd_buf_printf(b, "%s%-12s %8d %12d\n", indent, "input", m->input_dim, 0);
    int dropouts = 0;
    size_t total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const rd_layer *L = &m->layers[i];
        char name[32];
        size_t n = rd_layer_params(m, i);
        total += n;
        grouped(num, sizeof num, n);
        if (L->kind == RD_LAYER_DENSE) {
            snprintf(name, sizeof name, "dense_%d", L->dense_index);
            rd_buf_printf(b, "%s%-12s %8d %12s  %s", indent, name, L->out, num, rd_activation_name(L->act));
            if (L->max_norm > 0) rd_buf_printf(b, ", max_norm %g", L->max_norm);
            rd_buf_printf(b, "\n");
        } else {
            snprintf(name, sizeof name, "dropout_%d", dropouts++);
            rd_buf_printf(b, "%s%-12s %8d %12s  rate %g\n", indent, name, L->out, num, L->rate);
        }
    }
    grouped(num, sizeof num, total);
    rd_buf_printf(b, "%s%-12s %8s %12s\n", indent, "total", "", num);
}
