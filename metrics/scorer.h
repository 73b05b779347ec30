/* scorer.h — score a stream of (prediction, references) samples with a list
 * of metrics, the way `yardstick score` and the task runner both need it.
 *
 * Each metric keeps per-sample sufficient statistics and folds them into a
 * corpus score; text metrics keep only running sums unless a bootstrap is
 * asked for, so memory stays flat as the data grows (classification and
 * correlation metrics keep one small label/number pair per sample).
 * Metric names follow Hugging Face evaluate: bleu chrf rouge meteor squad
 * exact_match accuracy precision recall f1 matthews_correlation pearsonr
 * spearmanr. scorer_add returns YS_EINPUT (message names the field) when a
 * value has the wrong type; the caller adds file and line. After an error
 * the scorer holds partial sums: report the error, do not print a score.
 * Ownership: the scorer copies what it keeps; returned strings are malloc'd
 * and freed by the caller.
 */
#ifndef YS_SCORER_H
#define YS_SCORER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bleu.h"
#include "chrf.h"
#include "classify.h"
#include "exact_match.h"
#include "ys_error.h"

typedef enum { SV_TEXT, SV_NUMBER, SV_BOOL } scorer_kind;

typedef struct {
    scorer_kind kind;
    const char *text; /* SV_TEXT */
    double num;       /* SV_NUMBER, SV_BOOL (0/1) */
} scorer_value;

typedef struct {
    bleu_options bleu;
    chrf_options chrf;
    bool rouge_stem;
    em_options em;
    cls_average average;
    const char *pos_label;   /* binary precision/recall/F1: default "1" */
    int meteor_tokenize;     /* -1: split on " " (default); else an mtok_kind */
    const char *wordnet_dir; /* NULL: the compiled default */
    int bootstrap;           /* resamples for standard errors; 0: none */
    uint64_t seed;
} scorer_options;

/* One headline number: what a table or database row shows. */
typedef struct {
    char metric[24]; /* the metric asked for: "rouge", "squad", ... */
    char name[32];   /* the number's name: "rougeL", "f1", ... */
    double value, stderr_, ci_low, ci_high;
    bool higher_is_better;
} scorer_headline;

typedef struct scorer scorer;

void scorer_options_default(scorer_options *o);
/* metrics: comma-separated names. NULL on error (unknown metric, bad regex,
 * missing WordNet for meteor). */
scorer *scorer_new(const char *metrics, const scorer_options *o, ys_error *err);
void scorer_free(scorer *s);
/* Add one sample; *sample_json (if not NULL) receives the per-sample
 * scores as a JSON object keyed by metric name. */
int scorer_add(scorer *s, const scorer_value *pred, const scorer_value *refs, size_t nrefs,
               char **sample_json, ys_error *err);
size_t scorer_count(const scorer *s);
/* Corpus results: the JSON object `yardstick score --json` prints, and the
 * headline numbers (array owned by the scorer, valid until scorer_free). */
int scorer_finish(scorer *s, char **json, const scorer_headline **heads, size_t *nheads,
                  ys_error *err);
/* sacrebleu's one-line BLEU summary ("BLEU = 27.31 59.2/... (BP = ...)"),
 * available after scorer_finish when bleu was scored; NULL otherwise. */
const char *scorer_bleu_line(const scorer *s);

#endif
