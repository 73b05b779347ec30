#include "scorer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "jsonw.h"
#include "meteor.h"
#include "mtok.h"
#include "ngram.h"
#include "rouge.h"
#include "squad.h"

enum {
    M_BLEU, M_CHRF, M_ROUGE, M_METEOR, M_SQUAD, M_EM, M_ACC, M_PREC, M_REC, M_F1, M_MCC, M_PEARSON,
    M_SPEARMAN, M_COUNT
};

static const char *metric_names[M_COUNT] = {
    "bleu", "chrf", "rouge", "meteor", "squad", "exact_match", "accuracy", "precision", "recall", "f1",
    "matthews_correlation", "pearsonr", "spearmanr",
};

/* Running mean with Welford's M2 for the analytic standard error. The value
 * itself is sum / n, the plain mean the references report. */
typedef struct {
    double sum, mean, m2;
} mean_acc;

/* Slots of mean-type values. */
enum { S_ROUGE = 0, S_METEOR = S_ROUGE + 3 * ROUGE_NTYPES, S_SQUAD_EM, S_SQUAD_F1, S_EM, S_ACC, S_COUNT };

struct scorer {
    scorer_options o;
    bool on[M_COUNT];
    size_t n;
    bleu_ctx *bleu;
    bleu_stats bleu_total, *bleu_each;
    chrf_ctx *chrf;
    int64_t *chrf_total, *chrf_each;
    int nrefs_seen; /* -2 none yet, -1 varies */
    rouge_ctx *rouge;
    wordnet *wn;
    meteor_cache *meteor_cache;
    em_matcher *em;
    mean_acc mean[S_COUNT];
    /* classification: label ids per sample; correlations: numbers */
    int *lab_pred, *lab_ref;
    double *num_pred, *num_ref;
    size_t cap;
    ng_table labels;
    char **label_text;
    size_t nlabels, label_cap;
    scorer_headline heads[32];
    size_t nheads;
    char bleu_line[512];
};

void scorer_options_default(scorer_options *o)
{
    memset(o, 0, sizeof *o);
    bleu_options_default(&o->bleu);
    chrf_options_default(&o->chrf);
    o->average = CLS_BINARY;
    o->pos_label = "1";
    o->meteor_tokenize = -1;
    o->seed = 12345;
}

static bool needs_labels(const scorer *s)
{
    return s->on[M_PREC] || s->on[M_REC] || s->on[M_F1] || s->on[M_MCC] ||
           (s->on[M_ACC] && s->o.bootstrap);
}

scorer *scorer_new(const char *metrics, const scorer_options *o, ys_error *err)
{
    scorer *s = calloc(1, sizeof *s);
    if (!s) {
        ys_fail(err, YS_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->nrefs_seen = -2;
    const char *p = metrics;
    int any = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int m = 0; m < M_COUNT; m++)
            if (strlen(metric_names[m]) == len && strncmp(p, metric_names[m], len) == 0)
                found = m;
        if (found < 0 && len) {
            char known[256] = "";
            for (int m = 0; m < M_COUNT; m++) {
                strcat(known, m ? ", " : "");
                strcat(known, metric_names[m]);
            }
            ys_fail(err, YS_EUSAGE, "unknown metric '%.*s' (known: %s)", (int)len, p, known);
            scorer_free(s);
            return NULL;
        }
        if (found >= 0) {
            s->on[found] = true;
            any = 1;
        }
        p += len + (p[len] == ',');
    }
    if (!any) {
        ys_fail(err, YS_EUSAGE, "no metrics given");
        scorer_free(s);
        return NULL;
    }
    size_t nc = chrf_nstats(&o->chrf);
    if ((s->on[M_BLEU] && !(s->bleu = bleu_ctx_new())) ||
        (s->on[M_CHRF] && (!(s->chrf = chrf_ctx_new()) || !(s->chrf_total = calloc(nc, sizeof(int64_t))))) ||
        (s->on[M_ROUGE] && !(s->rouge = rouge_ctx_new()))) {
        ys_fail(err, YS_ENOMEM, "out of memory");
        scorer_free(s);
        return NULL;
    }
    if (s->on[M_METEOR]) {
        if (wordnet_open(o->wordnet_dir, &s->wn, err) < 0) {
            scorer_free(s);
            return NULL;
        }
        if (!(s->meteor_cache = meteor_cache_new(s->wn))) {
            ys_fail(err, YS_ENOMEM, "out of memory");
            scorer_free(s);
            return NULL;
        }
    }
    if (s->on[M_EM] && !(s->em = em_create(&o->em, err))) {
        scorer_free(s);
        return NULL;
    }
    return s;
}

void scorer_free(scorer *s)
{
    if (!s)
        return;
    bleu_ctx_free(s->bleu);
    free(s->bleu_each);
    chrf_ctx_free(s->chrf);
    free(s->chrf_total);
    free(s->chrf_each);
    rouge_ctx_free(s->rouge);
    meteor_cache_free(s->meteor_cache);
    wordnet_close(s->wn);
    em_free(s->em);
    free(s->lab_pred), free(s->lab_ref), free(s->num_pred), free(s->num_ref);
    for (size_t i = 0; i < s->nlabels; i++)
        free(s->label_text[i]);
    free(s->label_text);
    ng_free(&s->labels);
    free(s);
}

size_t scorer_count(const scorer *s) { return s->n; }

static void mean_add(mean_acc *m, size_t n_before, double v)
{
    m->sum += v;
    double d = v - m->mean;
    m->mean += d / (double)(n_before + 1);
    m->m2 += d * (v - m->mean);
}

/* Grow the per-sample arrays to hold sample s->n. */
static int grow_samples(scorer *s)
{
    if (s->n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 1024;
    size_t nc = chrf_nstats(&s->o.chrf);
#define GROW(ptr, count)                                                                           \
    do {                                                                                           \
        void *np_ = realloc(ptr, (count) * sizeof *(ptr));                                         \
        if (!np_)                                                                                  \
            return -1;                                                                             \
        ptr = np_;                                                                                 \
    } while (0)
    if (s->on[M_BLEU] && s->o.bootstrap)
        GROW(s->bleu_each, cap);
    if (s->on[M_CHRF] && s->o.bootstrap)
        GROW(s->chrf_each, cap * nc);
    if (needs_labels(s)) {
        GROW(s->lab_pred, cap);
        GROW(s->lab_ref, cap);
    }
    if (s->on[M_PEARSON] || s->on[M_SPEARMAN]) {
        GROW(s->num_pred, cap);
        GROW(s->num_ref, cap);
    }
#undef GROW
    s->cap = cap;
    return 0;
}

static const char *kind_name(scorer_kind k)
{
    return k == SV_TEXT ? "a string" : k == SV_NUMBER ? "a number" : "a boolean";
}

/* Text metrics need strings everywhere. */
static int check_text(const scorer_value *pred, const scorer_value *refs, size_t nrefs, ys_error *err)
{
    if (pred->kind != SV_TEXT)
        return ys_fail(err, YS_EINPUT, "field 'prediction' is %s, text metrics need a string", kind_name(pred->kind));
    if (nrefs == 0)
        return ys_fail(err, YS_EINPUT, "field 'references' is empty");
    for (size_t i = 0; i < nrefs; i++)
        if (refs[i].kind != SV_TEXT)
            return ys_fail(err, YS_EINPUT, "field 'references' item %zu is %s, text metrics need a string", i,
                           kind_name(refs[i].kind));
    return 0;
}

/* Label text of a value: numbers in Python's integer form when integral. */
static void label_key(const scorer_value *v, char *buf, size_t cap)
{
    if (v->kind == SV_TEXT)
        snprintf(buf, cap, "%s", v->text);
    else if (v->num == floor(v->num) && fabs(v->num) < 1e15)
        snprintf(buf, cap, "%lld", (long long)v->num);
    else
        jw_format_double(v->num, buf, cap);
}

static int label_id(scorer *s, const scorer_value *v)
{
    char key[256];
    label_key(v, key, sizeof key);
    ng_entry *e = ng_get(&s->labels, key, strlen(key), 0);
    if (e)
        return (int)e->hyp;
    if (s->nlabels == s->label_cap) {
        size_t cap = s->label_cap ? s->label_cap * 2 : 16;
        char **np = realloc(s->label_text, cap * sizeof *np);
        if (!np)
            return -1;
        s->label_text = np;
        s->label_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy)
        return -1;
    s->label_text[s->nlabels] = copy;
    if (!(e = ng_get(&s->labels, copy, strlen(copy), 1))) {
        free(copy);
        return -1;
    }
    e->hyp = (int64_t)s->nlabels;
    return (int)s->nlabels++;
}

static int as_number(const scorer_value *v, const char *field, double *out, ys_error *err)
{
    if (v->kind == SV_TEXT)
        return ys_fail(err, YS_EINPUT, "field '%s' is a string, correlation metrics need a number", field);
    *out = v->num;
    return 0;
}

/* sacrebleu reports counts and totals as integers unless add-k smoothing
 * with a fractional k made them floats. */
static void put_count(jsonw *w, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        jw_int(w, (long long)v);
    else
        jw_num(w, v);
}

static void put_bleu(jsonw *w, const bleu_score *b)
{
    jw_key(w, "score"), jw_num(w, b->score);
    jw_key(w, "counts"), jw_begin(w, '[');
    for (int k = 0; k < BLEU_ORDER; k++)
        put_count(w, b->counts[k]);
    jw_end(w, ']');
    jw_key(w, "totals"), jw_begin(w, '[');
    for (int k = 0; k < BLEU_ORDER; k++)
        put_count(w, b->totals[k]);
    jw_end(w, ']');
    jw_key(w, "precisions"), jw_begin(w, '[');
    for (int k = 0; k < BLEU_ORDER; k++)
        jw_num(w, b->precisions[k]);
    jw_end(w, ']');
    jw_key(w, "bp"), jw_num(w, b->bp);
    jw_key(w, "ratio"), jw_num(w, b->ratio);
    jw_key(w, "sys_len"), jw_int(w, (long long)b->sys_len);
    jw_key(w, "ref_len"), jw_int(w, (long long)b->ref_len);
}

static void put_prf(jsonw *w, const char *name, double p, double r, double f)
{
    jw_key(w, name), jw_begin(w, '{');
    jw_key(w, "precision"), jw_num(w, p);
    jw_key(w, "recall"), jw_num(w, r);
    jw_key(w, "fmeasure"), jw_num(w, f);
    jw_end(w, '}');
}

/* Tokens of a tokenized (single-space separated) string, split in place. */
static size_t split_spaces(char *t, const char **toks)
{
    size_t n = 0;
    for (char *p = t; *p;) {
        toks[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            break;
        *sp = 0;
        p = sp + 1;
    }
    return n;
}

/* METEOR on text: split on " " (NLTK given str.split(" ")), or tokenized
 * with a sacrebleu tokenizer first (--meteor-tokenize 13a|intl). */
static int meteor_text(scorer *s, const char *pred, const char *const *refs, size_t nrefs, double *v,
                       ys_error *err)
{
    if (s->o.meteor_tokenize < 0)
        return meteor_sample_str(s->wn, s->meteor_cache, NULL, pred, refs, nrefs, v, err);
    mtok_kind kind = (mtok_kind)s->o.meteor_tokenize;
    size_t nt = nrefs + 1;
    char **texts = calloc(nt, sizeof *texts);
    const char ***toks = calloc(nt, sizeof *toks);
    size_t *lens = calloc(nt, sizeof *lens);
    int rc = (texts && toks && lens) ? 0 : -1;
    for (size_t k = 0; k < nt && rc == 0; k++) {
        const char *src = k == 0 ? pred : refs[k - 1];
        size_t tl;
        texts[k] = mtok_apply(kind, src, strlen(src), &tl);
        toks[k] = texts[k] ? malloc((tl + 1) * sizeof **toks) : NULL;
        if (!toks[k])
            rc = -1;
        else
            lens[k] = split_spaces(texts[k], toks[k]);
    }
    if (rc == 0)
        rc = meteor_sample(s->wn, s->meteor_cache, NULL, toks[0], lens[0], (const char *const *const *)toks + 1,
                           lens + 1, nrefs, v, err);
    else
        rc = ys_fail(err, YS_ENOMEM, "out of memory in METEOR");
    for (size_t k = 0; k < nt; k++) {
        if (texts)
            free(texts[k]);
        if (toks)
            free(toks[k]);
    }
    free(texts), free(toks), free(lens);
    return rc;
}

int scorer_add(scorer *s, const scorer_value *pred, const scorer_value *refs, size_t nrefs,
               char **sample_json, ys_error *err)
{
    if (grow_samples(s) < 0)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    bool text = s->on[M_BLEU] || s->on[M_CHRF] || s->on[M_ROUGE] || s->on[M_METEOR] || s->on[M_SQUAD] ||
                s->on[M_EM];
    int rc;
    if (text && (rc = check_text(pred, refs, nrefs, err)) < 0)
        return rc;
    if (nrefs == 0)
        return ys_fail(err, YS_EINPUT, "field 'references' is empty");
    const char *stack_refs[8];
    const char **rs = nrefs <= 8 ? stack_refs : malloc(nrefs * sizeof *rs);
    if (!rs)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nrefs; i++)
        rs[i] = refs[i].text;
    /* per-sample JSON only when asked for: formatting doubles is costly */
    jsonw wbuf = {0}, *w = sample_json ? &wbuf : NULL;
    jw_begin(w, '{');
    rc = 0;
    size_t i = s->n;
    if (s->on[M_BLEU]) {
        bleu_stats st;
        if ((rc = bleu_sample_stats(s->bleu, &s->o.bleu, pred->text, rs, nrefs, &st, err)) < 0)
            goto out;
        bleu_stats_add(&s->bleu_total, &st);
        if (s->bleu_each)
            s->bleu_each[i] = st;
        if (w) { /* sentence BLEU as sacrebleu's --sentence-level: effective order on */
            bleu_score b;
            bleu_score_from(&st, &s->o.bleu, true, &b);
            jw_key(w, "bleu"), jw_begin(w, '{');
            put_bleu(w, &b);
            jw_end(w, '}');
        }
    }
    s->nrefs_seen = s->nrefs_seen == -2 || s->nrefs_seen == (int)nrefs ? (int)nrefs : -1;
    if (s->on[M_CHRF]) {
        size_t nc = chrf_nstats(&s->o.chrf);
        int64_t st[3 * CHRF_MAX_ORDER];
        if ((rc = chrf_sample_stats(s->chrf, &s->o.chrf, pred->text, rs, nrefs, st, err)) < 0)
            goto out;
        for (size_t k = 0; k < nc; k++)
            s->chrf_total[k] += st[k];
        if (s->chrf_each)
            memcpy(s->chrf_each + i * nc, st, nc * sizeof *st);
        if (w) {
            jw_key(w, "chrf"), jw_begin(w, '{');
            jw_key(w, "score"), jw_num(w, chrf_score_from(st, &s->o.chrf));
            jw_end(w, '}');
        }
    }
    if (s->on[M_ROUGE]) {
        rouge_prf r[ROUGE_NTYPES];
        if ((rc = rouge_sample(s->rouge, s->o.rouge_stem, pred->text, rs, nrefs, r, err)) < 0)
            goto out;
        jw_key(w, "rouge"), jw_begin(w, '{');
        for (int k = 0; k < ROUGE_NTYPES; k++) {
            mean_add(&s->mean[S_ROUGE + 3 * k], i, r[k].precision);
            mean_add(&s->mean[S_ROUGE + 3 * k + 1], i, r[k].recall);
            mean_add(&s->mean[S_ROUGE + 3 * k + 2], i, r[k].fmeasure);
            put_prf(w, rouge_type_name(k), r[k].precision, r[k].recall, r[k].fmeasure);
        }
        jw_end(w, '}');
    }
    if (s->on[M_METEOR]) {
        double v = 0;
        if ((rc = meteor_text(s, pred->text, rs, nrefs, &v, err)) < 0)
            goto out;
        mean_add(&s->mean[S_METEOR], i, v);
        jw_key(w, "meteor"), jw_begin(w, '{');
        jw_key(w, "score"), jw_num(w, v);
        jw_end(w, '}');
    }
    if (s->on[M_SQUAD]) {
        double em, f1;
        if ((rc = squad_sample(pred->text, rs, nrefs, &em, &f1, err)) < 0)
            goto out;
        mean_add(&s->mean[S_SQUAD_EM], i, em);
        mean_add(&s->mean[S_SQUAD_F1], i, f1);
        jw_key(w, "squad"), jw_begin(w, '{');
        jw_key(w, "exact_match"), jw_num(w, 100.0 * em);
        jw_key(w, "f1"), jw_num(w, 100.0 * f1);
        jw_end(w, '}');
    }
    if (s->on[M_EM]) {
        double v;
        if ((rc = em_sample(s->em, pred->text, rs, nrefs, &v, err)) < 0)
            goto out;
        mean_add(&s->mean[S_EM], i, v);
        jw_key(w, "exact_match"), jw_begin(w, '{');
        jw_key(w, "score"), jw_num(w, v);
        jw_end(w, '}');
    }
    if (s->on[M_ACC] || needs_labels(s)) {
        char a[256], b[256];
        label_key(pred, a, sizeof a);
        label_key(&refs[0], b, sizeof b);
        double v = strcmp(a, b) == 0;
        if (s->on[M_ACC]) {
            mean_add(&s->mean[S_ACC], i, v);
            jw_key(w, "accuracy"), jw_begin(w, '{');
            jw_key(w, "score"), jw_num(w, v);
            jw_end(w, '}');
        }
        if (needs_labels(s)) {
            int lp = label_id(s, pred), lr = label_id(s, &refs[0]);
            if (lp < 0 || lr < 0) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                goto out;
            }
            s->lab_pred[i] = lp, s->lab_ref[i] = lr;
        }
    }
    if (s->on[M_PEARSON] || s->on[M_SPEARMAN]) {
        if ((rc = as_number(pred, "prediction", &s->num_pred[i], err)) < 0 ||
            (rc = as_number(&refs[0], "references", &s->num_ref[i], err)) < 0)
            goto out;
    }
    jw_end(w, '}');
    s->n++;
out:
    if (rs != stack_refs)
        free(rs);
    if (rc == 0 && sample_json) {
        if (!(*sample_json = jw_take(w)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    free(wbuf.p);
    return rc;
}

/* ---- corpus results ---------------------------------------------------- */

static scorer_headline *head(scorer *s, const char *metric, const char *name, double v, bool hib)
{
    scorer_headline *h = &s->heads[s->nheads++];
    snprintf(h->metric, sizeof h->metric, "%s", metric);
    snprintf(h->name, sizeof h->name, "%s", name);
    h->value = v;
    h->stderr_ = h->ci_low = h->ci_high = NAN;
    h->higher_is_better = hib;
    return h;
}

static void mean_uncertainty(const scorer *s, const mean_acc *m, scorer_headline *h, double scale)
{
    if (!s->o.bootstrap || s->n < 2)
        return;
    double se = sqrt(m->m2 / (double)(s->n - 1)) / sqrt((double)s->n) * scale;
    h->stderr_ = se;
    h->ci_low = h->value - 1.959963984540054 * se;
    h->ci_high = h->value + 1.959963984540054 * se;
}

static double boot_bleu(const size_t *idx, size_t n, void *ctx)
{
    const scorer *s = ctx;
    bleu_stats t = {0};
    for (size_t i = 0; i < n; i++)
        bleu_stats_add(&t, &s->bleu_each[idx[i]]);
    bleu_score b;
    bleu_score_from(&t, &s->o.bleu, s->o.bleu.effective_order, &b);
    return b.score;
}

static double boot_chrf(const size_t *idx, size_t n, void *ctx)
{
    const scorer *s = ctx;
    size_t nc = chrf_nstats(&s->o.chrf);
    int64_t t[3 * CHRF_MAX_ORDER] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < nc; k++)
            t[k] += s->chrf_each[idx[i] * nc + k];
    return chrf_score_from(t, &s->o.chrf);
}

/* Classification metric `which` over the samples idx (NULL: all, in order). */
typedef struct {
    scorer *s;
    int which;
    int *p, *r;
    double *x, *y;
} cls_ctx;

static int pos_label_id(const scorer *s)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->label_text[i], s->o.pos_label) == 0)
            return (int)i;
    return -1;
}

static double cls_value(cls_ctx *c, const size_t *idx, size_t n)
{
    scorer *s = c->s;
    for (size_t i = 0; i < n; i++) {
        size_t j = idx ? idx[i] : i;
        if (c->p) {
            c->p[i] = s->lab_pred[j];
            c->r[i] = s->lab_ref[j];
        }
        if (c->x) {
            c->x[i] = s->num_pred[j];
            c->y[i] = s->num_ref[j];
        }
    }
    double p, r, f, v = NAN;
    ys_error e;
    switch (c->which) {
    case M_ACC: v = cls_accuracy(c->p, c->r, n); break;
    case M_PREC:
    case M_REC:
    case M_F1:
        if (cls_prf(c->p, c->r, n, (int)s->nlabels, s->o.average, pos_label_id(s), &p, &r, &f, &e) == 0)
            v = c->which == M_PREC ? p : c->which == M_REC ? r : f;
        break;
    case M_MCC:
        if (cls_matthews(c->p, c->r, n, (int)s->nlabels, &p, &e) == 0)
            v = p;
        break;
    case M_PEARSON: v = cls_pearson(c->x, c->y, n); break;
    case M_SPEARMAN:
        if (cls_spearman(c->x, c->y, n, &p, &e) == 0)
            v = p;
        break;
    }
    return v;
}

static double boot_cls(const size_t *idx, size_t n, void *ctx) { return cls_value(ctx, idx, n); }

static int finish_cls(scorer *s, int which, jsonw *w, ys_error *err)
{
    size_t n = s->n ? s->n : 1;
    cls_ctx c = {s, which, NULL, NULL, NULL, NULL};
    bool numeric = which == M_PEARSON || which == M_SPEARMAN;
    int rc = 0;
    if (numeric) {
        c.x = malloc(n * sizeof *c.x), c.y = malloc(n * sizeof *c.y);
        if (!c.x || !c.y)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    } else {
        c.p = malloc(n * sizeof *c.p), c.r = malloc(n * sizeof *c.r);
        if (!c.p || !c.r)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (!rc && s->o.average == CLS_BINARY && (which == M_PREC || which == M_REC || which == M_F1) &&
            s->nlabels > 2)
            rc = ys_fail(err, YS_EINPUT,
                         "%s with average=binary needs at most two labels, found %zu; use --average "
                         "macro|micro|weighted",
                         metric_names[which], s->nlabels);
        if (!rc && s->o.average == CLS_BINARY && (which == M_PREC || which == M_REC || which == M_F1) &&
            s->nlabels == 2 && pos_label_id(s) < 0)
            rc = ys_fail(err, YS_EINPUT, "%s with average=binary: positive label '%s' is not among the labels (%s, %s); pass --pos-label",
                         metric_names[which], s->o.pos_label, s->label_text[0], s->label_text[1]);
    }
    if (rc == 0) {
        scorer_headline *h = head(s, metric_names[which], metric_names[which], s->n ? cls_value(&c, NULL, s->n) : NAN, true);
        if (s->o.bootstrap && s->n > 1) {
            boot_estimate est;
            rc = boot_resample(s->n, s->o.bootstrap, s->o.seed, boot_cls, &c, &est, err);
            h->stderr_ = est.stderr_, h->ci_low = est.ci_low, h->ci_high = est.ci_high;
        }
        jw_key(w, metric_names[which]), jw_begin(w, '{');
        jw_key(w, "score"), jw_num(w, h->value);
        jw_end(w, '}');
    }
    free(c.p), free(c.r), free(c.x), free(c.y);
    return rc;
}

static void put_uncertainty(jsonw *w, const scorer_headline *h)
{
    if (isnan(h->stderr_))
        return;
    jw_key(w, "stderr"), jw_num(w, h->stderr_);
    jw_key(w, "ci_low"), jw_num(w, h->ci_low);
    jw_key(w, "ci_high"), jw_num(w, h->ci_high);
}

int scorer_finish(scorer *s, char **json, const scorer_headline **heads, size_t *nheads,
                  ys_error *err)
{
    jsonw w = {0};
    int rc = 0;
    s->nheads = 0;
    double n = s->n ? (double)s->n : NAN;
    jw_begin(&w, '{');
    if (s->on[M_BLEU]) {
        bleu_score b;
        bleu_score_from(&s->bleu_total, &s->o.bleu, s->o.bleu.effective_order, &b);
        scorer_headline *h = head(s, "bleu", "bleu", b.score, true);
        if (s->o.bootstrap && s->n > 1) {
            boot_estimate e;
            if ((rc = boot_resample(s->n, s->o.bootstrap, s->o.seed, boot_bleu, s, &e, err)) < 0)
                goto out;
            h->stderr_ = e.stderr_, h->ci_low = e.ci_low, h->ci_high = e.ci_high;
        }
        char sig[256];
        bleu_signature(&s->o.bleu, s->o.bleu.effective_order, s->nrefs_seen < -1 ? 1 : s->nrefs_seen, sig, sizeof sig);
        jw_key(&w, "bleu"), jw_begin(&w, '{');
        put_bleu(&w, &b);
        jw_key(&w, "signature"), jw_str(&w, sig);
        put_uncertainty(&w, h);
        jw_end(&w, '}');
        snprintf(s->bleu_line, sizeof s->bleu_line,
                 "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)",
                 b.score, b.precisions[0], b.precisions[1], b.precisions[2], b.precisions[3], b.bp, b.ratio,
                 (long long)b.sys_len, (long long)b.ref_len);
    }
    if (s->on[M_CHRF]) {
        scorer_headline *h = head(s, "chrf", "chrf", chrf_score_from(s->chrf_total, &s->o.chrf), true);
        if (s->o.bootstrap && s->n > 1) {
            boot_estimate e;
            if ((rc = boot_resample(s->n, s->o.bootstrap, s->o.seed, boot_chrf, s, &e, err)) < 0)
                goto out;
            h->stderr_ = e.stderr_, h->ci_low = e.ci_low, h->ci_high = e.ci_high;
        }
        char sig[256], name[32];
        chrf_signature(&s->o.chrf, s->nrefs_seen < -1 ? 1 : s->nrefs_seen, sig, sizeof sig);
        chrf_name(&s->o.chrf, name, sizeof name);
        jw_key(&w, "chrf"), jw_begin(&w, '{');
        jw_key(&w, "score"), jw_num(&w, h->value);
        jw_key(&w, "name"), jw_str(&w, name);
        jw_key(&w, "signature"), jw_str(&w, sig);
        put_uncertainty(&w, h);
        jw_end(&w, '}');
    }
    if (s->on[M_ROUGE]) {
        jw_key(&w, "rouge"), jw_begin(&w, '{');
        for (int k = 0; k < ROUGE_NTYPES; k++) {
            const mean_acc *m = &s->mean[S_ROUGE + 3 * k];
            scorer_headline *h = head(s, "rouge", rouge_type_name(k), m[2].sum / n, true);
            mean_uncertainty(s, &m[2], h, 1.0);
            jw_key(&w, rouge_type_name(k)), jw_begin(&w, '{');
            jw_key(&w, "precision"), jw_num(&w, m[0].sum / n);
            jw_key(&w, "recall"), jw_num(&w, m[1].sum / n);
            jw_key(&w, "fmeasure"), jw_num(&w, m[2].sum / n);
            put_uncertainty(&w, h);
            jw_end(&w, '}');
        }
        jw_end(&w, '}');
    }
    if (s->on[M_METEOR]) {
        scorer_headline *h = head(s, "meteor", "meteor", s->mean[S_METEOR].sum / n, true);
        mean_uncertainty(s, &s->mean[S_METEOR], h, 1.0);
        jw_key(&w, "meteor"), jw_begin(&w, '{');
        jw_key(&w, "score"), jw_num(&w, h->value);
        put_uncertainty(&w, h);
        jw_end(&w, '}');
    }
    if (s->on[M_SQUAD]) {
        scorer_headline *em = head(s, "squad", "exact_match", 100.0 * s->mean[S_SQUAD_EM].sum / n, true);
        mean_uncertainty(s, &s->mean[S_SQUAD_EM], em, 100.0);
        scorer_headline *f1 = head(s, "squad", "f1", 100.0 * s->mean[S_SQUAD_F1].sum / n, true);
        mean_uncertainty(s, &s->mean[S_SQUAD_F1], f1, 100.0);
        jw_key(&w, "squad"), jw_begin(&w, '{');
        jw_key(&w, "exact_match"), jw_num(&w, em->value);
        jw_key(&w, "f1"), jw_num(&w, f1->value);
        if (!isnan(em->stderr_)) {
            jw_key(&w, "exact_match_stderr"), jw_num(&w, em->stderr_);
            jw_key(&w, "f1_stderr"), jw_num(&w, f1->stderr_);
        }
        jw_end(&w, '}');
    }
    if (s->on[M_EM]) {
        scorer_headline *h = head(s, "exact_match", "exact_match", s->mean[S_EM].sum / n, true);
        mean_uncertainty(s, &s->mean[S_EM], h, 1.0);
        jw_key(&w, "exact_match"), jw_begin(&w, '{');
        jw_key(&w, "score"), jw_num(&w, h->value);
        put_uncertainty(&w, h);
        jw_end(&w, '}');
    }
    if (s->on[M_ACC]) {
        scorer_headline *h = head(s, "accuracy", "accuracy", s->mean[S_ACC].sum / n, true);
        mean_uncertainty(s, &s->mean[S_ACC], h, 1.0);
        jw_key(&w, "accuracy"), jw_begin(&w, '{');
        jw_key(&w, "score"), jw_num(&w, h->value);
        put_uncertainty(&w, h);
        jw_end(&w, '}');
    }
    for (int m = M_PREC; m <= M_SPEARMAN; m++)
        if (s->on[m] && (rc = finish_cls(s, m, &w, err)) < 0)
            goto out;
    jw_end(&w, '}');
out:
    if (rc == 0) {
        *json = jw_take(&w);
        if (!*json)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        *heads = s->heads;
        *nheads = s->nheads;
    }
    free(w.p);
    return rc;
}

const char *scorer_bleu_line(const scorer *s) { return s->on[M_BLEU] && s->bleu_line[0] ? s->bleu_line : NULL; }
