/* `yardstick report`: the leaderboard in every format, built from imported
 * lm-evaluation-harness results; the HTML page is loaded in headless
 * Chromium (Debian's chromium) and checked as a browser sees it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

static int setup(void **state)
{
    if (ts_scratch_setup(state) != 0)
        return -1;
    char cmd[600];
    /* three models; "a" has two runs (history); a wins sst2 clearly, b and c
     * are within error of each other on cola */
    const char *files[][2] = {
        {"a1.json", "{\"results\": {\"sst2\": {\"acc,none\": 0.80, \"acc_stderr,none\": 0.01}, \"cola\": {\"mcc,none\": 0.30, \"mcc_stderr,none\": 0.02}}, \"config\": {\"model_args\": \"pretrained=model-a\"}}"},
        {"b.json", "{\"results\": {\"sst2\": {\"acc,none\": 0.70, \"acc_stderr,none\": 0.01}, \"cola\": {\"mcc,none\": 0.40, \"mcc_stderr,none\": 0.02}}, \"config\": {\"model_args\": \"pretrained=model-b\"}}"},
        {"c.json", "{\"results\": {\"sst2\": {\"acc,none\": 0.60, \"acc_stderr,none\": 0.01}, \"cola\": {\"mcc,none\": 0.39, \"mcc_stderr,none\": 0.02}}, \"config\": {\"model_args\": \"pretrained=model-<c>\"}}"},
        {"a2.json", "{\"results\": {\"sst2\": {\"acc,none\": 0.85, \"acc_stderr,none\": 0.01}, \"cola\": {\"mcc,none\": 0.35, \"mcc_stderr,none\": 0.02}}, \"config\": {\"model_args\": \"pretrained=model-a\"}}"},
    };
    for (int k = 0; k < 4; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", ts_scratch(), files[k][0]);
        ts_write_file(path, files[k][1]);
        snprintf(cmd, sizeof cmd, "cd %s && %s import %s --db r.db >/dev/null", ts_scratch(), YS_BINARY, files[k][0]);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* noinline: once inlined, GCC 12 imagines the returned text may point into
 * this frame's command buffer and warns about dangling pointers. */
__attribute__((noinline)) static char *report(const char *args)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "cd %s && %s report --db r.db %s", ts_scratch(), YS_BINARY, args);
    assert_int_equal(ts_run(cmd, &out), 0);
    return out;
}

static void test_json_marks_best_tied_and_win_rate(void **state)
{
    (void)state;
    char *out = report("--format json");
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 3);
    /* columns sorted: cola:mcc, sst2:acc. Latest run of model-a is the 0.85 one. */
    const cJSON *r;
    int seen = 0;
    cJSON_ArrayForEach(r, rows) {
        const char *m = cJSON_GetObjectItem(r, "model")->valuestring;
        const cJSON *cells = cJSON_GetObjectItem(r, "cells");
        const cJSON *cola = cJSON_GetArrayItem(cells, 0), *sst2 = cJSON_GetArrayItem(cells, 1);
        if (!strcmp(m, "model-a")) {
            ts_close(ts_num(sst2, "value"), 0.85, 0, "latest run", m);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sst2, "best")));
            /* a wins sst2 against both, loses cola to both: (1 + 0) / 2 */
            ts_close(ts_num(r, "mean_win_rate"), 0.5, 1e-12, "win rate", m);
            seen++;
        } else if (!strcmp(m, "model-b")) {
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cola, "best")));
            seen++;
        } else if (!strcmp(m, "model-<c>")) {
            /* 0.39 vs 0.40 with se 0.02 each: not significantly worse */
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cola, "tied")));
            assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sst2, "tied")));
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    /* default sort: mean win rate, best first */
    double prev = 2;
    cJSON_ArrayForEach(r, rows) {
        double w = ts_num(r, "mean_win_rate");
        assert_true(w <= prev);
        prev = w;
    }
    cJSON_Delete(j);
    free(out);
}

static long offset_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    return p ? (long)(p - text) : -1;
}

static void test_md_csv_and_sort(void **state)
{
    (void)state;
    char *out = report("--format md --sort sst2:acc");
    assert_non_null(strstr(out, "| model | run | mean win rate |"));
    assert_non_null(strstr(out, "**0.8500**"));
    /* row order by position in the text */
    long pa = offset_of(out, "| model-a"), pb = offset_of(out, "| model-b"), pc = offset_of(out, "| model-<c>");
    assert_true(pa >= 0 && pa < pb && pb < pc);
    free(out);
    out = report("--format csv --models model-a,model-b");
    assert_non_null(strstr(out, "model,run,mean_win_rate,glue,cola:mcc,cola:mcc stderr,cola:mcc n"));
    assert_null(strstr(out, "model-<c>"));
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && %s report --db r.db --sort nosuch:col 2>/dev/null", ts_scratch(), YS_BINARY);
    assert_int_equal(ts_run(cmd, NULL), 2);
}

static void test_html_in_chromium(void **state)
{
    (void)state;
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "cd %s && %s report --db r.db --format html -o board.html", ts_scratch(), YS_BINARY);
    assert_int_equal(ts_run(cmd, NULL), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/board.html", ts_scratch());
    char *html = ts_read_file(path, NULL);
    assert_non_null(html);
    /* self-contained: no scripts, no external resources */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, "href=\"http"));
    assert_null(strstr(html, "@import"));
    assert_non_null(strstr(html, "model-&lt;c&gt;")); /* names are escaped */
    free(html);
    if (ts_run("command -v chromium >/dev/null 2>&1", NULL) != 0)
        skip(); /* Debian's chromium is installed by .ci/install-deps.sh */
    snprintf(cmd, sizeof cmd,
             "cd %s && chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=%s/chrome "
             "--dump-dom file://%s 2>/dev/null",
             ts_scratch(), ts_scratch(), path);
    assert_int_equal(ts_run(cmd, &out), 0);
    /* what the browser built: the table with three model rows, one bar chart
     * per column with a bar per model, and the history chart for model-a */
    int rows = 0, rects = 0, svgs = 0;
    for (const char *p = out; (p = strstr(p, "<tr>")); p++)
        rows++;
    for (const char *p = out; (p = strstr(p, "<rect")); p++)
        rects++;
    for (const char *p = out; (p = strstr(p, "<svg")); p++)
        svgs++;
    assert_int_equal(rows, 1 + 3);
    assert_int_equal(rects, 2 * 3);
    assert_int_equal(svgs, 2 + 2);
    assert_non_null(strstr(out, "across runs"));
    free(out);
    snprintf(cmd, sizeof cmd,
             "cd %s && chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=%s/chrome "
             "--window-size=1280,900 --screenshot=%s/board.png file://%s >/dev/null 2>&1",
             ts_scratch(), ts_scratch(), ts_scratch(), path);
    assert_int_equal(ts_run(cmd, NULL), 0);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/board.png", ts_scratch());
    char *png = ts_read_file(path, &len);
    assert_non_null(png);
    assert_true(len > 10000 && memcmp(png, "\x89PNG", 4) == 0);
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_marks_best_tied_and_win_rate),
        cmocka_unit_test(test_md_csv_and_sort),
        cmocka_unit_test(test_html_in_chromium),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
