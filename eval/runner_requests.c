/* The runner's requests: task documents → prompts → token ids → engine
 * requests, as lm-evaluation-harness builds them (see runner_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"

/* ---- tokenization as lm-evaluation-harness does it ----------------------- */

/* tok_encode_long: the same ids as tok_encode, in bounded scratch memory
 * for a long text (a rolling-perplexity document, a huge field). */
static int encode(run_state *st, const char *s, int32_t **ids, size_t *n, ys_error *err)
{
    return tok_encode_long(st->tok, s, strlen(s), false, ids, n, err);
}

/* A prompt as the engine reads it: an encoder-decoder's with the
 * tokenizer's special tokens (T5's </s>), as lm-evaluation-harness's
 * seq2seq path does, a decoder's without. */
int rn_encode_prompt(const run_state *st, const char *s, int32_t **ids, size_t *n, ys_error *err)
{
    return tok_encode_long(st->tok, s, strlen(s), st->kind == RN_SEQ2SEQ, ids, n, err);
}

/* The context's own encoding, shared by the choices of one document (each
 * choice would otherwise encode the same context again). */
typedef struct {
    int32_t *ids;
    size_t n;
    bool done;
} ctx_cache;

/* A context so long that only its end can reach the model (issue 15: a
 * 50 MB field was tokenized whole, 2.7 GB, for a window of 1024 tokens):
 * whole[0, ctxlen) is the context, whole[ctxlen, wl) the continuation.
 * Both are encoded from a cut checked to be a token boundary
 * (tok_encode_from), placed far enough back that the max_len + 1 tokens
 * kept lie after it; both encodings then lose the same tokens before the
 * cut, so the continuation's length and the kept ids are what encoding
 * whole gives. 1 when done, 0 when no cut was accepted (encode whole). */
static int encode_pair_cut(run_state *st, const char *whole, size_t wl, size_t ctxlen, int32_t **seq, size_t *len,
                           size_t *from, ys_error *err)
{
    size_t need = st->max_len + 1;
    for (size_t budget = 16 * need + 2 * TOK_CUT_MARGIN; budget < ctxlen; budget *= 2) {
        /* a cut after a newline or a space when there is one near */
        size_t s = ctxlen - budget, floor = s > 65536 ? s - 65536 : 0, b = s;
        while (b > floor && whole[b - 1] != '\n')
            b--;
        if (b == floor)
            for (b = s; b > floor && whole[b - 1] != ' ';)
                b--;
        if (b > floor)
            s = b;
        int32_t *w = NULL, *c = NULL;
        size_t nw = 0, nc = 0;
        int rw = tok_encode_from(st->tok, whole, wl, s, &w, &nw, err);
        int rcx = rw == 1 ? tok_encode_from(st->tok, whole, ctxlen, s, &c, &nc, err) : 0;
        free(c);
        if (rw < 0 || rcx < 0) {
            free(w);
            return rw < 0 ? rw : rcx;
        }
        if (rw == 1 && rcx == 1 && nc > 0 && nc <= nw && nw >= need) {
            size_t ncont = nw - nc;
            if (ncont == 0) {
                free(w);
                return ys_fail(err, YS_EINPUT, "a continuation encodes to no tokens");
            }
            memmove(w, w + (nw - need), need * sizeof *w);
            *seq = w;
            *len = need;
            *from = need - (ncont >= need ? need - 1 : ncont);
            return 1;
        }
        free(w);
    }
    return 0;
}

/* Context and continuation → one sequence and where the continuation
 * starts. Trailing spaces of the context move to the continuation; the
 * pair is encoded together and split at the context's own length. */
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
    if (cl - spaces > TOK_CHUNK && cl - spaces > 64 * (st->max_len + 1)) {
        int cut = encode_pair_cut(st, whole, wl, cl - spaces, seq, len, from, err);
        if (cut != 0) {
            free(whole), free(ctx);
            return cut < 0 ? cut : 0;
        }
    }
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

/* An error while building a task's requests names the task. */
static int in_task(const task_spec *s, int rc, ys_error *err)
{
    if (err) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        ys_fail(err, rc, "task %s: %s", s->name, m);
    }
    return rc;
}

int rn_prepare_task(run_state *st, task_run *t, ys_error *err)
{
    const run_options *o = st->o;
    const task_spec *s = t->spec;
    int rc = task_docs_load(s, s->eval_split, o->data_dir, t->samples_dir, (size_t)(o->limit > 0 ? o->limit : 0),
                            o->skip_bad_rows, &t->docs, err);
    if (rc < 0)
        return rc;
    /* an empty file or a header alone would score n = 0 with NaN metrics
     * and exit 0: that is bad data unless asked for */
    if (t->docs.n == 0 && !o->allow_empty)
        return ys_fail(err, YS_EINPUT, "%s: task %s: the %s split has no documents (empty file or header only; "
                       "--allow-empty scores it as n = 0)", t->docs.path ? t->docs.path : "(no file)", s->name,
                       s->eval_split);
    int k = o->num_fewshot >= 0 ? o->num_fewshot : t->num_fewshot >= 0 ? t->num_fewshot : s->num_fewshot;
    const char *fs_split = s->fewshot_split ? s->fewshot_split : s->eval_split;
    bool same_split = !strcmp(fs_split, s->eval_split);
    if (k > 0 && (rc = task_docs_load(s, fs_split, o->data_dir, t->samples_dir, 0, o->skip_bad_rows, &t->pool, err)) < 0)
        return rc;
    /* the hash covers every file read: records, labels, few-shot pool */
    const char *files[4];
    size_t nf = 0;
    files[nf++] = t->docs.path;
    if (t->docs.labels_path)
        files[nf++] = t->docs.labels_path;
    if (t->pool.path)
        files[nf++] = t->pool.path;
    if (t->pool.labels_path)
        files[nf++] = t->pool.labels_path;
    if ((rc = task_content_hash(s, files, nf, t->hash, err)) < 0)
        return rc;
    t->n = t->docs.n;
    t->prompts = rn_calloc(t->n, sizeof *t->prompts);
    if (!t->prompts)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    py_random rng;
    pyr_seed(&rng, o->seed);
    task_spec sv = *s;   /* --fewshot-sampler: the spec as if it named that sampler */
    if (o->fewshot_sampler)
        sv.sampler = (char *)o->fewshot_sampler;
    for (size_t d = 0; d < t->n && rc == 0; d++)
        rc = task_prompt_build(&sv, &t->docs.docs[d], k > 0 ? &t->pool : NULL, same_split ? d : SIZE_MAX, k, &rng,
                               &t->prompts[d], err);
    if (rc < 0)
        return rc;
    if (st->kind == RN_CLASSIFIER) {
        rc = rn_prepare_cls(st, t, err);
        return rc < 0 ? in_task(s, rc, err) : rc;
    }
    if (t->n && (rc = rn_encode_prompt(st, t->prompts[0].context, &t->first_ids, &t->nfirst, err)) < 0)
        return rc;
    /* requests */
    if (s->output == OUT_MULTIPLE_CHOICE || s->output == OUT_LOGLIKELIHOOD) {
        t->off = rn_calloc(t->n + 1, sizeof *t->off);
        if (!t->off)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n; d++)
            t->off[d + 1] = t->off[d] + t->prompts[d].nchoices;
        t->nll = t->off[t->n];
        t->ll = rn_calloc(t->nll, sizeof *t->ll);
        t->greedy = rn_calloc(t->nll, sizeof *t->greedy);
        if (!t->ll || !t->greedy)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n && rc == 0; d++) {
            const task_prompt *p = &t->prompts[d];
            ctx_cache cc = {NULL, 0, false};
            for (size_t c = 0; c < p->nchoices && rc == 0; c++) {
                int32_t *ids = NULL;
                size_t len = 0, from = 0;
                /* multiple_input (winogrande): a context per choice */
                if (p->contexts && cc.done) {
                    free(cc.ids);
                    cc = (ctx_cache){NULL, 0, false};
                }
                const char *ctx = p->contexts ? p->contexts[c] : p->context;
                rc = (st->kind == RN_SEQ2SEQ ? encode_pair_s2s : encode_pair)(st, ctx, p->choices[c], &cc, &ids, &len,
                                                                              &from, err);
                if (rc == 0) {
                    t->greedy[t->off[d] + c] = 1;
                    rc = add_req(st, ids, len, from, &t->ll[t->off[d] + c], &t->greedy[t->off[d] + c], err);
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
    return rc < 0 ? in_task(s, rc, err) : rc;
}

/* ---- engine order -------------------------------------------------------- */

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
bool rn_same_context(const ll_req *x, const ll_req *y)
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

/* The requests in engine order (idx, see cmp_req) and the distinct ones
 * (tmp[0..return value)): identical requests (same ids, same split point)
 * are computed once, each request's rep naming the one computed for it.
 * idx and tmp hold st->nreqs entries. */
size_t rn_order_requests(run_state *st, size_t *idx, size_t *tmp)
{
    size_t n = st->nreqs;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_idx(idx, tmp, n, st->reqs);
    size_t nuniq = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cmp_req(&idx[i - 1], &idx[i], st->reqs) != 0)
            tmp[nuniq++] = idx[i];
        st->reqs[idx[i]].rep = tmp[nuniq - 1];
    }
    return nuniq;
}
