/* meteor.h — METEOR exactly as NLTK 3.8's
 * nltk.translate.meteor_score.meteor_score(references, hypothesis) with its
 * defaults: tokens lower-cased (Python's str.lower), then exact, Porter-stem
 * and WordNet-synonym matching stages with NLTK's greedy right-to-left
 * alignment, F-mean with weight alpha, fragmentation penalty
 * gamma * (chunks / matches) ** beta, best score over the references.
 * (As in NLTK, the synonym stage compares the stemmed words.)
 *
 * Corpus METEOR, as Hugging Face `evaluate` reports it, is the mean of the
 * per-sample scores; yardstick's default tokenization is Python's
 * str.split(" ") (meteor_sample_str).
 *
 * Contract: inputs are borrowed UTF-8 strings, never modified or kept; the
 * wordnet handle comes from wordnet_open and is only read. Functions return
 * 0 and write *score, or a negative YS_E* code with a message in err:
 * YS_EINPUT for no references (NLTK raises), YS_EUSAGE for a NULL wordnet or
 * a cache made for another one, YS_ENOMEM. *score is untouched on error. opt NULL means the defaults.
 */
#ifndef YS_METEOR_H
#define YS_METEOR_H

#include <stddef.h>

#include "wordnet.h"
#include "ys_error.h"

typedef struct {
    double alpha; /* 0.9: weight of precision vs recall in the F-mean */
    double beta;  /* 3.0: shape of the fragmentation penalty */
    double gamma; /* 0.5: weight of the fragmentation penalty */
} meteor_options;

void meteor_options_default(meteor_options *opt);

/* What is worth remembering across samples: each distinct token's
 * lower-cased form and Porter stem, and each stem's WordNet synonyms (the
 * lookups dominate the cost otherwise), held as interned strings so that
 * matching compares integers. A cache serves the one wordnet handle it was
 * made for (which must stay open while the cache is used), is owned by the
 * caller and is not thread-safe: use one per thread. Its memory is bounded
 * (it starts over when it holds too many words). Returns NULL when out of
 * memory. */
typedef struct meteor_cache meteor_cache;
meteor_cache *meteor_cache_new(const wordnet *wn);
void meteor_cache_free(meteor_cache *cache);

/* Score one hypothesis (hyp[0..nhyp) tokens) against nrefs references, the
 * r-th being refs[r][0..ref_lens[r]) tokens. Tokens are NUL-terminated.
 * cache may be NULL (then nothing is remembered between calls); otherwise it
 * must have been made for wn. */
int meteor_sample(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                  const char *const *hyp, size_t nhyp, const char *const *const *refs,
                  const size_t *ref_lens, size_t nrefs, double *score, ys_error *err);

/* The same on whole strings, each split on the space character exactly like
 * Python's str.split(" "): "a  b" gives ["a", "", "b"] and "" gives [""]. */
int meteor_sample_str(const wordnet *wn, meteor_cache *cache, const meteor_options *opt,
                      const char *hyp, const char *const *refs, size_t nrefs, double *score,
                      ys_error *err);

#endif
