/* perplexity.h — perplexities from log-likelihoods as lm-evaluation-harness
 * defines them. Per document the statistics are (sum of natural-log
 * likelihoods, tokens, words, bytes); a corpus value is a ratio of sums:
 *   token perplexity = exp(-Σll / Σtokens)
 *   word perplexity  = exp(-Σll / Σwords),  words = len(re.split(r"\s+", doc))
 *   byte perplexity  = exp(-Σll / Σbytes),  bytes = UTF-8 length
 *   bits per byte    = -Σll / Σbytes / ln 2
 * Pure functions; no allocation.
 */
#ifndef YS_PERPLEXITY_H
#define YS_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double loglik;
    int64_t tokens, words, bytes;
} ppl_stats;

/* Words and bytes of a document, lm-evaluation-harness style. */
void ppl_count_text(const char *doc, size_t len, ppl_stats *s);
void ppl_add(ppl_stats *acc, const ppl_stats *s);
double ppl_token_perplexity(const ppl_stats *s);
double ppl_word_perplexity(const ppl_stats *s);
double ppl_byte_perplexity(const ppl_stats *s);
double ppl_bits_per_byte(const ppl_stats *s);

#endif
