/* exact_match parity against Hugging Face evaluate's exact_match. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exact_match.h"
#include "testsupport.h"

/* evaluate's exact_match runs on numpy string arrays, which drop trailing
 * NULs and truncate a lower-cased string that grew (U+0130 "İ" lower-cases
 * to two code points) to the array's fixed width. Those are numpy storage
 * artefacts, not the metric: yardstick follows Python's str semantics, so
 * the vectors that exercise them are skipped (and counted). */
static int numpy_artefact(const cJSON *c, const char *line)
{
    if (strstr(line, "\\u0000"))
        return 1;
    const cJSON *o = cJSON_GetObjectItem(c, "options");
    return cJSON_IsTrue(cJSON_GetObjectItem(o, "ignore_case")) &&
           (strstr(line, "\\u0130") || strstr(line, "\xC4\xB0"));
}

static void test_exact_match_parity(void **state)
{
    (void)state;
    cJSON *cases = ts_load_jsonl(ts_vector("exact_match.jsonl"));
    char *raw = ts_read_file(ts_vector("exact_match.jsonl"), NULL);
    assert_non_null(raw);
    char *line = raw;
    int n = 0, skipped = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        int skip = numpy_artefact(c, line);
        line = nl ? nl + 1 : line + strlen(line);
        if (skip) {
            skipped++;
            continue;
        }
        const cJSON *o = cJSON_GetObjectItem(c, "options");
        const cJSON *rx = cJSON_GetObjectItem(o, "regexes_to_ignore");
        const char *regexes[32];
        size_t nrx = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, rx) regexes[nrx++] = r->valuestring;
        em_options opt = {cJSON_IsTrue(cJSON_GetObjectItem(o, "ignore_case")),
                          cJSON_IsTrue(cJSON_GetObjectItem(o, "ignore_punctuation")),
                          cJSON_IsTrue(cJSON_GetObjectItem(o, "ignore_numbers")), regexes, nrx};
        ys_error err = {0};
        em_matcher *m = em_create(&opt, &err);
        assert_non_null(m);
        const cJSON *preds = cJSON_GetObjectItem(c, "predictions"), *refs = cJSON_GetObjectItem(c, "references");
        int k = cJSON_GetArraySize(preds);
        double sum = 0;
        for (int i = 0; i < k; i++) {
            const char *ref = cJSON_GetArrayItem(refs, i)->valuestring;
            double v;
            assert_int_equal(em_sample(m, cJSON_GetArrayItem(preds, i)->valuestring, &ref, 1, &v, &err), 0);
            sum += v;
        }
        char where[64];
        snprintf(where, sizeof where, "case %d", n);
        ts_close(sum / k, ts_num(c, "exact_match"), 1e-12, "exact_match", where);
        em_free(m);
        n++;
    }
    printf("exact_match parity: %d cases (%d numpy-artefact cases skipped)\n", n, skipped);
    assert_true(n >= 100);
    assert_true(skipped < 200);
    free(raw);
    cJSON_Delete(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_exact_match_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
