/* test_tokenizers_pairs.c — tok_encode_pair (pairs, type ids, longest-first
 * truncation) against vectors from the Rust HF tokenizers library
 * (tests/parity/gen/gen_tokenizers_pairs.js): BERT's and T5's templates,
 * GPT-2 without a template, a small RoBERTa-style tokenizer (RobertaProcessing,
 * <mask> with lstrip), a small Unigram one with byte_fallback and a small
 * WordPiece one (NFD/Lowercase/StripAccents, WhitespaceSplit,
 * BertProcessing), committed with the vectors; the decoded text too.
 * bert, t5 and
 * gpt2 read ../shared/tokenizers and skip when it is absent. Also the
 * padding id of each family and the API's edge cases. */
#include "testsupport.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decompress ../shared/tokenizers/<family>/<file>.gz (or copy <file>) into
 * dir; 0 if present. */
static int fetch_file(const char *family, const char *file, const char *dir)
{
    char src[1024], cmd[3072];
    snprintf(src, sizeof src, "%s/tokenizers/%s/%s.gz", YS_SHARED_DIR, family, file);
    if (access(src, R_OK) == 0) {
        snprintf(cmd, sizeof cmd, "gzip -dc '%s' > '%s/%s'", src, dir, file);
    } else {
        snprintf(src, sizeof src, "%s/tokenizers/%s/%s", YS_SHARED_DIR, family, file);
        if (access(src, R_OK) != 0) return -1;
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", src, dir, file);
    }
    return ts_run(cmd, NULL) == 0 ? 0 : -1;
}

/* The family's tokenizer, or NULL when its files are absent. */
static tok_tokenizer *load(const char *family)
{
    tok_tokenizer *t = NULL;
    ys_error err = {0};
    if (strstr(family, "_tiny")) { /* committed with the vectors */
        char path[1024];
        snprintf(path, sizeof path, "tokenizers/%s/tokenizer.json", family);
        snprintf(path, sizeof path, "%s", ts_vector(path));
        if (tok_load(path, &t, &err)) fail_msg("%s: tok_load: %s", family, err.msg);
        return t;
    }
    if (!ts_have_shared()) return NULL;
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/ys_tokp_%s_XXXXXX", family);
    assert_non_null(mkdtemp(dir));
    char cmd[512];
    if (fetch_file(family, "tokenizer.json", dir) == 0) {
        fetch_file(family, "tokenizer_config.json", dir);
        if (tok_load(dir, &t, &err)) fail_msg("%s: tok_load: %s", family, err.msg);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ts_run(cmd, NULL);
    return t;
}

static bool same_ids(const cJSON *want, const int32_t *got, size_t n)
{
    if ((size_t)cJSON_GetArraySize(want) != n) return false;
    for (size_t i = 0; i < n; i++)
        if ((int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble != got[i]) return false;
    return true;
}

static void print_ids(const char *what, const int32_t *v, size_t n)
{
    print_error("  %s [", what);
    for (size_t i = 0; i < n; i++) print_error("%s%d", i ? "," : "", v[i]);
    print_error("]\n");
}

static void run_pairs(const char *family)
{
    tok_tokenizer *t = load(family);
    if (!t) {
        print_message("%s: ../shared/tokenizers/%s not available, skipping\n", family, family);
        skip();
    }
    char name[256];
    snprintf(name, sizeof name, "tokenizers/%s_pairs.jsonl", family);
    cJSON *all = ts_load_jsonl(ts_vector(name));
    int count = 0, failures = 0, truncated = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, all)
    {
        const char *a = cJSON_GetObjectItem(v, "a")->valuestring;
        const cJSON *jb = cJSON_GetObjectItem(v, "b");
        const char *b = cJSON_IsString(jb) ? jb->valuestring : NULL;
        bool add = cJSON_IsTrue(cJSON_GetObjectItem(v, "add_special_tokens"));
        size_t ml = (size_t)ts_num(v, "max_length");
        const cJSON *want = cJSON_GetObjectItem(v, "ids"), *want_ty = cJSON_GetObjectItem(v, "type_ids");
        int32_t *ids = NULL, *ty = NULL;
        size_t n = 0;
        ys_error err = {0};
        count++;
        int rc = tok_encode_pair(t, a, strlen(a), b, b ? strlen(b) : 0, add, ml, &ids, &ty, &n, &err);
        if (rc) {
            print_error("%s: encode failed on (%s, %s): %s\n", family, a, b ? b : "null", err.msg);
            failures++;
            continue;
        }
        if (ml && n <= ml) truncated++;
        const cJSON *jdec = cJSON_GetObjectItem(v, "decoded");
        char *dec = NULL;
        bool dec_ok = true;
        if (cJSON_IsString(jdec)) {
            size_t wn = (size_t)cJSON_GetArraySize(want);
            int32_t *wids = malloc((wn + 1) * sizeof *wids);
            for (size_t i = 0; i < wn; i++) wids[i] = (int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
            dec_ok = tok_decode(t, wids, wn, false, &dec, &err) == 0 && strcmp(dec, jdec->valuestring) == 0;
            free(wids);
        }
        if (!same_ids(want, ids, n) || !same_ids(want_ty, ty, n) || !dec_ok) {
            if (failures < 10) {
                char *w = cJSON_PrintUnformatted(v);
                print_error("%s: differs: %s\n", family, w);
                print_ids("got ids", ids, n);
                print_ids("got type_ids", ty, n);
                if (!dec_ok) print_error("  decoded %s\n", dec ? dec : err.msg);
                free(w);
            }
            failures++;
        }
        free(ids);
        free(ty);
        free(dec);
    }
    cJSON_Delete(all);
    print_message("%s: %d pair/truncation vectors (%d with max_length and within it), %d failures\n", family, count,
                  truncated, failures);
    tok_free(t);
    assert_true(count > 0);
    assert_int_equal(failures, 0);
}

static void test_bert_pairs(void **s) { (void)s; run_pairs("bert"); }
static void test_t5_pairs(void **s) { (void)s; run_pairs("t5"); }
static void test_gpt2_pairs(void **s) { (void)s; run_pairs("gpt2"); }
static void test_roberta_pairs(void **s) { (void)s; run_pairs("roberta_tiny"); }
static void test_unigram_pairs(void **s) { (void)s; run_pairs("unigram_tiny"); }
static void test_wordpiece_pairs(void **s) { (void)s; run_pairs("wordpiece_tiny"); }

/* Padding ids, and the documented API behaviour of tok_encode_pair. */
/* A template that names a sequence twice (pair: [CLS] A [SEP] B B [SEP];
 * the fuzzer's tokenizer.json, HF-valid): HF repeats B's ids. The ids
 * buffer was sized for each sequence once (ASan heap-buffer-overflow).
 * Expected: tokenizers@0.23.2 (Rust, through Node) on this file. */
static void test_template_repeat(void **s)
{
    (void)s;
    tok_tokenizer *t = load("template_repeat_tiny");
    int32_t *ids, *ty;
    size_t n;
    ys_error err = {0};
    assert_int_equal(tok_encode_pair(t, "hello world", 11, "foo bar", 7, true, 0, &ids, &ty, &n, &err), 0);
    static const int32_t want[] = {2, 1, 1, 3, 1, 1, 1, 1, 3}, want_ty[] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    assert_int_equal(n, 9);
    assert_memory_equal(ids, want, sizeof want);
    assert_memory_equal(ty, want_ty, sizeof want_ty);
    free(ids), free(ty);
    tok_free(t);
}

static void test_api(void **s)
{
    (void)s;
    tok_tokenizer *t = load("roberta_tiny");
    assert_int_equal(tok_pad_id(t), 1); /* "<pad>": no padding config, no tokenizer_config.json */
    int32_t *ids, *ty;
    size_t n;
    ys_error err = {0};
    /* type_ids may be NULL; tok_encode equals the single, untruncated form */
    assert_int_equal(tok_encode_pair(t, "hello there", 11, NULL, 0, true, 0, &ids, NULL, &n, &err), 0);
    int32_t *ids2;
    size_t n2;
    assert_int_equal(tok_encode(t, "hello there", 11, true, &ids2, &n2, &err), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(ids, ids2, n * sizeof *ids);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[n - 1], 2);
    free(ids);
    free(ids2);
    /* an empty second text is still a pair: <s> A </s></s></s> */
    assert_int_equal(tok_encode(t, "hi", 2, true, &ids2, &n2, &err), 0);
    assert_int_equal(tok_encode_pair(t, "hi", 2, "", 0, true, 0, &ids, &ty, &n, &err), 0);
    assert_int_equal(n, n2 + 2);
    assert_memory_equal(ids, ids2, n2 * sizeof *ids);
    assert_int_equal(ids[n - 2], 2);
    assert_int_equal(ids[n - 1], 2);
    for (size_t i = 0; i < n; i++) assert_int_equal(ty[i], 0);
    free(ids);
    free(ids2);
    free(ty);
    /* invalid UTF-8 in either text */
    assert_int_equal(tok_encode_pair(t, "ok", 2, "b\xC3", 2, true, 0, &ids, &ty, &n, &err), YS_EINPUT);
    assert_null(ids);
    assert_null(ty);
    assert_non_null(strstr(err.msg, "second"));
    assert_int_equal(tok_encode_pair(t, NULL, 3, NULL, 0, true, 0, &ids, &ty, &n, &err), YS_EUSAGE);
    tok_free(t);

    t = load("bert");
    if (t) {
        assert_int_equal(tok_pad_id(t), 0); /* "[PAD]" */
        tok_free(t);
    }
    t = load("t5");
    if (t) {
        assert_int_equal(tok_pad_id(t), 0); /* tokenizer_config.json pad_token "<pad>" */
        assert_int_equal(tok_eos_id(t), 1);
        tok_free(t);
    }
    t = load("gpt2");
    if (t) {
        assert_int_equal(tok_pad_id(t), -1);
        tok_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_pairs),    cmocka_unit_test(test_t5_pairs), cmocka_unit_test(test_gpt2_pairs),
        cmocka_unit_test(test_roberta_pairs), cmocka_unit_test(test_unigram_pairs),
        cmocka_unit_test(test_wordpiece_pairs), cmocka_unit_test(test_template_repeat), cmocka_unit_test(test_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
