/* test_gen_batch.c — batched (continuous) generation is bitwise the
 * generation of each request alone (model.h, "batched generation").
 *
 * Decoder-only: for the tiny fixtures (GPT-2 with its position limit,
 * Llama, Phi-3 across its longrope switch, Gemma 2's logit soft-cap,
 * Llama's dynamic RoPE), a set of greedy, sampled and stop-callback
 * requests of mixed lengths. The reference is computed here from
 * model_step alone (prompt, then one token at a time, Phi-3's recompute at
 * the switch): every logit row a batch returns must equal it bit for bit,
 * a greedy token must be its argmax, and the lengths must follow the stop
 * rules. Then the ids of every request must be the same for batch sizes
 * 1, 2, 3, 7, thread counts 1 and 2, and a shuffled arrival order, and
 * equal model_generate's.
 *
 * Encoder-decoders (T5, T5 v1.1, BART with its forced BOS/EOS, min length
 * and no_repeat_ngram defaults, Marian): greedy, beam and stop-callback
 * requests; ids, beam scores and greedy logits must be the same for every
 * batch size, thread count and arrival order and equal s2s_generate's, and
 * greedy logits must agree with s2s_logprobs (an independent, scoring
 * path) on the chosen tokens. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "seq2seq.h"

#define NREQ 11

typedef struct req_spec {
    size_t n_prompt, max_new;
    float temperature;
    int top_k;
    float top_p;
    uint64_t seed;
    int stop;   /* use stop_fn */
} req_spec;

/* Mixed on purpose: a one-token prompt, max_new 0 and 1, long and short
 * prompts (prefill rows of different sizes in one pass), GPT-2's 128
 * positions reached (120 + 30), Phi-3's 32-position switch crossed. */
static const req_spec SPECS[NREQ] = {
    {7, 20, 0, 0, 1, 0, 0},       {1, 12, 0, 0, 1, 0, 0},     {30, 25, 0.8f, 20, 0.9f, 11, 0},
    {120, 30, 0, 0, 1, 0, 0},     {5, 0, 0, 0, 1, 0, 0},      {12, 1, 0, 0, 1, 0, 0},
    {25, 30, 1.2f, 0, 1, 12345, 0}, {3, 40, 0, 0, 1, 0, 1},   {60, 16, 0.7f, 5, 1, 7, 1},
    {26, 14, 0, 0, 1, 0, 0},      {18, 22, 1.0f, 0, 0.5f, 99, 0},
};

/* Stop after a token divisible by 11 (some requests stop early, at
 * different steps). Counts its calls per request (user). */
static int stop_fn(const int32_t *gen, size_t n, void *user)
{
    (*(size_t *)user)++;
    return gen[n - 1] % 11 == 0;
}

typedef struct req_data {
    int32_t prompt[128];
    int32_t *ids;      /* reference ids (from the in-order batch of one) */
    size_t n;
    float *logits;     /* reference logits, computed with model_step */
} req_data;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Requests 2, 3, 6, 8 and 9 begin with the same 40 tokens (a task's
 * few-shot examples; for the prefix cache), the others are random. */
static void make_prompts(req_data *d, int vocab)
{
    uint64_t s = 42;
    int32_t shared[40];
    for (size_t t = 0; t < 40; t++)
        shared[t] = (int32_t)(lcg(&s) % (uint64_t)vocab);
    for (size_t r = 0; r < NREQ; r++)
        for (size_t t = 0; t < SPECS[r].n_prompt; t++)
            d[r].prompt[t] = (r == 2 || r == 3 || r == 6 || r == 8 || r == 9) && t < 40
                                 ? shared[t]
                                 : (int32_t)(lcg(&s) % (uint64_t)vocab);
}

static void fill_request(model_request *q, const req_spec *sp, req_data *d, int32_t *out, float *logits,
                         size_t *calls)
{
    memset(q, 0, sizeof *q);
    q->prompt = d->prompt, q->n_prompt = sp->n_prompt, q->max_new = sp->max_new;
    q->sampling = (model_sampling){sp->temperature, sp->top_k, sp->top_p, sp->seed};
    q->stop = sp->stop ? stop_fn : NULL, q->user = calls;
    q->out = out, q->logits = logits;
}

/* Run all requests through a batch of size bs, admitted in order[], with
 * nthreads; outs[r] / logits[r] receive request r's. */
static void run_batch(model *m, size_t bs, int nthreads, const size_t *order, req_data *d, int32_t **outs,
                      float **logits, size_t *nout, model_prefix_cache *pc)
{
    ys_error err = {0};
    assert_int_equal(model_set_threads(m, nthreads, &err), 0);
    model_batch *b = NULL;
    assert_int_equal(model_batch_new(m, bs, &b, &err), 0);
    model_batch_set_prefix_cache(b, pc);
    model_request q[NREQ];
    size_t calls[NREQ] = {0};
    for (size_t k = 0; k < NREQ; k++) {
        size_t r = order[k];
        fill_request(&q[r], &SPECS[r], &d[r], outs[r], logits ? logits[r] : NULL, &calls[r]);
        assert_int_equal(model_batch_add(b, &q[r], &err), 0);
    }
    assert_int_equal(model_batch_pending(b), NREQ);
    model_request *done[8];
    size_t finished = 0, steps = 0;
    while (model_batch_pending(b) > 0) {
        size_t nd = 0;
        if (model_batch_step(b, done, &nd, &err))
            fail_msg("model_batch_step: %s", err.msg);
        for (size_t i = 0; i < nd; i++)
            assert_true(done[i]->done);
        finished += nd;
        assert_true(++steps < 1000);
    }
    assert_int_equal(finished, NREQ);
    for (size_t r = 0; r < NREQ; r++) {
        assert_true(q[r].done);
        nout[r] = q[r].n_out;
        if (SPECS[r].stop)   /* the callback saw every token once */
            assert_int_equal(calls[r], q[r].n_out);
    }
    model_batch_free(b);
}

static int32_t argmax(const float *z, size_t V)
{
    size_t a = 0;
    for (size_t j = 1; j < V; j++)
        if (z[j] > z[a])
            a = j;
    return (int32_t)a;
}

/* Request r fed alone through model_step along the ids the batch chose:
 * each step's logits must be the batch's, bitwise; a greedy token the
 * argmax; the length the stop rules'. */
static void check_against_steps(model *m, size_t r, const req_data *d, const int32_t *ids, const float *logits,
                                size_t n)
{
    const model_info *mi = model_get_info(m);
    const req_spec *sp = &SPECS[r];
    size_t V = (size_t)mi->vocab, cap = sp->n_prompt + sp->max_new;
    if (mi->max_positions && cap > (size_t)mi->max_positions)
        cap = (size_t)mi->max_positions;
    /* Phi-3's switch length: original_max_position_embeddings of the fixture */
    size_t reset = !strcmp(mi->arch, "Phi3ForCausalLM") ? 32 : 0;
    ys_error err = {0};
    model_kv *kv = NULL;
    float *z = malloc(V * sizeof *z);
    int32_t *all = malloc((cap + 1) * sizeof *all);
    assert_non_null(z);
    assert_non_null(all);
    assert_int_equal(model_kv_new(m, cap, &kv, &err), 0);
    memcpy(all, d->prompt, sp->n_prompt * sizeof *all);
    if (sp->max_new == 0) {
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(model_step(m, kv, d->prompt, sp->n_prompt, z, &err), 0);
    }
    for (size_t i = 0; i < n; i++) {
        if (memcmp(z, logits + i * V, V * sizeof *z))
            fail_msg("%s request %zu token %zu: batched logits differ from model_step's", mi->arch, r, i);
        if (sp->temperature <= 0)
            assert_int_equal(ids[i], argmax(z, V));
        size_t len = model_kv_len(kv);
        int last = i + 1 == n;
        int stops = (sp->stop && ids[i] % 11 == 0) || i + 1 == sp->max_new || len == cap;
        if (stops != last)
            fail_msg("%s request %zu: %zu tokens, but the stop rules say %s at %zu", mi->arch, r, n,
                     stops ? "stop" : "go on", i);
        if (last)
            break;
        all[len] = ids[i];
        if (reset && len <= reset && len + 1 > reset) {   /* Phi-3: recompute the whole sequence */
            model_kv_truncate(kv, 0);
            assert_int_equal(model_step(m, kv, all, len + 1, z, &err), 0);
        } else {
            assert_int_equal(model_step(m, kv, &ids[i], 1, z, &err), 0);
        }
    }
    model_kv_free(kv);
    free(z);
    free(all);
}

/* Request r's length, ids and logits in the second run are the reference's. */
static int same_request(size_t r, size_t V, int32_t *const *ids, float *const *lg, const size_t *n,
                        int32_t *const *ids2, float *const *lg2, const size_t *n2)
{
    return n2[r] == n[r] && !memcmp(ids2[r], ids[r], n[r] * sizeof(int32_t)) &&
           !memcmp(lg2[r], lg[r], n[r] * V * sizeof(float));
}

static void check_model(const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    ys_error err = {0};
    model *m = NULL;
    if (model_load(dir, &m, &err))
        fail_msg("%s: %s", name, err.msg);
    size_t V = (size_t)model_get_info(m)->vocab;
    req_data d[NREQ];
    memset(d, 0, sizeof d);
    make_prompts(d, (int)V);
    int32_t *outs[NREQ], *outs2[NREQ];
    float *lg[NREQ], *lg2[NREQ];
    size_t nref[NREQ], n2[NREQ];
    for (size_t r = 0; r < NREQ; r++) {
        size_t mn = SPECS[r].max_new ? SPECS[r].max_new : 1;
        outs[r] = malloc(mn * sizeof(int32_t)), outs2[r] = malloc(mn * sizeof(int32_t));
        lg[r] = malloc(mn * V * sizeof(float)), lg2[r] = malloc(mn * V * sizeof(float));
        assert_true(outs[r] && outs2[r] && lg[r] && lg2[r]);
    }
    size_t in_order[NREQ], shuffled[NREQ];
    for (size_t r = 0; r < NREQ; r++)
        in_order[r] = shuffled[r] = r;
    uint64_t s = 7;
    for (size_t r = NREQ - 1; r > 0; r--) {
        size_t j = lcg(&s) % (r + 1), t = shuffled[r];
        shuffled[r] = shuffled[j], shuffled[j] = t;
    }

    /* the reference: a batch of one, in order, one thread, against model_step */
    run_batch(m, 1, 1, in_order, d, outs, lg, nref, NULL);
    size_t total = 0, stopped_early = 0;
    for (size_t r = 0; r < NREQ; r++) {
        check_against_steps(m, r, &d[r], outs[r], lg[r], nref[r]);
        total += nref[r];
        stopped_early += nref[r] < SPECS[r].max_new;
    }
    assert_true(total > 100);          /* the requests really generated */
    assert_true(stopped_early >= 1);   /* and some stopped before max_new */

    /* every batch size, thread count and arrival order: the same bits */
    static const size_t SIZES[] = {1, 2, 3, 7};
    for (size_t si = 0; si < sizeof SIZES / sizeof *SIZES; si++)
        for (int th = 1; th <= 2; th++)
            for (int sh = 0; sh < 2; sh++) {
                run_batch(m, SIZES[si], th, sh ? shuffled : in_order, d, outs2, lg2, n2, NULL);
                for (size_t r = 0; r < NREQ; r++) {
                    if (!same_request(r, V, outs, lg, nref, outs2, lg2, n2))
                        fail_msg("%s: request %zu differs at batch %zu, %d threads, %s order", name, r, SIZES[si],
                                 th, sh ? "shuffled" : "given");
                }
            }

    /* through a prefix cache (a fresh one per run: the shared 40 tokens
     * are two blocks; one with room for a single block evicts): the same
     * bits, and prompt tokens served from the cache unless the model's
     * RoPE depends on the call's length (no caching there) */
    const model_info *mi = model_get_info(m);
    int cacheable = strcmp(mi->arch, "Phi3ForCausalLM") && strcmp(name, "llama_dynamic");
    for (int tiny = 0; tiny < 2; tiny++)
        for (size_t si = 0; si < sizeof SIZES / sizeof *SIZES; si++)
            for (int sh = 0; sh < 2; sh++) {
                model_prefix_cache *pc = NULL;
                size_t block_bytes = 2 * (size_t)mi->layers * MODEL_PREFIX_BLOCK * (size_t)mi->kv_heads *
                                     (size_t)mi->head_dim * sizeof(float) + 4096;
                assert_int_equal(model_prefix_cache_new(m, tiny ? block_bytes : 64u << 20, 0, &pc, &err), 0);
                run_batch(m, SIZES[si], 2, sh ? shuffled : in_order, d, outs2, lg2, n2, pc);
                for (size_t r = 0; r < NREQ; r++)
                    if (!same_request(r, V, outs, lg, nref, outs2, lg2, n2))
                        fail_msg("%s: request %zu differs through a prefix cache at batch %zu, %s order%s", name, r,
                                 SIZES[si], sh ? "shuffled" : "given", tiny ? ", one block of room" : "");
                model_prefix_stats ps;
                model_prefix_cache_stats(pc, &ps);
                size_t prompts = 0;
                for (size_t r = 0; r < NREQ; r++)
                    prompts += SPECS[r].max_new ? SPECS[r].n_prompt : 0;
                assert_int_equal(ps.tokens_input, prompts);
                assert_int_equal(ps.tokens_input - ps.tokens_computed, ps.tokens_served);
                if (!cacheable)
                    assert_int_equal(ps.tokens_served, 0);
                else if (!tiny)   /* 4 of the 5 sharing prompts take the 2 (or 1: 25, 26 tokens) blocks */
                    assert_true(ps.tokens_served >= 16 * (1 + 2 + 1 + 1));
                else
                    assert_true(ps.tokens_served >= 16);
                model_prefix_cache_free(pc);
            }

    /* model_generate (no logits asked) gives the same ids */
    assert_int_equal(model_set_threads(m, 2, &err), 0);
    for (size_t r = 0; r < NREQ; r++) {
        const req_spec *sp = &SPECS[r];
        model_sampling smp = {sp->temperature, sp->top_k, sp->top_p, sp->seed};
        size_t calls = 0, n = 0;
        assert_int_equal(model_generate(m, d[r].prompt, sp->n_prompt, sp->max_new, &smp, sp->stop ? stop_fn : NULL,
                                        &calls, outs2[r], &n, &err),
                         0);
        assert_int_equal(n, nref[r]);
        assert_memory_equal(outs2[r], outs[r], n * sizeof(int32_t));
    }
    for (size_t r = 0; r < NREQ; r++)
        free(outs[r]), free(outs2[r]), free(lg[r]), free(lg2[r]);
    model_free(m);
}

static void test_gpt2(void **state) { (void)state; check_model("gpt2"); }
static void test_llama(void **state) { (void)state; check_model("llama"); }
static void test_phi3(void **state) { (void)state; check_model("phi3"); }
static void test_gemma2(void **state) { (void)state; check_model("gemma2"); }
static void test_llama_dynamic(void **state) { (void)state; check_model("llama_dynamic"); }

/* Bad requests are refused at add, without disturbing the batch. */
static void test_bad_requests(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/gpt2", YS_SOURCE_DIR);
    ys_error err = {0};
    model *m = NULL;
    model_batch *b = NULL;
    assert_int_equal(model_load(dir, &m, &err), 0);
    assert_int_equal(model_batch_new(m, 0, &b, &err), YS_EUSAGE);
    assert_int_equal(model_batch_new(m, 4, &b, &err), 0);
    int32_t out[4], bad[2] = {3, 96}, longp[129] = {0};
    model_request q = {.prompt = bad, .n_prompt = 2, .max_new = 4, .out = out};
    assert_int_equal(model_batch_add(b, &q, &err), YS_EINPUT);
    q.n_prompt = 0;
    assert_int_equal(model_batch_add(b, &q, &err), YS_EINPUT);
    q.prompt = longp, q.n_prompt = 129;   /* past n_positions = 128 */
    assert_int_equal(model_batch_add(b, &q, &err), YS_EINPUT);
    assert_int_equal(model_batch_pending(b), 0);
    assert_int_equal(model_batch_capacity(b), 4);
    q.n_prompt = 128;   /* exactly n_positions: one token, then the limit */
    assert_int_equal(model_batch_add(b, &q, &err), 0);
    model_request *done[4];
    size_t nd = 0;
    assert_int_equal(model_batch_step(b, done, &nd, &err), 0);
    assert_int_equal(nd, 1);
    assert_int_equal(q.n_out, 1);
    model_batch_free(b);
    model_free(m);
}

/* A request whose KV cache cannot be allocated waits while others run and
 * the batch's capacity shrinks to what fitted; alone it is an error. */
static void test_shrink(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/llama", YS_SOURCE_DIR);
    ys_error err = {0};
    model *m = NULL;
    model_batch *b = NULL;
    assert_int_equal(model_load(dir, &m, &err), 0);
    assert_int_equal(model_batch_new(m, 3, &b, &err), 0);
    int32_t prompt[4] = {5, 6, 7, 8}, out[3][8], want[8];
    model_request q[3];
    for (int i = 0; i < 3; i++) {
        q[i] = (model_request){.prompt = prompt + i, .n_prompt = 4 - (size_t)i, .max_new = 6, .out = out[i]};
        if (i == 2)   /* a cache of 2^62 positions: its size overflows, refused before any
                         malloc (which the sanitizers would abort on) */
            q[i].max_new = (size_t)1 << 62;
        assert_int_equal(model_batch_add(b, &q[i], &err), 0);
    }
    model_request *done[3];
    size_t nd = 0, finished = 0;
    assert_int_equal(model_batch_step(b, done, &nd, &err), 0);
    assert_int_equal(model_batch_capacity(b), 2);   /* shrunk: the third waits */
    assert_int_equal(model_batch_pending(b), 3);
    while (finished < 2) {
        finished += nd;
        if (finished < 2)
            assert_int_equal(model_batch_step(b, done, &nd, &err), 0);
    }
    for (int i = 0; i < 2; i++) {   /* the two that ran are what they are alone */
        size_t n = 0;
        assert_true(q[i].done);
        assert_int_equal(model_generate(m, prompt + i, 4 - (size_t)i, 6, NULL, NULL, NULL, want, &n, &err), 0);
        assert_int_equal(n, q[i].n_out);
        assert_memory_equal(want, out[i], n * sizeof *want);
    }
    /* alone in the batch, the third cannot be admitted */
    assert_int_equal(model_batch_step(b, done, &nd, &err), YS_ENOMEM);
    model_batch_free(b);
    model_free(m);
}

/* ---- encoder-decoders --------------------------------------------------------- */

#define NS2S 9

typedef struct s2s_spec {
    size_t n_src, max_new;
    int beams;          /* 0: the folder's default */
    int no_repeat;      /* -1: default */
    size_t min_new;
    int stop;
} s2s_spec;

static const s2s_spec S2S[NS2S] = {
    {9, 12, 1, -1, 0, 0}, {1, 8, 1, -1, 0, 0},  {30, 16, 4, -1, 0, 0}, {17, 0, 1, -1, 0, 0}, {5, 10, 0, -1, 0, 0},
    {22, 14, 2, 2, 3, 0}, {12, 20, 1, 2, 4, 1}, {40, 6, 3, -1, 0, 0},  {3, 18, 1, -1, 0, 1},
};

static void s2s_fill(const s2s_model *m, s2s_request *q, const s2s_spec *sp, const int32_t *src, float *logits,
                     size_t *calls)
{
    memset(q, 0, sizeof *q);
    q->src = src, q->n_src = sp->n_src;
    s2s_gen_defaults(m, &q->opts);
    q->opts.max_new_tokens = sp->max_new;
    if (sp->beams)
        q->opts.num_beams = sp->beams;
    if (sp->no_repeat >= 0)
        q->opts.no_repeat_ngram_size = sp->no_repeat;
    if (sp->min_new)
        q->opts.min_new_tokens = sp->min_new;
    if (sp->stop)
        q->opts.stop = stop_fn, q->opts.stop_user = calls;
    q->logits = q->opts.num_beams == 1 ? logits : NULL;
}

typedef struct s2s_result {
    int32_t *ids;
    size_t n;
    double score;
    int greedy;
} s2s_result;

static void s2s_run(s2s_model *m, size_t bs, int nthreads, const size_t *order, int32_t (*src)[64], float **lg,
                    s2s_result *res)
{
    ys_error err = {0};
    assert_int_equal(s2s_set_threads(m, nthreads, &err), 0);
    s2s_gen_batch *b = NULL;
    assert_int_equal(s2s_gen_batch_new(m, bs, &b, &err), 0);
    s2s_request q[NS2S];
    size_t calls[NS2S] = {0};
    for (size_t k = 0; k < NS2S; k++) {
        size_t r = order[k];
        s2s_fill(m, &q[r], &S2S[r], src[r], lg[r], &calls[r]);
        if (s2s_gen_batch_add(b, &q[r], &err))
            fail_msg("s2s_gen_batch_add: %s", err.msg);
    }
    s2s_request *done[8];
    size_t finished = 0, steps = 0;
    while (s2s_gen_batch_pending(b) > 0) {
        size_t nd = 0;
        if (s2s_gen_batch_step(b, done, &nd, &err))
            fail_msg("s2s_gen_batch_step: %s", err.msg);
        finished += nd;
        assert_true(++steps < 1000);
    }
    assert_int_equal(finished, NS2S);
    for (size_t r = 0; r < NS2S; r++) {
        assert_true(q[r].done);
        assert_non_null(q[r].out);
        res[r] = (s2s_result){q[r].out, q[r].n_out, q[r].score, q[r].opts.num_beams == 1};
        if (S2S[r].stop)
            assert_int_equal(calls[r], q[r].n_out);
    }
    s2s_gen_batch_free(b);
}

static void check_s2s(const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    ys_error err = {0};
    s2s_model *m = NULL;
    if (s2s_load(dir, &m, &err))
        fail_msg("%s: %s", name, err.msg);
    const s2s_info *si = s2s_get_info(m);
    size_t V = (size_t)si->vocab;
    int32_t src[NS2S][64];
    uint64_t s = 3;
    for (size_t r = 0; r < NS2S; r++)
        for (size_t t = 0; t < S2S[r].n_src; t++)   /* ids 3..: no special tokens in the sources */
            src[r][t] = (int32_t)(3 + lcg(&s) % (uint64_t)(V - 3));
    float *lg[NS2S], *lg2[NS2S];
    for (size_t r = 0; r < NS2S; r++) {
        lg[r] = calloc((S2S[r].max_new + 1) * V, sizeof(float)), lg2[r] = calloc((S2S[r].max_new + 1) * V, sizeof(float));
        assert_true(lg[r] && lg2[r]);
    }
    size_t in_order[NS2S], shuffled[NS2S];
    for (size_t r = 0; r < NS2S; r++)
        in_order[r] = shuffled[r] = r;
    uint64_t sh = 5;
    for (size_t r = NS2S - 1; r > 0; r--) {
        size_t j = lcg(&sh) % (r + 1), t = shuffled[r];
        shuffled[r] = shuffled[j], shuffled[j] = t;
    }
    s2s_result ref[NS2S], got[NS2S];
    s2s_run(m, 1, 1, in_order, src, lg, ref);
    size_t total = 0, nbeam = 0;
    for (size_t r = 0; r < NS2S; r++) {
        total += ref[r].n;
        nbeam += !ref[r].greedy;
        if (!ref[r].greedy || ref[r].n == 0)
            continue;
        /* greedy logits against the scoring path: log P of each chosen token */
        int32_t dec[64];
        double lp[64];
        dec[0] = si->decoder_start_id;
        memcpy(dec + 1, ref[r].ids, ref[r].n * sizeof *dec);
        const int32_t *sp = src[r], *dp = dec;
        size_t ns = S2S[r].n_src, ndec = ref[r].n + 1;
        double *lpp = lp;
        assert_int_equal(s2s_logprobs(m, &sp, &ns, &dp, &ndec, 1, &lpp, NULL, &err), 0);
        for (size_t i = 0; i < ref[r].n; i++) {
            const float *z = lg[r] + i * V;
            double mx = z[0], sum = 0;
            for (size_t j = 1; j < V; j++)
                mx = z[j] > mx ? z[j] : mx;
            for (size_t j = 0; j < V; j++)
                sum += exp((double)z[j] - mx);
            ts_close((double)z[ref[r].ids[i]] - mx - log(sum), lp[i], 1e-4, "greedy logit vs s2s_logprobs", name);
        }
    }
    assert_true(total > 40);
    assert_true(nbeam >= 3);
    static const size_t SIZES[] = {1, 2, 3, 7};
    for (size_t k = 0; k < sizeof SIZES / sizeof *SIZES; k++)
        for (int th = 1; th <= 2; th++)
            for (int shf = 0; shf < 2; shf++) {
                s2s_run(m, SIZES[k], th, shf ? shuffled : in_order, src, lg2, got);
                for (size_t r = 0; r < NS2S; r++) {
                    size_t nl = got[r].greedy ? got[r].n * V : 0;
                    if (got[r].n != ref[r].n || memcmp(got[r].ids, ref[r].ids, ref[r].n * sizeof(int32_t)) ||
                        memcmp(&got[r].score, &ref[r].score, sizeof(double)) ||
                        memcmp(lg2[r], lg[r], nl * sizeof(float)))
                        fail_msg("%s: request %zu differs at batch %zu, %d threads, %s order", name, r, SIZES[k], th,
                                 shf ? "shuffled" : "given");
                    free(got[r].ids);
                }
            }
    /* s2s_generate, one request at a time */
    for (size_t r = 0; r < NS2S; r++) {
        s2s_request q;
        size_t calls = 0;
        s2s_fill(m, &q, &S2S[r], src[r], NULL, &calls);
        int32_t *out = NULL;
        size_t n = 0;
        assert_int_equal(s2s_generate(m, src[r], S2S[r].n_src, &q.opts, &out, &n, &err), 0);
        assert_int_equal(n, ref[r].n);
        assert_memory_equal(out, ref[r].ids, n * sizeof(int32_t));
        free(out);
    }
    for (size_t r = 0; r < NS2S; r++)
        free(ref[r].ids), free(lg[r]), free(lg2[r]);
    s2s_free(m);
}

static void test_t5(void **state) { (void)state; check_s2s("t5"); }
static void test_t5v11(void **state) { (void)state; check_s2s("t5v11"); }
static void test_bart(void **state) { (void)state; check_s2s("bart"); }
static void test_marian(void **state) { (void)state; check_s2s("marian"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),  cmocka_unit_test(test_llama),         cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_gemma2), cmocka_unit_test(test_llama_dynamic), cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_t5), cmocka_unit_test(test_t5v11), cmocka_unit_test(test_bart), cmocka_unit_test(test_marian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
