/* test_model_stage.c — a decoder cut into pipeline stages (model.h,
 * "pipeline stages") scores bitwise as the whole model.
 *
 * In one process, without MPI: every decoder family of the fixtures (GPT-2
 * also with scale_attn_by_inverse_layer_idx, whose scale needs a layer's
 * index in the whole model; Llama untied and F16 tied, Phi-3's longrope and
 * Llama's dynamic RoPE, whose frequencies depend on the sequence's length;
 * GPT-NeoX's parallel residual; Qwen3 with YaRN; Gemma 2 and 3 with their
 * sandwich norms, soft-caps and sliding windows), and quantized, int8-dot
 * and BF16 compute (a tied first stage then packs the head its embedding
 * rows come from), is loaded whole and as 2 to 6 stages chained by hand
 * (each stage's rows are the next one's input); on several batch shapes —
 * one sequence, a multiple-choice question's choices sharing a context,
 * different `from`s, a sequence with nothing to score, long sequences past
 * the sliding window — the last stage's log-probabilities and greedy flags
 * must equal model_logprobs' bit for bit, and every stage must count the
 * rows it then makes. Then generation: the same families decoding a set
 * of requests through 2 to 4 stages driven step by step give every token
 * and logit of model_batch_step on the whole model (test_generation). Then
 * the contract's refusals: rows missing or surplus, a stage asked for rows
 * it does not take or make, the whole model's generation entry points on a
 * stage, plans a stage cannot follow, an adapter, more stages than layers,
 * model_logprobs on a stage. */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MAXSEQ 8
#define MAXLEN 100

typedef struct batch {
    size_t n;
    int32_t ids[MAXSEQ][MAXLEN];
    size_t lens[MAXSEQ], from[MAXSEQ];
} batch;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Batch shapes: k = 0 one sequence; 1 a question's four choices behind one
 * context, then two others; 2 mixed froms, one with nothing to score; 3
 * long sequences (past the fixtures' 8-token windows). */
static void make_batch(batch *b, int k, int vocab)
{
    uint64_t s = 1000 + (uint64_t)k;
    memset(b, 0, sizeof *b);
    static const size_t L[4][MAXSEQ] = {{20}, {14, 16, 13, 18, 9, 25}, {7, 1, 12, 30, 5}, {90, 64, 77}};
    static const size_t F[4][MAXSEQ] = {{1}, {10, 10, 10, 10, 3, 1}, {2, 1, 12, 29, 3}, {40, 1, 70}};
    static const size_t N[4] = {1, 6, 5, 3};
    b->n = N[k];
    for (size_t i = 0; i < b->n; i++) {
        b->lens[i] = L[k][i], b->from[i] = F[k][i];
        for (size_t t = 0; t < b->lens[i]; t++)
            b->ids[i][t] = (int32_t)(lcg(&s) % (uint64_t)vocab);
    }
    if (k == 1)   /* the choices share their first 9 tokens (from 10) */
        for (size_t i = 1; i < 4; i++)
            memcpy(b->ids[i], b->ids[0], 9 * sizeof b->ids[0][0]);
}

/* Scored positions of sequence i. */
static size_t nscored(const batch *b, size_t i)
{
    size_t f = b->from[i] > 1 ? b->from[i] : 1;
    return b->lens[i] - f;
}

static void views(const batch *b, const int32_t **seqs)
{
    for (size_t i = 0; i < b->n; i++)
        seqs[i] = b->ids[i];
}

/* The batch scored by the chain of stages st[0..K); results into lp/gr. */
static void run_chain(model **st, int K, const batch *b, double **lp, uint8_t **gr, const char *what)
{
    const int32_t *seqs[MAXSEQ];
    views(b, seqs);
    ys_error err = {0};
    size_t rows = 0, H = (size_t)model_get_info(st[0])->hidden;
    assert_int_equal(model_stage_rows(st[0], seqs, b->lens, b->n, b->from, &rows, &err), 0);
    assert_true(rows > 0);
    float *in = NULL;
    for (int s = 0; s < K; s++) {
        size_t r = 0;
        assert_int_equal(model_stage_rows(st[s], seqs, b->lens, b->n, b->from, &r, &err), 0);
        if (r != rows)
            fail_msg("%s: stage %d counts %zu rows, stage 0 %zu", what, s, r, rows);
        float *out = s + 1 < K ? malloc(rows * H * sizeof *out) : NULL;
        if (s + 1 < K)
            assert_non_null(out);
        int rc = model_stage_logprobs(st[s], seqs, b->lens, b->n, b->from, in, in ? rows : 0, out,
                                      s + 1 < K ? NULL : lp, s + 1 < K ? NULL : gr, &err);
        if (rc != 0)
            fail_msg("%s: stage %d of %d: %s", what, s, K, err.msg);
        free(in);
        in = out;
    }
}

static void compare(model *whole, const char *dir, const model_opts *o, int K, const char *what)
{
    model *st[8] = {0};
    ys_error err = {0};
    int total = 0, next = 0;
    for (int s = 0; s < K; s++) {
        if (model_load_stage(dir, o, s, K, &st[s], &err) != 0)
            fail_msg("%s: stage %d of %d: %s", what, s, K, err.msg);
        int l0, l1, t;
        model_stage_range(st[s], &l0, &l1, &t);
        assert_int_equal(l0, next);   /* contiguous, covering every layer once */
        assert_true(l1 > l0);
        assert_int_equal(model_get_info(st[s])->layers, l1 - l0);
        next = l1, total = t;
    }
    assert_int_equal(next, total);
    assert_int_equal(total, model_get_info(whole)->layers);
    int vocab = model_get_info(whole)->vocab;
    for (int k = 0; k < 4; k++) {
        batch b;
        make_batch(&b, k, vocab);
        const int32_t *seqs[MAXSEQ];
        views(&b, seqs);
        double *lw[MAXSEQ], *ls[MAXSEQ];
        uint8_t *gw[MAXSEQ], *gs[MAXSEQ];
        for (size_t i = 0; i < b.n; i++) {
            size_t n = nscored(&b, i) + 1;
            lw[i] = calloc(n, sizeof **lw), ls[i] = calloc(n, sizeof **ls);
            gw[i] = calloc(n, 1), gs[i] = calloc(n, 1);
            memset(ls[i], 0x55, n * sizeof **ls), memset(gs[i], 7, n);
        }
        assert_int_equal(model_logprobs(whole, seqs, b.lens, b.n, b.from, lw, gw, NULL, &err), 0);
        char ctx[160];
        snprintf(ctx, sizeof ctx, "%s, %d stages, batch shape %d", what, K, k);
        run_chain(st, K, &b, ls, gs, ctx);
        for (size_t i = 0; i < b.n; i++) {
            size_t n = nscored(&b, i);
            if (memcmp(lw[i], ls[i], n * sizeof **lw) || memcmp(gw[i], gs[i], n))
                fail_msg("%s: sequence %zu differs from the whole model (first: %.17g vs %.17g)", ctx, i,
                         n ? lw[i][0] : 0.0, n ? ls[i][0] : 0.0);
            free(lw[i]), free(ls[i]), free(gw[i]), free(gs[i]);
        }
    }
    for (int s = 0; s < K; s++)
        model_free(st[s]);
}

static void fixture(const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
}

typedef void (*compare_fn)(model *whole, const char *dir, const model_opts *o, int K, const char *what);
static void compare_gen(model *whole, const char *dir, const model_opts *o, int K, const char *what);

/* cmp against the whole model for 2 .. kmax stages (at most one per layer) */
static void check_with(compare_fn cmp, const char *name, const char *dir, const model_opts *o, int kmax)
{
    model *whole = NULL;
    ys_error err = {0};
    if (model_load_opts(dir, o, &whole, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    int L = model_get_info(whole)->layers;
    for (int K = 2; K <= kmax && K <= L; K++)
        cmp(whole, dir, o, K, name);
    model_free(whole);
}

static void check(const char *name, const char *dir, const model_opts *o, int kmax)
{
    check_with(compare, name, dir, o, kmax);
}

/* every decoder family of the fixtures, as stored */
static void each_family(compare_fn cmp, int kmax)
{
    static const char *const names[] = {"gpt2", "gpt2_sharded", "llama", "llama_f16_tied", "phi3", "llama_dynamic", "pythia",
                                        "qwen3_yarn", "gemma2", "gemma3"};
    char dir[1024];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fixture(names[i], dir, sizeof dir);
        check_with(cmp, names[i], dir, NULL, kmax);
    }
}

static void test_families(void **state)
{
    (void)state;
    char dir[1024];
    each_family(compare, 6);
    /* GPT-2 scaling attention by the inverse layer index: a stage must use
     * its layers' indices in the whole model */
    char cmd[4096], path[1100];
    snprintf(path, sizeof path, "%s/gpt2_by_layer", ts_scratch());
    fixture("gpt2", dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sf %s/model.safetensors %s/", path, dir, path);
    assert_int_equal(ts_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s/config.json", dir);
    cJSON *cfg = ts_load_json(cmd);
    cJSON_AddTrueToObject(cfg, "scale_attn_by_inverse_layer_idx");
    char *txt = cJSON_Print(cfg);
    snprintf(cmd, sizeof cmd, "%s/config.json", path);
    ts_write_file(cmd, txt);
    free(txt);
    cJSON_Delete(cfg);
    check("gpt2 scale_attn_by_inverse_layer_idx", path, NULL, 2);
}

static void test_compute_options(void **state)
{
    (void)state;
    char dir[1024];
    model_opts bf16 = {.compute_bf16 = 1}, q4 = {.quantize = MODEL_Q_INT4, .group_size = 32},
               q8dot = {.quantize = MODEL_Q_INT8, .compute_int8 = 1}, f32 = {.f32_weights = 1};
    fixture("gpt2", dir, sizeof dir);
    check("gpt2 bf16", dir, &bf16, 2);
    fixture("llama_f16_tied", dir, sizeof dir);
    check("llama_f16_tied bf16", dir, &bf16, 2);
    check("llama_f16_tied f32 weights", dir, &f32, 2);
    fixture("gemma3", dir, sizeof dir);
    check("gemma3 int4", dir, &q4, 3);
    fixture("llama", dir, sizeof dir);
    check("llama int8 dot", dir, &q8dot, 2);
}

/* ---- generation through stages ----------------------------------------------
 * The same requests decoded by model_batch_step on the whole model and by
 * a chain of stages driven by hand (the last stage's plan run by every
 * stage in order, each stage's rows the next one's input): every token and
 * every logit must be the same bits. The requests mix greedy and sampled
 * decoding, prompts of 1 to 120 tokens (Phi-3's recomputation past its 32
 * pretrained positions; GPT-2's 128-position limit), different max_new and
 * a stop rule, and outnumber the batch's slots, so requests join and leave
 * while others decode. The stages before the last are made with one slot
 * and must grow to the last stage's plan. */
#define NREQ 7
#define MAXNEW 14

typedef struct gen_set {
    int32_t prompt[NREQ][128];
    model_request r[NREQ];
    int32_t out[NREQ][MAXNEW];
    float *logits[NREQ];
} gen_set;

/* Stop after a token divisible by 11 (user: nonzero to apply). */
static int stop_11(const int32_t *gen, size_t n, void *user)
{
    return user && gen[n - 1] % 11 == 0;
}

static void make_requests(gen_set *g, int vocab)
{
    static const size_t NP[NREQ] = {5, 24, 1, 120, 13, 30, 9};
    static const size_t MN[NREQ] = {MAXNEW, 10, 3, MAXNEW, 0, MAXNEW, 7};
    static const float TEMP[NREQ] = {0, 0.8f, 0, 1.1f, 0, 0.7f, 1.0f};
    static const int TOPK[NREQ] = {0, 0, 0, 20, 0, 0, 5};
    static const float TOPP[NREQ] = {1, 0.9f, 1, 1, 1, 0.8f, 1};
    uint64_t s = 77;
    memset(g, 0, sizeof *g);
    for (int i = 0; i < NREQ; i++) {
        for (size_t t = 0; t < NP[i]; t++)
            g->prompt[i][t] = (int32_t)(lcg(&s) % (uint64_t)vocab);
        g->logits[i] = calloc(MAXNEW * (size_t)vocab, sizeof(float));
        assert_non_null(g->logits[i]);
        g->r[i] = (model_request){.prompt = g->prompt[i], .n_prompt = NP[i], .max_new = MN[i],
                                  .sampling = {.temperature = TEMP[i], .top_k = TOPK[i], .top_p = TOPP[i],
                                               .seed = 1000 + (uint64_t)i},
                                  .stop = stop_11, .user = i == 6 ? g : NULL, .out = g->out[i],
                                  .logits = g->logits[i]};
    }
}

static void free_requests(gen_set *g)
{
    for (int i = 0; i < NREQ; i++)
        free(g->logits[i]);
}

#define GEN_SLOTS 3

static void gen_whole(model *m, gen_set *g)
{
    ys_error err = {0};
    model_batch *b = NULL;
    model_request *done[GEN_SLOTS];
    size_t nd;
    assert_int_equal(model_batch_new(m, GEN_SLOTS, &b, &err), 0);
    for (int i = 0; i < NREQ; i++)
        assert_int_equal(model_batch_add(b, &g->r[i], &err), 0);
    while (model_batch_pending(b) > 0)
        if (model_batch_step(b, done, &nd, &err) != 0)
            fail_msg("whole model: %s", err.msg);
    model_batch_free(b);
}

/* Steps: how many passes the chain made (to check requests overlapped). */
static void gen_chain(model **st, int K, gen_set *g, const char *what, size_t *steps)
{
    ys_error err = {0};
    model_batch *b[8] = {0};
    model_request *done[GEN_SLOTS];
    size_t nd, H = (size_t)model_get_info(st[0])->hidden;
    for (int s = 0; s < K; s++)
        assert_int_equal(model_batch_new(st[s], s == K - 1 ? GEN_SLOTS : 1, &b[s], &err), 0);
    for (int i = 0; i < NREQ; i++)
        assert_int_equal(model_batch_add(b[K - 1], &g->r[i], &err), 0);
    *steps = 0;
    while (model_batch_pending(b[K - 1]) > 0) {
        model_plan p;
        if (model_batch_plan(b[K - 1], &p, done, &nd, &err) != 0)
            fail_msg("%s: plan: %s", what, err.msg);
        if (p.n == 0)
            continue;
        float *in = NULL;
        for (int s = 0; s < K; s++) {
            float *out = s + 1 < K ? malloc(p.rows * H * sizeof *out) : NULL;
            if (model_batch_pass(b[s], &p, in, in ? p.rows : 0, out, done, &nd, &err) != 0)
                fail_msg("%s: stage %d of %d: %s", what, s, K, err.msg);
            free(in);
            in = out;
        }
        ++*steps;
    }
    for (int s = 0; s < K; s++)
        model_batch_free(b[s]);
}

static void compare_gen(model *whole, const char *dir, const model_opts *o, int K, const char *what)
{
    model *st[8] = {0};
    ys_error err = {0};
    for (int s = 0; s < K; s++)
        if (model_load_stage(dir, o, s, K, &st[s], &err) != 0)
            fail_msg("%s: stage %d of %d: %s", what, s, K, err.msg);
    int V = model_get_info(whole)->vocab;
    gen_set *a = malloc(sizeof *a), *c = malloc(sizeof *c);
    make_requests(a, V), make_requests(c, V);
    gen_whole(whole, a);
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s, %d stages, generation", what, K);
    size_t steps = 0, total = 0;
    gen_chain(st, K, c, ctx, &steps);
    for (int i = 0; i < NREQ; i++) {
        assert_true(a->r[i].done && c->r[i].done);
        total += a->r[i].n_out;
        if (a->r[i].n_out != c->r[i].n_out || memcmp(a->out[i], c->out[i], a->r[i].n_out * sizeof(int32_t)) ||
            memcmp(a->logits[i], c->logits[i], a->r[i].n_out * (size_t)V * sizeof(float)))
            fail_msg("%s: request %d: %zu tokens through the stages, %zu on the whole model, or other logits", ctx, i,
                     c->r[i].n_out, a->r[i].n_out);
    }
    /* requests decoded side by side: fewer passes than tokens */
    if (steps >= total)
        fail_msg("%s: %zu passes for %zu tokens: the requests never shared a pass", ctx, steps, total);
    free_requests(a), free_requests(c);
    free(a), free(c);
    for (int s = 0; s < K; s++)
        model_free(st[s]);
}

static void check_gen(const char *name, const char *dir, const model_opts *o, int kmax)
{
    check_with(compare_gen, name, dir, o, kmax);
}

static void test_generation(void **state)
{
    (void)state;
    char dir[1024];
    each_family(compare_gen, 4);
    model_opts q4 = {.quantize = MODEL_Q_INT4, .group_size = 32};
    fixture("gemma3", dir, sizeof dir);
    check_gen("gemma3 int4", dir, &q4, 3);
}

static void test_refusals(void **state)
{
    (void)state;
    char dir[1024], ad[1024];
    ys_error err = {0};
    model *s0 = NULL, *s1 = NULL, *m = NULL;
    fixture("gpt2", dir, sizeof dir);
    assert_int_equal(model_load_stage(dir, NULL, 2, 2, &m, &err), YS_EUSAGE);
    assert_int_equal(model_load_stage(dir, NULL, 0, 3, &m, &err), YS_EUSAGE);   /* 2 layers */
    assert_non_null(strstr(err.msg, "3 pipeline stages for 2 layers"));
    assert_null(m);
    fixture("lora_gpt2", ad, sizeof ad);
    model_opts o = {.adapter_dir = ad};
    assert_int_equal(model_load_stage(dir, &o, 0, 2, &m, &err), YS_EUSAGE);
    assert_non_null(strstr(err.msg, "adapter"));
    assert_int_equal(model_load_stage(dir, NULL, 0, 2, &s0, &err), 0);
    assert_int_equal(model_load_stage(dir, NULL, 1, 2, &s1, &err), 0);
    batch b;
    make_batch(&b, 1, model_get_info(s0)->vocab);
    const int32_t *seqs[MAXSEQ];
    views(&b, seqs);
    size_t rows = 0, H = (size_t)model_get_info(s0)->hidden;
    assert_int_equal(model_stage_rows(s0, seqs, b.lens, b.n, b.from, &rows, &err), 0);
    float *rbuf = calloc(rows + 1, H * sizeof *rbuf);
    double *lp[MAXSEQ];
    uint8_t *gr[MAXSEQ];
    for (size_t i = 0; i < b.n; i++)
        lp[i] = calloc(MAXLEN, sizeof **lp), gr[i] = calloc(MAXLEN, 1);
    /* the first stage takes no rows and must make them; the last needs them */
    assert_int_equal(model_stage_logprobs(s0, seqs, b.lens, b.n, b.from, rbuf, rows, rbuf, NULL, NULL, &err), YS_EUSAGE);
    assert_int_equal(model_stage_logprobs(s0, seqs, b.lens, b.n, b.from, NULL, 0, NULL, lp, gr, &err), YS_EUSAGE);
    assert_int_equal(model_stage_logprobs(s1, seqs, b.lens, b.n, b.from, NULL, 0, NULL, lp, gr, &err), YS_EUSAGE);
    /* too few rows, and too many */
    assert_int_equal(model_stage_logprobs(s0, seqs, b.lens, b.n, b.from, NULL, 0, rbuf, NULL, NULL, &err), 0);
    assert_int_equal(model_stage_logprobs(s1, seqs, b.lens, b.n, b.from, rbuf, rows - 1, NULL, lp, gr, &err),
                     YS_EINPUT);
    assert_int_equal(model_stage_logprobs(s1, seqs, b.lens, b.n, b.from, rbuf, rows + 1, NULL, lp, gr, &err),
                     YS_EINPUT);
    assert_int_equal(model_stage_logprobs(s1, seqs, b.lens, b.n, b.from, rbuf, rows, NULL, lp, gr, &err), 0);
    /* the whole model's entry points refuse a stage */
    assert_int_equal(model_logprobs(s1, seqs, b.lens, b.n, b.from, lp, gr, NULL, &err), YS_EUSAGE);
    /* generation: model_step and model_batch_step refuse a stage; the
     * batch of a stage before the last takes no requests and makes no
     * plans; the last stage runs only its own plan, with the rows it needs */
    model_kv *kv = NULL;
    assert_int_equal(model_kv_new(s1, 8, &kv, &err), 0);
    assert_int_equal(model_step(s1, kv, b.ids[0], 3, NULL, &err), YS_EUSAGE);
    model_kv_free(kv);
    model_batch *mb = NULL, *m0 = NULL;
    model_request *done[2];
    size_t nd = 0;
    int32_t gout[4];
    model_request rq = {.prompt = b.ids[0], .n_prompt = 5, .max_new = 4, .out = gout};
    assert_int_equal(model_batch_new(s0, 2, &m0, &err), 0);
    assert_int_equal(model_batch_add(m0, &rq, &err), YS_EUSAGE);
    model_plan p;
    assert_int_equal(model_batch_plan(m0, &p, done, &nd, &err), YS_EUSAGE);
    assert_int_equal(model_batch_new(s1, 2, &mb, &err), 0);
    assert_int_equal(model_batch_add(mb, &rq, &err), 0);
    assert_int_equal(model_batch_step(mb, done, &nd, &err), YS_EUSAGE);
    assert_int_equal(model_batch_plan(mb, &p, done, &nd, &err), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.rows, 5);
    model_plan other = p;
    model_plan_item it = p.items[0];
    other.items = &it;
    assert_int_equal(model_batch_pass(mb, &other, rbuf, 5, NULL, done, &nd, &err), YS_EUSAGE);   /* not its plan */
    assert_int_equal(model_batch_pass(mb, &p, NULL, 0, NULL, done, &nd, &err), YS_EUSAGE);        /* no rows */
    /* the first stage: a plan continuing a slot it does not hold, rows that do not add up */
    it.fresh = 0;
    assert_int_equal(model_batch_pass(m0, &other, NULL, 0, rbuf, done, &nd, &err), YS_EINPUT);
    it.fresh = 1, other.rows = 4;
    assert_int_equal(model_batch_pass(m0, &other, NULL, 0, rbuf, done, &nd, &err), YS_EINPUT);
    other.rows = 5;
    assert_int_equal(model_batch_pass(m0, &other, NULL, 0, rbuf, done, &nd, &err), 0);
    assert_int_equal(model_batch_pass(mb, &p, rbuf, 4, NULL, done, &nd, &err), YS_EINPUT);   /* a row short */
    model_batch_free(mb), model_batch_free(m0);
    for (size_t i = 0; i < b.n; i++)
        free(lp[i]), free(gr[i]);
    free(rbuf);
    model_free(s0), model_free(s1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_families), cmocka_unit_test(test_compute_options),
                                       cmocka_unit_test(test_generation), cmocka_unit_test(test_refusals)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
