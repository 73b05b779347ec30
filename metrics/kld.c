/* kld.c — see kld.h for the definitions and where they come from. */
#include "kld.h"

#include <math.h>
#include <stdlib.h>

const double kld_q_fractions[KLD_NQ] = {0.999, 0.99, 0.95, 0.90, 0.10, 0.05, 0.01, 0.001};
const double kld_q_dp_fractions[KLD_NQ_DP] = {0.999, 0.99, 0.95, 0.90, 0.75, 0.25, 0.10, 0.05, 0.01, 0.001};

/* A row is either float logits or double log-probabilities; one code path
 * reads both so the two entry points cannot drift apart. */
typedef struct {
    const float *f;
    const double *d;
} row;

static inline double at(row r, size_t i)
{
    return r.f ? (double)r.f[i] : r.d[i];
}

/* The argmax (first index on ties, as torch.argmax and llama.cpp's strict
 * comparison) and ln Σ exp(z): for log-probabilities the offset is 0 by
 * definition, for logits it is computed around the maximum so that no
 * exp overflows. */
static int scan(row r, size_t vocab, const char *which, size_t *imax, double *lse, ys_error *err)
{
    double mx = -INFINITY;
    size_t im = 0;
    for (size_t i = 0; i < vocab; i++) {
        double v = at(r, i);
        if (isnan(v))
            return ys_fail(err, YS_EINPUT, "%s row: NaN at index %zu", which, i);
        if (v > mx)
            mx = v, im = i;
    }
    if (!isfinite(mx))
        return ys_fail(err, YS_EINPUT, "%s row: no finite maximum", which);
    *imax = im;
    if (r.d) {
        *lse = 0;
        return 0;
    }
    double s = 0;
    for (size_t i = 0; i < vocab; i++)
        s += exp(at(r, i) - mx);
    *lse = mx + log(s);
    return 0;
}

static int position(row b, row m, size_t vocab, int32_t tok, kld_pos *out, ys_error *err)
{
    if (tok < 0 || (size_t)tok >= vocab)
        return ys_fail(err, YS_EINPUT, "observed token %d outside the vocabulary of %zu", (int)tok, vocab);
    size_t ib, im;
    double lb, lm;
    int rc = scan(b, vocab, "base", &ib, &lb, err);
    if (rc == 0)
        rc = scan(m, vocab, "model", &im, &lm, err);
    if (rc < 0)
        return rc;
    double kl = 0;
    for (size_t i = 0; i < vocab; i++) {
        double lpb = at(b, i) - lb;
        double pb = exp(lpb);
        /* p ln p → 0 as p → 0: an impossible (or underflowed) base token
         * contributes nothing, whatever the model says about it */
        if (pb > 0)
            kl += pb * (lpb - (at(m, i) - lm));
    }
    double lpb_t = at(b, (size_t)tok) - lb, lpm_t = at(m, (size_t)tok) - lm;
    out->kld = kl;
    out->nll = -lpm_t;
    out->nll_base = -lpb_t;
    out->p_diff = exp(lpm_t) - exp(lpb_t);
    out->same_top = ib == im;
    return 0;
}

int kld_position_logits(const float *base, const float *model, size_t vocab, int32_t tok, kld_pos *out,
                        ys_error *err)
{
    return position((row){base, NULL}, (row){model, NULL}, vocab, tok, out, err);
}

int kld_position_logprobs(const double *base, const double *model, size_t vocab, int32_t tok, kld_pos *out,
                          ys_error *err)
{
    return position((row){NULL, base}, (row){NULL, model}, vocab, tok, out, err);
}

void kld_acc_add(kld_acc *a, const kld_pos *p)
{
    a->sum_nll += p->nll;
    a->sum_nll2 += p->nll * p->nll;
    a->sum_nll_base += p->nll_base;
    a->sum_nll_base2 += p->nll_base * p->nll_base;
    a->sum_nll_nll_base += p->nll * p->nll_base;
    a->sum_kld += p->kld;
    a->sum_kld2 += p->kld * p->kld;
    double d2 = p->p_diff * p->p_diff;
    a->sum_p_diff += p->p_diff;
    a->sum_p_diff2 += d2;
    a->sum_p_diff4 += d2 * d2;
    if (fabs(p->p_diff) > a->max_abs_p_diff)
        a->max_abs_p_diff = fabs(p->p_diff);
    a->n_same_top += p->same_top != 0;
    a->count++;
}

kld_vu kld_mean_unc(double sum, double sum2, int64_t count)
{
    if (count < 1)
        return (kld_vu){0, 0};
    double n = (double)count, f = sum / n, v = sum2 / n - f * f;
    /* llama.cpp gives no uncertainty below 11 values */
    return (kld_vu){f, v > 0 && count > 10 ? sqrt(v / (n - 1)) : 0};
}

static double covariance(double sa, double sb, double sab, int64_t count)
{
    if (count < 10)
        return 0;
    double n = (double)count;
    return (sab / n - (sa / n) * (sb / n)) / (n - 1);
}

double kld_percentile(const double *v, size_t n, double fraction)
{
    if (fraction <= 0)
        return v[0];
    if (fraction >= 1)
        return v[n - 1];
    double q = fraction * (double)(n - 1);
    size_t i = (size_t)q;
    q -= (double)i;
    return (1 - q) * v[i] + q * v[i + 1 < n ? i + 1 : n - 1];
}

double kld_median(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2] + v[n / 2 - 1]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sqrt of a variance that only rounding can make negative */
static double root0(double v)
{
    return v > 0 ? sqrt(v) : 0;
}

int kld_summarize(const kld_acc *a, double *kv, double *dv, size_t n, kld_summary *s, ys_error *err)
{
    if (n == 0 || a->count != (int64_t)n)
        return ys_fail(err, YS_EINPUT, "KL divergence summary: %zu values for %lld positions", n,
                       (long long)a->count);
    qsort(kv, n, sizeof *kv, cmp_double);
    qsort(dv, n, sizeof *dv, cmp_double);
    s->count = a->count;
    kld_vu lq = kld_mean_unc(a->sum_nll, a->sum_nll2, a->count);
    kld_vu lb = kld_mean_unc(a->sum_nll_base, a->sum_nll_base2, a->count);
    double cov = covariance(a->sum_nll, a->sum_nll_base, a->sum_nll_nll_base, a->count);
    s->ppl_model = (kld_vu){exp(lq.value), exp(lq.value) * lq.unc};
    s->ppl_base = (kld_vu){exp(lb.value), exp(lb.value) * lb.unc};
    s->cor_ln_ppl = lq.unc > 0 && lb.unc > 0 ? cov / (lq.unc * lb.unc) : NAN;
    s->ln_ppl_ratio = (kld_vu){lq.value - lb.value, root0(lq.unc * lq.unc + lb.unc * lb.unc - 2 * cov)};
    s->ppl_ratio = (kld_vu){exp(s->ln_ppl_ratio.value), exp(s->ln_ppl_ratio.value) * s->ln_ppl_ratio.unc};
    double pcov = s->ppl_model.value * s->ppl_base.value * cov;
    s->ppl_diff = (kld_vu){s->ppl_model.value - s->ppl_base.value,
                           root0(s->ppl_model.unc * s->ppl_model.unc + s->ppl_base.unc * s->ppl_base.unc - 2 * pcov)};
    s->kld = kld_mean_unc(a->sum_kld, a->sum_kld2, a->count);
    s->p_diff = kld_mean_unc(a->sum_p_diff, a->sum_p_diff2, a->count);
    kld_vu mse = kld_mean_unc(a->sum_p_diff2, a->sum_p_diff4, a->count);
    double rms = root0(mse.value);
    s->p_diff_rms = (kld_vu){rms, rms > 0 ? 0.5 / rms * mse.unc : 0};
    double pt = (double)a->n_same_top / (double)a->count;
    s->same_top = (kld_vu){pt, a->count > 1 ? root0(pt * (1 - pt) / (double)(a->count - 1)) : 0};
    s->kld_max = kv[n - 1], s->kld_min = kv[0], s->kld_median = kld_median(kv, n);
    for (int i = 0; i < KLD_NQ; i++)
        s->kld_q[i] = kld_percentile(kv, n, kld_q_fractions[i]);
    s->p_diff_max = dv[n - 1], s->p_diff_min = dv[0], s->p_diff_median = kld_median(dv, n);
    for (int i = 0; i < KLD_NQ_DP; i++)
        s->p_diff_q[i] = kld_percentile(dv, n, kld_q_dp_fractions[i]);
    s->max_abs_p_diff = a->max_abs_p_diff;
    return 0;
}
