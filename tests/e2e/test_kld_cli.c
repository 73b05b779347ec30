/* `yardstick kld` end to end on the tiny model and the lora_tiny_a
 * adapter on it (same tokenizer, different weights), recomputed from
 * `yardstick logprobs`: per-token log-likelihoods and Δp from its
 * outputs, and the full-vocabulary KL divergence at a few positions from
 * the log-probabilities of every vocabulary entry there. Also the
 * identities of a model against itself, --text against `perplexity`,
 * --tasks against `run`, and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

#define TINY YS_SOURCE_DIR "/tests/data/models/tiny"
#define ADAPTER YS_SOURCE_DIR "/tests/data/models/lora_tiny_a"

static const char ids_text[] = "40 2 9 311 77 5 120 33 8 64 200 17 3 99 101\n"
                               "456 12 13 14 15 250 251 252\n";

static cJSON *run_json(const char *cmd)
{
    char *out = NULL;
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("'%s' exited %d: %s", cmd, rc, out ? out : "");
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("'%s' printed no JSON: %s", cmd, out ? out : "");
    free(out);
    return j;
}

static double vu(const cJSON *s, const char *key, const char *part)
{
    return ts_num(cJSON_GetObjectItem(s, key), part);
}

/* logprobs --json: one object per line, in input order */
static double **logprobs_lines(const char *extra, const char *ids_path, size_t *nlines, size_t **counts)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s %s --ids %s --json", YS_BINARY, TINY, extra, ids_path);
    assert_int_equal(ts_run(cmd, &out), 0);
    size_t cap = 8, n = 0;
    double **lines = malloc(cap * sizeof *lines);
    *counts = malloc(cap * sizeof **counts);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
        size_t k = (size_t)cJSON_GetArraySize(lp);
        if (n == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof *lines);
            *counts = realloc(*counts, cap * sizeof **counts);
        }
        lines[n] = malloc((k ? k : 1) * sizeof **lines);
        (*counts)[n] = k;
        for (size_t i = 0; i < k; i++)
            lines[n][i] = cJSON_GetArrayItem(lp, (int)i)->valuedouble;
        n++;
        cJSON_Delete(j);
    }
    free(out);
    *nlines = n;
    return lines;
}

static void free_lines(double **l, size_t n, size_t *counts)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l), free(counts);
}

static void test_model_against_itself(void **state)
{
    (void)state;
    ts_write_file(ts_path("a.ids"), ids_text);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --ids %s --json", YS_BINARY, TINY, TINY, ts_path("a.ids"));
    cJSON *j = run_json(cmd);
    const cJSON *s = cJSON_GetObjectItem(j, "summary");
    assert_int_equal((int)ts_num(s, "positions"), 14 + 7);
    const cJSON *k = cJSON_GetObjectItem(s, "kld");
    assert_true(ts_num(k, "mean") == 0 && ts_num(k, "max") == 0 && ts_num(k, "min") == 0);
    assert_true(vu(s, "same_top", "value") == 1);
    assert_true(vu(s, "ln_ppl_ratio", "value") == 0 && vu(s, "ppl_ratio", "value") == 1);
    assert_true(vu(s, "ppl_model", "value") == vu(s, "ppl_base", "value"));
    assert_true(vu(s, "p_diff_rms", "value") == 0 && ts_num(cJSON_GetObjectItem(s, "p_diff"), "max_abs") == 0);
    cJSON_Delete(j);
}

static void test_adapter_against_logprobs(void **state)
{
    (void)state;
    ts_write_file(ts_path("a.ids"), ids_text);
    char cmd[2048], extra[1024];
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --adapter %s --ids %s --json --per-token", YS_BINARY, TINY,
             TINY, ADAPTER, ts_path("a.ids"));
    cJSON *j = run_json(cmd);
    size_t nb, nm, *cb, *cm;
    double **lb = logprobs_lines("", ts_path("a.ids"), &nb, &cb);
    snprintf(extra, sizeof extra, "--adapter %s", ADAPTER);
    double **lm = logprobs_lines(extra, ts_path("a.ids"), &nm, &cm);
    assert_int_equal(nb, 2);
    assert_int_equal(nm, 2);
    const cJSON *toks = cJSON_GetObjectItem(j, "tokens");
    assert_int_equal(cJSON_GetArraySize(toks), (int)(cb[0] + cb[1]));
    /* the summary from logprobs' numbers, as llama.cpp sums them */
    double snll = 0, snll2 = 0, snb = 0, snb2 = 0, spd = 0, spd2 = 0, skld = 0;
    int N = 0, same = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, toks) {
        size_t seq = (size_t)ts_num(t, "seq"), pos = (size_t)ts_num(t, "pos");
        assert_true(seq < 2 && pos >= 1 && pos - 1 < cb[seq]);
        double b = lb[seq][pos - 1], m = lm[seq][pos - 1];
        char where[64];
        snprintf(where, sizeof where, "seq %zu pos %zu", seq, pos);
        /* the engine's fp32 exps against kld's double log-softmax */
        ts_close(ts_num(t, "nll_base"), -b, 1e-5, "nll_base", where);
        ts_close(ts_num(t, "nll"), -m, 1e-5, "nll", where);
        ts_close(ts_num(t, "p_diff"), exp(m) - exp(b), 1e-7, "p_diff", where);
        assert_true(ts_num(t, "kld") > 0);
        snll += -m, snll2 += m * m, snb += -b, snb2 += b * b;
        spd += exp(m) - exp(b), spd2 += (exp(m) - exp(b)) * (exp(m) - exp(b));
        skld += ts_num(t, "kld");
        same += cJSON_IsTrue(cJSON_GetObjectItem(t, "same_top"));
        N++;
    }
    const cJSON *s = cJSON_GetObjectItem(j, "summary");
    assert_int_equal((int)ts_num(s, "positions"), N);
    ts_close(vu(s, "ppl_model", "value"), exp(snll / N), 1e-5 * exp(snll / N), "PPL(Q)", NULL);
    ts_close(vu(s, "ppl_base", "value"), exp(snb / N), 1e-5 * exp(snb / N), "PPL(base)", NULL);
    ts_close(vu(s, "ln_ppl_ratio", "value"), (snll - snb) / N, 1e-5, "ln ratio", NULL);
    double v = snll2 / N - (snll / N) * (snll / N);
    ts_close(vu(s, "ppl_model", "unc"), exp(snll / N) * sqrt(v / (N - 1)), 1e-4 * exp(snll / N), "PPL(Q) unc", NULL);
    ts_close(ts_num(cJSON_GetObjectItem(s, "p_diff"), "mean"), spd / N, 1e-7, "mean Δp", NULL);
    ts_close(vu(s, "p_diff_rms", "value"), sqrt(spd2 / N), 1e-7, "RMS Δp", NULL);
    ts_close(ts_num(cJSON_GetObjectItem(s, "kld"), "mean"), skld / N, 1e-12, "mean KLD", NULL);
    ts_close(vu(s, "same_top", "value"), (double)same / N, 1e-15, "same top", NULL);
    (void)snb2;

    /* the full-vocabulary divergence at three positions of the first line:
     * every vocabulary entry after the prefix, scored by both models */
    int seq0[15] = {40, 2, 9, 311, 77, 5, 120, 33, 8, 64, 200, 17, 3, 99, 101};
    int check_pos[3] = {1, 6, 14};
    const int V = 457;
    for (int c = 0; c < 3; c++) {
        int pos = check_pos[c];
        FILE *f = fopen(ts_path("enum.ids"), "w");
        for (int tok = 0; tok < V; tok++) {
            for (int i = 0; i < pos; i++)
                fprintf(f, "%d ", seq0[i]);
            fprintf(f, "%d\n", tok);
        }
        fclose(f);
        char from[1100];
        snprintf(from, sizeof from, "--from %d", pos);
        size_t n1, n2, *c1, *c2;
        double **eb = logprobs_lines(from, ts_path("enum.ids"), &n1, &c1);
        snprintf(extra, sizeof extra, "--from %d --adapter %s", pos, ADAPTER);
        double **em = logprobs_lines(extra, ts_path("enum.ids"), &n2, &c2);
        assert_int_equal(n1, V);
        assert_int_equal(n2, V);
        double kl = 0, sb = 0;
        int ab = 0, am = 0;
        for (int tok = 0; tok < V; tok++) {
            double b = eb[tok][0], m = em[tok][0];
            kl += exp(b) * (b - m);
            sb += exp(b);
            if (b > eb[ab][0])
                ab = tok;
            if (m > em[am][0])
                am = tok;
        }
        assert_true(fabs(sb - 1) < 1e-5); /* the enumeration covers the vocabulary */
        const cJSON *rec = NULL;
        cJSON_ArrayForEach(t, toks) if (ts_num(t, "seq") == 0 && ts_num(t, "pos") == pos) rec = t;
        assert_non_null(rec);
        char where[32];
        snprintf(where, sizeof where, "position %d", pos);
        ts_close(ts_num(rec, "kld"), kl, 1e-5 * (1 + kl), "full-vocabulary KLD", where);
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(rec, "same_top")), ab == am);
        free_lines(eb, n1, c1), free_lines(em, n2, c2);
    }
    free_lines(lb, nb, cb), free_lines(lm, nm, cm);
    cJSON_Delete(j);
}

static void test_text_windows_as_perplexity(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 12; i++)
        strcat(text, "The committee met again on Tuesday to discuss the budget, and nobody agreed. ");
    ts_write_file(ts_path("doc.txt"), text);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s perplexity --model %s --text %s --ctx 64 --stride 40 --json 2>/dev/null", YS_BINARY,
             TINY, ts_path("doc.txt"));
    cJSON *p = run_json(cmd);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --adapter %s --text %s --ctx 64 --stride 40 --json 2>/dev/null",
             YS_BINARY, TINY, TINY, ADAPTER, ts_path("doc.txt"));
    cJSON *k = run_json(cmd);
    const cJSON *s = cJSON_GetObjectItem(k, "summary");
    assert_int_equal((int)ts_num(s, "positions"), (int)ts_num(p, "tokens"));
    double ppl = ts_num(p, "token_perplexity");
    ts_close(vu(s, "ppl_base", "value"), ppl, 1e-6 * ppl, "PPL(base) = perplexity's", NULL);
    assert_true(ts_num(cJSON_GetObjectItem(s, "kld"), "mean") > 0);
    assert_int_equal((int)ts_num(k, "ctx"), 64);
    cJSON_Delete(k);
    cJSON_Delete(p);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --text %s --ctx 64 --stride 40 --json 2>/dev/null", YS_BINARY,
             TINY, TINY, ts_path("doc.txt"));
    k = run_json(cmd);
    s = cJSON_GetObjectItem(k, "summary");
    assert_true(ts_num(cJSON_GetObjectItem(s, "kld"), "max") == 0 && vu(s, "same_top", "value") == 1);
    cJSON_Delete(k);
}

static double run_metric(const char *adapter, const char *task, const char *metric, const char *extra)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run --model %s %s%s --tasks %s --limit 20 %s --output %s >/dev/null 2>&1", YS_BINARY,
             TINY, adapter ? "--adapter " : "", adapter ? adapter : "", task, extra, ts_path("run.json"));
    assert_int_equal(ts_run(cmd, NULL), 0);
    cJSON *r = ts_load_json(ts_path("run.json"));
    char key[64];
    snprintf(key, sizeof key, "%s,none", metric);
    double v = ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "results"), task), key);
    cJSON_Delete(r);
    return v;
}

static void test_tasks(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --adapter %s --tasks copa,sst2 --limit 20 --json", YS_BINARY,
             TINY, TINY, ADAPTER);
    cJSON *j = run_json(cmd);
    const cJSON *tasks = cJSON_GetObjectItem(j, "tasks");
    assert_int_equal(cJSON_GetArraySize(tasks), 2);
    int positions = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks) {
        const char *name = cJSON_GetObjectItem(t, "task")->valuestring;
        const cJSON *s = cJSON_GetObjectItem(t, "kld");
        positions += (int)ts_num(s, "positions");
        assert_true(ts_num(cJSON_GetObjectItem(s, "kld"), "mean") > 0);
        const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "metrics"), 0);
        assert_string_equal(cJSON_GetObjectItem(m, "metric")->valuestring, "acc");
        /* each model's metric is what `yardstick run` reports for it */
        ts_close(ts_num(m, "base"), run_metric(NULL, name, "acc", ""), 1e-12, "base acc", name);
        ts_close(ts_num(m, "model"), run_metric(ADAPTER, name, "acc", ""), 1e-12, "model acc", name);
        ts_close(ts_num(m, "delta"), ts_num(m, "model") - ts_num(m, "base"), 1e-15, "delta", name);
        assert_string_equal(cJSON_GetObjectItem(m, "test")->valuestring, "mcnemar");
        double p = ts_num(m, "p");
        assert_true(p > 0 && p <= 1 && ts_num(m, "p_holm") >= p);
        assert_int_equal((int)ts_num(m, "n_paired"), 20);
    }
    /* the total covers every task's positions */
    assert_int_equal((int)ts_num(cJSON_GetObjectItem(j, "summary"), "positions"), positions);
    cJSON_Delete(j);
    /* against itself: no divergence, no difference, McNemar p = 1 */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --tasks copa --limit 20 --json", YS_BINARY, TINY, TINY);
    j = run_json(cmd);
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tasks"), 0),
                                                           "metrics"), 0);
    assert_true(ts_num(m, "delta") == 0 && ts_num(m, "p") == 1);
    assert_true(ts_num(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "summary"), "kld"), "max") == 0);
    cJSON_Delete(j);
    /* few-shot prompts: the same examples as run's (its default seed) */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --adapter %s --tasks sst2 --limit 20 --num-fewshot 2 --json",
             YS_BINARY, TINY, TINY, ADAPTER);
    j = run_json(cmd);
    m = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tasks"), 0), "metrics"), 0);
    ts_close(ts_num(m, "base"), run_metric(NULL, "sst2", "acc", "--num-fewshot 2"), 1e-12, "base acc", "2-shot");
    ts_close(ts_num(m, "model"), run_metric(ADAPTER, "sst2", "acc", "--num-fewshot 2"), 1e-12, "model acc", "2-shot");
    cJSON_Delete(j);
}

static void test_refusals(void **state)
{
    (void)state;
    ts_write_file(ts_path("a.ids"), ids_text);
    char other[1024], cmd[4096], *out = NULL;
    snprintf(other, sizeof other, "%s/other_tok", ts_scratch());
    ts_swapped_tokenizer_copy(TINY, other);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --ids %s 2>&1", YS_BINARY, TINY, other, ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 3);
    assert_non_null(strstr(out, "do not share a tokenizer"));
    assert_non_null(strstr(out, TINY));
    assert_non_null(strstr(out, other));
    free(out);
    /* an encoder classifier is not a decoder */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s/tests/data/models/bert_cls --ids %s 2>&1", YS_BINARY, TINY,
             YS_SOURCE_DIR, ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "encoder classifier"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s kld --base %s/tests/data/models/t5 --model %s --ids %s 2>&1", YS_BINARY, YS_SOURCE_DIR,
             TINY, ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "encoder-decoder"));
    free(out);
    /* a missing folder, a missing input file, a model without tokenizer */
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s/nothing --ids %s 2>&1", YS_BINARY, TINY, ts_scratch(),
             ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 3);
    assert_non_null(strstr(out, "nothing"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --ids %s/none.ids 2>&1", YS_BINARY, TINY, TINY, ts_scratch());
    assert_int_equal(ts_run(cmd, &out), 3);
    free(out);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s/tests/data/models/gpt2 --ids %s 2>&1", YS_BINARY, TINY,
             YS_SOURCE_DIR, ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 3);
    assert_non_null(strstr(out, "do not share a tokenizer"));
    free(out);
    /* usage */
    snprintf(cmd, sizeof cmd, "%s kld --model %s --ids %s 2>&1", YS_BINARY, TINY, ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 2);
    assert_non_null(strstr(out, "--base"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s kld --base %s --model %s --ids %s --text %s 2>&1", YS_BINARY, TINY, TINY,
             ts_path("a.ids"), ts_path("a.ids"));
    assert_int_equal(ts_run(cmd, &out), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_against_itself),
        cmocka_unit_test(test_adapter_against_logprobs),
        cmocka_unit_test(test_text_windows_as_perplexity),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
