/* `--compute int8` on a GGUF file end to end (gemm.h, "int8 dot products
 * on GGUF blocks"). tests/data/gguf/quant/tiny_q8_0.gguf is the bundled
 * tiny model's GGUF (tests/data/gguf/models/tiny.gguf, with its tokenizer)
 * quantized by llama.cpp's `llama-quantize tiny.gguf tiny_q8_0.gguf Q8_0`
 * (the build bench/README.md measures against): its matrices Q8_0, norms
 * and biases F32.
 *   - a folder without --quantize, and a GGUF file with nothing quantized,
 *     are usage errors (exit 2);
 *   - on the Q8_0 file it runs, and is another function than the default
 *     (other log-probs, a small KL divergence, measured by one kld command);
 *   - `run` stores it as another model ("...@i8dot", config.compute int8)
 *     whose responses are not the default's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define TINY YS_SOURCE_DIR "/tests/data/models/tiny"
#define TINY_GGUF YS_SOURCE_DIR "/tests/data/gguf/models/tiny.gguf"
#define Q8 YS_SOURCE_DIR "/tests/data/gguf/quant/tiny_q8_0.gguf"

static char *run_ok(const char *cmd)
{
    char *out = NULL;
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("'%s' exited %d: %s", cmd, rc, out ? out : "");
    return out;
}

static void test_usage(void **state)
{
    (void)state;
    char cmd[4096], *out = NULL;
    ts_write_file(ts_path("doc.txt"), "The quick brown fox jumps over the lazy dog. It was not amused, and said so.\n");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --compute int8 --text %s 2>&1", YS_BINARY, TINY,
             ts_path("doc.txt"));
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "--quantize"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --compute int8 --text %s 2>&1", YS_BINARY, TINY_GGUF,
             ts_path("doc.txt"));
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "quantized"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s run --model %s --compute int8 --tasks arc_easy --limit 2 --no-db 2>&1", YS_BINARY,
             TINY);
    assert_int_equal(ts_run(cmd, &out), 2);
    free(out);
}

static void test_scores(void **state)
{
    (void)state;
    char cmd[4096];
    ts_write_file(ts_path("doc.txt"), "The quick brown fox jumps over the lazy dog. It was not amused, and said so.\n");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --text %s", YS_BINARY, Q8, ts_path("doc.txt"));
    char *a = run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --compute int8 --text %s", YS_BINARY, Q8, ts_path("doc.txt"));
    char *b = run_ok(cmd);
    assert_string_not_equal(a, b);
    free(a), free(b);
    /* its cost against the exact path, in one command */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --compute int8 --text %s --json", YS_BINARY, Q8, Q8,
             ts_path("doc.txt"));
    char *out = run_ok(cmd);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *s = cJSON_GetObjectItem(j, "summary"), *k = cJSON_GetObjectItem(s, "kld");
    assert_true(ts_num(s, "positions") > 10);
    double mean = ts_num(k, "mean");
    print_message("tiny Q8_0: int8 compute against the default: mean KLD %.3g, max %.3g\n", mean, ts_num(k, "max"));
    assert_true(mean > 0 && mean < 0.01);   /* measured 0.002 (max 0.0125) */
    cJSON_Delete(j);
    free(out);
}

static void test_store(void **state)
{
    (void)state;
    char cmd[4096], db[1024];
    snprintf(db, sizeof db, "%s", ts_path("r.db"));   /* ts_path's buffers rotate */
    snprintf(cmd, sizeof cmd, "%s run --model %s --compute int8 --tasks arc_easy --limit 4 --db %s --output %s "
             "--log-samples >/dev/null 2>&1", YS_BINARY, Q8, db, ts_path("i.json"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s run --model %s --tasks arc_easy --limit 4 --db %s --output %s --log-samples "
             ">/dev/null 2>&1", YS_BINARY, Q8, db, ts_path("d.json"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    cJSON *i = ts_load_json(ts_path("i.json")), *d = ts_load_json(ts_path("d.json"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(i, "config"), "compute")->valuestring, "int8");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "config"), "compute"));
    cJSON_Delete(i), cJSON_Delete(d);
    snprintf(cmd, sizeof cmd, "%s runs list --db %s", YS_BINARY, db);
    char *list = run_ok(cmd);
    assert_non_null(strstr(list, "tiny_q8_0.gguf@i8dot"));
    assert_non_null(strstr(list, "tiny_q8_0.gguf "));
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
