/* test_checkpoint.c — safetensors validation: every malformed file is a
 * clear error naming the file and tensor, never a crash (run under ASan in
 * the suite). Broken files are written into a fresh temporary folder. */
#include "testsupport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"

typedef struct tmp { char dir[256]; } tmp;

static void tmp_new(tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ys_ckpt_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static void tmp_free(tmp *t)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
}

static void write_bytes(const tmp *t, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_text(const tmp *t, const char *name, const char *text)
{
    write_bytes(t, name, text, strlen(text));
}

/* A safetensors file: 8-byte little-endian header length, header, data.
 * hlen_override != 0 writes that length instead of the real one. */
static void write_st(const tmp *t, const char *name, const char *header, const void *data, size_t n,
                     uint64_t hlen_override)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + n + 1);
    uint64_t v = hlen_override ? hlen_override : hl;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(v >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n)
        memcpy(buf + 8 + hl, data, n);
    write_bytes(t, name, buf, 8 + hl + n);
    free(buf);
}

static const char CONFIG[] = "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 4}";

/* Open t->dir expecting failure `code` with every needle in the message. */
static void expect_fail(const tmp *t, int code, const char *needle1, const char *needle2)
{
    ckpt *c = NULL;
    ys_error err = {0};
    int rc = ckpt_open(t->dir, &c, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s)", code, rc, err.msg);
    assert_null(c);
    if (needle1 && !strstr(err.msg, needle1))
        fail_msg("message lacks \"%s\": %s", needle1, err.msg);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("message lacks \"%s\": %s", needle2, err.msg);
}

static void test_valid_and_conversion(void **state)
{
    (void)state;
    tmp t;
    tmp_new(&t);
    write_text(&t, "config.json", CONFIG);
    /* F16: 1, -2.5, smallest subnormal 2^-24, +inf; BF16: 1, -3; F32 [2]; I32 [1] */
    unsigned char data[8 + 4 + 8 + 4];
    uint16_t h[] = {0x3c00, 0xc100, 0x0001, 0x7c00}, b[] = {0x3f80, 0xc040};
    float f[] = {0.5f, -7.0f};
    int32_t i32 = 12345;
    memcpy(data, h, 8);
    memcpy(data + 8, b, 4);
    memcpy(data + 12, f, 8);
    memcpy(data + 20, &i32, 4);
    const char *hdr =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
        "\"d\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[20,24]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[24,24]}}   ";
    write_st(&t, "model.safetensors", hdr, data, sizeof data, 0);
    ckpt *c;
    ys_error err = {0};
    int rc = ckpt_open(t.dir, &c, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(ckpt_count(c), 5);
    const ckpt_tensor *a = ckpt_get(c, "a");
    assert_non_null(a);
    assert_int_equal(a->dtype, CKPT_F16);
    assert_int_equal(a->ndim, 2);
    /* half-precision views are made when asked for, not at open; the
     * stored bytes are there from the start */
    assert_null(a->data);
    assert_non_null(a->raw);
    ckpt_src src;
    assert_int_equal(ckpt_need_src(c, "a", 2, -1, -1, &src, &err), 0);   /* no conversion either */
    assert_true(src.p == a->raw && src.dtype == CKPT_F16 && a->data == NULL);
    const ckpt_tensor *req;
    int64_t any[2] = {-1, -1};
    assert_int_equal(ckpt_require(c, "a", 2, any, &req, &err), 0);
    assert_true(req == a && a->data != NULL);
    assert_true(a->data[0] == 1.0f && a->data[1] == -2.5f && a->data[2] == 0x1p-24f && isinf(a->data[3]));
    const ckpt_tensor *bt = ckpt_get(c, "b");
    assert_int_equal(ckpt_require(c, "b", bt->ndim, any, &req, &err), 0);
    assert_true(bt->data[0] == 1.0f && bt->data[1] == -3.0f);
    const ckpt_tensor *ct = ckpt_get(c, "c");
    assert_int_equal(ckpt_require(c, "c", ct->ndim, any, &req, &err), 0);
    assert_true(ct->data[0] == 0.5f && ct->data[1] == -7.0f);
    assert_null(ckpt_get(c, "d")->data);        /* integers: no float view */
    assert_int_equal(ckpt_require(c, "d", ckpt_get(c, "d")->ndim, any, &req, &err), YS_EINPUT);
    assert_int_equal(ckpt_get(c, "e")->numel, 0);
    assert_null(ckpt_get(c, "zz"));
    const ckpt_tensor *out;
    int64_t want[] = {2};
    assert_int_equal(ckpt_require(c, "d", 0, want, &out, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "not a float type"));
    assert_int_equal(ckpt_require(c, "c", 1, want, &out, &err), 0);
    int64_t wrong[] = {3};
    assert_int_equal(ckpt_require(c, "c", 1, wrong, &out, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "tensor c has shape [2], config.json implies [3]"));
    assert_int_equal(ckpt_require(c, "nope", 1, want, &out, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "missing tensor nope"));
    /* config accessors */
    long n;
    double d;
    const char *s;
    int flag;
    assert_int_equal(ckpt_config_int(c, "n_embd", 0, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ckpt_config_int(c, "absent", 7, &n, &err), 1);
    assert_int_equal(n, 7);
    assert_int_equal(ckpt_config_num(c, "n_embd", 0, &d, &err), 0);
    assert_int_equal(ckpt_config_str(c, "n_embd", NULL, &s, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "\"n_embd\" must be a string"));
    assert_int_equal(ckpt_config_bool(c, "absent", 1, &flag, &err), 1);
    assert_int_equal(flag, 1);
    ckpt_close(c);
    tmp_free(&t);
}

static const char ONE_TENSOR[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
static const float FOUR[4] = {1, 2, 3, 4};

static void test_malformed_files(void **state)
{
    (void)state;
    tmp t;
    tmp_new(&t);
    write_text(&t, "config.json", CONFIG);

    /* no weights at all */
    expect_fail(&t, YS_EIO, "no model.safetensors", NULL);
    /* shorter than the 8-byte length */
    write_bytes(&t, "model.safetensors", "abc", 3);
    expect_fail(&t, YS_EINPUT, "model.safetensors: truncated", NULL);
    /* header length beyond the file */
    write_st(&t, "model.safetensors", ONE_TENSOR, FOUR, 16, 1u << 20);
    expect_fail(&t, YS_EINPUT, "model.safetensors: header length 1048576 exceeds the file size", NULL);
    /* an absurd length */
    write_st(&t, "model.safetensors", ONE_TENSOR, FOUR, 16, UINT64_MAX);
    expect_fail(&t, YS_EINPUT, "header length", NULL);
    /* truncated data: tensor runs past the end */
    write_st(&t, "model.safetensors", ONE_TENSOR, FOUR, 12, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: data_offsets [0, 16] outside the file's 12 data bytes", NULL);
    /* bad JSON */
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "model.safetensors (header):1: malformed JSON near column 21", NULL);
    write_st(&t, "model.safetensors", "[1,2]", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "model.safetensors: header is an array, not a JSON object", NULL);
    /* JSON followed by something that is not padding */
    write_st(&t, "model.safetensors", "{} xx", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "malformed JSON near column 4 (text after the JSON value)", NULL);
    /* a header without tensors: qsort was handed NULL before any error */
    write_st(&t, "model.safetensors", "{}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "hold no tensors", NULL);
    /* a control byte where cJSON saw white space */
    write_st(&t, "model.safetensors", "{\x01}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "control character outside a string", NULL);
    /* unknown dtype */
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F12\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: unknown dtype \"F12\"", "model.safetensors");
    /* bad shape entries */
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: shape[1] is not a non-negative integer", NULL);
    write_st(&t, "model.safetensors",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: shape overflows", NULL);
    /* shape x dtype size != data length */
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: 16 data bytes but shape x F32 needs 12", NULL);
    /* offsets out of the file, reversed, or malformed */
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[100,104]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: data_offsets [100, 104] outside", NULL);
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "end before begin", NULL);
    write_st(&t, "model.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
             FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: \"data_offsets\" must be two", NULL);
    write_st(&t, "model.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: missing or non-string \"dtype\"", NULL);
    write_st(&t, "model.safetensors", "{\"w\":3}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor w: header entry is not an object", NULL);
    /* overlapping tensors */
    write_st(&t, "model.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensors a and b overlap", "model.safetensors");
    /* the same name twice */
    write_st(&t, "model.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", FOUR, 16, 0);
    expect_fail(&t, YS_EINPUT, "tensor a appears twice", NULL);
    /* config.json broken or missing */
    write_st(&t, "model.safetensors", ONE_TENSOR, FOUR, 16, 0);
    write_text(&t, "config.json", "{\"n_embd\": ");
    expect_fail(&t, YS_EINPUT, "config.json:1: malformed JSON near column 12", NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", t.dir);
    unlink(path);
    expect_fail(&t, YS_EIO, "config.json: cannot read", NULL);
    tmp_free(&t);
}

static void test_sharded(void **state)
{
    (void)state;
    tmp t;
    tmp_new(&t);
    write_text(&t, "config.json", CONFIG);
    write_st(&t, "s1.safetensors", ONE_TENSOR, FOUR, 16, 0);
    write_st(&t, "s2.safetensors", "{\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", FOUR, 4, 0);
    write_text(&t, "model.safetensors.index.json",
               "{\"weight_map\": {\"w\": \"s1.safetensors\", \"v\": \"s2.safetensors\"}}");
    ckpt *c;
    ys_error err = {0};
    assert_int_equal(ckpt_open(t.dir, &c, &err), 0);
    assert_int_equal(ckpt_count(c), 2);
    assert_string_equal(ckpt_get(c, "v")->file, "s2.safetensors");
    ckpt_close(c);
    /* the index points a tensor at the wrong shard */
    write_text(&t, "model.safetensors.index.json",
               "{\"weight_map\": {\"w\": \"s2.safetensors\", \"v\": \"s2.safetensors\"}}");
    expect_fail(&t, YS_EINPUT, "tensor w: not found in shard s2.safetensors", NULL);
    /* a shard that does not exist */
    write_text(&t, "model.safetensors.index.json", "{\"weight_map\": {\"w\": \"s9.safetensors\"}}");
    expect_fail(&t, YS_EIO, "s9.safetensors: cannot open", NULL);
    /* a shard outside the folder */
    write_text(&t, "model.safetensors.index.json", "{\"weight_map\": {\"w\": \"../s1.safetensors\"}}");
    expect_fail(&t, YS_EINPUT, "tensor w: shard must be a file name", NULL);
    /* the same tensor in two shards */
    write_st(&t, "s2.safetensors", ONE_TENSOR, FOUR, 16, 0);
    write_text(&t, "model.safetensors.index.json",
               "{\"weight_map\": {\"w\": \"s1.safetensors\", \"x\": \"s2.safetensors\"}}");
    expect_fail(&t, YS_EINPUT, "tensor w appears twice", NULL);
    write_text(&t, "model.safetensors.index.json", "{\"weights\": {}}");
    expect_fail(&t, YS_EINPUT, "\"weight_map\"", NULL);
    tmp_free(&t);
}

/* Model-level checks on a copy of the GPT-2 test checkpoint whose header
 * is edited: a missing tensor, a wrong shape, an unsupported architecture. */
static void gpt2_variant(const tmp *t, const char *config, const char *drop, const char *reshape)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/models/gpt2/model.safetensors", YS_SOURCE_DIR);
    size_t n;
    char *buf = ts_read_file(path, &n);
    assert_non_null(buf);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (unsigned char)buf[i];
    cJSON *h = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    assert_non_null(h);
    if (drop)
        cJSON_DeleteItemFromObject(h, drop);
    if (reshape) {
        /* same byte size, transposed: [32, 96] -> [96, 32] */
        cJSON *e = cJSON_GetObjectItem(h, reshape);
        cJSON_ReplaceItemInObject(e, "shape", cJSON_Parse("[96, 32]"));
    }
    char *hdr = cJSON_PrintUnformatted(h);
    write_st(t, "model.safetensors", hdr, buf + 8 + hl, n - 8 - (size_t)hl, 0);
    write_text(t, "config.json", config);
    free(hdr);
    cJSON_Delete(h);
    free(buf);
}

static void expect_model_fail(const tmp *t, const char *needle1, const char *needle2)
{
    model *m = NULL;
    ys_error err = {0};
    int rc = model_load(t->dir, &m, &err);
    if (rc != YS_EINPUT)
        fail_msg("expected YS_EINPUT, got %d (%s)", rc, err.msg);
    assert_null(m);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message lacks \"%s\"/\"%s\": %s", needle1, needle2 ? needle2 : "", err.msg);
}

/* ckpt_release drops whole pages of an in-place F32 tensor and the data
 * reads back unchanged (faulted in again from the file); converted copies
 * and ranges outside the mappings release nothing. */
static void test_release(void **state)
{
    (void)state;
    tmp t;
    tmp_new(&t);
    write_text(&t, "config.json", CONFIG);
    enum { N = 20000 };   /* 80 KB: many whole pages */
    unsigned char *data = malloc(N * 4 + 4);
    for (uint32_t i = 0; i < N; i++) {
        float v = (float)i * 0.25f - 7.0f;
        memcpy(data + 4 * i, &v, 4);
    }
    uint16_t h[] = {0x3c00, 0xc100};
    memcpy(data + N * 4, h, 4);
    char hdr[256];
    /* the header is padded to a multiple of 4 so "w" is 4-byte aligned */
    snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[%d,%d]}}", N, N * 4, N * 4, N * 4 + 4);
    while (strlen(hdr) % 8)
        strcat(hdr, " ");
    write_st(&t, "model.safetensors", hdr, data, N * 4 + 4, 0);
    ckpt *c;
    ys_error err = {0};
    if (ckpt_open(t.dir, &c, &err))
        fail_msg("%s", err.msg);
    const ckpt_tensor *w = ckpt_get(c, "w"), *ht = ckpt_get(c, "h");
    volatile float sum = 0;
    for (size_t i = 0; i < N; i++)
        sum += w->data[i];   /* make the pages resident */
    (void)sum;               /* (clang: set but not used) */
    long page = sysconf(_SC_PAGESIZE);
    size_t got = ckpt_release(c, w->data, N * 4);
    assert_true(got > 0 && got % (size_t)page == 0 && got <= (size_t)N * 4);
    assert_true(got + 2 * (size_t)page > (size_t)N * 4);   /* all but the partial end pages */
    assert_memory_equal(w->data, data, N * 4);
    const float *hv;
    assert_int_equal(ckpt_need(c, "h", 1, 2, 0, &hv, &err), 0);
    assert_true(hv == ht->data);
    assert_int_equal(ckpt_release(c, hv, 2 * 4), 0);      /* a converted copy */
    float other[4096];
    assert_int_equal(ckpt_release(c, other, sizeof other), 0);   /* not in the mapping */
    ckpt_close(c);
    free(data);
    tmp_free(&t);
}

static void test_model_level(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/models/gpt2/config.json", YS_SOURCE_DIR);
    char *cfg = ts_read_file(path, NULL);
    assert_non_null(cfg);
    tmp t;
    tmp_new(&t);
    gpt2_variant(&t, cfg, NULL, NULL);
    model *m;
    ys_error err = {0};
    assert_int_equal(model_load(t.dir, &m, &err), 0);   /* the unedited copy loads */
    model_free(m);
    gpt2_variant(&t, cfg, "h.1.mlp.c_fc.bias", NULL);
    expect_model_fail(&t, "missing tensor h.1.mlp.c_fc.bias", NULL);
    gpt2_variant(&t, cfg, NULL, "h.0.attn.c_attn.weight");
    expect_model_fail(&t, "tensor h.0.attn.c_attn.weight has shape [96, 32], config.json implies [32, 96]",
                      "model.safetensors");
    gpt2_variant(&t, "{\"architectures\": [\"BertForMaskedLM\"]}", NULL, NULL);
    expect_model_fail(&t, "architecture \"BertForMaskedLM\" is not supported",
                      "GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
    gpt2_variant(&t, "{\"model_type\": \"t5\"}", NULL, NULL);
    expect_model_fail(&t, "model_type \"t5\" is not supported", "Qwen2ForCausalLM");
    gpt2_variant(&t, "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 32}", NULL, NULL);
    expect_model_fail(&t, "\"vocab_size\" is missing", NULL);
    gpt2_variant(&t, "{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 96, \"n_embd\": \"32\"}",
                 NULL, NULL);
    expect_model_fail(&t, "\"n_embd\" must be an integer", NULL);
    /* options a supported architecture may carry but the engine does not
     * implement, and malformed RoPE settings: each named, none ignored */
#define LLAMA_DIMS "\"vocab_size\": 96, \"hidden_size\": 32, \"num_hidden_layers\": 2, " \
                   "\"num_attention_heads\": 4, \"intermediate_size\": 64, \"max_position_embeddings\": 128"
    static const char *const bad[][3] = {
        {"\"LlamaForCausalLM\"], " LLAMA_DIMS ", \"rope_scaling\": {\"rope_type\": \"su\", \"factor\": 4}",
         "rope_scaling type \"su\" is not supported", "longrope"},
        {"\"LlamaForCausalLM\"], " LLAMA_DIMS ", \"rope_scaling\": {\"type\": \"llama3\", \"factor\": 8}",
         "needs \"low_freq_factor\"", NULL},
        {"\"LlamaForCausalLM\"], " LLAMA_DIMS ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": \"2\"}",
         "\"factor\" must be a number", NULL},
        {"\"Phi3ForCausalLM\"], " LLAMA_DIMS ", \"rope_scaling\": {\"type\": \"longrope\", "
         "\"short_factor\": [1, 1], \"long_factor\": [1, 1, 1, 1]}", "\"short_factor\" must be a list of 4", NULL},
        {"\"LlamaForCausalLM\"], " LLAMA_DIMS ", \"hidden_act\": \"quick_gelu\"", "hidden_act \"quick_gelu\" is not supported", NULL},
        {"\"Gemma2ForCausalLM\"], " LLAMA_DIMS ", \"hidden_activation\": \"tanh\"",
         "hidden_activation \"tanh\" is not supported", NULL},
        {"\"LlamaForCausalLM\"], " LLAMA_DIMS ", \"mlp_bias\": true", "mlp_bias is not supported", NULL},
        {"\"Qwen3ForCausalLM\"], " LLAMA_DIMS ", \"use_sliding_window\": true", "use_sliding_window is not supported", NULL},
        {"\"Gemma2ForCausalLM\"], " LLAMA_DIMS ", \"layer_types\": [\"full_attention\"]",
         "layer_types must list num_hidden_layers (2)", NULL},
        {"\"Gemma3ForCausalLM\"], " LLAMA_DIMS ", \"layer_types\": [\"full_attention\", \"local\"]",
         "layer_types[1] must be", NULL},
        {"\"GPTNeoXForCausalLM\"], " LLAMA_DIMS ", \"rotary_pct\": 0.1", "gives 0 dimensions", NULL},
        {"\"MixtralForCausalLM\"], " LLAMA_DIMS, "architecture \"MixtralForCausalLM\" is not supported",
         "Gemma3ForCausalLM, Phi3ForCausalLM, GPTNeoXForCausalLM"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg, "{\"architectures\": [%s}", bad[i][0]);
        gpt2_variant(&t, cfg, NULL, NULL);
        expect_model_fail(&t, bad[i][1], bad[i][2]);
    }
#undef LLAMA_DIMS
    gpt2_variant(&t, "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 96, \"hidden_size\": 32,"
                     "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64}", NULL, NULL);
    expect_model_fail(&t, "missing tensor model.embed_tokens.weight", NULL);
    free(cfg);
    tmp_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_conversion),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_model_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
