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

/* Classifier forward passes for every classification task, batched, with
 * the logits cached per input like any other response. */
int rn_run_classifications(run_state *st, double *engine_s, ys_error *err)
{
    size_t B = st->o->batch_size > 0 ? (size_t)st->o->batch_size : 1, total = 0, done = 0;
    if (B > 64)
        B = 64;
    size_t nl = (size_t)st->num_labels;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].cls ? st->tasks[i].n : 0;
    double t0 = rn_now_s();
    for (size_t i = 0; i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        for (size_t b = 0; t->cls && b < t->n; b += B) {
            size_t nb = t->n - b < B ? t->n - b : B, ntodo = 0;
            char keys[64][65];
            const int32_t *ids[64], *types[64];
            size_t lens[64], todo[64];
            float *rows[64];
            int rc = 0;
            for (size_t k = 0; k < nb && rc == 0; k++) {
                size_t d = b + k;
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
                    rn_cache_key(st, "cls", both, 2 * n, n, nl, keys[k]);
                    free(both);
                    RN_STORE_CALL(st, rc, rs_cache_get(st->store, keys[k], &resp, err));
                }
                size_t got = 0;
                for (char *q = resp, *end; q && got < nl; q = end, got++) {
                    row[got] = strtof(q, &end);
                    if (end == q)
                        break;
                }
                free(resp);
                if (resp && got == nl) {
                    st->cached++;
                    continue;
                }
                todo[ntodo] = k;
                /* models without token types (DistilBERT) never see them,
                 * as HF's tokenizers for them do not return them */
                ids[ntodo] = t->cls_ids[d], lens[ntodo] = t->cls_lens[d];
                types[ntodo] = enc_get_info(st->enc)->type_vocab ? t->cls_types[d] : NULL;
                rows[ntodo++] = row;
            }
            if (rc == 0 && ntodo && st->o->rescore)
                rc = ys_fail(err, YS_EINPUT, "rescore: task %s has inputs with no cached logits: use --resume with the "
                                             "model", t->spec->name);
            double e0 = rn_now_s();
            if (rc == 0 && ntodo)
                rc = enc_classify(st->enc, ids, types, lens, ntodo, rows, err);
            *engine_s += rn_now_s() - e0;
            if (rc == 0 && st->store && ntodo) {
                /* %.9g round-trips a float exactly */
                char *vp[64] = {0};
                const char *kp[64];
                for (size_t k = 0; k < ntodo && rc == 0; k++) {
                    size_t cap = nl * 18 + 1, len = 0;
                    if (!(vp[k] = malloc(cap)))
                        rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    for (size_t c = 0; rc == 0 && c < nl; c++)
                        len += (size_t)snprintf(vp[k] + len, cap - len, "%s%.9g", c ? " " : "", (double)rows[k][c]);
                    kp[k] = keys[todo[k]];
                }
                if (rc == 0)
                    RN_STORE_CALL(st, rc, rs_cache_put_many(st->store, kp, (const char *const *)vp, ntodo, err));
                for (size_t k = 0; k < ntodo; k++)
                    free(vp[k]);
            }
            if (rc < 0)
                return rc;
            done += nb;
            rn_progress(st, "classifications", done, total, t0);
        }
    }
    return 0;
}
