#include "compare.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bleu.h"
#include "runs.h"
#include "significance.h"
#include "textbuf.h"

void cmp_options_default(cmp_options *o)
{
    memset(o, 0, sizeof *o);
    o->alpha = 0.05;
    o->bootstrap = 1000;
    o->seed = 12345;
    o->max_flips = 5;
}

const char *cmp_verdict_name(cmp_verdict v)
{
    static const char *names[] = {"pass",    "regressed",           "improved",      "not comparable",
                                  "missing", "worse, not gated", "candidate only"};
    return names[v];
}

/* One side of the comparison: a run in the store, or a results file loaded
 * into a private in-memory store (so both are read the same way). */
typedef struct {
    rs_store *store; /* borrowed, or owned when `own` */
    bool own;
    int64_t run;
    char *label;
} side;

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int resolve(rs_store *s, const char *spec, const char *role, side *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    char label[512];
    if (is_file(spec)) {
        FILE *f = fopen(spec, "rb");
        size_t cap = 1 << 16, len = 0, got;
        char *text = malloc(cap);
        while (f && text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
            len += got;
            if (len + 1 == cap) {
                char *p = realloc(text, cap *= 2);
                if (!p)
                    free(text);
                text = p;
            }
        }
        if (f)
            fclose(f);
        if (!f || !text) {
            free(text);
            return ys_fail(err, YS_EIO, "%s: cannot read %s", spec, role);
        }
        text[len] = 0;
        int rc = rs_open(":memory:", &out->store, err);
        if (rc == 0)
            rc = rs_import_lmeval(out->store, text, spec, role, "file", &out->run, err);
        free(text);
        if (rc < 0) {
            rs_close(out->store);
            out->store = NULL;
            return rc;
        }
        out->own = true;
        snprintf(label, sizeof label, "%s", spec);
        out->label = strdup(label);
        return 0;
    }
    out->store = s;
    char *end;
    long long id = strtoll(spec, &end, 10);
    if (*spec && !*end) {
        rs_run_info info;
        int rc = rs_run_get(s, id, &info, err);
        if (rc < 0)
            return rc;
        out->run = id;
        snprintf(label, sizeof label, "run %lld (%s)", id, info.model);
        rs_run_info_free(&info, 1);
        out->label = strdup(label);
        return 0;
    }
    sqlite3_stmt *st;
    const char *sql = "SELECT max(r.id) FROM runs r JOIN models m ON m.id = r.model_id "
                      "WHERE m.name = ?1 AND r.status IN ('complete', 'imported')";
    if (sqlite3_prepare_v2(rs_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return ys_fail(err, YS_EINPUT, "%s: %s", rs_path(s), sqlite3_errmsg(rs_db(s)));
    sqlite3_bind_text(st, 1, spec, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (found)
        out->run = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (!found)
        return ys_fail(err, YS_EINPUT, "%s '%s' is not a run id, a results file or a model with a finished run in %s",
                       role, spec, rs_path(s));
    snprintf(label, sizeof label, "%s (run %lld)", spec, (long long)out->run);
    out->label = strdup(label);
    return 0;
}

static void release(side *x)
{
    if (x->own)
        rs_close(x->store);
    free(x->label);
}

/* Per-sample records of one task of one run, sorted by doc id. */
typedef struct {
    int64_t doc_id;
    cJSON *metrics, *stats;
    char *prompt, *prediction, *target;
} sample;

static void free_samples(sample *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        cJSON_Delete(s[i].metrics), cJSON_Delete(s[i].stats);
        free(s[i].prompt), free(s[i].prediction), free(s[i].target);
    }
    free(s);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int load_samples(const side *x, const char *task, sample **out, size_t *n, ys_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    const char *sql = "SELECT doc_id, metrics, stats, prompt, prediction, target FROM samples "
                      "WHERE run = ?1 AND task = ?2 ORDER BY doc_id";
    if (sqlite3_prepare_v2(rs_db(x->store), sql, -1, &st, NULL) != SQLITE_OK)
        return ys_fail(err, YS_EINPUT, "%s: %s", rs_path(x->store), sqlite3_errmsg(rs_db(x->store)));
    sqlite3_bind_int64(st, 1, x->run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            sample *p = realloc(*out, cap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                return ys_fail(err, YS_ENOMEM, "out of memory");
            }
            *out = p;
        }
        sample *s = &(*out)[(*n)++];
        const unsigned char *m = sqlite3_column_text(st, 1), *t = sqlite3_column_text(st, 2);
        s->doc_id = sqlite3_column_int64(st, 0);
        s->metrics = m ? cJSON_Parse((const char *)m) : NULL;
        s->stats = t ? cJSON_Parse((const char *)t) : NULL;
        s->prompt = dup_col(st, 3);
        s->prediction = dup_col(st, 4);
        s->target = dup_col(st, 5);
    }
    sqlite3_finalize(st);
    return 0;
}

/* Paired per-sample values of one metric (both sides have the doc). */
typedef struct {
    double *a, *b;            /* baseline, candidate */
    bleu_stats *sa, *sb;      /* BLEU sufficient statistics, when used */
    const sample **pa, **pb;  /* the records, for flipped examples */
    size_t n;
} paired;

static void free_paired(paired *p)
{
    free(p->a), free(p->b), free(p->sa), free(p->sb), free(p->pa), free(p->pb);
}

static bool bleu_from_json(const cJSON *arr, bleu_stats *s)
{
    if (cJSON_GetArraySize(arr) != 2 + 2 * BLEU_ORDER)
        return false;
    double v[2 + 2 * BLEU_ORDER];
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        if (!cJSON_IsNumber(x))
            return false;
        v[i++] = x->valuedouble;
    }
    s->sys_len = (int64_t)v[0], s->ref_len = (int64_t)v[1];
    for (int k = 0; k < BLEU_ORDER; k++)
        s->correct[k] = (int64_t)v[2 + k], s->total[k] = (int64_t)v[2 + BLEU_ORDER + k];
    return true;
}

/* mode 0: per-sample values from `metrics`; 1: BLEU stats from `stats`. */
static int pair_up(const sample *A, size_t na, const sample *B, size_t nb, const char *metric, int mode, paired *p)
{
    memset(p, 0, sizeof *p);
    size_t cap = na < nb ? na : nb;
    if (!cap)
        return 0;
    p->a = malloc(cap * sizeof *p->a), p->b = malloc(cap * sizeof *p->b);
    p->pa = malloc(cap * sizeof *p->pa), p->pb = malloc(cap * sizeof *p->pb);
    if (mode == 1)
        p->sa = malloc(cap * sizeof *p->sa), p->sb = malloc(cap * sizeof *p->sb);
    if (!p->a || !p->b || !p->pa || !p->pb || (mode == 1 && (!p->sa || !p->sb)))
        return -1;
    for (size_t i = 0, j = 0; i < na && j < nb;) {
        if (A[i].doc_id < B[j].doc_id) {
            i++;
        } else if (A[i].doc_id > B[j].doc_id) {
            j++;
        } else {
            bool ok;
            if (mode == 0) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(A[i].metrics, metric);
                const cJSON *y = cJSON_GetObjectItemCaseSensitive(B[j].metrics, metric);
                ok = cJSON_IsNumber(x) && cJSON_IsNumber(y);
                if (ok)
                    p->a[p->n] = x->valuedouble, p->b[p->n] = y->valuedouble;
            } else {
                ok = bleu_from_json(cJSON_GetObjectItemCaseSensitive(A[i].stats, metric), &p->sa[p->n]) &&
                     bleu_from_json(cJSON_GetObjectItemCaseSensitive(B[j].stats, metric), &p->sb[p->n]);
            }
            if (ok) {
                p->pa[p->n] = &A[i], p->pb[p->n] = &B[j];
                p->n++;
            }
            i++, j++;
        }
    }
    return 0;
}

static double mean_delta(const size_t *idx, size_t n, void *ctx)
{
    const paired *p = ctx;
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d += p->b[idx[i]] - p->a[idx[i]];
    return d / (double)n;
}

static double bleu_delta(const size_t *idx, size_t n, void *ctx)
{
    const paired *p = ctx;
    bleu_stats ta = {0}, tb = {0};
    for (size_t i = 0; i < n; i++) {
        bleu_stats_add(&ta, &p->sa[idx[i]]);
        bleu_stats_add(&tb, &p->sb[idx[i]]);
    }
    bleu_options o;
    bleu_options_default(&o);
    bleu_score a, b;
    bleu_score_from(&ta, &o, false, &a);
    bleu_score_from(&tb, &o, false, &b);
    return b.score - a.score;
}

static double allowed_drop(const cmp_options *o, const char *task, const char *metric)
{
    char full[512];
    snprintf(full, sizeof full, "%s:%s", task, metric);
    double v = 0;
    for (size_t i = 0; i < o->ndrops; i++)
        if (!strcmp(o->drop_names[i], full))
            return o->drop_values[i];
    for (size_t i = 0; i < o->ndrops; i++)
        if (!strcmp(o->drop_names[i], metric))
            v = o->drop_values[i];
    return v;
}

/* Measured against another model, not the task's answers (run --kl-base):
 * such a metric gates only when --max-drop names it. */
static bool against_a_model(const char *metric)
{
    return !strncmp(metric, "kld_", 4);
}

static bool drop_named(const cmp_options *o, const char *task, const char *metric)
{
    char full[512];
    snprintf(full, sizeof full, "%s:%s", task, metric);
    for (size_t i = 0; i < o->ndrops; i++)
        if (!strcmp(o->drop_names[i], full) || !strcmp(o->drop_names[i], metric))
            return true;
    return false;
}

/* The weights hash of the base a run's kld_mean was measured against
 * (malloc'd; NULL when none is recorded, e.g. an imported results file). */
static char *kl_base_of(const side *x)
{
    rs_run_info info;
    ys_error e = {0};
    if (rs_run_get(x->store, x->run, &info, &e) < 0)
        return NULL;
    char *h = info.kl_base_sha256 ? strdup(info.kl_base_sha256) : NULL;
    rs_run_info_free(&info, 1);
    return h;
}

/* Holm over the PASS rows of one family (gated or not) that were tested. */
static int holm_family(cmp_report *r, bool gated, ys_error *err)
{
    double *ps = calloc(r->nrows + 1, sizeof *ps), *adj = calloc(r->nrows + 1, sizeof *adj);
    size_t *at = calloc(r->nrows + 1, sizeof *at), m = 0;
    if (!ps || !adj || !at) {
        free(ps), free(adj), free(at);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->nrows; i++)
        if (r->rows[i].gated == gated && !isnan(r->rows[i].p) && r->rows[i].verdict == CMP_PASS)
            ps[m] = r->rows[i].p, at[m++] = i;
    int rc = sig_holm(ps, m, adj, err);
    for (size_t k = 0; k < m && rc == 0; k++)
        r->rows[at[k]].p_holm = adj[k];
    free(ps), free(adj), free(at);
    return rc;
}

static void keep_flips(cmp_row *row, const paired *p, size_t max)
{
    row->flips = calloc(max ? max : 1, sizeof *row->flips);
    if (!row->flips)
        return;
    for (int pass = 0; pass < 2; pass++) /* regressions first */
        for (size_t i = 0; i < p->n && row->nflips < max; i++) {
            bool to_wrong = p->a[i] == 1 && p->b[i] == 0, to_right = p->a[i] == 0 && p->b[i] == 1;
            if (!(pass == 0 ? to_wrong : to_right))
                continue;
            cmp_flip *f = &row->flips[row->nflips++];
            f->doc_id = p->pa[i]->doc_id;
            f->to_wrong = to_wrong;
            f->prompt = p->pb[i]->prompt ? strdup(p->pb[i]->prompt) : NULL;
            f->baseline_prediction = p->pa[i]->prediction ? strdup(p->pa[i]->prediction) : NULL;
            f->candidate_prediction = p->pb[i]->prediction ? strdup(p->pb[i]->prediction) : NULL;
            f->target = p->pb[i]->target ? strdup(p->pb[i]->target) : NULL;
        }
}

/* Test one row on the paired samples; leaves p NAN when there is nothing
 * to pair. */
static int test_row(cmp_row *row, const sample *A, size_t na, const sample *B, size_t nb, const cmp_options *o,
                    ys_error *err)
{
    paired p;
    int rc = 0;
    if (pair_up(A, na, B, nb, row->metric, 0, &p) < 0) {
        free_paired(&p);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    if (p.n > 0) {
        bool binary = true;
        for (size_t i = 0; i < p.n && binary; i++)
            binary = (p.a[i] == 0 || p.a[i] == 1) && (p.b[i] == 0 || p.b[i] == 1);
        row->n_paired = (int64_t)p.n;
        if (binary) {
            for (size_t i = 0; i < p.n; i++) {
                row->to_wrong += p.a[i] == 1 && p.b[i] == 0;
                row->to_right += p.a[i] == 0 && p.b[i] == 1;
            }
            row->p = sig_mcnemar_exact(row->to_wrong, row->to_right);
            row->test = "mcnemar";
            keep_flips(row, &p, o->max_flips);
        } else {
            rc = sig_paired_bootstrap(p.n, o->bootstrap, o->seed, mean_delta, &p, &row->p, err);
            row->test = "paired-bootstrap";
        }
        free_paired(&p);
        return rc;
    }
    free_paired(&p);
    if (pair_up(A, na, B, nb, row->metric, 1, &p) < 0) {
        free_paired(&p);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    if (p.n > 0) {
        row->n_paired = (int64_t)p.n;
        rc = sig_paired_bootstrap(p.n, o->bootstrap, o->seed, bleu_delta, &p, &row->p, err);
        row->test = "paired-bootstrap";
    }
    free_paired(&p);
    return rc;
}

int cmp_run(rs_store *s, const cmp_options *o, cmp_report **out, ys_error *err)
{
    *out = NULL;
    side base, cand;
    int rc = resolve(s, o->baseline, "baseline", &base, err);
    if (rc < 0)
        return rc;
    if ((rc = resolve(s, o->candidate, "candidate", &cand, err)) < 0) {
        release(&base);
        return rc;
    }
    cmp_report *r = calloc(1, sizeof *r);
    rs_result_row *br = NULL, *cr = NULL;
    size_t nb = 0, nc = 0;
    if (!r) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
        goto done;
    }
    r->baseline_label = strdup(base.label);
    r->candidate_label = strdup(cand.label);
    if ((rc = rs_results_get(base.store, base.run, &br, &nb, err)) < 0 ||
        (rc = rs_results_get(cand.store, cand.run, &cr, &nc, err)) < 0)
        goto done;
    if (!(r->rows = calloc(nb + nc + 1, sizeof *r->rows))) {
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
        goto done;
    }
    char *kb_base = kl_base_of(&base), *kb_cand = kl_base_of(&cand);
    bool same_kl_base = !kb_base || !kb_cand || !strcmp(kb_base, kb_cand);
    free(kb_base), free(kb_cand);
    /* samples are loaded per task, once, for both sides */
    const char *loaded = NULL;
    sample *sa = NULL, *sb = NULL;
    size_t nsa = 0, nsb = 0;
    for (size_t i = 0; i < nb && rc == 0; i++) {
        const rs_result_row *b = &br[i];
        cmp_row *row = &r->rows[r->nrows++];
        row->task = strdup(b->task), row->metric = strdup(b->metric), row->filter = strdup(b->filter);
        row->higher_is_better = b->higher_is_better;
        row->baseline = b->value;
        row->candidate = row->delta = row->p = row->p_holm = NAN;
        row->test = "none";
        row->allowed_drop = allowed_drop(o, b->task, b->metric);
        row->gated = !against_a_model(b->metric) || drop_named(o, b->task, b->metric);
        const rs_result_row *c = NULL;
        for (size_t j = 0; j < nc && !c; j++)
            if (!strcmp(cr[j].task, b->task) && !strcmp(cr[j].metric, b->metric) && !strcmp(cr[j].filter, b->filter))
                c = &cr[j];
        if (!c || isnan(c->value)) {
            row->verdict = CMP_MISSING;
            continue;
        }
        row->candidate = c->value;
        row->delta = c->value - b->value;
        if ((b->task_hash && c->task_hash && strcmp(b->task_hash, c->task_hash)) ||
            (against_a_model(b->metric) && !same_kl_base)) {
            row->verdict = CMP_NOT_COMPARABLE;
            continue;
        }
        if (!loaded || strcmp(loaded, b->task)) {
            free_samples(sa, nsa), free_samples(sb, nsb);
            sa = sb = NULL;
            nsa = nsb = 0;
            loaded = b->task;
            if ((rc = load_samples(&base, b->task, &sa, &nsa, err)) < 0 ||
                (rc = load_samples(&cand, b->task, &sb, &nsb, err)) < 0)
                break;
        }
        if ((rc = test_row(row, sa, nsa, sb, nsb, o, err)) < 0)
            break;
        if (isnan(row->p) && !isnan(b->stderr_) && !isnan(c->stderr_) && (b->stderr_ > 0 || c->stderr_ > 0)) {
            double z = fabs(row->delta) / sqrt(b->stderr_ * b->stderr_ + c->stderr_ * c->stderr_);
            row->p = erfc(z / sqrt(2.0));
            row->test = "z-test";
        }
    }
    free_samples(sa, nsa), free_samples(sb, nsb);
    if (rc < 0)
        goto done;
    /* an ungated metric only the candidate has (a --kl-base run against a
     * plain baseline): listed, not tested */
    for (size_t j = 0; j < nc && rc == 0; j++) {
        const rs_result_row *c = &cr[j];
        if (!against_a_model(c->metric) || drop_named(o, c->task, c->metric))
            continue;
        bool in_base = false;
        for (size_t i = 0; i < nb && !in_base; i++)
            in_base = !strcmp(br[i].task, c->task) && !strcmp(br[i].metric, c->metric) &&
                      !strcmp(br[i].filter, c->filter);
        if (in_base)
            continue;
        cmp_row *row = &r->rows[r->nrows++];
        row->task = strdup(c->task), row->metric = strdup(c->metric), row->filter = strdup(c->filter);
        row->higher_is_better = c->higher_is_better;
        row->baseline = row->delta = row->p = row->p_holm = NAN;
        row->candidate = c->value;
        row->test = "none";
        row->verdict = CMP_CANDIDATE_ONLY;
    }
    /* Holm across every tested gated row, and apart from them across the
     * ungated ones; then verdicts */
    if ((rc = holm_family(r, true, err)) < 0 || (rc = holm_family(r, false, err)) < 0)
        goto done;
    for (size_t i = 0; i < r->nrows; i++) {
        cmp_row *row = &r->rows[i];
        if (row->verdict != CMP_PASS)
            continue;
        double worse = row->higher_is_better ? -row->delta : row->delta;
        bool tested = !isnan(row->p_holm), significant = tested && row->p_holm < o->alpha;
        if (worse > row->allowed_drop && (significant || !tested))
            row->verdict = row->gated ? CMP_REGRESSED : significant ? CMP_NOT_GATED : CMP_PASS;
        else if (worse < 0 && significant)
            row->verdict = CMP_IMPROVED;
        r->regressed |= row->verdict == CMP_REGRESSED;
    }
done:
    rs_result_rows_free(br, nb);
    rs_result_rows_free(cr, nc);
    release(&base);
    release(&cand);
    if (rc < 0) {
        cmp_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cmp_free(cmp_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows; i++) {
        cmp_row *row = &r->rows[i];
        free(row->task), free(row->metric), free(row->filter);
        for (size_t k = 0; k < row->nflips; k++) {
            cmp_flip *f = &row->flips[k];
            free(f->prompt), free(f->baseline_prediction), free(f->candidate_prediction), free(f->target);
        }
        free(row->flips);
    }
    free(r->rows);
    free(r->baseline_label), free(r->candidate_label);
    free(r);
}

static void fmt(char *buf, size_t cap, double v, const char *f)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, f, v);
}

char *cmp_render_text(const cmp_report *r)
{
    textbuf b = {0};
    tb_printf(&b, "baseline:  %s\ncandidate: %s\n\n", r->baseline_label, r->candidate_label);
    tb_printf(&b, "%-16s %-18s %10s %10s %10s %10s %-16s %s\n", "task", "metric", "baseline", "candidate", "delta",
              "p (Holm)", "test", "verdict");
    for (size_t i = 0; i < r->nrows; i++) {
        const cmp_row *x = &r->rows[i];
        char bv[32], cv[32], dv[32], pv[32];
        fmt(bv, sizeof bv, x->baseline, "%.4f");
        fmt(cv, sizeof cv, x->candidate, "%.4f");
        fmt(dv, sizeof dv, x->delta, "%+.4f");
        fmt(pv, sizeof pv, x->p_holm, "%.4g");
        tb_printf(&b, "%-16s %-18s %10s %10s %10s %10s %-16s %s\n", x->task, x->metric, bv, cv, dv, pv, x->test,
                  cmp_verdict_name(x->verdict));
    }
    for (size_t i = 0; i < r->nrows; i++) {
        const cmp_row *x = &r->rows[i];
        if (!x->nflips)
            continue;
        tb_printf(&b, "\n%s %s: %lld right→wrong, %lld wrong→right of %lld paired samples\n", x->task, x->metric,
                  (long long)x->to_wrong, (long long)x->to_right, (long long)x->n_paired);
        for (size_t k = 0; k < x->nflips; k++) {
            const cmp_flip *f = &x->flips[k];
            tb_printf(&b, "  doc %lld %s: baseline %s, candidate %s, target %s\n", (long long)f->doc_id,
                      f->to_wrong ? "right→wrong" : "wrong→right", f->baseline_prediction ? f->baseline_prediction : "-",
                      f->candidate_prediction ? f->candidate_prediction : "-", f->target ? f->target : "-");
        }
    }
    tb_printf(&b, "\n%s\n", r->regressed ? "REGRESSED" : "no regression");
    return tb_take(&b);
}

/* Text for a Markdown table cell: no pipes or newlines. */
static void md_cell(textbuf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && *s && n < max; s++, n++)
        tb_printf(b, "%s", *s == '|' ? "\\|" : *s == '\n' ? " " : (char[]){*s, 0});
    if (s && *s)
        tb_printf(b, "…");
}

char *cmp_render_markdown(const cmp_report *r)
{
    textbuf b = {0};
    tb_printf(&b, "### yardstick compare: %s\n\n", r->regressed ? "❌ regression" : "✅ no regression");
    tb_printf(&b, "baseline: `%s` · candidate: `%s`\n\n", r->baseline_label, r->candidate_label);
    tb_printf(&b, "| task | metric | baseline | candidate | Δ | p (Holm) | test | verdict |\n|---|---|---:|---:|---:|---:|---|---|\n");
    for (size_t i = 0; i < r->nrows; i++) {
        const cmp_row *x = &r->rows[i];
        char bv[32], cv[32], dv[32], pv[32];
        fmt(bv, sizeof bv, x->baseline, "%.4f");
        fmt(cv, sizeof cv, x->candidate, "%.4f");
        fmt(dv, sizeof dv, x->delta, "%+.4f");
        fmt(pv, sizeof pv, x->p_holm, "%.3g");
        const char *v = cmp_verdict_name(x->verdict);
        tb_printf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s%s%s |\n", x->task, x->metric, bv, cv, dv, pv, x->test,
                  x->verdict == CMP_REGRESSED ? "**" : "", v, x->verdict == CMP_REGRESSED ? "**" : "");
    }
    for (size_t i = 0; i < r->nrows; i++) {
        const cmp_row *x = &r->rows[i];
        if (!x->nflips)
            continue;
        tb_printf(&b, "\n<details><summary>%s %s: %lld right→wrong, %lld wrong→right</summary>\n\n", x->task, x->metric,
                  (long long)x->to_wrong, (long long)x->to_right);
        tb_printf(&b, "| doc | change | prompt | baseline | candidate | target |\n|---:|---|---|---|---|---|\n");
        for (size_t k = 0; k < x->nflips; k++) {
            const cmp_flip *f = &x->flips[k];
            tb_printf(&b, "| %lld | %s | ", (long long)f->doc_id, f->to_wrong ? "right→wrong" : "wrong→right");
            md_cell(&b, f->prompt, 120);
            tb_printf(&b, " | ");
            md_cell(&b, f->baseline_prediction, 60);
            tb_printf(&b, " | ");
            md_cell(&b, f->candidate_prediction, 60);
            tb_printf(&b, " | ");
            md_cell(&b, f->target, 60);
            tb_printf(&b, " |\n");
        }
        tb_printf(&b, "\n</details>\n");
    }
    return tb_take(&b);
}

char *cmp_render_junit(const cmp_report *r)
{
    textbuf b = {0};
    size_t failures = 0;
    for (size_t i = 0; i < r->nrows; i++)
        failures += r->rows[i].verdict == CMP_REGRESSED;
    tb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"yardstick compare\" "
                  "tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n",
              r->nrows, failures);
    for (size_t i = 0; i < r->nrows; i++) {
        const cmp_row *x = &r->rows[i];
        tb_printf(&b, "  <testcase classname=\"");
        tb_xml(&b, x->task);
        tb_printf(&b, "\" name=\"");
        tb_xml(&b, x->metric);
        tb_printf(&b, ",");
        tb_xml(&b, x->filter);
        tb_printf(&b, "\">");
        char msg[512];
        snprintf(msg, sizeof msg, "%s: baseline %.4f, candidate %.4f, delta %+.4f, p (Holm) %.4g, test %s",
                 cmp_verdict_name(x->verdict), x->baseline, x->candidate, x->delta, x->p_holm, x->test);
        if (x->verdict == CMP_REGRESSED) {
            tb_printf(&b, "<failure message=\"");
            tb_xml(&b, msg);
            tb_printf(&b, "\" type=\"regression\"/>");
        } else {
            tb_printf(&b, "<system-out>");
            tb_xml(&b, msg);
            tb_printf(&b, "</system-out>");
        }
        tb_printf(&b, "</testcase>\n");
    }
    tb_printf(&b, "</testsuite>\n</testsuites>\n");
    return tb_take(&b);
}
