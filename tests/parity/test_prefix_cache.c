/* test_prefix_cache.c — model.h's prefix cache: scoring through it gives
 * bitwise the log-probabilities and logits of scoring every request alone
 * without it, whatever the budget (none, a few blocks that force
 * evictions, plenty), the batch sizes and the order of the requests; its
 * counts add up; generation's prefill from it (attach, then model_step)
 * gives the logits of a whole prefill. Several architectures, one with a
 * length-dependent RoPE (phi3's longrope), where the cache must stay
 * empty. */
#include "testsupport.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char *const MODELS[] = {"gpt2", "llama", "mistral", "gemma2", "qwen3_yarn", "pythia", "phi3"};

#define NREQ 24
#define MAXLEN 128

typedef struct req {
    int32_t ids[MAXLEN];
    size_t n, from;
} req;

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Few-shot-like requests: one of two shared "instructions + examples"
 * prefixes (37 and 70 tokens: not whole blocks), a question, then one of
 * four choices, scored from the end of the question; some requests with
 * no shared part, one of length 2. */
static void make_requests(req *r, size_t V)
{
    uint32_t s = 7;
    int32_t shared[2][80];
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 80; i++)
            shared[p][i] = (int32_t)(rnd(&s) % V);
    for (size_t q = 0; q < NREQ; q++) {
        req *x = &r[q];
        size_t np = q % 6 == 5 ? 0 : q % 2 ? 37 : 70, nq = 3 + rnd(&s) % 9, nc = 1 + rnd(&s) % 4;
        memcpy(x->ids, shared[q % 2], np * sizeof *x->ids);
        uint32_t qs = 1000 + (uint32_t)(q / 4);   /* four choices per question */
        for (size_t i = 0; i < nq; i++)
            x->ids[np + i] = (int32_t)(rnd(&qs) % V);
        for (size_t i = 0; i < nc; i++)
            x->ids[np + nq + i] = (int32_t)(rnd(&s) % V);
        x->n = np + nq + nc;
        x->from = np + nq;
    }
    r[NREQ - 1].n = 2, r[NREQ - 1].from = 1;
}

static void score_all(model *m, model_prefix_cache *pc, const req *r, const size_t *order, size_t batch, size_t V,
                      double **lp, float **lg, const char *name)
{
    for (size_t b0 = 0; b0 < NREQ; b0 += batch) {
        size_t nb = b0 + batch < NREQ ? batch : NREQ - b0;
        const int32_t *seqs[NREQ];
        size_t lens[NREQ], from[NREQ];
        double *l[NREQ];
        float *g[NREQ];
        for (size_t i = 0; i < nb; i++) {
            const req *x = &r[order[b0 + i]];
            seqs[i] = x->ids, lens[i] = x->n, from[i] = x->from;
            l[i] = lp[order[b0 + i]], g[i] = lg[order[b0 + i]];
        }
        ys_error err = {0};
        if (model_logprobs_cached(m, pc, seqs, lens, nb, from, l, NULL, g, &err))
            fail_msg("%s: %s", name, err.msg);
    }
    (void)V;
}

static void test_scoring(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < sizeof MODELS / sizeof *MODELS; mi++) {
        const char *name = MODELS[mi];
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
        model *m = NULL;
        ys_error err = {0};
        if (model_load(dir, &m, &err))
            fail_msg("%s: %s", name, err.msg);
        const model_info *mi_ = model_get_info(m);
        size_t V = (size_t)mi_->vocab;
        size_t block_bytes = 2 * (size_t)mi_->layers * MODEL_PREFIX_BLOCK * (size_t)mi_->kv_heads *
                             (size_t)mi_->head_dim * sizeof(float);
        req *r = calloc(NREQ, sizeof *r);
        make_requests(r, V);
        double *ref[NREQ], *got[NREQ];
        float *refl[NREQ], *gotl[NREQ];
        for (size_t q = 0; q < NREQ; q++) {
            ref[q] = calloc(MAXLEN, sizeof(double)), got[q] = calloc(MAXLEN, sizeof(double));
            refl[q] = calloc(MAXLEN * V, sizeof(float)), gotl[q] = calloc(MAXLEN * V, sizeof(float));
        }
        /* the reference: every request alone, no cache */
        size_t fwd[NREQ], rev[NREQ], mix[NREQ];
        for (size_t q = 0; q < NREQ; q++)
            fwd[q] = q, rev[q] = NREQ - 1 - q, mix[q] = (q * 7) % NREQ;   /* 7 is prime to 24 */
        score_all(m, NULL, r, fwd, 1, V, ref, refl, name);

        const size_t budgets[] = {0, block_bytes * 5 / 2, block_bytes * 9, (size_t)64 << 20};
        const size_t *orders[] = {fwd, rev, mix};
        const size_t batches[] = {1, 4, NREQ};
        int longrope = strcmp(name, "phi3") == 0;
        for (size_t bi = 0; bi < 4; bi++)
            for (size_t oi = 0; oi < 3; oi++)
                for (size_t ti = 0; ti < 3; ti++) {
                    model_prefix_cache *pc = NULL;
                    assert_int_equal(model_prefix_cache_new(m, budgets[bi], 0, &pc, &err), 0);
                    /* twice through the same cache: the second pass finds the first's blocks */
                    for (int pass = 0; pass < 2; pass++) {
                        for (size_t q = 0; q < NREQ; q++)
                            memset(got[q], 0, MAXLEN * sizeof(double)), memset(gotl[q], 0, MAXLEN * V * sizeof(float));
                        score_all(m, pc, r, orders[oi], batches[ti], V, got, gotl, name);
                        model_prefix_stats st0;
                        model_prefix_cache_stats(pc, &st0);
                        /* one call, a fresh cache: the questions behind one shared prefix still
                         * compute it once (the later ones wait for the first's blocks) */
                        if (pass == 0 && ti == 2 && bi >= 2 && !longrope)
                            assert_true(st0.tokens_served >= 32 * 10);
                        for (size_t q = 0; q < NREQ; q++) {
                            size_t k = r[q].n - r[q].from;
                            if (memcmp(got[q], ref[q], k * sizeof(double)) || memcmp(gotl[q], refl[q], k * V * sizeof(float)))
                                fail_msg("%s: budget %zu, order %zu, batch %zu, pass %d: request %zu differs bitwise",
                                         name, budgets[bi], oi, batches[ti], pass, q);
                        }
                    }
                    model_prefix_stats st;
                    model_prefix_cache_stats(pc, &st);
                    size_t input = 0;
                    for (size_t q = 0; q < NREQ; q++)
                        input += r[q].n - 1;
                    assert_int_equal(st.tokens_input, 2 * input);
                    assert_true(st.tokens_computed + st.tokens_served <= st.tokens_input);
                    assert_true(st.bytes <= budgets[bi]);
                    if (bi == 0 || longrope) {
                        assert_int_equal(st.tokens_served, 0);
                        assert_int_equal(st.blocks, 0);
                    } else {
                        assert_true(st.tokens_served > 0);
                        assert_true(st.tokens_served % MODEL_PREFIX_BLOCK == 0);
                    }
                    if (bi == 1 && !longrope)   /* 2 blocks fit: the 4 blocks of the 70-token prefix cannot */
                        assert_true(st.evicted_blocks > 0);
                    if (bi == 3 && !longrope && ti == 0)   /* everything fits: the second pass computes only
                                                             what is past the cached blocks */
                        assert_true(st.tokens_served >= (size_t)(NREQ / 6 * 5 / 2) * (64 + 32));
                    model_prefix_cache_free(pc);
                }
        /* generation's prefill: attach the cached blocks, step the rest */
        if (!longrope) {
            model_prefix_cache *pc = NULL;
            assert_int_equal(model_prefix_cache_new(m, (size_t)64 << 20, 0, &pc, &err), 0);
            score_all(m, pc, r, fwd, NREQ, V, got, gotl, name);
            float *lg = malloc(V * sizeof *lg), *whole = malloc(V * sizeof *whole);
            for (size_t q = 0; q < 8; q++) {
                model_kv *kv = NULL, *kw = NULL;
                assert_int_equal(model_kv_new(m, MAXLEN, &kv, &err), 0);
                assert_int_equal(model_kv_new(m, MAXLEN, &kw, &err), 0);
                size_t c = model_prefix_cache_attach(pc, r[q].ids, r[q].n, kv);
                assert_int_equal(model_kv_len(kv), c);
                if (q % 6 != 5)
                    assert_true(c >= 32);   /* both shared prefixes have at least two whole blocks */
                assert_int_equal(model_step(m, kv, r[q].ids + c, r[q].n - c, lg, &err), 0);
                assert_int_equal(model_step(m, kw, r[q].ids, r[q].n, whole, &err), 0);
                if (memcmp(lg, whole, V * sizeof *lg))
                    fail_msg("%s: request %zu: prefill behind %zu cached tokens differs from a whole prefill", name, q, c);
                model_prefix_cache_store_kv(pc, r[q].ids, kw);
                model_kv_free(kv);
                model_kv_free(kw);
            }
            free(lg), free(whole);
            model_prefix_cache_free(pc);
        }
        for (size_t q = 0; q < NREQ; q++)
            free(ref[q]), free(got[q]), free(refl[q]), free(gotl[q]);
        free(r);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scoring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
