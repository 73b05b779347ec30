/* Encoder classifiers and encoder-decoders from the command line, on the
 * tiny checkpoints in tests/data/models (their expected.json files come from
 * the float64 PyTorch references, gen_encoder_models.py and
 * gen_seq2seq_models.py):
 *   - `classify --ids/--token-type-ids` logits within 1e-4 of the reference;
 *   - `logprobs --source-ids --ids` per-token log-probabilities within 1e-4;
 *   - `generate --prompt-ids` with every decoding setting of the reference
 *     (greedy, beams, length penalty, early stopping, n-gram blocking, min
 *     length): identical token ids;
 *   - `run` on a classifier: the stored predictions are the labels
 *     `classify --text --text-pair` gives for the same documents, mapped to
 *     the task's classes by name, and acc is recomputed from them;
 *   - wrong model kind / bad input: exit 2 or 3 with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static int setup(void **state) { return ts_scratch_setup(state); }

static cJSON *expected(const char *model)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tests/data/models/%s/expected.json", YS_SOURCE_DIR, model);
    cJSON *j = ts_load_json(path);
    return j;
}

static void write_ids(FILE *f, const cJSON *arr)
{
    const cJSON *id;
    int first = 1;
    cJSON_ArrayForEach(id, arr) {
        fprintf(f, "%s%d", first ? "" : " ", id->valueint);
        first = 0;
    }
    fprintf(f, "\n");
}

/* Run yardstick with args; returns the exit status, *out = stdout. */
static int ys(const char *args, char **out) { return ts_ys(args, out, NULL); }

static void test_classify_ids(void **state)
{
    (void)state;
    static const char *models[] = {"bert_cls", "bert_stsb", "roberta_cls", "distilbert_cls"};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        cJSON *want = expected(models[k]);
        char cpath[600];
        snprintf(cpath, sizeof cpath, "%s/tests/data/models/%s/config.json", YS_SOURCE_DIR, models[k]);
        cJSON *config = ts_load_json(cpath);
        FILE *fi = fopen(ts_path("c.ids"), "w"), *ft = fopen(ts_path("c.types"), "w");
        const cJSON *seq;
        int have_types = 0;
        cJSON_ArrayForEach(seq, cJSON_GetObjectItem(want, "sequences")) {
            write_ids(fi, cJSON_GetObjectItem(seq, "ids"));
            const cJSON *tt = cJSON_GetObjectItem(seq, "type_ids");
            if (cJSON_IsArray(tt)) {
                write_ids(ft, tt);
                have_types = 1;
            } else {
                /* no type ids given: all zeros */
                int n = cJSON_GetArraySize(cJSON_GetObjectItem(seq, "ids"));
                for (int i = 0; i < n; i++)
                    fprintf(ft, "%s0", i ? " " : "");
                fprintf(ft, "\n");
            }
        }
        fclose(fi), fclose(ft);
        char args[2048], *out;
        snprintf(args, sizeof args, "classify --model %s/tests/data/models/%s --ids c.ids %s --json --threads 2",
                 YS_SOURCE_DIR, models[k], have_types ? "--token-type-ids c.types" : "");
        if (ys(args, &out) != 0)
            fail_msg("%s: classify failed", models[k]);
        char *line = out;
        int i = 0;
        cJSON_ArrayForEach(seq, cJSON_GetObjectItem(want, "sequences")) {
            char *nl = strchr(line, '\n');
            assert_non_null(nl);
            *nl = 0;
            cJSON *got = cJSON_Parse(line);
            assert_non_null(got);
            const cJSON *gl = cJSON_GetObjectItem(got, "logits"), *wl = cJSON_GetObjectItem(seq, "logits");
            assert_int_equal(cJSON_GetArraySize(gl), cJSON_GetArraySize(wl));
            int best = 0;
            for (int c = 0; c < cJSON_GetArraySize(wl); c++) {
                char what[64];
                snprintf(what, sizeof what, "%s seq %d logit %d", models[k], i, c);
                ts_close(cJSON_GetArrayItem(gl, c)->valuedouble, cJSON_GetArrayItem(wl, c)->valuedouble, 1e-4, what,
                         NULL);
                if (cJSON_GetArrayItem(wl, c)->valuedouble > cJSON_GetArrayItem(wl, best)->valuedouble)
                    best = c;
            }
            const cJSON *label = cJSON_GetObjectItem(got, "label");
            if (cJSON_GetArraySize(wl) == 1) {
                assert_true(cJSON_IsNumber(label));
            } else {
                /* the label is id2label of the largest logit (LABEL_i without one) */
                char key[16], dflt[32];
                snprintf(key, sizeof key, "%d", best);
                snprintf(dflt, sizeof dflt, "LABEL_%d", best);
                const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(config, "id2label"), key);
                assert_true(cJSON_IsString(label));
                assert_string_equal(label->valuestring, name ? name->valuestring : dflt);
            }
            cJSON_Delete(got);
            line = nl + 1;
            i++;
        }
        free(out);
        cJSON_Delete(want);
        cJSON_Delete(config);
    }
}

static void test_seq2seq_logprobs(void **state)
{
    (void)state;
    static const char *models[] = {"t5", "t5v11", "bart", "marian"};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        cJSON *want = expected(models[k]);
        FILE *fs = fopen(ts_path("s.ids"), "w"), *fd = fopen(ts_path("d.ids"), "w");
        const cJSON *pair;
        cJSON_ArrayForEach(pair, cJSON_GetObjectItem(want, "pairs")) {
            if (cJSON_GetArraySize(cJSON_GetObjectItem(pair, "dec")) < 2)
                continue; /* nothing to score */
            write_ids(fs, cJSON_GetObjectItem(pair, "src"));
            write_ids(fd, cJSON_GetObjectItem(pair, "dec"));
        }
        fclose(fs), fclose(fd);
        char args[2048], *out;
        snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/%s --source-ids s.ids --ids d.ids --json",
                 YS_SOURCE_DIR, models[k]);
        if (ys(args, &out) != 0)
            fail_msg("%s: logprobs --source-ids failed", models[k]);
        char *line = out;
        int i = 0;
        cJSON_ArrayForEach(pair, cJSON_GetObjectItem(want, "pairs")) {
            if (cJSON_GetArraySize(cJSON_GetObjectItem(pair, "dec")) < 2)
                continue;
            char *nl = strchr(line, '\n');
            assert_non_null(nl);
            *nl = 0;
            cJSON *got = cJSON_Parse(line);
            const cJSON *gl = cJSON_GetObjectItem(got, "logprobs"), *wl = cJSON_GetObjectItem(pair, "logprobs");
            assert_int_equal(cJSON_GetArraySize(gl), cJSON_GetArraySize(wl));
            for (int t = 0; t < cJSON_GetArraySize(wl); t++) {
                char what[64];
                snprintf(what, sizeof what, "%s pair %d token %d", models[k], i, t);
                ts_close(cJSON_GetArrayItem(gl, t)->valuedouble, cJSON_GetArrayItem(wl, t)->valuedouble, 1e-4, what,
                         NULL);
            }
            cJSON_Delete(got);
            line = nl + 1;
            i++;
        }
        free(out);
        cJSON_Delete(want);
    }
}

static int same_json(const cJSON *a, const cJSON *b)
{
    return cJSON_Compare(a, b, 1);
}

static void test_seq2seq_generate(void **state)
{
    (void)state;
    static const char *models[] = {"t5", "t5v11", "bart", "marian"};
    int checked = 0;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        cJSON *want = expected(models[k]);
        const cJSON *defaults = cJSON_GetObjectItem(want, "defaults"), *g;
        const char *prev = "";
        cJSON_ArrayForEach(g, cJSON_GetObjectItem(want, "generate")) {
            const cJSON *o = cJSON_GetObjectItem(g, "opts");
            /* one source per setting: the engine test (test_seq2seq) runs
             * them all; this checks the options reach it */
            const char *label = cJSON_GetObjectItem(g, "label")->valuestring;
            if (!strcmp(label, prev))
                continue;
            prev = label;
            /* forced BOS/EOS come from the model's config: only cases that
             * keep them can be asked for on the command line */
            if (!same_json(cJSON_GetObjectItem(o, "forced_bos"), cJSON_GetObjectItem(defaults, "forced_bos")) ||
                !same_json(cJSON_GetObjectItem(o, "forced_eos"), cJSON_GetObjectItem(defaults, "forced_eos")))
                continue;
            char ids[1024] = "", args[4096], *out;
            const cJSON *id;
            cJSON_ArrayForEach(id, cJSON_GetObjectItem(g, "src"))
                snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", ids[0] ? " " : "", id->valueint);
            const cJSON *es = cJSON_GetObjectItem(o, "early_stopping");
            if (cJSON_IsTrue(cJSON_GetObjectItem(g, "defaults")))
                snprintf(args, sizeof args, "generate --model %s/tests/data/models/%s --prompt-ids \"%s\" --json",
                         YS_SOURCE_DIR, models[k], ids);
            else
                snprintf(args, sizeof args,
                         "generate --model %s/tests/data/models/%s --prompt-ids \"%s\" --json --max-tokens %d "
                         "--min-tokens %d --num-beams %d --length-penalty %.17g --early-stopping %s "
                         "--no-repeat-ngram-size %d",
                         YS_SOURCE_DIR, models[k], ids, (int)ts_num(o, "max_new"), (int)ts_num(o, "min_new"),
                         (int)ts_num(o, "num_beams"), ts_num(o, "length_penalty"),
                         cJSON_IsString(es) ? es->valuestring : cJSON_IsTrue(es) ? "true" : "false",
                         (int)ts_num(o, "no_repeat_ngram_size"));
            if (ys(args, &out) != 0)
                fail_msg("%s: generate failed: %s", models[k], args);
            cJSON *got = cJSON_Parse(out);
            assert_non_null(got);
            if (!same_json(cJSON_GetObjectItem(got, "ids"), cJSON_GetObjectItem(g, "tokens"))) {
                char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(got, "ids"));
                char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(g, "tokens"));
                fail_msg("%s, %s: generated %s, reference %s", models[k], cJSON_GetObjectItem(g, "label")->valuestring,
                         a, b);
            }
            cJSON_Delete(got);
            free(out);
            checked++;
        }
        cJSON_Delete(want);
    }
    /* every model has greedy and beam cases */
    assert_true(checked >= 4 * 12);
}

/* `run` on the classifier: the logged prediction of each MNLI sample is
 * the label `classify --text --text-pair` gives for its premise and
 * hypothesis (the id2label names match the task's classes by name), and acc
 * is the share of them equal to the gold label. */
static void test_run_classifier(void **state)
{
    (void)state;
    char args[2048], *out;
    snprintf(args, sizeof args,
             "run --model %s/tests/data/models/bert_cls --tasks mnli --no-db --output r.json --log-samples --limit 10",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    free(out);
    /* the samples log beside r.json */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s/samples_mnli_*.jsonl", ts_scratch());
    assert_int_equal(ts_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    cJSON *samples = ts_load_jsonl(out);
    free(out);
    assert_int_equal(cJSON_GetArraySize(samples), 10);
    int correct = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, samples) {
        const cJSON *doc = cJSON_GetObjectItem(s, "doc");
        const char *premise = cJSON_GetObjectItem(doc, "sentence1")->valuestring;
        const char *hyp = cJSON_GetObjectItem(doc, "sentence2")->valuestring;
        FILE *f = fopen(ts_path("p.txt"), "w");
        fputs(premise, f);
        fclose(f);
        f = fopen(ts_path("h.txt"), "w");
        fputs(hyp, f);
        fclose(f);
        snprintf(args, sizeof args,
                 "classify --model %s/tests/data/models/bert_cls --text \"$(cat p.txt)\" --text-pair \"$(cat h.txt)\" "
                 "--json",
                 YS_SOURCE_DIR);
        assert_int_equal(ys(args, &out), 0);
        cJSON *c = cJSON_Parse(out);
        free(out);
        const char *label = cJSON_GetObjectItem(c, "label")->valuestring;
        const cJSON *pred = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "filtered_resps"), 0);
        assert_true(cJSON_IsString(pred));
        if (strcmp(pred->valuestring, label))
            fail_msg("sample %d: run predicted '%s', classify says '%s'", cJSON_GetObjectItem(s, "doc_id")->valueint,
                     pred->valuestring, label);
        correct += !strcmp(label, cJSON_GetObjectItem(doc, "gold_label")->valuestring);
        cJSON_Delete(c);
    }
    char *text = ts_read_file(ts_path("r.json"), NULL);
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *acc = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "results"), "mnli"), "acc,none");
    assert_non_null(acc);
    ts_close(acc->valuedouble, correct / 10.0, 1e-12, "mnli acc", NULL);
    cJSON_Delete(r);
    cJSON_Delete(samples);
}

/* `run` on an encoder-decoder: a multiple-choice log-likelihood is the
 * decoder's score of the continuation (without special tokens, after
 * decoder_start_token_id) given the context (with its special tokens) as
 * encoder input — checked against `tokenize` + `logprobs --source-ids`;
 * a generation is what `generate --prompt` gives for the same prompt. */
static void test_run_seq2seq(void **state)
{
    (void)state;
    char args[4096], *out;
    snprintf(args, sizeof args,
             "run --model %s/tests/data/models/t5v11 --tasks copa,translation_de_en --no-db --output s.json --log-samples "
             "--limit 3",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s/samples_copa_*.jsonl", ts_scratch());
    assert_int_equal(ts_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    cJSON *samples = ts_load_jsonl(out);
    free(out);
    const cJSON *first = cJSON_GetArrayItem(samples, 0);
    const cJSON *pair = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "arguments"), 0);
    const char *context = cJSON_GetArrayItem(pair, 0)->valuestring, *cont = cJSON_GetArrayItem(pair, 1)->valuestring;
    double want = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "resps"), 0), 0), 0)
                      ->valuedouble;
    assert_true(context[strlen(context) - 1] != ' '); /* nothing to move */
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "text", context);
    cJSON_AddStringToObject(b, "text", cont);
    cJSON_AddFalseToObject(b, "add_special_tokens"); /* the continuation has none */
    char *la = cJSON_PrintUnformatted(a), *lb = cJSON_PrintUnformatted(b), text[8192];
    snprintf(text, sizeof text, "%s\n%s\n", la, lb);
    ts_write_file(ts_path("tok.jsonl"), text);
    snprintf(args, sizeof args, "tokenize --model %s/tests/data/models/t5v11 --jsonl tok.jsonl", YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    char *nl = strchr(out, '\n');
    *nl = 0;
    cJSON *ca = cJSON_Parse(out), *cb = cJSON_Parse(nl + 1);
    free(out);
    FILE *f = fopen(ts_path("src.ids"), "w");
    write_ids(f, cJSON_GetObjectItem(ca, "ids"));
    fclose(f);
    f = fopen(ts_path("dec.ids"), "w");
    fprintf(f, "0 ");
    write_ids(f, cJSON_GetObjectItem(cb, "ids"));
    fclose(f);
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/t5v11 --source-ids src.ids --ids dec.ids --json",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    cJSON *lp = cJSON_Parse(out);
    free(out);
    ts_close(ts_num(lp, "sum"), want, 1e-9, "seq2seq continuation log-likelihood", NULL);
    cJSON_Delete(lp), cJSON_Delete(ca), cJSON_Delete(cb), cJSON_Delete(a), cJSON_Delete(b);
    free(la), free(lb);
    cJSON_Delete(samples);
    /* a translation: the generated text before the stop string */
    snprintf(cmd, sizeof cmd, "ls %s/samples_translation_de_en_*.jsonl", ts_scratch());
    assert_int_equal(ts_run(cmd, &out), 0);
    out[strcspn(out, "\n")] = 0;
    samples = ts_load_jsonl(out);
    free(out);
    first = cJSON_GetArrayItem(samples, 0);
    const char *prompt = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "arguments"), 0), 0)->valuestring;
    const char *gen = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "resps"), 0)->valuestring;
    ts_write_file(ts_path("prompt.txt"), prompt);
    snprintf(args, sizeof args,
             "generate --model %s/tests/data/models/t5v11 --prompt \"$(cat prompt.txt)\" --stop \"\n\" "
             "--max-tokens 256 --json",
             YS_SOURCE_DIR);
    assert_int_equal(ys(args, &out), 0);
    cJSON *g = cJSON_Parse(out);
    free(out);
    assert_non_null(g);
    assert_true(strlen(gen) > 0); /* something to compare */
    assert_string_equal(cJSON_GetObjectItem(g, "text")->valuestring, gen);
    cJSON_Delete(g);
    cJSON_Delete(samples);
}

/* A classifier run and an encoder-decoder run go into the store, and
 * `rescore` recomputes both from the cached responses (logits, decoder
 * log-likelihoods, generations) to the same results JSON. */
static void test_store_and_rescore(void **state)
{
    (void)state;
    static const char *runs[][2] = {{"bert_cls", "mnli,cb"}, {"t5v11", "copa,translation_de_en"}};
    for (int r = 0; r < 2; r++) {
        char args[2048], *out;
        snprintf(args, sizeof args, "run --model %s/tests/data/models/%s --tasks %s --db s.db --output a%d.json --limit 6",
                 YS_SOURCE_DIR, runs[r][0], runs[r][1], r);
        assert_int_equal(ys(args, &out), 0);
        free(out);
        snprintf(args, sizeof args, "rescore %d --db s.db --output b%d.json", r + 1, r);
        if (ys(args, &out) != 0) {
            char *e = ts_read_file(ts_path("stderr.txt"), NULL);
            fail_msg("rescore of the %s run failed: %s", runs[r][0], e ? e : "");
        }
        free(out);
        char a[64], b[64];
        snprintf(a, sizeof a, "a%d.json", r);
        snprintf(b, sizeof b, "b%d.json", r);
        char *ta = ts_read_file(ts_path(a), NULL), *tb = ts_read_file(ts_path(b), NULL);
        cJSON *ja = cJSON_Parse(ta), *jb = cJSON_Parse(tb);
        assert_non_null(ja);
        assert_non_null(jb);
        if (!cJSON_Compare(cJSON_GetObjectItem(ja, "results"), cJSON_GetObjectItem(jb, "results"), 1))
            fail_msg("%s: rescored results differ from the run's", runs[r][0]);
        cJSON_Delete(ja), cJSON_Delete(jb);
        free(ta), free(tb);
    }
}

static void expect_fail(const char *args, int code, const char *msg)
{
    char *out;
    int rc = ys(args, &out);
    free(out);
    char *err = ts_read_file(ts_path("stderr.txt"), NULL);
    if (rc != code || !err || !strstr(err, msg))
        fail_msg("'%s': exit %d (want %d), stderr '%s' lacks '%s'", args, rc, code, err ? err : "", msg);
    free(err);
}

static void test_errors(void **state)
{
    (void)state;
    char args[2048];
    const char *src = YS_SOURCE_DIR;
    snprintf(args, sizeof args, "classify --model %s/tests/data/models/gpt2 --ids c.ids", src);
    expect_fail(args, 2, "is not an encoder classifier");
    snprintf(args, sizeof args, "classify --model %s/tests/data/models/bert_cls --text-pair x", src);
    expect_fail(args, 2, "give exactly one of");
    ts_write_file(ts_path("two.ids"), "2 10 3\n2 11 3\n");
    ts_write_file(ts_path("one.types"), "0 0 0\n");
    snprintf(args, sizeof args, "classify --model %s/tests/data/models/bert_cls --ids two.ids --token-type-ids one.types",
             src);
    expect_fail(args, 3, "2 lines of ids");
    ts_write_file(ts_path("big.ids"), "2 100 3\n");
    snprintf(args, sizeof args, "classify --model %s/tests/data/models/bert_cls --ids big.ids", src);
    expect_fail(args, 3, "vocab");
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/t5 --ids two.ids", src);
    expect_fail(args, 2, "encoder-decoder model: give --source-ids");
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/gpt2 --source-ids two.ids --ids two.ids", src);
    expect_fail(args, 2, "--source-ids is for encoder-decoder models");
    ts_write_file(ts_path("one.ids"), "0 5\n");
    snprintf(args, sizeof args, "logprobs --model %s/tests/data/models/t5 --source-ids two.ids --ids one.ids", src);
    expect_fail(args, 3, "give one source line per decoder line");
    snprintf(args, sizeof args, "generate --model %s/tests/data/models/gpt2 --prompt-ids \"1 2\" --num-beams 2", src);
    expect_fail(args, 2, "beam-search options are for encoder-decoder models");
    /* tasks the checkpoint cannot answer fail before anything runs */
    snprintf(args, sizeof args, "run --model %s/tests/data/models/bert_cls --tasks wikitext --no-db", src);
    expect_fail(args, 2, "needs a language model");
    snprintf(args, sizeof args, "run --model %s/tests/data/models/bert_cls --tasks rte --no-db", src);
    expect_fail(args, 2, "do not match the task's classes");
    snprintf(args, sizeof args, "run --model %s/tests/data/models/bert_stsb --tasks sst2 --no-db", src);
    expect_fail(args, 2, "regression head");
    snprintf(args, sizeof args, "run --model %s/tests/data/models/t5 --tasks wikitext --no-db", src);
    expect_fail(args, 2, "needs a decoder-only language model");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_ids),     cmocka_unit_test(test_seq2seq_logprobs),
        cmocka_unit_test(test_seq2seq_generate), cmocka_unit_test(test_run_classifier),
        cmocka_unit_test(test_run_seq2seq),      cmocka_unit_test(test_store_and_rescore),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, ts_scratch_teardown);
}
