/* loss.c - R-Drop loss and its gradient w.r.t. both halves of the logits. */
#include "loss.h"

#include <math.h>
#include <stdlib.h>

/* log(sum exp(z)) = max + log(sum exp(z - max)), in double: log P_k = (double)z[k] - lse. The
 * log-probabilities are recomputed where used, so the loss needs no buffer at any K. */
static double log_sum_exp(const float *z, int K)
{
    double mx = z[0];
    for (int k = 1; k < K; k++)
        if (z[k] > mx) mx = z[k];
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
    return mx + log(s);
}

static int argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

/* One sample, one pass: loss = -log P_y, grad = P - e_y. */
static double single_pass(const float *a, int K, int y, double scale, float *da)
{
    const double la = log_sum_exp(a, K);
    if (da)
        for (int k = 0; k < K; k++)
            da[k] = (float)(scale * (exp((double)a[k] - la) - (k == y ? 1.0 : 0.0)));
    return -((double)a[y] - la);
}

/* One sample, two passes (docs/ARCHITECTURE.md, "Formulas"): returns CE and KL through ce/kl. */
static void two_pass(const float *a, const float *b, int K, int y, double alpha, double scale,
                     float *da, float *db, double *ce, double *kl)
{
    const double la = log_sum_exp(a, K), lb = log_sum_exp(b, K);
    double kl_pq = 0.0, kl_qp = 0.0;
    for (int k = 0; k < K; k++) {
        double lp = (double)a[k] - la, lq = (double)b[k] - lb, d = lp - lq;
        kl_pq += exp(lp) * d;
        kl_qp -= exp(lq) * d;
    }
    *ce = 0.5 * (-((double)a[y] - la) - ((double)b[y] - lb));
    *kl = 0.5 * (kl_pq + kl_qp);
    if (!da) return;
    for (int k = 0; k < K; k++) {
        double lp = (double)a[k] - la, lq = (double)b[k] - lb;
        double P = exp(lp), Q = exp(lq), d = lp - lq;
        double e = (k == y) ? 1.0 : 0.0;
        double ga = 0.5 * (P - e) + alpha * 0.5 * (P * (d - kl_pq) + P - Q);
        double gb = 0.5 * (Q - e) + alpha * 0.5 * (Q * (-d - kl_qp) + Q - P);
        da[k] = (float)(scale * ga);
        db[k] = (float)(scale * gb);
    }
}

void rd_rdrop_loss(const float *logits, int B, int K, int passes, const int32_t *labels,
                   double alpha, double scale, float *dlogits, rd_loss_sums *sums)
{
    sums->loss = sums->ce = sums->kl = 0.0;
    sums->correct = 0;
    for (int i = 0; i < B; i++) {
        const float *a = logits + (size_t)i * K;
        float *da = dlogits ? dlogits + (size_t)i * K : NULL;
        int y = labels[i];
        sums->correct += argmax(a, K) == y;
        if (passes == 1) {
            double ce = single_pass(a, K, y, scale, da);
            sums->ce += ce;
            sums->loss += ce;
            continue;
        }
        const float *b = logits + (size_t)(B + i) * K;
        float *db = dlogits ? dlogits + (size_t)(B + i) * K : NULL;
        double ce, kl;
        two_pass(a, b, K, y, alpha, scale, da, db, &ce, &kl);
        sums->ce += ce;
        sums->kl += kl;
        sums->loss += ce + alpha * kl;
    }
}
