#include "rouge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "porter.h"
#include "ys_unicode.h"

/* A tokenized text: token ids (interned per sample) and where each
 * newline-separated sentence starts, for rougeLsum. */
typedef struct {
    int *ids;
    size_t n, cap;
    size_t *sent;   /* sentence k is ids[sent[k] .. sent[k+1]) */
    size_t nsent, sent_cap;
} toks;

struct rouge_ctx {
    ng_table vocab;     /* token text -> id (stored in ng_entry.hyp) */
    char **texts;       /* stemmed token buffers the vocab keys point into */
    size_t ntexts, texts_cap;
    int next_id;
    toks pred, ref;
    ng_table grams;     /* n-gram counting */
    int *lcs;           /* DP scratch */
    size_t lcs_cap;
    int *cnt_r, *cnt_c; /* per-id counts for rougeLsum */
    size_t cnt_r_cap, cnt_c_cap;
    unsigned char *mark;
    size_t mark_cap;
};

rouge_ctx *rouge_ctx_new(void) { return calloc(1, sizeof(rouge_ctx)); }

static void free_toks(toks *t)
{
    free(t->ids);
    free(t->sent);
}

static void reset_sample(rouge_ctx *c)
{
    for (size_t i = 0; i < c->ntexts; i++)
        free(c->texts[i]);
    c->ntexts = 0;
    c->next_id = 0;
}

void rouge_ctx_free(rouge_ctx *c)
{
    if (!c)
        return;
    reset_sample(c);
    free(c->texts);
    ng_free(&c->vocab);
    ng_free(&c->grams);
    free_toks(&c->pred);
    free_toks(&c->ref);
    free(c->lcs);
    free(c->cnt_r);
    free(c->cnt_c);
    free(c->mark);
    free(c);
}

const char *rouge_type_name(int type)
{
    static const char *names[] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};
    return names[type];
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = n;
    return 0;
}

static int push_id(toks *t, int id)
{
    if (grow((void **)&t->ids, &t->cap, t->n + 1, sizeof *t->ids) < 0)
        return -1;
    t->ids[t->n++] = id;
    return 0;
}

static int push_sent(toks *t)
{
    if (grow((void **)&t->sent, &t->sent_cap, t->nsent + 2, sizeof *t->sent) < 0)
        return -1;
    t->sent[t->nsent++] = t->n;
    t->sent[t->nsent] = t->n;
    return 0;
}

static int is_alnum(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); }

/* Tokenize one piece of text (a whole text, or one sentence of it) and
 * append its token ids to t. */
static int tokenize_into(rouge_ctx *c, bool stem, const char *s, size_t n, toks *t)
{
    size_t len;
    char *low = uni_lower_utf8(s, n, &len);
    if (!low)
        return -1;
    /* Stems are never longer than their words, so the lower-cased text's
     * length bounds the buffer of stemmed tokens, kept for the vocab keys. */
    char *buf = malloc(len + 1);
    if (!buf || grow((void **)&c->texts, &c->texts_cap, c->ntexts + 1, sizeof *c->texts) < 0) {
        free(low);
        free(buf);
        return -1;
    }
    c->texts[c->ntexts++] = buf;
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        if (!is_alnum(low[i])) {
            i++;
            continue;
        }
        size_t st = i;
        while (i < len && is_alnum(low[i]))
            i++;
        char *tok = buf + used;
        size_t tl;
        if (stem && i - st > 3) {
            tl = porter_stem(low + st, i - st, tok);
        } else {
            memcpy(tok, low + st, i - st);
            tl = i - st;
        }
        if (tl == 0)
            continue;
        used += tl;
        ng_entry *e = ng_get(&c->vocab, tok, tl, 1);
        if (!e) {
            free(low);
            return -1;
        }
        if (!e->order) {
            e->order = 1;
            e->hyp = c->next_id++;
        }
        if (push_id(t, (int)e->hyp) < 0) {
            free(low);
            return -1;
        }
    }
    free(low);
    return 0;
}

/* Whole-text tokens, plus sentence boundaries from splitting on "\n" and
 * dropping empty lines (rouge-score's get_sents). */
static int tokenize_text(rouge_ctx *c, bool stem, const char *s, toks *t)
{
    t->n = t->nsent = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i <= n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        if (e > i) {
            if (push_sent(t) < 0 || tokenize_into(c, stem, s + i, e - i, t) < 0)
                return -1;
            t->sent[t->nsent] = t->n;
        }
        i = e + 1;
    }
    return 0;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

static void prf(rouge_prf *o, double p, double r)
{
    o->precision = p;
    o->recall = r;
    o->fmeasure = fmeasure(p, r);
}

static int score_ngrams(rouge_ctx *c, int order, rouge_prf *out)
{
    const toks *P = &c->pred, *T = &c->ref;
    size_t np = P->n >= (size_t)order ? P->n - order + 1 : 0;
    size_t nt = T->n >= (size_t)order ? T->n - order + 1 : 0;
    if (ng_reset(&c->grams, np + 1) < 0)
        return -1;
    /* keys are the id sequences' bytes: equal n-grams have equal bytes */
    for (size_t i = 0; i < np; i++) {
        ng_entry *e = ng_get(&c->grams, (const char *)(P->ids + i), sizeof(int) * order, 1);
        if (!e)
            return -1;
        e->hyp++;
    }
    int64_t inter = 0;
    for (size_t i = 0; i < nt; i++) {
        ng_entry *e = ng_get(&c->grams, (const char *)(T->ids + i), sizeof(int) * order, 0);
        if (e && e->ref_cur < e->hyp) {
            e->ref_cur++;
            inter++;
        }
    }
    prf(out, (double)inter / (double)(np > 1 ? np : 1), (double)inter / (double)(nt > 1 ? nt : 1));
    return 0;
}

/* Full LCS table of a[0..na) x b[0..nb) into c->lcs ((na+1) x (nb+1)). */
static int lcs_table(rouge_ctx *c, const int *a, size_t na, const int *b, size_t nb)
{
    size_t w = nb + 1;
    if (grow((void **)&c->lcs, &c->lcs_cap, (na + 1) * w, sizeof *c->lcs) < 0)
        return -1;
    int *t = c->lcs;
    memset(t, 0, w * sizeof *t);
    for (size_t i = 1; i <= na; i++) {
        t[i * w] = 0;
        for (size_t j = 1; j <= nb; j++) {
            if (a[i - 1] == b[j - 1])
                t[i * w + j] = t[(i - 1) * w + j - 1] + 1;
            else {
                int up = t[(i - 1) * w + j], left = t[i * w + j - 1];
                t[i * w + j] = up > left ? up : left;
            }
        }
    }
    return 0;
}

static int score_lcs(rouge_ctx *c, rouge_prf *out)
{
    const toks *P = &c->pred, *T = &c->ref;
    if (!P->n || !T->n) {
        prf(out, 0, 0);
        return 0;
    }
    if (lcs_table(c, T->ids, T->n, P->ids, P->n) < 0)
        return -1;
    double l = c->lcs[T->n * (P->n + 1) + P->n];
    prf(out, l / (double)P->n, l / (double)T->n);
    return 0;
}

/* rougeLsum: for each reference sentence, the union of its LCS positions
 * against every candidate sentence; a hit consumes one count of the token
 * on both sides. */
static int score_lsum(rouge_ctx *c, rouge_prf *out)
{
    const toks *P = &c->pred, *T = &c->ref;
    if (!P->nsent || !T->nsent || !P->n || !T->n) {
        prf(out, 0, 0);
        return 0;
    }
    size_t nid = (size_t)c->next_id;
    if (grow((void **)&c->cnt_r, &c->cnt_r_cap, nid, sizeof(int)) < 0 ||
        grow((void **)&c->cnt_c, &c->cnt_c_cap, nid, sizeof(int)) < 0)
        return -1;
    memset(c->cnt_r, 0, nid * sizeof(int));
    memset(c->cnt_c, 0, nid * sizeof(int));
    for (size_t i = 0; i < T->n; i++)
        c->cnt_r[T->ids[i]]++;
    for (size_t i = 0; i < P->n; i++)
        c->cnt_c[P->ids[i]]++;
    int64_t hits = 0;
    for (size_t rs = 0; rs < T->nsent; rs++) {
        const int *r = T->ids + T->sent[rs];
        size_t nr = T->sent[rs + 1] - T->sent[rs];
        if (grow((void **)&c->mark, &c->mark_cap, nr + 1, 1) < 0)
            return -1;
        memset(c->mark, 0, nr + 1);
        for (size_t cs = 0; cs < P->nsent; cs++) {
            const int *cand = P->ids + P->sent[cs];
            size_t nc = P->sent[cs + 1] - P->sent[cs];
            if (lcs_table(c, r, nr, cand, nc) < 0)
                return -1;
            size_t w = nc + 1, i = nr, j = nc;
            while (i > 0 && j > 0) {
                if (r[i - 1] == cand[j - 1]) {
                    c->mark[i - 1] = 1;
                    i--, j--;
                } else if (c->lcs[i * w + j - 1] > c->lcs[(i - 1) * w + j]) {
                    j--;
                } else {
                    i--;
                }
            }
        }
        for (size_t i = 0; i < nr; i++) {
            int t = r[i];
            if (c->mark[i] && c->cnt_c[t] > 0 && c->cnt_r[t] > 0) {
                hits++;
                c->cnt_c[t]--;
                c->cnt_r[t]--;
            }
        }
    }
    prf(out, (double)hits / (double)P->n, (double)hits / (double)T->n);
    return 0;
}

int rouge_sample(rouge_ctx *c, bool stem, const char *prediction, const char *const *refs,
                 size_t nrefs, rouge_prf out[ROUGE_NTYPES], ys_error *err)
{
    memset(out, 0, sizeof(rouge_prf) * ROUGE_NTYPES);
    reset_sample(c);
    if (ng_reset(&c->vocab, 256) < 0 || tokenize_text(c, stem, prediction, &c->pred) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in ROUGE");
    for (size_t r = 0; r < nrefs; r++) {
        rouge_prf cur[ROUGE_NTYPES];
        if (tokenize_text(c, stem, refs[r], &c->ref) < 0 || score_ngrams(c, 1, &cur[ROUGE_1]) < 0 ||
            score_ngrams(c, 2, &cur[ROUGE_2]) < 0 || score_lcs(c, &cur[ROUGE_L]) < 0 ||
            score_lsum(c, &cur[ROUGE_LSUM]) < 0)
            return ys_fail(err, YS_ENOMEM, "out of memory in ROUGE");
        for (int k = 0; k < ROUGE_NTYPES; k++)
            if (r == 0 || cur[k].fmeasure > out[k].fmeasure)
                out[k] = cur[k];
    }
    return 0;
}
