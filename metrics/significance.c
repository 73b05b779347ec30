#include "significance.h"

#include <math.h>
#include <stdlib.h>

#include "bootstrap.h"

/* log C(n, k) through lgamma: exact enough for p-values and safe for
 * thousands of discordant pairs, where the binomial coefficients overflow. */
static double log_choose(int64_t n, int64_t k)
{
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

double sig_mcnemar_exact(int64_t b, int64_t c)
{
    int64_t n = b + c, k = b < c ? b : c;
    if (n == 0)
        return 1.0;
    /* two-sided binomial test at p = 1/2: the distribution is symmetric, so
     * the p-value is twice the smaller tail (the tail sums the same terms
     * scipy's binomtest does) */
    double tail = 0;
    for (int64_t i = 0; i <= k; i++)
        tail += exp(log_choose(n, i) - (double)n * log(2.0));
    double p = 2 * tail;
    if (b == c)
        p = 1.0;
    return p > 1.0 ? 1.0 : p;
}

typedef struct {
    sig_delta_fn fn;
    void *ctx;
    int64_t le, ge;
} boot_ctx;

static double count_sides(const size_t *idx, size_t n, void *vctx)
{
    boot_ctx *b = vctx;
    double d = b->fn(idx, n, b->ctx);
    b->le += d <= 0;
    b->ge += d >= 0;
    return d;
}

int sig_paired_bootstrap(size_t n, int iters, uint64_t seed, sig_delta_fn fn, void *ctx, double *p,
                         ys_error *err)
{
    *p = 1.0;
    if (n == 0 || iters < 2)
        return 0;
    boot_ctx b = {fn, ctx, 0, 0};
    boot_estimate est;
    int rc = boot_resample(n, iters, seed, count_sides, &b, &est, err);
    if (rc < 0)
        return rc;
    double lo = ((double)b.le + 1) / (iters + 1), hi = ((double)b.ge + 1) / (iters + 1);
    double two = 2 * (lo < hi ? lo : hi);
    *p = two > 1.0 ? 1.0 : two;
    return 0;
}

typedef struct {
    double p;
    size_t i;
} ranked_p;

static int by_p(const void *a, const void *b)
{
    const ranked_p *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p ? 1 : (x->i > y->i) - (x->i < y->i);
}

int sig_holm(const double *p, size_t n, double *adjusted, ys_error *err)
{
    ranked_p *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return ys_fail(err, YS_ENOMEM, "out of memory in Holm correction");
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked_p){p[i], i};
    qsort(r, n, sizeof *r, by_p);
    double running = 0;
    for (size_t k = 0; k < n; k++) {
        double a = (double)(n - k) * r[k].p;
        if (a > 1.0)
            a = 1.0;
        if (a < running)
            a = running; /* adjusted p-values never decrease with rank */
        running = a;
        adjusted[r[k].i] = a;
    }
    free(r);
    return 0;
}
