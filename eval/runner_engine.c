/* The runner's engine: which of the three engines the checkpoint needs
 * (decoder LM, encoder classifier, encoder-decoder), loading it (or, when
 * rescoring, reading its limits from config.json), the response cache key,
 * and the batched log-likelihood calls (see runner_internal.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "runner_internal.h"
#include "sha256.h"

/* ---- picking and loading the engine -------------------------------------- */

/* Which engine the checkpoint needs, from config.json alone (before any
 * weights load, and without them when rescoring). Each engine knows its own
 * architectures and answers for a folder, not a parsed config, so config.json
 * is read by each question and again by the load: picking from one read
 * would need engine calls that take the parsed config. */
int rn_model_kind(run_state *st, ys_error *err)
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

/* A decoder's window as lm-evaluation-harness's HFLM takes it (max_length):
 * config.json's n_positions, else max_position_embeddings, else n_ctx,
 * else 2048. One rule for running and rescoring: a different window gives
 * different requests. */
static size_t lm_eval_max_length(const cJSON *cfg)
{
    static const char *const keys[] = {"n_positions", "max_position_embeddings", "n_ctx"};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItem(cfg, keys[i]);
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e9)
            return (size_t)v->valuedouble;
    }
    return 2048;
}

static int decoder_max_length(run_state *st, ys_error *err)
{
    cJSON *c;
    int rc = ckpt_model_config(st->o->model_dir, &c, err);
    if (rc < 0)
        return rc;
    st->max_len = lm_eval_max_length(c);
    cJSON_Delete(c);
    return 0;
}

/* A task the checkpoint cannot answer fails before anything runs. */
int rn_check_task_fits(const run_state *st, const task_spec *s, ys_error *err)
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

int rn_load_engine(run_state *st, ys_error *err)
{
    const run_options *o = st->o;
    int rc = 0;
    if (o->adapter_dir && rn_dist_leader(o->dist)) {
        char w[600];
        ckpt_adapter_warning(o->model_dir, o->adapter_dir, w, sizeof w);
        if (w[0])
            fprintf(stderr, "yardstick: warning: %s\n", w);
    }
    if (st->kind == RN_CLASSIFIER) {
        if ((rc = enc_load_adapter(o->model_dir, o->adapter_dir, &st->enc, err)) == 0 && o->threads > 0)
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
        if ((rc = s2s_load_adapter(o->model_dir, o->adapter_dir, &st->s2s, err)) == 0 && o->threads > 0)
            rc = s2s_set_threads(st->s2s, o->threads, err);
        if (rc < 0)
            return rc;
        s2s_gen_defaults(st->s2s, &st->gen);
        const s2s_info *info = s2s_get_info(st->s2s);
        st->max_len = info->max_source_positions > 0 ? (size_t)info->max_source_positions : 0;
        snprintf(st->arch, sizeof st->arch, "%s", info->arch);
    } else {
        model_opts mo = {.adapter_dir = o->adapter_dir, .group_size = o->group_size, .compute_bf16 = o->compute_bf16,
                         .compute_int8 = o->compute_int8};
        if (o->quantize && (rc = model_quant_parse(o->quantize, &mo.quantize, err)) < 0)
            return rc;
        if (o->quantize_head && (rc = model_quant_parse(o->quantize_head, &mo.quantize_head, err)) < 0)
            return rc;
        bool pipe = rn_dist_stages(o->dist) > 1;   /* --pipeline: this rank's layers, no prefix cache */
        if ((rc = pipe ? rn_pipe_load(st, &mo, err) : model_load_opts(o->model_dir, &mo, &st->m, err)) == 0 &&
            o->threads > 0)
            rc = model_set_threads(st->m, o->threads, err);
        /* the default share of the machine's memory is split between the
         * ranks on it */
        size_t mb = o->prefix_cache_mb < 0 ? model_prefix_cache_default_mb() / (size_t)rn_dist_local_size(o->dist)
                                           : (size_t)o->prefix_cache_mb;
        if (rc == 0 && !pipe)
            rc = model_prefix_cache_new(st->m, mb << 20, 0, &st->pc, err);
        if (rc < 0)
            return rc;
        const model_info *info = model_get_info(st->m);
        if ((rc = decoder_max_length(st, err)) < 0)
            return rc;
        if (info->max_positions > 0 && st->max_len > (size_t)info->max_positions)
            st->max_len = (size_t)info->max_positions;   /* GPT-2's hard limit */
        snprintf(st->arch, sizeof st->arch, "%s", info->arch);
    }
    return 0;
}

/* Without the model (rescore): the window and architecture from
 * config.json, the same way model_load reads them. */
int rn_read_limits(run_state *st, ys_error *err)
{
    cJSON *c;
    int rc0 = ckpt_model_config(st->o->model_dir, &c, err);
    if (rc0 < 0)
        return rc0;
    const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "architectures"), 0);
    const cJSON *npos = cJSON_GetObjectItem(c, "n_positions");
    snprintf(st->arch, sizeof st->arch, "%s", cJSON_IsString(arch) ? arch->valuestring : "");
    bool gpt2 = !strcmp(st->arch, "GPT2LMHeadModel");
    st->max_len = lm_eval_max_length(c);
    if (gpt2 && cJSON_IsNumber(npos) && st->max_len > (size_t)npos->valueint)
        st->max_len = (size_t)npos->valueint;
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

/* ---- log-likelihoods ----------------------------------------------------- */

/* The response cache key: everything that determines the answer — the
 * weights and tokenizer (by content hash), the dtype the engine computes
 * in, the yardstick version, the kind of request and its token ids. */
void rn_cache_key(const run_state *st, const char *kind, const int32_t *ids, size_t n, size_t a, size_t b,
                      char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    char head[256];
    snprintf(head, sizeof head, "%s|%s|%s|%s|%s|%zu|%zu|", kind, st->weights_hash, st->tok_hash, st->compute, YS_VERSION,
             a, b);
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

/* The responses of todo positions pos[0..n) into the cache, one
 * transaction (%.17g round-trips the double exactly). */
static int ll_cache_put(run_state *st, const size_t *tmp, char (*keys)[65], const size_t *pos, size_t n, ys_error *err)
{
    if (!st->store || n == 0)
        return 0;
    char (*vals)[48] = malloc(n * sizeof *vals);
    const char **kp = malloc(n * sizeof *kp), **vp = malloc(n * sizeof *vp);
    int rc = vals && kp && vp ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const ll_req *r = &st->reqs[tmp[pos[k]]];
        snprintf(vals[k], sizeof vals[k], "%.17g %d", r->ll, r->greedy);
        kp[k] = keys[pos[k]], vp[k] = vals[k];
    }
    if (rc == 0)
        RN_STORE_CALL(st, rc, rs_cache_put_many(st->store, kp, vp, n, err));
    free(vals), free(kp), free(vp);
    return rc;
}

/* Rank 0's view of the pass, for another rank's batches. */
typedef struct {
    run_state *st;
    const size_t *tmp;      /* todo position -> request */
    char (*keys)[65];
    size_t ntodo, *done;
    double t0;
} ll_pass;

/* Another rank's batch: (todo position u64, ll f64, greedy u8) each. */
static int ll_apply(void *ctx, int from, uint32_t nitems, const unsigned char *p, size_t len, ys_error *err)
{
    ll_pass *c = ctx;
    size_t *pos = rn_calloc(nitems, sizeof *pos), off = 0;
    int rc = pos ? 0 : ys_fail(err, YS_ENOMEM, "out of memory");
    for (uint32_t k = 0; rc == 0 && k < nitems; k++) {
        uint64_t u;
        double ll;
        uint8_t g;
        if (!rn_buf_get(p, len, &off, &u, sizeof u) || !rn_buf_get(p, len, &off, &ll, sizeof ll) ||
            !rn_buf_get(p, len, &off, &g, 1) || u >= c->ntodo)
            rc = ys_fail(err, YS_EINPUT, "rank %d sent a malformed batch of log-likelihoods", from);
        else {
            ll_req *r = &c->st->reqs[c->tmp[u]];
            r->ll = ll, r->greedy = g;
            pos[k] = (size_t)u;
        }
    }
    if (rc == 0)
        rc = ll_cache_put(c->st, c->tmp, c->keys, pos, nitems, err);
    free(pos);
    *c->done += nitems;
    if (rc == 0)
        rn_progress(c->st, "log-likelihoods", *c->done, c->ntodo, c->t0);
    return rc;
}

/* This rank's range of the todo list [*lo, *hi): cut at context changes,
 * each context costing its tokens once (the engine computes a shared
 * context once) and each request its continuation. */
static int ll_range(run_state *st, const size_t *tmp, size_t ntodo, size_t *lo, size_t *hi, ys_error *err)
{
    /* the ranks' ranges; with --pipeline, the groups' (each stage of a
     * group walks its group's range) */
    const rn_dist *d = st->o->dist;
    int N = rn_dist_groups(d);
    *lo = 0, *hi = ntodo;
    if (N == 1)
        return 0;
    uint64_t *cost = rn_calloc(ntodo, sizeof *cost);
    uint8_t *cut = rn_calloc(ntodo, 1);
    size_t *start = malloc(((size_t)N + 1) * sizeof *start);
    if (!cost || !cut || !start) {
        free(cost), free(cut), free(start);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < ntodo; k++) {
        const ll_req *r = &st->reqs[tmp[k]];
        cut[k] = k == 0 || !rn_same_context(&st->reqs[tmp[k - 1]], r);
        cost[k] = cut[k] ? r->len : r->len - r->from + 1;
    }
    rn_dist_split(cost, cut, ntodo, N, start);
    *lo = start[rn_dist_group(d)], *hi = start[rn_dist_group(d) + 1];
    free(cost), free(cut), free(start);
    return 0;
}

int rn_run_loglikelihoods(run_state *st, double *engine_s, ys_error *err)
{
    size_t n = st->nreqs;
    if (!n)
        return 0;
    rn_dist *dist = st->o->dist;
    bool lead = rn_dist_leader(dist);
    size_t *idx = malloc(n * sizeof *idx), *tmp = malloc(n * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx), free(tmp);
        return ys_fail(err, YS_ENOMEM, "out of memory");
    }
    /* identical requests (same ids, same split point) are computed once */
    size_t nuniq = rn_order_requests(st, idx, tmp);
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
            rn_cache_key(st, "ll", r->ids, r->len, r->from, 0, keys[u]);
            RN_STORE_CALL(st, rc, rs_cache_get(st->store, keys[u], &resp, err));
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
    if (rc == 0 && nuniq && st->o->rescore)
        rc = ys_fail(err, YS_EINPUT, "rescore: %zu requests of run %lld have no cached response (the run did not "
                                     "finish, or the model files changed): use --resume with the model",
                     nuniq, (long long)st->run_id);
    /* rank 0's list of what is left to every rank (only rank 0 has the
     * store), and each rank's range of it */
    uint64_t *todo = lead ? rn_calloc(nuniq, sizeof *todo) : NULL;
    if (lead && !todo && rc == 0)
        rc = ys_fail(err, YS_ENOMEM, "out of memory");
    for (size_t u = 0; todo && lead && u < nuniq; u++)
        todo[u] = tmp[u];
    rc = rn_dist_share(dist, rc, &todo, &nuniq, err);
    for (size_t u = 0; rc == 0 && !lead && u < nuniq; u++)
        if (todo[u] >= n || nuniq > n)
            rc = ys_fail(err, YS_EINPUT, "rank 0 sent a request out of range: the ranks do not run the same command");
        else
            tmp[u] = (size_t)todo[u];
    free(todo);
    size_t lo = 0, hi = nuniq, done = 0;
    if (rc == 0)
        rc = ll_range(st, tmp, nuniq, &lo, &hi, err);
    /* rank 0: results other ranks will send (with --pipeline, every one:
     * rank 0 is a first stage) */
    bool last = rn_dist_last_stage(dist);
    size_t left = nuniq - (last ? hi - lo : 0);
    double t0 = rn_now_s();
    ll_pass pass = {st, tmp, keys, nuniq, &done, t0};
    for (size_t b = lo, nb = 0; b < hi && rc == 0; b += nb) {
        nb = hi - b < B ? hi - b : B;
        /* never split a context's requests across batches */
        while (b + nb < hi && nb < 64 && rn_same_context(&st->reqs[tmp[b + nb - 1]], &st->reqs[tmp[b + nb]]))
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
        double e0 = rn_now_s();
        if (rc == 0 && st->kind == RN_SEQ2SEQ)
            rc = s2s_batch(st, seqs, lens, froms, nb, lp, gr, err);
        else if (rc == 0 && rn_dist_stages(dist) > 1)
            rc = rn_pipe_logprobs(st, b, seqs, lens, nb, froms, lp, gr, err);
        else if (rc == 0)
            rc = model_logprobs_cached(st->m, st->pc, seqs, lens, nb, froms, lp, gr, NULL, err);
        *engine_s += rn_now_s() - e0;
        for (size_t k = 0; k < nb; k++) {
            ll_req *r = &st->reqs[tmp[b + k]];
            double sum = 0;
            uint8_t all = 1;
            for (size_t i = 0; rc == 0 && last && i < r->len - r->from; i++)
                sum += lp[k][i], all &= gr[k][i];
            if (last)   /* (a pipeline's earlier stages have no results) */
                r->ll = sum, r->greedy = all;
            free(lp[k]), free(gr[k]);
        }
        if (rc == 0 && !last) {   /* a pipeline stage before the last: its rows went on */
            if (lead)
                rc = rn_dist_collect(dist, false, &left, ll_apply, &pass, err);
        } else if (rc == 0 && lead) {
            size_t pos[64];
            for (size_t k = 0; k < nb; k++)
                pos[k] = b + k;
            rc = ll_cache_put(st, tmp, keys, pos, nb, err);
            done += nb;
            rn_progress(st, "log-likelihoods", done, nuniq, t0);
            /* other ranks' batches that came meanwhile */
            if (rc == 0)
                rc = rn_dist_collect(dist, false, &left, ll_apply, &pass, err);
        } else if (rc == 0) {
            rn_buf m = {0};
            for (size_t k = 0; k < nb; k++) {
                const ll_req *r = &st->reqs[tmp[b + k]];
                uint64_t u = b + k;
                rn_buf_put(&m, &u, sizeof u);
                rn_buf_put(&m, &r->ll, sizeof r->ll);
                rn_buf_put(&m, &r->greedy, 1);
            }
            rc = rn_dist_send(dist, (uint32_t)nb, &m, err);
            rn_buf_free(&m);
        }
    }
    /* rank 0: the rest of the other ranks' results; the others: until
     * rank 0 has taken theirs */
    if (rc == 0)
        rc = rn_dist_collect(dist, true, &left, ll_apply, &pass, err);
    free(keys);
    /* rank 0 alone has every answer and scores */
    for (size_t i = 0; rc == 0 && lead && i < n; i++) {
        ll_req *r = &st->reqs[i];
        const ll_req *rep = &st->reqs[r->rep];
        *r->ll_out += rep->ll;
        if (r->greedy_out)
            *r->greedy_out &= rep->greedy;
    }
    free(idx), free(tmp);
    return rc;
}
