#include "bleu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "ys_unicode.h"

/* Scratch memory reused from sample to sample. The hypothesis's tokenized
 * text must outlive the reference passes (the n-gram table's keys point
 * into it), so it has its own tokenizer scratch. */
struct bleu_ctx {
    ng_table table;
    mtok_scratch hyp_tok, ref_tok;
    char *low;            /* lower-cased text */
    size_t low_cap;
    const char **tok;     /* start of each token of the text being counted */
    uint32_t *len;        /* its length */
    uint64_t *hash;       /* its hash */
    size_t cap;
};

void bleu_options_default(bleu_options *o)
{
    o->tokenize = MTOK_13A;
    o->smooth = BLEU_SMOOTH_EXP;
    o->smooth_value = NAN;
    o->lowercase = false;
    o->effective_order = false;
}

bleu_ctx *bleu_ctx_new(void) { return calloc(1, sizeof(bleu_ctx)); }

void bleu_ctx_free(bleu_ctx *c)
{
    if (!c)
        return;
    ng_free(&c->table);
    mtok_scratch_free(&c->hyp_tok);
    mtok_scratch_free(&c->ref_tok);
    free(c->low);
    free(c->tok);
    free(c->len);
    free(c->hash);
    free(c);
}

/* Lower-case, rstrip and tokenize one segment (sacrebleu's
 * _preprocess_segment) into sc->out; then split it into tokens in
 * c->tok/len/hash. Returns the token count, or -1 on OOM. */
static long preprocess(bleu_ctx *c, const bleu_options *o, const char *s, mtok_scratch *sc)
{
    size_t n = strlen(s);
    if (o->lowercase) {
        if ((n = uni_lower_utf8_into(s, n, &c->low, &c->low_cap)) == (size_t)-1)
            return -1;
        s = c->low;
    }
    n = mtok_rstrip_len(s, n);
    size_t len = mtok_apply_scratch(o->tokenize, s, n, sc);
    if (len == (size_t)-1)
        return -1;
    /* Every tokenizer returns its tokens joined by single spaces, so
     * Python's split() here is a split on ' '. */
    size_t need = len / 2 + 1;
    if (c->cap < need) {
        size_t cap = need > 64 ? need : 64;
        const char **t = realloc(c->tok, cap * sizeof *t);
        if (t)
            c->tok = t;
        uint32_t *l = realloc(c->len, cap * sizeof *l);
        if (l)
            c->len = l;
        uint64_t *h = realloc(c->hash, cap * sizeof *h);
        if (h)
            c->hash = h;
        if (!t || !l || !h)
            return -1;
        c->cap = cap;
    }
    const char *p = sc->out, *end = sc->out + len;
    size_t k = 0;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *e = sp ? sp : end;
        c->tok[k] = p;
        c->len[k] = (uint32_t)(e - p);
        c->hash[k] = ng_hash(p, (size_t)(e - p));
        k++;
        p = e + 1;
    }
    return (long)k;
}

/* The n-gram of order k at token i is the text from the start of token i
 * to the end of token i+k-1 (tokens are single-space separated): a key
 * taken in place. Its hash is built from the tokens' hashes, one step per
 * order, so no n-gram's text is hashed. */
static const char *ngram_end(const bleu_ctx *c, size_t i, size_t k)
{
    return c->tok[i + k - 1] + c->len[i + k - 1];
}

int bleu_sample_stats(bleu_ctx *c, const bleu_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, bleu_stats *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    long nh_ = preprocess(c, o, hyp, &c->hyp_tok);
    if (nh_ < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    size_t nh = (size_t)nh_;
    out->sys_len = (int64_t)nh;
    if (ng_reset(&c->table, nh * BLEU_ORDER) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    for (size_t i = 0; i < nh; i++) {
        uint64_t h = 0;
        for (size_t k = 1; k <= BLEU_ORDER && i + k <= nh; k++) {
            h = ng_hash_step(h, c->hash[i + k - 1]);
            const char *s = c->tok[i];
            ng_entry *en = ng_get_h(&c->table, s, (size_t)(ngram_end(c, i, k) - s), h, 1);
            if (!en)
                return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
            en->order = (int)k;
            en->hyp++;
        }
    }
    for (size_t k = 1; k <= BLEU_ORDER; k++)
        out->total[k - 1] = nh >= k ? (int64_t)(nh - k + 1) : 0;
    int64_t best_diff = -1, best_len = -1;
    for (size_t r = 0; r < nrefs; r++) {
        long nr_ = preprocess(c, o, refs[r], &c->ref_tok);
        if (nr_ < 0)
            return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
        size_t nr = (size_t)nr_;
        /* closest reference length; ties go to the shorter one */
        int64_t diff = llabs(out->sys_len - (int64_t)nr);
        if (best_diff < 0 || diff < best_diff) {
            best_diff = diff;
            best_len = (int64_t)nr;
        } else if (diff == best_diff && (int64_t)nr < best_len) {
            best_len = (int64_t)nr;
        }
        for (size_t i = 0; i < nr; i++) {
            uint64_t h = 0;
            for (size_t k = 1; k <= BLEU_ORDER && i + k <= nr; k++) {
                h = ng_hash_step(h, c->hash[i + k - 1]);
                const char *s = c->tok[i];
                ng_entry *en = ng_get_h(&c->table, s, (size_t)(ngram_end(c, i, k) - s), h, 0);
                if (!en)
                    break; /* not in the hypothesis: nor is any longer n-gram here */
                if (en->stamp != r + 1) {
                    en->stamp = (uint32_t)(r + 1);
                    en->ref_cur = 0;
                }
                if (++en->ref_cur > en->ref_max)
                    en->ref_max = en->ref_cur;
            }
        }
    }
    out->ref_len = best_len < 0 ? 0 : best_len;
    for (size_t i = 0; i < c->table.used; i++) {
        ng_entry *en = &c->table.slots[c->table.live[i]];
        out->correct[en->order - 1] += en->hyp < en->ref_max ? en->hyp : en->ref_max;
    }
    return 0;
}

void bleu_stats_add(bleu_stats *acc, const bleu_stats *s)
{
    acc->sys_len += s->sys_len;
    acc->ref_len += s->ref_len;
    for (int k = 0; k < BLEU_ORDER; k++) {
        acc->correct[k] += s->correct[k];
        acc->total[k] += s->total[k];
    }
}

static double default_smooth_value(bleu_smooth m)
{
    return m == BLEU_SMOOTH_FLOOR ? 0.1 : m == BLEU_SMOOTH_ADDK ? 1.0 : NAN;
}

/* sacrebleu's my_log: log floored at -9999999999 for zero. */
static double floored_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

void bleu_score_from(const bleu_stats *s, const bleu_options *o, bool effective_order,
                     bleu_score *out)
{
    memset(out, 0, sizeof *out);
    double sv = isnan(o->smooth_value) ? default_smooth_value(o->smooth) : o->smooth_value;
    double correct[BLEU_ORDER], total[BLEU_ORDER];
    int any = 0;
    for (int k = 0; k < BLEU_ORDER; k++) {
        correct[k] = (double)s->correct[k];
        total[k] = (double)s->total[k];
        any |= s->correct[k] != 0;
    }
    out->sys_len = s->sys_len;
    out->ref_len = s->ref_len;
    out->ratio = s->ref_len ? (double)s->sys_len / (double)s->ref_len : 0.0;
    out->bp = 1.0;
    if (s->sys_len < s->ref_len)
        out->bp = s->sys_len > 0 ? exp(1.0 - (double)s->ref_len / (double)s->sys_len) : 0.0;
    if (any) {
        double smooth_mteval = 1.0;
        int eff = BLEU_ORDER;
        for (int n = 1; n <= BLEU_ORDER; n++) {
            if (o->smooth == BLEU_SMOOTH_ADDK && n > 1) {
                correct[n - 1] += sv;
                total[n - 1] += sv;
            }
            if (total[n - 1] == 0)
                break;
            if (effective_order)
                eff = n;
            if (correct[n - 1] == 0) {
                if (o->smooth == BLEU_SMOOTH_EXP) {
                    smooth_mteval *= 2;
                    out->precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
                } else if (o->smooth == BLEU_SMOOTH_FLOOR) {
                    out->precisions[n - 1] = 100.0 * sv / total[n - 1];
                }
            } else {
                out->precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
            }
        }
        double sum = 0.0;
        for (int n = 0; n < eff; n++)
            sum += floored_log(out->precisions[n]);
        out->score = out->bp * exp(sum / eff);
    }
    for (int k = 0; k < BLEU_ORDER; k++) {
        out->counts[k] = correct[k];
        out->totals[k] = total[k];
    }
}

void bleu_signature(const bleu_options *o, bool effective_order, int nrefs, char *buf, size_t cap)
{
    static const char *smooth_names[] = {"exp", "floor", "add-k", "none"};
    char refs[16], smooth[32];
    if (nrefs < 0)
        snprintf(refs, sizeof refs, "var");
    else
        snprintf(refs, sizeof refs, "%d", nrefs);
    double sv = isnan(o->smooth_value) ? default_smooth_value(o->smooth) : o->smooth_value;
    if (o->smooth == BLEU_SMOOTH_FLOOR || o->smooth == BLEU_SMOOTH_ADDK)
        snprintf(smooth, sizeof smooth, "%s[%.2f]", smooth_names[o->smooth], sv);
    else
        snprintf(smooth, sizeof smooth, "%s", smooth_names[o->smooth]);
    snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s|version:%s", refs,
             o->lowercase ? "lc" : "mixed", effective_order ? "yes" : "no", mtok_name(o->tokenize),
             smooth, BLEU_SACREBLEU_VERSION);
}

int bleu_parse_smooth(const char *name, bleu_smooth *out)
{
    static const char *names[] = {"exp", "floor", "add-k", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (bleu_smooth)i;
            return 0;
        }
    return -1;
}
