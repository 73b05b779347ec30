/* `--model FILE.gguf` end to end: logprobs, generate, kld and run on GGUF
 * files (tests/data/gguf, gen_gguf_models.py / gen_gguf_quant.py).
 * tiny.gguf is the bundled tiny model with its tokenizer, F32: every
 * command gives the folder's numbers; q4_gpt2.gguf is the gpt2 fixture
 * quantized (no tokenizer: ids only). The store keeps a GGUF file and its
 * folder as two models, and a broken file is exit 3 naming the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define TINY YS_SOURCE_DIR "/tests/data/models/tiny"
#define TINY_GGUF YS_SOURCE_DIR "/tests/data/gguf/models/tiny.gguf"
#define GPT2 YS_SOURCE_DIR "/tests/data/models/gpt2"
#define Q4_GPT2 YS_SOURCE_DIR "/tests/data/gguf/quant/q4_gpt2.gguf"

static char *run_ok(const char *cmd)
{
    char *out = NULL;
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("'%s' exited %d: %s", cmd, rc, out ? out : "");
    return out;
}

static cJSON *run_json(const char *cmd)
{
    char *out = run_ok(cmd);
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("'%s' printed no JSON: %s", cmd, out);
    free(out);
    return j;
}

static void test_same_as_folder(void **state)
{
    (void)state;
    ts_write_file(ts_path("doc.txt"), "The quick brown fox jumps over the lazy dog. It was not amused, and said so.\n");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --text %s", YS_BINARY, TINY, ts_path("doc.txt"));
    char *a = run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --text %s", YS_BINARY, TINY_GGUF, ts_path("doc.txt"));
    char *b = run_ok(cmd);
    assert_string_equal(a, b);
    free(a), free(b);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt 'Once upon a time' --max-tokens 12", YS_BINARY, TINY);
    a = run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt 'Once upon a time' --max-tokens 12", YS_BINARY,
             TINY_GGUF);
    b = run_ok(cmd);
    assert_string_equal(a, b);
    free(a), free(b);
    /* kld of the file against its folder: zero everywhere */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --text %s --json", YS_BINARY, TINY, TINY_GGUF,
             ts_path("doc.txt"));
    cJSON *j = run_json(cmd);
    const cJSON *s = cJSON_GetObjectItem(j, "summary");
    assert_true(ts_num(s, "positions") > 10);
    assert_true(ts_num(cJSON_GetObjectItem(s, "kld"), "max") == 0);
    cJSON_Delete(j);
}

/* a quantized file against the checkpoint it came from */
static void test_kld_quantized(void **state)
{
    (void)state;
    ts_write_file(ts_path("a.ids"), "1 5 9 20 33 40 2 7 11 90 91 3\n3 3 4 50 60 70 80 90\n");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --ids %s --json 2>/dev/null", YS_BINARY, GPT2, Q4_GPT2,
             ts_path("a.ids"));
    cJSON *j = run_json(cmd);
    const cJSON *k = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "summary"), "kld");
    double mean = ts_num(k, "mean");
    assert_true(mean > 1e-4 && mean < 1.0);   /* Q4_0 of random weights: close, not equal */
    print_message("gpt2 vs its Q4_0 GGUF: mean KLD %.5f\n", mean);
    cJSON_Delete(j);
}

static void test_store_identity(void **state)
{
    (void)state;
    char cmd[4096], *sum = NULL, db[1024];
    snprintf(db, sizeof db, "%s", ts_path("r.db"));   /* ts_path's buffers rotate */
    snprintf(cmd, sizeof cmd, "%s run --model %s --tasks arc_easy --limit 4 --db %s --output %s >/dev/null 2>&1",
             YS_BINARY, TINY_GGUF, db, ts_path("g.json"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s run --model %s --tasks arc_easy --limit 4 --db %s --output %s >/dev/null 2>&1",
             YS_BINARY, TINY, db, ts_path("f.json"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    cJSON *g = ts_load_json(ts_path("g.json")), *f = ts_load_json(ts_path("f.json"));
    const cJSON *gc = cJSON_GetObjectItem(g, "config"), *fc = cJSON_GetObjectItem(f, "config");
    snprintf(cmd, sizeof cmd, "sha256sum '%s' | cut -c1-64", TINY_GGUF);
    assert_int_equal(ts_run(cmd, &sum), 0);
    assert_memory_equal(cJSON_GetObjectItem(gc, "gguf_sha256")->valuestring, sum, 64);
    assert_string_equal(cJSON_GetObjectItem(gc, "gguf_tensor_types")->valuestring, "F32 x28");
    assert_null(cJSON_GetObjectItem(fc, "gguf_sha256"));
    /* the same scores (the same F32 weights) ... */
    char *rg = cJSON_PrintUnformatted(cJSON_GetObjectItem(g, "results"));
    char *rf = cJSON_PrintUnformatted(cJSON_GetObjectItem(f, "results"));
    assert_string_equal(rg, rf);
    /* ... but two models in the store, the GGUF one with its tensor types */
    free(sum);
    snprintf(cmd, sizeof cmd, "%s runs list --db %s", YS_BINARY, db);
    char *list = run_ok(cmd);
    assert_non_null(strstr(list, "tiny.gguf"));
    free(list);
    free(rg), free(rf);
    cJSON_Delete(g), cJSON_Delete(f);
}

static void test_broken_file(void **state)
{
    (void)state;
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "head -c 5000 '%s' > '%s'", TINY_GGUF, ts_path("cut.gguf"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    ts_write_file(ts_path("b.ids"), "1 2 3\n");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --ids %s 2>&1", YS_BINARY, ts_path("cut.gguf"), ts_path("b.ids"));
    assert_int_equal(ts_run(cmd, &out), 3);
    assert_non_null(strstr(out, "cut.gguf"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s run --model %s --tasks arc_easy --limit 2 --db %s 2>&1", YS_BINARY,
             ts_path("cut.gguf"), ts_path("c.db"));
    assert_int_equal(ts_run(cmd, &out), 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_folder),
        cmocka_unit_test(test_kld_quantized),
        cmocka_unit_test(test_store_identity),
        cmocka_unit_test(test_broken_file),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
