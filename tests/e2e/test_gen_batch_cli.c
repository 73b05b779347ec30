/* Batched generation end to end: `yardstick run` on generation tasks gives
 * the same results JSON (but for the batch_size it records) and
 * byte-identical sample logs with --batch-size 1 and 5, on a decoder (the
 * tiny GPT-2: SQuAD, GSM8K) and an encoder-decoder (T5: summarization,
 * translation). `yardstick generate --prompts-file` prints, line by line in
 * input order, what separate `generate` calls print for each prompt
 * (greedy, seeded sampling, beams), at --batch-size 1, 3 and the default;
 * and names file:line for a bad line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static int ys(const char *args, char **out) { return ts_ys_log(args, out); }

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
        char *sa = ts_samples_log(a, each[i]), *sb = ts_samples_log(b, each[i]);
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

/* Each line of the prompts file against a separate call; extra = the
 * decoding options of both. */
static void same_as_separate(const char *model, const char *const *prompts, size_t n, const char *extra)
{
    char path[1024], args[8192], *out = NULL;
    snprintf(path, sizeof path, "%s/prompts.jsonl", ts_scratch());
    char file[8192] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(file, prompts[i]);
        strcat(file, i == 1 ? "\n\n" : "\n");   /* an empty line is skipped */
    }
    ts_write_file(path, file);
    char *want[16];
    for (size_t i = 0; i < n; i++) {
        /* the same prompt on the command line */
        cJSON *j = cJSON_Parse(prompts[i]);
        const cJSON *pt = cJSON_IsString(j) ? j : cJSON_GetObjectItem(j, "prompt");
        const cJSON *pi = cJSON_GetObjectItem(j, "prompt_ids");
        char opt[1024] = "";
        if (pt) {
            snprintf(opt, sizeof opt, "--prompt '%s'", pt->valuestring);
        } else {
            strcpy(opt, "--prompt-ids '");
            const cJSON *v;
            cJSON_ArrayForEach(v, pi) snprintf(opt + strlen(opt), sizeof opt - strlen(opt), "%d ", v->valueint);
            strcat(opt, "'");
        }
        cJSON_Delete(j);
        snprintf(args, sizeof args, "generate --model %s/tests/data/models/%s --json %s %s", YS_SOURCE_DIR, model, opt,
                 extra);
        assert_int_equal(ys(args, &want[i]), 0);
        assert_non_null(strstr(want[i], "\"ids\": ["));
    }
    static const char *const BATCH[] = {"--batch-size 1", "--batch-size 3", ""};
    for (size_t b = 0; b < 3; b++) {
        snprintf(args, sizeof args, "generate --model %s/tests/data/models/%s --json --prompts-file %s %s %s",
                 YS_SOURCE_DIR, model, path, extra, BATCH[b]);
        assert_int_equal(ys(args, &out), 0);
        const char *p = out;
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(want[i]);
            if (strncmp(p, want[i], len))
                fail_msg("%s %s %s: prompt %zu: got %.*s, alone %s", model, extra, BATCH[b], i, (int)len, p, want[i]);
            p += len;
        }
        assert_string_equal(p, "");
        free(out);
    }
    for (size_t i = 0; i < n; i++)
        free(want[i]);
}

static void test_generate_file_decoder(void **state)
{
    (void)state;
    static const char *const P[] = {"\"The lake\"", "{\"prompt\": \"Hello there, who\"}", "{\"prompt_ids\": [5, 6, 7]}",
                                    "{\"prompt\": \"A\"}", "{\"prompt_ids\": [40, 41, 42, 43, 44, 45, 46, 47, 48]}"};
    same_as_separate("tiny", P, 5, "--max-tokens 12");
    same_as_separate("tiny", P, 5, "--max-tokens 10 --temperature 0.9 --seed 7 --top-k 40");
    same_as_separate("tiny", P, 5, "--max-tokens 16 --stop e");
}

static void test_generate_file_seq2seq(void **state)
{
    (void)state;
    static const char *const P[] = {"\"Das ist gut.\"", "{\"prompt\": \"summarize: the council voted\"}",
                                    "{\"prompt_ids\": [5, 6, 7, 1]}", "{\"prompt\": \"x\"}"};
    same_as_separate("t5", P, 4, "--max-tokens 8");
    same_as_separate("t5", P, 4, "--max-tokens 8 --num-beams 3");
    static const char *const Q[] = {"{\"prompt_ids\": [5, 6, 7, 0]}", "{\"prompt_ids\": [9, 0]}",
                                    "{\"prompt_ids\": [11, 12, 13, 14, 15, 0]}"};
    same_as_separate("marian", Q, 3, "");   /* its own beams (6), forced EOS */
    same_as_separate("bart", Q, 3, "--max-tokens 10");
}

static void test_generate_file_errors(void **state)
{
    (void)state;
    char path[1024], args[4096], *out = NULL;
    snprintf(path, sizeof path, "%s/bad.jsonl", ts_scratch());
    static const char *const BAD[][2] = {
        {"\"ok\"\n{\"prompt_ids\": [1, 2.5]}\n", "bad.jsonl:2:"},
        {"\"ok\"\n\n[3]\n", "bad.jsonl:3: expected a string or an object"},
        {"{\"prompt\": \"a\", \"prompt_ids\": [1]}\n", "bad.jsonl:1: give exactly one"},
        {"{\"prompt_ids\": [1, 100000]}\n", "bad.jsonl:1: token 1: id 100000 outside the vocabulary"},
        {"{\"prompt_ids\": []}\n", "bad.jsonl:1: the prompt has no tokens"},
        {"{\"prompt\": \"a\"\n", "bad.jsonl:1: malformed JSON"},
    };
    for (size_t k = 0; k < sizeof BAD / sizeof *BAD; k++) {
        ts_write_file(path, BAD[k][0]);
        snprintf(args, sizeof args, "generate --model %s/tests/data/models/tiny --prompts-file %s 2>&1", YS_SOURCE_DIR,
                 path);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "cd %s && %s %s", ts_scratch(), YS_BINARY, args);
        assert_int_equal(ts_run(cmd, &out), 3);
        if (!strstr(out, BAD[k][1]))
            fail_msg("case %zu: %s does not say %s", k, out, BAD[k][1]);
        free(out);
    }
    snprintf(args, sizeof args, "generate --model %s/tests/data/models/tiny --prompt a --batch-size 4", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 2);   /* --batch-size is for --prompts-file */
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_decoder, ts_scratch_setup, ts_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_run_seq2seq, ts_scratch_setup, ts_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_generate_file_decoder, ts_scratch_setup, ts_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_generate_file_seq2seq, ts_scratch_setup, ts_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_generate_file_errors, ts_scratch_setup, ts_scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
