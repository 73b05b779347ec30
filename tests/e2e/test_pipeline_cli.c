/* `yardstick run --pipeline K` (runner_dist.h, "Pipelines"): a decoder cut
 * into stages over MPI ranks scores bitwise as one process.
 *
 * The model: the Gemma 3 fixture (6 layers: sliding and global layers,
 * sandwich norms, q/k norms, BF16 weights, tied head) widened to the
 * bundled tiny model's tokenizer, as test_arch_run_cli does. Under
 * `mpirun -np 2 --pipeline 2`, `-np 3 --pipeline 3` and `-np 4 --pipeline
 * 2` (two pipelines sharing the requests) on multiple choice (copa),
 * rolling perplexity (wikitext), loglikelihood (lambada_openai) and
 * generation (squad: greedy until "\n" or 64 tokens, so requests leave the
 * batch at different steps and others join), in small batches so that
 * several flow through the stages: the results JSON,
 * the sample logs and every stored value must be one process's, and rank 0
 * must report each stage's utilisation; the pipeline command run again on
 * one process's store reuses every response. What stages do not compute is
 * refused with exit 2, said once: a classifier, ranks that do not divide
 * into pipelines. A checkpoint whose last layer misses
 * a tensor fails on the stage that holds that layer alone, whose message
 * rank 0 prints once (the first stages load: they never read that layer).
 * The build without MPI refuses --pipeline with exit 2. Skipped with a
 * message when mpirun is absent. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

/* as test_mpi_cli: mpirun may run as root in CI containers */
#define MPIRUN                                                                                                         \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mca_base_component_disable_dlclose=1 "         \
    "LSAN_OPTIONS=suppressions=" YS_SOURCE_DIR "/tests/lsan_mpi.supp:fast_unwind_on_malloc=0 "                        \
    "ASAN_OPTIONS=${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0 mpirun --oversubscribe"

#define VOCAB 457

/* yardstick ARGS in the scratch folder, one process (np 0) or under
 * mpirun -np np; stderr into err_file. */
static int ys_np(int np, const char *args, const char *err_file)
{
    char cmd[8192], pre[1024] = "";
    if (np > 0)
        snprintf(pre, sizeof pre, MPIRUN " -np %d ", np);
    snprintf(cmd, sizeof cmd, "cd %s && %s%s %s >/dev/null 2>%s", ts_scratch(), pre, YS_BINARY, args,
             ts_path(err_file));
    return ts_run(cmd, NULL);
}

static char *err_text(const char *name)
{
    char *t = ts_read_file(ts_path(name), NULL);
    return t ? t : strdup("");
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#ifdef YS_HAVE_MPI

static int have_mpirun(void)
{
    return ts_run("command -v mpirun >/dev/null 2>&1", NULL) == 0;
}

/* The Gemma 3 fixture in scratch folder `name` with VOCAB-row embeddings
 * (rows repeated) and the tiny model's tokenizer; the tensor `drop` (may be
 * NULL) is left out. */
static void make_model(const char *name, const char *drop)
{
    char path[3200], dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", ts_scratch(), name);
    snprintf(path, sizeof path, "mkdir -p %s && cp %s/tests/data/models/tiny/tokenizer.json "
             "%s/tests/data/models/tiny/tokenizer_config.json %s/", dir, YS_SOURCE_DIR, YS_SOURCE_DIR, dir);
    assert_int_equal(ts_run(path, NULL), 0);
    snprintf(path, sizeof path, "%s/tests/data/models/gemma3/model.safetensors", YS_SOURCE_DIR);
    size_t n;
    unsigned char *buf = (unsigned char *)ts_read_file(path, &n);
    assert_non_null(buf);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    cJSON *h = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hl);
    assert_non_null(h);
    size_t cap = 2 * n + (size_t)VOCAB * 4096, off = 0;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    if (drop)
        cJSON_DeleteItemFromObject(h, drop);
    cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__"))
            continue;
        cJSON *shape = cJSON_GetObjectItem(e, "shape"), *offs = cJSON_GetObjectItem(e, "data_offsets");
        size_t b0 = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
        size_t len = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble - b0, start = off;
        const unsigned char *src = buf + 8 + hl + b0;
        if (cJSON_GetArraySize(shape) == 2 && cJSON_GetArrayItem(shape, 0)->valueint == 96 && strstr(e->string, "embed")) {
            for (int r = 0; r < VOCAB; r++, off += len / 96)
                memcpy(out + off, src + (size_t)(r % 96) * (len / 96), len / 96);
            cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(VOCAB));
        } else {
            memcpy(out + off, src, len);
            off += len;
        }
        assert_true(off <= cap);
        cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber((double)start));
        cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber((double)off));
    }
    char *hdr = cJSON_PrintUnformatted(h);
    size_t hn = strlen(hdr), pad = (8 - hn % 8) % 8;
    uint64_t len8 = hn + pad;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++)
        fputc((int)((len8 >> (8 * i)) & 0xff), f);
    fwrite(hdr, 1, hn, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    assert_int_equal(fwrite(out, 1, off, f), off);
    fclose(f);
    free(hdr), free(out), free(buf);
    cJSON_Delete(h);
    snprintf(path, sizeof path, "%s/tests/data/models/gemma3/config.json", YS_SOURCE_DIR);
    cJSON *cfg = ts_load_json(path);
    cJSON_ReplaceItemInObject(cfg, "vocab_size", cJSON_CreateNumber(VOCAB));
    cJSON_ReplaceItemInObject(cfg, "bos_token_id", cJSON_CreateNumber(VOCAB - 1));
    cJSON_ReplaceItemInObject(cfg, "eos_token_id", cJSON_CreateNumber(VOCAB - 1));
    char *txt = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ts_write_file(path, txt);
    free(txt);
    cJSON_Delete(cfg);
}


static const char *const TASKS[] = {"copa", "wikitext", "lambada_openai", "squad"};
#define NTASKS 4

static void test_same_as_one_process(void **state)
{
    (void)state;
    /* np 0: one process; then ranks and stages per pipeline */
    static const int runs[][2] = {{0, 1}, {2, 2}, {3, 3}, {4, 2}};
    char *want_json = NULL, *want_store = NULL, *want_samples[NTASKS] = {0};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        int np = runs[k][0], K = runs[k][1];
        char sub[64], args[4096], path[4200], pipe[32] = "";
        snprintf(sub, sizeof sub, "np%d_k%d", np, K);
        if (np)
            snprintf(pipe, sizeof pipe, "--pipeline %d", K);
        snprintf(args, sizeof args, "mkdir -p %s/%s", ts_scratch(), sub);
        assert_int_equal(ts_run(args, NULL), 0);
        /* --threads 1: the run row records it; --batch-size 2: several
         * batches in flight through the stages */
        snprintf(args, sizeof args,
                 "run --model g3 --tasks copa,wikitext,lambada_openai,squad --limit 6 --batch-size 2 --threads 1 %s "
                 "--db %s/s.db --output %s/results.json --log-samples",
                 pipe, sub, sub);
        int rc = ys_np(np, args, "err.txt");
        char *err = err_text("err.txt");
        if (rc != 0)
            fail_msg("-np %d --pipeline %d: exit %d\n%s", np, K, rc, err);
        snprintf(path, sizeof path, "%s/results.json", ts_path(sub));
        char *json = ts_read_file(path, NULL);
        assert_non_null(json);
        snprintf(path, sizeof path, "%s/s.db", ts_path(sub));
        char *store = ts_dump_store(path);
        if (np == 0) {
            want_json = json, want_store = store;
            for (size_t i = 0; i < NTASKS; i++)
                want_samples[i] = ts_samples_log(sub, TASKS[i]);
            free(err);
            continue;
        }
        if (strcmp(json, want_json))
            fail_msg("-np %d --pipeline %d: the results JSON differs from one process's", np, K);
        if (strcmp(store, want_store))
            fail_msg("-np %d --pipeline %d: the store differs from one process's", np, K);
        for (size_t i = 0; i < NTASKS; i++) {
            char *got = ts_samples_log(sub, TASKS[i]);
            if (strcmp(got, want_samples[i]))
                fail_msg("-np %d --pipeline %d: the sample log of %s differs", np, K, TASKS[i]);
            free(got);
        }
        /* the run's provenance names the pipelines */
        sqlite3 *db;
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT settings FROM runs WHERE id = 1", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        char want_set[64];
        snprintf(want_set, sizeof want_set, "\"ranks\":%d,\"pipeline\":%d", np, K);
        if (!strstr((const char *)sqlite3_column_text(q, 0), want_set))
            fail_msg("-np %d --pipeline %d: the settings do not say %s: %s", np, K, want_set,
                     (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        sqlite3_close(db);
        /* rank 0's line on the stages: one utilisation per stage */
        const char *line = strstr(err, "stage utilisation");
        if (!line)
            fail_msg("-np %d --pipeline %d: no utilisation line:\n%s", np, K, err);
        char want[64];
        snprintf(want, sizeof want, "%d group%s of %d stages", np / K, np / K == 1 ? "" : "s", K);
        assert_non_null(strstr(err, want));
        assert_int_equal(count_of(line, " s of "), (size_t)K);
        free(err), free(json), free(store);
    }
    for (size_t i = 0; i < NTASKS; i++)
        free(want_samples[i]);
    free(want_json), free(want_store);
    /* the stores are interchangeable: the pipeline command again on one
     * process's store computes nothing and gives its results */
    char args[4096];
    snprintf(args, sizeof args, "run --model g3 --tasks copa,wikitext,lambada_openai,squad --limit 6 --batch-size 2 "
             "--threads 1 --pipeline 2 --db np0_k1/s.db --output again.json");
    assert_int_equal(ys_np(2, args, "again.txt"), 0);
    char *err = err_text("again.txt");
    const char *re = strstr(err, " responses reused from the cache");
    assert_non_null(re);
    while (re > err && re[-1] != '\n')
        re--;
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(ts_path("np0_k1/s.db"), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM responses", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(strtol(re, NULL, 10), sqlite3_column_int64(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    char *a = ts_read_file(ts_path("again.json"), NULL), *b = ts_read_file(ts_path("np0_k1/results.json"), NULL);
    assert_non_null(a);
    assert_non_null(b);
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(ja, "results"), cJSON_GetObjectItem(jb, "results"), 1));
    cJSON_Delete(ja), cJSON_Delete(jb);
    free(a), free(b), free(err);
}

/* What stages do not compute: exit 2, said once, naming what is supported. */
static void test_refusals(void **state)
{
    (void)state;
    char args[4096];
    static const struct {
        int np, K;
        const char *model, *tasks, *says;
    } cases[] = {
        {2, 2, YS_SOURCE_DIR "/tests/data/models/bert_cls", "mnli", "is an encoder classifier"},
        {3, 2, "g3", "copa", "do not divide into pipelines of 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "run --model %s --tasks %s --limit 2 --no-db --pipeline %d", cases[i].model,
                 cases[i].tasks, cases[i].K);
        int rc = ys_np(cases[i].np, args, "bad.txt");
        char *err = err_text("bad.txt");
        if (rc != 2 || count_of(err, cases[i].says) != 1)
            fail_msg("%s under -np %d --pipeline %d: exit %d, expected 2 and one message saying '%s':\n%s",
                     cases[i].tasks, cases[i].np, cases[i].K, rc, cases[i].says, err);
        if (i < 1)
            assert_non_null(strstr(err, "--pipeline runs decoder-only language models"));
        free(err);
    }
}

/* A tensor of the last layer missing: the stage holding it fails at load,
 * the others load (they never read it), and rank 0 prints that stage's
 * message once. */
static void test_stage_fails_at_load(void **state)
{
    (void)state;
    make_model("g3bad", "model.layers.5.mlp.down_proj.weight");
    char args[4096];
    snprintf(args, sizeof args, "run --model g3bad --tasks copa --limit 2 --no-db");
    assert_int_equal(ys_np(0, args, "one.txt"), 3);
    for (int K = 2; K <= 3; K++) {
        snprintf(args, sizeof args, "run --model g3bad --tasks copa --limit 2 --no-db --pipeline %d", K);
        int rc = ys_np(K, args, "load.txt");
        char *err = err_text("load.txt");
        char rank[32];
        snprintf(rank, sizeof rank, "rank %d on ", K - 1);
        if (rc != 3 || count_of(err, "model.layers.5.mlp.down_proj.weight") != 1 || !strstr(err, rank) ||
            count_of(err, "yardstick") != 1)
            fail_msg("--pipeline %d with layer 5 broken: exit %d, expected 3 and one message from rank %d:\n%s", K,
                     rc, K - 1, err);
        free(err);
    }
}

static int setup(void **state)
{
    int rc = ts_scratch_setup(state);
    if (rc == 0)
        make_model("g3", NULL);
    return rc;
}

int main(void)
{
    if (!have_mpirun()) {
        printf("test_pipeline_cli: skipped: mpirun not found (install openmpi-bin; .ci/install-deps.sh)\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_same_as_one_process), cmocka_unit_test(test_refusals),
                                       cmocka_unit_test(test_stage_fails_at_load)};
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}

#else /* the build without MPI: --pipeline needs ranks */

static void test_needs_mpi(void **state)
{
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks copa --limit 2 --no-db --pipeline 2",
             YS_SOURCE_DIR);
    int rc = ys_np(0, args, "err.txt");
    char *err = err_text("err.txt");
    assert_int_equal(rc, 2);
    assert_int_equal(count_of(err, "--pipeline 2 needs 2 MPI ranks per pipeline"), 1);
    free(err);
    /* --pipeline 1 is no pipeline */
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks copa --limit 2 --no-db --pipeline 1",
             YS_SOURCE_DIR);
    assert_int_equal(ys_np(0, args, "err1.txt"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_needs_mpi)};
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}

#endif
