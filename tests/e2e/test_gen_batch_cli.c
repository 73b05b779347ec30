/* Batched generation end to end: `yardstick run` on generation tasks gives
 * the same results JSON (but for the batch_size it records) and
 * byte-identical sample logs with --batch-size 1 and 5, on a decoder (the
 * tiny GPT-2: SQuAD, GSM8K) and an encoder-decoder (T5: summarization,
 * translation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static int ys(const char *args, char **out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>>%s/stderr.txt", ts_scratch(), YS_BINARY, args, ts_scratch());
    return ts_run(cmd, out);
}

/* The results JSON without config.batch_size, compact. */
static char *results_without_batch(const char *path)
{
    char *text = ts_read_file(path, NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    cJSON *cfg = cJSON_GetObjectItem(j, "config");
    assert_non_null(cJSON_GetObjectItem(cfg, "batch_size"));
    cJSON_DeleteItemFromObject(cfg, "batch_size");
    char *r = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return r;
}

/* The samples log of task in folder sub (its name has a time stamp). */
static char *samples_of(const char *sub, const char *task)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/%s/samples_%s_*.jsonl", ts_scratch(), sub, task);
    assert_int_equal(ts_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    char *text = ts_read_file(out, NULL);
    assert_non_null(text);
    free(out);
    return text;
}

static void same_runs(const char *model, const char *tasks, const char *const *each, size_t n)
{
    char args[4096], *out = NULL;
    for (int k = 0; k < 2; k++) {
        const char *sub = k ? "b5" : "b1";
        snprintf(args, sizeof args, "mkdir -p %s/%s_%s", ts_scratch(), sub, model);
        assert_int_equal(ts_run(args, NULL), 0);
        snprintf(args, sizeof args,
                 "run --model %s/tests/data/models/%s --tasks %s --batch-size %d --db %s_%s.db --output %s_%s/results.json "
                 "--log-samples",
                 YS_SOURCE_DIR, model, tasks, k ? 5 : 1, sub, model, sub, model);
        assert_int_equal(ys(args, &out), 0);
        free(out);
    }
    char a[256], b[256];
    snprintf(a, sizeof a, "b1_%s/results.json", model);
    snprintf(b, sizeof b, "b5_%s/results.json", model);
    char *ra = results_without_batch(ts_path(a)), *rb = results_without_batch(ts_path(b));
    assert_string_equal(ra, rb);
    free(ra), free(rb);
    for (size_t i = 0; i < n; i++) {
        snprintf(a, sizeof a, "b1_%s", model);
        snprintf(b, sizeof b, "b5_%s", model);
        char *sa = samples_of(a, each[i]), *sb = samples_of(b, each[i]);
        /* something was generated: some response is not empty */
        size_t nonempty = 0;
        for (const char *p = sa; (p = strstr(p, "\"resps\":[\"")) != NULL; p++)
            nonempty += p[10] != '"';
        assert_true(nonempty > 0);
        assert_string_equal(sa, sb);
        free(sa), free(sb);
    }
}

static void test_run_decoder(void **state)
{
    (void)state;
    static const char *const tasks[] = {"squad", "gsm8k"};
    same_runs("tiny", "squad,gsm8k", tasks, 2);
}

static void test_run_seq2seq(void **state)
{
    (void)state;
    static const char *const tasks[] = {"summarization", "translation_de_en"};
    same_runs("t5", "summarization,translation_de_en", tasks, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_decoder, ts_scratch_setup, ts_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_run_seq2seq, ts_scratch_setup, ts_scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
