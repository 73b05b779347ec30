/* compare.h — the regression gate: a candidate run against a baseline run
 * (or an lm-evaluation-harness results file), metric by metric.
 *
 * For every (task, metric, filter) in the baseline: both values, Δ =
 * candidate − baseline, and a paired test on the samples both runs scored
 * (same task and doc id): McNemar's exact test for 0/1 metrics, a paired
 * bootstrap of the mean difference for other per-sample metrics, a paired
 * bootstrap of BLEU from per-sample sufficient statistics; without
 * per-sample data, a z-test from the two standard errors when both are
 * known. p-values are Holm-corrected across all tested rows. Verdicts:
 * regressed (worse by more than the allowed drop and significant, or, when
 * nothing could be tested, worse by more than the allowed drop), improved,
 * pass, not comparable (the task's content hash differs), missing (the
 * candidate lacks the metric).
 *
 * Metrics measured against another model rather than against the task's
 * answers (kld_mean from `run --kl-base`, lower is better) are listed but
 * gate nothing unless --max-drop names them (as `kld_mean` or
 * `task:kld_mean`): worse and significant is then "worse, not gated", and
 * their p-values are Holm-corrected among themselves, so adding them never
 * changes the gated rows' p-values. They compare only when both runs
 * measured them against the same base weights (else not comparable), and
 * a candidate's such metric the baseline lacks is listed as "candidate
 * only". The report owns all its memory; free it with cmp_free.
 */
#ifndef YS_COMPARE_H
#define YS_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef enum {
    CMP_PASS,
    CMP_REGRESSED,
    CMP_IMPROVED,
    CMP_NOT_COMPARABLE,
    CMP_MISSING,
    CMP_NOT_GATED,     /* worse and significant, on a metric the gate does not check */
    CMP_CANDIDATE_ONLY /* an ungated metric only the candidate has */
} cmp_verdict;

typedef struct {
    const char *baseline, *candidate; /* run id, model name (latest run) or results.json */
    const char *const *drop_names;    /* "metric" or "task:metric" */
    const double *drop_values;        /* allowed drop, in the metric's units */
    size_t ndrops;
    double alpha;                     /* 0.05 */
    int bootstrap;                    /* paired bootstrap resamples, 1000 */
    uint64_t seed;
    size_t max_flips;                 /* flipped examples kept per row, 5 */
} cmp_options;

typedef struct {
    int64_t doc_id;
    bool to_wrong; /* right in the baseline, wrong in the candidate */
    char *prompt, *baseline_prediction, *candidate_prediction, *target;
} cmp_flip;

typedef struct {
    char *task, *metric, *filter;
    bool higher_is_better;
    double baseline, candidate, delta, allowed_drop;
    double p, p_holm;    /* NAN when not tested */
    const char *test;    /* "mcnemar", "paired-bootstrap", "z-test", "none" */
    int64_t n_paired, to_wrong, to_right;
    cmp_verdict verdict;
    bool gated;          /* counts for the gate (see above) */
    cmp_flip *flips;
    size_t nflips;
} cmp_row;

typedef struct {
    char *baseline_label, *candidate_label;
    cmp_row *rows;
    size_t nrows;
    bool regressed;
} cmp_report;

void cmp_options_default(cmp_options *o);
int cmp_run(rs_store *s, const cmp_options *o, cmp_report **out, ys_error *err);
void cmp_free(cmp_report *r);
const char *cmp_verdict_name(cmp_verdict v);
/* Renderings (malloc'd text): a terminal table, Markdown for pull-request
 * comments, JUnit XML for CI systems. */
char *cmp_render_text(const cmp_report *r);
char *cmp_render_markdown(const cmp_report *r);
char *cmp_render_junit(const cmp_report *r);

#endif
