/* The engine commands end to end on the tiny checkpoints in tests/data:
 * `logprobs --ids` against the float64 PyTorch reference (1e-4), `generate
 * --prompt-ids` greedy against the reference's continuation, seeded sampling
 * reproducible, and bad input rejected with exit code 3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

static const char *models[] = {"gpt2", "gpt2_sharded", "llama", "llama_f16_tied", "qwen2", "mistral"};

static cJSON *expected(const char *model)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tests/data/models/%s/expected.json", YS_SOURCE_DIR, model);
    cJSON *j = ts_load_json(path);
    return j;
}

static void test_logprobs_match_reference(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        cJSON *want = expected(models[k]);
        char ids_path[256], cmd[1024], *out;
        snprintf(ids_path, sizeof ids_path, "/tmp/ys_model_cli_%d.ids", (int)getpid());
        FILE *f = fopen(ids_path, "w");
        assert_non_null(f);
        const cJSON *seq;
        int nseq = 0;
        cJSON_ArrayForEach(seq, cJSON_GetObjectItem(want, "sequences")) {
            const cJSON *id;
            int first = 1;
            if (cJSON_GetArraySize(cJSON_GetObjectItem(seq, "ids")) < 2)
                continue;
            cJSON_ArrayForEach(id, cJSON_GetObjectItem(seq, "ids")) {
                fprintf(f, "%s%d", first ? "" : " ", id->valueint);
                first = 0;
            }
            fprintf(f, "\n");
            nseq++;
        }
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s logprobs --model %s/tests/data/models/%s --ids %s --json --threads 2", YS_BINARY,
                 YS_SOURCE_DIR, models[k], ids_path);
        assert_int_equal(ts_run(cmd, &out), 0);
        /* one JSON line per sequence, in order */
        char *line = out;
        int i = 0;
        cJSON_ArrayForEach(seq, cJSON_GetObjectItem(want, "sequences")) {
            if (cJSON_GetArraySize(cJSON_GetObjectItem(seq, "ids")) < 2)
                continue;
            char *nl = strchr(line, '\n');
            assert_non_null(nl);
            *nl = 0;
            cJSON *got = cJSON_Parse(line);
            assert_non_null(got);
            const cJSON *gl = cJSON_GetObjectItem(got, "logprobs"), *wl = cJSON_GetObjectItem(seq, "logprobs");
            assert_int_equal(cJSON_GetArraySize(gl), cJSON_GetArraySize(wl));
            double sum = 0;
            for (int p = 0; p < cJSON_GetArraySize(wl); p++) {
                double g = cJSON_GetArrayItem(gl, p)->valuedouble, w = cJSON_GetArrayItem(wl, p)->valuedouble;
                ts_close(g, w, 1e-4, "logprob", models[k]);
                sum += g;
            }
            ts_close(ts_num(got, "sum"), sum, 1e-9, "sum", models[k]);
            ts_close(ts_num(got, "count"), cJSON_GetArraySize(wl), 0, "count", models[k]);
            ts_close(ts_num(got, "perplexity"), exp(-sum / cJSON_GetArraySize(wl)), 1e-9, "perplexity", models[k]);
            cJSON_Delete(got);
            line = nl + 1;
            i++;
        }
        assert_int_equal(i, nseq);
        free(out);
        remove(ids_path);
        cJSON_Delete(want);
    }
}

static void test_generate_greedy_and_sampling(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        cJSON *want = expected(models[k]);
        const cJSON *g = cJSON_GetObjectItem(want, "generate");
        char prompt[512] = "", cmd[1024], *out;
        const cJSON *id;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(g, "prompt")) {
            char t[16];
            snprintf(t, sizeof t, "%s%d", prompt[0] ? " " : "", id->valueint);
            strcat(prompt, t);
        }
        snprintf(cmd, sizeof cmd, "%s generate --model %s/tests/data/models/%s --prompt-ids \"%s\" --max-tokens %d --ignore-eos --json",
                 YS_BINARY, YS_SOURCE_DIR, models[k], prompt, (int)ts_num(g, "max_new_tokens"));
        assert_int_equal(ts_run(cmd, &out), 0);
        cJSON *got = cJSON_Parse(out);
        assert_non_null(got);
        const cJSON *gi = cJSON_GetObjectItem(got, "ids"), *wi = cJSON_GetObjectItem(g, "tokens");
        assert_int_equal(cJSON_GetArraySize(gi), cJSON_GetArraySize(wi));
        for (int p = 0; p < cJSON_GetArraySize(wi); p++)
            assert_int_equal(cJSON_GetArrayItem(gi, p)->valueint, cJSON_GetArrayItem(wi, p)->valueint);
        cJSON_Delete(got);
        free(out);
        /* seeded sampling: same seed, same tokens */
        char *a, *b;
        snprintf(cmd, sizeof cmd, "%s generate --model %s/tests/data/models/%s --prompt-ids \"%s\" --max-tokens 12 --ignore-eos --temperature 0.9 --top-p 0.95 --seed 7 --json",
                 YS_BINARY, YS_SOURCE_DIR, models[k], prompt);
        assert_int_equal(ts_run(cmd, &a), 0);
        assert_int_equal(ts_run(cmd, &b), 0);
        assert_string_equal(a, b);
        free(a), free(b);
        cJSON_Delete(want);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "/tmp/ys_model_cli_bad_%d.ids", (int)getpid());
    ts_write_file(path, "1 2 3\n4 x 5\n");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s/tests/data/models/gpt2 --ids %s 2>/dev/null", YS_BINARY, YS_SOURCE_DIR, path);
    assert_int_equal(ts_run(cmd, NULL), 3);
    ts_write_file(path, "1 2 999999\n");
    assert_int_equal(ts_run(cmd, NULL), 3); /* outside the vocabulary */
    remove(path);
    snprintf(cmd, sizeof cmd, "%s logprobs --model /nonexistent --ids %s 2>/dev/null", YS_BINARY, path);
    assert_int_equal(ts_run(cmd, NULL), 3);
    snprintf(cmd, sizeof cmd, "%s generate --model %s/tests/data/models/gpt2 2>/dev/null", YS_BINARY, YS_SOURCE_DIR);
    assert_int_equal(ts_run(cmd, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logprobs_match_reference),
        cmocka_unit_test(test_generate_greedy_and_sampling),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
