/* `--quantize` on the command line: `yardstick logprobs` of a quantized
 * model equals the engine's (test_quant checks the engine against the
 * float64 reference) and differs from the unquantized model; `yardstick
 * run --quantize` stores the quantized model as another model
 * ("NAME@int4-g32", its own weights hash and dtype), so it never reuses the
 * unquantized model's cached responses, reuses its own, and --resume keeps
 * the quantization; bad values are usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "testsupport.h"

static int ys(const char *args, char **out) { return ts_ys(args, out, NULL); }

static char *stderr_text(void) { return ts_read_file(ts_path("stderr.txt"), NULL); }

static void test_logprobs(void **state)
{
    (void)state;
    ts_write_file(ts_path("ids.txt"), "5 17 3 88 41 9 60 2 77 13 21 34 55 89\n");
    char args[2048], *plain = NULL, *q4 = NULL, *q4b = NULL, *q8 = NULL;
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --json", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &plain), 0);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --json --quantize int4 "
             "--group-size 32", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &q4), 0);
    assert_int_equal(ys(args, &q4b), 0);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --json --quantize int8",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &q8), 0);
    assert_string_equal(q4, q4b);            /* deterministic */
    assert_true(strcmp(plain, q4) != 0);     /* and quantized */
    assert_true(strcmp(plain, q8) != 0 && strcmp(q4, q8) != 0);
    free(plain), free(q4), free(q4b), free(q8);
    /* usage errors: an unknown scheme, a group size without int4, a bad group size */
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --quantize int3", YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    char *e = stderr_text();
    assert_non_null(strstr(e, "int8, int4, int4-sym"));
    free(e);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --group-size 32", YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --quantize int4 --group-size 64",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    /* --quantize-head: the same names; with --compute bf16 it is refused */
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --quantize-head int5", YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    assert_non_null(strstr(e = stderr_text(), "--quantize-head"));
    free(e);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/llama --ids ids.txt --quantize-head int8 --compute bf16",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
}

static int count_rows(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void test_run(void **state)
{
    (void)state;
    const char *base = "run --tasks copa,wikitext --limit 4 --db q.db --output %s.json";
    char args[512];
    snprintf(args, sizeof args, base, "plain");
    assert_int_equal(ys(args, NULL), 0);
    snprintf(args, sizeof args, base, "q4");
    strcat(args, " --quantize int4 --group-size 32");
    char *e;
    assert_int_equal(ys(args, NULL), 0);
    assert_null(strstr(e = stderr_text(), "reused from the cache"));   /* nothing of the unquantized model's */
    free(e);
    assert_int_equal(ys(args, NULL), 0);
    assert_non_null(strstr(e = stderr_text(), "reused from the cache"));  /* its own answers */
    free(e);
    char db[1024];   /* (ts_path's buffer is reused) */
    snprintf(db, sizeof db, "%s", ts_path("q.db"));
    assert_int_equal(count_rows(db, "select count(*) from models"), 2);
    assert_int_equal(count_rows(db, "select count(*) from models where name = 'tiny@int4-g32' and dtype = 'int4-g32'"), 1);
    char *p = ts_read_file(ts_path("plain.json"), NULL), *q = ts_read_file(ts_path("q4.json"), NULL);
    cJSON *qj = cJSON_Parse(q);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(qj, "config"), "quantize")->valuestring, "int4-g32");
    cJSON_Delete(qj);
    /* the word perplexity differs: the weights did change */
    assert_true(strcmp(strstr(p, "word_perplexity"), strstr(q, "word_perplexity")) != 0);
    free(p), free(q);
    /* --resume takes the quantization from the run's settings */
    assert_int_equal(ys("run --resume 2 --db q.db", NULL), 0);
    assert_non_null(strstr(e = stderr_text(), "reused from the cache"));
    free(e);
    /* the head quantized too: a third model (tiny is tied: its input
     * embedding stays as stored), nothing reused from the others, and
     * --resume keeps the head's quantization */
    snprintf(args, sizeof args, base, "q4h");
    strcat(args, " --quantize int4 --group-size 32 --quantize-head int8");
    assert_int_equal(ys(args, NULL), 0);
    assert_null(strstr(e = stderr_text(), "reused from the cache"));
    free(e);
    assert_int_equal(count_rows(db, "select count(*) from models where name = 'tiny@int4-g32-head-int8' and "
                                    "dtype = 'int4-g32-head-int8'"), 1);
    char *qh = ts_read_file(ts_path("q4h.json"), NULL);
    q = ts_read_file(ts_path("q4.json"), NULL);
    assert_true(strcmp(strstr(qh, "word_perplexity"), strstr(q, "word_perplexity")) != 0);
    free(qh), free(q);
    int last = count_rows(db, "select max(id) from runs");
    snprintf(args, sizeof args, "run --resume %d --db q.db", last);
    assert_int_equal(ys(args, NULL), 0);
    assert_non_null(strstr(e = stderr_text(), "reused from the cache"));
    free(e);
    assert_int_equal(count_rows(db, "select count(*) from models"), 3);
    /* not for an encoder classifier */
    snprintf(args, sizeof args, "run --model %s/tests/data/models/bert_cls --tasks sst2 --limit 2 --no-db --quantize int8",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    e = stderr_text();
    assert_non_null(strstr(e, "decoder-only"));
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_logprobs), cmocka_unit_test(test_run)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
