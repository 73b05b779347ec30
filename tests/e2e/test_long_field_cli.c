/* A document with a huge field (issue 15's memory class): `run` encodes a
 * context far longer than the model's window from a checked cut instead
 * of whole (runner_requests.c, tok_encode_from), and must score exactly
 * what encoding the whole text and keeping the last max_len + 1 tokens
 * gives, as lm-evaluation-harness does. The reference here is computed
 * independently of the cut: the whole context and context + continuation
 * encoded by tok_encode in this process, cut by the rule, and scored by
 * `yardstick logprobs --ids F --from N`; the run's log-likelihood of each
 * choice must equal it. (Peak memory is measured by bench/bench_long_field.sh,
 * not here: RSS limits are not robust under the sanitizers.) */
#include "testsupport.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY YS_SOURCE_DIR "/tests/data/models/tiny"

/* ~3 MB of words and punctuation (no tab, no newline: one TSV field). */
static char *field(size_t *len)
{
    static const char *const w[] = {"alpha", "beta", "gamma", "the", "of", "Z\xc3\xbcrich", "42", "--", "x.",
                                    "don't", "   ", "\xe2\x80\x94"};
    size_t cap = 3200000, n = 0;
    char *s = malloc(cap + 64);
    assert_non_null(s);
    unsigned x = 99;
    while (n < cap) {
        x = x * 1103515245u + 12345u;
        const char *p = w[(x >> 16) % (sizeof w / sizeof w[0])];
        n += (size_t)sprintf(s + n, "%s ", p);
    }
    memcpy(s + n, "end of it", 10);
    *len = n + 9;
    return s;
}

/* The log-likelihood lm-eval's rule gives for context + cont. */
static double reference(const tok_tokenizer *t, const char *ctx, size_t cl, const char *cont)
{
    size_t wl = cl + strlen(cont);
    char *whole = malloc(wl + 1);
    assert_non_null(whole);
    memcpy(whole, ctx, cl);
    strcpy(whole + cl, cont);
    int32_t *w = NULL, *c = NULL;
    size_t nw = 0, nc = 0;
    ys_error err = {0};
    assert_int_equal(tok_encode(t, whole, wl, false, &w, &nw, &err), 0);
    assert_int_equal(tok_encode(t, ctx, cl, false, &c, &nc, &err), 0);
    free(whole), free(c);
    assert_true(nc > 0 && nw > nc);
    size_t ncont = nw - nc, keep = 1024 + 1; /* tiny: n_positions 1024 */
    assert_true(nw > keep);
    const int32_t *seq = w + (nw - keep);
    size_t from = keep - ncont;
    FILE *f = fopen(ts_path("ids.txt"), "w");
    for (size_t i = 0; i < keep; i++)
        fprintf(f, "%s%d", i ? " " : "", seq[i]);
    fputc('\n', f);
    fclose(f);
    free(w);
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --ids %s --from %zu --json", YS_BINARY, TINY, ts_path("ids.txt"),
             from);
    assert_int_equal(ts_run(cmd, &out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    double sum = cJSON_GetObjectItem(j, "sum")->valuedouble;
    assert_int_equal((int)cJSON_GetObjectItem(j, "count")->valuedouble, (int)ncont);
    cJSON_Delete(j);
    free(out);
    return sum;
}

static void test_long_field(void **state)
{
    (void)state;
    size_t fl;
    char *f = field(&fl);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/specs %s/data/d", ts_scratch(), ts_scratch());
    assert_int_equal(system(cmd), 0);
    ts_write_file(ts_path("specs/longf.json"),
                  "{\"name\": \"longf\", \"dataset\": {\"format\": \"tsv\", \"header\": true,"
                  " \"eval_split\": \"validation\", \"files\": {\"validation\": \"d/dev.tsv\"},"
                  " \"samples\": {\"validation\": \"d/dev.tsv\"}},"
                  " \"output_type\": \"multiple_choice\", \"doc_to_text\": \"{{sentence}}\","
                  " \"doc_to_choice\": [\"a\", \"b\"], \"doc_to_target\": \"{{label}}\","
                  " \"metrics\": [{\"metric\": \"acc\"}]}\n");
    FILE *d = fopen(ts_path("data/d/dev.tsv"), "w");
    assert_non_null(d);
    fprintf(d, "sentence\tlabel\n");
    fwrite(f, 1, fl, d);
    fprintf(d, "\t1\n");
    fclose(d);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s run --model %s --include-path specs --data-dir data --tasks longf --no-db --output o.json "
             "--log-samples >/dev/null && cat samples_longf_*.jsonl",
             ts_scratch(), YS_BINARY, TINY);
    char *out = NULL;
    assert_int_equal(ts_run(cmd, &out), 0);
    cJSON *s = cJSON_Parse(out);
    assert_non_null(s);
    const cJSON *resps = cJSON_GetObjectItem(s, "filtered_resps");
    assert_int_equal(cJSON_GetArraySize(resps), 2);

    tok_tokenizer *t = NULL;
    ys_error err = {0};
    assert_int_equal(tok_load(TINY, &t, &err), 0);
    const char *conts[2] = {" a", " b"};
    for (int c = 0; c < 2; c++) {
        double got = cJSON_GetArrayItem(cJSON_GetArrayItem(resps, c), 0)->valuedouble;
        double want = reference(t, f, fl, conts[c]);
        print_message("choice %d: run %.12f, reference %.12f\n", c, got, want);
        ts_close(got, want, 1e-9, "log-likelihood of a choice after a 3 MB context", conts[c]);
    }
    /* and the cut the runner tries first (16 x 1025 tokens + 2 margins of
     * bytes from the end, back to a space) is accepted here: the run above
     * went through the cut, not through its fallback */
    size_t at = fl - (16 * 1025 + 2 * TOK_CUT_MARGIN);
    while (f[at - 1] != ' ')
        at--;
    int32_t *tail = NULL;
    size_t nt = 0;
    assert_int_equal(tok_encode_from(t, f, fl, at, &tail, &nt, &err), 1);
    free(tail);
    tok_free(t);
    cJSON_Delete(s);
    free(out);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_field),
    };
    return cmocka_run_group_tests(tests, ts_scratch_setup, ts_scratch_teardown);
}
