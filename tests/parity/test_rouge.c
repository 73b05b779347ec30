/* ROUGE parity against rouge-score 0.1.2 (score_multi), with and without
 * NLTK Porter stemming. */
#include <stdio.h>
#include <stdlib.h>

#include "rouge.h"
#include "testsupport.h"

static void test_rouge_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("rouge.jsonl"));
    rouge_ctx *ctx = rouge_ctx_new();
    int n = 0, stemmed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *refs = cJSON_GetObjectItem(c, "references");
        int nr = cJSON_GetArraySize(refs);
        const char **rs = malloc(sizeof(char *) * (size_t)nr);
        for (int j = 0; j < nr; j++)
            rs[j] = cJSON_GetArrayItem(refs, j)->valuestring;
        bool stem = cJSON_IsTrue(cJSON_GetObjectItem(c, "use_stemmer"));
        stemmed += stem;
        rouge_prf out[ROUGE_NTYPES];
        ys_error err = {0};
        assert_int_equal(rouge_sample(ctx, stem, cJSON_GetObjectItem(c, "prediction")->valuestring, rs, (size_t)nr, out, &err), 0);
        const cJSON *scores = cJSON_GetObjectItem(c, "scores");
        for (int k = 0; k < ROUGE_NTYPES; k++) {
            const cJSON *w = cJSON_GetObjectItem(scores, rouge_type_name(k));
            char where[128];
            snprintf(where, sizeof where, "%s case %d (%s)", rouge_type_name(k), n,
                     cJSON_GetObjectItem(c, "name") ? cJSON_GetObjectItem(c, "name")->valuestring : "");
            ts_close(out[k].precision, ts_num(w, "precision"), 1e-12, "precision", where);
            ts_close(out[k].recall, ts_num(w, "recall"), 1e-12, "recall", where);
            ts_close(out[k].fmeasure, ts_num(w, "fmeasure"), 1e-12, "fmeasure", where);
        }
        free(rs);
        n++;
    }
    printf("ROUGE parity: %d samples (%d stemmed)\n", n, stemmed);
    assert_true(n >= 500 && stemmed >= 200);
    rouge_ctx_free(ctx);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rouge_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
