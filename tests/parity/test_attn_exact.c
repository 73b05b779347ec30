/* test_attn_exact.c — exact attention (kernels.h, attn.c; model.h,
 * "Determinism"):
 *   - the tile: a query row's output is bitwise the same whatever tile it
 *     is computed in (alone, with other rows, after a different number of
 *     keys), on every instruction-set path, and it is exactly the
 *     documented sequence of fp32 operations (a plain C restatement here);
 *     with causal masks, sliding windows, soft-caps, a T5-style bias and
 *     head sizes that are not multiples of the vector widths
 *   - the models: a sequence scored whole and scored from every split
 *     point, alone and with its neighbours, gives bitwise the same
 *     log-probabilities and logits, and KV-cached step-by-step decoding
 *     gives bitwise the logits of scoring (gpt2, llama, mistral, gemma2
 *     with soft-cap and window, qwen3 with yarn, phi3, pythia). */
#include "testsupport.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernels.h"
#include "model.h"
#include "vmath.h"

static float *fzero(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static float *frand(size_t n, uint32_t seed, float amp)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = amp * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    return p;
}

/* The contract of kernels.h spelled out for one row: what every path must
 * give bit for bit. */
static void reference_row(const kn_attn *a, size_t i, float *out)
{
    size_t hi = a->causal ? a->pos0 + i + 1 : a->nk;
    size_t lo = a->window && hi > a->window ? hi - a->window : 0;
    float *s = malloc(a->nk * sizeof *s);
    for (size_t j = lo; j < hi; j++) {
        float acc = 0.0f;
        for (size_t d = 0; d < a->hd; d++)
            acc = fmaf(a->q[i * a->ldq + d], a->k[j * a->ldkv + d], acc);
        s[j] = acc * a->scale;
        if (a->softcap > 0)
            s[j] = a->softcap * tanhf(s[j] / a->softcap);
        if (a->bias)
            s[j] += a->bias[(long)i * a->bias_ld + (long)j];
    }
    float mx = s[lo];
    for (size_t j = lo + 1; j < hi; j++)
        mx = s[j] > mx ? s[j] : mx;
    float inv = (float)(1.0 / vm_exp_sum(GM_ISA_SCALAR, s + lo, s + lo, hi - lo, mx));
    for (size_t d = 0; d < a->hd; d++) {
        float acc = 0.0f;
        for (size_t j = lo; j < hi; j++)
            acc = fmaf(s[j], a->v[j * a->ldkv + d], acc);
        out[d] = acc * inv;
    }
    free(s);
}

/* One configuration: T query rows at positions 0..T-1 of one sequence
 * (causal) or T rows against nk keys (not causal); computed as one tile,
 * as tiles of every size 1..9 and as the reference, on every ISA path. */
static void check_tile(size_t T, size_t nk, size_t hd, int causal, size_t window, float softcap, int bias)
{
    size_t ld = hd + 3;   /* strides unlike hd, as a head's columns in a row of all heads */
    float *q = frand(T * ld, 11u + (uint32_t)hd, 4.0f), *k = frand(nk * ld, 12u + (uint32_t)T, 4.0f);
    float *v = frand(nk * ld, 13u, 2.0f);
    float *b = bias ? frand(T * nk, 14u, 1.0f) : NULL;
    float *ref = fzero(T * hd), *got = fzero(T * ld), *scores = fzero(T * nk);
    kn_attn a = {.q = q, .k = k, .v = v, .out = got, .ldq = ld, .ldkv = ld, .ldo = ld, .rows = T, .nk = nk,
                 .hd = hd, .scale = 1.0f / sqrtf((float)hd), .softcap = softcap, .causal = causal, .pos0 = 0,
                 .window = window, .bias = b, .bias_ld = (long)nk};
    for (size_t i = 0; i < T; i++)
        reference_row(&a, i, ref + i * hd);
    const gm_isa isas[] = {GM_ISA_SCALAR, GM_ISA_AVX2, GM_ISA_AVX512, GM_ISA_AUTO};
    for (size_t ii = 0; ii < sizeof isas / sizeof *isas; ii++) {
        if (!gm_isa_supported(isas[ii]))
            continue;
        for (size_t tile = 1; tile <= 10; tile++) {
            size_t step = tile == 10 ? T : tile;   /* 10: the whole range as one tile */
            memset(got, 0xff, T * ld * sizeof *got);
            for (size_t r0 = 0; r0 < T; r0 += step) {
                size_t r1 = r0 + step < T ? r0 + step : T;
                kn_attn t = a;
                t.isa = (int)isas[ii];
                t.q = q + r0 * ld, t.out = got + r0 * ld, t.rows = r1 - r0;
                t.bias = b ? b + r0 * nk : NULL;
                if (causal)   /* the tile sees keys up to its last row, as the engines call it */
                    t.pos0 = r0, t.nk = r1;
                kn_attn_tile(NULL, &t, scores);
            }
            for (size_t i = 0; i < T; i++)
                if (memcmp(got + i * ld, ref + i * hd, hd * sizeof *got) != 0)
                    fail_msg("T %zu nk %zu hd %zu causal %d window %zu softcap %g bias %d: isa %d, tiles of %zu: "
                             "row %zu differs from the documented sequence (%.9g vs %.9g)",
                             T, nk, hd, causal, window, (double)softcap, bias, (int)isas[ii], step, i,
                             (double)got[i * ld], (double)ref[i * hd]);
        }
    }
    /* and it is attention: close to a double-precision softmax(QK^T)V */
    for (size_t i = 0; i < T; i += 7) {
        size_t hi = causal ? i + 1 : nk, lo = window && hi > window ? hi - window : 0;
        double *p = malloc(nk * sizeof *p), sum = 0, mx = -INFINITY;
        for (size_t j = lo; j < hi; j++) {
            double s = 0;
            for (size_t d = 0; d < hd; d++)
                s += (double)q[i * ld + d] * k[j * ld + d];
            s /= sqrt((double)hd);
            if (softcap > 0)
                s = softcap * tanh(s / softcap);
            if (b)
                s += b[i * nk + j];
            p[j] = s;
            mx = s > mx ? s : mx;
        }
        for (size_t j = lo; j < hi; j++)
            sum += p[j] = exp(p[j] - mx);
        for (size_t d = 0; d < hd; d++) {
            double o = 0;
            for (size_t j = lo; j < hi; j++)
                o += p[j] / sum * v[j * ld + d];
            ts_close(ref[i * hd + d], o, 2e-5, "attention", "against double");
        }
        free(p);
    }
    free(q), free(k), free(v), free(b), free(ref), free(got), free(scores);
}

static void test_tile(void **state)
{
    (void)state;
    const size_t hds[] = {1, 8, 16, 24, 64, 80, 96, 128, 256, 260};
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++) {
        check_tile(37, 37, hds[h], 1, 0, 0, 0);
        check_tile(70, 70, hds[h], 1, 9, 0, 0);
        check_tile(45, 45, hds[h], 1, 40, 3.0f, 0);
        check_tile(13, 29, hds[h], 0, 0, 0, 1);
    }
    check_tile(150, 150, 64, 1, 0, 0, 0);   /* key blocks past 32 and 64, rows past 4 */
}

/* ---- models ---------------------------------------------------------------- */

static const char *const MODELS[] = {"gpt2", "llama", "mistral", "gemma2", "qwen3_yarn", "phi3", "pythia"};

/* The fixture's longest sequence (expected.json's last: 100 tokens). */
static size_t probe_ids(const char *dir, int32_t *ids, size_t cap)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *j = ts_load_json(path);
    const cJSON *seqs = cJSON_GetObjectItem(j, "sequences");
    const cJSON *last = cJSON_GetArrayItem(seqs, cJSON_GetArraySize(seqs) - 1), *v;
    size_t n = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(last, "ids")) {
        assert_true(n < cap);
        ids[n++] = (int32_t)v->valuedouble;
    }
    cJSON_Delete(j);
    return n;
}

static void test_models(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < sizeof MODELS / sizeof *MODELS; mi++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, MODELS[mi]);
        model *m = NULL;
        ys_error err = {0};
        if (model_load(dir, &m, &err))
            fail_msg("%s: %s", MODELS[mi], err.msg);
        int32_t ids[256];
        size_t n = probe_ids(dir, ids, 256), V = (size_t)model_get_info(m)->vocab;
        double *whole = calloc(n, sizeof *whole), *part = calloc(n, sizeof *part);
        float *wl = calloc(n * V, sizeof *wl), *pl = calloc(n * V, sizeof *pl);
        const int32_t *seqs[] = {ids};
        size_t lens[] = {n};
        assert_int_equal(model_logprobs(m, seqs, lens, 1, NULL, (double *[]){whole}, NULL, (float *[]){wl}, &err), 0);

        /* from every split point, alone and with thread counts 1 and 3 */
        for (size_t f = 2; f < n; f++) {
            assert_int_equal(model_set_threads(m, f % 2 ? 3 : 1, &err), 0);
            size_t from[] = {f};
            assert_int_equal(model_logprobs(m, seqs, lens, 1, from, (double *[]){part}, NULL, (float *[]){pl}, &err),
                             0);
            if (memcmp(part, whole + f - 1, (n - f) * sizeof *part) || memcmp(pl, wl + (f - 1) * V, (n - f) * V * sizeof *pl))
                fail_msg("%s: scored from %zu differs bitwise from scored whole", MODELS[mi], f);
        }
        /* several split points in one call (shared prefixes, one group) */
        {
            const size_t K = 5, fs[] = {2, 17, 17, 50, 99};
            const int32_t *ss[5];
            size_t ls[5], fr[5];
            double *out[5];
            for (size_t k = 0; k < K; k++)
                ss[k] = ids, ls[k] = n, fr[k] = fs[k], out[k] = calloc(n, sizeof(double));
            assert_int_equal(model_logprobs(m, ss, ls, K, fr, out, NULL, NULL, &err), 0);
            for (size_t k = 0; k < K; k++) {
                if (memcmp(out[k], whole + fs[k] - 1, (n - fs[k]) * sizeof(double)))
                    fail_msg("%s: batched, from %zu differs bitwise from whole", MODELS[mi], fs[k]);
                free(out[k]);
            }
        }
        /* KV-cached decoding: a prompt, then one token per step; the logits
         * after each step are scoring's logits at that position. With a RoPE
         * that depends on the call's length (phi3's longrope) the two agree
         * only while the length stays in the short-factor range (model.h):
         * there, up to original_max_position_embeddings (32). */
        size_t upto = strcmp(MODELS[mi], "phi3") == 0 ? 31 : n - 1;
        size_t lens2[] = {upto + 1};
        assert_int_equal(model_logprobs(m, seqs, lens2, 1, NULL, (double *[]){part}, NULL, (float *[]){wl}, &err), 0);
        for (size_t prompt = 1; prompt <= 9; prompt += 4) {
            model_kv *kv = NULL;
            assert_int_equal(model_kv_new(m, n, &kv, &err), 0);
            float *lg = malloc(V * sizeof *lg);
            assert_int_equal(model_step(m, kv, ids, prompt, lg, &err), 0);
            for (size_t t = prompt - 1; t < upto; t++) {
                if (t >= prompt)
                    assert_int_equal(model_step(m, kv, &ids[t], 1, lg, &err), 0);
                if (memcmp(lg, wl + t * V, V * sizeof *lg))
                    fail_msg("%s: KV-cached logits at position %zu (prompt %zu) differ bitwise from scoring",
                             MODELS[mi], t, prompt);
            }
            free(lg);
            model_kv_free(kv);
        }
        free(whole), free(part), free(wl), free(pl);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile),
        cmocka_unit_test(test_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
