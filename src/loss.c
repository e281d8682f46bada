/* loss.c - R-Drop loss and its gradient w.r.t. the logits of every pass. */
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

double rd_symmetric_kl(const float *a, const float *b, int K)
{
    const double la = log_sum_exp(a, K), lb = log_sum_exp(b, K);
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        double lp = (double)a[k] - la, lq = (double)b[k] - lb;
        s += (exp(lp) - exp(lq)) * (lp - lq);
    }
    return 0.5 * s;
}

/* One sample, n >= 3 passes (pass q's logits at a + q*stride): CE = (1/n) sum_q -log P^q_y,
 * KL = the mean over the n(n-1)/2 pairs of the pair's symmetric KL (docs/rdrop-strength.md).
 * The gradient w.r.t. pass p's logits is (1/n)(P^p - e_y) + alpha * w * sum_{q != p}
 * 0.5 (P^p (d_pq - KL(P^p||P^q)) + P^p - P^q), d_pq = log P^p - log P^q, w = 2/(n(n-1)):
 * the two-pass formula summed over p's partners (n = 2 is two_pass with w = 1). */
static void k_pass(const float *a, size_t stride, int n, int K, int y, double alpha, double scale,
                   float *da, double *ce, double *kl)
{
    const double w = 2.0 / ((double)n * (n - 1));
    double lse[RD_MAX_PASSES], kl_pq[RD_MAX_PASSES][RD_MAX_PASSES];   /* KL(P^p || P^q) */
    double ce_sum = 0.0, kl_sum = 0.0;
    for (int q = 0; q < n; q++) {
        lse[q] = log_sum_exp(a + q * stride, K);
        ce_sum -= (double)a[q * stride + y] - lse[q];
    }
    for (int p = 0; p < n; p++)
        for (int q = 0; q < n; q++) {
            double s = 0.0;
            for (int k = 0; k < K && q != p; k++) {
                double lp = (double)a[p * stride + k] - lse[p], lq = (double)a[q * stride + k] - lse[q];
                s += exp(lp) * (lp - lq);
            }
            kl_pq[p][q] = s;
        }
    for (int p = 0; p < n; p++)
        for (int q = p + 1; q < n; q++) kl_sum += 0.5 * (kl_pq[p][q] + kl_pq[q][p]);
    *ce = ce_sum / n;
    *kl = w * kl_sum;
    if (!da) return;
    for (int p = 0; p < n; p++)
        for (int k = 0; k < K; k++) {
            double lp = (double)a[p * stride + k] - lse[p], P = exp(lp), e = (k == y) ? 1.0 : 0.0, g = 0.0;
            for (int q = 0; q < n; q++) {
                if (q == p) continue;
                double lq = (double)a[q * stride + k] - lse[q];
                g += 0.5 * (P * (lp - lq - kl_pq[p][q]) + P - exp(lq));
            }
            da[p * stride + k] = (float)(scale * ((P - e) / n + alpha * w * g));
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
        double ce, kl;
        if (passes == 2) {
            const float *b = logits + (size_t)(B + i) * K;
            float *db = dlogits ? dlogits + (size_t)(B + i) * K : NULL;
            two_pass(a, b, K, y, alpha, scale, da, db, &ce, &kl);
        } else {
            k_pass(a, (size_t)B * K, passes, K, y, alpha, scale, da, &ce, &kl);
        }
        sums->ce += ce;
        sums->kl += kl;
        sums->loss += ce + alpha * kl;
    }
}
