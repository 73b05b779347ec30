/* test_gguf_spm.c — SentencePiece vocabularies in GGUF files
 * (tokenizer.ggml.model "llama", engine/tok_gguf.c) against Hugging Face
 * tokenizers' ids and decoded text.
 *
 * With ../shared: the real Mistral (current and legacy files), Phi-3,
 * Gemma 2 and Gemma 3 tokenizer.json files are turned into the GGUF
 * vocabularies llama.cpp's converter writes (write_spm_gguf; gguf-py's
 * twin is tests/parity/gen/gen_gguf_spm.py), and each must give Hugging
 * Face's ids and decoded text on the family's test strings
 * (tests/parity/vectors/tokenizers). A program of its own: the 256k
 * vocabularies take minutes under the sanitizers. */
#include "gguf_tok_support.h"

static void kv_f32_arr(wbuf *b, const char *k, const float *v, int n)
{
    str(b, k), u32(b, GGUF_ARRAY), u32(b, GGUF_F32), u64(b, (uint64_t)n);
    put(b, v, (size_t)n * 4);
}

/* convert_hf_to_gguf.py's does_token_look_special */
static int looks_special(const char *t)
{
    size_t n = strlen(t);
    return !strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]") ||
           (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>"));
}

/* A SentencePiece tokenizer.json (+ its tokenizer_config.json) -> the GGUF
 * vocabulary convert_hf_to_gguf.py's _create_vocab_sentencepiece writes
 * from the model's tokenizer.model. That file is not here, so what it
 * holds is taken from tokenizer.json, which Hugging Face made from it:
 * the pieces and their ids; the types (unknown, control for special
 * added tokens, byte for <0xAB>, else normal); and the scores, which only
 * order the merges: a piece gets minus the index of the first merge that
 * forms it (0 when none does) — the converter's merge order, rebuilt by
 * the loader, is then the file's. Then, as the converter does: every
 * token of tokenizer_config.json's added_tokens_decoder becomes control
 * (special, or looking special) or user-defined with "▁" written as a
 * space, score -1000; bos/eos/unk/pad ids and add_bos/add_eos from
 * tokenizer_config.json (SpecialVocab); add_space_prefix false for Gemma. */
static int by_piece(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}
static int by_piece_key(const void *k, const void *b)
{
    return strcmp(*(const char *const *)k, (*(const cJSON *const *)b)->string);
}

static void write_spm_gguf(const char *family, const char *arch, const char *json_path, const char *path)
{
    char *txt = NULL, cfgp[1024];
    size_t len = 0;
    FILE *f = fopen(json_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END), len = (size_t)ftell(f), fseek(f, 0, SEEK_SET);
    txt = malloc(len + 1);
    assert_int_equal(fread(txt, 1, len, f), len);
    txt[len] = 0;
    fclose(f);
    cJSON *tj = cJSON_Parse(txt);
    free(txt);
    assert_non_null(tj);
    snprintf(cfgp, sizeof cfgp, "%s/tokenizers/%s/tokenizer_config.json", YS_SHARED_DIR, family);
    cJSON *tc = ts_load_json(cfgp);
    const cJSON *model = cJSON_GetObjectItem(tj, "model"), *vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges"), *added = cJSON_GetObjectItem(tj, "added_tokens");
    const char *unk = jstr(model, "unk_token");
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) n = (int)it->valuedouble + 1 > n ? (int)it->valuedouble + 1 : n;
    cJSON_ArrayForEach(it, added) n = (int)ts_num(it, "id") + 1 > n ? (int)ts_num(it, "id") + 1 : n;
    char **piece = calloc((size_t)n, sizeof *piece);
    int32_t *type = calloc((size_t)n, sizeof *type);
    float *score = calloc((size_t)n, sizeof *score);
    int *first = malloc((size_t)n * sizeof *first);
    for (int i = 0; i < n; i++)
        first[i] = -1;
    cJSON_ArrayForEach(it, vocab) {
        int id = (int)it->valuedouble;
        piece[id] = strdup(it->string);
        unsigned x;
        char c;
        type[id] = unk && !strcmp(it->string, unk) ? 2
                 : strlen(it->string) == 6 && sscanf(it->string, "<0x%2X%c", &x, &c) == 2 && c == '>' ? 6 : 1;
    }
    cJSON_ArrayForEach(it, added) {
        int id = (int)ts_num(it, "id");
        if (!piece[id])
            piece[id] = strdup(jstr(it, "content"));
        if (cJSON_IsTrue(cJSON_GetObjectItem(it, "special")) && type[id] != 2)
            type[id] = 3;
    }
    /* the vocabulary sorted by piece, for the merges' joined pieces */
    int nv = cJSON_GetArraySize(vocab), v = 0;
    const cJSON **byname = malloc((size_t)nv * sizeof *byname);
    cJSON_ArrayForEach(it, vocab) byname[v++] = it;
    qsort(byname, (size_t)nv, sizeof *byname, by_piece);
    int k = 0;
    cJSON_ArrayForEach(it, merges) {
        char joined[1024];
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - it->valuestring), it->valuestring, sp + 1);
        } else {
            snprintf(joined, sizeof joined, "%s%s", cJSON_GetArrayItem(it, 0)->valuestring,
                     cJSON_GetArrayItem(it, 1)->valuestring);
        }
        const char *key = joined;
        const cJSON **hit = bsearch(&key, byname, (size_t)nv, sizeof *byname, by_piece_key);
        int32_t id = hit ? (int32_t)(*hit)->valuedouble : -1;
        assert_true(id >= 0 && id < n);
        if (first[id] < 0)
            first[id] = k;
        k++;
    }
    for (int i = 0; i < n; i++) {
        score[i] = first[i] >= 0 ? (float)-first[i] : 0.0f;
        if (!piece[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            piece[i] = strdup(pad), type[i] = 5, score[i] = -10000.0f;
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(tc, "added_tokens_decoder")) {
        int id = atoi(it->string);
        const char *content = jstr(it, "content");
        assert_true(id >= 0 && id < n);
        free(piece[id]);
        if (cJSON_IsTrue(cJSON_GetObjectItem(it, "special")) || looks_special(content)) {
            type[id] = 3;
            piece[id] = strdup(content);
        } else {   /* "▁" -> " " */
            type[id] = 4;
            piece[id] = malloc(strlen(content) + 1);
            char *w = piece[id];
            for (const char *r = content; *r;)
                if (!strncmp(r, "\xE2\x96\x81", 3))
                    *w++ = ' ', r += 3;
                else
                    *w++ = *r++;
            *w = 0;
        }
        score[id] = -1000.0f;
    }
    int32_t ids[4] = {-1, -1, -1, -1};
    static const char *const names[4] = {"bos_token", "eos_token", "unknown_token", "padding_token"};
    static const char *const cfgk[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    for (int j = 0; j < 4; j++) {
        const cJSON *v = cJSON_GetObjectItem(tc, cfgk[j]);
        const char *name = cJSON_IsString(v) ? v->valuestring : jstr(v, "content");
        for (int i = 0; name && i < n; i++)
            if (!strcmp(piece[i], name))
                ids[j] = i;
    }
    wbuf b = {0};
    int nkv = 10 + !strncmp(arch, "gemma", 5);   /* 6 vocabulary, 2 add_*, 2 general */
    for (int j = 0; j < 4; j++)
        nkv += ids[j] >= 0;
    put(&b, "GGUF", 4), u32(&b, 3), u64(&b, 0), u64(&b, (uint64_t)nkv);
    kv_str(&b, "general.architecture", arch);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_str(&b, "tokenizer.ggml.pre", "default");
    str(&b, "tokenizer.ggml.tokens"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_STRING), u64(&b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        str(&b, piece[i]);
    kv_f32_arr(&b, "tokenizer.ggml.scores", score, n);
    str(&b, "tokenizer.ggml.token_type"), u32(&b, GGUF_ARRAY), u32(&b, GGUF_I32), u64(&b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        u32(&b, (uint32_t)type[i]);
    for (int j = 0; j < 4; j++)
        if (ids[j] >= 0) {
            char key[64];
            snprintf(key, sizeof key, "tokenizer.ggml.%s_id", names[j]);
            kv_u32(&b, key, (uint32_t)ids[j]);
        }
    kv_bool(&b, "tokenizer.ggml.add_bos_token", cJSON_IsTrue(cJSON_GetObjectItem(tc, "add_bos_token")));
    kv_bool(&b, "tokenizer.ggml.add_eos_token", cJSON_IsTrue(cJSON_GetObjectItem(tc, "add_eos_token")));
    kv_str(&b, "general.name", family);
    kv_u32(&b, "general.quantization_version", 2);
    if (!strncmp(arch, "gemma", 5))
        kv_bool(&b, "tokenizer.ggml.add_space_prefix", 0);
    while (b.n % 32)
        put(&b, "", 1);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    for (int i = 0; i < n; i++)
        free(piece[i]);
    free(b.p), free(piece), free(type), free(score), free(first);
    free(byname);
    cJSON_Delete(tj);
    cJSON_Delete(tc);
}

/* SentencePiece vocabularies (tokenizer.ggml.model "llama"): Mistral,
 * Phi-3, Gemma 2 and Gemma 3. Mistral has two tokenizer.json files with
 * the same vocabulary and merges: the legacy one (a Prepend("▁")
 * normalizer, as SentencePiece's add_dummy_prefix and llama.cpp prefix
 * every text) and the current one (Metaspace prepend_scheme "first",
 * which does not prefix a text that already starts with a space). A GGUF
 * file cannot tell them apart; it follows SentencePiece and llama.cpp, so
 * the file written from either must give the legacy file's ids. */
static void test_shared_spm(void **state)
{
    (void)state;
    if (!ts_have_shared()) {
        print_message("../shared not available, skipping\n");
        skip();
    }
    /* Gemma 2's tokenizer.json was made by an older transformers, whose
     * merge order among pieces of one score is by id: its merges of the
     * "▁" runs (user-defined pieces, one score) come shortest first, and a
     * long run of spaces splits 16 + 24 where SentencePiece, llama.cpp
     * and Gemma 3's file (the current converter: longest first) take the
     * longest piece. The GGUF file has only the scores: those strings
     * must give the same text, with SentencePiece's pieces. */
    static const struct { const char *family, *arch, *vectors; int runs; } F[] = {
        {"mistral", "llama", "mistral_legacy", 0}, {"mistral_legacy", "llama", "mistral_legacy", 0},
        {"phi3", "phi3", "phi3", 0},               {"gemma2", "gemma2", "gemma2", 1},
        {"gemma3", "gemma3", "gemma3", 0},
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        char cmd[2048], json[1024];
        snprintf(json, sizeof json, "%s/%s.json", ts_scratch(), F[i].family);
        snprintf(cmd, sizeof cmd, "gzip -dc '%s/tokenizers/%s/tokenizer.json.gz' > '%s'", YS_SHARED_DIR, F[i].family,
                 json);
        char *outp = NULL;
        if (ts_run(cmd, &outp) != 0) {
            print_message("%s: no tokenizer.json in ../shared, skipping\n", F[i].family);
            free(outp);
            continue;
        }
        free(outp);
        const char *path = ts_path("spm.gguf");
        write_spm_gguf(F[i].family, F[i].arch, json, path);
        remove(json);
        tok_tokenizer *t = NULL;
        ys_error err = {0};
        if (tok_load(path, &t, &err))
            fail_msg("%s: tok_load(GGUF): %s", F[i].family, err.msg);
        check_strings_runs(t, F[i].vectors, F[i].runs);
        tok_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_spm),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
