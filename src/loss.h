/* loss.h - R-Drop loss: CE averaged over both passes + alpha * symmetric KL (docs/ARCHITECTURE.md "Formulas"). */
#ifndef RDROP_LOSS_H
#define RDROP_LOSS_H

#include "common.h"

typedef struct {
    double loss, ce, kl;   /* sums over the B samples (per-sample values, not scaled) */
    long correct;          /* argmax of pass 1 == label */
} rd_loss_sums;

/* logits: [passes*B x K] (rows [qB,(q+1)B) pass q+1). Per sample:
 *   passes 2: CE = 0.5(-log P_y - log Q_y), KL = 0.5 sum_k (P_k-Q_k)(log P_k - log Q_k),
 *             loss = CE + alpha*KL
 *   passes n >= 3: CE = mean over the passes of -log P^q_y, KL = mean over the n(n-1)/2
 *             pairs of the pair's symmetric KL (as above), loss = CE + alpha*KL
 *   passes 1: loss = CE = -log P_y, KL = 0.
 * dlogits (same shape) = scale * dloss/dlogits (scale = 1/B_global for mean, 1 for sum).
 * Computed in double with log-softmax. dlogits may be NULL (eval). */
void rd_rdrop_loss(const float *logits, int B, int K, int passes, const int32_t *labels,
                   double alpha, double scale, float *dlogits, rd_loss_sums *sums);

/* One sample's symmetric KL between the softmaxes of logits a and b (K values each):
 * 0.5 sum_k (P_k - Q_k)(log P_k - log Q_k), in double (the probe KL of the trainer). */
double rd_symmetric_kl(const float *a, const float *b, int K);

#endif
