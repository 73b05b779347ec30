/* bootstrap.h — standard errors and confidence intervals for corpus scores.
 *
 * Every metric keeps per-sample statistics, so uncertainty never re-scores
 * text: boot_resample draws `iters` resamples of the sample indices (with
 * replacement, from a seeded xoshiro256** generator: the same seed gives the
 * same result everywhere) and calls fn on each; the standard error is the
 * sample standard deviation (ddof 1) of the replicates, as
 * lm-evaluation-harness's bootstrap_stderr, and the interval is the
 * percentile interval at sacrebleu's indices (n/40 from each end for 95%).
 * boot_mean gives the analytic standard error of a mean (sample std / √n)
 * with a normal-approximation 95% interval.
 */
#ifndef YS_BOOTSTRAP_H
#define YS_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct {
    double value, stderr_, ci_low, ci_high;
} boot_estimate;

/* Score of the resample idx[0..n) (indices into the caller's samples). */
typedef double (*boot_fn)(const size_t *idx, size_t n, void *ctx);

int boot_resample(size_t n, int iters, uint64_t seed, boot_fn fn, void *ctx, boot_estimate *out,
                  ys_error *err);
void boot_mean(const double *values, size_t n, boot_estimate *out);

#endif
