/* `yardstick compare`: the regression gate on runs whose per-sample records
 * are written through the store API — McNemar on 0/1 metrics, paired
 * bootstrap on BLEU statistics, the allowed drop, Holm, the task hash,
 * JUnit and Markdown outputs, exit codes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "significance.h"
#include "store.h"
#include "testsupport.h"

static int64_t add_run(rs_store *s, const char *model, const double *acc, size_t n, double bleu_scale,
                       const char *hash)
{
    ys_error err = {0};
    rs_model m = {.name = model, .weights_sha256 = model};
    int64_t mid, run;
    assert_int_equal(rs_model_id(s, &m, &mid, &err), 0);
    rs_run r = {.model_id = mid, .tasks = "sst2,wmt", .version = "test"};
    assert_int_equal(rs_run_begin(s, &r, &run, &err), 0);
    double sum = 0;
    rs_sample *smp = calloc(2 * n, sizeof *smp);
    char (*metrics)[64] = calloc(n, 64), (*stats)[160] = calloc(n, 160), (*pred)[16] = calloc(n, 16);
    for (size_t i = 0; i < n; i++) {
        sum += acc[i];
        snprintf(metrics[i], 64, "{\"acc\": %g}", acc[i]);
        snprintf(pred[i], 16, "%s", acc[i] ? "positive" : "negative");
        smp[i] = (rs_sample){.task = "sst2", .doc_id = (int64_t)i, .prompt = "Review: ...", .prediction = pred[i],
                             .target = "positive", .metrics_json = metrics[i]};
        /* BLEU statistics: 20 words, matches scaled per model */
        int c1 = (int)(18 * bleu_scale), c2 = (int)(14 * bleu_scale), c3 = (int)(10 * bleu_scale), c4 = (int)(7 * bleu_scale);
        snprintf(stats[i], 160, "{\"bleu\": [20, 20, %d, %d, %d, %d, 20, 19, 18, 17]}", c1 - (int)(i % 3), c2 - (int)(i % 2), c3, c4);
        smp[n + i] = (rs_sample){.task = "wmt", .doc_id = (int64_t)i, .stats_json = stats[i]};
    }
    assert_int_equal(rs_samples_put(s, run, smp, 2 * n, &err), 0);
    rs_result res[2] = {
        {.task = "sst2", .metric = "acc", .value = sum / (double)n, .stderr_ = 0.02, .ci_low = NAN, .ci_high = NAN,
         .n = (int64_t)n, .higher_is_better = true, .task_hash = hash},
        {.task = "wmt", .metric = "bleu", .value = 40 * bleu_scale, .stderr_ = NAN, .ci_low = NAN, .ci_high = NAN,
         .n = (int64_t)n, .higher_is_better = true, .task_hash = "w"},
    };
    assert_int_equal(rs_results_put(s, run, res, 2, &err), 0);
    assert_int_equal(rs_run_end(s, run, "complete", &err), 0);
    free(smp), free(metrics), free(stats), free(pred);
    return run;
}

static int setup(void **state)
{
    if (ts_scratch_setup(state) != 0)
        return -1;
    char db[512];
    snprintf(db, sizeof db, "%s/c.db", ts_scratch());
    rs_store *s;
    ys_error err = {0};
    if (rs_open(db, &s, &err) < 0)
        return -1;
    enum { N = 200 };
    double base[N], worse[N], same[N];
    for (int i = 0; i < N; i++) {
        base[i] = i % 5 != 0;                  /* 80% */
        worse[i] = base[i] && (i % 10 != 1);   /* 20 right→wrong: 70% */
        same[i] = base[i];
    }
    add_run(s, "base", base, N, 1.0, "h1");     /* run 1 */
    add_run(s, "worse", worse, N, 0.8, "h1");   /* run 2 */
    add_run(s, "same", same, N, 1.0, "h1");     /* run 3 */
    add_run(s, "changed", same, N, 1.0, "h2");  /* run 4: different task hash */
    rs_close(s);
    return 0;
}

static int compare(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s compare --db c.db %s 2>stderr.txt", ts_scratch(), YS_BINARY, args);
    return ts_run(cmd, out);
}

static void test_regression_fails_the_gate(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(compare("--baseline 1 --candidate worse --junit j.xml --markdown m.md", &out), 1);
    assert_non_null(strstr(out, "mcnemar"));
    assert_non_null(strstr(out, "paired-bootstrap"));
    assert_non_null(strstr(out, "regressed"));
    assert_non_null(strstr(out, "20 right→wrong, 0 wrong→right of 200"));
    assert_non_null(strstr(out, "REGRESSED"));
    free(out);
    /* p-values: McNemar b=20, c=0, Holm over 2 tests */
    char path[512];
    snprintf(path, sizeof path, "%s/j.xml", ts_scratch());
    char *xml = ts_read_file(path, NULL);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<testsuite name=\"yardstick compare\" tests=\"2\" failures=\"2\""));
    assert_non_null(strstr(xml, "<failure message=\"regressed"));
    free(xml);
    snprintf(path, sizeof path, "%s/m.md", ts_scratch());
    char *md = ts_read_file(path, NULL);
    assert_non_null(md);
    assert_non_null(strstr(md, "❌ regression"));
    assert_non_null(strstr(md, "| sst2 | acc | 0.8000 | 0.7000 | -0.1000 |"));
    assert_non_null(strstr(md, "<details>"));
    free(md);
}

static void test_allowed_drop_and_equal_runs_pass(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(compare("--baseline base --candidate worse --max-drop acc=0.15 --max-drop wmt:bleu=10", &out), 0);
    assert_non_null(strstr(out, "no regression"));
    free(out);
    assert_int_equal(compare("--baseline 1 --candidate 3", &out), 0);
    assert_null(strstr(out, "regressed"));
    free(out);
    /* a changed task hash is never silently compared */
    assert_int_equal(compare("--baseline 1 --candidate 4", &out), 0);
    assert_non_null(strstr(out, "not comparable"));
    free(out);
}

static void test_results_file_baseline_and_errors(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/base.json", ts_scratch());
    ts_write_file(path, "{\"results\": {\"sst2\": {\"acc,none\": 0.90, \"acc_stderr,none\": 0.01}}, \"model_name\": \"ref\"}");
    char *out, args[700];
    /* no per-sample data for a file: a z-test from the two standard errors */
    snprintf(args, sizeof args, "--baseline %s --candidate worse", path);
    assert_int_equal(compare(args, &out), 1);
    assert_non_null(strstr(out, "z-test"));
    free(out);
    assert_int_equal(compare("--baseline nosuchmodel --candidate worse", &out), 3);
    free(out);
    assert_int_equal(compare("--baseline 1", &out), 2);
    free(out);
    assert_int_equal(compare("--baseline 1 --candidate 2 --max-drop acc", &out), 2);
    free(out);
}

static void test_mcnemar_p_value_in_output(void **state)
{
    (void)state;
    /* the exact p for 20 discordant pairs all one way, Holm ×2 */
    double p = sig_mcnemar_exact(20, 0);
    ts_close(p, 2.0 * pow(0.5, 20), 1e-15, "mcnemar", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regression_fails_the_gate),
        cmocka_unit_test(test_allowed_drop_and_equal_runs_pass),
        cmocka_unit_test(test_results_file_baseline_and_errors),
        cmocka_unit_test(test_mcnemar_p_value_in_output),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
