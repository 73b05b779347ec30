/* `yardstick kld --tasks`: the log-likelihood requests `yardstick run`
 * builds (runner_requests.c, unchanged), scored by the base and the model
 * in one pass (kld_cli.h), then each task's metrics computed twice by the
 * runner's own scoring (runner_score.c) and paired as the compare command
 * pairs samples (results/compare.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kld_cli.h"
#include "runner_internal.h"
#include "significance.h"

/* compare's defaults (cmp_options_default): its tests, its numbers */
enum { BOOTSTRAP_ITERS = 1000 };
static const uint64_t BOOTSTRAP_SEED = 12345;

typedef struct {
    char **names;
    double *values, *stderrs;
    bool *hib;
    size_t n;
    char **samples; /* per document: the sample's metrics JSON */
    size_t ndocs;
} task_scores;

static void scores_free(task_scores *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    for (size_t d = 0; s->samples && d < s->ndocs; d++)
        free(s->samples[d]);
    free(s->names), free(s->values), free(s->stderrs), free(s->hib), free(s->samples);
    memset(s, 0, sizeof *s);
}

/* Which task a request belongs to: its output slot lies in that task's
 * arrays. */
static size_t task_of(const run_state *st, const ll_req *q)
{
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        if (t->ll && q->ll_out >= t->ll && q->ll_out < t->ll + t->nll)
            return i;
        if (t->doc_ll && q->ll_out >= t->doc_ll && q->ll_out < t->doc_ll + t->n)
            return i;
    }
    return SIZE_MAX;
}

/* One model's answers through the runner's own scoring; the task's
 * results move into sc and the task is left ready for the other model. */
static int score_with(run_state *st, const double *ll, const uint8_t *greedy, task_scores *sc, ys_error *err)
{
    for (size_t i = 0; i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        if (t->ll) {
            memset(t->ll, 0, t->nll * sizeof *t->ll);
            memset(t->greedy, 1, t->nll);
        }
        if (t->doc_ll)
            memset(t->doc_ll, 0, t->n * sizeof *t->doc_ll);
    }
    for (size_t k = 0; k < st->nreqs; k++) {
        *st->reqs[k].ll_out += ll[k];
        if (st->reqs[k].greedy_out)
            *st->reqs[k].greedy_out &= greedy[k];
    }
    int rc = 0;
    for (size_t i = 0; i < st->ntasks && rc == 0; i++) {
        task_run *t = &st->tasks[i];
        if (!t->ll && !t->doc_ll)
            continue;
        rc = t->ll ? rn_score_mc(st, t, err) : rn_score_rolling(t, err);
        task_scores *s = &sc[i];
        s->n = t->nresults;
        s->names = rn_calloc(s->n, sizeof *s->names);
        s->values = rn_calloc(s->n, sizeof *s->values);
        s->stderrs = rn_calloc(s->n, sizeof *s->stderrs);
        s->hib = rn_calloc(s->n, sizeof *s->hib);
        if (rc == 0 && (!s->names || !s->values || !s->stderrs || !s->hib))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t m = 0; m < t->nresults; m++) {
            if (s->names)
                s->names[m] = t->metric_names[m], t->metric_names[m] = NULL;
            else
                free(t->metric_names[m]);
            if (s->values)
                s->values[m] = t->values[m], s->stderrs[m] = t->stderrs[m], s->hib[m] = t->hib[m];
        }
        if (!s->names)
            s->n = 0;
        t->nresults = 0;
        s->samples = t->sample_metrics, s->ndocs = t->n;
        t->sample_metrics = NULL;
        for (size_t d = 0; t->predictions && d < t->n; d++)
            free(t->predictions[d]);
        free(t->predictions);
        t->predictions = NULL;
    }
    return rc;
}

typedef struct {
    const double *a, *b;
} pair_ctx;

static double mean_delta(const size_t *idx, size_t n, void *vctx)
{
    const pair_ctx *c = vctx;
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d += c->b[idx[i]] - c->a[idx[i]];
    return d / (double)n;
}

/* compare's test for one metric: McNemar's exact test when every paired
 * per-sample value is 0 or 1, else a paired bootstrap of the mean
 * difference; without per-sample values a z-test from the two standard
 * errors when both are known. */
static int test_metric(kld_metric_row *row, const task_scores *A, const task_scores *B, size_t m, ys_error *err)
{
    size_t n = A->ndocs;
    double *a = rn_calloc(n, sizeof *a), *b = rn_calloc(n, sizeof *b);
    if (!a || !b) {
        free(a), free(b);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    size_t np = 0;
    for (size_t d = 0; d < n; d++) {
        cJSON *x = cJSON_Parse(A->samples[d]), *y = cJSON_Parse(B->samples[d]);
        const cJSON *vx = cJSON_GetObjectItemCaseSensitive(x, row->metric);
        const cJSON *vy = cJSON_GetObjectItemCaseSensitive(y, row->metric);
        if (cJSON_IsNumber(vx) && cJSON_IsNumber(vy))
            a[np] = vx->valuedouble, b[np] = vy->valuedouble, np++;
        cJSON_Delete(x), cJSON_Delete(y);
    }
    int rc = 0;
    row->p = NAN;
    row->test = "none";
    row->n_paired = (int64_t)np;
    if (np > 0) {
        bool binary = true;
        for (size_t i = 0; i < np && binary; i++)
            binary = (a[i] == 0 || a[i] == 1) && (b[i] == 0 || b[i] == 1);
        if (binary) {
            int64_t to_wrong = 0, to_right = 0;
            for (size_t i = 0; i < np; i++)
                to_wrong += a[i] == 1 && b[i] == 0, to_right += a[i] == 0 && b[i] == 1;
            row->p = sig_mcnemar_exact(to_wrong, to_right);
            row->test = "mcnemar";
        } else {
            pair_ctx c = {a, b};
            rc = sig_paired_bootstrap(np, BOOTSTRAP_ITERS, BOOTSTRAP_SEED, mean_delta, &c, &row->p, err);
            row->test = "paired-bootstrap";
        }
    } else {
        double sa = A->stderrs[m], sb = B->stderrs[m];
        if (!isnan(sa) && !isnan(sb) && (sa > 0 || sb > 0)) {
            row->p = erfc(fabs(row->delta) / sqrt(sa * sa + sb * sb) / sqrt(2.0));
            row->test = "z-test";
        }
    }
    free(a), free(b);
    return rc;
}

static int metric_rows(const run_state *st, const task_scores *A, const task_scores *B, kld_tasks_result *out,
                       ys_error *err)
{
    size_t cap = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        cap += A[i].n;
    out->rows = rn_calloc(cap, sizeof *out->rows);
    if (!out->rows)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < st->ntasks && rc == 0; i++)
        for (size_t m = 0; m < A[i].n && m < B[i].n && rc == 0; m++) {
            kld_metric_row *r = &out->rows[out->nrows++];
            r->task = strdup(st->tasks[i].spec->name);
            r->metric = strdup(A[i].names[m]);
            if (!r->task || !r->metric)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            r->higher_is_better = A[i].hib[m];
            r->base = A[i].values[m], r->model = B[i].values[m], r->delta = r->model - r->base;
            rc = test_metric(r, &A[i], &B[i], m, err);
        }
    /* Holm across every tested row, as compare */
    double *ps = rn_calloc(out->nrows, sizeof *ps), *adj = rn_calloc(out->nrows, sizeof *adj);
    size_t *at = rn_calloc(out->nrows, sizeof *at), k = 0;
    if (rc == 0 && (!ps || !adj || !at))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < out->nrows; i++) {
        out->rows[i].p_holm = NAN;
        if (!isnan(out->rows[i].p))
            ps[k] = out->rows[i].p, at[k++] = i;
    }
    if (rc == 0)
        rc = sig_holm(ps, k, adj, err);
    for (size_t j = 0; rc == 0 && j < k; j++)
        out->rows[at[j]].p_holm = adj[j];
    free(ps), free(adj), free(at);
    return rc;
}

int rn_kld_requests(run_state *st, kld_run *r, kld_set *const *sets, double *llb, double *llm, uint8_t *grb,
                    uint8_t *grm, ys_error *err)
{
    size_t n = st->nreqs;
    size_t *idx = rn_calloc(n, sizeof *idx), *tmp = rn_calloc(n, sizeof *tmp), *tk = rn_calloc(n, sizeof *tk);
    int rc = idx && tmp && tk ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < n; k++)
        if ((tk[k] = task_of(st, &st->reqs[k])) == SIZE_MAX)
            rc = ys_fail(err, YS_EINPUT, "internal: request %zu belongs to no task", k);
    /* the runner's engine order (a context's choices together, so the
     * engine computes the context once); every request is scored, even a
     * duplicate, so each task counts all its positions */
    if (rc == 0)
        rn_order_requests(st, idx, tmp);
    double t0 = rn_now_s();
    for (size_t b = 0, nb = 0; rc == 0 && b < n; b += nb) {
        nb = 1;
        while (b + nb < n && nb < 64 && rn_same_context(&st->reqs[idx[b + nb - 1]], &st->reqs[idx[b + nb]]))
            nb++;
        const int32_t *seqs[64];
        size_t lens[64], froms[64];
        kld_set *extra[64];
        double lb[64], lm[64];
        uint8_t gb[64], gm[64];
        for (size_t k = 0; k < nb; k++) {
            const ll_req *q = &st->reqs[idx[b + k]];
            seqs[k] = q->ids, lens[k] = q->len, froms[k] = q->from;
            extra[k] = sets[tk[idx[b + k]]];
        }
        rc = kld_score(r, seqs, lens, froms, nb, (int32_t)b, extra, lb, lm, gb, gm, err);
        for (size_t k = 0; rc == 0 && k < nb; k++) {
            size_t q = idx[b + k];
            if (llb)
                llb[q] = lb[k];
            if (llm)
                llm[q] = lm[k];
            if (grb)
                grb[q] = gb[k];
            if (grm)
                grm[q] = gm[k];
        }
        rn_progress(st, "KL divergence", b + nb, n, t0);
    }
    free(idx), free(tmp), free(tk);
    return rc;
}

int kld_run_tasks(kld_run *r, const kld_tasks_options *ko, kld_tasks_result *out, ys_error *err)
{
    memset(out, 0, sizeof *out);
    run_options o;
    memset(&o, 0, sizeof o);
    o.model_dir = ko->base_dir, o.tasks = ko->tasks, o.data_dir = ko->data_dir;
    o.include = ko->include, o.ninclude = ko->ninclude, o.limit = ko->limit, o.num_fewshot = ko->num_fewshot;
    o.seed = ko->seed, o.batch_size = 1, o.threads = ko->threads, o.allow_empty = ko->allow_empty;
    run_state st;
    memset(&st, 0, sizeof st);
    st.o = &o;
    rn_compute_name(&o, st.compute, sizeof st.compute);
    int rc = rn_load_tasks(&st, err);
    if (rc == 0)
        rc = rn_model_kind(&st, err);
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = rn_check_task_fits(&st, st.tasks[i].spec, err);
    if (rc == 0)
        rc = tok_load(o.model_dir, &st.tok, err);
    if (rc == 0) {
        /* the window both models can take (run uses its one model's) */
        int mp = model_get_info(r->base)->max_positions, mq = model_get_info(r->model)->max_positions;
        size_t lb = mp > 0 ? (size_t)mp : 2048, lm = mq > 0 ? (size_t)mq : 2048;
        st.max_len = lb < lm ? lb : lm;
        st.kind = RN_DECODER;
        st.eot = tok_eos_id(st.tok);
        if (st.eot < 0)
            st.eot = tok_bos_id(st.tok);
        if (st.eot < 0)
            st.eot = 0;
    }
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = rn_prepare_task(&st, &st.tasks[i], err);
    if (rc == 0) {
        out->ntasks = st.ntasks;
        out->tasks = rn_calloc(st.ntasks, sizeof *out->tasks);
        if (!out->tasks)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < st.ntasks; i++) {
            if (!(out->tasks[i].task = strdup(st.tasks[i].spec->name)))
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
            out->skipped_generation += st.tasks[i].gen != NULL;
        }
    }
    size_t n = st.nreqs;
    double *llb = rn_calloc(n, sizeof *llb), *llm = rn_calloc(n, sizeof *llm);
    uint8_t *grb = rn_calloc(n, 1), *grm = rn_calloc(n, 1);
    kld_set **sets = rn_calloc(st.ntasks, sizeof *sets);
    if (rc == 0 && (!llb || !llm || !grb || !grm || !sets))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < st.ntasks; i++)
        sets[i] = &out->tasks[i].set;
    if (rc == 0)
        rc = rn_kld_requests(&st, r, sets, llb, llm, grb, grm, err);
    free(sets);
    task_scores *A = rn_calloc(st.ntasks, sizeof *A), *B = rn_calloc(st.ntasks, sizeof *B);
    if (rc == 0 && (!A || !B))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = score_with(&st, llb, grb, A, err);
    if (rc == 0)
        rc = score_with(&st, llm, grm, B, err);
    if (rc == 0)
        rc = metric_rows(&st, A, B, out, err);
    for (size_t i = 0; i < st.ntasks; i++) {
        if (A)
            scores_free(&A[i]);
        if (B)
            scores_free(&B[i]);
    }
    free(A), free(B);
    free(llb), free(llm), free(grb), free(grm);
    st.m = NULL; /* never loaded here: the models are kld's */
    rn_free_state(&st);
    return rc;
}

void kld_tasks_free(kld_tasks_result *t)
{
    for (size_t i = 0; i < t->ntasks; i++) {
        free(t->tasks[i].task);
        kld_set_free(&t->tasks[i].set);
    }
    for (size_t i = 0; i < t->nrows; i++)
        free(t->rows[i].task), free(t->rows[i].metric);
    free(t->tasks), free(t->rows);
    memset(t, 0, sizeof *t);
}

/* ---- run --kl-base --------------------------------------------------------- */

int rn_kl_base_check(run_state *st, ys_error *err)
{
    const char *b = st->o->kl_base, *m = st->o->model_dir;
    if (st->kind != RN_DECODER)
        return ys_fail(err, YS_EUSAGE, "--kl-base compares decoder-only language models; --model %s is %s", m,
                       st->kind == RN_CLASSIFIER ? "an encoder classifier" : "an encoder-decoder");
    int rc = kld_check_decoder(b, "--kl-base", err);
    if (rc < 0)
        return rc;
    if (!kld_has_tokenizer(b))
        return ys_fail(err, YS_EINPUT, "the models do not share a tokenizer: %s has none, %s has one", b, m);
    tok_tokenizer *tb = NULL;
    if ((rc = tok_load(b, &tb, err)) == 0)
        rc = kld_same_vocabulary(tb, st->tok, b, m, err);
    tok_free(tb);
    return rc;
}

int rn_kl_base_load(run_state *st, ys_error *err)
{
    const char *b = st->o->kl_base;
    /* as stored: --adapter, --quantize and --compute are the model's */
    int rc = model_load(b, &st->kl_base, err);
    if (rc == 0 && st->o->threads > 0)
        rc = model_set_threads(st->kl_base, st->o->threads, err);
    if (rc < 0)
        return rc;
    const model_info *ib = model_get_info(st->kl_base), *im = model_get_info(st->m);
    if (ib->vocab != im->vocab)
        return ys_fail(err, YS_EINPUT, "the models' vocabularies differ: %s has %d logits, %s has %d", b, ib->vocab,
                       st->o->model_dir, im->vocab);
    snprintf(st->kl_base_arch, sizeof st->kl_base_arch, "%s", ib->arch);
    return 0;
}

/* The run's requests are cut to the model's window; the base must take
 * each of them whole, or the two would not see the same tokens. */
int rn_kl_base_fits(const run_state *st, ys_error *err)
{
    int mp = model_get_info(st->kl_base)->max_positions;
    size_t win = mp > 0 ? (size_t)mp : 2048;
    for (size_t k = 0; k < st->nreqs; k++)
        if (st->reqs[k].len > win) {
            size_t t = task_of(st, &st->reqs[k]);
            return ys_fail(err, YS_EINPUT, "--kl-base %s takes %zu positions, but task %s has a request of %zu tokens "
                                           "(the model's window is %zu): both models must see the same tokens",
                           st->o->kl_base, win, t < st->ntasks ? st->tasks[t].spec->name : "?", st->reqs[k].len,
                           st->max_len);
        }
    return 0;
}

int rn_run_kl_base(run_state *st, double *engine_s, ys_error *err)
{
    kld_run r;
    memset(&r, 0, sizeof r);
    r.base = st->kl_base, r.model = st->m;
    r.vocab = (size_t)model_get_info(st->m)->vocab;
    kld_set **sets = rn_calloc(st->ntasks, sizeof *sets);
    int rc = sets ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < st->ntasks; i++)
        sets[i] = &st->tasks[i].kld;
    double e0 = rn_now_s();
    if (rc == 0)
        rc = rn_kld_requests(st, &r, sets, NULL, NULL, NULL, NULL, err);
    *engine_s += rn_now_s() - e0;
    free(sets);
    free(r.lb), free(r.lm), free(r.lpb), free(r.lpm), free(r.grb), free(r.grm);
    kld_set_free(&r.total);
    /* the generation pass does not need it */
    model_free(st->kl_base);
    st->kl_base = NULL;
    st->kld_measured = rc == 0;
    return rc;
}
