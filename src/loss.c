/* loss.c - R-Drop loss and its gradient w.r.t. both halves of the logits. */
#include "loss.h"

#include <math.h>
#include <stdlib.h>

/* logp[k] = z[k] - max - log(sum exp(z - max)), in double. */
static void log_softmax(const float *z, int K, double *logp)
{
    double mx = z[0];
    for (int k = 1; k < K; k++)
        if (z[k] > mx) mx = z[k];
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
    double lse = mx + log(s);
    for (int k = 0; k < K; k++) logp[k] = (double)z[k] - lse;
}

static int argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

/* One sample, one pass: loss = -log P_y, grad = P - e_y. */
static double single_pass(const float *a, int K, int y, double scale, float *da, double *lp)
{
    log_softmax(a, K, lp);
    if (da)
        for (int k = 0; k < K; k++)
            da[k] = (float)(scale * (exp(lp[k]) - (k == y ? 1.0 : 0.0)));
    return -lp[y];
}

/* One sample, two passes (DESIGN.md): returns CE and KL through ce/kl. */
static void two_pass(const float *a, const float *b, int K, int y, double alpha, double scale,
                     float *da, float *db, double *lp, double *lq, double *ce, double *kl)
{
    log_softmax(a, K, lp);
    log_softmax(b, K, lq);
    double kl_pq = 0.0, kl_qp = 0.0;
    for (int k = 0; k < K; k++) {
        double d = lp[k] - lq[k];
        kl_pq += exp(lp[k]) * d;
        kl_qp -= exp(lq[k]) * d;
    }
    *ce = 0.5 * (-lp[y] - lq[y]);
    *kl = 0.5 * (kl_pq + kl_qp);
    if (!da) return;
    for (int k = 0; k < K; k++) {
        double P = exp(lp[k]), Q = exp(lq[k]), d = lp[k] - lq[k];
        double e = (k == y) ? 1.0 : 0.0;
        double ga = 0.5 * (P - e) + alpha * 0.5 * (P * (d - kl_pq) + P - Q);
        double gb = 0.5 * (Q - e) + alpha * 0.5 * (Q * (-d - kl_qp) + Q - P);
        da[k] = (float)(scale * ga);
        db[k] = (float)(scale * gb);
    }
}

double rd_symmetric_kl(const float *a, const float *b, int K)
{
    enum { STACK_K = 1024 };
    double stack_buf[2 * STACK_K];
    double *lp = K <= STACK_K ? stack_buf : rd_malloc(2 * (size_t)K * sizeof *lp);
    double *lq = lp + K, s = 0.0;
    log_softmax(a, K, lp);
    log_softmax(b, K, lq);
    for (int k = 0; k < K; k++) s += (exp(lp[k]) - exp(lq[k])) * (lp[k] - lq[k]);
    if (lp != stack_buf) free(lp);
    return 0.5 * s;
}

/* One sample, K >= 3 passes (logits rows a[q*stride]): CE = (1/K) sum_q -log P^q_y, KL =
 * the mean over the K(K-1)/2 pairs of the pair's symmetric KL (docs/rdrop-strength.md). The
 * gradient w.r.t. pass p's logits is (1/K)(P^p - e_y) + alpha * w * sum_{q != p}
 * 0.5 (P^p (d_pq - KL(P^p||P^q)) + P^p - P^q), d_pq = log P^p - log P^q, w = 2/(K(K-1)):
 * the two-pass formula summed over p's partners (K = 2 is two_pass with w = 1). */
static void k_pass(const float *a, size_t stride, int passes, int K, int y, double alpha, double scale,
                   float *da, double *lp, double *ce, double *kl)
{
    const double w = 2.0 / ((double)passes * (passes - 1));
    double kl_pq[RD_MAX_PASSES][RD_MAX_PASSES];   /* KL(P^p || P^q) */
    double ce_sum = 0.0, kl_sum = 0.0;
    for (int q = 0; q < passes; q++) {
        log_softmax(a + q * stride, K, lp + (size_t)q * K);
        ce_sum -= lp[(size_t)q * K + y];
    }
    for (int p = 0; p < passes; p++)
        for (int q = 0; q < passes; q++) {
            const double *l1 = lp + (size_t)p * K, *l2 = lp + (size_t)q * K;
            double s = 0.0;
            for (int k = 0; k < K && q != p; k++) s += exp(l1[k]) * (l1[k] - l2[k]);
            kl_pq[p][q] = s;
        }
    for (int p = 0; p < passes; p++)
        for (int q = p + 1; q < passes; q++) kl_sum += 0.5 * (kl_pq[p][q] + kl_pq[q][p]);
    *ce = ce_sum / passes;
    *kl = w * kl_sum;
    if (!da) return;
    for (int p = 0; p < passes; p++) {
        const double *l1 = lp + (size_t)p * K;
        for (int k = 0; k < K; k++) {
            double P = exp(l1[k]), e = (k == y) ? 1.0 : 0.0, g = 0.0;
            for (int q = 0; q < passes; q++) {
                if (q == p) continue;
                const double *l2 = lp + (size_t)q * K;
                g += 0.5 * (P * (l1[k] - l2[k] - kl_pq[p][q]) + P - exp(l2[k]));
            }
            da[p * stride + k] = (float)(scale * ((P - e) / passes + alpha * w * g));
        }
    }
}

void rd_rdrop_loss(const float *logits, int B, int K, int passes, const int32_t *labels,
                   double alpha, double scale, float *dlogits, rd_loss_sums *sums)
{
    enum { STACK_K = 1024 };
    double stack_buf[2 * STACK_K];
    const size_t need = (size_t)(passes > 2 ? passes : 2) * (size_t)K;
    double *lp = need <= 2 * STACK_K ? stack_buf : rd_malloc(need * sizeof *lp);
    double *lq = lp + K;
    sums->loss = sums->ce = sums->kl = 0.0;
    sums->correct = 0;
    for (int i = 0; i < B; i++) {
        const float *a = logits + (size_t)i * K;
        float *da = dlogits ? dlogits + (size_t)i * K : NULL;
        int y = labels[i];
        sums->correct += argmax(a, K) == y;
        if (passes == 1) {
            double ce = single_pass(a, K, y, scale, da, lp);
            sums->ce += ce;
            sums->loss += ce;
            continue;
        }
        double ce, kl;
        if (passes == 2) {
            const float *b = logits + (size_t)(B + i) * K;
            float *db = dlogits ? dlogits + (size_t)(B + i) * K : NULL;
            two_pass(a, b, K, y, alpha, scale, da, db, lp, lq, &ce, &kl);
        } else {
            k_pass(a, (size_t)B * K, passes, K, y, alpha, scale, da, lp, &ce, &kl);
        }
        sums->ce += ce;
        sums->kl += kl;
        sums->loss += ce + alpha * kl;
    }
    if (lp != stack_buf) free(lp);
}
