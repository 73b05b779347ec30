/* Parity through the command line: the same reference vectors as the
 * library parity tests, fed to `yardstick score --json --per-sample` with
 * the options as flags, so the interface the parity checks use is what is
 * tested (option wiring, JSON shape, per-sample lines). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

/* Write samples {"prediction", "references"} from a vector case's hyps/refs. */
static void write_corpus(const cJSON *c, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const cJSON *h, *refs = cJSON_GetObjectItem(c, "refs");
    int i = 0;
    cJSON_ArrayForEach(h, cJSON_GetObjectItem(c, "hyps")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prediction", h->valuestring);
        cJSON_AddItemToObject(o, "references", cJSON_Duplicate(cJSON_GetArrayItem(refs, i++), 1));
        char *s = cJSON_PrintUnformatted(o);
        fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    fclose(f);
}

static cJSON *run_json(const char *args)
{
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "%s score %s --json", YS_BINARY, args);
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("'%s' exited %d", cmd, rc);
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("'%s' printed no JSON: %s", cmd, out);
    free(out);
    return j;
}

static void test_bleu_cli(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("bleu.jsonl"));
    char in[512], per[512], args[1500];
    snprintf(in, sizeof in, "%s/bleu.jsonl", ts_scratch());
    snprintf(per, sizeof per, "%s/bleu.per", ts_scratch());
    int k = 0, checked = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (k++ % 5) /* every fifth case covers every option combination */
            continue;
        const cJSON *o = cJSON_GetObjectItem(c, "options");
        const cJSON *sv = cJSON_GetObjectItem(o, "smooth_value");
        char smooth[64] = "";
        if (cJSON_IsNumber(sv))
            snprintf(smooth, sizeof smooth, "--smooth-value %.17g", sv->valuedouble);
        write_corpus(c, in);
        snprintf(args, sizeof args, "--input %s --metrics bleu --per-sample %s --tokenize %s --smooth-method %s %s %s %s",
                 in, per, cJSON_GetObjectItem(o, "tokenize")->valuestring,
                 cJSON_GetObjectItem(o, "smooth_method")->valuestring, smooth,
                 cJSON_IsTrue(cJSON_GetObjectItem(o, "lowercase")) ? "--lowercase" : "",
                 cJSON_IsTrue(cJSON_GetObjectItem(o, "effective_order")) ? "--effective-order" : "");
        cJSON *j = run_json(args);
        const cJSON *got = cJSON_GetObjectItem(j, "bleu"), *want = cJSON_GetObjectItem(c, "corpus");
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        ts_close(ts_num(got, "score"), ts_num(want, "score"), 1e-9, "score", name);
        ts_close(ts_num(got, "bp"), ts_num(want, "bp"), 1e-9, "bp", name);
        ts_close(ts_num(got, "sys_len"), ts_num(want, "sys_len"), 0, "sys_len", name);
        ts_close(ts_num(got, "ref_len"), ts_num(want, "ref_len"), 0, "ref_len", name);
        assert_string_equal(cJSON_GetObjectItem(got, "signature")->valuestring,
                            cJSON_GetObjectItem(c, "signature")->valuestring);
        /* per-sample lines are sentence BLEU with effective order, as
         * sacrebleu's --sentence-level; the vectors hold sentence scores
         * with the case's own flag, so compare where the flag is on */
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "effective_order"))) {
            cJSON *lines = ts_load_jsonl(per);
            const cJSON *sents = cJSON_GetObjectItem(c, "sentences");
            assert_int_equal(cJSON_GetArraySize(lines), cJSON_GetArraySize(sents));
            const cJSON *l;
            int i = 0;
            cJSON_ArrayForEach(l, lines) {
                ts_close(ts_num(cJSON_GetObjectItem(l, "bleu"), "score"),
                         ts_num(cJSON_GetArrayItem(sents, i++), "score"), 1e-9, "sentence score", name);
            }
            cJSON_Delete(lines);
        }
        cJSON_Delete(j);
        checked++;
    }
    printf("BLEU via CLI: %d corpora\n", checked);
    assert_true(checked >= 80);
    cJSON_Delete(cases);
}

static void test_chrf_cli(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("chrf.jsonl"));
    char in[512], args[1500];
    snprintf(in, sizeof in, "%s/chrf.jsonl", ts_scratch());
    int k = 0, checked = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (k++ % 5)
            continue;
        const cJSON *o = cJSON_GetObjectItem(c, "options");
        write_corpus(c, in);
        snprintf(args, sizeof args,
                 "--input %s --metrics chrf --chrf-char-order %d --chrf-word-order %d --chrf-beta %d %s %s %s", in,
                 (int)ts_num(o, "char_order"), (int)ts_num(o, "word_order"), (int)ts_num(o, "beta"),
                 cJSON_IsTrue(cJSON_GetObjectItem(o, "lowercase")) ? "--chrf-lowercase" : "",
                 cJSON_IsTrue(cJSON_GetObjectItem(o, "whitespace")) ? "--chrf-whitespace" : "",
                 cJSON_IsTrue(cJSON_GetObjectItem(o, "eps_smoothing")) ? "--chrf-eps-smoothing" : "");
        cJSON *j = run_json(args);
        const cJSON *got = cJSON_GetObjectItem(j, "chrf");
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        ts_close(ts_num(got, "score"), ts_num(cJSON_GetObjectItem(c, "corpus"), "score"), 1e-9, "score", name);
        assert_string_equal(cJSON_GetObjectItem(got, "signature")->valuestring,
                            cJSON_GetObjectItem(c, "signature")->valuestring);
        cJSON_Delete(j);
        checked++;
    }
    printf("chrF via CLI: %d corpora\n", checked);
    assert_true(checked >= 80);
    cJSON_Delete(cases);
}

/* One-sample-per-line vectors: write the whole file once, compare the
 * per-sample output line by line. */
static void per_sample_run(const char *vector, const char *filter_key, int filter_val, const char *flags,
                           void (*check)(const cJSON *got, const cJSON *want, int line))
{
    cJSON *cases = ts_load_jsonl(ts_vector(vector));
    char in[512], per[512], args[1500];
    snprintf(in, sizeof in, "%s/%s.in", ts_scratch(), vector);
    snprintf(per, sizeof per, "%s/%s.per", ts_scratch(), vector);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    cJSON *kept = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (filter_key && cJSON_IsTrue(cJSON_GetObjectItem(c, filter_key)) != filter_val)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "prediction", cJSON_Duplicate(cJSON_GetObjectItem(c, "prediction"), 1));
        cJSON_AddItemToObject(o, "references", cJSON_Duplicate(cJSON_GetObjectItem(c, "references"), 1));
        char *s = cJSON_PrintUnformatted(o);
        fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        cJSON_AddItemToArray(kept, cJSON_Duplicate(c, 1));
    }
    fclose(f);
    snprintf(args, sizeof args, "--input %s --per-sample %s %s", in, per, flags);
    cJSON *j = run_json(args);
    cJSON *lines = ts_load_jsonl(per);
    assert_int_equal(cJSON_GetArraySize(lines), cJSON_GetArraySize(kept));
    int i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines) {
        check(l, cJSON_GetArrayItem(kept, i), i);
        i++;
    }
    printf("%s via CLI (%s): %d samples\n", vector, flags, i);
    assert_true(i >= 200);
    cJSON_Delete(lines);
    cJSON_Delete(j);
    cJSON_Delete(kept);
    cJSON_Delete(cases);
}

static void check_rouge(const cJSON *got, const cJSON *want, int line)
{
    static const char *types[] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};
    char where[64];
    snprintf(where, sizeof where, "line %d", line + 1);
    for (int k = 0; k < 4; k++) {
        const cJSON *g = cJSON_GetObjectItem(cJSON_GetObjectItem(got, "rouge"), types[k]);
        const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(want, "scores"), types[k]);
        ts_close(ts_num(g, "fmeasure"), ts_num(w, "fmeasure"), 1e-12, types[k], where);
        ts_close(ts_num(g, "precision"), ts_num(w, "precision"), 1e-12, types[k], where);
    }
}

static void check_squad(const cJSON *got, const cJSON *want, int line)
{
    char where[64];
    snprintf(where, sizeof where, "line %d", line + 1);
    const cJSON *g = cJSON_GetObjectItem(got, "squad");
    ts_close(ts_num(g, "exact_match"), 100.0 * ts_num(want, "exact_match"), 1e-12, "exact_match", where);
    ts_close(ts_num(g, "f1"), 100.0 * ts_num(want, "f1"), 1e-10, "f1", where);
}

static void check_meteor(const cJSON *got, const cJSON *want, int line)
{
    char where[64];
    snprintf(where, sizeof where, "line %d", line + 1);
    ts_close(ts_num(cJSON_GetObjectItem(got, "meteor"), "score"), ts_num(want, "score"), 1e-9, "meteor", where);
}

static void test_rouge_cli(void **state)
{
    (void)state;
    per_sample_run("rouge.jsonl", "use_stemmer", 1, "--metrics rouge --rouge-stem", check_rouge);
    per_sample_run("rouge.jsonl", "use_stemmer", 0, "--metrics rouge", check_rouge);
}

static void test_squad_cli(void **state)
{
    (void)state;
    per_sample_run("squad.jsonl", NULL, 0, "--metrics squad", check_squad);
}

static void test_meteor_cli(void **state)
{
    (void)state;
    per_sample_run("meteor.jsonl", NULL, 0, "--metrics meteor", check_meteor);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bleu_cli),  cmocka_unit_test(test_chrf_cli),  cmocka_unit_test(test_rouge_cli),
        cmocka_unit_test(test_squad_cli), cmocka_unit_test(test_meteor_cli),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
