/* The runner's generations: each prompt cut to leave room for the answer,
 * generated (greedy or the folder's beam settings) until the task's stop
 * strings or end of text, cached as token ids, decoded and filtered (see
 * runner_internal.h). The requests of a task that are not in the response
 * cache are decoded together, continuous batching (model.h's model_batch,
 * seq2seq.h's s2s_gen_batch): each finished request is written to the
 * cache as it leaves the batch, so a killed run keeps it; a request's ids
 * do not depend on the batch, so the results are those of one at a time.
 * With --pipeline the last stage of each group holds the batch and every
 * other stage follows its steps (runner_pipe.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"
#include "sha256.h"

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

/* One document of a generation task. */
typedef struct gen_doc {
    int32_t *ids;            /* the encoded prompt (owned)... */
    const int32_t *p;        /* ...cut to leave room for the answer */
    size_t n;
    char key[65];            /* its response-cache key */
    gen_stop_ctx g;
    int32_t *out;            /* maxnew ids */
    size_t nout;
    model_request mr;        /* when it goes to the engine */
    s2s_request sr;
} gen_doc;

/* Bytes of memory the system can still give (MemAvailable), 0 unknown. */
static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* Generation requests decoded together (run.h's batch_size doc): --batch-size
 * when given, else RN_GEN_BATCH; no more than half the available memory's
 * worth of KV caches, sized for the task's largest request (need bytes),
 * allows — then a message says so. */
static size_t gen_batch_size(const run_state *st, const task_spec *s, double need)
{
    size_t B = st->o->batch_size_set && st->o->batch_size > 0 ? (size_t)st->o->batch_size : RN_GEN_BATCH;
    /* ranks on one host share its memory */
    double avail = mem_available() / 2 / rn_dist_local_size(st->o->dist);
    if (avail > 0 && need > 0 && need * (double)B > avail) {
        size_t fit = (size_t)(avail / need);
        fit = fit < 1 ? 1 : fit;
        fprintf(stderr, "yardstick: task %s: %zu generations at once need up to %.0f MB of KV cache, %.0f MB is "
                        "half the available memory: decoding %zu at a time\n",
                s->name, B, need * (double)B / 1e6, avail / 1e6, fit);
        B = fit;
    }
    return B;
}

/* The finished requests' responses into the cache, one transaction. */
static int cache_done(run_state *st, gen_doc *const *d, size_t n, ys_error *err)
{
    if (!st->store || n == 0)
        return 0;
    const char **keys = malloc(n * sizeof *keys);
    char **vals = calloc(n, sizeof *vals);
    int rc = keys && vals ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t cap = 24 + 12 * d[i]->nout, len;
        keys[i] = d[i]->key;
        if (!(vals[i] = malloc(cap))) {
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
            break;
        }
        len = (size_t)snprintf(vals[i], cap, "%zu", d[i]->nout);   /* "n id id ..." */
        for (size_t j = 0; j < d[i]->nout; j++)
            len += (size_t)snprintf(vals[i] + len, cap - len, " %d", d[i]->out[j]);
    }
    if (rc == 0)
        RN_STORE_CALL(st, rc, rs_cache_put_many(st->store, keys, (const char *const *)vals, n, err));
    for (size_t i = 0; vals && i < n; i++)
        free(vals[i]);
    free(keys), free(vals);
    return rc;
}

/* Rank 0's view of a task's pass, for another rank's finished requests. */
typedef struct {
    run_state *st;
    gen_doc *docs;
    size_t n, maxnew, *ndone, total;
    double t0;
} gen_pass;

/* Another rank's finished requests: (document u64, n u32, n ids i32) each;
 * the stop rule replayed to find where the text is cut, as for an answer
 * from the cache. */
static int gen_apply(void *ctx, int from, uint32_t nitems, const unsigned char *p, size_t len, ys_error *err)
{
    gen_pass *c = ctx;
    gen_doc **fin = rn_calloc(nitems, sizeof *fin);
    size_t off = 0;
    int rc = fin ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (uint32_t k = 0; rc == 0 && k < nitems; k++) {
        uint64_t d;
        uint32_t nout;
        if (!rn_buf_get(p, len, &off, &d, sizeof d) || !rn_buf_get(p, len, &off, &nout, sizeof nout) || d >= c->n ||
            nout > c->maxnew || !rn_buf_get(p, len, &off, c->docs[d].out, nout * sizeof(int32_t))) {
            rc = ys_fail(err, YS_EINPUT, "rank %d sent a malformed batch of generations", from);
            break;
        }
        gen_doc *g = fin[k] = &c->docs[d];
        g->nout = nout;
        for (size_t j = 1; j <= g->nout; j++)
            if (gen_stop(g->out, j, &g->g))
                break;
    }
    if (rc == 0)
        rc = cache_done(c->st, fin, nitems, err);
    free(fin);
    for (uint32_t k = 0; rc == 0 && k < nitems; k++)
        rn_progress(c->st, "generations", ++*c->ndone, c->total, c->t0);
    return rc;
}

/* A rank's finished requests: into the cache (rank 0, then the other
 * ranks' that came meanwhile), or to rank 0. */
static int gen_finished(run_state *st, gen_doc *const *fin, size_t nd, gen_pass *pass, size_t *left, ys_error *err)
{
    rn_dist *dist = st->o->dist;
    if (rn_dist_leader(dist)) {
        int rc = cache_done(st, fin, nd, err);
        for (size_t i = 0; rc == 0 && i < nd; i++)
            rn_progress(st, "generations", ++*pass->ndone, pass->total, pass->t0);
        return rc == 0 ? rn_dist_collect(dist, false, left, gen_apply, pass, err) : rc;
    }
    if (nd == 0)
        return 0;
    rn_buf m = {0};
    for (size_t i = 0; i < nd; i++) {
        uint64_t d = (uint64_t)(fin[i] - pass->docs);
        uint32_t nout = (uint32_t)fin[i]->nout;
        rn_buf_put(&m, &d, sizeof d);
        rn_buf_put(&m, &nout, sizeof nout);
        rn_buf_put(&m, fin[i]->out, fin[i]->nout * sizeof *fin[i]->out);
    }
    int rc = rn_dist_send(dist, (uint32_t)nd, &m, err);
    rn_buf_free(&m);
    return rc;
}

/* Rank 0 as a pipeline stage before the last: the results the last stages
 * sent meanwhile. */
typedef struct {
    gen_pass *pass;
    size_t *left;
} gen_between;

static int gen_collect(void *ctx, ys_error *err)
{
    gen_between *c = ctx;
    return rn_dist_collect(c->pass->st->o->dist, false, c->left, gen_apply, c->pass, err);
}

/* Decode the task's documents docs[todo[0..ntodo)] together. */
static int decode_batched(run_state *st, const task_spec *s, gen_doc *docs, const size_t *todo, size_t ntodo,
                          size_t maxnew, gen_pass *pass, size_t *left, double *engine_s, ys_error *err)
{
    rn_dist *dist = st->o->dist;
    bool pipe = rn_dist_stages(dist) > 1;
    if (pipe && !rn_dist_last_stage(dist)) {   /* a stage before the last follows the last one's steps */
        gen_between c = {pass, left};
        double e0 = rn_now_s();
        int rc = rn_pipe_gen_follow(st, rn_dist_leader(dist) ? gen_collect : NULL, &c, err);
        *engine_s += rn_now_s() - e0;
        return rc;
    }
    bool s2s = st->kind == RN_SEQ2SEQ;
    double per_tok = 0, need = 0;   /* KV bytes of one position; of the largest request */
    if (s2s) {
        const s2s_info *si = s2s_get_info(st->s2s);
        per_tok = 2.0 * sizeof(float) * si->dec_layers * si->d_model;
    } else {
        const model_info *mi = model_get_info(st->m);
        per_tok = 2.0 * sizeof(float) * mi->layers * mi->kv_heads * mi->head_dim;
    }
    for (size_t k = 0; k < ntodo; k++) {
        const gen_doc *d = &docs[todo[k]];
        double r = s2s ? per_tok * ((double)(maxnew + 1) * (st->gen.num_beams > 1 ? 2 * st->gen.num_beams + 1 : 1) +
                                    (double)d->n)
                       : per_tok * (double)(d->n + maxnew);
        need = r > need ? r : need;
    }
    size_t B = gen_batch_size(st, s, need), cap = B;
    model_batch *mb = NULL;
    s2s_gen_batch *sb = NULL;
    rn_pipe_gen *pg = NULL;   /* --pipeline: the last stage's micro-batches */
    int rc = 0;
    if (s2s)
        rc = s2s_gen_batch_new(st->s2s, B, &sb, err);
    else
        rc = pipe ? rn_pipe_gen_new(st, B, &pg, err) : model_batch_new(st->m, B, &mb, err);
    size_t room = pg ? rn_pipe_gen_room(pg) : B;   /* requests a step can finish */
    model_request **mdone = malloc(room * sizeof *mdone);
    s2s_request **sdone = malloc(room * sizeof *sdone);
    gen_doc **fin = malloc(room * sizeof *fin);
    if (rc == 0 && (!mdone || !sdone || !fin))
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    if (mb)   /* a task's few-shot examples: computed once, like scoring's */
        model_batch_set_prefix_cache(mb, st->pc);
    for (size_t k = 0; rc == 0 && k < ntodo; k++) {
        gen_doc *d = &docs[todo[k]];
        if (s2s) {
            d->sr = (s2s_request){.src = d->p, .n_src = d->n, .opts = st->gen};
            d->sr.opts.max_new_tokens = maxnew;
            d->sr.opts.stop = gen_stop, d->sr.opts.stop_user = &d->g;
            rc = s2s_gen_batch_add(sb, &d->sr, err);
        } else {
            d->mr = (model_request){.prompt = d->p, .n_prompt = d->n, .max_new = maxnew, .stop = gen_stop,
                                    .user = &d->g, .out = d->out};
            rc = pg ? rn_pipe_gen_add(pg, &d->mr, err) : model_batch_add(mb, &d->mr, err);
        }
    }
    while (rc == 0 && (s2s ? s2s_gen_batch_pending(sb) : pg ? rn_pipe_gen_pending(pg) : model_batch_pending(mb)) > 0) {
        size_t nd = 0;
        double e0 = rn_now_s();
        if (s2s)
            rc = s2s_gen_batch_step(sb, sdone, &nd, err);
        else
            rc = pg ? rn_pipe_gen_step(pg, mdone, &nd, err) : model_batch_step(mb, mdone, &nd, err);
        *engine_s += rn_now_s() - e0;
        size_t now = s2s ? s2s_gen_batch_capacity(sb) : pg ? rn_pipe_gen_capacity(pg) : model_batch_capacity(mb);
        if (rc == 0 && now < cap) {
            fprintf(stderr, "yardstick: task %s: out of memory for %zu generations at once: decoding %zu at a time\n",
                    s->name, cap, now);
            cap = now;
        }
        for (size_t i = 0; rc == 0 && i < nd; i++) {
            gen_doc *d;
            if (s2s) {
                s2s_request *r = sdone[i];
                d = (gen_doc *)((char *)r - offsetof(gen_doc, sr));
                d->nout = r->n_out < maxnew ? r->n_out : maxnew;
                memcpy(d->out, r->out, d->nout * sizeof *d->out);
                free(r->out);
                r->out = NULL;
                /* beams do not stop early: find the cut afterwards */
                for (size_t j = 1; !d->g.stopped && j <= d->nout; j++)
                    if (gen_stop(d->out, j, &d->g))
                        break;
            } else {
                d = (gen_doc *)((char *)mdone[i] - offsetof(gen_doc, mr));
                d->nout = d->mr.n_out;
            }
            fin[i] = d;
        }
        if (rc == 0)
            rc = gen_finished(st, fin, nd, pass, left, err);
    }
    if (pg && rc == 0)   /* the stages before stop following */
        rc = rn_pipe_gen_end(pg, err);
    rn_pipe_gen_free(pg);
    model_batch_free(mb);
    s2s_gen_batch_free(sb);
    free(mdone), free(sdone), free(fin);
    return rc;
}

int rn_run_generations(run_state *st, double *engine_s, ys_error *err)
{
    rn_dist *dist = st->o->dist;
    bool lead = rn_dist_leader(dist);
    int N = rn_dist_groups(dist);   /* the ranks, or with --pipeline the groups (every stage walks its group's) */
    size_t total = 0, ndone = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].gen ? st->tasks[i].n : 0;
    double t0 = rn_now_s();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < st->ntasks; i++) {
        task_run *t = &st->tasks[i];
        if (!t->gen)
            continue;
        const task_spec *s = t->spec;
        size_t maxnew = (size_t)s->max_gen_toks, ntodo = 0;
        bool s2s = st->kind == RN_SEQ2SEQ;
        gen_doc *docs = rn_calloc(t->n, sizeof *docs);
        size_t *todo = rn_calloc(t->n, sizeof *todo);
        if (!docs || !todo)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        /* the prompts, and the answers the cache has */
        for (size_t d = 0; rc == 0 && d < t->n; d++) {
            gen_doc *g = &docs[d];
            size_t n;
            /* an encoder-decoder reads the prompt with its special tokens */
            if ((rc = rn_encode_prompt(st, t->prompts[d].context, &g->ids, &n, err)) < 0)
                break;
            if (!(g->out = malloc((maxnew ? maxnew : 1) * sizeof *g->out))) {
                rc = ys_fail(err, YS_ENOMEM, "out of memory");
                break;
            }
            /* leave room for the answer: cut the prompt from the left (the
             * encoder's input has its own window) */
            size_t keep = s2s ? (st->max_len ? st->max_len : n) : st->max_len > maxnew ? st->max_len - maxnew : 1;
            int32_t *p = g->ids;
            if (n > keep)
                p += n - keep, n = keep;
            if (n == 0)
                p[0] = st->eot, n = 1;
            g->p = p, g->n = n;
            /* an encoder-decoder stops at its own EOS (the engine knows it) */
            g->g = (gen_stop_ctx){st->tok, s, s2s ? -1 : st->eot, 0, false};
            /* the cache key covers the prompt ids and the stopping rules */
            char *cached_resp = NULL;
            if (st->store) {
                sha256_ctx c;
                char until_hash[65];
                sha256_init(&c);
                for (size_t u = 0; u < s->nuntil; u++)
                    sha256_update(&c, s->until[u], strlen(s->until[u]) + 1);
                if (s2s) /* the decoding settings come from the folder's configs */
                    sha256_update(&c, st->gen_config_hash, 64);
                sha256_final_hex(&c, until_hash);
                rn_cache_key(st, until_hash, p, n, maxnew, 0, g->key);
                RN_STORE_CALL(st, rc, rs_cache_get(st->store, g->key, &cached_resp, err));
            }
            if (rc == 0 && cached_resp) {
                /* "n id id ..." */
                char *q = cached_resp, *end;
                long cnt = strtol(q, &end, 10);
                for (long j = 0; j < cnt && (size_t)j < maxnew; j++)
                    g->out[g->nout++] = (int32_t)strtol(end, &end, 10);
                /* replay the stop check to find where the text is cut */
                for (size_t j = 1; j <= g->nout; j++)
                    if (gen_stop(g->out, j, &g->g))
                        break;
                st->cached++;
                rn_progress(st, "generations", ++ndone, total, t0);
            } else if (rc == 0 && st->o->rescore) {
                rc = ys_fail(err, YS_EINPUT, "rescore: task %s document %zu has no cached generation: use --resume "
                                             "with the model", s->name, d);
            } else if (rc == 0) {
                todo[ntodo++] = d;
            }
            free(cached_resp);
        }
        /* the rest through the engine, together; with ranks, rank 0's
         * list of what is left to every rank, each decoding a range
         * balanced by tokens (prompt and room for the answer) */
        uint64_t *left_docs = lead ? rn_calloc(ntodo, sizeof *left_docs) : NULL;
        if (rc == 0 && lead && !left_docs)
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && lead && k < ntodo; k++)
            left_docs[k] = todo[k];
        rc = rn_dist_share(dist, rc, &left_docs, &ntodo, err);
        uint64_t *cost = rc == 0 ? rn_calloc(ntodo, sizeof *cost) : NULL;
        size_t *start = rc == 0 ? malloc(((size_t)N + 1) * sizeof *start) : NULL;
        if (rc == 0 && (!cost || !start))
            rc = ys_fail(err, YS_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && k < ntodo; k++) {
            if (left_docs[k] >= t->n) {
                rc = ys_fail(err, YS_EINPUT, "rank 0 sent a document out of range");
                break;
            }
            todo[k] = (size_t)left_docs[k];
            cost[k] = docs[todo[k]].n + maxnew;
        }
        if (rc == 0)
            rn_dist_split(cost, NULL, ntodo, N, start);
        size_t lo = rc == 0 ? start[rn_dist_group(dist)] : 0, hi = rc == 0 ? start[rn_dist_group(dist) + 1] : 0;
        /* rank 0: what other ranks will send (with --pipeline, everything:
         * rank 0 is a first stage) */
        size_t left = ntodo - (rn_dist_last_stage(dist) ? hi - lo : 0);
        gen_pass pass = {st, docs, t->n, maxnew, &ndone, total, t0};
        if (rc == 0 && hi > lo)
            rc = decode_batched(st, s, docs, todo + lo, hi - lo, maxnew, &pass, &left, engine_s, err);
        if (rc == 0)
            rc = rn_dist_collect(dist, true, &left, gen_apply, &pass, err);
        free(left_docs), free(cost), free(start);
        /* the texts, in document order (rank 0 alone scores) */
        for (size_t d = 0; rc == 0 && lead && d < t->n; d++) {
            gen_doc *g = &docs[d];
            char *text = NULL;
            rc = tok_decode(st->tok, g->out, g->nout, true, &text, err);
            if (rc == 0 && g->g.stopped)
                text[g->g.cut] = 0;
            if (rc == 0)
                rc = rn_apply_filters(s, &text, err);
            if (rc < 0)
                free(text);
            else
                t->gen[d] = text;
        }
        for (size_t d = 0; docs && d < t->n; d++)
            free(docs[d].ids), free(docs[d].out);
        free(docs), free(todo);
    }
    return rc < 0 ? rc : 0;
}
