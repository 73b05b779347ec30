/* rouge.h — ROUGE exactly as Google's rouge-score 0.1.2 computes it:
 * rouge1, rouge2 (n-gram overlap), rougeL (sentence-level LCS) and rougeLsum
 * (summary-level union LCS over newline-separated sentences), each as
 * precision, recall and F1.
 *
 * Tokenization is rouge-score's: Python lower-casing, every run of
 * characters outside [a-z0-9] a separator, tokens longer than 3 characters
 * stemmed with NLTK's Porter stemmer when `stem` is set. With several
 * references, each ROUGE type takes the reference with the best F (the first
 * on ties), as score_multi does; the corpus score is the mean over samples.
 * A rouge_ctx holds scratch memory (one per thread). Returns 0 or YS_ENOMEM.
 */
#ifndef YS_ROUGE_H
#define YS_ROUGE_H

#include <stdbool.h>
#include <stddef.h>

#include "ys_error.h"

enum { ROUGE_1, ROUGE_2, ROUGE_L, ROUGE_LSUM, ROUGE_NTYPES };

typedef struct {
    double precision, recall, fmeasure;
} rouge_prf;

typedef struct rouge_ctx rouge_ctx;

rouge_ctx *rouge_ctx_new(void);
void rouge_ctx_free(rouge_ctx *c);
int rouge_sample(rouge_ctx *c, bool stem, const char *prediction, const char *const *refs,
                 size_t nrefs, rouge_prf out[ROUGE_NTYPES], ys_error *err);
/* "rouge1", "rouge2", "rougeL", "rougeLsum" */
const char *rouge_type_name(int type);

#endif
