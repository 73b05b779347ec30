/* The runner's scoring: answer filters and per-task metrics from the engine
 * responses (see runner_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cjson/cJSON.h>

#include "bootstrap.h"
#include "exact_match.h"
#include "lmeval_filter.h"
#include "classify.h"
#include "perplexity.h"
#include "runner_internal.h"
#include "scorer.h"
#include "ys_unicode.h"

/* ---- answer filters and metrics ------------------------------------------ */

int rn_apply_filters(const task_spec *s, char **text, ys_error *err)
{
    for (size_t f = 0; f < s->nfilters; f++) {
        const task_filter *tf = &s->filters[f];
        char *v = *text;
        if (!strcmp(tf->kind, "strip")) {
            size_t a = 0, b = strlen(v);
            while (a < b && (v[a] == ' ' || v[a] == '\n' || v[a] == '\t' || v[a] == '\r'))
                a++;
            while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\n' || v[b - 1] == '\t' || v[b - 1] == '\r'))
                b--;
            memmove(v, v + a, b - a);
            v[b - a] = 0;
        } else if (!strcmp(tf->kind, "lower")) {
            char *low = uni_lower_utf8(v, strlen(v), NULL);
            if (!low)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            free(v);
            *text = low;
        } else if (!strcmp(tf->kind, "upper")) {
            for (char *c = v; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 32);
        } else if (!strcmp(tf->kind, "first_line")) {
            char *nl = strchr(v, '\n');
            if (nl)
                *nl = 0;
        } else if (!strcmp(tf->kind, "regex")) {
            int code;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)tf->regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code,
                                           &off, NULL);
            if (!re)
                return ys_fail(err, YS_EINPUT, "%s: filters: regex '%s' does not compile", s->path, tf->regex);
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
            int m = md ? pcre2_match(re, (PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) : -1;
            char *res = NULL;
            if (m > tf->group) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                res = strndup(v + ov[2 * tf->group], ov[2 * tf->group + 1] - ov[2 * tf->group]);
            } else {
                /* no match: lm-evaluation-harness's fallback answer */
                res = strdup("[invalid]");
            }
            pcre2_match_data_free(md);
            pcre2_code_free(re);
            if (!res)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            free(v);
            *text = res;
        }
    }
    return 0;
}

static void add_result(task_run *t, const char *name, double value, double se, bool hib)
{
    if (t->nresults == 16)
        return;
    t->metric_names[t->nresults] = strdup(name);
    t->values[t->nresults] = value;
    t->stderrs[t->nresults] = se;
    t->hib[t->nresults] = hib;
    t->nresults++;
}

/* Code points of a choice without the target delimiter: lm-evaluation-
 * harness divides by len(choice) of the Python string. */
static size_t cp_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct {
    const int *pred, *gold;
    const double *x, *y;
    int which; /* 0 f1, 1 mcc, 2 pearson, 3 spearman, 4 macro f1 */
    int nlabels;
    /* spearman: each item's tie group in ascending value order, so that a
     * resample's average ranks come from counts per group in O(n) instead
     * of a sort per resample (the same ranks, so the same bits) */
    const size_t *gx, *gy;
    size_t ngx, ngy;
} boot_cls;

typedef struct {
    double v;
    size_t i;
} valued;

static int by_v(const void *a, const void *b)
{
    const valued *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* group[i] = the rank of v[i]'s distinct value (0 = smallest); *ng = how
 * many distinct values. NULL when out of memory. */
static size_t *tie_groups(const double *v, size_t n, size_t *ng)
{
    valued *r = malloc((n ? n : 1) * sizeof *r);
    size_t *g = malloc((n ? n : 1) * sizeof *g);
    if (!r || !g) {
        free(r), free(g);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        r[i].v = v[i], r[i].i = i;
    qsort(r, n, sizeof *r, by_v);
    *ng = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && !(r[k].v == r[k - 1].v))
            (*ng)++;
        g[r[k].i] = *ng;
    }
    if (n)
        (*ng)++;
    free(r);
    return g;
}

/* The average ranks (from 1, ties share the mean, as scipy's rankdata) of
 * the resampled items idx, from their tie groups. */
static void resample_ranks(const size_t *group, size_t ng, const size_t *idx, size_t n, double *scratch,
                           double *rank)
{
    memset(scratch, 0, ng * sizeof *scratch);
    for (size_t i = 0; i < n; i++)
        scratch[group[idx[i]]] += 1;
    size_t start = 0; /* 0-based position of the group's first item */
    for (size_t g = 0; g < ng; g++) {
        size_t cnt = (size_t)scratch[g];
        scratch[g] = cnt ? (double)(start + start + cnt - 1) / 2.0 + 1.0 : 0;
        start += cnt;
    }
    for (size_t i = 0; i < n; i++)
        rank[i] = scratch[group[idx[i]]];
}

static double boot_cls_fn(const size_t *idx, size_t n, void *vctx)
{
    const boot_cls *c = vctx;
    int *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), v = NAN, pr, rc_, f;
    if (p && g && x && y) {
        for (size_t i = 0; i < n; i++) {
            if (c->pred)
                p[i] = c->pred[idx[i]], g[i] = c->gold[idx[i]];
            if (c->x)
                x[i] = c->x[idx[i]], y[i] = c->y[idx[i]];
        }
        if (c->which == 0 && cls_prf(p, g, n, 2, CLS_BINARY, 1, &pr, &rc_, &f, NULL) == 0)
            v = f;
        else if (c->which == 4 && cls_prf(p, g, n, c->nlabels, CLS_MACRO, 1, &pr, &rc_, &f, NULL) == 0)
            v = f;
        else if (c->which == 1 && cls_matthews(p, g, n, c->nlabels, &f, NULL) == 0)
            v = f;
        else if (c->which == 2)
            v = cls_pearson(x, y, n);
        else if (c->which == 3 && c->gx) {
            double *sc = malloc(((c->ngx > c->ngy ? c->ngx : c->ngy) + 1) * sizeof *sc);
            if (sc) {
                resample_ranks(c->gx, c->ngx, idx, n, sc, x);
                resample_ranks(c->gy, c->ngy, idx, n, sc, y);
                v = cls_pearson(x, y, n);
            }
            free(sc);
        } else if (c->which == 3 && cls_spearman(x, y, n, &f, NULL) == 0)
            v = f;
    }
    free(p), free(g), free(x), free(y);
    return v;
}

static double boot_se(boot_cls *c, size_t n, uint64_t seed)
{
    boot_estimate e;
    if (boot_resample(n, 1000, seed, boot_cls_fn, c, &e, NULL) < 0)
        return NAN;
    return e.stderr_;
}

/* The task's metrics from per-document predictions: pred/gold class
 * indices and acc (1/0) for the label metrics, ev (a predicted number) and
 * gnum (the gold number) for the correlations; accn may be NULL when the
 * task has no length-normalised accuracy (classifiers), which then skips
 * acc_norm. */
static int class_metrics(const run_state *st, task_run *t, const int *pred, const int *gold, const double *acc,
                         const double *accn, const double *ev, const double *gnum, int k, ys_error *err)
{
    const task_spec *s = t->spec;
    size_t n = t->n;
    int rc = 0;
    for (size_t m = 0; m < s->nmetrics && rc == 0; m++) {
        const char *name = s->metrics[m].name;
        bool hib = s->metrics[m].higher_is_better;
        boot_estimate e;
        if (!strcmp(name, "acc_norm") && !accn) {
            continue;
        } else if (!strcmp(name, "acc") || !strcmp(name, "acc_norm")) {
            boot_mean(!strcmp(name, "acc") ? acc : accn, n, &e);
            add_result(t, name, e.value, e.stderr_, hib);
        } else if (!strcmp(name, "f1")) {
            double p, r, f;
            rc = cls_prf(pred, gold, n, k, CLS_BINARY, 1, &p, &r, &f, err);
            boot_cls c = {.pred = pred, .gold = gold, .which = 0, .nlabels = 2};
            add_result(t, name, f, boot_se(&c, n, st->o->seed), hib);
        } else if (!strcmp(name, "f1_macro")) {
            double p, r, f;
            rc = cls_prf(pred, gold, n, k, CLS_MACRO, 1, &p, &r, &f, err);
            boot_cls c = {.pred = pred, .gold = gold, .which = 4, .nlabels = k};
            add_result(t, name, f, boot_se(&c, n, st->o->seed), hib);
        } else if (!strcmp(name, "mcc")) {
            double v;
            rc = cls_matthews(pred, gold, n, k, &v, err);
            boot_cls c = {.pred = pred, .gold = gold, .which = 1, .nlabels = k};
            add_result(t, name, v, boot_se(&c, n, st->o->seed), hib);
        } else {
            bool sp = !strcmp(name, "spearmanr");
            double v = NAN;
            if (sp)
                rc = cls_spearman(ev, gnum, n, &v, err);
            else
                v = cls_pearson(ev, gnum, n);
            boot_cls c = {.x = ev, .y = gnum, .which = sp ? 3 : 2};
            size_t *gx = sp ? tie_groups(ev, n, &c.ngx) : NULL, *gy = sp ? tie_groups(gnum, n, &c.ngy) : NULL;
            c.gx = gx && gy ? gx : NULL, c.gy = gy;
            add_result(t, name, v, boot_se(&c, n, st->o->seed), hib);
            free(gx), free(gy);
        }
    }
    return rc;
}

int rn_score_mc(const run_state *st, task_run *t, ys_error *err)
{
    const task_spec *s = t->spec;
    size_t n = t->n, k = s->nchoices;
    for (size_t d = 0; d < n; d++)
        k = t->prompts[d].nchoices > k ? t->prompts[d].nchoices : k;
    int *pred = rn_calloc(n, sizeof *pred), *gold = rn_calloc(n, sizeof *gold);
    double *acc = rn_calloc(n, sizeof *acc), *accn = rn_calloc(n, sizeof *accn);
    double *ev = rn_calloc(n, sizeof *ev), *gnum = rn_calloc(n, sizeof *gnum);
    t->sample_metrics = rn_calloc(n, sizeof *t->sample_metrics);
    t->predictions = rn_calloc(n, sizeof *t->predictions);
    if (!pred || !gold || !acc || !accn || !ev || !gnum || !t->sample_metrics || !t->predictions) {
        free(pred), free(gold), free(acc), free(accn), free(ev), free(gnum);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    bool mc2 = s->process_results && !strcmp(s->process_results, "mc2");
    size_t dl = cp_len(s->target_delimiter);
    for (size_t d = 0; d < n; d++) {
        const task_prompt *p = &t->prompts[d];
        const double *ll = &t->ll[t->off[d]];
        size_t nc = p->nchoices, best = 0, bestn = 0;
        double mx = ll[0];
        for (size_t c = 1; c < nc; c++) {
            if (ll[c] > ll[best])
                best = c;
            mx = ll[c] > mx ? ll[c] : mx;
        }
        for (size_t c = 1; c < nc; c++) {
            double a = ll[c] / (double)(cp_len(p->choices[c]) - dl);
            double b = ll[bestn] / (double)(cp_len(p->choices[bestn]) - dl);
            if (a > b)
                bestn = c;
        }
        /* expected choice index under the choice probabilities (STS-B) */
        double z = 0, e = 0, mass = 0;
        for (size_t c = 0; c < nc; c++) {
            double pr = exp(ll[c] - mx);
            z += pr;
            e += pr * (double)c;
            if (mc2 && p->labels[c] == 1)
                mass += pr;
        }
        pred[d] = (int)best;
        gold[d] = p->gold;
        acc[d] = gold[d] >= 0 && (int)best == gold[d];
        /* truthfulqa_mc2: acc is the normalised probability mass on the
         * true answers (lm-eval's process_results_mc2; the common factor
         * exp(mx) cancels) */
        if (mc2)
            acc[d] = mass / z;
        accn[d] = gold[d] >= 0 && (int)bestn == gold[d];
        ev[d] = e / z;
        gnum[d] = p->gold_number;
        char buf[160];
        snprintf(buf, sizeof buf, "{\"acc\": %.17g, \"acc_norm\": %g, \"pred\": %zu}", acc[d], accn[d], best);
        t->sample_metrics[d] = strdup(buf);
        /* multiple_input: the prediction is the chosen context's option */
        t->predictions[d] = strdup(p->contexts ? p->contexts[best] : p->choices[best] + strlen(s->target_delimiter));
    }
    int rc = class_metrics(st, t, pred, gold, acc, accn, ev, gnum, (int)k, err);
    free(pred), free(gold), free(acc), free(accn), free(ev), free(gnum);
    return rc;
}

/* output_type loglikelihood (lambada): acc = the target is the greedy
 * continuation, perplexity = exp(-mean log-likelihood) as lm-eval's
 * perplexity aggregation; its stderr by bootstrap over documents. */
typedef struct {
    const double *ll;
} boot_ppl;

static double boot_ppl_fn(const size_t *idx, size_t n, void *vctx)
{
    const boot_ppl *c = vctx;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += c->ll[idx[i]];
    return exp(-sum / (double)n);
}

int rn_score_ll(const run_state *st, task_run *t, ys_error *err)
{
    size_t n = t->n;
    double *acc = rn_calloc(n, sizeof *acc), *ll = rn_calloc(n, sizeof *ll);
    t->sample_metrics = rn_calloc(n, sizeof *t->sample_metrics);
    t->predictions = rn_calloc(n, sizeof *t->predictions);
    if (!acc || !ll || !t->sample_metrics || !t->predictions) {
        free(acc), free(ll);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    double sum = 0;
    for (size_t d = 0; d < n; d++) {
        ll[d] = t->ll[t->off[d]];
        acc[d] = t->greedy[t->off[d]] ? 1 : 0;
        sum += ll[d];
        char buf[160];
        snprintf(buf, sizeof buf, "{\"acc\": %g, \"perplexity\": %.17g}", acc[d], ll[d]);
        t->sample_metrics[d] = strdup(buf);
        t->predictions[d] = strdup(acc[d] ? "greedy" : "not greedy");
    }
    for (size_t m = 0; m < t->spec->nmetrics; m++) {
        const task_metric *tm = &t->spec->metrics[m];
        if (!strcmp(tm->name, "acc")) {
            boot_estimate e;
            boot_mean(acc, n, &e);
            add_result(t, "acc", e.value, e.stderr_, tm->higher_is_better);
        } else {
            boot_ppl c = {ll};
            boot_estimate e;
            double se = n > 1 && boot_resample(n, 1000, st->o->seed, boot_ppl_fn, &c, &e, NULL) == 0 ? e.stderr_ : NAN;
            add_result(t, "perplexity", n ? exp(-sum / (double)n) : NAN, se, tm->higher_is_better);
        }
    }
    free(acc), free(ll);
    return 0;
}

int rn_score_rolling(task_run *t, ys_error *err)
{
    ppl_stats total = {0};
    t->sample_metrics = rn_calloc(t->n, sizeof *t->sample_metrics);
    if (!t->sample_metrics)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t d = 0; d < t->n; d++) {
        ppl_stats s = {0};
        const char *text = t->prompts[d].context;
        ppl_count_text(text, strlen(text), &s);
        s.loglik = t->doc_ll[d];
        ppl_add(&total, &s);
        char buf[160];
        snprintf(buf, sizeof buf, "{\"loglikelihood\": %.17g, \"words\": %lld, \"bytes\": %lld}", s.loglik,
                 (long long)s.words, (long long)s.bytes);
        t->sample_metrics[d] = strdup(buf);
    }
    for (size_t m = 0; m < t->spec->nmetrics; m++) {
        const char *name = t->spec->metrics[m].name;
        double v = !strcmp(name, "word_perplexity")   ? ppl_word_perplexity(&total)
                   : !strcmp(name, "byte_perplexity") ? ppl_byte_perplexity(&total)
                                                      : ppl_bits_per_byte(&total);
        add_result(t, name, v, NAN, t->spec->metrics[m].higher_is_better);
    }
    return 0;
}

/* One filter_list pipeline over a generation (lm-eval's FilterEnsemble
 * over one response: take_first keeps it). */
static int run_pipeline(const task_filter_list *l, const char *gen, char **out, ys_error *err)
{
    char *v = strdup(gen);
    if (!v)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t f = 0; f < l->nfilters; f++) {
        const task_filter *tf = &l->filters[f];
        if (!strcmp(tf->kind, "findall")) {
            char *r;
            int rc = lmf_regex(tf->regex, tf->group, "[invalid]", v, &r, err);
            free(v);
            if (rc < 0)
                return rc;
            v = r;
        } else if (!strcmp(tf->kind, "lower")) {
            char *low = uni_lower_utf8(v, strlen(v), NULL);
            free(v);
            if (!(v = low))
                return ys_fail(err, YS_ENOMEM, "out of memory");
        } else if (!strcmp(tf->kind, "strip")) {
            task_spec one = {.filters = (task_filter *)tf, .nfilters = 1};
            int rc = rn_apply_filters(&one, &v, err);
            if (rc < 0) {
                free(v);
                return rc;
            }
        } /* take_first: one response per document, nothing to do */
    }
    *out = v;
    return 0;
}

/* generate_until with filter_list (gsm8k): every pipeline scores the
 * task's metrics (exact_match with its options), keyed "metric,name". */
static int score_filter_lists(task_run *t, ys_error *err)
{
    const task_spec *s = t->spec;
    size_t n = t->n;
    double *v = rn_calloc(n, sizeof *v);
    t->sample_metrics = rn_calloc(n, sizeof *t->sample_metrics);
    t->predictions = rn_calloc(n, sizeof *t->predictions);
    if (!v || !t->sample_metrics || !t->predictions) {
        free(v);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    int rc = 0;
    cJSON **per = rn_calloc(n, sizeof *per);
    for (size_t d = 0; per && d < n; d++)
        per[d] = cJSON_CreateObject();
    for (size_t m = 0; m < s->nmetrics && rc == 0; m++) {
        const task_metric *tm = &s->metrics[m];
        if (strcmp(tm->name, "exact_match")) {
            rc = ys_fail(err, YS_EINPUT, "%s: with filter_list only exact_match is computed", s->path);
            break;
        }
        em_options eo = {tm->ignore_case, tm->ignore_punctuation, false, (const char *const *)tm->regexes_to_ignore,
                         tm->nregexes};
        em_matcher *em = em_create(&eo, err);
        if (!em)
            rc = err ? err->code : YS_EINPUT;
        for (size_t l = 0; l < s->nfilter_lists && rc == 0; l++) {
            const task_filter_list *fl = &s->filter_lists[l];
            for (size_t d = 0; d < n && rc == 0; d++) {
                char *f = NULL;
                rc = run_pipeline(fl, t->gen[d], &f, err);
                if (rc == 0) {
                    const char *refs[1] = {t->prompts[d].target};
                    rc = em_sample(em, f, refs, 1, &v[d], err);
                }
                if (rc == 0 && per && per[d]) {
                    char key[160];
                    snprintf(key, sizeof key, "%s,%s", tm->name, fl->name);
                    cJSON_AddNumberToObject(per[d], key, v[d]);
                    snprintf(key, sizeof key, "filtered,%s", fl->name);
                    cJSON_AddStringToObject(per[d], key, f);
                }
                free(f);
            }
            if (rc == 0) {
                boot_estimate e;
                boot_mean(v, n, &e);
                char name[160];
                snprintf(name, sizeof name, "%s,%s", tm->name, fl->name);
                add_result(t, name, e.value, e.stderr_, tm->higher_is_better);
            }
        }
        em_free(em);
    }
    for (size_t d = 0; d < n; d++) {
        if (per && per[d]) {
            t->sample_metrics[d] = cJSON_PrintUnformatted(per[d]);
            cJSON_Delete(per[d]);
        }
        t->predictions[d] = strdup(t->gen[d]);
    }
    free(per);
    free(v);
    return rc;
}

int rn_score_generate(task_run *t, uint64_t seed, ys_error *err)
{
    const task_spec *s = t->spec;
    if (s->nfilter_lists)
        return score_filter_lists(t, err);
    /* which scorer metrics the task's metric names need */
    char list[256] = "";
    for (size_t m = 0; m < s->nmetrics; m++) {
        const char *n = s->metrics[m].name, *scorer_name = strncmp(n, "squad_", 6) == 0 ? "squad"
                                                           : strncmp(n, "rouge", 5) == 0 ? "rouge"
                                                                                         : n;
        if (!strstr(list, scorer_name)) {
            if (list[0])
                strcat(list, ",");
            strcat(list, scorer_name);
        }
    }
    scorer_options so;
    scorer_options_default(&so);
    so.rouge_stem = true;
    so.bootstrap = 200;
    so.seed = seed;
    scorer *sc = scorer_new(list, &so, err);
    if (!sc)
        return err ? err->code : YS_EINPUT;
    t->sample_metrics = rn_calloc(t->n, sizeof *t->sample_metrics);
    t->predictions = rn_calloc(t->n, sizeof *t->predictions);
    int rc = t->sample_metrics && t->predictions ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t d = 0; d < t->n && rc == 0; d++) {
        scorer_value pred = {SV_TEXT, t->gen[d], 0};
        scorer_value refs[16];
        size_t nr = t->prompts[d].nrefs < 16 ? t->prompts[d].nrefs : 16;
        for (size_t r = 0; r < nr; r++)
            refs[r] = (scorer_value){SV_TEXT, t->prompts[d].refs[r], 0};
        rc = scorer_add(sc, &pred, refs, nr, &t->sample_metrics[d], err);
        if (rc < 0) {
            /* the metrics library knows the field, not the place: add the
             * file and the document's line (or its index for SQuAD JSON) */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            if (t->docs.docs[d].line > 0)
                ys_fail(err, rc, "%s:%ld: task %s: %s", t->docs.path, t->docs.docs[d].line, s->name, msg);
            else
                ys_fail(err, rc, "%s: task %s, document %zu: %s", t->docs.path, s->name, d, msg);
        }
        t->predictions[d] = strdup(t->gen[d]);
    }
    char *json = NULL;
    const scorer_headline *h;
    size_t nh;
    if (rc == 0)
        rc = scorer_finish(sc, &json, &h, &nh, err);
    for (size_t m = 0; rc == 0 && m < s->nmetrics; m++) {
        const char *n = s->metrics[m].name;
        const char *metric = !strcmp(n, "squad_exact_match") ? "exact_match" : !strcmp(n, "squad_f1") ? "f1" : n;
        const char *group = !strncmp(n, "squad_", 6) ? "squad" : !strncmp(n, "rouge", 5) ? "rouge" : n;
        for (size_t k = 0; k < nh; k++)
            if (!strcmp(h[k].metric, group) && !strcmp(h[k].name, metric))
                add_result(t, n, h[k].value, h[k].stderr_, s->metrics[m].higher_is_better);
    }
    free(json);
    scorer_free(sc);
    return rc;
}

/* Classifier outputs → the same metrics as multiple choice: the predicted
 * class is the task class of the largest logit among the labels mapped to
 * a class; a regression head's score is the prediction for pearson and
 * spearmanr. */
int rn_score_cls(const run_state *st, task_run *t, ys_error *err)
{
    size_t n = t->n, nl = (size_t)st->num_labels;
    int k = t->spec->ncls_labels ? (int)t->spec->ncls_labels : 1;
    int *pred = rn_calloc(n, sizeof *pred), *gold = rn_calloc(n, sizeof *gold);
    double *acc = rn_calloc(n, sizeof *acc), *ev = rn_calloc(n, sizeof *ev), *gnum = rn_calloc(n, sizeof *gnum);
    t->sample_metrics = rn_calloc(n, sizeof *t->sample_metrics);
    t->predictions = rn_calloc(n, sizeof *t->predictions);
    if (!pred || !gold || !acc || !ev || !gnum || !t->sample_metrics || !t->predictions) {
        free(pred), free(gold), free(acc), free(ev), free(gnum);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    for (size_t d = 0; d < n; d++) {
        const float *row = &t->cls_logits[d * nl];
        char buf[160];
        gold[d] = t->prompts[d].gold;
        gnum[d] = t->prompts[d].gold_number;
        if (nl == 1) {
            ev[d] = row[0];
            pred[d] = -1;
            snprintf(buf, sizeof buf, "%.9g", ev[d]);
            t->predictions[d] = strdup(buf);
            snprintf(buf, sizeof buf, "{\"score\": %.9g}", ev[d]);
        } else {
            int best = -1;
            for (size_t c = 0; c < nl; c++)
                if (t->cls_map[c] >= 0 && (best < 0 || row[c] > row[best]))
                    best = (int)c;
            pred[d] = t->cls_map[best];
            acc[d] = gold[d] >= 0 && pred[d] == gold[d];
            ev[d] = pred[d];
            snprintf(buf, sizeof buf, "{\"acc\": %g, \"pred\": %d, \"logit\": %.9g}", acc[d], pred[d], (double)row[best]);
            t->predictions[d] = strdup(t->spec->cls_labels[pred[d]]);
        }
        t->sample_metrics[d] = strdup(buf);
    }
    int rc = class_metrics(st, t, pred, gold, acc, NULL, ev, gnum, k, err);
    free(pred), free(gold), free(acc), free(ev), free(gnum);
    return rc;
}
