/* The runner's classifier path: the model's labels mapped to the task's
 * classes, the documents encoded as (text, pair) inputs, and the encoder's
 * logits, batched and cached (see runner_internal.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"

/* ---- labels and inputs --------------------------------------------------- */

/* Label names compare case-insensitively with '-' and ' ' as '_':
 * "NOT_ENTAILMENT", "not-entailment" and "not entailment" are one class. */
static bool same_label(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '-' || *a == ' ' ? '_' : (char)tolower((unsigned char)*a);
        char y = *b == '-' || *b == ' ' ? '_' : (char)tolower((unsigned char)*b);
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

/* Which of the task's classes each model label means: by name (every
 * model label names a class), or by position ("index", or "auto" when the
 * names do not all match and the counts agree). A mapping that leaves a
 * class without a label would score that class as never predicted: it is
 * refused instead, with both lists in the message. */
static int cls_label_map(const run_state *st, task_run *t, ys_error *err)
{
    const task_spec *s = t->spec;
    int nl = st->num_labels;
    if (nl == 1 || s->ncls_labels == 0) {
        if (nl == 1 && s->ncls_labels == 0)
            return 0;
        return ys_fail(err, YS_EUSAGE, "the task is %s but the model has %s",
                       s->ncls_labels ? "classification" : "regression (no classification.labels)",
                       nl == 1 ? "a regression head (num_labels 1)" : "a classification head");
    }
    t->cls_map = rn_calloc((size_t)nl, sizeof *t->cls_map);
    if (!t->cls_map)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    bool by_name = strcmp(s->cls_match, "index") != 0, all = true;
    for (int i = 0; by_name && i < nl; i++) {
        t->cls_map[i] = -1;
        for (size_t j = 0; j < s->ncls_labels; j++)
            if (same_label(st->label_names[i], s->cls_labels[j]))
                t->cls_map[i] = (int)j;
        all &= t->cls_map[i] >= 0;
    }
    /* every class needs a label */
    for (size_t j = 0; by_name && all && j < s->ncls_labels; j++) {
        bool hit = false;
        for (int i = 0; i < nl; i++)
            hit |= t->cls_map[i] == (int)j;
        all &= hit;
    }
    if (by_name && all)
        return 0;
    if (strcmp(s->cls_match, "name") && (size_t)nl == s->ncls_labels) {
        for (int i = 0; i < nl; i++)
            t->cls_map[i] = i;
        return 0;
    }
    char model_l[512] = "", task_l[512] = "";
    for (int i = 0; i < nl; i++)
        snprintf(model_l + strlen(model_l), sizeof model_l - strlen(model_l), "%s%s", i ? ", " : "", st->label_names[i]);
    for (size_t j = 0; j < s->ncls_labels; j++)
        snprintf(task_l + strlen(task_l), sizeof task_l - strlen(task_l), "%s%s", j ? ", " : "", s->cls_labels[j]);
    return ys_fail(err, YS_EUSAGE, "the model's labels (%s) do not match the task's classes (%s) by %s", model_l, task_l,
                   strcmp(s->cls_match, "auto") ? s->cls_match : "name or by count");
}

int rn_prepare_cls(run_state *st, task_run *t, ys_error *err)
{
    t->cls = true;
    t->cls_ids = rn_calloc(t->n, sizeof *t->cls_ids);
    t->cls_types = rn_calloc(t->n, sizeof *t->cls_types);
    t->cls_lens = rn_calloc(t->n, sizeof *t->cls_lens);
    t->cls_logits = rn_calloc(t->n * (size_t)st->num_labels, sizeof *t->cls_logits);
    if (!t->cls_ids || !t->cls_types || !t->cls_lens || !t->cls_logits)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    int rc = cls_label_map(st, t, err);
    for (size_t d = 0; d < t->n && rc == 0; d++) {
        const task_prompt *p = &t->prompts[d];
        rc = tok_encode_pair(st->tok, p->cls_text, strlen(p->cls_text), p->cls_pair, p->cls_pair ? strlen(p->cls_pair) : 0,
                             true, st->max_len, &t->cls_ids[d], &t->cls_types[d], &t->cls_lens[d], err);
        if (rc == 0 && t->cls_lens[d] == 0)
            rc = ys_fail(err, YS_EINPUT, "document %zu encodes to no tokens", d);
    }
    /* the stored "first prompt" is what the classifier saw */
    if (rc == 0 && t->n) {
        t->first_ids = malloc(t->cls_lens[0] * sizeof *t->first_ids);
        if (!t->first_ids)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        memcpy(t->first_ids, t->cls_ids[0], t->cls_lens[0] * sizeof *t->first_ids);
        t->nfirst = t->cls_lens[0];
    }
    return rc;
}

/* ---- the engine's classifications ---------------------------------------- */

/* The logits of documents docs[0..n) of t into the cache, one transaction
 * (%.9g round-trips a float exactly). */
static int cls_cache_put(run_state *st, const task_run *t, char (*keys)[65], const size_t *docs, size_t n,
                         ys_error *err)
{
    if (!st->store || n == 0)
        return 0;
    size_t nl = (size_t)st->num_labels;
    char **vp = rn_calloc(n, sizeof *vp);
    const char **kp = rn_calloc(n, sizeof *kp);
    int rc = vp && kp ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == 0; k++) {
        size_t cap = nl * 18 + 1, len = 0;
        const float *row = &t->cls_logits[docs[k] * nl];
        if (!(vp[k] = malloc(cap)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t c = 0; rc == 0 && c < nl; c++)
            len += (size_t)snprintf(vp[k] + len, cap - len, "%s%.9g", c ? " " : "", (double)row[c]);
        kp[k] = keys[docs[k]];
    }
    if (rc == 0)
        RN_STORE_CALL(st, rc, rs_cache_put_many(st->store, kp, (const char *const *)vp, n, err));
    for (size_t k = 0; vp && k < n; k++)
        free(vp[k]);
    free(vp), free(kp);
    return rc;
}

/* Rank 0's view of a task's pass, for another rank's batches. */
typedef struct {
    run_state *st;
    task_run *t;
    char (*keys)[65];
    size_t *done, total;
    double t0;
} cls_pass;

/* Another rank's batch: (document u64, num_labels f32 logits) each. */
static int cls_apply(void *ctx, int from, uint32_t nitems, const unsigned char *p, size_t len, ys_error *err)
{
    cls_pass *c = ctx;
    size_t nl = (size_t)c->st->num_labels, off = 0;
    size_t *docs = rn_calloc(nitems, sizeof *docs);
    int rc = docs ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (uint32_t k = 0; rc == 0 && k < nitems; k++) {
        uint64_t d;
        if (!rn_buf_get(p, len, &off, &d, sizeof d) || d >= c->t->n ||
            !rn_buf_get(p, len, &off, &c->t->cls_logits[d * nl], nl * sizeof(float)))
            rc = ys_fail(err, YS_EINPUT, "rank %d sent a malformed batch of logits", from);
        else
            docs[k] = (size_t)d;
    }
    if (rc == 0)
        rc = cls_cache_put(c->st, c->t, c->keys, docs, nitems, err);
    free(docs);
    *c->done += nitems;
    if (rc == 0)
        rn_progress(c->st, "classifications", *c->done, c->total, c->t0);
    return rc;
}

/* The documents of t whose logits are not in the cache (rank 0 reads it)
 * into todo, in document order; the others' logits into t->cls_logits. */
static int cls_lookup(run_state *st, task_run *t, char (*keys)[65], uint64_t *todo, size_t *ntodo, ys_error *err)
{
    size_t nl = (size_t)st->num_labels;
    int rc = 0;
    *ntodo = 0;
    for (size_t d = 0; d < t->n && rc == 0; d++) {
        float *row = &t->cls_logits[d * nl];
        char *resp = NULL;
        if (st->store) {
            /* ids then type ids, one key */
            size_t n = t->cls_lens[d];
            int32_t *both = malloc(2 * n * sizeof *both);
            if (!both)
                return ys_fail(err, YS_ENOMEM, "out of memory");
            memcpy(both, t->cls_ids[d], n * sizeof *both);
            memcpy(both + n, t->cls_types[d], n * sizeof *both);
            rn_cache_key(st, "cls", both, 2 * n, n, nl, keys[d]);
            free(both);
            RN_STORE_CALL(st, rc, rs_cache_get(st->store, keys[d], &resp, err));
        }
        size_t got = 0;
        for (char *q = resp, *end; q && got < nl; q = end, got++) {
            row[got] = strtof(q, &end);
            if (end == q)
                break;
        }
        free(resp);
        if (resp && got == nl)
            st->cached++;
        else
            todo[(*ntodo)++] = d;
    }
    if (rc == 0 && *ntodo && st->o->rescore)
        rc = ys_fail(err, YS_EINPUT, "rescore: task %s has inputs with no cached logits: use --resume with the model",
                     t->spec->name);
    return rc;
}

/* Classifier forward passes for every classification task, batched, with
 * the logits cached per input like any other response. With ranks, each
 * computes a range of a task's documents balanced by tokens (runner_dist.h). */
int rn_run_classifications(run_state *st, double *engine_s, ys_error *err)
{
    size_t B = st->o->batch_size > 0 ? (size_t)st->o->batch_size : 1, total = 0, done = 0;
    if (B > 64)
        B = 64;
    size_t nl = (size_t)st->num_labels;
    rn_dist *dist = st->o->dist;
    bool lead = rn_dist_leader(dist);
    int N = rn_dist_size(dist), rc = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].cls ? st->tasks[i].n : 0;
    double t0 = rn_now_s();
    for (size_t i = 0; i < st->ntasks && rc == 0; i++) {
        task_run *t = &st->tasks[i];
        if (!t->cls)
            continue;
        char (*keys)[65] = st->store ? rn_calloc(t->n, sizeof *keys) : NULL;
        uint64_t *todo = lead ? rn_calloc(t->n, sizeof *todo) : NULL;
        size_t ntodo = 0, *start = malloc(((size_t)N + 1) * sizeof *start);
        uint64_t *cost = NULL;
        if ((st->store && !keys) || (lead && !todo) || !start)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        if (rc == 0 && lead) {
            rc = cls_lookup(st, t, keys, todo, &ntodo, err);
            done += t->n - ntodo;
            rn_progress(st, "classifications", done, total, t0);
        }
        /* the documents left, to every rank; each computes a range */
        rc = rn_dist_share(dist, rc, &todo, &ntodo, err);
        if (rc == 0 && !(cost = rn_calloc(ntodo, sizeof *cost)))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && k < ntodo; k++)
            if (todo[k] >= t->n)
                rc = ys_fail(err, YS_EINPUT, "rank 0 sent a document out of range");
            else
                cost[k] = t->cls_lens[todo[k]];
        if (rc == 0)
            rn_dist_split(cost, NULL, ntodo, N, start);
        size_t lo = rc == 0 ? start[rn_dist_rank(dist)] : 0, hi = rc == 0 ? start[rn_dist_rank(dist) + 1] : 0;
        size_t left = ntodo - (hi - lo);
        cls_pass pass = {st, t, keys, &done, total, t0};
        for (size_t b = lo; b < hi && rc == 0; b += B) {
            size_t nb = hi - b < B ? hi - b : B, docs[64];
            const int32_t *ids[64], *types[64];
            size_t lens[64];
            float *rows[64];
            for (size_t k = 0; k < nb; k++) {
                size_t d = docs[k] = (size_t)todo[b + k];
                /* models without token types (DistilBERT) never see them,
                 * as HF's tokenizers for them do not return them */
                ids[k] = t->cls_ids[d], lens[k] = t->cls_lens[d];
                types[k] = enc_get_info(st->enc)->type_vocab ? t->cls_types[d] : NULL;
                rows[k] = &t->cls_logits[d * nl];
            }
            double e0 = rn_now_s();
            rc = enc_classify(st->enc, ids, types, lens, nb, rows, err);
            *engine_s += rn_now_s() - e0;
            if (rc == 0 && lead) {
                rc = cls_cache_put(st, t, keys, docs, nb, err);
                done += nb;
                rn_progress(st, "classifications", done, total, t0);
                if (rc == 0)
                    rc = rn_dist_collect(dist, false, &left, cls_apply, &pass, err);
            } else if (rc == 0) {
                rn_buf m = {0};
                for (size_t k = 0; k < nb; k++) {
                    uint64_t d = docs[k];
                    rn_buf_put(&m, &d, sizeof d);
                    rn_buf_put(&m, rows[k], nl * sizeof(float));
                }
                rc = rn_dist_send(dist, (uint32_t)nb, &m, err);
                rn_buf_free(&m);
            }
        }
        if (rc == 0)
            rc = rn_dist_collect(dist, true, &left, cls_apply, &pass, err);
        free(keys), free(todo), free(start), free(cost);
    }
    return rc;
}
