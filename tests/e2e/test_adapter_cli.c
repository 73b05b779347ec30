/* `--adapter DIR` end to end: `yardstick run` with two PEFT adapters on one
 * base stores two models (BASE+ADAPTER, both content hashes) and never
 * serves one adapter's cached responses to the other; the same adapter
 * again reuses its own; --resume keeps the adapter; logprobs and generate
 * keep their JSON with --adapter added. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define TASKS "glue,wikitext"

/* Run yardstick in the scratch folder; *err_out gets its stderr. */
static int ys(const char *args, char **out, char **err_out) { return ts_ys(args, out, err_out); }

static char *results_of(const char *json_path)
{
    char *text = ts_read_file(json_path, NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    char *r = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "results"));
    cJSON_Delete(j);
    return r;
}

static const char *models(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/tests/data/models", YS_SOURCE_DIR);
    return buf;
}

static void run_with(const char *adapter, const char *json, char **results, char **err)
{
    char args[4096], *out;
    snprintf(args, sizeof args, "run --model %s/tiny --adapter %s/%s --tasks " TASKS " --db r.db --output %s", models(),
             models(), adapter, json);
    if (ys(args, &out, err) != 0)
        fail_msg("yardstick %s failed: %s", args, *err);
    free(out);
    *results = results_of(ts_path(json));
}

static void test_two_adapters(void **state)
{
    (void)state;
    char *ra, *rb, *ra2, *rr, *e1, *e2, *e3, *e4, *out;
    run_with("lora_tiny_a", "a.json", &ra, &e1);
    assert_null(strstr(e1, "reused from the cache"));
    /* the other adapter on the same base: nothing of a's may be reused */
    run_with("lora_tiny_b", "b.json", &rb, &e2);
    if (strstr(e2, "reused from the cache"))
        fail_msg("adapter b was served adapter a's responses: %s", e2);
    assert_string_not_equal(ra, rb);
    /* a again: every response from the cache, the same results */
    run_with("lora_tiny_a", "a2.json", &ra2, &e3);
    assert_non_null(strstr(e3, "reused from the cache"));
    assert_string_equal(ra, ra2);

    /* two models, one base */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(ts_path("r.db"), &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name, weights_sha256, base_weights_sha256, adapter_path, "
                                            "adapter_sha256 FROM models ORDER BY id", -1, &st, NULL), SQLITE_OK);
    char rows[2][5][300];
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(n < 2);
        for (int c = 0; c < 5; c++) {
            const unsigned char *v = sqlite3_column_text(st, c);
            assert_non_null(v);
            snprintf(rows[n][c], sizeof rows[n][c], "%s", (const char *)v);
        }
        n++;
    }
    sqlite3_finalize(st);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0][0], "tiny+lora_tiny_a");
    assert_string_equal(rows[1][0], "tiny+lora_tiny_b");
    assert_string_not_equal(rows[0][1], rows[1][1]);   /* weights evaluated differ */
    assert_string_equal(rows[0][2], rows[1][2]);       /* the same base */
    assert_string_not_equal(rows[0][4], rows[1][4]);
    assert_non_null(strstr(rows[1][3], "lora_tiny_b"));
    /* the run's settings keep the adapter, and --resume uses it: all
     * answers cached, no third model */
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT settings FROM runs WHERE id = 1", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), "lora_tiny_a"));
    sqlite3_finalize(st);
    assert_int_equal(ys("run --resume 1 --db r.db --output r1.json", &out, &e4), 0);
    free(out);
    assert_non_null(strstr(e4, "reused from the cache"));
    rr = results_of(ts_path("r1.json"));
    assert_string_equal(rr, ra);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM models", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* the results JSON's provenance names the adapter as lm-eval's peft= */
    char *j = ts_read_file(ts_path("a.json"), NULL);
    assert_non_null(strstr(j, ",peft="));
    assert_non_null(strstr(j, "\"adapter_sha256\""));
    free(j);
    free(ra), free(rb), free(ra2), free(rr), free(e1), free(e2), free(e3), free(e4);
}

/* logprobs --ids and generate --prompt-ids --ignore-eos: the same JSON, the
 * adapter's numbers (the parity test checks them against the reference). */
static void test_engine_commands(void **state)
{
    (void)state;
    ts_write_file(ts_path("ids.txt"), "5 6 7 8 9\n");
    char args[4096], *base, *ad, *err;
    snprintf(args, sizeof args, "logprobs --model %s/llama --ids ids.txt --json", models());
    assert_int_equal(ys(args, &base, &err), 0);
    free(err);
    snprintf(args, sizeof args, "logprobs --model %s/llama --adapter %s/lora_llama --ids ids.txt --json", models(),
             models());
    assert_int_equal(ys(args, &ad, &err), 0);
    assert_string_equal(err, "");   /* base_model_name_or_path "../llama" names it: no warning */
    free(err);
    cJSON *jb = cJSON_Parse(base), *ja = cJSON_Parse(ad);
    assert_non_null(ja);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ja, "logprobs")), 4);
    assert_non_null(cJSON_GetObjectItem(ja, "perplexity"));
    assert_true(cJSON_GetObjectItem(ja, "sum")->valuedouble != cJSON_GetObjectItem(jb, "sum")->valuedouble);
    cJSON_Delete(jb), cJSON_Delete(ja);
    free(base), free(ad);

    snprintf(args, sizeof args, "generate --model %s/qwen2 --adapter %s/lora_qwen2 --prompt-ids \"5 6 7\" "
             "--max-tokens 6 --ignore-eos --json", models(), models());
    char *out;
    assert_int_equal(ys(args, &out, &err), 0);
    cJSON *g = cJSON_Parse(out);
    assert_non_null(g);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "ids")), 6);
    cJSON_Delete(g);
    free(out), free(err);

    /* a mismatched base: a warning, then the shape error; exit 3 */
    snprintf(args, sizeof args, "logprobs --model %s/mistral --adapter %s/lora_llama --ids ids.txt", models(), models());
    assert_int_equal(ys(args, &out, &err), 3);
    assert_non_null(strstr(err, "warning: adapter"));
    assert_non_null(strstr(err, "shape mismatch"));
    free(out), free(err);
    /* --adapter without --model on run */
    snprintf(args, sizeof args, "run --adapter %s/lora_tiny_a --no-db", models());
    assert_int_equal(ys(args, &out, &err), 2);
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_adapters),
        cmocka_unit_test(test_engine_commands),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
