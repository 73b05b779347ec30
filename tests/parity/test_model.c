/* test_model.c — the engine's forward pass against float64 PyTorch
 * references (tests/data/models/<name>/expected.json, written by
 * tests/parity/gen/gen_models.py and gen_arch_models.py), plus the determinism contract of
 * model.h: a sequence's log-probabilities are bitwise identical whatever
 * batch it is scored in and whatever thread count the model uses. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char *const MODELS[] = {"gpt2", "gpt2_sharded", "llama", "llama_f16_tied", "qwen2", "mistral",
                                     /* gen_arch_models.py */
                                     "llama3_rope", "llama_linear", "llama_dynamic", "qwen3_yarn", "gemma",
                                     "gemma2", "gemma3", "phi3", "pythia", "neox_seq"};
#define NMODELS (sizeof MODELS / sizeof MODELS[0])
#define TOL 1e-4

typedef struct seq {
    int32_t *ids;
    size_t n;
    double *lp;      /* expected, n - 1 */
    int *greedy;
    double *last;    /* expected logits of the last position, vocab */
} seq;

typedef struct fixture {
    const char *name;
    char dir[1024];
    model *m;
    seq s[16];
    size_t nseq;
    int32_t prompt[64], gen[64];
    size_t nprompt, ngen;
} fixture;

static void load_fixture(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    snprintf(f->dir, sizeof f->dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    ys_error err = {0};
    int rc = model_load(f->dir, &f->m, &err);
    if (rc)
        fail_msg("%s: model_load: %s", name, err.msg);
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.json", f->dir);
    cJSON *j = ts_load_json(path);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "sequences")) {
        assert_true(f->nseq < 16);
        seq *s = &f->s[f->nseq++];
        const cJSON *ids = cJSON_GetObjectItem(e, "ids");
        s->n = (size_t)cJSON_GetArraySize(ids);
        s->ids = calloc(s->n, sizeof *s->ids);
        s->lp = calloc(s->n, sizeof *s->lp);
        s->greedy = calloc(s->n, sizeof *s->greedy);
        s->last = calloc((size_t)model_get_info(f->m)->vocab, sizeof *s->last);
        size_t i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids) s->ids[i++] = (int32_t)v->valuedouble;
        i = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "logprobs")) s->lp[i++] = v->valuedouble;
        i = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "greedy")) s->greedy[i++] = (int)v->valuedouble;
        /* with a RoPE that depends on the call's length, the KV path (one
         * call for the first half, then one per token) has its own
         * reference: each call rotated as HF rotates it */
        const cJSON *last = cJSON_GetObjectItem(e, "last_logits_kv_half");
        if (!last)
            last = cJSON_GetObjectItem(e, "last_logits");
        i = 0;
        cJSON_ArrayForEach(v, last) s->last[i++] = v->valuedouble;
        assert_int_equal(i, model_get_info(f->m)->vocab);
    }
    const cJSON *g = cJSON_GetObjectItem(j, "generate"), *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(g, "prompt")) f->prompt[f->nprompt++] = (int32_t)v->valuedouble;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(g, "tokens")) f->gen[f->ngen++] = (int32_t)v->valuedouble;
    cJSON_Delete(j);
}

static void free_fixture(fixture *f)
{
    for (size_t i = 0; i < f->nseq; i++) {
        free(f->s[i].ids);
        free(f->s[i].lp);
        free(f->s[i].greedy);
        free(f->s[i].last);
    }
    model_free(f->m);
}

/* Score the given sequences of f (by index) as one batch. */
static void score(fixture *f, const size_t *which, size_t n, double **lp, uint8_t **gr, float **lg)
{
    const int32_t *seqs[16];
    size_t lens[16];
    for (size_t i = 0; i < n; i++) {
        seqs[i] = f->s[which[i]].ids;
        lens[i] = f->s[which[i]].n;
    }
    ys_error err = {0};
    int rc = model_logprobs(f->m, seqs, lens, n, NULL, lp, gr, lg, &err);
    if (rc)
        fail_msg("%s: model_logprobs: %s", f->name, err.msg);
}

/* Log-probabilities and greedy flags of every sequence, scored in one batch,
 * against the float64 reference; the last position's logits through the
 * KV-cache path (prefill half, then one token at a time). */
static void test_parity(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        size_t V = (size_t)model_get_info(f.m)->vocab;
        double *lp[16];
        uint8_t *gr[16];
        size_t which[16];
        for (size_t i = 0; i < f.nseq; i++) {
            which[i] = i;
            lp[i] = calloc(f.s[i].n, sizeof **lp);
            gr[i] = calloc(f.s[i].n, 1);
        }
        score(&f, which, f.nseq, lp, gr, NULL);
        double maxd = 0, maxl = 0;
        size_t ntok = 0;
        for (size_t i = 0; i < f.nseq; i++) {
            for (size_t t = 0; t + 1 < f.s[i].n; t++, ntok++) {
                double d = fabs(lp[i][t] - f.s[i].lp[t]);
                maxd = d > maxd ? d : maxd;
                if (d > TOL)
                    fail_msg("%s: sequence %zu token %zu: logprob %.9f, reference %.9f", f.name, i, t + 1,
                             lp[i][t], f.s[i].lp[t]);
                if (gr[i][t] != f.s[i].greedy[t])
                    fail_msg("%s: sequence %zu token %zu: greedy flag %d, reference %d", f.name, i, t + 1,
                             gr[i][t], f.s[i].greedy[t]);
            }
            /* KV path: first half as one step, the rest one token at a time */
            model_kv *kv;
            ys_error err = {0};
            float *logits = malloc(V * sizeof *logits);
            assert_int_equal(model_kv_new(f.m, f.s[i].n, &kv, &err), 0);
            size_t half = (f.s[i].n + 1) / 2;
            assert_int_equal(model_step(f.m, kv, f.s[i].ids, half, logits, &err), 0);
            for (size_t t = half; t < f.s[i].n; t++)
                if (model_step(f.m, kv, &f.s[i].ids[t], 1, logits, &err))
                    fail_msg("%s: model_step: %s", f.name, err.msg);
            assert_int_equal(model_kv_len(kv), f.s[i].n);
            for (size_t j = 0; j < V; j++) {
                double d = fabs(logits[j] - f.s[i].last[j]);
                maxl = d > maxl ? d : maxl;
                if (d > TOL)
                    fail_msg("%s: sequence %zu: last logit %zu %.7f, reference %.7f", f.name, i, j, logits[j],
                             f.s[i].last[j]);
            }
            model_kv_free(kv);
            free(logits);
            free(lp[i]);
            free(gr[i]);
        }
        print_message("%-15s %zu tokens: max |logprob diff| %.2e, max |last-logit diff| (KV path) %.2e\n",
                      f.name, ntok, maxd, maxl);
        free_fixture(&f);
    }
}

static void test_greedy_generation(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        int32_t out[64];
        size_t n = 0;
        ys_error err = {0};
        if (model_generate(f.m, f.prompt, f.nprompt, f.ngen, NULL, NULL, NULL, out, &n, &err))
            fail_msg("%s: model_generate: %s", f.name, err.msg);
        assert_int_equal(n, f.ngen);
        for (size_t i = 0; i < n; i++)
            if (out[i] != f.gen[i])
                fail_msg("%s: generated token %zu is %d, reference %d", f.name, i, out[i], f.gen[i]);
        free_fixture(&f);
    }
}

static int stop_at_3(const int32_t *gen, size_t n, void *user)
{
    (void)gen;
    ++*(int *)user;
    return n == 3;
}

static void test_sampling(void **state)
{
    (void)state;
    fixture f;
    load_fixture(&f, "llama");
    int32_t a[10], b[10], c[10], g[10];
    size_t na, nb, nc, ng;
    ys_error err = {0};
    model_sampling s = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42};
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, &s, NULL, NULL, a, &na, &err), 0);
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, &s, NULL, NULL, b, &nb, &err), 0);
    assert_int_equal(na, 10);
    assert_memory_equal(a, b, sizeof a);            /* same seed, same tokens */
    int differ = 0;
    for (uint64_t seed = 1; seed < 6 && !differ; seed++) {
        s.seed = seed;
        assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, &s, NULL, NULL, c, &nc, &err), 0);
        differ = memcmp(a, c, sizeof a) != 0;
    }
    assert_true(differ);                             /* the seed matters */
    /* top_k = 1 and a tiny top_p both reduce to greedy */
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, NULL, NULL, NULL, g, &ng, &err), 0);
    s = (model_sampling){.temperature = 0.7f, .top_k = 1, .top_p = 1.0f, .seed = 7};
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, &s, NULL, NULL, c, &nc, &err), 0);
    assert_memory_equal(c, g, sizeof g);
    s = (model_sampling){.temperature = 1.3f, .top_k = 0, .top_p = 1e-6f, .seed = 9};
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, &s, NULL, NULL, c, &nc, &err), 0);
    assert_memory_equal(c, g, sizeof g);
    /* the stop callback sees every token and ends generation */
    int calls = 0;
    assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 10, NULL, stop_at_3, &calls, c, &nc, &err), 0);
    assert_int_equal(nc, 3);
    assert_int_equal(calls, 3);
    assert_memory_equal(c, g, 3 * sizeof *c);
    free_fixture(&f);
}

/* The same sequence scored alone, in a batch of three, in another batch,
 * with a different thread count, and from a later position: bitwise the
 * same log-probabilities and logits. The last sequence (100 tokens, two row tiles) is the probe;
 * the test models are small, so the tile structure is exercised through
 * the attention and vocabulary tiles, and through 1 vs 3 pool threads. */
static void test_determinism(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < NMODELS; mi++) {
        fixture f;
        load_fixture(&f, MODELS[mi]);
        size_t V = (size_t)model_get_info(f.m)->vocab, probe = f.nseq - 1, n = f.s[probe].n;
        double *lp[4][3];
        float *lg[4][3];
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 3; k++) {
                lp[r][k] = calloc(128, sizeof(double));
                lg[r][k] = calloc(128 * V, sizeof(float));
            }
        ys_error err = {0};
        size_t alone[] = {probe}, batch3[] = {2, probe, 4}, other[] = {probe, 3};
        assert_int_equal(model_set_threads(f.m, 1, &err), 0);
        score(&f, alone, 1, lp[0], NULL, lg[0]);
        score(&f, batch3, 3, lp[1], NULL, lg[1]);
        assert_int_equal(model_set_threads(f.m, 3, &err), 0);
        score(&f, other, 2, lp[2], NULL, lg[2]);
        score(&f, alone, 1, lp[3], NULL, lg[3]);
        const double *ref = lp[0][0];
        const double *got[] = {lp[1][1], lp[2][0], lp[3][0]};
        const float *got_l[] = {lg[1][1], lg[2][0], lg[3][0]};
        for (int r = 0; r < 3; r++) {
            if (memcmp(ref, got[r], (n - 1) * sizeof *ref) != 0)
                fail_msg("%s: log-probabilities of the probe differ bitwise in run %d", f.name, r + 1);
            if (memcmp(lg[0][0], got_l[r], (n - 1) * V * sizeof(float)) != 0)
                fail_msg("%s: logits of the probe differ bitwise in run %d", f.name, r + 1);
        }
        /* scoring from a later position gives the tail of the full scoring
         * (to rounding: the prefix is a separate pass, model.h) */
        const int32_t *seqs[] = {f.s[probe].ids};
        size_t lens[] = {n}, from[] = {20};
        double *tail[] = {lp[3][1]};
        assert_int_equal(model_logprobs(f.m, seqs, lens, 1, from, tail, NULL, NULL, &err), 0);
        for (size_t i = 0; i < n - 20; i++)
            ts_close(tail[0][i], ref[19 + i], 1e-4, f.name, "tail from 20");
        /* a shared prefix: the probe's first 19 tokens with two other
         * endings, scored after the probe from 20, reuse its keys/values and
         * give the bits they give alone */
        int32_t *alt[2];
        double *shared[3], *solo[1];
        for (int k = 0; k < 2; k++) {
            alt[k] = malloc(n * sizeof *alt[k]);
            memcpy(alt[k], f.s[probe].ids, n * sizeof *alt[k]);
            for (size_t i = 19; i < n; i++)
                alt[k][i] = (int32_t)((alt[k][i] + 7 * (k + 1) + (int32_t)i) % (int32_t)V);
        }
        const int32_t *three[] = {f.s[probe].ids, alt[0], alt[1]};
        size_t lens3[] = {n, n - 5, n}, from3[] = {20, 20, 20};
        for (int k = 0; k < 3; k++)
            shared[k] = calloc(n, sizeof(double));
        solo[0] = calloc(n, sizeof(double));
        assert_int_equal(model_logprobs(f.m, three, lens3, 3, from3, shared, NULL, NULL, &err), 0);
        assert_memory_equal(shared[0], tail[0], (n - 20) * sizeof(double));
        for (int k = 0; k < 2; k++) {
            const int32_t *one[] = {alt[k]};
            size_t l1[] = {lens3[k + 1]}, f1[] = {20};
            assert_int_equal(model_logprobs(f.m, one, l1, 1, f1, solo, NULL, NULL, &err), 0);
            if (memcmp(solo[0], shared[k + 1], (l1[0] - 20) * sizeof(double)) != 0)
                fail_msg("%s: a sequence scored after one with the same prefix differs from it scored alone", f.name);
        }
        for (int k = 0; k < 3; k++)
            free(shared[k]);
        free(solo[0]), free(alt[0]), free(alt[1]);
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 3; k++) {
                free(lp[r][k]);
                free(lg[r][k]);
            }
        free_fixture(&f);
    }
}

/* F16/BF16 checkpoints keep their matrices 16-bit (model.h, Memory): every
 * log-probability and logit is bitwise the one the fp32-widened weights
 * give, and so is a greedy continuation. */
static void test_half_weights(void **state)
{
    (void)state;
    static const char *const half[] = {"llama_f16_tied", "qwen2", "llama3_rope", "qwen3_yarn", "gemma3", "pythia"};
    for (size_t mi = 0; mi < sizeof half / sizeof half[0]; mi++) {
        fixture f;
        load_fixture(&f, half[mi]);
        model *wide = NULL;
        ys_error err = {0};
        model_opts o = {.f32_weights = 1};
        if (model_load_opts(f.dir, &o, &wide, &err))
            fail_msg("%s: model_load_opts: %s", f.name, err.msg);
        size_t V = (size_t)model_get_info(f.m)->vocab;
        const int32_t *seqs[16];
        size_t lens[16];
        double *lp[2][16];
        float *lg[2][16];
        for (size_t i = 0; i < f.nseq; i++) {
            seqs[i] = f.s[i].ids, lens[i] = f.s[i].n;
            for (int w = 0; w < 2; w++) {
                lp[w][i] = calloc(f.s[i].n, sizeof(double));
                lg[w][i] = calloc(f.s[i].n * V, sizeof(float));
            }
        }
        assert_int_equal(model_logprobs(f.m, seqs, lens, f.nseq, NULL, lp[0], NULL, lg[0], &err), 0);
        assert_int_equal(model_logprobs(wide, seqs, lens, f.nseq, NULL, lp[1], NULL, lg[1], &err), 0);
        for (size_t i = 0; i < f.nseq; i++) {
            if (memcmp(lp[0][i], lp[1][i], (f.s[i].n - 1) * sizeof(double)) ||
                memcmp(lg[0][i], lg[1][i], (f.s[i].n - 1) * V * sizeof(float)))
                fail_msg("%s: sequence %zu: 16-bit weights differ from fp32-widened ones", f.name, i);
            for (int w = 0; w < 2; w++)
                free(lp[w][i]), free(lg[w][i]);
        }
        int32_t a[64], b[64];
        size_t na, nb;
        assert_int_equal(model_generate(f.m, f.prompt, f.nprompt, 20, NULL, NULL, NULL, a, &na, &err), 0);
        assert_int_equal(model_generate(wide, f.prompt, f.nprompt, 20, NULL, NULL, NULL, b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        model_free(wide);
        free_fixture(&f);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    fixture f;
    load_fixture(&f, "gpt2");
    ys_error err = {0};
    int32_t bad[] = {1, 2, 96};
    const int32_t *seqs[] = {bad};
    size_t lens[] = {3};
    double out[3];
    double *lp[] = {out};
    assert_int_equal(model_logprobs(f.m, seqs, lens, 1, NULL, lp, NULL, NULL, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    /* n_positions + 1 tokens fit (the last is only a target), one more
     * does not */
    int32_t *longseq = calloc(130, sizeof *longseq);
    double *out2 = calloc(130, sizeof *out2);
    seqs[0] = longseq;
    lens[0] = 129;
    lp[0] = out2;
    assert_int_equal(model_logprobs(f.m, seqs, lens, 1, NULL, lp, NULL, NULL, &err), 0);
    lens[0] = 130;
    assert_int_equal(model_logprobs(f.m, seqs, lens, 1, NULL, lp, NULL, NULL, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "128 positions"));
    free(longseq);
    free(out2);
    free_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_greedy_generation),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_half_weights),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
