/* test_gguf_tokenizer.c — the tokenizer a GGUF file carries (tok_load on a
 * .gguf, engine/tok_gguf.c) against Hugging Face tokenizers' ids.
 *
 * Always: tests/data/gguf/models/tiny.gguf (gen_gguf_models.py: the tiny
 * model with its byte-level BPE vocabulary written as llama.cpp's
 * converter writes a GPT-2 vocabulary) must encode the GPT-2 test strings
 * as tests/data/models/tiny/tokenizer.json does.
 * With ../shared: the GPT-2, Llama 3 and Qwen3 tokenizer.json files are
 * turned into GGUF vocabularies here, as convert_hf_to_gguf.py's
 * _set_vocab_gpt2 does (every id's piece, added tokens CONTROL when
 * special else USER_DEFINED, absent ids "[PAD<id>]" UNUSED, the merges as
 * "a b", the pre-tokenizer's name, bos/eos, add_bos_token when the file's
 * template adds one), and each must give Hugging Face's ids and decoded
 * text on the family's test strings (tests/parity/vectors/tokenizers). */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"

#include "gguf_tok_support.h"

/* tokenizer.json (parsed) -> a GGUF vocabulary file at path. */
static void write_vocab_gguf(const cJSON *tj, const char *pre, const char *bos, const char *eos, const char *path)
{
    const cJSON *model = cJSON_GetObjectItem(tj, "model"), *vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges"), *added = cJSON_GetObjectItem(tj, "added_tokens");
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) n = (int)it->valuedouble + 1 > n ? (int)it->valuedouble + 1 : n;
    cJSON_ArrayForEach(it, added) n = (int)ts_num(it, "id") + 1 > n ? (int)ts_num(it, "id") + 1 : n;
    const char **piece = calloc((size_t)n, sizeof *piece);
    int32_t *type = calloc((size_t)n, sizeof *type);
    char (*pad)[24] = calloc((size_t)n, sizeof *pad);
    cJSON_ArrayForEach(it, vocab) piece[(int)it->valuedouble] = it->string, type[(int)it->valuedouble] = 1;
    cJSON_ArrayForEach(it, added) {
        int id = (int)ts_num(it, "id");
        piece[id] = jstr(it, "content");
        type[id] = cJSON_IsTrue(cJSON_GetObjectItem(it, "special")) ? 3 : 4;
    }
    for (int i = 0; i < n; i++)
        if (!piece[i]) {
            snprintf(pad[i], sizeof pad[i], "[PAD%d]", i);
            piece[i] = pad[i], type[i] = 5;
        }
    /* add_bos: the template starts with a special token */
    const cJSON *pp = cJSON_GetObjectItem(tj, "post_processor"), *tp = NULL;
    if (pp && !strcmp(jstr(pp, "type"), "TemplateProcessing"))
        tp = pp;
    else if (pp && !strcmp(jstr(pp, "type"), "Sequence"))
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(pp, "processors")) if (!strcmp(jstr(it, "type"), "TemplateProcessing")) tp = it;
    int add_bos = tp && cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(tp, "single"), 0), "SpecialToken");
    int bos_id = -1, eos_id = -1;
    for (int i = 0; i < n; i++) {
        if (bos && !strcmp(piece[i], bos))
            bos_id = i;
        if (eos && !strcmp(piece[i], eos))
            eos_id = i;
    }
    wbuf b = {0};
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u64(&b, 0);
    u64(&b, 6 + (bos_id >= 0) + (eos_id >= 0) + 1);
    kv_str(&b, "general.architecture", "gpt2");
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", pre);
    str(&b, "tokenizer.ggml.tokens"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_STRING), u64(&b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        str(&b, piece[i]);
    str(&b, "tokenizer.ggml.token_type"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_I32), u64(&b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        u32(&b, (uint32_t)type[i]);
    str(&b, "tokenizer.ggml.merges"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_STRING),
        u64(&b, (uint64_t)cJSON_GetArraySize(merges));
    cJSON_ArrayForEach(it, merges) {
        if (cJSON_IsString(it)) {
            str(&b, it->valuestring);
        } else {
            const char *l = cJSON_GetArrayItem(it, 0)->valuestring, *r = cJSON_GetArrayItem(it, 1)->valuestring;
            u64(&b, strlen(l) + 1 + strlen(r));
            put(&b, l, strlen(l)), put(&b, " ", 1), put(&b, r, strlen(r));
        }
    }
    if (bos_id >= 0)
        kv_u32(&b, "tokenizer.ggml.bos_token_id", (uint32_t)bos_id);
    if (eos_id >= 0)
        kv_u32(&b, "tokenizer.ggml.eos_token_id", (uint32_t)eos_id);
    kv_bool(&b, "tokenizer.ggml.add_bos_token", add_bos);
    while (b.n % 32)
        put(&b, "", 1);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    free(b.p), free(piece), free(type), free(pad);
}

static void test_tiny(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/gguf/models/tiny.gguf", YS_SOURCE_DIR);
    tok_tokenizer *g = NULL, *h = NULL;
    ys_error err = {0};
    if (tok_load(path, &g, &err))
        fail_msg("tok_load(%s): %s", path, err.msg);
    snprintf(path, sizeof path, "%s/tests/data/models/tiny", YS_SOURCE_DIR);
    assert_int_equal(tok_load(path, &h, &err), 0);
    assert_int_equal(tok_vocab_size(g), tok_vocab_size(h));
    assert_int_equal(tok_bos_id(g), tok_bos_id(h));
    assert_int_equal(tok_eos_id(g), tok_eos_id(h));
    for (size_t i = 0; i < tok_vocab_size(g); i++)
        assert_string_equal(tok_piece(g, (int32_t)i), tok_piece(h, (int32_t)i));
    /* the GPT-2 strings through both: the same ids */
    cJSON *lines = ts_load_jsonl(ts_vector("tokenizers/gpt2.jsonl"));
    const cJSON *l;
    size_t same = 0;
    cJSON_ArrayForEach(l, lines) {
        const char *text = jstr(l, "text");
        if (!text)
            continue;
        bool add = cJSON_IsTrue(cJSON_GetObjectItem(l, "add_special_tokens"));
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        assert_int_equal(tok_encode(g, text, strlen(text), add, &a, &na, &err), 0);
        assert_int_equal(tok_encode(h, text, strlen(text), add, &b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        free(a), free(b);
        same++;
    }
    assert_true(same > 100);
    cJSON_Delete(lines);
    tok_free(g);
    tok_free(h);
}

static void test_shared_families(void **state)
{
    (void)state;
    if (!ts_have_shared()) {
        print_message("../shared not available, skipping\n");
        skip();
    }
    static const struct { const char *family, *pre, *bos, *eos; } F[] = {
        {"gpt2", "gpt-2", "<|endoftext|>", "<|endoftext|>"},
        {"llama3", "llama-bpe", "<|begin_of_text|>", "<|end_of_text|>"},
        {"qwen3", "qwen2", NULL, "<|im_end|>"},
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        char cmd[1024], *json = NULL;
        snprintf(cmd, sizeof cmd, "gzip -dc '%s/tokenizers/%s/tokenizer.json.gz'", YS_SHARED_DIR, F[i].family);
        if (ts_run(cmd, &json) != 0 || !json) {
            print_message("%s: no tokenizer.json in ../shared, skipping\n", F[i].family);
            free(json);
            continue;
        }
        cJSON *tj = cJSON_Parse(json);
        free(json);
        assert_non_null(tj);
        const char *path = ts_path("vocab.gguf");
        write_vocab_gguf(tj, F[i].pre, F[i].bos, F[i].eos, path);
        cJSON_Delete(tj);
        tok_tokenizer *t = NULL;
        ys_error err = {0};
        if (tok_load(path, &t, &err))
            fail_msg("%s: tok_load(GGUF): %s", F[i].family, err.msg);
        check_strings(t, F[i].family);
        tok_free(t);
    }
}

/* What the file does not say is refused, not guessed. */
static void test_refusals(void **state)
{
    (void)state;
    const char *path = ts_path("bad.gguf");
    wbuf b = {0};
    put(&b, "GGUF", 4), u32(&b, 3), u64(&b, 0), u64(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "deepseek-llm");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    free(b.p);
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    assert_int_equal(tok_load(path, &t, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "deepseek-llm"));
    char llama[1024];
    snprintf(llama, sizeof llama, "%s/tests/data/gguf/models/llama.gguf", YS_SOURCE_DIR);
    assert_int_equal(tok_load(llama, &t, &err), YS_EINPUT);
    assert_non_null(strstr(err.msg, "tokenizer.ggml.model"));
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_shared_families),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
