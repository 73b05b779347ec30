/* `yardstick run --kl-base` end to end on the tiny model: against itself
 * every kld_mean is exactly 0; against tiny + lora_tiny_a and tiny at
 * int4 it is positive and equals `yardstick kld --tasks` on the same
 * tasks and limit (same requests, same positions); the run's own scores
 * are those of a run without a base; the store holds what the results
 * JSON says (and the base as a model of its own); report and compare show
 * it (compare gates it only when --max-drop names it, and not across
 * different bases); a base with another tokenizer is refused before
 * anything is stored; --resume keeps the base and rescore keeps the rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testsupport.h"

#define TINY YS_SOURCE_DIR "/tests/data/models/tiny"
#define ADAPTER YS_SOURCE_DIR "/tests/data/models/lora_tiny_a"

/* yardstick ARGS in the scratch folder; stderr into stderr.txt */
static int ys(const char *args, char **out) { return ts_ys(args, out, NULL); }

static char *stderr_text(void) { return ts_read_file(ts_path("stderr.txt"), NULL); }

static void ys_ok(const char *args, char **out)
{
    int rc = ys(args, out);
    if (rc != 0) {
        char *e = stderr_text();
        fail_msg("yardstick %s exited %d: %s", args, rc, e ? e : "");
    }
}

/* One number from the store (NAN when no row or NULL). */
static double db_num(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void db_exec(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static const cJSON *task_result(const cJSON *r, const char *task)
{
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "results"), task);
    assert_non_null(t);
    return t;
}

static void test_against_itself(void **state)
{
    (void)state;
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "run --model %s --kl-base %s --tasks copa,wikitext,squad --limit 20 --db self.db "
             "--output self.json", TINY, TINY);
    ys_ok(args, &out);
    /* the summary: a kld_mean row per scored task, the generation task said so */
    assert_non_null(strstr(out, "kld_mean"));
    assert_non_null(strstr(out, "not measured: a generation task has no fixed continuation"));
    free(out);
    cJSON *r = ts_load_json(ts_path("self.json"));
    const char *tasks[2] = {"copa", "wikitext"};
    for (int i = 0; i < 2; i++) {
        const cJSON *t = task_result(r, tasks[i]);
        assert_true(ts_num(t, "kld_mean,none") == 0);
        assert_true(ts_num(t, "kld_mean_stderr,none") == 0);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT value FROM task_results WHERE run = 1 AND task = '%s' AND metric = 'kld_mean'",
                 tasks[i]);
        assert_true(db_num(ts_path("self.db"), sql) == 0);
        snprintf(sql, sizeof sql, "SELECT n FROM task_results WHERE run = 1 AND task = '%s' AND metric = 'kld_mean'",
                 tasks[i]);
        double n = db_num(ts_path("self.db"), sql);
        assert_true(n > 20); /* positions, not documents */
        const cJSON *cfg = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "configs"), tasks[i]);
        assert_true(ts_num(cfg, "kld_positions") == n);
    }
    /* squad generates: no kld_mean, and the config says why */
    assert_null(cJSON_GetObjectItem(task_result(r, "squad"), "kld_mean,none"));
    const cJSON *why = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "configs"), "squad"), "kld");
    assert_true(cJSON_IsString(why) && strstr(why->valuestring, "generation"));
    assert_true(isnan(db_num(ts_path("self.db"), "SELECT value FROM task_results WHERE task = 'squad' AND "
                                                 "metric = 'kld_mean'")));
    /* the base is named in the config and is a model of the store */
    const cJSON *cfg = cJSON_GetObjectItem(r, "config");
    assert_string_equal(cJSON_GetObjectItem(cfg, "kl_base")->valuestring, TINY);
    assert_int_equal(strlen(cJSON_GetObjectItem(cfg, "kl_base_weights_sha256")->valuestring), 64);
    assert_true(db_num(ts_path("self.db"), "SELECT count(*) FROM runs r JOIN models b ON b.id = r.kl_base_model_id "
                                           "WHERE r.id = 1 AND b.name = 'tiny' AND b.weights_sha256 IS NOT NULL") == 1);
    cJSON_Delete(r);
}

/* run --kl-base against kld --tasks, for one way of changing the model */
static void check_against_kld(const char *model_opts, const char *tag)
{
    char args[4096], *out = NULL;
    char db[64], json[64];
    snprintf(db, sizeof db, "%s.db", tag);
    snprintf(json, sizeof json, "%s.json", tag);
    snprintf(args, sizeof args, "run --model %s %s --kl-base %s --tasks copa,sst2,wikitext --limit 20 --db %s "
             "--output %s", TINY, model_opts, TINY, db, json);
    ys_ok(args, NULL);
    snprintf(args, sizeof args, "kld --base %s --model %s %s --tasks copa,sst2,wikitext --limit 20 --json", TINY, TINY,
             model_opts);
    ys_ok(args, &out);
    cJSON *k = cJSON_Parse(out);
    assert_non_null(k);
    free(out);
    /* the same model without a base: the run's own scores do not move */
    snprintf(args, sizeof args, "run --model %s %s --tasks copa,sst2,wikitext --limit 20 --no-db --output plain_%s",
             TINY, model_opts, json);
    ys_ok(args, NULL);
    cJSON *r = ts_load_json(ts_path(json));
    cJSON *plain = ts_load_json(ts_path(strcat(strcpy(args, "plain_"), json)));
    const cJSON *t;
    int ntasks = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(k, "tasks")) {
        const char *name = cJSON_GetObjectItem(t, "task")->valuestring;
        const cJSON *s = cJSON_GetObjectItem(t, "kld");
        double mean = ts_num(cJSON_GetObjectItem(s, "kld"), "mean"), unc = ts_num(cJSON_GetObjectItem(s, "kld"), "unc");
        const cJSON *res = task_result(r, name);
        char where[96];
        snprintf(where, sizeof where, "%s %s", tag, name);
        assert_true(mean > 0);
        ts_close(ts_num(res, "kld_mean,none"), mean, 1e-9, "kld_mean = kld --tasks", where);
        ts_close(ts_num(res, "kld_mean_stderr,none"), unc, 1e-9, "uncertainty = kld --tasks", where);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT %%s FROM task_results WHERE run = 1 AND task = '%s' AND metric = 'kld_mean'",
                 name);
        char q[300];
        snprintf(q, sizeof q, sql, "value");
        /* the store keeps the double; the JSON prints 15-17 digits */
        ts_close(db_num(ts_path(db), q), mean, 1e-9, "stored value = kld --tasks", where);
        ts_close(db_num(ts_path(db), q), ts_num(res, "kld_mean,none"), 1e-14, "stored value = JSON", where);
        snprintf(q, sizeof q, sql, "stderr");
        ts_close(db_num(ts_path(db), q), unc, 1e-9, "stored stderr = kld --tasks", where);
        snprintf(q, sizeof q, sql, "n");
        assert_true(db_num(ts_path(db), q) == ts_num(s, "positions"));
        snprintf(q, sizeof q, sql, "higher_is_better");
        assert_true(db_num(ts_path(db), q) == 0);
        /* every metric of the run equals the plain run's */
        const cJSON *m;
        int nm = 0;
        cJSON_ArrayForEach(m, task_result(plain, name)) {
            if (!cJSON_IsNumber(m))
                continue;
            ts_close(ts_num(res, m->string), m->valuedouble, 0, m->string, where);
            nm++;
        }
        assert_true(nm >= 2);
        ntasks++;
    }
    assert_int_equal(ntasks, 3);
    cJSON_Delete(r), cJSON_Delete(plain), cJSON_Delete(k);
}

static void test_adapter_and_int4_equal_kld_tasks(void **state)
{
    (void)state;
    char opts[2048];
    snprintf(opts, sizeof opts, "--adapter %s", ADAPTER);
    check_against_kld(opts, "adapter");
    check_against_kld("--quantize int4", "int4");
}

/* A copy of tiny with the lowest byte of its first weight changed: the
 * same tokenizer, other weights (another base). */
static void make_other_weights(const char *dir)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sf %s/config.json %s/tokenizer.json %s/tokenizer_config.json %s/ && "
             "cp %s/model.safetensors %s/", dir, TINY, TINY, TINY, dir, TINY, dir);
    assert_int_equal(ts_run(cmd, NULL), 0);
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    unsigned char *b = (unsigned char *)ts_read_file(path, &len);
    assert_non_null(b);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | b[i];
    assert_true(8 + hl < len);
    b[8 + hl] ^= 1;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
}

static void test_report_and_compare(void **state)
{
    (void)state;
    char args[4096], other[1024], *out = NULL;
    snprintf(other, sizeof other, "%s/other_weights", ts_scratch());
    make_other_weights(other);
    /* 1: tiny, no base; 2: tiny against itself; 3: int4 against tiny;
     * 4: int4 against the other weights */
    snprintf(args, sizeof args, "run --model %s --tasks copa --limit 20 --db rc.db", TINY);
    ys_ok(args, NULL);
    snprintf(args, sizeof args, "run --model %s --kl-base %s --tasks copa --limit 20 --db rc.db", TINY, TINY);
    ys_ok(args, NULL);
    snprintf(args, sizeof args, "run --model %s --quantize int4 --kl-base %s --tasks copa --limit 20 --db rc.db "
             "--output rc2.json", TINY, TINY);
    ys_ok(args, NULL);
    snprintf(args, sizeof args, "run --model %s --quantize int4 --kl-base %s --tasks copa --limit 20 --db rc.db "
             "--output rc4.json", TINY, other);
    ys_ok(args, NULL);
    cJSON *r2 = ts_load_json(ts_path("rc2.json")), *r4 = ts_load_json(ts_path("rc4.json"));
    double kld2 = ts_num(task_result(r2, "copa"), "kld_mean,none"), kld4 = ts_num(task_result(r4, "copa"), "kld_mean,none");
    cJSON_Delete(r2), cJSON_Delete(r4);
    assert_true(kld2 > 0 && kld4 > 0 && kld4 != kld2);
    char v[32], v4[32];
    snprintf(v, sizeof v, "%.4f", kld2);
    snprintf(v4, sizeof v4, "%.4f", kld4);

    /* report (latest runs: tiny 2, tiny@int4 4): the column, lower is
     * better, each row's base; not in the win rate (tiny's 0 would win it,
     * int4 wins on acc: with it both would be 0.5) */
    ys_ok("report --db rc.db", &out);
    assert_non_null(strstr(out, "copa:kld_mean ↓"));
    assert_non_null(strstr(out, v4));
    assert_non_null(strstr(out, "tiny@int4-g128 → other_weights"));
    assert_non_null(strstr(out, "tiny → tiny;"));
    free(out);
    ys_ok("report --db rc.db --format json", &out);
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    int kcol = -1, acol = -1, c = 0;
    const cJSON *col;
    cJSON_ArrayForEach(col, cJSON_GetObjectItem(j, "columns")) {
        if (!strcmp(cJSON_GetObjectItem(col, "metric")->valuestring, "kld_mean"))
            kcol = c, assert_false(cJSON_IsTrue(cJSON_GetObjectItem(col, "higher_is_better")));
        if (!strcmp(cJSON_GetObjectItem(col, "metric")->valuestring, "acc"))
            acol = c;
        c++;
    }
    assert_true(kcol >= 0 && acol >= 0);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(j, "rows")) {
        const char *model = cJSON_GetObjectItem(row, "model")->valuestring;
        const cJSON *base = cJSON_GetObjectItem(row, "kl_base");
        double kv = ts_num(cJSON_GetArrayItem(cJSON_GetObjectItem(row, "cells"), kcol), "value");
        if (!strcmp(model, "tiny"))
            assert_true(!strcmp(base->valuestring, "tiny") && kv == 0);
        else
            assert_true(!strcmp(base->valuestring, "other_weights") && kv == kld4);
        /* two models: the win rate is 1, 0 or 0.5 from acc alone */
        double acc = ts_num(cJSON_GetArrayItem(cJSON_GetObjectItem(row, "cells"), acol), "value");
        double wr = ts_num(row, "mean_win_rate");
        assert_true(acc == 0.4 || acc == 0.5);
        assert_true(wr == (acc == 0.5 ? 1.0 : 0.0));
    }
    cJSON_Delete(j);

    /* compare: listed, worse and significant, but not gated */
    assert_int_equal(ys("compare --db rc.db --baseline 2 --candidate 3 --markdown cmp.md", &out), 0);
    char *line = strstr(out, "kld_mean");
    assert_non_null(line);
    assert_non_null(strstr(line, "worse, not gated"));
    assert_non_null(strstr(line, v));
    free(out);
    char *md = ts_read_file(ts_path("cmp.md"), NULL);
    assert_non_null(strstr(md, "| copa | kld_mean |"));
    free(md);
    /* named in --max-drop, it gates */
    assert_int_equal(ys("compare --db rc.db --baseline 2 --candidate 3 --max-drop kld_mean=0.01", &out), 1);
    assert_non_null(strstr(strstr(out, "kld_mean"), "regressed"));
    free(out);
    assert_int_equal(ys("compare --db rc.db --baseline 2 --candidate 3 --max-drop copa:kld_mean=1", &out), 0);
    free(out);
    /* a baseline without a base: the candidate's KLD is listed */
    assert_int_equal(ys("compare --db rc.db --baseline 1 --candidate 3", &out), 0);
    assert_non_null(strstr(strstr(out, "kld_mean"), "candidate only"));
    free(out);
    /* measured against other weights: not comparable */
    assert_int_equal(ys("compare --db rc.db --baseline 3 --candidate 4", &out), 0);
    assert_non_null(strstr(strstr(out, "kld_mean"), "not comparable"));
    free(out);
}

static void test_refusals(void **state)
{
    (void)state;
    char args[4096], other[1024];
    snprintf(other, sizeof other, "%s/other_tok", ts_scratch());
    ts_swapped_tokenizer_copy(TINY, other);
    snprintf(args, sizeof args, "run --model %s --kl-base %s --tasks copa --limit 5 --db refused.db", TINY, other);
    assert_int_equal(ys(args, NULL), 3);
    char *e = stderr_text();
    assert_non_null(strstr(e, "do not share a tokenizer"));
    assert_non_null(strstr(e, TINY));
    assert_non_null(strstr(e, other));
    free(e);
    /* refused before the store was even opened */
    assert_int_equal(access(ts_path("refused.db"), F_OK), -1);
    /* a base that is not a decoder, a model that is not one */
    snprintf(args, sizeof args, "run --model %s --kl-base %s/tests/data/models/bert_cls --tasks copa --limit 5 --no-db",
             TINY, YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 2);
    e = stderr_text();
    assert_non_null(strstr(e, "encoder classifier"));
    free(e);
    snprintf(args, sizeof args, "run --model %s/tests/data/models/bert_cls --kl-base %s --tasks sst2 --limit 5 --no-db",
             YS_SOURCE_DIR, TINY);
    assert_int_equal(ys(args, NULL), 2);
    e = stderr_text();
    assert_non_null(strstr(e, "--kl-base compares decoder-only"));
    free(e);
    /* a base with another tokenizer model altogether */
    snprintf(args, sizeof args, "run --model %s --kl-base %s/tests/data/models/gpt2 --tasks copa --limit 5 --no-db",
             TINY, YS_SOURCE_DIR);
    assert_int_equal(ys(args, NULL), 3);
    e = stderr_text();
    assert_non_null(strstr(e, "do not share a tokenizer"));
    free(e);
}

/* --resume keeps the base: a run whose results and samples were lost (as
 * if killed after its engine passes) is finished with the model's
 * responses from the cache and the divergence computed again, equal to
 * the first; rescore (no model) leaves the stored rows alone. */
static void test_resume_keeps_base(void **state)
{
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "run --model %s --adapter %s --kl-base %s --tasks copa,wikitext --limit 10 --db res.db "
             "--output res1.json", TINY, ADAPTER, TINY);
    ys_ok(args, NULL);
    db_exec(ts_path("res.db"), "DELETE FROM task_results; DELETE FROM samples; UPDATE runs SET status = 'running', "
                               "finished_at = NULL");
    assert_true(db_num(ts_path("res.db"), "SELECT count(*) FROM task_results WHERE metric = 'kld_mean'") == 0);
    ys_ok("run --resume 1 --db res.db --output res2.json", NULL);
    char *e = stderr_text();
    assert_non_null(strstr(e, "responses reused from the cache"));
    free(e);
    cJSON *a = ts_load_json(ts_path("res1.json")), *b = ts_load_json(ts_path("res2.json"));
    const char *tasks[2] = {"copa", "wikitext"};
    for (int i = 0; i < 2; i++) {
        double ka = ts_num(task_result(a, tasks[i]), "kld_mean,none");
        assert_true(ka > 0);
        ts_close(ts_num(task_result(b, tasks[i]), "kld_mean,none"), ka, 0, "resumed kld_mean", tasks[i]);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT value FROM task_results WHERE run = 1 AND task = '%s' AND metric = 'kld_mean'",
                 tasks[i]);
        ts_close(db_num(ts_path("res.db"), sql), ka, 0, "stored after resume", tasks[i]);
    }
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "config"), "kl_base")->valuestring, TINY);
    cJSON_Delete(a), cJSON_Delete(b);
    assert_true(db_num(ts_path("res.db"), "SELECT count(*) FROM runs WHERE kl_base_model_id IS NOT NULL") == 1);
    ys_ok("rescore 1 --db res.db", NULL);
    assert_true(db_num(ts_path("res.db"), "SELECT count(*) FROM task_results WHERE metric = 'kld_mean'") == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_itself),
        cmocka_unit_test(test_adapter_and_int4_equal_kld_tasks),
        cmocka_unit_test(test_report_and_compare),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_resume_keeps_base),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
