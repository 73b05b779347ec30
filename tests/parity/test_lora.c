/* test_lora.c — PEFT LoRA adapters merged at load (checkpoint.h,
 * ckpt_open_adapted; lora.h) against float64 PyTorch references of the
 * adapted models (tests/data/models/lora_<name>/expected.json, written by
 * tests/parity/gen/gen_lora.py): log-probabilities within 1e-4 and greedy
 * continuations identical through model_load_adapter; the release of the
 * merged copies; and the adapters that must be refused. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "encoder.h"
#include "model.h"
#include "seq2seq.h"

static const char *const ADAPTERS[] = {"lora_llama", "lora_gpt2", "lora_qwen2",
                                       /* on gen_arch_models.py's bases: fused and renamed modules */
                                       "lora_phi3", "lora_pythia", "lora_qwen3", "lora_gemma2"};
#define NADAPTERS (sizeof ADAPTERS / sizeof ADAPTERS[0])
#define TOL 1e-4

static const char *model_dir(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/tests/data/models/%s", YS_SOURCE_DIR, name);
    return buf[k];
}

/* The adapter's base folder, as expected.json names it (relative to it). */
static void base_of(const char *adapter, const cJSON *exp, char *out, size_t cap)
{
    const cJSON *b = cJSON_GetObjectItem(exp, "base");
    assert_true(cJSON_IsString(b));
    snprintf(out, cap, "%s/%s", model_dir(adapter), b->valuestring);
}

static void test_parity(void **state)
{
    (void)state;
    for (size_t a = 0; a < NADAPTERS; a++) {
        char path[1200], base[1200];
        snprintf(path, sizeof path, "%s/expected.json", model_dir(ADAPTERS[a]));
        cJSON *exp = ts_load_json(path);
        base_of(ADAPTERS[a], exp, base, sizeof base);
        model *m = NULL;
        ys_error err = {0};
        if (model_load_adapter(base, model_dir(ADAPTERS[a]), &m, &err))
            fail_msg("%s: model_load_adapter: %s", ADAPTERS[a], err.msg);
        /* every sequence in one batch */
        const int32_t *seqs[16];
        size_t lens[16], n = 0;
        double *lp[16];
        uint8_t *gr[16];
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(exp, "sequences")) {
            const cJSON *ids = cJSON_GetObjectItem(s, "ids"), *v;
            int32_t *x = calloc((size_t)cJSON_GetArraySize(ids), sizeof *x);
            size_t k = 0;
            cJSON_ArrayForEach(v, ids) x[k++] = (int32_t)v->valuedouble;
            seqs[n] = x;
            lens[n] = k;
            lp[n] = calloc(k, sizeof **lp);
            gr[n] = calloc(k, 1);
            n++;
        }
        if (model_logprobs(m, seqs, lens, n, NULL, lp, gr, NULL, &err))
            fail_msg("%s: model_logprobs: %s", ADAPTERS[a], err.msg);
        double maxd = 0;
        size_t i = 0, ntok = 0;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(exp, "sequences")) {
            const cJSON *v;
            size_t t = 0;
            cJSON_ArrayForEach(v, cJSON_GetObjectItem(s, "logprobs")) {
                double d = fabs(lp[i][t] - v->valuedouble);
                maxd = d > maxd ? d : maxd;
                if (d > TOL)
                    fail_msg("%s: sequence %zu token %zu: logprob %.9f, reference %.9f", ADAPTERS[a], i, t + 1,
                             lp[i][t], v->valuedouble);
                t++, ntok++;
            }
            t = 0;
            cJSON_ArrayForEach(v, cJSON_GetObjectItem(s, "greedy")) {
                if (gr[i][t] != (uint8_t)v->valuedouble)
                    fail_msg("%s: sequence %zu token %zu: greedy flag %d, reference %d", ADAPTERS[a], i, t + 1,
                             gr[i][t], (int)v->valuedouble);
                t++;
            }
            i++;
        }
        /* greedy generation, KV-cached */
        const cJSON *g = cJSON_GetObjectItem(exp, "generate"), *v;
        int32_t prompt[64], want[64], out[64];
        size_t np = 0, nw = 0, no = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(g, "prompt")) prompt[np++] = (int32_t)v->valuedouble;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(g, "tokens")) want[nw++] = (int32_t)v->valuedouble;
        if (model_generate(m, prompt, np, nw, NULL, NULL, NULL, out, &no, &err))
            fail_msg("%s: model_generate: %s", ADAPTERS[a], err.msg);
        assert_int_equal(no, nw);
        for (size_t k = 0; k < nw; k++)
            if (out[k] != want[k])
                fail_msg("%s: generated token %zu is %d, reference %d", ADAPTERS[a], k, out[k], want[k]);
        print_message("%-11s %zu tokens: max |logprob diff| %.2e (the adapter moves them up to %.2f); greedy "
                      "continuation identical\n", ADAPTERS[a], ntok, maxd,
                      cJSON_GetObjectItem(exp, "max_logprob_change")->valuedouble);
        for (size_t k = 0; k < n; k++) {
            free((void *)seqs[k]);
            free(lp[k]);
            free(gr[k]);
        }
        model_free(m);
        cJSON_Delete(exp);
    }
}

/* ---- a small safetensors writer, for adapters that must be refused ----- */

typedef struct st_tensor {
    const char *name, *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} st_tensor;

static void write_st(const char *path, const st_tensor *t, size_t n)
{
    cJSON *h = cJSON_CreateObject();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name), *sh = cJSON_AddArrayToObject(e, "shape"),
              *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + t[i].bytes)));
        off += t[i].bytes;
    }
    char *hs = cJSON_PrintUnformatted(h);
    size_t hl = strlen(hs), pad = (8 - hl % 8) % 8;
    uint64_t len = hl + pad;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(&len, 8, 1, f);
    fwrite(hs, 1, hl, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    for (size_t i = 0; i < n; i++)
        fwrite(t[i].data, 1, t[i].bytes, f);
    fclose(f);
    free(hs);
    cJSON_Delete(h);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *s = ts_read_file(from, &n);
    assert_non_null(s);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    fwrite(s, 1, n, f);
    fclose(f);
    free(s);
}

/* A scratch adapter folder `name`: lora_llama's weights with its config
 * edited by `edit` ("key=json" pairs separated by ';'), or NULL for none. */
static const char *scratch_adapter(const char *name, const char *edit)
{
    static char dir[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(dir[k], sizeof dir[k], "%s/%s", ts_scratch(), name);
    mkdir(dir[k], 0755);
    char from[1200], to[1200];
    snprintf(from, sizeof from, "%s/adapter_model.safetensors", model_dir("lora_llama"));
    snprintf(to, sizeof to, "%s/adapter_model.safetensors", dir[k]);
    copy_file(from, to);
    snprintf(from, sizeof from, "%s/adapter_config.json", model_dir("lora_llama"));
    cJSON *c = ts_load_json(from);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", edit ? edit : "");
    for (char *kv = strtok(buf, ";"); kv; kv = strtok(NULL, ";")) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = 0;
        cJSON *v = cJSON_Parse(eq + 1);
        assert_non_null(v);
        cJSON_DeleteItemFromObject(c, kv);
        cJSON_AddItemToObject(c, kv, v);
    }
    /* the base is named by absolute path: the scratch folder is elsewhere */
    cJSON_DeleteItemFromObject(c, "base_model_name_or_path");
    cJSON_AddStringToObject(c, "base_model_name_or_path", model_dir("llama"));
    char *txt = cJSON_Print(c);
    snprintf(to, sizeof to, "%s/adapter_config.json", dir[k]);
    ts_write_file(to, txt);
    free(txt);
    cJSON_Delete(c);
    return dir[k];
}

/* model_load_adapter must fail with a message containing `want`. */
static void refused(const char *base, const char *adapter, const char *want)
{
    model *m = NULL;
    ys_error err = {0};
    int rc = model_load_adapter(base, adapter, &m, &err);
    if (rc == 0) {
        model_free(m);
        fail_msg("%s on %s: loaded, expected an error containing \"%s\"", adapter, base, want);
    }
    assert_null(m);
    if (!strstr(err.msg, want))
        fail_msg("%s on %s: error \"%s\" does not contain \"%s\"", adapter, base, err.msg, want);
}

static void test_refused(void **state)
{
    (void)state;
    char llama[1024];
    snprintf(llama, sizeof llama, "%s", model_dir("llama"));
    /* pickled weights only */
    const char *bin = scratch_adapter("bin_only", NULL);
    char p[1200];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", bin);
    unlink(p);
    snprintf(p, sizeof p, "%s/adapter_model.bin", bin);
    ts_write_file(p, "PK\x03\x04 not read");
    refused(llama, bin, "adapter_model.bin: pickled PyTorch weights are not read");
    /* the config's fields */
    refused(llama, scratch_adapter("peft_type", "peft_type=\"PREFIX_TUNING\""),
            "peft_type \"PREFIX_TUNING\" is not supported");
    refused(llama, scratch_adapter("dora", "use_dora=true"), "DoRA (use_dora) is not supported");
    refused(llama, scratch_adapter("bias", "bias=\"all\""), "bias \"all\" is not supported");
    refused(llama, scratch_adapter("rank", "r=3;rank_pattern={}"), "but adapter_config.json says r = 3");
    refused(llama, scratch_adapter("unselected", "target_modules=[\"q_proj\"]"), "do not select it");
    refused(llama, scratch_adapter("regex_layers", "target_modules=\".*q_proj\";layers_to_transform=[0]"),
            "cannot be used when target_modules is a regular expression");
    refused(llama, scratch_adapter("alora", "alora_invocation_tokens=[5,6]"),
            "Activated LoRA (alora_invocation_tokens) is not supported");
    refused(llama, scratch_adapter("arrow", "arrow_config={\"top_k\":3}"), "Arrow routing (arrow_config)");
    /* another base: mistral's q_proj is [64, 32], the adapter's [32, 32] */
    refused(model_dir("mistral"), model_dir("lora_llama"), "shape mismatch");
    /* no such folder */
    refused(llama, model_dir("llama"), "no adapter_config.json");
}

/* Qwen3's q_norm is an RMSNorm (a [head_dim] weight), never a LoRA target:
 * an adapter that claims one is refused, not merged into the norm. */
static void test_norm_target(void **state)
{
    (void)state;
    const char *ad = scratch_adapter("qnorm", "target_modules=[\"q_norm\"];rank_pattern={};alpha_pattern={};r=2");
    float A[2 * 16] = {0}, B[16 * 2] = {0};
    st_tensor at[2] = {{"base_model.model.model.layers.0.self_attn.q_norm.lora_A.weight", "F32", 2, {2, 16}, A,
                        sizeof A},
                       {"base_model.model.model.layers.0.self_attn.q_norm.lora_B.weight", "F32", 2, {16, 2}, B,
                        sizeof B}};
    char p[1300];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", ad);
    write_st(p, at, 2);
    refused(model_dir("qwen3_yarn"), ad, "shape mismatch");
}

/* An adapted tensor the model never reads, and a target the base lacks:
 * a base built here with one extra [4, 32] matrix, beside llama's. */
static void test_unused_target(void **state)
{
    (void)state;
    ckpt *c;
    ys_error err = {0};
    assert_int_equal(ckpt_open(model_dir("llama"), &c, &err), 0);
    size_t n = ckpt_count(c);
    st_tensor *t = calloc(n + 1, sizeof *t);
    static const char *const DT[] = {[CKPT_F32] = "F32", [CKPT_F16] = "F16", [CKPT_BF16] = "BF16"};
    for (size_t i = 0; i < n; i++) {
        const ckpt_tensor *x = ckpt_at(c, i);
        t[i] = (st_tensor){x->name, DT[x->dtype], x->ndim, {x->shape[0], x->shape[1]}, x->raw, x->numel * 4};
        assert_int_equal(x->dtype, CKPT_F32);
    }
    float extra[4 * 32], A[2 * 32], B[4 * 2];
    for (size_t i = 0; i < 4 * 32; i++)
        extra[i] = (float)i / 128.0f;
    for (size_t i = 0; i < 2 * 32; i++)
        A[i] = 0.01f * (float)i;
    for (size_t i = 0; i < 8; i++)
        B[i] = 0.5f;
    t[n] = (st_tensor){"model.extra_proj.weight", "F32", 2, {4, 32}, extra, sizeof extra};
    char dir[1200], p[1300];
    snprintf(dir, sizeof dir, "%s/base_extra", ts_scratch());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, t, n + 1);
    snprintf(p, sizeof p, "%s/config.json", dir);
    char from[1200];
    snprintf(from, sizeof from, "%s/config.json", model_dir("llama"));
    copy_file(from, p);
    ckpt_close(c);
    free(t);

    const char *ad = scratch_adapter("unused", "target_modules=[\"extra_proj\"];rank_pattern={};alpha_pattern={};r=2");
    st_tensor at[2] = {{"base_model.model.model.extra_proj.lora_A.weight", "F32", 2, {2, 32}, A, sizeof A},
                       {"base_model.model.model.extra_proj.lora_B.weight", "F32", 2, {4, 2}, B, sizeof B}};
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", ad);
    write_st(p, at, 2);
    refused(dir, ad, "targets model.extra_proj.weight, which this model (");
    refused(dir, ad, "never reads");
    /* the checkpoint level merges it all the same */
    assert_int_equal(ckpt_open_adapted(dir, ad, &c, &err), 0);
    const ckpt_tensor *x = ckpt_get(c, "model.extra_proj.weight");
    assert_int_equal(x->dtype, CKPT_F32);
    /* W + (alpha / r) B A, alpha 8 and r 2 from the config */
    double want = extra[5] + 4.0 * (0.5 * A[5] + 0.5 * A[32 + 5]);
    ts_close(x->data[5], want, 1e-6, "merged value", "extra_proj[0, 5]");
    ckpt_close(c);
    /* the same module on llama itself: the base has no such tensor */
    refused(model_dir("llama"), ad, "has no tensor model.extra_proj.weight");
}

/* Merged copies are freed once released (checkpoint.h): at once by a
 * release covering the copy, else when ckpt_adapter_check finds the
 * released ranges covering it (GPT-2's c_attn: three strided spans). */
static void test_release(void **state)
{
    (void)state;
    ckpt *c;
    ys_error err = {0};
    assert_int_equal(ckpt_open_adapted(model_dir("gpt2"), model_dir("lora_gpt2"), &c, &err), 0);
    assert_string_equal(ckpt_adapter_dir(c), model_dir("lora_gpt2"));
    const ckpt_tensor *qkv = ckpt_get(c, "h.1.attn.c_attn.weight"), *fc = ckpt_get(c, "h.1.mlp.c_fc.weight");
    const ckpt_tensor *fc0 = ckpt_get(c, "h.0.mlp.c_fc.weight");
    assert_int_equal(qkv->dtype, CKPT_F32);
    assert_int_equal(fc0->dtype, CKPT_F32);   /* layer 0 is not adapted: the stored tensor */
    assert_ptr_not_equal(qkv->data, NULL);
    /* not asked for yet: the check names the first unused target */
    assert_int_not_equal(ckpt_adapter_check(c, &err), 0);
    assert_non_null(strstr(err.msg, "never reads"));
    ckpt_src q, f;
    assert_int_equal(ckpt_need_src(c, "h.1.attn.c_attn.weight", 2, 32, 96, &q, &err), 0);
    assert_int_equal(ckpt_need_src(c, "h.1.mlp.c_fc.weight", 2, 32, 128, &f, &err), 0);
    assert_int_equal(q.dtype, CKPT_F32);
    assert_ptr_equal(q.p, qkv->data);
    /* c_fc released whole: freed at once */
    assert_int_equal(ckpt_release(c, f.p, fc->numel * 4), fc->numel * 4);
    assert_null(fc->data);
    /* c_attn [32, 96] as q, k, v column ranges: (31 * 96 + 32) floats each */
    size_t span = (31 * 96 + 32) * 4;
    for (int j = 0; j < 3; j++)
        assert_int_equal(ckpt_release(c, (const char *)q.p + j * 32 * 4, span), 0);
    assert_non_null(qkv->data);   /* another job might still be reading it */
    assert_int_equal(ckpt_adapter_check(c, &err), 0);
    assert_null(qkv->data);
    ckpt_close(c);

    /* an nn.Linear packed in row slices: disjoint releases free it */
    assert_int_equal(ckpt_open_adapted(model_dir("llama"), model_dir("lora_llama"), &c, &err), 0);
    const ckpt_tensor *wq = ckpt_get(c, "model.layers.0.self_attn.q_proj.weight");
    assert_int_equal(ckpt_need_src(c, wq->name, 2, 32, 32, &q, &err), 0);
    assert_int_equal(ckpt_release(c, (const char *)q.p + 16 * 32 * 4, 16 * 32 * 4), 0);
    assert_non_null(wq->data);
    assert_int_equal(ckpt_release(c, q.p, 16 * 32 * 4), 32 * 32 * 4);
    assert_null(wq->data);
    ckpt_close(c);
}

static void test_name_warning(void **state)
{
    (void)state;
    char w[512];
    ckpt_adapter_warning(model_dir("llama"), model_dir("lora_llama"), w, sizeof w);
    assert_string_equal(w, "");
    ckpt_adapter_warning(model_dir("mistral"), model_dir("lora_llama"), w, sizeof w);
    assert_non_null(strstr(w, "was trained on \"../llama\""));
    /* the name is also matched by its last component (a hub id) */
    const char *ad = scratch_adapter("hub", NULL);
    char p[1200];
    snprintf(p, sizeof p, "%s/adapter_config.json", ad);
    cJSON *c = ts_load_json(p);
    cJSON_DeleteItemFromObject(c, "base_model_name_or_path");
    cJSON_AddStringToObject(c, "base_model_name_or_path", "someorg/llama");
    char *txt = cJSON_Print(c);
    ts_write_file(p, txt);
    free(txt);
    cJSON_Delete(c);
    ckpt_adapter_warning(model_dir("llama"), ad, w, sizeof w);
    assert_string_equal(w, "");
    ckpt_adapter_warning(model_dir("qwen2"), ad, w, sizeof w);
    assert_string_not_equal(w, "");
}

/* An adapter folder for base `base_dir` adapting every 2-D "<...>.<sfx>.weight"
 * of the checkpoint (sfx in `targets`), r 2, A a fixed pattern, B all `b`
 * (0: the adapter changes nothing). */
static const char *make_adapter(const char *name, const char *base_dir, const char *const *targets, size_t nt, float b)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", ts_scratch(), name);
    mkdir(dir, 0755);
    ckpt *c;
    ys_error err = {0};
    assert_int_equal(ckpt_open(base_dir, &c, &err), 0);
    st_tensor t[256];
    float *bufs[256];
    char *names[256];
    size_t n = 0;
    cJSON *tm = cJSON_CreateArray();
    for (size_t k = 0; k < nt; k++)
        cJSON_AddItemToArray(tm, cJSON_CreateString(targets[k]));
    for (size_t i = 0; i < ckpt_count(c); i++) {
        const ckpt_tensor *x = ckpt_at(c, i);
        size_t len = strlen(x->name);
        int hit = 0;
        for (size_t k = 0; k < nt && !hit; k++) {
            char sfx[64];
            snprintf(sfx, sizeof sfx, ".%s.weight", targets[k]);
            hit = len > strlen(sfx) && !strcmp(x->name + len - strlen(sfx), sfx);
        }
        if (!hit || x->ndim != 2)
            continue;
        int64_t out = x->shape[0], in = x->shape[1];
        for (int ab = 0; ab < 2; ab++) {
            assert_true(n < 256);
            size_t cnt = (size_t)(ab ? out * 2 : 2 * in);
            bufs[n] = malloc(cnt * sizeof(float));
            for (size_t j = 0; j < cnt; j++)
                bufs[n][j] = ab ? b : 0.05f * (float)((j * 7) % 11) - 0.25f;
            names[n] = malloc(len + 64);
            snprintf(names[n], len + 64, "base_model.model.%.*s.lora_%c.weight", (int)(len - 7), x->name, ab ? 'B' : 'A');
            t[n] = (st_tensor){names[n], "F32", 2, {ab ? out : 2, ab ? 2 : in}, bufs[n], cnt * sizeof(float)};
            n++;
        }
    }
    ckpt_close(c);
    assert_true(n > 0);
    char p[1200];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    write_st(p, t, n);
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "peft_type", "LORA");
    cJSON_AddNumberToObject(cfg, "r", 2);
    cJSON_AddNumberToObject(cfg, "lora_alpha", 4);
    cJSON_AddItemToObject(cfg, "target_modules", tm);
    char *txt = cJSON_Print(cfg);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    ts_write_file(p, txt);
    free(txt);
    cJSON_Delete(cfg);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]), free(names[i]);
    return dir;
}

/* The encoder and encoder-decoder engines take adapters through the same
 * checkpoint code (no float64 reference for them yet): an adapter whose B
 * is zero gives the base's numbers bit for bit (the merged copies are laid
 * out as the stored tensors), a non-zero one changes them, and every
 * target is read (else the load would fail). */
static void test_other_engines(void **state)
{
    (void)state;
    static const char *const bert_t[] = {"query", "value", "dense"};
    const int32_t ids[] = {2, 7, 11, 5, 3};
    const int32_t *seqs[] = {ids};
    size_t lens[] = {5};
    float base[8], zero[8], moved[8];
    float *lg[] = {base};
    enc_model *e;
    ys_error err = {0};
    assert_int_equal(enc_load(model_dir("bert_cls"), &e, &err), 0);
    int L = enc_get_info(e)->num_labels;
    assert_true(L <= 8);
    assert_int_equal(enc_classify(e, seqs, NULL, lens, 1, lg, &err), 0);
    enc_free(e);
    const char *ad = make_adapter("bert0", model_dir("bert_cls"), bert_t, 3, 0.0f);
    if (enc_load_adapter(model_dir("bert_cls"), ad, &e, &err))
        fail_msg("bert adapter: %s", err.msg);
    lg[0] = zero;
    assert_int_equal(enc_classify(e, seqs, NULL, lens, 1, lg, &err), 0);
    enc_free(e);
    assert_memory_equal(base, zero, (size_t)L * sizeof(float));
    ad = make_adapter("bert1", model_dir("bert_cls"), bert_t, 3, 0.5f);
    assert_int_equal(enc_load_adapter(model_dir("bert_cls"), ad, &e, &err), 0);
    lg[0] = moved;
    assert_int_equal(enc_classify(e, seqs, NULL, lens, 1, lg, &err), 0);
    enc_free(e);
    assert_true(memcmp(base, moved, (size_t)L * sizeof(float)) != 0);

    static const char *const t5_t[] = {"q", "v", "wo"};
    const int32_t src[] = {5, 9, 13, 1}, dec[] = {0, 4, 8, 12};
    const int32_t *ss[] = {src}, *ds[] = {dec};
    size_t sl[] = {4}, dl[] = {4};
    double lb[4], lz[4], lm[4];
    double *lp[] = {lb};
    s2s_model *m;
    assert_int_equal(s2s_load(model_dir("t5"), &m, &err), 0);
    assert_int_equal(s2s_logprobs(m, ss, sl, ds, dl, 1, lp, NULL, &err), 0);
    s2s_free(m);
    ad = make_adapter("t50", model_dir("t5"), t5_t, 3, 0.0f);
    if (s2s_load_adapter(model_dir("t5"), ad, &m, &err))
        fail_msg("t5 adapter: %s", err.msg);
    lp[0] = lz;
    assert_int_equal(s2s_logprobs(m, ss, sl, ds, dl, 1, lp, NULL, &err), 0);
    s2s_free(m);
    assert_memory_equal(lb, lz, 3 * sizeof(double));
    ad = make_adapter("t51", model_dir("t5"), t5_t, 3, 0.5f);
    assert_int_equal(s2s_load_adapter(model_dir("t5"), ad, &m, &err), 0);
    lp[0] = lm;
    assert_int_equal(s2s_logprobs(m, ss, sl, ds, dl, 1, lp, NULL, &err), 0);
    s2s_free(m);
    assert_true(memcmp(lb, lm, 3 * sizeof(double)) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_norm_target),
        cmocka_unit_test(test_unused_target),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_name_warning),
        cmocka_unit_test(test_other_engines),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
