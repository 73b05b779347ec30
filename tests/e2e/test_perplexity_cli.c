/* `yardstick perplexity`: the sliding-window loop of Hugging Face's guide
 * to fixed-length models, recomputed here window by window with
 * `yardstick logprobs` on the same token ids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static void test_sliding_window(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 12; i++)
        strcat(text, "The committee met again on Tuesday to discuss the budget, and nobody agreed. ");
    ts_write_file(ts_path("doc.txt"), text);
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s/tests/data/models/tiny --json --file %s", YS_BINARY, YS_SOURCE_DIR,
             ts_path("doc.txt"));
    assert_int_equal(ts_run(cmd, &out), 0);
    cJSON *tok = cJSON_Parse(out);
    free(out);
    const cJSON *ids = cJSON_GetObjectItem(tok, "ids");
    int n = cJSON_GetArraySize(ids), ctx = 64, stride = 40;
    assert_true(n > 3 * ctx);
    int *v = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        v[i] = cJSON_GetArrayItem(ids, i)->valueint;
    /* each window through `logprobs --from`, the way perplexity scores it:
     * the tokens new to the window given everything before them in it */
    double ll = 0;
    long scored = 0;
    int prev_end = 0;
    char *out_w;
    for (int begin = 0; prev_end < n; begin += stride) {
        int end = begin + ctx < n ? begin + ctx : n;
        int from = prev_end > begin ? prev_end - begin : 1;
        FILE *f = fopen(ts_path("win.ids"), "w");
        for (int i = begin; i < end; i++)
            fprintf(f, "%d ", v[i]);
        fprintf(f, "\n");
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s logprobs --model %s/tests/data/models/tiny --ids %s --from %d --json", YS_BINARY,
                 YS_SOURCE_DIR, ts_path("win.ids"), from);
        assert_int_equal(ts_run(cmd, &out_w), 0);
        cJSON *j = cJSON_Parse(out_w);
        const cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
        assert_int_equal(cJSON_GetArraySize(lp), end - begin - from);
        for (int p = 0; p < end - begin - from; p++)
            ll += cJSON_GetArrayItem(lp, p)->valuedouble;
        scored += end - begin - from;
        cJSON_Delete(j);
        free(out_w);
        prev_end = end;
        if (end == n)
            break;
    }
    snprintf(cmd, sizeof cmd, "%s perplexity --model %s/tests/data/models/tiny --text %s --ctx %d --stride %d --json",
             YS_BINARY, YS_SOURCE_DIR, ts_path("doc.txt"), ctx, stride);
    assert_int_equal(ts_run(cmd, &out), 0);
    cJSON *p = cJSON_Parse(out);
    assert_non_null(p);
    ts_close(ts_num(p, "tokens"), (double)scored, 0, "tokens scored", NULL);
    ts_close(ts_num(p, "loglik"), ll, 1e-9, "log-likelihood", NULL);
    ts_close(ts_num(p, "token_perplexity"), exp(-ll / (double)scored), 1e-9, "token perplexity", NULL);
    ts_close(ts_num(p, "bytes"), (double)strlen(text), 0, "bytes", NULL);
    ts_close(ts_num(p, "bits_per_byte"), -ll / (double)strlen(text) / log(2.0), 1e-12, "bits per byte", NULL);
    /* every token but the first is scored exactly once when windows overlap */
    assert_int_equal(scored, n - 1);
    cJSON_Delete(p);
    cJSON_Delete(tok);
    free(out);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sliding_window)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
