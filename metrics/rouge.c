#include "rouge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "porter.h"
#include "ys_reserve.h"
#include "ys_unicode.h"

/* A tokenized text: token ids (interned per sample) and where each
 * newline-separated sentence starts, for rougeLsum. */
typedef struct {
    int *ids;
    size_t n, cap;
    size_t *sent;   /* sentence k is ids[sent[k] .. sent[k+1]) */
    size_t nsent, sent_cap;
} toks;

/* Token ids are kept across samples: a word seen once is lower-cased,
 * stemmed and interned only once (`words` maps the lower-cased word to the
 * id of its stem, `stems` the stem to its id), so the common case costs one
 * hash lookup per token. The key texts live in `arena` chunks that never
 * move; everything is dropped when it grows too big or `stem` changes. */
struct rouge_ctx {
    ng_table words;     /* lower-cased word -> token id (in ng_entry.hyp) */
    ng_table stems;     /* stemmed token -> token id */
    char **chunks;      /* the arena */
    size_t nchunks, chunks_cap, chunk_used;
    int cache_stem;     /* the `stem` flag the cache was built with; -1 none */
    int next_id;
    char *low;          /* lower-cased text */
    size_t low_cap;
    char *stembuf;
    size_t stembuf_cap;
    toks pred, ref;
    ng_table grams;     /* bigram counting */
    int *lcs;           /* DP scratch */
    size_t lcs_cap;
    int *cnt_r, *cnt_c; /* per-id counts (all zero between uses) */
    size_t cnt_r_cap, cnt_c_cap;
    unsigned char *mark;
    size_t mark_cap;
};

enum { ARENA_CHUNK = 1 << 16, CACHE_MAX_IDS = 1 << 20 };

rouge_ctx *rouge_ctx_new(void)
{
    rouge_ctx *c = calloc(1, sizeof(rouge_ctx));
    if (c) {
        c->cache_stem = -1;
        c->chunk_used = ARENA_CHUNK; /* no chunk to fill yet */
    }
    return c;
}

static void free_toks(toks *t)
{
    free(t->ids);
    free(t->sent);
}

/* Forget every interned word (ids restart from 0). */
static void drop_cache(rouge_ctx *c)
{
    for (size_t i = 0; i < c->nchunks; i++)
        free(c->chunks[i]);
    c->nchunks = 0;
    c->chunk_used = ARENA_CHUNK;
    ng_reset(&c->words, 0);
    ng_reset(&c->stems, 0);
    c->next_id = 0;
}

void rouge_ctx_free(rouge_ctx *c)
{
    if (!c)
        return;
    drop_cache(c);
    free(c->chunks);
    ng_free(&c->words);
    ng_free(&c->stems);
    free(c->low);
    free(c->stembuf);
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

/* ys_reserve() for the per-id count arrays, zeroing the new part. */
static int grow_zeroed(int **p, size_t *cap, size_t need)
{
    size_t old = *cap;
    if (ys_reserve((void **)p, cap, need, sizeof **p) < 0)
        return -1;
    if (*cap > old)
        memset(*p + old, 0, (*cap - old) * sizeof **p);
    return 0;
}

static int push_id(toks *t, int id)
{
    if (ys_reserve((void **)&t->ids, &t->cap, t->n + 1, sizeof *t->ids) < 0)
        return -1;
    t->ids[t->n++] = id;
    return 0;
}

static int push_sent(toks *t)
{
    if (ys_reserve((void **)&t->sent, &t->sent_cap, t->nsent + 2, sizeof *t->sent) < 0)
        return -1;
    t->sent[t->nsent++] = t->n;
    t->sent[t->nsent] = t->n;
    return 0;
}

/* A stable copy of s[0..n) in the arena; NULL on OOM. */
static const char *arena_copy(rouge_ctx *c, const char *s, size_t n)
{
    if (n > ARENA_CHUNK / 4) { /* a very long token gets a chunk of its own */
        if (ys_reserve((void **)&c->chunks, &c->chunks_cap, c->nchunks + 1, sizeof *c->chunks) < 0)
            return NULL;
        char *p = malloc(n);
        if (!p)
            return NULL;
        memcpy(p, s, n);
        /* keep the current chunk last so it stays the one being filled */
        if (c->nchunks) {
            c->chunks[c->nchunks] = c->chunks[c->nchunks - 1];
            c->chunks[c->nchunks - 1] = p;
        } else {
            c->chunks[0] = p;
            c->chunk_used = ARENA_CHUNK; /* no chunk being filled */
        }
        c->nchunks++;
        return p;
    }
    if (c->chunk_used + n > ARENA_CHUNK) {
        if (ys_reserve((void **)&c->chunks, &c->chunks_cap, c->nchunks + 1, sizeof *c->chunks) < 0)
            return NULL;
        char *p = malloc(ARENA_CHUNK);
        if (!p)
            return NULL;
        c->chunks[c->nchunks++] = p;
        c->chunk_used = 0;
    }
    char *p = c->chunks[c->nchunks - 1] + c->chunk_used;
    memcpy(p, s, n);
    c->chunk_used += n;
    return p;
}

static int is_alnum(unsigned char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); }

/* The token id of one lower-cased word: from the cache, or by stemming
 * (when asked and the word is longer than 3 characters) and interning the
 * result. -1 on OOM; -2 when the stem is empty (no token). */
static int word_id(rouge_ctx *c, bool stem, const char *w, size_t n)
{
    uint64_t h = ng_hash(w, n);
    ng_entry *e = ng_get_h(&c->words, w, n, h, 0);
    if (e)
        return (int)e->hyp;
    const char *tok = w;
    size_t tl = n;
    if (stem && n > 3) {
        if (ys_reserve((void **)&c->stembuf, &c->stembuf_cap, n + 1, 1) < 0)
            return -1;
        tl = porter_stem(w, n, c->stembuf);
        tok = c->stembuf;
    }
    int id = -2;
    if (tl) {
        ng_entry *se = ng_get(&c->stems, tok, tl, 0);
        if (!se) {
            const char *key = arena_copy(c, tok, tl);
            if (!key || !(se = ng_get(&c->stems, key, tl, 1)))
                return -1;
            se->hyp = c->next_id++;
        }
        id = (int)se->hyp;
    }
    const char *key = arena_copy(c, w, n);
    if (!key || !(e = ng_get_h(&c->words, key, n, h, 1)))
        return -1;
    e->hyp = id;
    return id;
}

/* Tokenize one piece of text (a whole text, or one sentence of it) and
 * append its token ids to t: lower-case, then every run of [a-z0-9] is a
 * word. */
static int tokenize_into(rouge_ctx *c, bool stem, const char *s, size_t n, toks *t)
{
    size_t len = uni_lower_utf8_into(s, n, &c->low, &c->low_cap);
    if (len == (size_t)-1)
        return -1;
    const char *low = c->low;
    for (size_t i = 0; i < len;) {
        if (!is_alnum((unsigned char)low[i])) {
            i++;
            continue;
        }
        size_t st = i;
        while (i < len && is_alnum((unsigned char)low[i]))
            i++;
        int id = word_id(c, stem, low + st, i - st);
        if (id == -1 || (id >= 0 && push_id(t, id) < 0))
            return -1;
    }
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
    if (ys_reserve((void **)&c->lcs, &c->lcs_cap, (na + 1) * w, sizeof *c->lcs) < 0)
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
    /* Ids are global, so the count arrays can be large: they are kept all
     * zero between uses, and only the entries used here are cleared. */
    size_t nid = (size_t)c->next_id;
    if (grow_zeroed(&c->cnt_r, &c->cnt_r_cap, nid) < 0 || grow_zeroed(&c->cnt_c, &c->cnt_c_cap, nid) < 0)
        return -1;
    for (size_t i = 0; i < T->n; i++)
        c->cnt_r[T->ids[i]]++;
    for (size_t i = 0; i < P->n; i++)
        c->cnt_c[P->ids[i]]++;
    int64_t hits = 0;
    for (size_t rs = 0; rs < T->nsent; rs++) {
        const int *r = T->ids + T->sent[rs];
        size_t nr = T->sent[rs + 1] - T->sent[rs];
        if (ys_reserve((void **)&c->mark, &c->mark_cap, nr + 1, 1) < 0)
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
    for (size_t i = 0; i < T->n; i++)
        c->cnt_r[T->ids[i]] = 0;
    for (size_t i = 0; i < P->n; i++)
        c->cnt_c[P->ids[i]] = 0;
    prf(out, (double)hits / (double)P->n, (double)hits / (double)T->n);
    return 0;
}

int rouge_sample(rouge_ctx *c, bool stem, const char *prediction, const char *const *refs,
                 size_t nrefs, rouge_prf out[ROUGE_NTYPES], ys_error *err)
{
    memset(out, 0, sizeof(rouge_prf) * ROUGE_NTYPES);
    /* The word cache is dropped between samples only (ids must stay valid
     * within one), when `stem` changes or it has grown large. */
    if (c->cache_stem != (int)stem || c->next_id > CACHE_MAX_IDS || c->nchunks > 1024) {
        drop_cache(c);
        c->cache_stem = (int)stem;
    }
    if (tokenize_text(c, stem, prediction, &c->pred) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in ROUGE");
    for (size_t r = 0; r < nrefs; r++) {
        rouge_prf cur[ROUGE_NTYPES];
        if (tokenize_text(c, stem, refs[r], &c->ref) < 0 || score_ngrams(c, 1, &cur[ROUGE_1]) < 0 ||
            score_ngrams(c, 2, &cur[ROUGE_2]) < 0 || score_lsum(c, &cur[ROUGE_LSUM]) < 0)
            return ys_fail(err, YS_ENOMEM, "out of memory in ROUGE");
        const toks *P = &c->pred, *T = &c->ref;
        if (P->nsent == 1 && T->nsent == 1 && P->n && T->n) {
            /* One sentence each: rougeLsum just filled the LCS table of the
             * whole texts, which is rougeL's. */
            double l = c->lcs[T->n * (P->n + 1) + P->n];
            prf(&cur[ROUGE_L], l / (double)P->n, l / (double)T->n);
        } else if (score_lcs(c, &cur[ROUGE_L]) < 0) {
            return ys_fail(err, YS_ENOMEM, "out of memory in ROUGE");
        }
        for (int k = 0; k < ROUGE_NTYPES; k++)
            if (r == 0 || cur[k].fmeasure > out[k].fmeasure)
                out[k] = cur[k];
    }
    return 0;
}
