/* `yardstick run` end to end with the bundled tiny model and sample data:
 * every reported score is recomputed here from the logged log-likelihoods
 * (and those from `yardstick logprobs` on the same token ids) and must
 * agree; few-shot prompts are byte-identical for the same seed; the store
 * holds the run; bad task names and missing data files fail cleanly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testsupport.h"

static int setup(void **state)
{
    if (ts_scratch_setup(state) != 0)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/a %s/b", ts_scratch(), ts_scratch());
    return system(cmd);
}

static int ys(const char *args, char **out) { return ts_ys(args, out, NULL); }

static cJSON *load_json(const char *path)
{
    char *t = ts_read_file(path, NULL);
    assert_non_null(t);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

/* The choice a logged multiple-choice sample picked: the argmax of its
 * logged log-likelihoods (first on ties, as the runner). */
static int logged_choice(const cJSON *line)
{
    int best = 0, i = 0;
    double bestll = -INFINITY;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(line, "resps")) {
        double ll = cJSON_GetArrayItem(cJSON_GetArrayItem(r, 0), 0)->valuedouble;
        if (ll > bestll)
            bestll = ll, best = i;
        i++;
    }
    return best;
}

static void test_scores_recompute_from_logged_loglikelihoods(void **state)
{
    (void)state;
    char args[1024], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks sst2,mrpc,copa,cb,wikitext --db r.db "
             "--output a/results.json --log-samples", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    assert_non_null(strstr(out, "SAMPLE data"));
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/a/results.json", ts_scratch());
    cJSON *res = load_json(path);
    const cJSON *results = cJSON_GetObjectItem(res, "results");
    static const char *mc[] = {"sst2", "mrpc", "copa"};
    for (int k = 0; k < 3; k++) {
        cJSON *s = ts_samples_jsonl("a", mc[k]);
        double acc = 0;
        int n = 0, tp = 0, fp = 0, fn = 0;
        const cJSON *line;
        cJSON_ArrayForEach(line, s) {
            int best = logged_choice(line);
            int gold = atoi(cJSON_GetObjectItem(line, "target")->valuestring);
            acc += best == gold;
            tp += best == 1 && gold == 1, fp += best == 1 && gold == 0, fn += best == 0 && gold == 1;
            ts_close(ts_num(line, "acc"), best == gold, 0, "per-sample acc", mc[k]);
            n++;
        }
        const cJSON *t = cJSON_GetObjectItem(results, mc[k]);
        ts_close(ts_num(t, "acc,none"), acc / n, 1e-15, "acc", mc[k]);
        if (!strcmp(mc[k], "mrpc"))
            ts_close(ts_num(t, "f1,none"), tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0, 1e-12, "f1", mc[k]);
        cJSON_Delete(s);
    }
    /* wikitext: the word perplexity from the logged document log-likelihoods */
    cJSON *s = ts_samples_jsonl("a", "wikitext");
    double ll = 0, words = 0;
    const cJSON *line;
    cJSON_ArrayForEach(line, s) {
        ll += ts_num(line, "loglikelihood");
        words += ts_num(line, "words");
    }
    ts_close(ts_num(cJSON_GetObjectItem(results, "wikitext"), "word_perplexity,none"), exp(-ll / words), 1e-9,
             "word_perplexity", NULL);
    cJSON_Delete(s);
    /* cb: lm-evaluation-harness's f1 (mean of the one-vs-rest F1 of each
     * class), recomputed from the logged responses */
    s = ts_samples_jsonl("a", "cb");
    int tp[3] = {0}, fp[3] = {0}, fn[3] = {0};
    cJSON_ArrayForEach(line, s) {
        int best = logged_choice(line);
        const char *t = cJSON_GetObjectItem(line, "target")->valuestring;
        int gold = !strcmp(t, "entailment") ? 0 : !strcmp(t, "contradiction") ? 1 : 2;
        for (int c = 0; c < 3; c++) {
            tp[c] += best == c && gold == c;
            fp[c] += best == c && gold != c;
            fn[c] += best != c && gold == c;
        }
    }
    double f1m = 0;
    for (int c = 0; c < 3; c++)
        f1m += tp[c] ? 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn[c]) : 0.0;
    ts_close(ts_num(cJSON_GetObjectItem(results, "cb"), "f1_macro,none"), f1m / 3, 1e-12, "cb f1_macro", NULL);
    cJSON_Delete(s);
    cJSON_Delete(res);
    /* the store holds the same numbers */
    snprintf(args, sizeof args, "runs show 1 --db r.db --format json");
    assert_int_equal(ys(args, &out), 0);
    cJSON *stored = cJSON_Parse(out);
    assert_non_null(stored);
    res = load_json(path);
    ts_close(ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(stored, "results"), "sst2"), "acc,none"),
             ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "results"), "sst2"), "acc,none"), 0, "stored", NULL);
    cJSON_Delete(stored);
    cJSON_Delete(res);
    free(out);
    /* provenance: each task's first prompt and its token ids */
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(ts_path("r.db"), &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*), min(length(token_ids)) FROM task_prompts WHERE run = 1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 5);
    assert_true(sqlite3_column_int(st, 1) > 2);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* One logged log-likelihood against `yardstick tokenize` + `logprobs`. */
static void test_loglikelihood_matches_logprobs_command(void **state)
{
    (void)state;
    cJSON *s = ts_samples_jsonl("a", "sst2");
    const cJSON *first = cJSON_GetArrayItem(s, 0);
    const cJSON *pair = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "arguments"), 1);
    const char *context = cJSON_GetArrayItem(pair, 0)->valuestring, *cont = cJSON_GetArrayItem(pair, 1)->valuestring;
    double want = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "resps"), 1), 0), 0)->valuedouble;
    /* tokenize the context and the whole, as lm-evaluation-harness splits them */
    char path[600], args[1024], *out;
    snprintf(path, sizeof path, "%s/tok.jsonl", ts_scratch());
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    size_t cl = strlen(context);
    char *whole = malloc(cl + strlen(cont) + 1);
    sprintf(whole, "%s%s", context, cont);
    cJSON_AddStringToObject(a, "text", context);
    cJSON_AddFalseToObject(a, "add_special_tokens");
    cJSON_AddStringToObject(b, "text", whole);
    cJSON_AddFalseToObject(b, "add_special_tokens");
    char *la = cJSON_PrintUnformatted(a), *lb = cJSON_PrintUnformatted(b), text[8192];
    snprintf(text, sizeof text, "%s\n%s\n", la, lb);
    ts_write_file(path, text);
    snprintf(args, sizeof args, "tokenize --model %s/tests/data/models/tiny --jsonl %s", YS_SOURCE_DIR, path);
    assert_int_equal(ys(args, &out), 0);
    char *nl = strchr(out, '\n');
    *nl = 0;
    cJSON *ca = cJSON_Parse(out), *cb = cJSON_Parse(nl + 1);
    int nctx = cJSON_GetArraySize(cJSON_GetObjectItem(ca, "ids")), nall = cJSON_GetArraySize(cJSON_GetObjectItem(cb, "ids"));
    snprintf(path, sizeof path, "%s/ids.txt", ts_scratch());
    FILE *f = fopen(path, "w");
    const cJSON *id;
    cJSON_ArrayForEach(id, cJSON_GetObjectItem(cb, "ids")) fprintf(f, "%d ", id->valueint);
    fprintf(f, "\n");
    fclose(f);
    free(out);
    /* the continuation given the context: tokens nctx.. of the whole */
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/tiny --ids %s --from %d --json", YS_SOURCE_DIR,
             path, nctx);
    assert_int_equal(ys(args, &out), 0);
    cJSON *lp = cJSON_Parse(out);
    double got = 0;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "logprobs")), nall - nctx);
    for (int i = 0; i < nall - nctx; i++)
        got += cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "logprobs"), i)->valuedouble;
    ts_close(got, want, 1e-9, "continuation log-likelihood", NULL);
    cJSON_Delete(lp), cJSON_Delete(ca), cJSON_Delete(cb), cJSON_Delete(a), cJSON_Delete(b);
    free(la), free(lb), free(whole), free(out);
    cJSON_Delete(s);
}

/* The GLUE score: each task's metrics averaged into one score, then the
 * tasks averaged with MNLI matched and mismatched counting as one task. */
static void test_glue_score(void **state)
{
    (void)state;
    char args[1024], *out;
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks glue --limit 8 --no-db --output g.json",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    free(out);
    cJSON *res = load_json(ts_path("g.json"));
    const cJSON *task;
    double sum = 0, weight = 0;
    int ntasks = 0;
    cJSON_ArrayForEach(task, cJSON_GetObjectItem(res, "results")) {
        double v = 0;
        int nv = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, task) {
            if (cJSON_IsNumber(kv) && !strstr(kv->string, "_stderr"))
                v += kv->valuedouble, nv++;
        }
        double w = !strcmp(task->string, "mnli") || !strcmp(task->string, "mnli_mismatch") ? 0.5 : 1.0;
        sum += w * v / nv, weight += w;
        ntasks++;
    }
    assert_int_equal(ntasks, 10);
    ts_close(weight, 9.0, 0, "GLUE tasks", NULL);
    ts_close(ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "groups"), "glue"), "score,none"), sum / weight, 1e-12,
             "glue score", NULL);
    cJSON_Delete(res);
}

static void test_fewshot_prompts_repeat_and_errors(void **state)
{
    (void)state;
    char args[1024], *out, *o2;
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks rte --num-fewshot 3 --seed 7 --no-db "
                 "--output %s/results.json --log-samples", YS_SOURCE_DIR, k ? "b" : "a");
        assert_int_equal(ys(args, &out), 0);
        free(out);
    }
    cJSON *a = ts_samples_jsonl("a", "rte"), *b = ts_samples_jsonl("b", "rte");
    out = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 5), "arguments"));
    o2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(b, 5), "arguments"));
    assert_string_equal(out, o2);
    assert_non_null(strstr(out, "\\n\\n")); /* examples are there */
    free(out), free(o2);
    cJSON_Delete(a), cJSON_Delete(b);
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks sst3 --no-db", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 2);
    free(out);
    char *err = ts_read_file(strcat(strcpy(args, ts_scratch()), "/stderr.txt"), NULL);
    assert_non_null(strstr(err, "did you mean sst2"));
    free(err);
    snprintf(args, sizeof args, "run --model %s/tests/data/models/tiny --tasks qqp --no-db --data-dir %s", YS_SOURCE_DIR, ts_scratch());
    assert_int_equal(ys(args, &out), 3);
    free(out);
    err = ts_read_file(strcat(strcpy(args, ts_scratch()), "/stderr.txt"), NULL);
    assert_non_null(strstr(err, "glue/QQP/dev.tsv not found"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_recompute_from_logged_loglikelihoods),
        cmocka_unit_test(test_loglikelihood_matches_logprobs_command),
        cmocka_unit_test(test_glue_score),
        cmocka_unit_test(test_fewshot_prompts_repeat_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
