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
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "model_internal.h"

static const char *const FIXTURES[] = {"llama",  "llama_f16_tied", "llama_linear", "llama3_rope", "qwen2", "qwen3_yarn",
                                       "gpt2",   "pythia",         "gemma",        "gemma2",      "gemma3", "phi3"};
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

/* The folder a GGUF file stands for. Gemma 2 and 3 files cannot state
 * everything the tiny fixtures' configs say: llama.cpp's converter writes
 * no query_pre_attn_scalar (the query scale is 1/sqrt(head_dim) below
 * 27B) and no layer pattern (Gemma 3: every 6th layer global). The file
 * is compared with the fixture's weights under the config it does state:
 * a scratch folder with those two changes (and the same safetensors). */
static void folder_of(const char *fixture, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/tests/data/models/%s", YS_SOURCE_DIR, fixture);
    if (strcmp(fixture, "gemma2") && strcmp(fixture, "gemma3"))
        return;
    char src[1100], path[1200];   /* dir may be as long as cap (1024) */
    snprintf(src, sizeof src, "%s/config.json", dir);
    cJSON *cfg = ts_load_json(src);
    cJSON_ReplaceItemInObject(cfg, "query_pre_attn_scalar",
                              cJSON_CreateNumber(cJSON_GetObjectItem(cfg, "head_dim")->valuedouble));
    if (!strcmp(fixture, "gemma3")) {
        cJSON_DeleteItemFromObject(cfg, "layer_types");
        cJSON_ReplaceItemInObject(cfg, "sliding_window_pattern", cJSON_CreateNumber(6));
    }
    snprintf(path, sizeof path, "%s/%s", ts_scratch(), fixture);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/config.json", ts_scratch(), fixture);
    char *txt = cJSON_Print(cfg);
    ts_write_file(path, txt);
    free(txt);
    cJSON_Delete(cfg);
    snprintf(path, sizeof path, "%s/%s/model.safetensors", ts_scratch(), fixture);
    snprintf(src, sizeof src, "%s/model.safetensors", dir);
    unlink(path);
    assert_int_equal(symlink(src, path), 0);
    snprintf(dir, cap, "%s/%s", ts_scratch(), fixture);
}

static void test_same_bits_as_folder(void **state)
{
    (void)state;
    for (size_t f = 0; f < NFIX; f++) {
        char dir[1024], file[1024];
        folder_of(FIXTURES[f], dir, sizeof dir);
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

/* ---- Llama 3 rope_freqs -------------------------------------------------- */

typedef struct wb {
    unsigned char *p;
    size_t n;
} wb;
static void put(wb *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    assert_non_null(b->p);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void u32(wb *b, uint32_t v) { put(b, &v, 4); }
static void u64(wb *b, uint64_t v) { put(b, &v, 8); }
static void str(wb *b, const char *s) { u64(b, strlen(s)), put(b, s, strlen(s)); }
static void kvu(wb *b, const char *k, uint32_t v) { str(b, k), u32(b, GGUF_U32), u32(b, v); }
static void kvf(wb *b, const char *k, float v) { str(b, k), u32(b, GGUF_F32), put(b, &v, 4); }

/* the converter's factors (LlamaModel.generate_extra_tensors), in float */
static void l3_factors(float *f, int dim, float base, float factor, float lo, float hi, float old)
{
    for (int i = 0; i < dim / 2; i++) {
        float freq = 1.0f / powf(base, (float)(2 * i) / (float)dim), wl = 2.0f * 3.14159265f / freq;
        if (wl < old / hi)
            f[i] = 1;
        else if (wl > old / lo)
            f[i] = factor;
        else {
            float s = (old / wl - lo) / (hi - lo);
            f[i] = 1 / ((1 - s) / factor + s);
        }
    }
}

/* A metadata-only llama file (token_embd and rope_freqs) -> its config
 * (or, with want_rc < 0, that error and NULL). */
static cJSON *l3_config(const float *f, int dim, float base, int want_rc)
{
    wb b = {0};
    put(&b, "GGUF", 4), u32(&b, 3), u64(&b, 2), u64(&b, 7);
    str(&b, "general.architecture"), u32(&b, GGUF_STRING), str(&b, "llama");
    kvu(&b, "llama.embedding_length", (uint32_t)(2 * dim));
    kvu(&b, "llama.block_count", 1);
    kvu(&b, "llama.attention.head_count", 2);
    kvu(&b, "llama.feed_forward_length", 64);
    kvf(&b, "llama.rope.freq_base", base);
    kvu(&b, "llama.rope.dimension_count", (uint32_t)dim);
    str(&b, "token_embd.weight"), u32(&b, 2), u64(&b, (uint64_t)(2 * dim)), u64(&b, 4), u32(&b, GGML_F32), u64(&b, 0);
    size_t emb = (size_t)(2 * dim) * 4 * 4, off = (emb + 31) / 32 * 32;
    str(&b, "rope_freqs.weight"), u32(&b, 1), u64(&b, (uint64_t)(dim / 2)), u32(&b, GGML_F32), u64(&b, off);
    while (b.n % 32)
        put(&b, "", 1);
    unsigned char *z = calloc(1, off);
    put(&b, z, off);
    free(z);
    put(&b, f, (size_t)(dim / 2) * 4);
    const char *path = ts_path("l3.gguf");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(b.p, 1, b.n, fp);
    fclose(fp);
    free(b.p);
    cJSON *cfg = NULL;
    ys_error err = {0};
    int rc = ckpt_model_config(path, &cfg, &err);
    if (rc != want_rc)
        fail_msg("ckpt_model_config: %d, not %d: %s", rc, want_rc, err.msg);
    if (rc)
        assert_non_null(strstr(err.msg, "rope_freqs"));
    return cfg;
}

/* Llama 3.1 (factor 8) and 3.2 (factor 32) at their real sizes, and
 * other high_freq_factor / original_max values: the four parameters come
 * back; factors that follow no such rule are refused. */
static void test_llama3_rope_freqs(void **state)
{
    (void)state;
    static const struct { float factor, hi, old; } C[] = {{8, 4, 8192}, {32, 4, 8192}, {16, 2, 4096}, {4, 8, 2048}};
    float f[64];
    for (size_t c = 0; c < sizeof C / sizeof C[0]; c++) {
        l3_factors(f, 128, 500000.0f, C[c].factor, 1, C[c].hi, C[c].old);
        cJSON *cfg = l3_config(f, 128, 500000.0f, 0);
        const cJSON *rs = cJSON_GetObjectItem(cfg, "rope_scaling");
        assert_non_null(rs);
        assert_string_equal(cJSON_GetObjectItem(rs, "rope_type")->valuestring, "llama3");
        assert_true(ts_num(rs, "factor") == C[c].factor);
        assert_true(ts_num(rs, "low_freq_factor") == 1);
        assert_true(ts_num(rs, "high_freq_factor") == C[c].hi);
        assert_true(ts_num(rs, "original_max_position_embeddings") == C[c].old);
        assert_true(ts_num(cfg, "rope_theta") == 500000);
        cJSON_Delete(cfg);
    }
    /* all ones: no scaling */
    for (int i = 0; i < 64; i++)
        f[i] = 1;
    cJSON *cfg = l3_config(f, 128, 500000.0f, 0);
    assert_null(cJSON_GetObjectItem(cfg, "rope_scaling"));
    cJSON_Delete(cfg);
    /* a factor out of line */
    l3_factors(f, 128, 500000.0f, 8, 1, 4, 8192);
    f[20] *= 1.01f;
    assert_null(l3_config(f, 128, 500000.0f, YS_EINPUT));
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
        cmocka_unit_test(test_llama3_rope_freqs),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
