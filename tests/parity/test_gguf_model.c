/* test_gguf_model.c — models from GGUF files (checkpoint.h "GGUF files").
 *
 * tests/data/gguf/models/<fixture>.gguf are the tiny test checkpoints
 * (tests/data/models/<fixture>) written as llama.cpp's converter writes
 * them (tests/parity/gen/gen_gguf_models.py: keys, tensor names, llama's
 * q/k row order, GPT-2's transposed Conv1D weights, the stored F32, F16
 * or BF16 bytes). Loaded through the same engine, a file must give its
 * folder's log-probabilities and logits bit for bit: any difference is
 * the GGUF reading (a hyper-parameter, a name, a permutation, a shape).
 *
 * tests/data/gguf/quant/ holds quantized files (gen_gguf_quant.py) with
 * float64 reference logits computed from the exactly dequantized weights:
 * the engine, which keeps the blocks and dequantizes inside the product,
 * must be within 1e-4 of them for every tensor type. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "model.h"
#include "model_internal.h"

static const char *const FIXTURES[] = {"llama", "llama_f16_tied", "llama_linear", "qwen2", "qwen3_yarn", "gpt2"};
#define NFIX (sizeof FIXTURES / sizeof FIXTURES[0])

static model *load(const char *path)
{
    model *m = NULL;
    ys_error err = {0};
    int rc = model_load(path, &m, &err);
    if (rc)
        fail_msg("model_load(%s): %d %s", path, rc, err.msg);
    return m;
}

static void test_same_bits_as_folder(void **state)
{
    (void)state;
    for (size_t f = 0; f < NFIX; f++) {
        char dir[1024], file[1024];
        snprintf(dir, sizeof dir, "%s/tests/data/models/%s", YS_SOURCE_DIR, FIXTURES[f]);
        snprintf(file, sizeof file, "%s/tests/data/gguf/models/%s.gguf", YS_SOURCE_DIR, FIXTURES[f]);
        model *a = load(dir), *b = load(file);
        const model_info *ia = model_get_info(a), *ib = model_get_info(b);
        assert_string_equal(ia->arch, ib->arch);
        assert_int_equal(ia->vocab, ib->vocab);
        assert_int_equal(ia->hidden, ib->hidden);
        assert_int_equal(ia->layers, ib->layers);
        assert_int_equal(ia->heads, ib->heads);
        assert_int_equal(ia->kv_heads, ib->kv_heads);
        assert_int_equal(ia->head_dim, ib->head_dim);
        assert_int_equal(ia->ffn, ib->ffn);
        /* two sequences, one long enough to reach far RoPE positions */
        int32_t s0[40], s1[7] = {3, 1, 4, 1, 5, 9, 2};
        for (int i = 0; i < 40; i++)
            s0[i] = (int32_t)((i * 37 + 11) % ia->vocab);
        const int32_t *seqs[2] = {s0, s1};
        size_t lens[2] = {40, 7};
        double lpa0[39], lpa1[6], lpb0[39], lpb1[6];
        double *lpa[2] = {lpa0, lpa1}, *lpb[2] = {lpb0, lpb1};
        size_t V = (size_t)ia->vocab;
        float *la0 = malloc(39 * V * sizeof(float)), *lb0 = malloc(39 * V * sizeof(float));
        float *la1 = malloc(6 * V * sizeof(float)), *lb1 = malloc(6 * V * sizeof(float));
        float *la[2] = {la0, la1}, *lb[2] = {lb0, lb1};
        ys_error err = {0};
        if (model_logprobs(a, seqs, lens, 2, NULL, lpa, NULL, la, &err) ||
            model_logprobs(b, seqs, lens, 2, NULL, lpb, NULL, lb, &err))
            fail_msg("%s: model_logprobs: %s", FIXTURES[f], err.msg);
        for (int s = 0; s < 2; s++) {
            for (size_t i = 0; i + 1 < lens[s]; i++)
                if (memcmp(&lpa[s][i], &lpb[s][i], sizeof(double)))
                    fail_msg("%s: sequence %d log-prob %zu: folder %.17g, GGUF %.17g", FIXTURES[f], s, i, lpa[s][i],
                             lpb[s][i]);
            if (memcmp(la[s], lb[s], (lens[s] - 1) * V * sizeof(float)))
                fail_msg("%s: sequence %d: the logits differ", FIXTURES[f], s);
        }
        free(la0), free(lb0), free(la1), free(lb1);
        model_free(a);
        model_free(b);
    }
}

/* The q/k reordering is really undone: a file whose q rows are left in
 * llama.cpp's order (read as qwen2, which is stored unpermuted) must give
 * other numbers — else the bitwise test above could not tell. */
static void test_permutation_matters(void **state)
{
    (void)state;
    char file[1024];
    snprintf(file, sizeof file, "%s/tests/data/gguf/models/llama.gguf", YS_SOURCE_DIR);
    ckpt *c = NULL;
    ys_error err = {0};
    assert_int_equal(ckpt_open(file, &c, &err), 0);
    assert_non_null(ckpt_gguf(c));
    const ckpt_tensor *q = ckpt_get(c, "model.layers.0.self_attn.q_proj.weight");
    assert_non_null(q);
    const gguf_tensor *gq = gguf_find_tensor(ckpt_gguf(c), "blk.0.attn_q.weight");
    assert_non_null(gq);
    assert_int_equal(q->shape[0], gq->ne[1]);
    assert_int_equal(q->shape[1], gq->ne[0]);
    /* row 1 of the folder's q is stored row 2 (head_dim 8: pairs (0,4), (1,5), ...) */
    size_t row = (size_t)q->shape[1] * sizeof(float);
    assert_memory_equal((const char *)q->raw + 1 * row, (const char *)gq->data + 2 * row, row);
    assert_memory_equal((const char *)q->raw + 4 * row, (const char *)gq->data + 1 * row, row);
    assert_true(memcmp((const char *)q->raw + row, (const char *)gq->data + row, row) != 0);
    const cJSON *cfg = ckpt_config(c);
    assert_true(cJSON_GetObjectItem(cfg, "rms_norm_eps")->valuedouble == 1e-6);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cfg, "tie_word_embeddings")));
    ckpt_close(c);
}

static void check_quantized(const char *name)
{
    char file[1024], json[1024];
    snprintf(file, sizeof file, "%s/tests/data/gguf/quant/%s.gguf", YS_SOURCE_DIR, name);
    snprintf(json, sizeof json, "%s/tests/data/gguf/quant/%s.json", YS_SOURCE_DIR, name);
    cJSON *exp = ts_load_json(json);
    model *m = load(file);
    size_t V = (size_t)model_get_info(m)->vocab;
    assert_int_equal(V, (size_t)ts_num(exp, "vocab"));
    /* the matrices stay blocks (no fp32 copy): the packed weights are GM_GGML */
    assert_int_equal(m->layers[0].pq.dtype, GM_GGML);
    assert_int_equal(m->layers[0].pdown.dtype, GM_GGML);
    assert_int_equal(m->phead.dtype, GM_GGML);
    assert_true(m->layers[0].pq.rowb < m->layers[0].pq.k * 2);
    double worst = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(exp, "sequences")) {
        const cJSON *ids = cJSON_GetObjectItem(e, "ids"), *lg = cJSON_GetObjectItem(e, "logits");
        size_t n = (size_t)cJSON_GetArraySize(ids);
        int32_t *seq = malloc(n * sizeof *seq);
        for (size_t i = 0; i < n; i++)
            seq[i] = (int32_t)cJSON_GetArrayItem(ids, (int)i)->valuedouble;
        assert_int_equal((size_t)cJSON_GetArraySize(lg), (n - 1) * V);
        double *lp = malloc(n * sizeof *lp);
        float *logits = malloc((n - 1) * V * sizeof *logits);
        const int32_t *seqs[1] = {seq};
        double *lps[1] = {lp};
        float *lgs[1] = {logits};
        ys_error err = {0};
        if (model_logprobs(m, seqs, &n, 1, NULL, lps, NULL, lgs, &err))
            fail_msg("%s: %s", name, err.msg);
        size_t i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, lg) {
            double d = fabs(logits[i] - v->valuedouble);
            worst = d > worst ? d : worst;
            if (d > 1e-4)
                fail_msg("%s: logit %zu (position %zu): engine %.9g, reference %.9g", name, i, i / V, (double)logits[i],
                         v->valuedouble);
            i++;
        }
        free(seq), free(lp), free(logits);
    }
    print_message("%s: worst |logit - float64 reference| %.3g\n", name, worst);
    /* --quantize does not apply to blocks already quantized */
    model_opts o = {.quantize = MODEL_Q_INT8};
    model *q = NULL;
    ys_error err = {0};
    assert_int_equal(model_load_opts(file, &o, &q, &err), YS_EUSAGE);
    assert_null(q);
    model_free(m);
    cJSON_Delete(exp);
}

/* every quantized type (qmix_llama), a tied quantized head with biases
 * (q8_qwen2), GPT-2's fused c_attn split by rows of blocks and a quantized
 * position embedding (q4_gpt2) */
static void test_quantized(void **state)
{
    (void)state;
    check_quantized("qmix_llama");
    check_quantized("q8_qwen2");
    check_quantized("q4_gpt2");
}

/* Files the engine cannot run as asked are refused, naming what. */
static void test_refusals(void **state)
{
    (void)state;
    const char *path = ts_path("bad.gguf");
    char cmd[2048];
    /* the container's own errors come through ckpt_open and model_load */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("GGUF\3\0\0\0", 1, 8, fp);
    for (int i = 0; i < 16; i++)
        fputc(0, fp);
    fclose(fp);
    model *m = NULL;
    ys_error err = {0};
    /* no tensors, no architecture */
    assert_int_equal(model_load(path, &m, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "general.architecture"));
    /* a truncated model file names the tensor */
    snprintf(cmd, sizeof cmd, "head -c 60000 '%s/tests/data/gguf/models/llama.gguf' > '%s'", YS_SOURCE_DIR, path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(model_load(path, &m, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "tensor \"blk."));
    assert_non_null(strstr(err.msg, "past the end"));
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bits_as_folder),
        cmocka_unit_test(test_permutation_matters),
        cmocka_unit_test(test_quantized),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
