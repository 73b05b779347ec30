/* `yardstick run` over MPI ranks (runner_dist.h): under `mpirun -np N`
 * for N = 1, 2, 3 the results JSON, the sample logs and every stored value
 * (responses, samples, results, prompts, the model and run rows but their
 * times and the run's provenance) are bitwise those of one process, on a
 * decoder (multiple choice, rolling perplexity, generation), a classifier
 * and an encoder-decoder (multiple choice, generation); the provenance says
 * N and the hosts; a rerun under another N and --resume reuse every stored
 * response; a rank killed mid-run ends the job and the same command then
 * finishes it with the same results; an error every rank meets is printed
 * once. The build without MPI refuses to run as one of N processes.
 * Skipped with a message when mpirun is absent. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testsupport.h"

/* mpirun may be started as root in CI containers. Under LeakSanitizer,
 * what Open MPI leaves allocated at MPI_Finalize is suppressed
 * (tests/lsan_mpi.supp): its components stay loaded and allocations are
 * unwound exactly, so that their frames can be named (nothing of
 * yardstick's is suppressed). */
#define MPIRUN                                                                                                         \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mca_base_component_disable_dlclose=1 "         \
    "LSAN_OPTIONS=suppressions=" YS_SOURCE_DIR "/tests/lsan_mpi.supp:fast_unwind_on_malloc=0 "                        \
    "ASAN_OPTIONS=${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0 mpirun --oversubscribe"

static int have_mpirun(void)
{
    return ts_run("command -v mpirun >/dev/null 2>&1", NULL) == 0;
}

/* yardstick ARGS in the scratch folder, one process (np 0) or under
 * mpirun -np np; stderr into err_file. */
static int ys_np(int np, const char *args, const char *err_file, char **out)
{
    char cmd[8192], pre[1024] = "";
    if (np > 0)
        snprintf(pre, sizeof pre, MPIRUN " -np %d ", np);
    snprintf(cmd, sizeof cmd, "cd %s && %s%s %s 2>%s", ts_scratch(), pre, YS_BINARY, args, ts_path(err_file));
    return ts_run(cmd, out);
}

static char *err_text(const char *name)
{
    char *t = ts_read_file(ts_path(name), NULL);
    return t ? t : strdup("");
}

#ifdef YS_HAVE_MPI

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* One query's rows as text; a REAL by its bits, so that "equal" is
 * bitwise. */

/* The run's settings: those of one process, plus "ranks" (returned) and
 * "hosts" (one per rank); *rest gets the settings without both. */
static int settings_ranks(const char *path, char **rest)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT settings FROM runs WHERE id = 1", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    cJSON *j = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(j);
    const cJSON *r = cJSON_GetObjectItem(j, "ranks"), *h = cJSON_GetObjectItem(j, "hosts");
    int ranks = cJSON_IsNumber(r) ? r->valueint : 0;
    if (ranks) {
        assert_true(cJSON_IsArray(h));
        assert_int_equal(cJSON_GetArraySize(h), ranks);
        const cJSON *e;
        cJSON_ArrayForEach(e, h) assert_true(cJSON_IsString(e) && e->valuestring[0]);
    } else {
        assert_null(h);
    }
    cJSON_DeleteItemFromObject(j, "ranks");
    cJSON_DeleteItemFromObject(j, "hosts");
    *rest = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return ranks;
}

/* "prompt tokens N:" of a decoder run's summary: the tokens rank 0 saw */
static long prompt_tokens(const char *err)
{
    const char *p = strstr(err, "prompt tokens ");
    return p ? strtol(p + 14, NULL, 10) : -1;
}

static void same_as_one_process(const char *model, const char *tasks, const char *const *each, size_t ntasks)
{
    char args[4096], sub[64], *out = NULL;
    long tokens1 = -1;
    char *want_json = NULL, *want_store = NULL, *want_set = NULL, **want_samples = calloc(ntasks, sizeof(char *));
    for (int np = 0; np <= 3; np++) {
        snprintf(sub, sizeof sub, "%s_np%d", model, np);
        snprintf(args, sizeof args, "mkdir -p %s/%s", ts_scratch(), sub);
        assert_int_equal(ts_run(args, NULL), 0);
        /* --threads 1: the run row records the thread count */
        snprintf(args, sizeof args,
                 "run --model %s/tests/data/models/%s --tasks %s --limit 8 --threads 1 --db %s/s.db "
                 "--output %s/results.json --log-samples",
                 YS_SOURCE_DIR, model, tasks, sub, sub);
        int rc = ys_np(np, args, "err.txt", &out);
        char *err = err_text("err.txt");
        if (rc != 0)
            fail_msg("%s under %d ranks: exit %d\n%s", model, np, rc, err);
        free(out);
        char path[4200];
        snprintf(path, sizeof path, "%s/results.json", ts_path(sub));
        char *json = ts_read_file(path, NULL);
        snprintf(path, sizeof path, "%s/s.db", ts_path(sub));
        char *store = ts_dump_store(path), *set = NULL;
        int ranks = settings_ranks(path, &set);
        assert_non_null(json);
        if (np == 0) {
            assert_int_equal(ranks, 0);
            want_json = json, want_store = store, want_set = set;
            tokens1 = prompt_tokens(err);
            for (size_t i = 0; i < ntasks; i++)
                want_samples[i] = ts_samples_log(sub, each[i]);
            free(err);
            continue;
        }
        assert_int_equal(ranks, np);
        if (strcmp(json, want_json))
            fail_msg("%s, %d ranks: the results JSON differs from one process's", model, np);
        if (strcmp(store, want_store))
            fail_msg("%s, %d ranks: the store differs from one process's", model, np);
        assert_string_equal(set, want_set);
        for (size_t i = 0; i < ntasks; i++) {
            char *got = ts_samples_log(sub, each[i]);
            if (strcmp(got, want_samples[i]))
                fail_msg("%s, %d ranks: the sample log of %s differs", model, np, each[i]);
            free(got);
        }
        /* the ranks shared the work: rank 0 saw fewer prompt tokens */
        if (tokens1 > 0 && np > 1) {
            long t = prompt_tokens(err);
            if (!(t >= 0 && t < tokens1))
                fail_msg("%s, %d ranks: rank 0 computed %ld prompt tokens of %ld", model, np, t, tokens1);
        }
        assert_non_null(strstr(err, "MPI ranks"));
        free(err), free(json), free(store), free(set);
    }
    for (size_t i = 0; i < ntasks; i++)
        free(want_samples[i]);
    free(want_samples), free(want_json), free(want_store), free(want_set);
}

static void test_decoder(void **state)
{
    (void)state;
    static const char *const t[] = {"copa", "wikitext", "squad", "gsm8k"};
    same_as_one_process("tiny", "copa,wikitext,squad,gsm8k", t, 4);
}

static void test_classifier(void **state)
{
    (void)state;
    static const char *const t[] = {"mnli", "cb"};
    same_as_one_process("bert_cls", "mnli,cb", t, 2);
}

static void test_encoder_decoder(void **state)
{
    (void)state;
    static const char *const t[] = {"copa", "summarization", "translation_de_en"};
    same_as_one_process("t5", "copa,summarization,translation_de_en", t, 3);
}

#define KTASKS "copa,wikitext,squad"

static size_t reused(const char *err)
{
    const char *p = strstr(err, "responses reused from the cache");
    if (!p)
        return 0;
    while (p > err && p[-1] != '\n')
        p--;
    return (size_t)strtoul(p, NULL, 10);
}

static size_t stored_responses(const char *db)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(ts_path(db), &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM responses", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    size_t n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static char *results_of(const char *name)
{
    char *text = ts_read_file(ts_path(name), NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    char *r = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "results"));
    cJSON_Delete(j);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rerunning under another N, and --resume, compute nothing again. */
static void test_rerun_any_ranks(void **state)
{
    (void)state;
    char args[4096], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " KTASKS " --limit 10 --db r.db "
             "--output r1.json", YS_SOURCE_DIR);
    assert_int_equal(ys_np(2, args, "e1.txt", &out), 0);
    free(out);
    size_t n = stored_responses("r.db");
    assert_true(n > 0);
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " KTASKS " --limit 10 --db r.db "
             "--output r2.json", YS_SOURCE_DIR);
    assert_int_equal(ys_np(3, args, "e2.txt", &out), 0);
    free(out);
    char *err = err_text("e2.txt");
    assert_int_equal(reused(err), n);
    free(err);
    assert_int_equal(ys_np(1, "run --resume 1 --db r.db --output r3.json", "e3.txt", &out), 0);
    free(out);
    err = err_text("e3.txt");
    assert_int_equal(reused(err), n);
    free(err);
    assert_int_equal(stored_responses("r.db"), n);
    char *a = results_of("r1.json"), *b = results_of("r2.json"), *c = results_of("r3.json");
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    free(a), free(b), free(c);
}

/* Rank 1 killed part-way: the job ends (not only that rank); the same
 * command under another N finishes with one process's results. */
static void test_dying_rank(void **state)
{
    (void)state;
    char args[4096], cmd[8192], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " KTASKS " --limit 24 --no-db "
             "--output ref.json", YS_SOURCE_DIR);
    assert_int_equal(ys_np(0, args, "ref.txt", &out), 0);
    free(out);
    char *want = results_of("ref.json");
    /* how long the job takes under 2 ranks on this machine and build */
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " KTASKS " --limit 24 --db t.db "
             "--output t.json", YS_SOURCE_DIR);
    double t0 = now_s();
    assert_int_equal(ys_np(2, args, "t.txt", &out), 0);
    double took = now_s() - t0;
    free(out);
    const double kill_at[] = {0.5};
    for (size_t k = 0; k < sizeof kill_at / sizeof kill_at[0]; k++) {
        /* rank 1 runs yardstick under its own PID; a sibling kills it */
        snprintf(cmd, sizeof cmd,
                 "cd %s && " MPIRUN " -np 2 sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then "
                 "(sleep %.3f; kill -9 $$) & fi; exec %s run --model %s/tests/data/models/tiny --tasks " KTASKS
                 " --limit 24 --db k%zu.db --output k.json' >/dev/null 2>%s",
                 ts_scratch(), kill_at[k] * took, YS_BINARY, YS_SOURCE_DIR, k, ts_path("kill.txt"));
        int rc = ts_run(cmd, NULL);
        char *err = err_text("kill.txt");
        /* 0 only when the job finished before the kill (a fast machine) */
        if (rc == 0)
            assert_non_null(strstr(err, "stored as run"));
        else
            assert_null(strstr(err, "stored as run"));
        free(err);
        remove(ts_path("k.json"));
        snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks " KTASKS " --limit 24 --db k%zu.db "
                 "--output k.json", YS_SOURCE_DIR, k);
        assert_int_equal(ys_np(3, args, "again.txt", &out), 0);
        free(out);
        char *got = results_of("k.json");
        if (strcmp(got, want))
            fail_msg("rank 1 killed after %.3fs (exit %d), run again under 3 ranks: results differ", kill_at[k] * took,
                     rc);
        free(got);
    }
    free(want);
}

/* An error every rank meets is printed once, with its exit code. */
static void test_error_once(void **state)
{
    (void)state;
    char args[4096], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks no_such_task --no-db", YS_SOURCE_DIR);
    int rc = ys_np(2, args, "bad.txt", &out);
    free(out);
    char *err = err_text("bad.txt");
    assert_int_equal(rc, 2);
    assert_int_equal(count_of(err, "no_such_task"), 1);
    free(err);
    /* a run the store does not have: rank 0 alone reads the store, and
     * says so once */
    rc = ys_np(2, "run --resume 7 --db r7.db", "res.txt", &out);
    free(out);
    err = err_text("res.txt");
    assert_int_equal(rc, 3);
    assert_int_equal(count_of(err, "yardstick: "), 1);
    free(err);
}

#else /* the build without MPI */

static void test_refuses_ranks(void **state)
{
    (void)state;
    char args[4096], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks copa --limit 2 --no-db", YS_SOURCE_DIR);
    int rc = ys_np(2, args, "err.txt", &out);
    free(out);
    char *err = err_text("err.txt");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "built without MPI"));
    free(err);
    /* one process under mpirun is just one process */
    assert_int_equal(ys_np(1, args, "err1.txt", &out), 0);
    free(out);
}

#endif

int main(void)
{
    if (!have_mpirun()) {
        printf("test_mpi_cli: skipped: mpirun not found (install openmpi-bin; .ci/install-deps.sh)\n");
        return 0;
    }
#ifdef YS_HAVE_MPI
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder),         cmocka_unit_test(test_classifier),
        cmocka_unit_test(test_encoder_decoder), cmocka_unit_test(test_rerun_any_ranks),
        cmocka_unit_test(test_dying_rank),      cmocka_unit_test(test_error_once),
    };
#else
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_refuses_ranks)};
#endif
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
