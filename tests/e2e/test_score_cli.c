/* `yardstick score` end to end: the JSON interface the parity checks use,
 * the per-sample file, plain-text mode, and every bad-input rule (one clear
 * error naming file, line and field; exit code 3; no score printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

/* Run yardstick with args; returns exit code, stdout in *out, stderr in *errtext. */
static int ys(const char *args, char **out, char **errtext) { return ts_ys(args, out, errtext); }

static void test_json_interface(void **state)
{
    (void)state;
    ts_write_file(ts_path("p.jsonl"),
                  "{\"prediction\": \"the cat sat on the mat\", \"references\": [\"the cat sat on the mat\"]}\n"
                  "{\"prediction\": \"a dog\", \"reference\": \"the dog barked\"}\n");
    char *out, *err, args[1024];
    snprintf(args, sizeof args, "score --input %s --metrics bleu,chrf,rouge,squad,exact_match --json --per-sample %s",
             ts_path("p.jsonl"), ts_path("per.jsonl"));
    assert_int_equal(ys(args, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *bleu = cJSON_GetObjectItem(j, "bleu");
    assert_non_null(cJSON_GetObjectItem(bleu, "score"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(bleu, "counts")), 4);
    assert_string_equal(cJSON_GetObjectItem(bleu, "signature")->valuestring,
                        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
    const cJSON *r1 = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rouge"), "rouge1");
    assert_non_null(cJSON_GetObjectItem(r1, "fmeasure"));
    const cJSON *sq = cJSON_GetObjectItem(j, "squad");
    assert_true(cJSON_GetObjectItem(sq, "exact_match")->valuedouble == 50.0);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "exact_match"), "score")->valuedouble == 0.5);
    cJSON_Delete(j);
    free(out), free(err);
    /* per-sample: one line per input line, same shape */
    cJSON *per = ts_load_jsonl(ts_path("per.jsonl"));
    assert_int_equal(cJSON_GetArraySize(per), 2);
    const cJSON *first = cJSON_GetArrayItem(per, 0);
    ts_close(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "bleu"), "score")->valuedouble, 100.0, 1e-9, "bleu", NULL);
    ts_close(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "squad"), "f1")->valuedouble, 100.0, 1e-12, "f1", NULL);
    cJSON_Delete(per);
}

static void test_classification_labels(void **state)
{
    (void)state;
    ts_write_file(ts_path("c.jsonl"), "{\"prediction\": 1, \"reference\": 1}\n{\"prediction\": 0, \"reference\": 1}\n"
                                   "{\"prediction\": 1, \"reference\": 0}\n{\"prediction\": 0, \"reference\": 0}\n"
                                   "{\"prediction\": 1, \"reference\": 1}\n");
    char *out, args[1024];
    snprintf(args, sizeof args, "score --input %s --metrics accuracy,f1,matthews_correlation,pearsonr --json", ts_path("c.jsonl"));
    assert_int_equal(ys(args, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    /* tp=2 fp=1 fn=1: F1 = 2/3; accuracy 3/5; MCC = (3*5-(3*3+2*2))... from sklearn: 1/6 */
    ts_close(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "f1"), "score")->valuedouble, 2.0 / 3.0, 1e-12, "f1", NULL);
    ts_close(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "accuracy"), "score")->valuedouble, 0.6, 1e-12, "acc", NULL);
    ts_close(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "matthews_correlation"), "score")->valuedouble, 1.0 / 6.0, 1e-12, "mcc", NULL);
    cJSON_Delete(j);
    free(out);
    /* a constant prediction has no Pearson correlation: null, not a number */
    ts_write_file(ts_path("k.jsonl"), "{\"prediction\": 1, \"reference\": 1}\n{\"prediction\": 1, \"reference\": 2}\n");
    snprintf(args, sizeof args, "score --input %s --metrics pearsonr --json", ts_path("k.jsonl"));
    assert_int_equal(ys(args, &out, NULL), 0);
    assert_non_null(strstr(out, "\"pearsonr\": {\"score\": null}"));
    free(out);
}

static void test_plain_mode_matches_jsonl(void **state)
{
    (void)state;
    ts_write_file(ts_path("h.txt"), "the cat sat\nhello world\n");
    ts_write_file(ts_path("r.txt"), "the cat sat down\nhello there world\n");
    char *out, args[1024];
    snprintf(args, sizeof args, "score bleu -i %s -r %s", ts_path("h.txt"), ts_path("r.txt"));
    assert_int_equal(ys(args, &out, NULL), 0);
    assert_true(strncmp(out, "BLEU = ", 7) == 0);
    assert_non_null(strstr(out, "(BP = "));
    free(out);
}

/* Each bad input: exit 3, nothing on stdout, the message names file:line and field. */
static void expect_bad(const char *content, const char *args_fmt, const char *want1, const char *want2)
{
    ts_write_file(ts_path("bad.jsonl"), content);
    char args[1024], *out, *err;
    snprintf(args, sizeof args, args_fmt, ts_path("bad.jsonl"), ts_path("bad.jsonl"));
    int rc = ys(args, &out, &err);
    if (rc != 3 || strlen(out) != 0 || !strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("args '%s': rc %d, stdout '%s', stderr '%s' (wanted '%s', '%s')", args, rc, out, err, want1,
                 want2 ? want2 : "");
    free(out), free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *fmt = "score --input %s --metrics bleu,rouge --per-sample %s.per";
    expect_bad("{\"prediction\": \"a\", \"references\": [\"a\"]}\n{\"prediction\": \"a\", \"references\": [\"a\"\n", fmt,
               "bad.jsonl:2:", "malformed JSON");
    expect_bad("{\"prediction\": \"a\", \"references\": [\"a\"]}\n{\"prediction\": \"\xff\", \"references\": [\"a\"]}\n",
               fmt, "bad.jsonl:2:", "invalid UTF-8");
    expect_bad("{\"references\": [\"a\"]}\n", fmt, "bad.jsonl:1:", "missing field 'prediction'");
    expect_bad("{\"prediction\": \"a\"}\n", fmt, "bad.jsonl:1:", "missing field 'references'");
    expect_bad("{\"prediction\": \"a\", \"references\": []}\n", fmt, "bad.jsonl:1:", "empty array");
    expect_bad("{\"prediction\": \"a\", \"references\": [\"a\", 3]}\n", fmt, "bad.jsonl:1:", "'references' item 1");
    expect_bad("{\"prediction\": \"a\", \"references\": \"a\"}\n", fmt, "bad.jsonl:1:", "expected an array");
    expect_bad("[1, 2]\n", fmt, "bad.jsonl:1:", "not a JSON object");
    expect_bad("", fmt, "bad.jsonl", "no samples");
    expect_bad("{\"prediction\": \"x\", \"reference\": \"y\"}\n", "score --input %s --metrics pearsonr", "bad.jsonl:1:",
               "'prediction' is a string");
    /* no partial per-sample file is left behind */
    assert_null(ts_read_file(ts_path("bad.jsonl.per"), NULL));
    assert_null(ts_read_file(ts_path("bad.jsonl.per.partial"), NULL));
    /* METEOR without WordNet: a clear error, exit 3, no score */
    ts_write_file(ts_path("m.jsonl"), "{\"prediction\": \"a b\", \"references\": [\"a b\"]}\n");
    {
        char margs[1024], *mout, *merr;
        snprintf(margs, sizeof margs, "score --input %s --metrics meteor --wordnet-dir %s/nowordnet", ts_path("m.jsonl"), ts_scratch());
        assert_int_equal(ys(margs, &mout, &merr), 3);
        assert_string_equal(mout, "");
        assert_non_null(strstr(merr, "nowordnet"));
        assert_non_null(strstr(merr, "wordnet-base"));
        free(mout), free(merr);
    }
    /* line-aligned files of different lengths */
    ts_write_file(ts_path("h.txt"), "a\nb\nc\n");
    ts_write_file(ts_path("r.txt"), "a\nb\n");
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "score bleu -i %s -r %s", ts_path("h.txt"), ts_path("r.txt"));
    assert_int_equal(ys(args, &out, &err), 3);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "r.txt has 2 lines"));
    free(out), free(err);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(ys("score --input x.jsonl --metrics nosuchmetric", &out, &err), 2);
    assert_non_null(strstr(err, "unknown metric 'nosuchmetric'"));
    free(out), free(err);
    assert_int_equal(ys("score --metrics bleu", &out, &err), 2);
    free(out), free(err);
    assert_int_equal(ys("score --help", &out, NULL), 0);
    assert_non_null(strstr(out, "--metrics"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_interface),
        cmocka_unit_test(test_classification_labels),
        cmocka_unit_test(test_plain_mode_matches_jsonl),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
