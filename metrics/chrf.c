#include "chrf.h"

#include <stdlib.h>
#include <string.h>

#include "bleu.h" /* BLEU_SACREBLEU_VERSION */
#include "mtok.h"
#include "ngram.h"
#include "ys_unicode.h"

struct chrf_ctx {
    ng_table chars, words;
    size_t *cpos;      /* byte offset of each code point (plus the end) */
    size_t cpos_cap;
    size_t *wpos;      /* [start, end) byte offsets of each word, in pairs */
    size_t wpos_cap;
};

void chrf_options_default(chrf_options *o)
{
    o->char_order = 6;
    o->word_order = 0;
    o->beta = 2;
    o->lowercase = false;
    o->whitespace = false;
    o->eps_smoothing = false;
}

size_t chrf_nstats(const chrf_options *o) { return 3 * (size_t)(o->char_order + o->word_order); }

chrf_ctx *chrf_ctx_new(void) { return calloc(1, sizeof(chrf_ctx)); }

void chrf_ctx_free(chrf_ctx *c)
{
    if (!c)
        return;
    ng_free(&c->chars);
    ng_free(&c->words);
    free(c->cpos);
    free(c->wpos);
    free(c);
}

/* One side (hypothesis or a reference) prepared for n-gram extraction. */
typedef struct {
    char *chars;   /* text the character n-grams come from */
    size_t nchars; /* its length in code points */
    char *words;   /* chrF++ words, single-space separated */
    size_t nwords;
} side;

static void free_side(side *s)
{
    free(s->chars);
    free(s->words);
}

static int is_punct(uint32_t cp) { return cp < 128 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)cp) && cp; }

typedef struct {
    char *out;
    size_t len, nwords;
} word_sink;

static void add_word(word_sink *w, const char *s, size_t n)
{
    if (w->nwords++)
        w->out[w->len++] = ' ';
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

/* sacrebleu's _remove_punctuation: a word longer than one character loses
 * one trailing punctuation mark into its own token, or failing that one
 * leading mark. */
static void on_word(const char *s, size_t n, void *ctx)
{
    word_sink *w = ctx;
    uint32_t first, last = 0;
    size_t k = uni_decode(s, n, &first), lastlen = 0, count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t m = uni_decode(s + i, n - i, &cp);
        if (!m)
            m = 1, cp = (unsigned char)s[i];
        last = cp, lastlen = m, count++;
        i += m;
    }
    if (count == 1) {
        add_word(w, s, n);
    } else if (is_punct(last)) {
        add_word(w, s, n - lastlen);
        add_word(w, s + n - lastlen, lastlen);
    } else if (is_punct(first)) {
        add_word(w, s, k);
        add_word(w, s + k, n - k);
    } else {
        add_word(w, s, n);
    }
}

static void on_nospace(const char *s, size_t n, void *ctx)
{
    word_sink *w = ctx;
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

static int prepare(const chrf_options *o, const char *text, side *sd)
{
    memset(sd, 0, sizeof *sd);
    size_t n = strlen(text);
    char *low = NULL;
    if (o->lowercase) {
        if (!(low = uni_lower_utf8(text, n, &n)))
            return -1;
        text = low;
    }
    sd->chars = malloc(n + 1);
    if (!sd->chars)
        goto oom;
    if (o->whitespace) {
        memcpy(sd->chars, text, n);
        sd->chars[n] = 0;
    } else {
        word_sink w = {sd->chars, 0, 0};
        mtok_split(text, n, on_nospace, &w);
        sd->chars[w.len] = 0;
    }
    if (o->word_order > 0) {
        sd->words = malloc(2 * n + 1);
        if (!sd->words)
            goto oom;
        word_sink w = {sd->words, 0, 0};
        mtok_split(text, n, on_word, &w);
        sd->words[w.len] = 0;
        sd->nwords = w.nwords;
    }
    free(low);
    return 0;
oom:
    free(low);
    free_side(sd);
    return -1;
}

/* Code point offsets of sd->chars into c->cpos; returns the count. */
static int index_chars(chrf_ctx *c, const char *s, size_t *count)
{
    size_t n = strlen(s);
    if (c->cpos_cap < n + 1) {
        size_t *p = realloc(c->cpos, (n + 1) * sizeof *p);
        if (!p)
            return -1;
        c->cpos = p;
        c->cpos_cap = n + 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        c->cpos[k++] = i;
        uint32_t cp;
        size_t m = uni_decode(s + i, n - i, &cp);
        i += m ? m : 1;
    }
    c->cpos[k] = n;
    *count = k;
    return 0;
}

typedef struct {
    size_t *pos;     /* pairs of [start, end) byte offsets */
    const char *base;
    size_t n;
} span_sink;

static void on_span(const char *s, size_t n, void *ctx)
{
    span_sink *k = ctx;
    k->pos[2 * k->n] = (size_t)(s - k->base);
    k->pos[2 * k->n + 1] = (size_t)(s - k->base) + n;
    k->n++;
}

static int index_words(chrf_ctx *c, const char *s, size_t *count)
{
    size_t n = strlen(s);
    if (c->wpos_cap < n + 1) {
        size_t *p = realloc(c->wpos, 2 * (n + 1) * sizeof *p);
        if (!p)
            return -1;
        c->wpos = p;
        c->wpos_cap = n + 1;
    }
    span_sink k = {c->wpos, s, 0};
    mtok_split(s, n, on_span, &k);
    *count = k.n;
    return 0;
}

/* Visit every n-gram of `sd` (character orders then word orders): fn gets
 * the table, key, and order index (0-based over char then word orders). */
typedef int (*ngram_fn)(ng_table *t, const char *key, size_t len, int oi, void *ctx);

static int each_ngram(chrf_ctx *c, const chrf_options *o, const side *sd, ngram_fn fn, void *ctx)
{
    size_t nc;
    if (index_chars(c, sd->chars, &nc) < 0)
        return -1;
    for (int k = 1; k <= o->char_order; k++)
        for (size_t i = 0; i + (size_t)k <= nc; i++)
            if (fn(&c->chars, sd->chars + c->cpos[i], c->cpos[i + k] - c->cpos[i], k - 1, ctx) < 0)
                return -1;
    if (o->word_order > 0) {
        size_t nw;
        if (index_words(c, sd->words, &nw) < 0)
            return -1;
        for (int k = 1; k <= o->word_order; k++)
            for (size_t i = 0; i + (size_t)k <= nw; i++) {
                size_t s = c->wpos[2 * i], e = c->wpos[2 * (i + k - 1) + 1];
                if (fn(&c->words, sd->words + s, e - s, o->char_order + k - 1, ctx) < 0)
                    return -1;
            }
    }
    return 0;
}

static int count_hyp(ng_table *t, const char *key, size_t len, int oi, void *ctx)
{
    int64_t *hyp_tot = ctx;
    ng_entry *e = ng_get(t, key, len, 1);
    if (!e)
        return -1;
    e->order = oi;
    e->hyp++;
    hyp_tot[oi]++;
    return 0;
}

typedef struct {
    uint32_t stamp;
    int64_t *ref_tot;
} ref_pass;

static int count_ref(ng_table *t, const char *key, size_t len, int oi, void *ctx)
{
    ref_pass *rp = ctx;
    rp->ref_tot[oi]++;
    ng_entry *e = ng_get(t, key, len, 0);
    if (e) {
        if (e->stamp != rp->stamp) {
            e->stamp = rp->stamp;
            e->ref_cur = 0;
        }
        e->ref_cur++;
    }
    return 0;
}

static void add_matches(const ng_table *t, uint32_t stamp, int64_t *match)
{
    for (size_t i = 0; i < t->cap; i++) {
        const ng_entry *e = &t->slots[i];
        if (e->key && e->stamp == stamp)
            match[e->order] += e->hyp < e->ref_cur ? e->hyp : e->ref_cur;
    }
}

int chrf_sample_stats(chrf_ctx *c, const chrf_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, int64_t *stats, ys_error *err)
{
    int order = o->char_order + o->word_order;
    size_t ns = chrf_nstats(o);
    memset(stats, 0, ns * sizeof *stats);
    if (order <= 0 || order > CHRF_MAX_ORDER)
        return ys_fail(err, YS_EUSAGE, "chrF orders must add up to 1..%d", CHRF_MAX_ORDER);
    side h;
    if (prepare(o, hyp, &h) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in chrF");
    int64_t hyp_tot[CHRF_MAX_ORDER] = {0};
    int rc = 0;
    size_t expect = strlen(h.chars) * (size_t)o->char_order + h.nwords * (size_t)o->word_order;
    if (ng_reset(&c->chars, expect) < 0 || ng_reset(&c->words, h.nwords * 2 + 1) < 0 ||
        each_ngram(c, o, &h, count_hyp, hyp_tot) < 0) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in chrF");
        goto done;
    }
    double best = -1.0;
    int64_t cur[3 * CHRF_MAX_ORDER];
    for (size_t r = 0; r < nrefs; r++) {
        side rs;
        if (prepare(o, refs[r], &rs) < 0) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory in chrF");
            goto done;
        }
        int64_t ref_tot[CHRF_MAX_ORDER] = {0}, match[CHRF_MAX_ORDER] = {0};
        ref_pass rp = {(uint32_t)(r + 1), ref_tot};
        int bad = each_ngram(c, o, &rs, count_ref, &rp) < 0;
        free_side(&rs);
        if (bad) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory in chrF");
            goto done;
        }
        add_matches(&c->chars, rp.stamp, match);
        add_matches(&c->words, rp.stamp, match);
        for (int i = 0; i < order; i++) {
            /* sacrebleu counts hypothesis n-grams only against a reference
             * that has n-grams of that order. */
            cur[3 * i] = ref_tot[i] ? hyp_tot[i] : 0;
            cur[3 * i + 1] = ref_tot[i];
            cur[3 * i + 2] = match[i];
        }
        double f = chrf_score_from(cur, o);
        if (f > best) {
            best = f;
            memcpy(stats, cur, ns * sizeof *stats);
        }
    }
done:
    free_side(&h);
    return rc;
}

double chrf_score_from(const int64_t *st, const chrf_options *o)
{
    const double eps = 1e-16;
    int order = o->char_order + o->word_order;
    double factor = (double)(o->beta * o->beta);
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int eff = 0;
    for (int i = 0; i < order; i++) {
        double n_hyp = (double)st[3 * i], n_ref = (double)st[3 * i + 1], n_match = (double)st[3 * i + 2];
        double prec = n_hyp > 0 ? n_match / n_hyp : eps;
        double rec = n_ref > 0 ? n_match / n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += prec;
            avg_rec += rec;
            eff++;
        }
    }
    if (o->eps_smoothing)
        return 100 * score / order;
    if (eff == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= eff;
        avg_rec /= eff;
    }
    if (avg_prec + avg_rec != 0) {
        double s = (1 + factor) * avg_prec * avg_rec;
        s /= factor * avg_prec + avg_rec;
        return 100 * s;
    }
    return 0.0;
}

void chrf_name(const chrf_options *o, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "chrF%d", o->beta);
    for (int i = 0; i < o->word_order && n > 0 && (size_t)n + 1 < cap; i++)
        buf[n++] = '+', buf[n] = 0;
}

void chrf_signature(const chrf_options *o, int nrefs, char *buf, size_t cap)
{
    char refs[16];
    if (nrefs < 0)
        snprintf(refs, sizeof refs, "var");
    else
        snprintf(refs, sizeof refs, "%d", nrefs);
    snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:%s", refs,
             o->lowercase ? "lc" : "mixed", o->eps_smoothing ? "no" : "yes", o->char_order,
             o->word_order, o->whitespace ? "yes" : "no", BLEU_SACREBLEU_VERSION);
}
