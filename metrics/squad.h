/* squad.h — exact match and token F1 exactly as the official SQuAD v1.1
 * evaluation script: answers are normalized (Python lower-casing, ASCII
 * punctuation removed, whole words a/an/the removed with Python's Unicode
 * word boundaries, white space collapsed), then compared; the per-sample
 * value is the max over gold answers. Corpus scores are 100 × the mean.
 * Inputs must be valid UTF-8. Returns 0 or YS_ENOMEM.
 */
#ifndef YS_SQUAD_H
#define YS_SQUAD_H

#include <stddef.h>

#include "ys_error.h"

/* The normalized answer (malloc'd; caller frees), or NULL on OOM. */
char *squad_normalize(const char *s);
/* Per-sample EM (0 or 1) and F1 (0..1), max over the gold answers. */
int squad_sample(const char *prediction, const char *const *golds, size_t ngolds, double *em,
                 double *f1, ys_error *err);

#endif
