/* summary.h - the model as a table, like Keras' summary(): layer, output width, parameters. */
#ifndef RDROP_SUMMARY_H
#define RDROP_SUMMARY_H

#include "common.h"
#include "model.h"

/* Parameters of layer i (its kernel and bias; 0 for dropout). The sum over the layers is
 * m->n_params. */
size_t rd_layer_params(const rd_model *m, int i);

/* Append the table to b, every line starting with `indent`:
 *     layer        output      params  settings
 *     input           784           0
 *     dropout_0       784           0  rate 0.2
 *     dense_0        1024     803,840  relu, max_norm 3
 *     total                 1,863,690
 */
void rd_model_summary(const rd_model *m, const char *indent, rd_buf *b);

#endif
