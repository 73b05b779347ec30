/* A run killed at random points and finished with --resume ends with
 * exactly the results of an uninterrupted run, with no sample lost or
 * doubled, and reuses the responses the killed run had finished. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testsupport.h"

#define TASKS "glue,wikitext,squad"

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

static int ys(const char *args, char **out) { return ts_ys_log(args, out); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    char args[2048], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " TASKS " --db ref.db --output ref.json",
             YS_SOURCE_DIR);
    double t0 = now_s();
    assert_int_equal(ys(args, &out), 0);
    double took = now_s() - t0;
    free(out);
    char *want = results_of(ts_path("ref.json"));
    /* kill points spread over the run, as fractions of the uninterrupted
     * run's time on this machine and build (0.3 s optimised, seconds under
     * the sanitizers): fixed times would all land after the end on a fast
     * build */
    const double kill_at[] = {0.2, 0.4, 0.6, 0.8};
    int resumed = 0;
    for (size_t k = 0; k < sizeof kill_at / sizeof kill_at[0]; k++) {
        char db[64], cmd[4096];
        snprintf(db, sizeof db, "k%zu.db", k);
        snprintf(cmd, sizeof cmd, "cd %s && timeout -s KILL %.3f %s run --model %s/tests/data/models/tiny --tasks " TASKS
                 " --db %s >/dev/null 2>&1", ts_scratch(), kill_at[k] * took, YS_BINARY, YS_SOURCE_DIR, db);
        int rc = ts_run(cmd, NULL);
        /* 137: killed; 0: it finished first (a fast machine) */
        snprintf(args, sizeof args, "runs list --db %s", db);
        assert_int_equal(ys(args, &out), 0);
        int has_run = strstr(out, "\n1 ") != NULL;
        free(out);
        if (!has_run)
            continue; /* killed before the run was recorded: nothing to resume */
        snprintf(args, sizeof args, "run --resume 1 --db %s --output k.json", db);
        assert_int_equal(ys(args, &out), 0);
        free(out);
        char *got = results_of(ts_path("k.json"));
        if (strcmp(got, want))
            fail_msg("killed after %.3fs (exit %d), resumed: results differ\n%s\nvs\n%s", kill_at[k] * took, rc, got,
                     want);
        free(got);
        /* every sample once: the same count as the uninterrupted run */
        snprintf(args, sizeof args, "runs list --db %s", db);
        assert_int_equal(ys(args, &out), 0);
        char *ref_list;
        assert_int_equal(ys("runs list --db ref.db", &ref_list), 0);
        long n1 = 0, n2 = 0;
        const char *p1 = strstr(out, "\n1 "), *p2 = strstr(ref_list, "\n1 ");
        assert_non_null(p1);
        assert_non_null(p2);
        assert_true(strstr(p1, "complete") != NULL);
        sscanf(strstr(p1, "Z ") + 2, "%*s %ld", &n1);
        sscanf(strstr(p2, "Z ") + 2, "%*s %ld", &n2);
        assert_true(n2 > 0);
        assert_int_equal(n1, n2);
        free(out), free(ref_list);
        resumed++;
    }
    assert_true(resumed >= 2);
    /* rescore: the same numbers from the cache alone, no model run */
    assert_int_equal(ys("rescore 1 --db ref.db --output rescored.json", &out), 0);
    free(out);
    char *again = results_of(ts_path("rescored.json"));
    assert_string_equal(again, want);
    free(again);
    /* rescoring a run that was killed fails cleanly when some responses are
     * missing, and otherwise (the kill landed after the last response was
     * cached, while results were being stored) gives the full run's numbers:
     * never a partial score */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && timeout -s KILL %.3f %s run --model %s/tests/data/models/tiny --tasks " TASKS
             " --db cut.db >/dev/null 2>&1", ts_scratch(), 0.5 * took, YS_BINARY, YS_SOURCE_DIR);
    ts_run(cmd, NULL);
    assert_int_equal(ys("runs list --db cut.db", &out), 0);
    bool interrupted = strstr(out, "running") != NULL;
    free(out);
    if (interrupted) {
        int rc = ys("rescore 1 --db cut.db --output cut.json", &out);
        free(out);
        if (rc == 0) {
            char *cut = results_of(ts_path("cut.json"));
            assert_string_equal(cut, want);
            free(cut);
        } else {
            assert_int_equal(rc, 3);
        }
    }
    free(want);
    /* a different model is never served these answers: the cache key has
     * the weights' hash, so the tiny gpt2 fixture computes its own */
    char *log = ts_read_file(ts_path("stderr.txt"), NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "reused from the cache"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_and_resume)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
