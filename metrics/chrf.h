/* chrf.h — chrF and chrF++ exactly as sacrebleu 2.x's CHRF.
 *
 * Per sample the statistics are, for each character order 1..char_order and
 * then each word order 1..word_order, the triple (hypothesis n-grams,
 * reference n-grams, matches) of the reference with the best sentence
 * chrF; a corpus score is chrf_score_from over the sum of all samples'
 * statistics. `stats` arrays hold chrf_nstats(o) int64 values, owned by the
 * caller. A chrf_ctx holds scratch memory (one per thread).
 */
#ifndef YS_CHRF_H
#define YS_CHRF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

#define CHRF_MAX_ORDER 32

typedef struct {
    int char_order;      /* default 6 */
    int word_order;      /* default 0; 2 gives chrF++ */
    int beta;            /* default 2 */
    bool lowercase;
    bool whitespace;     /* keep white space in character n-grams */
    bool eps_smoothing;  /* chrF++.py/NLTK/Moses smoothing instead of effective order */
} chrf_options;

typedef struct chrf_ctx chrf_ctx;

void chrf_options_default(chrf_options *o);
size_t chrf_nstats(const chrf_options *o);
chrf_ctx *chrf_ctx_new(void);
void chrf_ctx_free(chrf_ctx *c);

int chrf_sample_stats(chrf_ctx *c, const chrf_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, int64_t *stats, ys_error *err);
/* Score (0-100) from one sample's or the summed statistics. */
double chrf_score_from(const int64_t *stats, const chrf_options *o);
/* "chrF2", "chrF2++" ... as sacrebleu names the score. */
void chrf_name(const chrf_options *o, char *buf, size_t cap);
void chrf_signature(const chrf_options *o, int nrefs, char *buf, size_t cap);

#endif
