#include "runner.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static int encode_pair(run_state *st, const char *context, const char *cont, int32_t **seq, size_t *len,
                       size_t *from, ys_error *err)
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
    int32_t *w = NULL, *c = NULL;
    size_t nw = 0, nc = 0;
    int rc = encode(st, whole, &w, &nw, err);
    if (rc == 0)
        rc = encode(st, ctx, &c, &nc, err);
    free(whole), free(ctx);
    if (rc < 0) {
        free(w), free(c);
        return rc;
    }
    if (nc > nw)
        nc = nw;
    size_t ncont = nw - nc;
    if (ncont == 0) {
        free(w), free(c);
        return ys_fail(err, YS_EINPUT, "a continuation encodes to no tokens");
    }
    /* an empty context predicts from the end-of-text token */
    int32_t *full = w;
    size_t nfull = nw;
    if (nc == 0) {
        full = malloc((nw + 1) * sizeof *full);
        if (!full) {
            free(w), free(c);
            return ys_fail(err, YS_ENOMEM, "out of memory");
        }
        full[0] = st->eot;
        memcpy(full + 1, w, nw * sizeof *full);
        nfull = nw + 1;
        free(w);
    }
    free(c);
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
    if (spec->output == OUT_CLASSIFICATION) {
        rc = ys_fail(err, YS_EUSAGE, "task %s needs an encoder classifier (output_type classification), which the "
                                     "engine does not run yet", name);
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
    if (t->n && (rc = encode(st, t->prompts[0].context, &t->first_ids, &t->nfirst, err)) < 0)
        return rc;
    /* requests */
    if (s->output == OUT_MULTIPLE_CHOICE) {
        t->ll = rn_calloc(t->n * s->nchoices, sizeof *t->ll);
        t->greedy = rn_calloc(t->n * s->nchoices, sizeof *t->greedy);
        if (!t->ll || !t->greedy)
            return ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t d = 0; d < t->n && rc == 0; d++)
            for (size_t c = 0; c < s->nchoices && rc == 0; c++) {
                int32_t *ids = NULL;
                size_t len = 0, from = 0;
                rc = encode_pair(st, t->prompts[d].context, t->prompts[d].choices[c], &ids, &len, &from, err);
                if (rc == 0) {
                    t->greedy[d * s->nchoices + c] = 1;
                    rc = add_req(st, ids, len, from, &t->ll[d * s->nchoices + c], &t->greedy[d * s->nchoices + c], err);
                }
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

static int cmp_req(const void *a, const void *b, void *ctx)
{
    const ll_req *r = ctx, *x = &r[*(const size_t *)a], *y = &r[*(const size_t *)b];
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* longest first: memory peaks early */
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return memcmp(x->ids, y->ids, x->len * sizeof *x->ids);
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
            rc = rs_cache_get(st->store, keys[u], &resp, err);
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
    for (size_t b = 0; b < nuniq && rc == 0; b += B) {
        size_t nb = nuniq - b < B ? nuniq - b : B;
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
        if (rc == 0)
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
            rc = rs_cache_put_many(st->store, kp, vp, nb, err);
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
            int rc = encode(st, t->prompts[d].context, &ids, &n, err);
            if (rc < 0) {
                free(out);
                return rc;
            }
            /* leave room for the answer: cut the prompt from the left */
            size_t keep = st->max_len > maxnew ? st->max_len - maxnew : 1;
            int32_t *p = ids;
            if (n > keep)
                p += n - keep, n = keep;
            if (n == 0)
                p[0] = st->eot, n = 1;
            gen_stop_ctx g = {st->tok, s, st->eot, 0, false};
            size_t nout = 0;
            /* the cache key covers the prompt ids and the stopping rules */
            char key[65], *cached_resp = NULL;
            if (st->store) {
                sha256_ctx c;
                char until_hash[65];
                sha256_init(&c);
                for (size_t u = 0; u < s->nuntil; u++)
                    sha256_update(&c, s->until[u], strlen(s->until[u]) + 1);
                sha256_final_hex(&c, until_hash);
                cache_key(st, until_hash, p, n, maxnew, 0, key);
                rc = rs_cache_get(st->store, key, &cached_resp, err);
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
                rc = model_generate(st->m, p, n, maxnew, NULL, gen_stop, &g, out, &nout, err);
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
                        rc = rs_cache_put(st->store, key, v, err);
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
    tok_free(st->tok);
    rs_close(st->store);
}

/* Without the model (rescore): the window and architecture from
 * config.json, the same way model_load reads them. */
static int read_limits(run_state *st, ys_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", st->o->model_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ys_fail(err, YS_EIO, "%s: cannot open", path);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *c = cJSON_Parse(buf);
    if (!c)
        return ys_fail(err, YS_EINPUT, "%s: malformed JSON", path);
    const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "architectures"), 0);
    const cJSON *npos = cJSON_GetObjectItem(c, "n_positions");
    snprintf(st->arch, sizeof st->arch, "%s", cJSON_IsString(arch) ? arch->valuestring : "");
    bool gpt2 = !strcmp(st->arch, "GPT2LMHeadModel");
    st->max_len = gpt2 && cJSON_IsNumber(npos) ? (size_t)npos->valueint : 2048;
    cJSON_Delete(c);
    return 0;
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
        rc = tok_load(o->model_dir, &st.tok, err);
    if (rc == 0 && !o->rescore && (rc = model_load(o->model_dir, &st.m, err)) == 0 && o->threads > 0)
        rc = model_set_threads(st.m, o->threads, err);
    if (rc == 0 && o->rescore)
        rc = read_limits(&st, err);
    if (rc == 0) {
        if (st.m) {
            const model_info *info = model_get_info(st.m);
            st.max_len = info->max_positions > 0 ? (size_t)info->max_positions : 2048;
            snprintf(st.arch, sizeof st.arch, "%s", info->arch);
        }
        st.eot = tok_eos_id(st.tok);
        if (st.eot < 0)
            st.eot = tok_bos_id(st.tok);
        if (st.eot < 0)
            st.eot = 0;
    }
    if (rc == 0 && o->db && (rc = rn_model_hashes(&st, err)) == 0)
        rc = rn_begin_run(&st, err);
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
        rc = run_loglikelihoods(&st, &engine, err);
    if (rc == 0)
        rc = run_generations(&st, &engine, err);
    for (size_t i = 0; i < st.ntasks && rc == 0; i++) {
        task_run *t = &st.tasks[i];
        rc = t->spec->output == OUT_MULTIPLE_CHOICE ? rn_score_mc(&st, t, err)
             : t->spec->output == OUT_ROLLING       ? rn_score_rolling(t, err)
                                                    : rn_score_generate(t, o->seed, err);
    }
    if (rc == 0 && st.store)
        rc = rn_store_run(&st, err);
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
