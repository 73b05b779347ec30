#include "perplexity.h"

#include <math.h>

#include "mtok.h"

void ppl_count_text(const char *doc, size_t len, ppl_stats *s)
{
    /* re.split(r"\s+", doc) yields one more piece than there are white space
     * runs, leading and trailing runs included (they give empty pieces). */
    int64_t runs = 0;
    for (size_t i = 0; i < len;) {
        size_t sp = mtok_space_at(doc + i, len - i);
        if (!sp) {
            i++;
            continue;
        }
        runs++;
        while (i < len && (sp = mtok_space_at(doc + i, len - i)))
            i += sp;
    }
    s->words = runs + 1;
    s->bytes = (int64_t)len;
}

void ppl_add(ppl_stats *acc, const ppl_stats *s)
{
    acc->loglik += s->loglik;
    acc->tokens += s->tokens;
    acc->words += s->words;
    acc->bytes += s->bytes;
}

static double ratio(double ll, int64_t n) { return n > 0 ? -ll / (double)n : NAN; }

double ppl_token_perplexity(const ppl_stats *s) { return exp(ratio(s->loglik, s->tokens)); }
double ppl_word_perplexity(const ppl_stats *s) { return exp(ratio(s->loglik, s->words)); }
double ppl_byte_perplexity(const ppl_stats *s) { return exp(ratio(s->loglik, s->bytes)); }
double ppl_bits_per_byte(const ppl_stats *s) { return ratio(s->loglik, s->bytes) / log(2.0); }
