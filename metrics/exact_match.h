/* exact_match.h — exact match as lm-evaluation-harness and Hugging Face
 * `evaluate` compute it: optional regexes removed (in order, PCRE2 with
 * Unicode semantics like Python's re), then optional Python lower-casing,
 * removal of ASCII punctuation, removal of ASCII digits; then string
 * equality. Per-sample value 0 or 1; the corpus score is the mean (0-1).
 * An em_matcher is built once (compiling the regexes) and freed with
 * em_free; em_create returns NULL and fills err for a bad regex.
 */
#ifndef YS_EXACT_MATCH_H
#define YS_EXACT_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "ys_error.h"

typedef struct {
    bool ignore_case, ignore_punctuation, ignore_numbers;
    const char *const *regexes_to_ignore; /* borrowed; may be NULL */
    size_t nregexes;
} em_options;

typedef struct em_matcher em_matcher;

em_matcher *em_create(const em_options *o, ys_error *err);
void em_free(em_matcher *m);
/* 1.0 if the prediction equals any reference after the transformations. */
int em_sample(const em_matcher *m, const char *prediction, const char *const *refs, size_t nrefs,
              double *out, ys_error *err);

#endif
