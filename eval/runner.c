#include "runner.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "registry.h"
#include "runner_internal.h"
#include "sha256.h"
#include "taskdirs.h"

void *rn_calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}
/* ---- tokenization as lm-evaluation-harness does it ----------------------- */

static int encode(run_state *st, const char *s, int32_t **ids, size_t *n, ys_error *err)
{
    return tok_encode(st->tok, s, strlen(s), false, ids, n, err);
}

/* Context and continuation → one sequence and where the continuation
 * starts. Trailing spaces of the context move to the continuation; the
 * pair is encoded together and split at the context's own length. */
/* The context's own encoding, shared by the choices of one document (each
 * choice would otherwise encode the same context again). */
typedef struct {
    int32_t *ids;
    size_t n;
    bool done;
} ctx_cache;

static int encode_pair(run_state *st, const char *context, const char *cont, ctx_cache *cc, int32_t **seq,
                       size_t *len, size_t *from, ys_error *err)
{
    size_t cl = strlen(context), spaces = 0;
    while (spaces < cl && context[cl - 1 - spaces] == ' ')
        spaces++;
    size_t wl = cl + strlen(cont);
    char *whole = malloc(wl + 1), *ctx = strndup(context, cl - spaces);
    if (!whole || !ctx) {
        free(whole), free(ctx);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    snprintf(whole, wl + 1, "%s%s", context, cont);
    int32_t *w = NULL;
    size_t nw = 0;
    int rc = encode(st, whole, &w, &nw, err);
    if (rc == 0 && !cc->done && (rc = encode(st, ctx, &cc->ids, &cc->n, err)) == 0)
        cc->done = true;
    free(whole), free(ctx);
    if (rc < 0) {
        free(w);
        return rc;
    }
    size_t nc = cc->n;
    if (nc > nw)
        nc = nw;
    size_t ncont = nw - nc;
    if (ncont == 0) {
        free(w);
        return ys_fail(err, YS_EINPUT, "a continuation encodes to no tokens");
    }
    /* an empty context predicts from the end-of-text token */
    int32_t *full = w;
    size_t nfull = nw;
    if (nc == 0) {
        full = malloc((nw + 1) * sizeof *full);
        if (!full) {
            free(w);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        full[0] = st->eot;
        memcpy(full + 1, w, nw * sizeof *full);
        nfull = nw + 1;
        free(w);
    }
    /* keep at most max_len + 1 tokens: the model sees max_len */
    if (nfull > st->max_len + 1) {
        size_t cut = nfull - (st->max_len + 1);
        memmove(full, full + cut, (nfull - cut) * sizeof *full);
        nfull -= cut;
    }
    if (ncont >= nfull)
        ncont = nfull - 1;
    *seq = full;
    *len = nfull;
    *from = nfull - ncont;
    return 0;
}

/* Encoder-decoder: lm-evaluation-harness's seq2seq branch (model.py
 * _encode_pair) encodes context and continuation separately, the context
 * with the tokenizer's special tokens (T5 appends </s>), the continuation
 * without; the context feeds the encoder and the continuation is scored
 * after decoder_start_token_id. One request holds
 * both: ids = context ++ continuation, from = the context's length. */
static int encode_pair_s2s(run_state *st, const char *context, const char *cont, ctx_cache *cc, int32_t **seq,
                           size_t *len, size_t *from, ys_error *err)
{
    size_t cl = strlen(context), spaces = 0;
    while (spaces < cl && context[cl - 1 - spaces] == ' ')
        spaces++;
    size_t contl = strlen(cont);
    char *moved = malloc(spaces + contl + 1);
    if (!moved)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    memset(moved, ' ', spaces);
    memcpy(moved + spaces, cont, contl + 1);
    int32_t *k = NULL;
    size_t nk = 0;
    int rc = 0;
    if (!cc->done && (rc = tok_encode(st->tok, context, cl - spaces, true, &cc->ids, &cc->n, err)) == 0)
        cc->done = true;
    const int32_t *c = cc->ids;
    size_t nc = cc->n;
    if (rc == 0)
        rc = tok_encode(st->tok, moved, spaces + contl, false, &k, &nk, err);
    free(moved);
    if (rc == 0 && nk == 0)
        rc = ys_fail(err, YS_EINPUT, "a continuation encodes to no tokens");
    /* an over-long context loses its beginning, as a decoder's does */
    size_t cut = st->max_len && nc > st->max_len ? nc - st->max_len : 0;
    int32_t *full = rc == 0 ? malloc((nc - cut + nk) * sizeof *full) : NULL;
    if (rc == 0 && !full)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (rc == 0) {
        memcpy(full, c + cut, (nc - cut) * sizeof *full);
        memcpy(full + nc - cut, k, nk * sizeof *full);
        *seq = full;
        *len = nc - cut + nk;
        *from = nc - cut;
    }
    free(k);
    return rc;
}

static int add_req(run_state *st, int32_t *ids, size_t len, size_t from, double *ll_out, uint8_t *greedy_out,
                   ys_error *err)
{
    if (st->nreqs == st->cap_reqs) {
        size_t cap = st->cap_reqs ? st->cap_reqs * 2 : 1024;
        ll_req *p = realloc(st->reqs, cap * sizeof *p);
        if (!p)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        st->reqs = p;
        st->cap_reqs = cap;
    }
    st->reqs[st->nreqs++] = (ll_req){ids, len, from, ll_out, greedy_out, 0, 0, 0};
    return 0;
}

/* Rolling windows over [eot] + tokens, as lm-evaluation-harness's
 * get_rolling_token_windows with context length 1: chunks of max_len
 * predicted tokens, each given as much preceding text as fits. */
static int add_rolling(run_state *st, const int32_t *tokens, size_t n, double *ll_out, ys_error *err)
{
    size_t L = st->max_len;
    int32_t *seq = malloc((n + 1) * sizeof *seq);
    if (!seq)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    seq[0] = st->eot;
    memcpy(seq + 1, tokens, n * sizeof *seq);
    for (size_t p = 0; p < n; p += L) {
        size_t c = n - p < L ? n - p : L;
        size_t end = p + c + 1; /* seq index after the chunk */
        size_t start = end > L + 1 ? end - (L + 1) : 0;
        int32_t *w = malloc((end - start) * sizeof *w);
        if (!w) {
            free(seq);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        memcpy(w, seq + start, (end - start) * sizeof *w);
        int rc = add_req(st, w, end - start, p + 1 - start, ll_out, NULL, err);
        if (rc < 0) {
            free(w);
            free(seq);
            return rc;
        }
    }
    free(seq);
    return 0;
}

/* ---- building ------------------------------------------------------------ */

static int load_task(run_state *st, const task_registry *reg, const char *name, ys_error *err)
{
    for (size_t i = 0; i < st->ntasks; i++)
        if (!strcmp(st->tasks[i].spec->name, name))
            return 0; /* asked twice (directly and through a group) */
    char *path = treg_find(reg, name, err);
    if (!path)
        return YS_EUSAGE;
    task_spec *spec;
    int rc = task_load(path, &spec, err);
    if (rc < 0) {
        free(path);
        return rc;
    }
    if (task_is_group(spec)) {
        char **members = rn_calloc(spec->nmembers, sizeof *members);
        char ***gm = realloc(st->group_members, (st->ngroups + 1) * sizeof *gm);
        char **gn = realloc(st->groups, (st->ngroups + 1) * sizeof *gn);
        size_t *gc = realloc(st->group_nmembers, (st->ngroups + 1) * sizeof *gc);
        char **ga = realloc(st->group_aggregate, (st->ngroups + 1) * sizeof *ga);
        if (gm)
            st->group_members = gm;
        if (gn)
            st->groups = gn;
        if (gc)
            st->group_nmembers = gc;
        if (ga)
            st->group_aggregate = ga;
        if (!members || !gm || !gn || !gc || !ga) {
            free(members);
            task_free(spec);
            free(path);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < spec->nmembers; i++)
            members[i] = strdup(spec->members[i]);
        st->groups[st->ngroups] = strdup(spec->name);
        st->group_members[st->ngroups] = members;
        st->group_nmembers[st->ngroups] = spec->nmembers;
        st->group_aggregate[st->ngroups] = strdup(spec->aggregate);
        st->ngroups++;
        for (size_t i = 0; i < spec->nmembers && rc == 0; i++)
            rc = load_task(st, reg, spec->members[i], err);
        task_free(spec);
        free(path);
        return rc;
    }
    task_run *p = realloc(st->tasks, (st->ntasks + 1) * sizeof *p);
    if (!p) {
        task_free(spec);
        free(path);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    st->tasks = p;
    task_run *t = &st->tasks[st->ntasks++];
    memset(t, 0, sizeof *t);
    t->spec = spec;
    t->spec_path = path;
    t->samples_dir = taskdirs_samples_for(path);
    return 0;
}

/* ---- classification ------------------------------------------------------ */

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

static int prepare_cls(run_state *st, task_run *t, ys_error *err)
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

static int prepare_task(run_state *st, task_run *t, ys_error *err)
{
    const run_options *o = st->o;
    const task_spec *s = t->spec;
    int rc = task_docs_load(s, s->eval_split, o->data_dir, t->samples_dir, (size_t)(o->limit > 0 ? o->limit : 0),
                            o->skip_bad_rows, &t->docs, err);
    if (rc < 0)
        return rc;
    int k = o->num_fewshot >= 0 ? o->num_fewshot : s->num_fewshot;
    const char *fs_split = s->fewshot_split ? s->fewshot_split : s->eval_split;
    bool same_split = !strcmp(fs_split, s->eval_split);
    if (k > 0 && (rc = task_docs_load(s, fs_split, o->data_dir, t->samples_dir, 0, o->skip_bad_rows, &t->pool, err)) < 0)
        return rc;
    const char *files[2] = {t->docs.path, t->pool.path};
    if ((rc = task_content_hash(s, files, t->pool.path ? 2 : 1, t->hash, err)) < 0)
        return rc;
    t->n = t->docs.n;
    t->prompts = rn_calloc(t->n, sizeof *t->prompts);
    if (!t->prompts)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    uint64_t rng = o->seed;
    for (size_t d = 0; d < t->n && rc == 0; d++)
        rc = task_prompt_build(s, &t->docs.docs[d], k > 0 ? &t->pool : NULL, same_split ? d : SIZE_MAX, k, &rng,
                               &t->prompts[d], err);
    if (rc < 0)
        return rc;
    if (st->kind == RN_CLASSIFIER) {
        rc = prepare_cls(st, t, err);
        if (rc < 0 && err) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            ys_fail(err, rc, "task %s: %s", s->name, m);
        }
        return rc;
    }
    if (t->n && (rc = st->kind == RN_SEQ2SEQ ? tok_encode(st->tok, t->prompts[0].context, strlen(t->prompts[0].context),
                                                         true, &t->first_ids, &t->nfirst, err)
                                            : encode(st, t->prompts[0].context, &t->first_ids, &t->nfirst, err)) < 0)
        return rc;
    /* requests */
    if (s->output == OUT_MULTIPLE_CHOICE) {
        t->ll = rn_calloc(t->n * s->nchoices, sizeof *t->ll);
        t->greedy = rn_calloc(t->n * s->nchoices, sizeof *t->greedy);
        if (!t->ll || !t->greedy)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n && rc == 0; d++) {
            ctx_cache cc = {NULL, 0, false};
            for (size_t c = 0; c < s->nchoices && rc == 0; c++) {
                int32_t *ids = NULL;
                size_t len = 0, from = 0;
                rc = (st->kind == RN_SEQ2SEQ ? encode_pair_s2s : encode_pair)(st, t->prompts[d].context,
                                                                              t->prompts[d].choices[c], &cc, &ids,
                                                                              &len, &from, err);
                if (rc == 0) {
                    t->greedy[d * s->nchoices + c] = 1;
                    rc = add_req(st, ids, len, from, &t->ll[d * s->nchoices + c], &t->greedy[d * s->nchoices + c], err);
                }
            }
            free(cc.ids);
        }
    } else if (s->output == OUT_ROLLING) {
        t->doc_ll = rn_calloc(t->n, sizeof *t->doc_ll);
        if (!t->doc_ll)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n && rc == 0; d++) {
            int32_t *ids;
            size_t n;
            if ((rc = encode(st, t->prompts[d].context, &ids, &n, err)) == 0) {
                rc = add_rolling(st, ids, n, &t->doc_ll[d], err);
                free(ids);
            }
        }
    } else {
        t->gen = rn_calloc(t->n, sizeof *t->gen);
        if (!t->gen)
            return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    if (rc < 0 && err) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        ys_fail(err, rc, "task %s: %s", s->name, m);
    }
    return rc;
}

/* ---- the engine ---------------------------------------------------------- */

/* Requests with the same context sit together, so the engine computes the
 * context once for all of them (model_logprobs reuses an identical prefix
 * of the sequence before it): by context length (longest first, so memory
 * peaks early), then context, then length and ids. */
static int cmp_req(const void *a, const void *b, void *ctx)
{
    const ll_req *r = ctx, *x = &r[*(const size_t *)a], *y = &r[*(const size_t *)b];
    if (x->from != y->from)
        return x->from > y->from ? -1 : 1;
    int c = x->from > 1 ? memcmp(x->ids, y->ids, (x->from - 1) * sizeof *x->ids) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return memcmp(x->ids, y->ids, x->len * sizeof *x->ids);
}

/* Do two requests share their context (the prefix model_logprobs reuses)? */
static bool same_context(const ll_req *x, const ll_req *y)
{
    return x->from == y->from && x->from > 1 && !memcmp(x->ids, y->ids, (x->from - 1) * sizeof *x->ids);
}

/* qsort_r is a GNU extension; a small merge sort keeps this portable. */
static void sort_idx(size_t *idx, size_t *tmp, size_t n, const ll_req *r)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_idx(idx, tmp, h, r);
    sort_idx(idx + h, tmp, n - h, r);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_req(&idx[j], &idx[i], (void *)r) < 0 ? idx[j++] : idx[i++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static double now_s(void);

/* Time spent in the store (cache look-ups and writes, samples, results):
 * the run summary reports its share of the wall time. */
#define STORE_CALL(st, rc, call)                                                                                       \
    do {                                                                                                               \
        double t0_ = now_s();                                                                                          \
        (rc) = (call);                                                                                                 \
        (st)->store_s += now_s() - t0_;                                                                                \
    } while (0)

static void progress(const run_state *st, const char *what, size_t done, size_t total, double t0)
{
    if (!st->o->progress)
        return;
    static const char spin[] = "|/-\\";
    double now = now_s(), rate = now > t0 ? (double)done / (now - t0) : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%c %s %zu/%zu  %.1f/s  ETA %.0fs   ", spin[done % 4], what, done, total, rate, eta);
    if (done == total)
        fprintf(stderr, "\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The response cache key: everything that determines the answer — the
 * weights and tokenizer (by content hash), the dtype the engine computes
 * in, the yardstick version, the kind of request and its token ids. */
static void cache_key(const run_state *st, const char *kind, const int32_t *ids, size_t n, size_t a, size_t b,
                      char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    char head[256];
    snprintf(head, sizeof head, "%s|%s|%s|float32|%s|%zu|%zu|", kind, st->weights_hash, st->tok_hash, YS_VERSION, a, b);
    sha256_update(&c, head, strlen(head));
    sha256_update(&c, ids, n * sizeof *ids);
    sha256_final_hex(&c, hex);
}

/* A batch of packed seq2seq requests (see encode_pair_s2s): the encoder
 * gets ids[0..from), the decoder decoder_start_token_id and ids[from..). */
static int s2s_batch(run_state *st, const int32_t *const *seqs, const size_t *lens, const size_t *froms, size_t nb,
                     double *const *lp, uint8_t *const *gr, ys_error *err)
{
    int32_t *dec[64] = {0};
    size_t dlen[64];
    int rc = 0;
    int32_t start = s2s_get_info(st->s2s)->decoder_start_id;
    for (size_t k = 0; k < nb && rc == 0; k++) {
        dlen[k] = lens[k] - froms[k] + 1;
        if (!(dec[k] = malloc(dlen[k] * sizeof *dec[k])))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        else {
            dec[k][0] = start;
            memcpy(dec[k] + 1, seqs[k] + froms[k], (dlen[k] - 1) * sizeof *dec[k]);
        }
    }
    if (rc == 0)
        rc = s2s_logprobs(st->s2s, seqs, froms, (const int32_t *const *)dec, dlen, nb, lp, gr, err);
    for (size_t k = 0; k < nb; k++)
        free(dec[k]);
    return rc;
}

/* Classifier forward passes for every classification task, batched, with
 * the logits cached per input like any other response. */
static int run_classifications(run_state *st, double *engine_s, ys_error *err)
{
    size_t B = st->o->batch_size > 0 ? (size_t)st->o->batch_size : 1, total = 0, done = 0;
    if (B > 64)
        B = 64;
    size_t nl = (size_t)st->num_labels;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].cls ? st->tasks[i].n : 0;
    double t0 = now_s();
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
                    cache_key(st, "cls", both, 2 * n, n, nl, keys[k]);
                    free(both);
                    STORE_CALL(st, rc, rs_cache_get(st->store, keys[k], &resp, err));
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
            double e0 = now_s();
            if (rc == 0 && ntodo)
                rc = enc_classify(st->enc, ids, types, lens, ntodo, rows, err);
            *engine_s += now_s() - e0;
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
                    STORE_CALL(st, rc, rs_cache_put_many(st->store, kp, (const char *const *)vp, ntodo, err));
                for (size_t k = 0; k < ntodo; k++)
                    free(vp[k]);
            }
            if (rc < 0)
                return rc;
            done += nb;
            progress(st, "classifications", done, total, t0);
        }
    }
    return 0;
}

static int run_loglikelihoods(run_state *st, double *engine_s, ys_error *err)
{
    size_t n = st->nreqs;
    if (!n)
        return 0;
    size_t *idx = malloc(n * sizeof *idx), *tmp = malloc(n * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx), free(tmp);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_idx(idx, tmp, n, st->reqs);
    /* identical requests (same ids, same split point) are computed once */
    size_t nuniq = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cmp_req(&idx[i - 1], &idx[i], st->reqs) != 0)
            tmp[nuniq++] = idx[i];
        st->reqs[idx[i]].rep = tmp[nuniq - 1];
    }
    size_t B = st->o->batch_size > 0 ? (size_t)st->o->batch_size : 1;
    int rc = 0;
    /* answers already in the cache (an earlier or interrupted run) */
    char (*keys)[65] = st->store ? malloc(nuniq * sizeof *keys) : NULL;
    if (st->store && !keys) {
        free(idx), free(tmp);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    size_t ntodo = 0;
    for (size_t u = 0; u < nuniq && rc == 0; u++) {
        ll_req *r = &st->reqs[tmp[u]];
        char *resp = NULL;
        if (st->store) {
            cache_key(st, "ll", r->ids, r->len, r->from, 0, keys[u]);
            STORE_CALL(st, rc, rs_cache_get(st->store, keys[u], &resp, err));
        }
        double ll;
        int greedy;
        if (resp && sscanf(resp, "%lf %d", &ll, &greedy) == 2) {
            r->ll = ll;
            r->greedy = (uint8_t)greedy;
            st->cached++;
        } else {
            if (keys && ntodo != u)
                memcpy(keys[ntodo], keys[u], sizeof keys[u]);
            tmp[ntodo++] = tmp[u];
        }
        free(resp);
    }
    nuniq = ntodo;
    if (nuniq && st->o->rescore) {
        free(idx), free(tmp), free(keys);
        return ys_fail(err, YS_EINPUT, "rescore: %zu requests of run %lld have no cached response (the run did not "
                                       "finish, or the model files changed): use --resume with the model",
                       nuniq, (long long)st->run_id);
    }
    double t0 = now_s();
    for (size_t b = 0, nb = 0; b < nuniq && rc == 0; b += nb) {
        nb = nuniq - b < B ? nuniq - b : B;
        /* never split a context's requests across batches */
        while (b + nb < nuniq && nb < 64 && same_context(&st->reqs[tmp[b + nb - 1]], &st->reqs[tmp[b + nb]]))
            nb++;
        const int32_t *seqs[64];
        size_t lens[64], froms[64];
        double *lp[64];
        uint8_t *gr[64];
        for (size_t k = 0; k < nb; k++) {
            ll_req *r = &st->reqs[tmp[b + k]];
            seqs[k] = r->ids, lens[k] = r->len, froms[k] = r->from;
            lp[k] = malloc((r->len - r->from) * sizeof **lp);
            gr[k] = malloc(r->len - r->from);
            if (!lp[k] || !gr[k])
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
        }
        double e0 = now_s();
        if (rc == 0 && st->kind == RN_SEQ2SEQ)
            rc = s2s_batch(st, seqs, lens, froms, nb, lp, gr, err);
        else if (rc == 0)
            rc = model_logprobs(st->m, seqs, lens, nb, froms, lp, gr, NULL, err);
        *engine_s += now_s() - e0;
        for (size_t k = 0; k < nb; k++) {
            ll_req *r = &st->reqs[tmp[b + k]];
            double sum = 0;
            uint8_t all = 1;
            for (size_t i = 0; rc == 0 && i < r->len - r->from; i++)
                sum += lp[k][i], all &= gr[k][i];
            r->ll = sum;
            r->greedy = all;
            free(lp[k]), free(gr[k]);
        }
        if (rc == 0 && st->store) {
            /* %.17g round-trips the double exactly */
            char vals[64][48];
            const char *kp[64], *vp[64];
            for (size_t k = 0; k < nb; k++) {
                const ll_req *r = &st->reqs[tmp[b + k]];
                snprintf(vals[k], sizeof vals[k], "%.17g %d", r->ll, r->greedy);
                kp[k] = keys[b + k], vp[k] = vals[k];
            }
            STORE_CALL(st, rc, rs_cache_put_many(st->store, kp, vp, nb, err));
        }
        progress(st, "log-likelihoods", b + nb, nuniq, t0);
    }
    free(keys);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ll_req *r = &st->reqs[i];
        const ll_req *rep = &st->reqs[r->rep];
        *r->ll_out += rep->ll;
        if (r->greedy_out)
            *r->greedy_out &= rep->greedy;
    }
    free(idx), free(tmp);
    return rc;
}

typedef struct {
    const tok_tokenizer *t;
    const task_spec *s;
    int32_t eot;
    size_t cut;
    bool stopped;
} gen_stop_ctx;

static int gen_stop(const int32_t *ids, size_t n, void *user)
{
    gen_stop_ctx *g = user;
    if (g->eot >= 0 && ids[n - 1] == g->eot)
        return 1;
    if (!g->s->nuntil)
        return 0;
    char *text = NULL;
    if (tok_decode(g->t, ids, n, true, &text, NULL) < 0)
        return 0;
    for (size_t k = 0; k < g->s->nuntil; k++) {
        const char *hit = strstr(text, g->s->until[k]);
        if (hit && (!g->stopped || (size_t)(hit - text) < g->cut)) {
            g->cut = (size_t)(hit - text);
            g->stopped = true;
        }
    }
    free(text);
    return g->stopped;
}

static int run_generations(run_state *st, double *engine_s, ys_error *err)
{
    size_t total = 0, done = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].gen ? st->tasks[i].n : 0;
    double t0 = now_s();
    for (size_t i = 0; i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        if (!t->gen)
            continue;
        const task_spec *s = t->spec;
        size_t maxnew = (size_t)s->max_gen_toks;
        int32_t *out = malloc(maxnew * sizeof *out);
        if (!out)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n; d++) {
            int32_t *ids;
            size_t n;
            bool s2s = st->kind == RN_SEQ2SEQ;
            /* an encoder-decoder reads the prompt with its special tokens
             * (T5's </s>), as lm-evaluation-harness's seq2seq path does */
            const char *ctx = t->prompts[d].context;
            int rc = s2s ? tok_encode(st->tok, ctx, strlen(ctx), true, &ids, &n, err) : encode(st, ctx, &ids, &n, err);
            if (rc < 0) {
                free(out);
                return rc;
            }
            /* leave room for the answer: cut the prompt from the left (the
             * encoder's input has its own window) */
            size_t keep = s2s ? (st->max_len ? st->max_len : n) : st->max_len > maxnew ? st->max_len - maxnew : 1;
            int32_t *p = ids;
            if (n > keep)
                p += n - keep, n = keep;
            if (n == 0)
                p[0] = st->eot, n = 1;
            /* an encoder-decoder stops at its own EOS (the engine knows it) */
            gen_stop_ctx g = {st->tok, s, s2s ? -1 : st->eot, 0, false};
            size_t nout = 0;
            /* the cache key covers the prompt ids and the stopping rules */
            char key[65], *cached_resp = NULL;
            if (st->store) {
                sha256_ctx c;
                char until_hash[65];
                sha256_init(&c);
                for (size_t u = 0; u < s->nuntil; u++)
                    sha256_update(&c, s->until[u], strlen(s->until[u]) + 1);
                if (s2s) /* the decoding settings come from the folder's configs */
                    sha256_update(&c, st->gen_config_hash, 64);
                sha256_final_hex(&c, until_hash);
                cache_key(st, until_hash, p, n, maxnew, 0, key);
                STORE_CALL(st, rc, rs_cache_get(st->store, key, &cached_resp, err));
            }
            if (rc == 0 && cached_resp) {
                /* "n id id ..." */
                char *q = cached_resp, *end;
                long cnt = strtol(q, &end, 10);
                for (long j = 0; j < cnt && (size_t)j < maxnew; j++)
                    out[nout++] = (int32_t)strtol(end, &end, 10);
                /* replay the stop check to find where the text is cut */
                for (size_t j = 1; j <= nout; j++)
                    if (gen_stop(out, j, &g))
                        break;
                st->cached++;
            } else if (rc == 0 && st->o->rescore) {
                rc = ys_fail(err, YS_EINPUT, "rescore: task %s document %zu has no cached generation: use --resume "
                                             "with the model", s->name, d);
            } else if (rc == 0) {
                double e0 = now_s();
                if (s2s) {
                    s2s_gen_opts go = st->gen;
                    go.max_new_tokens = maxnew;
                    go.stop = gen_stop, go.stop_user = &g;
                    int32_t *res = NULL;
                    rc = s2s_generate(st->s2s, p, n, &go, &res, &nout, err);
                    if (rc == 0) {
                        nout = nout < maxnew ? nout : maxnew;
                        memcpy(out, res, nout * sizeof *out);
                        /* beams do not stop early: find the cut afterwards */
                        for (size_t j = 1; !g.stopped && j <= nout; j++)
                            if (gen_stop(out, j, &g))
                                break;
                    }
                    free(res);
                } else {
                    rc = model_generate(st->m, p, n, maxnew, NULL, gen_stop, &g, out, &nout, err);
                }
                *engine_s += now_s() - e0;
                if (rc == 0 && st->store) {
                    size_t cap = 24 + 12 * nout;
                    char *v = malloc(cap);
                    if (!v) {
                        rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    } else {
                        size_t len = (size_t)snprintf(v, cap, "%zu", nout);
                        for (size_t j = 0; j < nout; j++)
                            len += (size_t)snprintf(v + len, cap - len, " %d", out[j]);
                        STORE_CALL(st, rc, rs_cache_put(st->store, key, v, err));
                        free(v);
                    }
                }
            }
            free(cached_resp);
            free(ids);
            char *text = NULL;
            if (rc == 0)
                rc = tok_decode(st->tok, out, nout, true, &text, err);
            if (rc == 0 && g.stopped)
                text[g.cut] = 0;
            if (rc == 0)
                rc = rn_apply_filters(s, &text, err);
            if (rc < 0) {
                free(text);
                free(out);
                return rc;
            }
            t->gen[d] = text;
            progress(st, "generations", ++done, total, t0);
        }
        free(out);
    }
    return 0;
}

static void free_state(run_state *st)
{
    for (size_t i = 0; i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        for (size_t d = 0; t->prompts && d < t->n; d++) {
            task_prompt_free(&t->prompts[d]);
            if (t->gen)
                free(t->gen[d]);
            if (t->sample_metrics)
                free(t->sample_metrics[d]);
            if (t->predictions)
                free(t->predictions[d]);
        }
        free(t->prompts), free(t->gen), free(t->sample_metrics), free(t->predictions);
        free(t->ll), free(t->greedy), free(t->doc_ll), free(t->first_ids);
        for (size_t d = 0; t->cls_ids && d < t->n; d++)
            free(t->cls_ids[d]), free(t->cls_types[d]);
        free(t->cls_ids), free(t->cls_types), free(t->cls_lens), free(t->cls_logits), free(t->cls_map);
        for (size_t m = 0; m < t->nresults; m++)
            free(t->metric_names[m]);
        task_docs_free(&t->docs);
        task_docs_free(&t->pool);
        task_free(t->spec);
        free(t->spec_path), free(t->samples_dir);
    }
    free(st->tasks);
    for (size_t g = 0; g < st->ngroups; g++) {
        for (size_t i = 0; i < st->group_nmembers[g]; i++)
            free(st->group_members[g][i]);
        free(st->group_members[g]), free(st->groups[g]), free(st->group_aggregate[g]);
    }
    free(st->group_members), free(st->groups), free(st->group_nmembers), free(st->group_aggregate);
    for (size_t i = 0; i < st->nreqs; i++)
        free(st->reqs[i].ids);
    free(st->reqs);
    model_free(st->m);
    enc_free(st->enc);
    s2s_free(st->s2s);
    for (int i = 0; st->label_names && i < st->num_labels; i++)
        free(st->label_names[i]);
    free(st->label_names);
    tok_free(st->tok);
    rs_close(st->store);
}

/* Which engine the checkpoint needs, from config.json alone (before any
 * weights load, and without them when rescoring). */
static int model_kind(run_state *st, ys_error *err)
{
    int r = enc_supports(st->o->model_dir, err);
    if (r > 0)
        st->kind = RN_CLASSIFIER;
    else if (r == 0 && (r = s2s_supports(st->o->model_dir, err)) > 0) {
        st->kind = RN_SEQ2SEQ;
        /* beams, length penalty, ... live in config.json and
         * generation_config.json: their bytes key the cached generations */
        sha256_ctx c;
        sha256_init(&c);
        const char *names[] = {"config.json", "generation_config.json"};
        for (int i = 0; i < 2; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", st->o->model_dir, names[i]);
            FILE *f = fopen(path, "rb");
            unsigned char b[4096];
            size_t got;
            while (f && (got = fread(b, 1, sizeof b, f)) > 0)
                sha256_update(&c, b, got);
            if (f)
                fclose(f);
            sha256_update(&c, "|", 1);
        }
        sha256_final_hex(&c, st->gen_config_hash);
    }
    else if (r == 0)
        st->kind = RN_DECODER;
    return r < 0 ? r : 0;
}

/* A task the checkpoint cannot answer fails before anything runs. */
static int check_task_fits(const run_state *st, const task_spec *s, ys_error *err)
{
    if (st->kind == RN_CLASSIFIER && !s->has_cls)
        return ys_fail(err, YS_EUSAGE, "task %s needs a language model; %s is an encoder classifier (tasks with a "
                                       "\"classification\" block run on it: the GLUE tasks, boolq, cb)",
                       s->name, st->o->model_dir);
    if (st->kind != RN_CLASSIFIER && s->output == OUT_CLASSIFICATION)
        return ys_fail(err, YS_EUSAGE, "task %s needs an encoder classifier (BERT, RoBERTa, DistilBERT "
                                       "...ForSequenceClassification); %s is a language model",
                       s->name, st->o->model_dir);
    if (st->kind == RN_SEQ2SEQ && s->output == OUT_ROLLING)
        return ys_fail(err, YS_EUSAGE, "task %s (loglikelihood_rolling) needs a decoder-only language model; %s is "
                                       "an encoder-decoder",
                       s->name, st->o->model_dir);
    return 0;
}

static int load_engine(run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int rc = 0;
    if (st->kind == RN_CLASSIFIER) {
        if ((rc = enc_load(o->model_dir, &st->enc, err)) == 0 && o->threads > 0)
            rc = enc_set_threads(st->enc, o->threads, err);
        if (rc < 0)
            return rc;
        const enc_info *info = enc_get_info(st->enc);
        st->max_len = (size_t)info->max_positions;
        snprintf(st->arch, sizeof st->arch, "%s", info->arch);
        st->num_labels = info->num_labels;
        st->label_names = rn_calloc((size_t)info->num_labels, sizeof *st->label_names);
        if (!st->label_names)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (int i = 0; i < info->num_labels; i++)
            if (!(st->label_names[i] = strdup(info->labels[i])))
                return ys_fail(err, YS_ENOMEM, "out of memory");
    } else if (st->kind == RN_SEQ2SEQ) {
        if ((rc = s2s_load(o->model_dir, &st->s2s, err)) == 0 && o->threads > 0)
            rc = s2s_set_threads(st->s2s, o->threads, err);
        if (rc < 0)
            return rc;
        s2s_gen_defaults(st->s2s, &st->gen);
        const s2s_info *info = s2s_get_info(st->s2s);
        st->max_len = info->max_source_positions > 0 ? (size_t)info->max_source_positions : 0;
        snprintf(st->arch, sizeof st->arch, "%s", info->arch);
    } else {
        if ((rc = model_load(o->model_dir, &st->m, err)) == 0 && o->threads > 0)
            rc = model_set_threads(st->m, o->threads, err);
        if (rc < 0)
            return rc;
        const model_info *info = model_get_info(st->m);
        st->max_len = info->max_positions > 0 ? (size_t)info->max_positions : 2048;
        snprintf(st->arch, sizeof st->arch, "%s", info->arch);
    }
    return 0;
}

/* Without the model (rescore): the window and architecture from
 * config.json, the same way model_load reads them. */
static int read_limits(run_state *st, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", st->o->model_dir);
    cJSON *c;
    int rc0 = ckpt_read_json(path, &c, err);
    if (rc0 < 0)
        return rc0;
    const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "architectures"), 0);
    const cJSON *npos = cJSON_GetObjectItem(c, "n_positions");
    snprintf(st->arch, sizeof st->arch, "%s", cJSON_IsString(arch) ? arch->valuestring : "");
    bool gpt2 = !strcmp(st->arch, "GPT2LMHeadModel");
    st->max_len = gpt2 && cJSON_IsNumber(npos) ? (size_t)npos->valueint : 2048;
    int rc = 0;
    if (st->kind != RN_DECODER) {
        /* the windows the engine would report (a different window gives
         * different ids, which then miss the cache: an error, not a wrong
         * score) */
        const cJSON *mp = cJSON_GetObjectItem(c, "max_position_embeddings");
        const cJSON *pad = cJSON_GetObjectItem(c, "pad_token_id");
        bool roberta = strstr(st->arch, "Roberta") != NULL;
        st->max_len = cJSON_IsNumber(mp) ? (size_t)mp->valueint : 0;
        if (roberta && st->max_len)
            st->max_len -= (size_t)(cJSON_IsNumber(pad) ? pad->valueint : 1) + 1;
        if (st->kind == RN_SEQ2SEQ && strstr(st->arch, "T5"))
            st->max_len = 0;
    }
    if (st->kind == RN_CLASSIFIER) {
        /* id2label {"0": name, ...}, else num_labels LABEL_i */
        const cJSON *id2 = cJSON_GetObjectItem(c, "id2label"), *nl = cJSON_GetObjectItem(c, "num_labels");
        st->num_labels = cJSON_IsObject(id2) ? cJSON_GetArraySize(id2) : cJSON_IsNumber(nl) ? nl->valueint : 2;
        st->label_names = rn_calloc((size_t)st->num_labels, sizeof *st->label_names);
        for (int i = 0; st->label_names && i < st->num_labels; i++) {
            char key[16], def[32];
            snprintf(key, sizeof key, "%d", i);
            snprintf(def, sizeof def, "LABEL_%d", i);
            const cJSON *v = cJSON_GetObjectItem(id2, key);
            st->label_names[i] = strdup(cJSON_IsString(v) ? v->valuestring : def);
        }
        if (!st->label_names)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
    }
    cJSON_Delete(c);
    return rc;
}

int run_tasks(const run_options *o, int64_t *run_id, ys_error *err)
{
    *run_id = 0;
    double t0 = now_s(), engine = 0;
    run_state st;
    memset(&st, 0, sizeof st);
    st.o = o;
    taskdirs dirs;
    taskdirs_init(&dirs, o->include, o->ninclude);
    task_registry *reg = NULL;
    int rc = taskdirs_registry(&dirs, &reg, err);
    /* tasks first: a typo should fail before the model loads */
    char *list = rc == 0 ? strdup(o->tasks) : NULL, *save = NULL;
    if (rc == 0 && !list)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (char *name = list ? strtok_r(list, ",", &save) : NULL; name && rc == 0; name = strtok_r(NULL, ",", &save))
        rc = load_task(&st, reg, name, err);
    free(list);
    treg_free(reg);
    taskdirs_free(&dirs);
    if (rc == 0)
        rc = model_kind(&st, err);
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = check_task_fits(&st, st.tasks[i].spec, err);
    if (rc == 0)
        rc = tok_load(o->model_dir, &st.tok, err);
    if (rc == 0 && !o->rescore)
        rc = load_engine(&st, err);
    if (rc == 0 && o->rescore)
        rc = read_limits(&st, err);
    if (rc == 0) {
        st.eot = tok_eos_id(st.tok);
        if (st.eot < 0)
            st.eot = tok_bos_id(st.tok);
        if (st.eot < 0)
            st.eot = 0;
    }
    if (rc == 0 && o->db && (rc = rn_model_hashes(&st, err)) == 0)
        STORE_CALL(&st, rc, rn_begin_run(&st, err));
    for (size_t i = 0; i < st.ntasks && rc == 0; i++)
        rc = prepare_task(&st, &st.tasks[i], err);
    /* a doubled BOS (template text plus tokenizer) is a classic wrong score */
    int32_t bos = st.tok ? tok_bos_id(st.tok) : -1;
    for (size_t i = 0; i < st.ntasks && rc == 0; i++) {
        const task_run *t = &st.tasks[i];
        if (bos >= 0 && t->nfirst >= 2 && t->first_ids[0] == bos && t->first_ids[1] == bos)
            fprintf(stderr, "yardstick: warning: task %s: the prompt starts with two BOS tokens\n", t->spec->name);
    }
    if (rc == 0)
        rc = run_classifications(&st, &engine, err);
    if (rc == 0)
        rc = run_loglikelihoods(&st, &engine, err);
    if (rc == 0)
        rc = run_generations(&st, &engine, err);
    for (size_t i = 0; i < st.ntasks && rc == 0; i++) {
        task_run *t = &st.tasks[i];
        rc = t->cls                                 ? rn_score_cls(&st, t, err)
             : t->spec->output == OUT_MULTIPLE_CHOICE ? rn_score_mc(&st, t, err)
             : t->spec->output == OUT_ROLLING       ? rn_score_rolling(t, err)
                                                    : rn_score_generate(t, o->seed, err);
    }
    if (rc == 0 && st.store)
        STORE_CALL(&st, rc, rn_store_run(&st, err));
    else if (st.store && st.run_id > 0)
        rs_run_end(st.store, st.run_id, "failed", NULL);
    *run_id = st.run_id;
    if (rc == 0 && o->output)
        rc = rn_write_outputs(&st, *run_id, err);
    if (rc == 0 && st.cached)
        fprintf(stderr, "%zu responses reused from the cache\n", st.cached);
    if (rc == 0)
        rn_print_summary(&st, now_s() - t0, engine);
    free_state(&st);
    return rc;
}
