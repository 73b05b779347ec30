/* kld.h — how far a model's next-token distributions are from a base
 * model's, with the statistics llama.cpp's `perplexity --kl-divergence`
 * prints (tools/perplexity/perplexity.cpp, ggml-org/llama.cpp at
 * 050fc7f32de16858ac667d775b43a51ed8976e6f), so figures are comparable.
 *
 * Per scored position, from the two models' rows over the whole vocabulary
 * and the observed next token t (everything in double):
 *   kld      = KL(p_base ‖ p_model) = Σ_i p_base(i) (ln p_base(i) − ln p_model(i))
 *              (terms with p_base(i) = 0 are 0; not clamped at 0, so exact
 *              ties can round to a value of the order of −1e-17)
 *   nll      = −ln p_model(t),  nll_base = −ln p_base(t)
 *   p_diff   = p_model(t) − p_base(t), a fraction (llama.cpp prints ×100 as
 *              "Δp ... %"): positive when the model gives the observed token
 *              more probability than the base
 *   same_top = argmax p_base == argmax p_model (first index on ties)
 * From logits the log-softmax is z − max − ln Σ exp(z − max) in double.
 * llama.cpp itself stores the base's log-probs as 16-bit codes and skips
 * base terms below ln p = −16; these functions compute the exact sum.
 *
 * Aggregates (kld_summarize), as llama.cpp defines them over N positions:
 *   mean ± uncertainty of x:  m = Σx/N, v = Σx²/N − m²,
 *                             u = sqrt(v/(N−1)) when v > 0 and N > 10, else 0
 *   cov(a, b) = (Σab/N − (Σa/N)(Σb/N)) / (N−1), 0 when N < 10
 *   PPL(Q) = exp(mean nll) ± PPL·u(nll); PPL(base) likewise
 *   Cor(ln PPL(Q), ln PPL(base)) = cov(nll, nll_base) / (u(nll)·u(nll_base))
 *   ln(PPL(Q)/PPL(base)) = mean nll − mean nll_base
 *                        ± sqrt(u(nll)² + u(nll_base)² − 2 cov)
 *   PPL(Q)/PPL(base) = exp(ln ratio) ± ratio·u(ln ratio)
 *   PPL(Q) − PPL(base) ± sqrt(u_Q² + u_base² − 2·PPL(Q)·PPL(base)·cov)
 *   KLD: mean ± u; Δp: mean ± u; RMS Δp = sqrt(mean p_diff²) ± u(p_diff²)/(2 RMS)
 *   same top p = n_same/N ± sqrt(p(1−p)/(N−1))
 *   median: the middle value, or the mean of the two middle ones;
 *   percentile f: q = f(N−1), linear between sorted[floor q] and the next
 * Where llama.cpp would divide by zero or take the root of a rounding-
 * negative variance, these give 0 (the uncertainty of a ratio whose inputs
 * are identical, RMS Δp's uncertainty when RMS is 0, same top with N = 1)
 * and NaN for the correlation when an uncertainty is 0. llama.cpp computes
 * the percentiles in float on float values; these use double throughout.
 * Pure functions; no allocation, no global state.
 */
#ifndef YS_KLD_H
#define YS_KLD_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct {
    double kld, nll, nll_base, p_diff;
    int same_top;
} kld_pos;

/* One position from two rows of raw logits (vocab floats each). A token
 * outside [0, vocab) or a row with no finite maximum is YS_EINPUT. */
int kld_position_logits(const float *base, const float *model, size_t vocab, int32_t tok, kld_pos *out,
                        ys_error *err);
/* The same from two rows of log-probabilities (already normalised; -inf
 * allowed for impossible tokens). */
int kld_position_logprobs(const double *base, const double *model, size_t vocab, int32_t tok, kld_pos *out,
                          ys_error *err);

/* Running sums over positions (zero-initialise). */
typedef struct {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff, sum_p_diff2, sum_p_diff4;
    double max_abs_p_diff;
    int64_t n_same_top, count;
} kld_acc;
void kld_acc_add(kld_acc *a, const kld_pos *p);

typedef struct {
    double value, unc;
} kld_vu;

/* The percentiles llama.cpp prints, in its order (the median and the
 * extremes are separate fields). */
#define KLD_NQ 8  /* KLD: 99.9 99 95 90 10 5 1 0.1 */
#define KLD_NQ_DP 10 /* Δp: 99.9 99 95 90 75 25 10 5 1 0.1 */
extern const double kld_q_fractions[KLD_NQ];
extern const double kld_q_dp_fractions[KLD_NQ_DP];

typedef struct {
    int64_t count;
    kld_vu ppl_model, ppl_base, ln_ppl_ratio, ppl_ratio, ppl_diff;
    double cor_ln_ppl; /* a fraction; NaN when undefined */
    kld_vu kld, p_diff, p_diff_rms, same_top;
    double kld_max, kld_min, kld_median, kld_q[KLD_NQ];
    double p_diff_max, p_diff_min, p_diff_median, p_diff_q[KLD_NQ_DP];
    double max_abs_p_diff;
} kld_summary;

/* mean ± uncertainty as above (exposed for the per-task rows). */
kld_vu kld_mean_unc(double sum, double sum2, int64_t count);
/* Percentile of sorted[0..n) (n >= 1) and its median. */
double kld_percentile(const double *sorted, size_t n, double fraction);
double kld_median(const double *sorted, size_t n);

/* The summary of the positions summed in `a`, whose per-position kld and
 * p_diff values are kld_values[0..n) and p_diff_values[0..n) (n must equal
 * a->count; both arrays are sorted in place). YS_EINPUT when n is 0 or
 * differs from the count. */
int kld_summarize(const kld_acc *a, double *kld_values, double *p_diff_values, size_t n, kld_summary *out,
                  ys_error *err);

#endif
