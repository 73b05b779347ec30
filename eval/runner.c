#include "runner.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "classify.h"
#include "model.h"
#include "perplexity.h"
#include "prompt.h"
#include "registry.h"
#include "scorer.h"
#include "sha256.h"
#include "store.h"
#include "task.h"
#include "taskdirs.h"
#include "tokenizer.h"
#include "ys_unicode.h"

/* ---- per-task state ------------------------------------------------------ */

typedef struct {
    task_spec *spec;
    char *spec_path, *samples_dir;
    task_docs docs, pool;
    task_prompt *prompts;
    size_t n;                /* documents scored */
    char hash[65];
    /* multiple choice: ll[doc * nchoices + c], greedy likewise */
    double *ll;
    uint8_t *greedy;
    /* rolling: per document */
    double *doc_ll;
    /* generate: per document */
    char **gen;
    /* the first prompt's token ids, for the log and the BOS check */
    int32_t *first_ids;
    size_t nfirst;
    /* results */
    char *metric_names[16];
    double values[16], stderrs[16];
    bool hib[16];
    size_t nresults;
    char **sample_metrics; /* per document: JSON object text */
    char **predictions;    /* per document */
} task_run;

/* One log-likelihood request: score ids[from..len) given ids[0..from). */
typedef struct {
    int32_t *ids;
    size_t len, from;
    double *ll_out;     /* where the summed log-likelihood goes (adds) */
    uint8_t *greedy_out; /* all-greedy flag (ANDed), or NULL */
    size_t rep;         /* the request computed for it (dedupe) */
    double ll;
    uint8_t greedy;
} ll_req;

typedef struct {
    const run_options *o;
    tok_tokenizer *tok;
    model *m;
    size_t max_len;
    int32_t eot;
    task_run *tasks;
    size_t ntasks;
    char **groups;       /* group names asked for, with their members */
    char ***group_members;
    size_t *group_nmembers;
    char **group_aggregate;
    size_t ngroups;
    ll_req *reqs;
    size_t nreqs, cap_reqs;
    /* the store, open for the whole run: responses are cached per batch as
     * they finish, so a killed run loses at most the batch in flight */
    rs_store *store;
    int64_t run_id;
    char weights_hash[65], tok_hash[65];
    size_t cached; /* responses served from the cache */
    char arch[64];
} run_state;

static void *xcalloc(size_t n, size_t size)
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
        char **members = xcalloc(spec->nmembers, sizeof *members);
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
    t->prompts = xcalloc(t->n, sizeof *t->prompts);
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
        t->ll = xcalloc(t->n * s->nchoices, sizeof *t->ll);
        t->greedy = xcalloc(t->n * s->nchoices, sizeof *t->greedy);
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
        t->doc_ll = xcalloc(t->n, sizeof *t->doc_ll);
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
        t->gen = xcalloc(t->n, sizeof *t->gen);
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

static int apply_filters(const task_spec *s, char **text, ys_error *err);

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
                rc = apply_filters(s, &text, err);
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

/* ---- answer filters and metrics ------------------------------------------ */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static int apply_filters(const task_spec *s, char **text, ys_error *err)
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
    int which; /* 0 f1, 1 mcc, 2 pearson, 3 spearman */
} boot_cls;

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
        else if (c->which == 1 && cls_matthews(p, g, n, 64, &f, NULL) == 0)
            v = f;
        else if (c->which == 2)
            v = cls_pearson(x, y, n);
        else if (c->which == 3 && cls_spearman(x, y, n, &f, NULL) == 0)
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

static int score_mc(const run_state *st, task_run *t, ys_error *err)
{
    const task_spec *s = t->spec;
    size_t n = t->n, k = s->nchoices;
    int *pred = xcalloc(n, sizeof *pred), *gold = xcalloc(n, sizeof *gold);
    double *acc = xcalloc(n, sizeof *acc), *accn = xcalloc(n, sizeof *accn);
    double *ev = xcalloc(n, sizeof *ev), *gnum = xcalloc(n, sizeof *gnum);
    t->sample_metrics = xcalloc(n, sizeof *t->sample_metrics);
    t->predictions = xcalloc(n, sizeof *t->predictions);
    if (!pred || !gold || !acc || !accn || !ev || !gnum || !t->sample_metrics || !t->predictions) {
        free(pred), free(gold), free(acc), free(accn), free(ev), free(gnum);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    size_t dl = cp_len(s->target_delimiter);
    for (size_t d = 0; d < n; d++) {
        const double *ll = &t->ll[d * k];
        size_t best = 0, bestn = 0;
        double mx = ll[0];
        for (size_t c = 1; c < k; c++) {
            if (ll[c] > ll[best])
                best = c;
            mx = ll[c] > mx ? ll[c] : mx;
        }
        for (size_t c = 1; c < k; c++) {
            double a = ll[c] / (double)(cp_len(t->prompts[d].choices[c]) - dl);
            double b = ll[bestn] / (double)(cp_len(t->prompts[d].choices[bestn]) - dl);
            if (a > b)
                bestn = c;
        }
        /* expected choice index under the choice probabilities (STS-B) */
        double z = 0, e = 0;
        for (size_t c = 0; c < k; c++) {
            double p = exp(ll[c] - mx);
            z += p;
            e += p * (double)c;
        }
        pred[d] = (int)best;
        gold[d] = t->prompts[d].gold;
        acc[d] = gold[d] >= 0 && (int)best == gold[d];
        accn[d] = gold[d] >= 0 && (int)bestn == gold[d];
        ev[d] = e / z;
        gnum[d] = t->prompts[d].gold_number;
        char buf[160];
        snprintf(buf, sizeof buf, "{\"acc\": %g, \"acc_norm\": %g, \"pred\": %zu}", acc[d], accn[d], best);
        t->sample_metrics[d] = strdup(buf);
        t->predictions[d] = strdup(t->prompts[d].choices[best] + strlen(s->target_delimiter));
    }
    int rc = 0;
    for (size_t m = 0; m < s->nmetrics && rc == 0; m++) {
        const char *name = s->metrics[m].name;
        bool hib = s->metrics[m].higher_is_better;
        boot_estimate e;
        if (!strcmp(name, "acc") || !strcmp(name, "acc_norm")) {
            boot_mean(!strcmp(name, "acc") ? acc : accn, n, &e);
            add_result(t, name, e.value, e.stderr_, hib);
        } else if (!strcmp(name, "f1")) {
            double p, r, f;
            rc = cls_prf(pred, gold, n, (int)k, CLS_BINARY, 1, &p, &r, &f, err);
            boot_cls c = {pred, gold, NULL, NULL, 0};
            add_result(t, name, f, boot_se(&c, n, st->o->seed), hib);
        } else if (!strcmp(name, "mcc")) {
            double v;
            rc = cls_matthews(pred, gold, n, (int)k, &v, err);
            boot_cls c = {pred, gold, NULL, NULL, 1};
            add_result(t, name, v, boot_se(&c, n, st->o->seed), hib);
        } else {
            bool sp = !strcmp(name, "spearmanr");
            double v = NAN;
            if (sp)
                rc = cls_spearman(ev, gnum, n, &v, err);
            else
                v = cls_pearson(ev, gnum, n);
            boot_cls c = {NULL, NULL, ev, gnum, sp ? 3 : 2};
            add_result(t, name, v, boot_se(&c, n, st->o->seed), hib);
        }
    }
    free(pred), free(gold), free(acc), free(accn), free(ev), free(gnum);
    return rc;
}

static int score_rolling(task_run *t, ys_error *err)
{
    ppl_stats total = {0};
    t->sample_metrics = xcalloc(t->n, sizeof *t->sample_metrics);
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

static int score_generate(task_run *t, uint64_t seed, ys_error *err)
{
    const task_spec *s = t->spec;
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
    t->sample_metrics = xcalloc(t->n, sizeof *t->sample_metrics);
    t->predictions = xcalloc(t->n, sizeof *t->predictions);
    int rc = t->sample_metrics && t->predictions ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t d = 0; d < t->n && rc == 0; d++) {
        scorer_value pred = {SV_TEXT, t->gen[d], 0};
        scorer_value refs[16];
        size_t nr = t->prompts[d].nrefs < 16 ? t->prompts[d].nrefs : 16;
        for (size_t r = 0; r < nr; r++)
            refs[r] = (scorer_value){SV_TEXT, t->prompts[d].refs[r], 0};
        rc = scorer_add(sc, &pred, refs, nr, &t->sample_metrics[d], err);
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

/* ---- output -------------------------------------------------------------- */

static const char *output_name(task_output o)
{
    static const char *names[] = {"multiple_choice", "loglikelihood_rolling", "generate_until", "classification"};
    return names[o];
}

/* A group's score: "glue" averages each member's metrics into one task
 * score, then the tasks; "mean" averages each member's first metric. */
static double group_score(const run_state *st, size_t g)
{
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < st->group_nmembers[g]; i++)
        for (size_t k = 0; k < st->ntasks; k++) {
            const task_run *t = &st->tasks[k];
            if (strcmp(t->spec->name, st->group_members[g][i]) || !t->nresults)
                continue;
            double v = 0;
            size_t nv = 0;
            size_t upto = !strcmp(st->group_aggregate[g], "glue") ? t->nresults : 1;
            for (size_t r = 0; r < upto; r++)
                if (!isnan(t->values[r]))
                    v += t->values[r], nv++;
            if (nv)
                sum += v / (double)nv, n++;
        }
    return n ? sum / (double)n : NAN;
}

static int write_outputs(const run_state *st, int64_t run_id, ys_error *err)
{
    const run_options *o = st->o;
    cJSON *root = cJSON_CreateObject(), *results = cJSON_AddObjectToObject(root, "results");
    cJSON *groups = cJSON_AddObjectToObject(root, "groups"), *configs = cJSON_AddObjectToObject(root, "configs");
    cJSON *versions = cJSON_AddObjectToObject(root, "versions"), *ns = cJSON_AddObjectToObject(root, "n-samples");
    cJSON *hib = cJSON_AddObjectToObject(root, "higher_is_better");
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        cJSON *r = cJSON_AddObjectToObject(results, t->spec->name);
        cJSON_AddStringToObject(r, "alias", t->spec->name);
        cJSON *h = cJSON_AddObjectToObject(hib, t->spec->name);
        for (size_t m = 0; m < t->nresults; m++) {
            char key[128];
            snprintf(key, sizeof key, "%s,none", t->metric_names[m]);
            if (isnan(t->values[m]))
                cJSON_AddNullToObject(r, key);
            else
                cJSON_AddNumberToObject(r, key, t->values[m]);
            snprintf(key, sizeof key, "%s_stderr,none", t->metric_names[m]);
            if (isnan(t->stderrs[m]))
                cJSON_AddStringToObject(r, key, "N/A");
            else
                cJSON_AddNumberToObject(r, key, t->stderrs[m]);
            cJSON_AddBoolToObject(h, t->metric_names[m], t->hib[m]);
        }
        cJSON *c = cJSON_AddObjectToObject(configs, t->spec->name);
        cJSON_AddStringToObject(c, "task", t->spec->name);
        cJSON_AddStringToObject(c, "output_type", output_name(t->spec->output));
        cJSON_AddStringToObject(c, "doc_to_text", t->spec->doc_to_text);
        cJSON_AddNumberToObject(c, "num_fewshot", o->num_fewshot >= 0 ? o->num_fewshot : t->spec->num_fewshot);
        cJSON_AddStringToObject(c, "data", t->docs.path);
        cJSON_AddBoolToObject(c, "sample_data", t->docs.sample);
        cJSON_AddStringToObject(c, "task_hash", t->hash);
        cJSON_AddNumberToObject(versions, t->spec->name, t->spec->version);
        cJSON *x = cJSON_AddObjectToObject(ns, t->spec->name);
        cJSON_AddNumberToObject(x, "original", (double)t->docs.n);
        cJSON_AddNumberToObject(x, "effective", (double)t->n);
    }
    for (size_t g = 0; g < st->ngroups; g++) {
        cJSON *r = cJSON_AddObjectToObject(groups, st->groups[g]);
        double v = group_score(st, g);
        if (isnan(v))
            cJSON_AddNullToObject(r, "score,none");
        else
            cJSON_AddNumberToObject(r, "score,none", v);
    }
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cfg, "model", "yardstick");
    cJSON_AddStringToObject(cfg, "model_args", o->model_dir);
    cJSON_AddNumberToObject(cfg, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(cfg, "seed", (double)o->seed);
    if (o->limit > 0)
        cJSON_AddNumberToObject(cfg, "limit", (double)o->limit);
    cJSON_AddStringToObject(root, "model_name", o->model_dir);
    cJSON_AddNumberToObject(root, "run_id", (double)run_id);
    cJSON_AddStringToObject(root, "yardstick_version", YS_VERSION);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return ys_fail(err, YS_ENOMEM, "out of memory");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.partial", o->output);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, o->output) != 0) {
        remove(tmp);
        return ys_fail(err, YS_EIO, "%s: cannot write", o->output);
    }
    if (!o->log_samples)
        return 0;
    /* lm-evaluation-harness's samples_<task>_<time>.jsonl beside the output */
    char stamp[32], dir[4096];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
    snprintf(dir, sizeof dir, "%s", o->output);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        char path[4600];
        snprintf(path, sizeof path, "%ssamples_%s_%s.jsonl", dir, t->spec->name, stamp);
        FILE *sf = fopen(path, "w");
        if (!sf)
            return ys_fail(err, YS_EIO, "%s: cannot write", path);
        for (size_t d = 0; d < t->n; d++) {
            const task_prompt *p = &t->prompts[d];
            cJSON *s = cJSON_CreateObject(), *doc = cJSON_AddObjectToObject(s, "doc");
            cJSON_AddNumberToObject(s, "doc_id", (double)d);
            const task_doc *td = &t->docs.docs[d];
            for (size_t f2 = 0; f2 < td->nfields; f2++)
                cJSON_AddStringToObject(doc, td->names[f2], td->values[f2]);
            cJSON_AddStringToObject(s, "target", p->target ? p->target : "");
            cJSON *args = cJSON_AddArrayToObject(s, "arguments"), *resps = cJSON_AddArrayToObject(s, "resps");
            cJSON *filt = cJSON_AddArrayToObject(s, "filtered_resps");
            if (t->spec->output == OUT_MULTIPLE_CHOICE) {
                for (size_t c = 0; c < p->nchoices; c++) {
                    cJSON *pair = cJSON_CreateArray();
                    cJSON_AddItemToArray(pair, cJSON_CreateString(p->context));
                    cJSON_AddItemToArray(pair, cJSON_CreateString(p->choices[c]));
                    cJSON_AddItemToArray(args, pair);
                    cJSON *r = cJSON_CreateArray();
                    cJSON_AddItemToArray(r, cJSON_CreateNumber(t->ll[d * p->nchoices + c]));
                    cJSON_AddItemToArray(r, cJSON_CreateBool(t->greedy[d * p->nchoices + c]));
                    cJSON *rr = cJSON_CreateArray();
                    cJSON_AddItemToArray(rr, r);
                    cJSON_AddItemToArray(resps, rr);
                    cJSON_AddItemToArray(filt, cJSON_Duplicate(r, 1));
                }
            } else if (t->spec->output == OUT_ROLLING) {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(p->context));
                cJSON_AddItemToArray(args, pair);
                cJSON_AddItemToArray(resps, cJSON_CreateNumber(t->doc_ll[d]));
                cJSON_AddItemToArray(filt, cJSON_CreateNumber(t->doc_ll[d]));
            } else {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(p->context));
                cJSON_AddItemToArray(args, pair);
                cJSON_AddItemToArray(resps, cJSON_CreateString(t->gen[d]));
                cJSON_AddItemToArray(filt, cJSON_CreateString(t->gen[d]));
            }
            cJSON *metrics = t->sample_metrics[d] ? cJSON_Parse(t->sample_metrics[d]) : NULL;
            const cJSON *it;
            cJSON_ArrayForEach(it, metrics) cJSON_AddItemToObject(s, it->string, cJSON_Duplicate(it, 1));
            cJSON_Delete(metrics);
            char *line = cJSON_PrintUnformatted(s);
            fprintf(sf, "%s\n", line ? line : "{}");
            free(line);
            cJSON_Delete(s);
        }
        fclose(sf);
    }
    return 0;
}

/* SHA-256 over the files of dir whose names end with one of suffixes, in
 * name order: the identity of a model's weights or tokenizer. */
static int hash_files(const char *dir, const char *const *names, size_t n, char hex[65], ys_error *err)
{
    sha256_ctx c;
    sha256_init(&c);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096], h[65];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat stt;
        if (stat(path, &stt) != 0)
            continue;
        int rc = sha256_file(path, h, err);
        if (rc < 0)
            return rc;
        sha256_update(&c, names[i], strlen(names[i]) + 1);
        sha256_update(&c, h, 64);
        found++;
    }
    sha256_final_hex(&c, hex);
    (void)found;
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int model_hashes(run_state *st, ys_error *err)
{
    DIR *d = opendir(st->o->model_dir);
    if (!d)
        return ys_fail(err, YS_EIO, "%s: cannot list the model folder", st->o->model_dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 12 && !strcmp(e->d_name + len - 12, ".safetensors"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_name);
    int rc = hash_files(st->o->model_dir, (const char *const *)names, n, st->weights_hash, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    static const char *tok_files[] = {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"};
    if (rc == 0)
        rc = hash_files(st->o->model_dir, tok_files, 4, st->tok_hash, err);
    return rc;
}

/* Open the store, record the model, and start (or resume) the run row. */
static int begin_run(run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int rc = rs_open(o->db, &st->store, err);
    if (rc < 0)
        return rc;
    const char *base = strrchr(o->model_dir, '/');
    base = base && base[1] ? base + 1 : o->model_dir;
    rs_model m = {.name = base, .path = o->model_dir, .architecture = st->arch, .dtype = "float32",
                  .weights_sha256 = st->weights_hash, .tokenizer_sha256 = st->tok_hash};
    int64_t model_id;
    if ((rc = rs_model_id(st->store, &m, &model_id, err)) < 0)
        return rc;
    if (o->resume_run > 0) {
        st->run_id = o->resume_run;
        return 0;
    }
    /* everything needed to resume the run goes into its settings */
    cJSON *set = cJSON_CreateObject(), *inc = cJSON_AddArrayToObject(set, "include");
    cJSON_AddStringToObject(set, "model", o->model_dir);
    cJSON_AddStringToObject(set, "tasks", o->tasks);
    cJSON_AddNumberToObject(set, "limit", (double)o->limit);
    cJSON_AddNumberToObject(set, "num_fewshot", o->num_fewshot);
    cJSON_AddNumberToObject(set, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(set, "seed", (double)o->seed);
    cJSON_AddBoolToObject(set, "skip_bad_rows", o->skip_bad_rows);
    if (o->data_dir)
        cJSON_AddStringToObject(set, "data_dir", o->data_dir);
    else
        cJSON_AddNullToObject(set, "data_dir");
    for (size_t i = 0; i < o->ninclude; i++)
        cJSON_AddItemToArray(inc, cJSON_CreateString(o->include[i]));
    char *settings = cJSON_PrintUnformatted(set);
    cJSON_Delete(set);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    rs_run r = {.model_id = model_id, .tasks = o->tasks, .version = YS_VERSION, .settings_json = settings,
                .host = host, .seed = (int64_t)o->seed, .threads = o->threads};
    rc = settings ? rs_run_begin(st->store, &r, &st->run_id, err) : ys_fail(err, YS_ENOMEM, "out of memory");
    free(settings);
    return rc;
}

/* Samples and results of every task, then the run is complete. Samples
 * replace by (run, task, doc): a resumed run never doubles them. */
static int store_run(const run_state *st, ys_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < st->ntasks && rc == 0; i++) {
        const task_run *t = &st->tasks[i];
        rs_sample *smp = xcalloc(t->n, sizeof *smp);
        if (!smp) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        for (size_t d = 0; d < t->n; d++)
            smp[d] = (rs_sample){.task = t->spec->name, .doc_id = (int64_t)d, .prompt = t->prompts[d].context,
                                 .prediction = t->predictions ? t->predictions[d] : NULL,
                                 .target = t->prompts[d].target, .metrics_json = t->sample_metrics[d]};
        /* batches of 256 samples: short transactions */
        for (size_t b = 0; b < t->n && rc == 0; b += 256)
            rc = rs_samples_put(st->store, st->run_id, smp + b, t->n - b < 256 ? t->n - b : 256, err);
        free(smp);
        rs_result res[16];
        for (size_t m2 = 0; m2 < t->nresults; m2++)
            res[m2] = (rs_result){.task = t->spec->name, .metric = t->metric_names[m2], .value = t->values[m2],
                                  .stderr_ = t->stderrs[m2], .ci_low = NAN, .ci_high = NAN, .n = (int64_t)t->n,
                                  .higher_is_better = t->hib[m2], .task_hash = t->hash};
        if (rc == 0)
            rc = rs_results_put(st->store, st->run_id, res, t->nresults, err);
    }
    for (size_t g = 0; g < st->ngroups && rc == 0; g++) {
        rs_result gr = {.task = st->groups[g], .metric = "score", .value = group_score(st, g), .stderr_ = NAN,
                        .ci_low = NAN, .ci_high = NAN, .n = 0, .higher_is_better = true};
        rc = rs_results_put(st->store, st->run_id, &gr, 1, err);
    }
    if (rc == 0)
        rc = rs_run_end(st->store, st->run_id, "complete", err);
    return rc;
}

static void print_summary(const run_state *st, double wall, double engine)
{
    printf("%-18s %-18s %12s %10s %6s  %s\n", "task", "metric", "value", "stderr", "n", "data");
    for (size_t i = 0; i < st->ntasks; i++) {
        const task_run *t = &st->tasks[i];
        for (size_t m = 0; m < t->nresults; m++) {
            printf("%-18s %-18s %12.4f ", m ? "" : t->spec->name, t->metric_names[m], t->values[m]);
            if (isnan(t->stderrs[m]))
                printf("%10s", "N/A");
            else
                printf("%10.4f", t->stderrs[m]);
            printf(" %6zu  %s\n", t->n, m ? "" : t->docs.sample ? "SAMPLE data (not the official set)" : t->docs.path);
        }
    }
    for (size_t g = 0; g < st->ngroups; g++)
        printf("%-18s %-18s %12.4f\n", st->groups[g], st->group_aggregate[g][0] == 'g' ? "glue score" : "mean",
               group_score(st, g));
    fprintf(stderr, "wall %.2fs, engine %.2fs (%.1f%% outside the engine)\n", wall, engine,
            wall > 0 ? 100.0 * (wall - engine) / wall : 0.0);
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
    if (rc == 0 && o->db && (rc = model_hashes(&st, err)) == 0)
        rc = begin_run(&st, err);
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
        rc = t->spec->output == OUT_MULTIPLE_CHOICE ? score_mc(&st, t, err)
             : t->spec->output == OUT_ROLLING       ? score_rolling(t, err)
                                                    : score_generate(t, o->seed, err);
    }
    if (rc == 0 && st.store)
        rc = store_run(&st, err);
    else if (st.store && st.run_id > 0)
        rs_run_end(st.store, st.run_id, "failed", NULL);
    *run_id = st.run_id;
    if (rc == 0 && o->output)
        rc = write_outputs(&st, *run_id, err);
    if (rc == 0 && st.cached)
        fprintf(stderr, "%zu responses reused from the cache\n", st.cached);
    if (rc == 0)
        print_summary(&st, now_s() - t0, engine);
    free_state(&st);
    return rc;
}
