/* The results store: creation, refusal of foreign/newer/corrupt files,
 * round trips, cascading deletes, and two processes writing at once. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "testsupport.h"

static int query_int(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int v = -1;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void exec_sql(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static void test_create_and_reopen(void **state)
{
    (void)state;
    rs_store *s;
    ys_error err = {0};
    assert_int_equal(rs_open(ts_path("a.db"), &s, &err), 0);
    rs_close(s);
    assert_int_equal(query_int(ts_path("a.db"), "PRAGMA user_version"), rs_schema_version());
    assert_true(rs_schema_version() >= 1);
    assert_int_equal(query_int(ts_path("a.db"), "SELECT count(*) FROM sqlite_master WHERE name IN "
                                                "('models','runs','task_results','samples','responses','task_prompts')"),
                     6);
    assert_int_equal(rs_open(ts_path("a.db"), &s, &err), 0);
    rs_close(s);
}

static void expect_refused(const char *file, const char *words)
{
    rs_store *s = NULL;
    ys_error err = {0};
    int rc = rs_open(file, &s, &err);
    assert_true(rc < 0);
    assert_null(s);
    if (!strstr(err.msg, words))
        fail_msg("opening %s: message '%s' lacks '%s'", file, err.msg, words);
}

static void test_refuses_foreign_newer_corrupt(void **state)
{
    (void)state;
    exec_sql(ts_path("other.db"), "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    expect_refused(ts_path("other.db"), "not a yardstick results store");
    rs_store *s;
    ys_error err = {0};
    assert_int_equal(rs_open(ts_path("new.db"), &s, &err), 0);
    rs_close(s);
    exec_sql(ts_path("new.db"), "PRAGMA user_version = 999");
    expect_refused(ts_path("new.db"), "newer than this yardstick");
    ts_write_file(ts_path("junk.db"), "this is not a database at all, just some text that is long enough to look like "
                                   "a header and then some more bytes to fill a page..........................");
    expect_refused(ts_path("junk.db"), "junk.db");
    expect_refused("/proc/no/such/ts_scratch()/x.db", "cannot open");
}

static void test_round_trip_and_delete(void **state)
{
    (void)state;
    rs_store *s;
    ys_error err = {0};
    assert_int_equal(rs_open(ts_path("rt.db"), &s, &err), 0);
    rs_model m = {.name = "tiny", .architecture = "GPT2LMHeadModel", .weights_sha256 = "abc"};
    int64_t mid, mid2, run;
    assert_int_equal(rs_model_id(s, &m, &mid, &err), 0);
    assert_int_equal(rs_model_id(s, &m, &mid2, &err), 0);
    assert_true(mid == mid2);
    rs_run r = {.model_id = mid, .tasks = "sst2", .version = "0.1.0", .seed = 1, .threads = 2};
    assert_int_equal(rs_run_begin(s, &r, &run, &err), 0);
    rs_result res[2] = {{.task = "sst2", .metric = "acc", .value = 0.5, .stderr_ = 0.1, .ci_low = NAN, .ci_high = NAN, .n = 10, .higher_is_better = true},
                        {.task = "sst2", .metric = "f1", .value = NAN, .stderr_ = NAN, .ci_low = NAN, .ci_high = NAN, .n = 10, .higher_is_better = true}};
    assert_int_equal(rs_results_put(s, run, res, 2, &err), 0);
    rs_sample smp[3] = {{.task = "sst2", .doc_id = 0, .prediction = "1"}, {.task = "sst2", .doc_id = 1}, {.task = "sst2", .doc_id = 2}};
    assert_int_equal(rs_samples_put(s, run, smp, 3, &err), 0);
    assert_int_equal(rs_samples_put(s, run, smp, 1, &err), 0); /* replacing, not doubling */
    int64_t count;
    assert_int_equal(rs_samples_count(s, run, "sst2", &count, &err), 0);
    assert_int_equal(count, 3);
    assert_int_equal(rs_run_end(s, run, "complete", &err), 0);
    char *resp;
    assert_int_equal(rs_cache_get(s, "k1", &resp, &err), 0);
    assert_null(resp);
    assert_int_equal(rs_cache_put(s, "k1", "{\"ll\": -1.5}", &err), 0);
    assert_int_equal(rs_cache_get(s, "k1", &resp, &err), 0);
    assert_string_equal(resp, "{\"ll\": -1.5}");
    free(resp);
    rs_close(s);
    assert_int_equal(query_int(ts_path("rt.db"), "SELECT count(*) FROM task_results WHERE value IS NULL"), 1);
    assert_int_equal(rs_open(ts_path("rt.db"), &s, &err), 0);
    assert_int_equal(rs_run_delete(s, run, &err), 0);
    assert_true(rs_run_delete(s, run, &err) < 0);
    assert_non_null(strstr(err.msg, "no run"));
    rs_close(s);
    assert_int_equal(query_int(ts_path("rt.db"), "SELECT count(*) FROM samples"), 0);
    assert_int_equal(query_int(ts_path("rt.db"), "SELECT count(*) FROM task_results"), 0);
}

/* A database written by an older yardstick (schema version 1, built here
 * from the first section of results/schema.sql) opens, migrates forward and
 * keeps its runs. */
static void test_migrates_an_older_database(void **state)
{
    (void)state;
    char path_sql[600];
    snprintf(path_sql, sizeof path_sql, "%s/results/schema.sql", YS_SOURCE_DIR);
    char *schema = ts_read_file(path_sql, NULL);
    assert_non_null(schema);
    char *v1 = strstr(schema, "-- version: 1"), *v2 = strstr(schema, "-- version: 2");
    assert_non_null(v1);
    assert_non_null(v2);
    *v2 = 0;
    sqlite3 *h;
    assert_int_equal(sqlite3_open(ts_path("old.db"), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "PRAGMA application_id = 1498633291; PRAGMA user_version = 1;"
                                  "INSERT INTO models (name) VALUES ('old-model');"
                                  "INSERT INTO runs (model_id, tasks, started_at, status, version) "
                                  "VALUES (1, 'sst2', '2026-01-01T00:00:00Z', 'complete', '0.0.1');"
                                  "INSERT INTO task_results (run, task, metric, value, n) VALUES (1, 'sst2', 'acc', 0.5, 10);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    free(schema);
    assert_int_equal(query_int(ts_path("old.db"), "PRAGMA user_version"), 1);
    rs_store *s;
    ys_error err = {0};
    assert_int_equal(rs_open(ts_path("old.db"), &s, &err), 0);
    assert_int_equal(rs_prompt_put(s, 1, "sst2", "Review: ...", "[1, 2, 3]", &err), 0);
    rs_close(s);
    assert_int_equal(query_int(ts_path("old.db"), "PRAGMA user_version"), rs_schema_version());
    assert_true(rs_schema_version() >= 2);
    assert_int_equal(query_int(ts_path("old.db"), "SELECT count(*) FROM task_results WHERE run = 1"), 1);
    assert_int_equal(query_int(ts_path("old.db"), "SELECT count(*) FROM task_prompts"), 1);
}

/* A version-3 store (the release before run --kl-base: sections 1-3 of
 * schema.sql) opens, gains runs.kl_base_model_id, keeps its runs with no
 * base, and a new run can name a base model. */
static void test_migrates_a_version_3_database(void **state)
{
    (void)state;
    char path_sql[600];
    snprintf(path_sql, sizeof path_sql, "%s/results/schema.sql", YS_SOURCE_DIR);
    char *schema = ts_read_file(path_sql, NULL);
    assert_non_null(schema);
    char *v4 = strstr(schema, "-- version: 4");
    assert_non_null(v4);
    *v4 = 0;
    sqlite3 *h;
    assert_int_equal(sqlite3_open(ts_path("v3.db"), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, schema, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "PRAGMA application_id = 1498633291; PRAGMA user_version = 3;"
                                  "INSERT INTO models (name, adapter_path) VALUES ('base+lora', '/a');"
                                  "INSERT INTO runs (model_id, tasks, started_at, status, version) "
                                  "VALUES (1, 'copa', '2026-01-01T00:00:00Z', 'complete', '0.0.3');"
                                  "INSERT INTO task_results (run, task, metric, value, n) VALUES (1, 'copa', 'acc', 0.5, 10);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    free(schema);
    /* the old file has no such column */
    assert_int_equal(query_int(ts_path("v3.db"), "SELECT count(*) FROM pragma_table_info('runs') "
                                                 "WHERE name = 'kl_base_model_id'"),
                     0);
    rs_store *s;
    ys_error err = {0};
    assert_int_equal(rs_open(ts_path("v3.db"), &s, &err), 0);
    int64_t base;
    rs_model m = {.name = "base", .weights_sha256 = "b0"};
    assert_int_equal(rs_model_id(s, &m, &base, &err), 0);
    rs_run r = {.model_id = 1, .tasks = "copa", .version = "test", .kl_base_model_id = base};
    int64_t run;
    assert_int_equal(rs_run_begin(s, &r, &run, &err), 0);
    rs_close(s);
    assert_true(rs_schema_version() >= 4);
    assert_int_equal(query_int(ts_path("v3.db"), "PRAGMA user_version"), rs_schema_version());
    assert_int_equal(query_int(ts_path("v3.db"), "SELECT count(*) FROM runs WHERE id = 1 AND kl_base_model_id IS NULL"),
                     1);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT kl_base_model_id FROM runs WHERE id = %lld", (long long)run);
    assert_int_equal(query_int(ts_path("v3.db"), sql), (int)base);
    assert_int_equal(query_int(ts_path("v3.db"), "SELECT count(*) FROM task_results WHERE run = 1"), 1);
}

/* A read-only location and a full disk (SQLite's page limit stands in for
 * it) give clear errors; a batch that does not fit leaves nothing half
 * written, and the run is not presented as complete. */
static void test_read_only_and_full(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/ro && chmod 555 %s/ro", ts_scratch(), ts_scratch());
    assert_int_equal(system(cmd), 0);
    rs_store *s = NULL;
    ys_error err = {0};
    /* root ignores directory permissions: only check when they apply */
    if (geteuid() != 0) {
        assert_true(rs_open(ts_path("ro/x.db"), &s, &err) < 0);
        assert_non_null(strstr(err.msg, "ro/x.db"));
    }
    assert_int_equal(rs_open(ts_path("full.db"), &s, &err), 0);
    rs_run r = {.tasks = "t", .version = "test"};
    int64_t run;
    assert_int_equal(rs_run_begin(s, &r, &run, &err), 0);
    assert_int_equal(sqlite3_exec(rs_db(s), "PRAGMA max_page_count = 40", NULL, NULL, NULL), SQLITE_OK);
    static char big[4000];
    memset(big, 'x', sizeof big - 1);
    rs_sample smp[200];
    for (int i = 0; i < 200; i++)
        smp[i] = (rs_sample){.task = "t", .doc_id = i, .prompt = big};
    assert_true(rs_samples_put(s, run, smp, 200, &err) < 0);
    assert_non_null(strstr(err.msg, "full"));
    int64_t count = -1;
    assert_int_equal(rs_samples_count(s, run, "t", &count, &err), 0);
    assert_int_equal(count, 0); /* the failed batch was rolled back whole */
    rs_close(s);
    assert_int_equal(query_int(ts_path("full.db"), "SELECT count(*) FROM runs WHERE status = 'complete'"), 0);
}

/* Two processes each write 100 batches of samples into one new file. */
static void test_concurrent_writers(void **state)
{
    (void)state;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            rs_store *s;
            ys_error err = {0};
            if (rs_open(ts_path("conc.db"), &s, &err) < 0) {
                fprintf(stderr, "child %d: %s\n", k, err.msg);
                _exit(10);
            }
            int64_t run;
            rs_run r = {.tasks = "t", .version = "test"};
            if (rs_run_begin(s, &r, &run, &err) < 0) {
                fprintf(stderr, "child %d: %s\n", k, err.msg);
                _exit(11);
            }
            for (int b = 0; b < 100; b++) {
                rs_sample smp[5];
                for (int i = 0; i < 5; i++)
                    smp[i] = (rs_sample){.task = "t", .doc_id = b * 5 + i, .prediction = "x"};
                if (rs_samples_put(s, run, smp, 5, &err) < 0) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    _exit(12);
                }
            }
            rs_close(s);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(query_int(ts_path("conc.db"), "SELECT count(*) FROM samples"), 1000);
    assert_int_equal(query_int(ts_path("conc.db"), "SELECT count(DISTINCT run) FROM samples"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_refuses_foreign_newer_corrupt),
        cmocka_unit_test(test_round_trip_and_delete),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_migrates_an_older_database),
        cmocka_unit_test(test_migrates_a_version_3_database),
        cmocka_unit_test(test_read_only_and_full),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
