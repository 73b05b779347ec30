/* The runner's generations: each prompt cut to leave room for the answer,
 * generated (greedy or the folder's beam settings) until the task's stop
 * strings or end of text, cached as token ids, decoded and filtered (see
 * runner_internal.h). */
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

int rn_run_generations(run_state *st, double *engine_s, ys_error *err)
{
    size_t total = 0, done = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        total += st->tasks[i].gen ? st->tasks[i].n : 0;
    double t0 = rn_now_s();
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
            /* an encoder-decoder reads the prompt with its special tokens */
            int rc = rn_encode_prompt(st, t->prompts[d].context, &ids, &n, err);
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
                rn_cache_key(st, until_hash, p, n, maxnew, 0, key);
                RN_STORE_CALL(st, rc, rs_cache_get(st->store, key, &cached_resp, err));
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
                double e0 = rn_now_s();
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
                *engine_s += rn_now_s() - e0;
                if (rc == 0 && st->store) {
                    size_t cap = 24 + 12 * nout;
                    char *v = malloc(cap);
                    if (!v) {
                        rc = ys_fail(err, YS_ENOMEM, "out of memory");
                    } else {
                        size_t len = (size_t)snprintf(v, cap, "%zu", nout);
                        for (size_t j = 0; j < nout; j++)
                            len += (size_t)snprintf(v + len, cap - len, " %d", out[j]);
                        RN_STORE_CALL(st, rc, rs_cache_put(st->store, key, v, err));
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
            rn_progress(st, "generations", ++done, total, t0);
        }
        free(out);
    }
    return 0;
}
