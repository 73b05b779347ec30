#include "squad.h"

#include <stdlib.h>
#include <string.h>

#include "mtok.h"
#include "ngram.h"
#include "ys_unicode.h"

static int ascii_punct(unsigned char c)
{
    return c < 128 && c && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) != NULL;
}

/* Is the code point that starts at s[i] (or ends just before it) a \w? */
static int word_at(const char *s, size_t n, size_t i)
{
    uint32_t cp;
    size_t k = i < n ? uni_decode(s + i, n - i, &cp) : 0;
    return k && uni_is_word(cp);
}

static int word_before(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    size_t j = i - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    return word_at(s, i, j);
}

char *squad_normalize(const char *text)
{
    size_t n;
    char *low = uni_lower_utf8(text, strlen(text), &n);
    if (!low)
        return NULL;
    /* remove ASCII punctuation (string.punctuation) in place */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!ascii_punct((unsigned char)low[i]))
            low[m++] = low[i];
    low[m] = 0;
    /* re.sub(r'\b(a|an|the)\b', ' ', text): an article is a whole word, its
     * neighbours not \w; the regex tries a, an, the in that order but only
     * one of them can end at a boundary. */
    char *art = malloc(m + 1);
    if (!art) {
        free(low);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < m;) {
        size_t len = 0;
        if (!word_before(low, i)) {
            static const char *arts[] = {"a", "an", "the"};
            for (int a = 0; a < 3 && !len; a++) {
                size_t al = strlen(arts[a]);
                if (i + al <= m && memcmp(low + i, arts[a], al) == 0 && !word_at(low, m, i + al))
                    len = al;
            }
        }
        if (len) {
            art[k++] = ' ';
            i += len;
        } else {
            art[k++] = low[i++];
        }
    }
    art[k] = 0;
    free(low);
    /* ' '.join(text.split()) */
    char *out = mtok_apply(MTOK_NONE, art, k, NULL);
    free(art);
    return out;
}

typedef struct {
    ng_table *t;
    int side; /* 0 prediction, 1 gold */
    size_t n;
    int oom;
} count_ctx;

static void count_tok(const char *tok, size_t len, void *ctx)
{
    count_ctx *c = ctx;
    c->n++;
    ng_entry *e = ng_get(c->t, tok, len, c->side == 0);
    if (!e) {
        c->oom |= c->side == 0;
        return;
    }
    if (c->side == 0)
        e->hyp++;
    else
        e->ref_cur++;
}

/* SQuAD's f1_score on normalized strings: multiset overlap of tokens. */
static int token_f1(ng_table *t, const char *pred, const char *gold, double *f1)
{
    if (ng_reset(t, strlen(pred) / 2 + 4) < 0)
        return -1;
    count_ctx cp = {t, 0, 0, 0}, cg = {t, 1, 0, 0};
    mtok_split(pred, strlen(pred), count_tok, &cp);
    mtok_split(gold, strlen(gold), count_tok, &cg);
    if (cp.oom)
        return -1;
    int64_t same = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const ng_entry *e = &t->slots[i];
        if (e->key)
            same += e->hyp < e->ref_cur ? e->hyp : e->ref_cur;
    }
    if (same == 0) {
        *f1 = 0.0;
        return 0;
    }
    double precision = 1.0 * (double)same / (double)cp.n;
    double recall = 1.0 * (double)same / (double)cg.n;
    *f1 = (2 * precision * recall) / (precision + recall);
    return 0;
}

int squad_sample(const char *prediction, const char *const *golds, size_t ngolds, double *em,
                 double *f1, ys_error *err)
{
    *em = 0.0;
    *f1 = 0.0;
    ng_table t = {0};
    char *p = squad_normalize(prediction);
    int rc = p ? 0 : -1;
    for (size_t g = 0; g < ngolds && rc == 0; g++) {
        char *q = squad_normalize(golds[g]);
        double f = 0.0;
        if (!q || token_f1(&t, p, q, &f) < 0) {
            rc = -1;
        } else {
            if (strcmp(p, q) == 0)
                *em = 1.0;
            if (f > *f1)
                *f1 = f;
        }
        free(q);
    }
    free(p);
    ng_free(&t);
    return rc ? ys_fail(err, YS_ENOMEM, "out of memory in SQuAD metric") : 0;
}
