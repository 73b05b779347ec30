#include "bleu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "ys_unicode.h"

struct bleu_ctx {
    ng_table table;
    struct { const char *s, *e; } *spans; /* tokens of the text being counted */
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
    free(c->spans);
    free(c);
}

/* Lower-case, rstrip and tokenize one segment: sacrebleu's
 * _preprocess_segment. Returns a malloc'd string. */
static char *preprocess(const bleu_options *o, const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *low = NULL;
    if (o->lowercase) {
        low = uni_lower_utf8(s, n, &n);
        if (!low)
            return NULL;
        s = low;
    }
    n = mtok_rstrip_len(s, n);
    char *tok = mtok_apply(o->tokenize, s, n, len);
    free(low);
    return tok;
}

/* Token spans of a tokenized segment (Python's str.split()). */
typedef struct {
    bleu_ctx *c;
    size_t n;
} tok_sink;

static void on_token(const char *tok, size_t len, void *ctx)
{
    tok_sink *t = ctx;
    t->c->spans[t->n].s = tok;
    t->c->spans[t->n].e = tok + len;
    t->n++;
}

/* Every tokenizer returns tokens joined by single spaces, so the n-gram of
 * order k at token i is the text from the start of token i to the end of
 * token i+k-1: a key taken in place, without building a tuple. */
static int tokens(bleu_ctx *c, const char *s, size_t n, size_t *count)
{
    if (c->cap < n + 1) {
        size_t cap = n + 1 > 64 ? n + 1 : 64;
        void *a = realloc(c->spans, cap * sizeof *c->spans);
        if (!a)
            return -1;
        c->spans = a;
        c->cap = cap;
    }
    tok_sink t = {c, 0};
    mtok_split(s, n, on_token, &t);
    *count = t.n;
    return 0;
}

int bleu_sample_stats(bleu_ctx *c, const bleu_options *o, const char *hyp,
                      const char *const *refs, size_t nrefs, bleu_stats *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    size_t hlen;
    char *h = preprocess(o, hyp, &hlen);
    if (!h)
        return ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
    int rc = 0;
    size_t nh;
    char **reftexts = calloc(nrefs ? nrefs : 1, sizeof *reftexts);
    if (!reftexts || tokens(c, h, hlen, &nh) < 0) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
        goto done;
    }
    out->sys_len = (int64_t)nh;
    if (ng_reset(&c->table, nh * BLEU_ORDER) < 0) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
        goto done;
    }
    for (int k = 1; k <= BLEU_ORDER; k++) {
        for (size_t i = 0; i + k <= nh; i++) {
            const char *s = c->spans[i].s, *e = c->spans[i + k - 1].e;
            ng_entry *en = ng_get(&c->table, s, (size_t)(e - s), 1);
            if (!en) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
                goto done;
            }
            en->order = k;
            en->hyp++;
            out->total[k - 1]++;
        }
    }
    int64_t best_diff = -1, best_len = -1;
    for (size_t r = 0; r < nrefs; r++) {
        size_t rlen, nr;
        reftexts[r] = preprocess(o, refs[r], &rlen);
        if (!reftexts[r] || tokens(c, reftexts[r], rlen, &nr) < 0) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory in BLEU");
            goto done;
        }
        /* closest reference length; ties go to the shorter one */
        int64_t diff = llabs(out->sys_len - (int64_t)nr);
        if (best_diff < 0 || diff < best_diff) {
            best_diff = diff;
            best_len = (int64_t)nr;
        } else if (diff == best_diff && (int64_t)nr < best_len) {
            best_len = (int64_t)nr;
        }
        for (int k = 1; k <= BLEU_ORDER; k++) {
            for (size_t i = 0; i + k <= nr; i++) {
                const char *s = c->spans[i].s, *e = c->spans[i + k - 1].e;
                ng_entry *en = ng_get(&c->table, s, (size_t)(e - s), 0);
                if (!en)
                    continue; /* not in the hypothesis: cannot match */
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
    for (size_t i = 0; i < c->table.cap; i++) {
        ng_entry *en = &c->table.slots[i];
        if (en->key)
            out->correct[en->order - 1] += en->hyp < en->ref_max ? en->hyp : en->ref_max;
    }
done:
    free(h);
    if (reftexts)
        for (size_t r = 0; r < nrefs; r++)
            free(reftexts[r]);
    free(reftexts);
    return rc;
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
