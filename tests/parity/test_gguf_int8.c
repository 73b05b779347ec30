/* test_gguf_int8.c — `--compute int8` on GGUF files (gemm.h, "int8 dot
 * products on GGUF blocks"; model_opts.compute_int8 without quantize).
 *
 * The quantized fixtures of tests/data/gguf/quant/ (every block type in
 * qmix_llama; a tied Q8_0 head with biases in q8_qwen2; GPT-2 Q4 blocks in
 * q4_gpt2) scored with int8 compute must:
 *   - pack their quantized tensors (head included) as GM_GGML_I8, and keep
 *     F32/F16/BF16 ones for the default arithmetic;
 *   - stay near the exact default path: |Δ log-prob| <= 0.3 and |Δ logit|
 *     <= 0.4 on every position. It is another function (activations to 8
 *     bits per block of 32), and these tiny random models amplify it:
 *     measured 0.005 / 0.006 (qmix_llama, logits below 1), 0.21 / 0.28
 *     (q8_qwen2, logits up to 8.6) and 0.14 / 0.30 (q4_gpt2); GM_I8DOT
 *     (--quantize int8 --compute int8) on the qwen2 folder the file came
 *     from moves log-probs by 0.23 against --quantize int8 alone;
 *   - give the same bits scored alone, together with other sequences,
 *     with 1 or 2 threads, and token by token through the KV cache (one
 *     row per product, the decoding path).
 * A file without quantized tensors (an F32 GGUF) is a usage error. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model.h"
#include "model_internal.h"

typedef struct seqset {
    size_t n;
    int32_t *ids[4];
    size_t len[4];
} seqset;

static void read_seqs(const cJSON *exp, seqset *s)
{
    const cJSON *e;
    s->n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(exp, "sequences")) {
        const cJSON *ids = cJSON_GetObjectItem(e, "ids");
        size_t n = (size_t)cJSON_GetArraySize(ids);
        assert_true(s->n < 4);
        s->ids[s->n] = malloc(n * sizeof(int32_t));
        for (size_t i = 0; i < n; i++)
            s->ids[s->n][i] = (int32_t)cJSON_GetArrayItem(ids, (int)i)->valuedouble;
        s->len[s->n++] = n;
    }
}

static model *load(const char *path, int i8)
{
    model_opts o = {.compute_int8 = i8};
    model *m = NULL;
    ys_error err = {0};
    if (model_load_opts(path, &o, &m, &err))
        fail_msg("model_load_opts(%s, int8 %d): %s", path, i8, err.msg);
    return m;
}

/* Log-probs and logits of the sequences, together in one call or one by one. */
static void score(model *m, const seqset *s, int together, double **lp, float **lg)
{
    ys_error err = {0};
    if (together) {
        if (model_logprobs(m, (const int32_t *const *)s->ids, s->len, s->n, NULL, lp, NULL, lg, &err))
            fail_msg("model_logprobs: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (model_logprobs(m, (const int32_t *const *)&s->ids[i], &s->len[i], 1, NULL, &lp[i], NULL, &lg[i], &err))
            fail_msg("model_logprobs: %s", err.msg);
}

static void check_file(const char *name)
{
    char file[1024], json[1024];
    snprintf(file, sizeof file, "%s/tests/data/gguf/quant/%s.gguf", YS_SOURCE_DIR, name);
    snprintf(json, sizeof json, "%s/tests/data/gguf/quant/%s.json", YS_SOURCE_DIR, name);
    cJSON *exp = ts_load_json(json);
    seqset s;
    read_seqs(exp, &s);
    model *m0 = load(file, 0), *m1 = load(file, 1);
    size_t V = (size_t)model_get_info(m1)->vocab;
    assert_int_equal(m0->layers[0].pq.dtype, GM_GGML);
    assert_int_equal(m1->layers[0].pq.dtype, GM_GGML_I8);
    assert_int_equal(m1->layers[0].pdown.dtype, GM_GGML_I8);
    assert_int_equal(m1->phead.dtype, m0->phead.ggml_type == GGML_F32 || m0->phead.ggml_type == GGML_F16 ||
                                              m0->phead.ggml_type == GGML_BF16 ? GM_GGML : GM_GGML_I8);
    double *lp[4][4];     /* [variant][sequence]: default, int8 together, int8 alone, int8 2 threads */
    float *lg[4][4];
    for (int v = 0; v < 4; v++)
        for (size_t i = 0; i < s.n; i++) {
            lp[v][i] = malloc(s.len[i] * sizeof(double));
            lg[v][i] = malloc(s.len[i] * V * sizeof(float));
        }
    score(m0, &s, 1, lp[0], lg[0]);
    score(m1, &s, 1, lp[1], lg[1]);
    score(m1, &s, 0, lp[2], lg[2]);
    ys_error err = {0};
    assert_int_equal(model_set_threads(m1, 2, &err), 0);
    score(m1, &s, 1, lp[3], lg[3]);
    double wlp = 0, wlg = 0;
    for (size_t i = 0; i < s.n; i++) {
        size_t np = s.len[i] - 1;
        for (int v = 2; v < 4; v++) {
            assert_memory_equal(lp[1][i], lp[v][i], np * sizeof(double));
            assert_memory_equal(lg[1][i], lg[v][i], np * V * sizeof(float));
        }
        for (size_t p = 0; p < np; p++)
            wlp = fmax(wlp, fabs(lp[1][i][p] - lp[0][i][p]));
        for (size_t j = 0; j < np * V; j++)
            wlg = fmax(wlg, fabs((double)lg[1][i][j] - (double)lg[0][i][j]));
    }
    print_message("%s: int8 compute against the default: worst |Δ log-prob| %.3g, |Δ logit| %.3g\n", name, wlp, wlg);
    if (!(wlp <= 0.3 && wlg <= 0.4))
        fail_msg("%s: int8 compute off the default path by %g (log-prob), %g (logit)", name, wlp, wlg);
    assert_true(wlg > 0);   /* it is another function: were it equal, int8 compute would not be on */
    /* token by token (one row per product): the same logits */
    size_t last = s.n - 1, n = s.len[last];
    model_kv *kv = NULL;
    assert_int_equal(model_kv_new(m1, n, &kv, &err), 0);
    float *step = malloc(V * sizeof *step);
    for (size_t p = 0; p + 1 < n; p++) {
        assert_int_equal(model_step(m1, kv, &s.ids[last][p], 1, step, &err), 0);
        if (memcmp(step, lg[1][last] + p * V, V * sizeof *step))
            fail_msg("%s: position %zu decoded token by token differs from scoring", name, p);
    }
    model_kv_free(kv);
    free(step);
    for (int v = 0; v < 4; v++)
        for (size_t i = 0; i < s.n; i++)
            free(lp[v][i]), free(lg[v][i]);
    for (size_t i = 0; i < s.n; i++)
        free(s.ids[i]);
    model_free(m0), model_free(m1);
    cJSON_Delete(exp);
}

static void test_quantized_files(void **state)
{
    (void)state;
    check_file("qmix_llama");
    check_file("q8_qwen2");
    check_file("q4_gpt2");
}

/* Nothing quantized to compute in int8: a usage error, not the default
 * arithmetic under another name. */
static void test_float_file(void **state)
{
    (void)state;
    char file[1024];
    snprintf(file, sizeof file, "%s/tests/data/gguf/models/gpt2.gguf", YS_SOURCE_DIR);
    model_opts o = {.compute_int8 = 1};
    model *m = NULL;
    ys_error err = {0};
    assert_int_equal(model_load_opts(file, &o, &m, &err), YS_EUSAGE);
    assert_null(m);
    assert_non_null(strstr(err.msg, "int8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantized_files),
        cmocka_unit_test(test_float_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
