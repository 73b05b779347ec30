/* significance.h — paired tests for comparing two systems on the same
 * samples, and Holm's correction across many comparisons.
 *
 * sig_mcnemar_exact: the exact (binomial) McNemar test on discordant pairs,
 * b = baseline right / candidate wrong, c = the reverse; two-sided p-value,
 * equal to scipy.stats.binomtest(b, b + c, 0.5).pvalue (1 when b + c = 0).
 * sig_paired_bootstrap: resample sample indices (seeded), recompute the
 * metric difference candidate − baseline with fn on each resample; the
 * two-sided p-value is 2·min(P(Δ* ≤ 0), P(Δ* ≥ 0)) with add-one smoothing,
 * capped at 1. sig_holm: Holm–Bonferroni adjusted p-values, in input order.
 * Pure functions; sig_holm allocates scratch and returns YS_ENOMEM on failure.
 */
#ifndef YS_SIGNIFICANCE_H
#define YS_SIGNIFICANCE_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

double sig_mcnemar_exact(int64_t b, int64_t c);

/* Δ = metric(candidate) − metric(baseline) over the resample idx[0..n). */
typedef double (*sig_delta_fn)(const size_t *idx, size_t n, void *ctx);
int sig_paired_bootstrap(size_t n, int iters, uint64_t seed, sig_delta_fn fn, void *ctx, double *p,
                         ys_error *err);

int sig_holm(const double *p, size_t n, double *adjusted, ys_error *err);

#endif
